/**
 * The example agent's entry. Prints one `ready {…}` line when serving.
 *   REGENT_UPLIFT_ROLE=target   a fresh CVM waiting to be handed an agent (UpliftTarget.ts)
 *   otherwise                   the agent: boots (or, mid-uplift, resumes its journaled session) and serves
 */
import { type Agent, boot, createAgent } from './Agent.js'
import { type Config, fromEnv } from './config.js'
import { counts } from './Memory.js'
import { openRuntime, type Runtime } from './Runtime.js'
import { openAgentStore } from './Store.js'
import { createAgentServer } from './server.js'
import { createUpliftSource, journaledAgentId } from './UpliftSource.js'
import { bootTarget } from './UpliftTarget.js'

/** A source that crashed mid-uplift comes back as the same agent without touching the chain (its journal resumes). */
async function bootAgent(config: Config, runtime: Runtime): Promise<Agent> {
  const agentId = journaledAgentId(config, runtime.sealingKey)
  if (agentId === undefined) return boot(config, runtime)
  const store = openAgentStore({ dataDir: config.dataDir, key: runtime.sealingKey })
  const agent = createAgent({ config, runtime, account: runtime.account, store, agentId, appId: runtime.appId })
  process.stdout.write(`agent ${agentId} resumes its uplift journal\n`)
  return agent
}

try {
  const config = fromEnv()
  const runtime = await openRuntime(config)
  let served: { server: import('node:http').Server; close(): void; ready: Record<string, unknown> }
  if (process.env.REGENT_UPLIFT_ROLE === 'target') {
    const target = await bootTarget(config, runtime)
    served = { ...target, ready: { url: config.publicUrl, role: 'uplift-target' } }
  } else {
    const agent = await bootAgent(config, runtime)
    const source = createUpliftSource({ config, agent })
    const server = createAgentServer({
      agent: () => agent,
      source: () => source,
      adminToken: config.adminToken,
      health: async () => ({
        ok: true,
        role: source.switched() ? 'demoted' : 'agent',
        runtime: runtime.kind,
        agentId: agent.agentId.toString(),
        wallet: agent.account.address,
        ...(source.switched() ? { forwardingTo: source.targetUrl() } : {}),
        uplift: source.status().state,
        ...counts(agent.state.db),
      }),
    })
    served = {
      server,
      close() {
        source.close()
        agent.store.close()
      },
      ready: {
        url: config.publicUrl,
        agentId: agent.agentId.toString(),
        wallet: agent.account.address,
        appId: agent.appId,
        runtime: runtime.kind,
      },
    }
  }
  served.server.listen(config.port, '127.0.0.1', () => process.stdout.write(`ready ${JSON.stringify(served.ready)}\n`))
  const stop = () => {
    served.close()
    served.server.close(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
} catch (error) {
  process.stderr.write(`agent failed to boot: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message}\n`)
  process.exit(1)
}
