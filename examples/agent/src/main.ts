/** The example agent's entry: boot in the CVM, then serve. Prints one `ready {…}` line when serving. */
import { boot } from './Agent.js'
import { fromEnv } from './config.js'
import { createAgentServer } from './server.js'
import { bootTarget } from './UpliftTarget.js'

try {
  const config = fromEnv()
  if (process.env.REGENT_UPLIFT_ROLE === 'target') {
    // A fresh CVM waiting for an agent to uplift into it (docs/uplift.md "HTTP roles").
    const target = await bootTarget(config)
    target.server.listen(config.port, '127.0.0.1', () =>
      process.stdout.write(`ready ${JSON.stringify({ url: config.publicUrl, role: 'uplift-target' })}\n`),
    )
    const stopTarget = () => {
      target.close()
      target.server.close(() => process.exit(0))
    }
    process.on('SIGTERM', stopTarget)
    process.on('SIGINT', stopTarget)
  } else {
    const agent = await boot(config)
    const server = createAgentServer(agent)
    server.listen(config.port, '127.0.0.1', () => {
      process.stdout.write(
        `ready ${JSON.stringify({ url: config.publicUrl, agentId: agent.agentId.toString(), wallet: agent.account.address, appId: agent.appId })}\n`,
      )
    })
    const stop = () => {
      agent.state.close()
      server.close(() => process.exit(0))
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  }
} catch (error) {
  process.stderr.write(`agent failed to boot: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message}\n`)
  process.exit(1)
}
