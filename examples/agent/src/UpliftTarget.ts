/**
 * The example agent as an uplift target (docs/uplift.md "HTTP roles"): a fresh CVM that does not register or
 * enroll; it derives its own wallet and sealing key from the KMS, journals the session in its data directory and
 * serves the uplift API. Once RegentSuccession names this instance canonical (host = its public URL, signer = the
 * agent key it holds), it is the agent: every route of `server.ts` on the loaded state, with the imported key
 * (option A) or its own (option B) — so a forwarding source loses no request, and it can itself uplift later.
 */
import { join } from 'node:path'
import { createTarget, openUpliftJournal, PrivateKey, readCanonical } from '@regent-tee/sdk'
import { type Agent, createAgent } from './Agent.js'
import { connect, fundIfEmpty } from './chain.js'
import { type Config, failpointHook } from './config.js'
import { counts } from './Memory.js'
import type { Runtime } from './Runtime.js'
import { openAgentStore } from './Store.js'
import { createAgentServer } from './server.js'
import { createUpliftSource, type UpliftSource } from './UpliftSource.js'

export async function bootTarget(config: Config, runtime: Runtime) {
  const wallet = runtime.wallet
  if (runtime.tee === undefined || wallet === undefined) throw new Error('an uplift target runs in a CVM (REGENT_RUNTIME=cvm)')
  const { publicClient: client, walletClient } = connect(config, runtime.account)
  await fundIfEmpty(config, client, wallet.address)
  const store = openAgentStore({ dataDir: config.dataDir, key: runtime.sealingKey })
  const state = store.state
  const failpoint = failpointHook(config)
  const journal = openUpliftJournal({
    path: join(config.dataDir, 'uplift-target.db'),
    role: 'target',
    key: runtime.sealingKey,
    ...(failpoint ? { failpoint } : {}),
  })
  const target = createTarget({
    tee: runtime.tee,
    wallet,
    walletClient,
    client,
    contracts: config.contracts,
    chainId: config.chainId,
    targetUrl: config.publicUrl,
    journal,
    state,
  })
  // The agent exists here once the chain says so (before the Handover message: the source switches on handover-tx).
  let agent: Agent | undefined
  let source: UpliftSource | undefined
  const becomeAgent = async (): Promise<Agent | undefined> => {
    if (agent !== undefined) return agent
    const hello = journal.get<{ agentId: string }>('source-hello')
    const account = target.account()
    if (hello === undefined || account === undefined || journal.get('state-loaded') === undefined) return undefined
    const agentId = BigInt(hello.agentId)
    const now = await readCanonical(client, { contracts: config.contracts, agentId })
    if (now.instance.host !== config.publicUrl || now.instance.signer.toLowerCase() !== account.address.toLowerCase()) return undefined
    // An imported key (option A) lives sealed in the target journal; its own key (B) is the runtime's.
    const imported = async () => {
      const key = journal.getSecret('wallet')
      if (key === undefined) throw new Error('no imported key in the uplift journal')
      try {
        return new PrivateKey(key)
      } finally {
        key.fill(0)
      }
    }
    const importedKey = journal.get('key-envelope') !== undefined
    agent = createAgent({
      config,
      runtime,
      account,
      store,
      agentId,
      appId: runtime.appId,
      ...(importedKey ? { privateKey: imported } : {}),
    })
    const loaded = journal.get<{ stateRoot: `0x${string}`; seq: string }>('state-loaded')
    if (loaded) agent.committed = { stateRoot: loaded.stateRoot, seq: BigInt(loaded.seq), epoch: now.epoch }
    source = createUpliftSource({ config, agent })
    process.stdout.write(
      `canonical ${JSON.stringify({ agentId: agentId.toString(), epoch: now.epoch.toString(), wallet: account.address })}\n`,
    )
    return agent
  }
  await becomeAgent() // a restarted target that was already handed the agent serves it at once
  const server = createAgentServer({
    agent: () => agent,
    source: () => source,
    adminToken: config.adminToken,
    async before(req, res) {
      if (await target.handle(req, res)) return true
      await becomeAgent()
      return false
    },
    async health() {
      const a = await becomeAgent()
      const s = await target.status()
      return a
        ? {
            ok: true,
            role: source?.switched() ? 'demoted' : 'agent',
            runtime: runtime.kind,
            agentId: a.agentId.toString(),
            wallet: a.account.address,
            ...counts(state.db),
            uplift: s,
          }
        : { ok: true, role: 'uplift-target', runtime: runtime.kind, agentId: null, ...s }
    },
  })
  return {
    server,
    close() {
      source?.close()
      journal.close()
      store.close()
    },
  }
}
