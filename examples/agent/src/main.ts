/**
 * The example agent's entry. Prints one `ready {…}` line when serving.
 *   REGENT_UPLIFT_ROLE=target   a fresh CVM waiting to be handed an agent (the SDK's target role); it becomes the agent
 *                               when the chain names it canonical
 *   REGENT_UPLIFT_ROLE=standby  a CVM of the agent's app waiting for its canonical to attach it (docs/failover.md); it
 *                               becomes the agent when it claims the expired lease
 *   otherwise                   the agent: boots (registers, enrolls, commits) or, mid-uplift, resumes its journal
 * Its security settings come from its measured compose in a CVM, from its environment in the wild (config.ts).
 */
import { mkdir } from 'node:fs/promises'
import { Collateral, createTrustedRoot } from '@regent-tee/attest'
import { Checkpoint, MeasuredSettings } from '@regent-tee/sdk'
import { readCanonical, verifyRegentCode } from '@regent-tee/sdk/chain'
import { type Failover, mountFailover } from '@regent-tee/sdk/failover'
import { journaledAgentId, mountUplift } from '@regent-tee/sdk/uplift'
import Database from 'better-sqlite3'
import { type Agent, createAgent, register, stateChunkSize } from './Agent.js'
import { type ChainSettings, connect, fundIfEmpty } from './chain.js'
import { failpointHook, fromEnv, wildSettings } from './config.js'
import { openRuntime } from './Runtime.js'
import { openAgentStore } from './Store.js'
import { createAgentServer } from './server.js'

const log = (line: string) => process.stdout.write(`${line}\n`)

