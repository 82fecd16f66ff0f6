/**
 * {{name}}: a Regent agent. Inside its CVM it derives its wallet from the KMS (same app → same
 * wallet), registers itself in ERC-8004, becomes the canonical instance in RegentSuccession (or takes
 * over from its previous instance after an upgrade), then serves:
 *   GET /health              { ok, agentId, wallet, appId, composeHash, epoch }
 *   GET /identity?nonce=0x…  the identity bundle attested over the caller's nonce (docs/protocol.md)
 * Environment (set by the TEE host and `regent deploy`): PORT, REGENT_RPC_URL, REGENT_CHAIN_ID,
 * REGENT_CONTRACTS, REGENT_AGENT_NAME, optionally REGENT_PUBLIC_URL, REGENT_FAUCET_URL (devnet).
 */
import { createServer } from 'node:http'
import {
  createIdentityBundle,
  createTeeClient,
  deriveWallet,
  enroll,
  getQuote,
  info,
  type RegentContracts,
  readCanonical,
  registerAgent,
  fromEnv as teeFromEnv,
  toAccount,
} from '@regent-tee/sdk'
import { createPublicClient, createWalletClient, defineChain, type Hex, http, keccak256, parseAbi } from 'viem'

const successionAbi = parseAbi([
  'struct Instance { address signer; bytes32 composeHash; address instanceId; bytes32 quoteHash; string host; }',
  'function uplift(uint256 agentId, uint64 epoch, Instance next)',
])
const log = (line: string) => process.stdout.write(`${line}\n`)
const need = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`missing environment variable ${name}`)
  return value
}
const hex = (bytes: Uint8Array): Hex => `0x${Buffer.from(bytes).toString('hex')}`

try {
  const port = Number(need('PORT'))
  const rpcUrl = need('REGENT_RPC_URL')
  const chainId = Number(need('REGENT_CHAIN_ID'))
  const contracts = JSON.parse(need('REGENT_CONTRACTS')) as RegentContracts
  const name = process.env.REGENT_AGENT_NAME || '{{name}}'
  const publicUrl = process.env.REGENT_PUBLIC_URL || `http://127.0.0.1:${port}`

  // 1. Keys: the wallet comes from the KMS, bound to this app; the same on every CVM of the app.
  const tee = createTeeClient({ transport: teeFromEnv() })
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
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl) })
  const chainWallet = createWalletClient({ account, chain, transport: http(rpcUrl) })
  const faucet = process.env.REGENT_FAUCET_URL
  if (faucet && (await publicClient.getBalance({ address: account.address })) === 0n) {
    const res = await fetch(faucet, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: account.address }),
    })
    if (!res.ok) throw new Error(`the devnet faucet answered ${res.status}`)
  }

  // 2. ERC-8004 identity (idempotent: the same wallet and name find the same agent after a restart or an upgrade).
  const { agentId, agentRegistry } = await registerAgent(chainWallet, {
    contracts,
    registration: {
      name,
      description: `${name}: a Regent agent in a TEE, with its own wallet.`,
      services: [{ name: 'regent-identity', endpoint: publicUrl, version: '1' }],
    },
  })
  log(`ERC-8004 agent ${agentId} in ${agentRegistry}`)

  // 3. Canonical instance: enroll the first time; after an upgrade (same wallet, new compose hash or
  //    instance) take over from the previous instance with `uplift` (epoch + 1).
  const quote = await getQuote(tee, { reportData: new Uint8Array(64) })
  const me = {
    signer: account.address,
    composeHash,
    instanceId: hex(app.instanceId),
    quoteHash: keccak256(quote.quote),
    host: publicUrl,
  }
  await enroll(chainWallet, { contracts, agentId, appId, instance: me })
  const now = await readCanonical(publicClient, { contracts, agentId })
  if (now.instance.composeHash !== me.composeHash || now.instance.instanceId.toLowerCase() !== me.instanceId) {
    const { request } = await publicClient.simulateContract({
      account,
      address: contracts.succession,
      abi: successionAbi,
      functionName: 'uplift',
      args: [agentId, now.epoch, me],
    })
    await publicClient.waitForTransactionReceipt({ hash: await chainWallet.writeContract(request) })
  }
  const canonical = await readCanonical(publicClient, { contracts, agentId })
  log(`canonical at epoch ${canonical.epoch}`)

  // 4. Serve.
  const send = (res: import('node:http').ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`)
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent')
    const route = `${req.method} ${url.pathname}`
    if (route === 'GET /health')
      return send(res, 200, { ok: true, agentId: agentId.toString(), wallet: account.address, appId, composeHash, agentRegistry })
    if (route === 'GET /identity') {
      const nonce = url.searchParams.get('nonce') ?? ''
      if (!/^0x(?:[0-9a-f]{2}){1,1024}$/.test(nonce))
        return send(res, 400, { error: { code: 'bad_request', message: '"nonce" must be 0x + 1–1024 bytes of lowercase hex' } })
      readCanonical(publicClient, { contracts, agentId })
        .then(({ epoch, stateRoot, stateSeq }) =>
          createIdentityBundle(tee, {
            wallet,
            account,
            chainId,
            identityRegistry: contracts.identityRegistry,
            agentId,
            stateRoot,
            stateSeq,
            epoch,
            nonce: nonce as Hex,
          }),
        )
        .then(
          (bundle) => send(res, 200, bundle),
          () => send(res, 500, { error: { code: 'internal', message: 'could not build the identity bundle' } }),
        )
      return
    }
    send(res, 404, { error: { code: 'not_found', message: `no route ${route}` } })
  })
  server.listen(port, '127.0.0.1', () => log(`ready ${JSON.stringify({ url: publicUrl, agentId: agentId.toString() })}`))
  const stop = () => server.close(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
} catch (error) {
  process.stderr.write(`agent failed to boot: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message}\n`)
  process.exit(1)
}
