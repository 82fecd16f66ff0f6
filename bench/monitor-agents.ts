/**
 * The agents `bench/monitor.ts` watches, in their own process so that the monitor's CPU and memory are measured
 * alone: a devnet (anvil, contracts, one KMS node, the host and its PCS) and N real agents behind one devnet CVM —
 * each its own KMS-derived key (its own path), funded, registered in ERC-8004 and enrolled as the canonical
 * instance of its agent, serving `GET /a/<k>/identity?nonce=` with a fresh attested identity bundle. Prints
 * `ready {json}` once every agent is enrolled; runs until SIGTERM.
 *
 *   tsx bench/monitor-agents.ts --dir <devnet dir> --agents 100
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import { createCvm, startDevnet, startGuestAgent } from '@regent-tee/devnet'
import { createIdentityBundle, createTeeClient, deriveKey, getQuote, http as guestHttp, info, toAccount } from '@regent-tee/sdk'
import { enroll, readCanonical, registerAgent } from '@regent-tee/sdk/chain'
import { createPublicClient, createWalletClient, defineChain, type Hex, http, keccak256 } from 'viem'

const { values } = parseArgs({ options: { dir: { type: 'string' }, agents: { type: 'string', default: '100' } } })
const n = Number(values.agents)
const devnet = await startDevnet({ dir: values.dir as string, kmsNodes: 1, fresh: true })
const chain = defineChain({
  id: devnet.file.chainId,
  name: 'devnet',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [devnet.file.rpcUrl] } },
})
const transport = http(devnet.file.rpcUrl)
const client = createPublicClient({ chain, transport })
const contracts = devnet.file.contracts
const compose = new TextEncoder().encode(
  JSON.stringify({ manifest_version: 2, name: 'bench-monitor', runner: 'docker-compose', kms_enabled: true }),
)
const { appId } = await devnet.approveApp({ compose })
const cvm = await createCvm({
  compose,
  appId: Buffer.from(appId.slice(2), 'hex'),
  qe: devnet.host.qe,
  keyProvider: devnet.host.keyProvider,
})
const guest = await startGuestAgent(cvm, { port: 0 })
const tee = createTeeClient({ transport: guestHttp({ url: guest.url as string }) })
const app = await info(tee)
const quoteHash = keccak256((await getQuote(tee, { reportData: new Uint8Array(64) })).quote)
const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}` as Hex

const agents: { key: Awaited<ReturnType<typeof deriveKey>>; account: ReturnType<typeof toAccount>; agentId: bigint }[] = []
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://agents')
  const m = /^\/a\/(\d+)\/identity$/.exec(url.pathname)
  const agent = m ? agents[Number(m[1])] : undefined
  const nonce = url.searchParams.get('nonce') ?? ''
  if (!agent || !/^0x[0-9a-f]{64}$/.test(nonce)) return void res.writeHead(404).end()
  readCanonical(client, { contracts, agentId: agent.agentId })
    .then(({ epoch, stateRoot, stateSeq }) =>
      createIdentityBundle(tee, {
        wallet: agent.key,
        account: agent.account,
        chainId: chain.id,
        identityRegistry: contracts.identityRegistry,
        agentId: agent.agentId,
        stateRoot,
        stateSeq,
        epoch,
        nonce: nonce as Hex,
      }),
    )
    .then(
      (bundle) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(bundle)),
      () => res.writeHead(500).end(),
    )
})
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

for (let start = 0; start < n; start += 10) {
  const batch = await Promise.all(
    Array.from({ length: Math.min(10, n - start) }, async (_, i) => {
      const k = start + i
      const key = await deriveKey(tee, { path: `bench/agent/${k}`, purpose: 'regent-wallet' })
      const account = toAccount(key)
      await devnet.host.fund(account.address, 10n ** 18n)
      const wallet = createWalletClient({ account, chain, transport })
      const { agentId } = await registerAgent(wallet, {
        contracts,
        registration: {
          name: `bench-agent-${k}`,
          description: 'an agent of bench/monitor.ts',
          services: [{ name: 'regent-identity', endpoint: `${base}/a/${k}`, version: '1' }],
        },
      })
      await enroll(wallet, {
        contracts,
        agentId,
        appId,
        instance: {
          signer: account.address,
          composeHash: hex(app.composeHash),
          instanceId: hex(app.instanceId),
          quoteHash,
          host: `${base}/a/${k}`,
        },
      })
      return { key, account, agentId }
    }),
  )
  agents.push(...batch)
}

process.stdout.write(
  `ready ${JSON.stringify({ appId, agents: agents.map((a, k) => ({ agentId: a.agentId.toString(), url: `${base}/a/${k}` })) })}\n`,
)
// Runs until the parent stops it (the process guard sends SIGTERM).
process.on('SIGTERM', async () => {
  server.close()
  await guest.close()
  await devnet.stop()
  process.exit(0)
})
