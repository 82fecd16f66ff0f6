/**
 * The devnet supervisor process (started detached by `regent dev up`): runs {@link startDevnet},
 * tells its parent over IPC when everything is ready (or why it failed), and on SIGTERM/SIGINT stops
 * CVMs, the host and anvil (which saves chain state) before exiting.
 *
 *   supervisor --dir <dir> [--fresh] [--kms-nodes N]
 */
import { startDevnet } from './Devnet.js'

const args = process.argv.slice(2)
const dir = args[args.indexOf('--dir') + 1] ?? '.regent'
const fresh = args.includes('--fresh')
const kmsNodes = args.includes('--kms-nodes') ? Number(args[args.indexOf('--kms-nodes') + 1]) : 1

const say = (message: unknown) => {
  if (process.send) process.send(message)
}
const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`)

try {
  const devnet = await startDevnet({ dir, fresh, kmsNodes, onStep: (step) => say({ type: 'step', step }) })
  log(`devnet ready: chain ${devnet.file.rpcUrl}, host ${devnet.file.hostUrl}`)
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    log(`${signal}: stopping`)
    await devnet.stop()
    log('stopped')
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('disconnect', () => log('parent detached'))
  say({ type: 'ready', file: devnet.file, timings: devnet.timings })
} catch (error) {
  const message = (error as { shortMessage?: string; message?: string }).shortMessage ?? String((error as Error).message ?? error)
  log(`failed: ${message}`)
  say({ type: 'error', message })
  process.exit(1)
}
