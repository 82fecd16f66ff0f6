/**
 * {{name}}: a Regent agent. Inside its CVM it reads its security settings from its measured compose (operator, chain,
 * contracts: `x-regent`, written by `regent deploy`), derives its wallet from the KMS (same app → same wallet),
 * registers itself in ERC-8004 and becomes the canonical instance in RegentSuccession (or takes over from its previous
 * instance after an upgrade). It keeps notes in a sealed state, and it can move itself to another TEE host with
 * `regent uplift --agent <url>` (the SDK's mountUplift: the operator's signed admin API, the target role, forwarding).
 *   GET  /health               { ok, role (agent | uplift-target | demoted), agentId, wallet, appId, composeHash, notes }
 *   GET  /identity?nonce=0x…   the identity bundle attested over the caller's nonce (docs/protocol.md)
 *   POST /notes  { text }      remembers a note;  GET /notes  the notes
 * Environment (host settings only): PORT, REGENT_RPC_URL, REGENT_DATA_DIR, optionally REGENT_PUBLIC_URL,
 * REGENT_COLLATERAL_URL, REGENT_FAUCET_URL (devnet), REGENT_UPLIFT_ROLE=target (a CVM waiting to be handed the agent).
 */
import { randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { createServer, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import {
  createIdentityBundle,
  createTeeClient,
  deriveSealingKey,
  deriveWallet,
  getQuote,
  info,
  MeasuredSettings,
  openSealedState,
  quoteId,
  fromEnv as teeFromEnv,
  toAccount,
} from '@regent-tee/sdk'
import { enroll, readCanonical, registerAgent, verifyRegentCode } from '@regent-tee/sdk/chain'
import { mountUplift } from '@regent-tee/sdk/uplift'
import { createPublicClient, createWalletClient, defineChain, type Hex, http, type LocalAccount, parseAbi } from 'viem'

const successionAbi = parseAbi([
  'struct Instance { address signer; bytes32 composeHash; address instanceId; bytes32 quoteHash; string host; }',
  'function uplift(uint256 agentId, uint64 epoch, Instance next)',
])
const log = (line: string) => process.stdout.write(`${line}\n`)
const env = (name: string) => process.env[name] || undefined
const hex = (bytes: Uint8Array): Hex => `0x${Buffer.from(bytes).toString('hex')}`

try {
  MeasuredSettings.assertNoSecurityEnvironment() // the host sets the environment: no security setting comes from it
  const port = Number(env('PORT'))
  const rpcUrl = env('REGENT_RPC_URL') ?? ''
  const publicUrl = env('REGENT_PUBLIC_URL') ?? `http://127.0.0.1:${port}`
  const dataDir = env('REGENT_DATA_DIR') ?? join(process.cwd(), '.agent-data')
  await mkdir(dataDir, { recursive: true, mode: 0o700 })

  // 1. Settings and keys: measured settings; the wallet and sealing key from the KMS, bound to this app.
  const tee = createTeeClient({ transport: teeFromEnv() })
  const settings = await MeasuredSettings.read(tee)
  const { chainId, contracts } = settings
  const app = await info(tee)
  const wallet = await deriveWallet(tee)
  const account = toAccount(wallet)
  const appId = hex(app.appId)
  const composeHash = hex(app.composeHash)
  log(`wallet ${account.address} (app ${appId})`)

  const chain = defineChain({
    id: chainId,
    name: 'regent',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  })
  const transport = http(rpcUrl, { timeout: 30_000 })
  const publicClient = createPublicClient({ chain, transport })
  const walletFor = (a: LocalAccount) => createWalletClient({ account: a, chain, transport })
  if ((await publicClient.getChainId()) !== chainId) throw new Error(`the RPC does not serve the measured chain ${chainId}`)
  await verifyRegentCode(publicClient, { contracts }) // the host hands us the RPC: Regent's code at the measured addresses
  const faucet = env('REGENT_FAUCET_URL')
  if (faucet && (await publicClient.getBalance({ address: account.address })) === 0n) {
    const res = await fetch(faucet, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: account.address }),
      signal: AbortSignal.timeout(30_000),
    })
    if (!res.ok) throw new Error(`the devnet faucet answered ${res.status}`)
  }
  const state = openSealedState({ path: join(dataDir, 'state.sealed'), key: await deriveSealingKey(tee) })

  // 2. Identity: a new instance of the agent registers (idempotent: the same wallet and name find the same agent) and
  //    becomes canonical, taking over from its previous instance after an upgrade (epoch + 1). An uplift target waits.
  let agent: { agentId: bigint; account: LocalAccount } | undefined
  if (env('REGENT_UPLIFT_ROLE') !== 'target') {
    const name = env('REGENT_AGENT_NAME') ?? '{{name}}'
    const { agentId, agentRegistry } = await registerAgent(walletFor(account), {
      contracts,
      registration: {
        name,
        description: `${name}: a Regent agent in a TEE, with its own wallet.`,
        services: [{ name: 'regent-identity', endpoint: publicUrl, version: '1' }],
      },
    })
    log(`ERC-8004 agent ${agentId} in ${agentRegistry}`)
    const quote = await getQuote(tee, { reportData: new Uint8Array(64) })
    const me = { signer: account.address, composeHash, instanceId: hex(app.instanceId), quoteHash: quoteId(quote.quote), host: publicUrl }
    await enroll(walletFor(account), { contracts, agentId, appId, instance: me })
    const now = await readCanonical(publicClient, { contracts, agentId })
    if (now.instance.composeHash !== me.composeHash || now.instance.instanceId.toLowerCase() !== me.instanceId) {
      const { request } = await publicClient.simulateContract({
        account,
        address: contracts.succession,
        abi: successionAbi,
        functionName: 'uplift',
        args: [agentId, now.epoch, me],
      })
      await publicClient.waitForTransactionReceipt({ hash: await walletFor(account).writeContract(request) })
    }
    log(`canonical at epoch ${(await readCanonical(publicClient, { contracts, agentId })).epoch}`)
    agent = { agentId, account }
  }

  // 3. The uplift, mounted in front of the agent's routes (docs/sdk.md "Uplift in an agent").
  const uplift = await mountUplift({
    dataDir,
    sealingKey: await deriveSealingKey(tee),
    publicUrl,
    tee,
    ownWallet: wallet,
    chain: { chainId, contracts, client: publicClient, walletFor },
    state,
    ...(agent ? { agent } : {}),
    onAgent: (became) => {
      agent = became
    },
    settings, // the operator of its admin API, and the roots its targets may attest under
    collateralUrl: env('REGENT_COLLATERAL_URL'),
  })

  // 4. Serve.
  const send = (res: ServerResponse, status: number, body: unknown) =>
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(`${JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`)
  const notes = () =>
    state.db
      .prepare("SELECT value FROM memory WHERE key = 'note' ORDER BY id")
      .all()
      .map((r) => (r as { value: string }).value)
  const server = createServer(async (req, res) => {
    try {
      if (await uplift.handle(req, res)) return
      const url = new URL(req.url ?? '/', 'http://agent')
      const route = `${req.method} ${url.pathname}`
      if (route === 'GET /health')
        return send(res, 200, {
          ok: true,
          // `uplift-target`: a CVM waiting to be handed the agent (what `regent uplift` waits for), with its own wallet.
          role: uplift.role() === 'target' ? 'uplift-target' : uplift.role(),
          agentId: agent?.agentId.toString() ?? null,
          wallet: agent?.account.address ?? account.address,
          appId,
          composeHash,
          notes: notes().length,
        })
      if (agent === undefined) return send(res, 404, { error: { code: 'not_found', message: 'no agent here yet' } })
      if (route === 'GET /notes') return send(res, 200, { notes: notes() })
      if (route === 'POST /notes') {
        let body = ''
        for await (const chunk of req) {
          body += chunk
          if (body.length > 16_384) return send(res, 413, { error: { code: 'too_large', message: 'over 16 KiB' } })
        }
        const text = (JSON.parse(body || '{}') as { text?: unknown }).text
        if (typeof text !== 'string' || text.length === 0 || text.length > 4096)
          return send(res, 400, { error: { code: 'bad_request', message: '"text" must be 1–4096 characters' } })
        // In an uplift's window a write is declared before it is applied, so the agent's next instance gets it too.
        uplift.hold({ method: 'POST', path: '/notes', body: { text }, key: String(req.headers['idempotency-key'] ?? randomUUID()) })
        state.db.prepare("INSERT INTO memory (key, value, created_at) VALUES ('note', ?, ?)").run(text, Math.floor(Date.now() / 1000))
        state.save()
        return send(res, 200, { notes: notes().length })
      }
      if (route === 'GET /identity') {
        const nonce = url.searchParams.get('nonce') ?? ''
        if (!/^0x(?:[0-9a-f]{2}){1,1024}$/.test(nonce))
          return send(res, 400, { error: { code: 'bad_request', message: '"nonce" must be 0x + 1–1024 bytes of lowercase hex' } })
        const { agentId, account: signer } = agent
        const { epoch, stateRoot, stateSeq } = await readCanonical(publicClient, { contracts, agentId })
        return send(
          res,
          200,
          await createIdentityBundle(tee, {
            wallet,
            account: signer,
            chainId,
            identityRegistry: contracts.identityRegistry,
            agentId,
            stateRoot,
            stateSeq,
            epoch,
            nonce: nonce as Hex,
          }),
        )
      }
      send(res, 404, { error: { code: 'not_found', message: `no route ${route}` } })
    } catch (error) {
      send(res, 500, { error: { code: 'internal', message: error instanceof SyntaxError ? 'body is not JSON' : 'internal error' } })
    }
  })
  server.listen(port, '127.0.0.1', () =>
    log(`ready ${JSON.stringify({ url: publicUrl, role: uplift.role(), agentId: agent?.agentId.toString() ?? null })}`),
  )
  const stop = () => {
    uplift.close()
    state.close()
    server.close(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
} catch (error) {
  process.stderr.write(`agent failed to boot: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message}\n`)
  process.exit(1)
}