try {
  const config = fromEnv()
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
  const runtime = await openRuntime(config)
  const settings = runtime.tee ? await MeasuredSettings.read(runtime.tee) : wildSettings()
  const chain: ChainSettings = { chainId: settings.chainId, contracts: settings.contracts, rpcUrl: config.rpcUrl }
  const clients = connect(chain)
  const rpcChain = await clients.publicClient.getChainId()
  if (rpcChain !== settings.chainId) throw new Error(`the RPC serves chain ${rpcChain}, not the measured chain ${settings.chainId}`)
  // The host hands us the RPC: its chain must run Regent's code at the measured addresses (chain.code otherwise).
  await verifyRegentCode(clients.publicClient, { contracts: settings.contracts })
  const store = openAgentStore({ dataDir: config.dataDir, key: runtime.sealingKey })
  const trustedRoots = (settings.trustedRoots ?? []).map((pem, i) => createTrustedRoot({ name: `measured-${i}`, pem }))

  // How other instances are verified (uplift targets, failover standbys): measured roots, signed collateral.
  const trust = {
    trustedRoots,
    async collateral() {
      if (config.collateralUrl === undefined) throw new Error('REGENT_COLLATERAL_URL is not set: other instances cannot be verified')
      const res = await fetch(config.collateralUrl, { signal: AbortSignal.timeout(30_000) })
      return Collateral.parse(await res.text())
    },
  }
  let agent: Agent | undefined
  let failover: Failover | undefined
  if (config.role === 'agent') {
    // A source that crashed mid-uplift comes back as the same agent without touching the chain (its journal resumes).
    const journaled = journaledAgentId({ dataDir: config.dataDir, sealingKey: runtime.sealingKey })
    const agentId = journaled ?? (await register(config, chain, runtime, clients))
    agent = createAgent({ chain, runtime, account: runtime.account, store, agentId })
    // Only the instance the chain names commits: another instance of the app (a standby booted as the agent, an old
    // canonical back after a failover) holds the same key, and its state is not the agent's.
    const named = await readCanonical(clients.publicClient, { contracts: chain.contracts, agentId })
    const here = runtime.instanceId.toLowerCase() === named.instance.instanceId.toLowerCase()
    if (journaled !== undefined) log(`agent ${agentId} resumes its uplift journal`)
    else if (!here) log(`agent ${agentId} is canonical at ${named.instance.host}, not here`)
    else {
      const first = await agent.checkpoint()
      log(`canonical at epoch ${first.epoch}; state root ${first.stateRoot} (seq ${first.seq})`)
    }
  } else if (runtime.wallet) await fundIfEmpty(config.faucetUrl, clients.publicClient, runtime.wallet.address)

  const uplift = await mountUplift({
    dataDir: config.dataDir,
    sealingKey: runtime.sealingKey,
    publicUrl: config.publicUrl,
    tee: runtime.tee,
    ownWallet: runtime.wallet,
    chain: { chainId: chain.chainId, contracts: chain.contracts, client: clients.publicClient, walletFor: clients.walletFor },
    state: store.state,
    // The state that moves is a copy taken when the window opens, exported while the agent keeps serving (its writes
    // are durable in the write-ahead log and held for replay from now on).
    async checkpoint() {
      const copy = new Database(store.state.db.serialize())
      try {
        return await Checkpoint.exportStateAsync(copy, { chunkSize: stateChunkSize })
      } finally {
        copy.close()
      }
    },
    ...(agent ? { agent: { agentId: agent.agentId, account: runtime.account, privateKey: () => runtime.privateKey() } } : {}),
    async onAgent(became) {
      agent = createAgent({ chain, runtime, account: became.account, store, agentId: became.agentId })
      agent.committed = { stateRoot: became.stateRoot, seq: became.seq, epoch: became.epoch }
      await failover?.adopt(became.agentId)
    },
    operator: settings.operator,
    trust,
    // The window's writes go to the target as batches (one transaction each there), each key applied once.
    async replay(targetUrl, writes) {
      try {
        const res = await fetch(`${targetUrl.replace(/\/$/, '')}/remember/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ items: writes.map((w) => ({ ...(w.body as { user: string; text: string }), key: w.key })) }),
          signal: AbortSignal.timeout(30_000),
        })
        await res.arrayBuffer()
        return { answered: res.status < 500, status: res.status }
      } catch {
        return { answered: false, status: 0 }
      }
    },
    localReads: (path) => path === '/topics',
    failpoint: failpointHook(config),
  })

  failover = await mountFailover({
    dataDir: config.dataDir,
    publicUrl: config.publicUrl,
    tee: runtime.tee,
    account: runtime.account,
    instanceId: runtime.instanceId,
    // Taken when this standby claims (a CVM's boot quote, once): never at boot, where a target's first quote is its hello's.
    instance: () => runtime.enrollment(),
    chain: { contracts: chain.contracts, client: clients.publicClient, walletFor: clients.walletFor },
    trust,
    state: store,
    agentId: agent?.agentId,
    standby: config.role === 'standby',
    authorize: (req, body) => uplift.authorize(req, body),
    // A standby that claimed the agent becomes it: the same key, the state it followed, the chain's epoch.
    async onCanonical({ agentId }) {
      agent = createAgent({ chain, runtime, account: runtime.account, store, agentId })
      uplift.adopt({ agentId, account: runtime.account, privateKey: () => runtime.privateKey() })
      const now = await readCanonical(clients.publicClient, { contracts: chain.contracts, agentId })
      agent.committed = { stateRoot: now.stateRoot, seq: now.stateSeq, epoch: now.epoch }
    },
    claimDelayMs: config.claimDelayMs,
    failpoint: failpointHook(config),
  })

  const server = createAgentServer({ agent: () => agent, uplift, failover, runtime: runtime.kind })
  const ready =
    agent === undefined
      ? { url: config.publicUrl, role: config.role === 'standby' ? 'standby' : 'uplift-target' }
      : {
          url: config.publicUrl,
          agentId: agent.agentId.toString(),
          wallet: agent.account.address,
          appId: runtime.appId,
          runtime: runtime.kind,
        }
  server.listen(config.port, '127.0.0.1', () => log(`ready ${JSON.stringify(ready)}`))
  const stop = () => {
    failover?.close()
    uplift.close()
    store.close()
    server.close(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
} catch (error) {
  process.stderr.write(`agent failed to boot: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message}\n`)
  process.exit(1)
}
