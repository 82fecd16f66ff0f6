/**
 * Controlling the detached devnet from another process (what `regent dev up|down|status` call):
 * start the supervisor and wait until it says it is ready, find a running one and reuse it, stop it.
 */
import { spawn } from 'node:child_process'
import { mkdir, open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StartStep } from './Devnet.js'
import * as DevnetFile from './DevnetFile.js'
import { BaseError } from './errors.js'

const supervisorBin = fileURLToPath(new URL('../bin/supervisor.mjs', import.meta.url))

/** The devnet's state as `regent dev status` reports it. */
export type Status = {
  running: boolean
  dir: string
  file: DevnetFile.DevnetFile | undefined
  checks: { supervisor: boolean; host: boolean; chain: boolean }
  cvms: unknown[]
}

/** Result of {@link up}. */
export type UpResult = { reused: boolean; file: DevnetFile.DevnetFile; ms: number; timings?: Record<string, number> }

/**
 * Starts the devnet detached and resolves when everything is ready; reuses a running one.
 * `fresh` stops a running devnet and wipes its state first.
 *
 * @throws {DevnetStartError} the supervisor failed or did not become ready within `timeoutMs`.
 */
export async function up({
  dir,
  fresh = false,
  kmsNodes = 1,
  timeoutMs = 120_000,
  onStep,
}: {
  dir: string
  fresh?: boolean
  kmsNodes?: number
  timeoutMs?: number
  /** Told as each start-up phase ends (not called when a running devnet is reused). */
  onStep?: (step: StartStep) => void
}): Promise<UpResult> {
  const t0 = performance.now()
  const current = await status({ dir })
  if (current.running && current.file && !fresh) return { reused: true, file: current.file, ms: performance.now() - t0 }
  if (current.running) await down({ dir })
  if (fresh) await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })

  const logFile = await open(join(dir, 'supervisor.log'), 'a')
  const args = [supervisorBin, '--dir', dir, '--kms-nodes', String(kmsNodes), ...(fresh ? ['--fresh'] : [])]
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', logFile.fd, logFile.fd, 'ipc'] })
  await logFile.close()
  try {
    const message = await new Promise<{ type: string; file?: DevnetFile.DevnetFile; message?: string; timings?: Record<string, number> }>(
      (resolve, reject) => {
        const timer = setTimeout(() => reject(new DevnetStartError({ dir, reason: `not ready within ${timeoutMs} ms` })), timeoutMs)
        child.on('message', (m) => {
          if ((m as { type?: string }).type === 'step') return onStep?.((m as { step: StartStep }).step)
          clearTimeout(timer)
          resolve(m as { type: string })
        })
        child.once('exit', (code) => {
          clearTimeout(timer)
          reject(new DevnetStartError({ dir, reason: `supervisor exited with code ${code}` }))
        })
      },
    )
    if (message.type !== 'ready' || !message.file) throw new DevnetStartError({ dir, reason: message.message ?? 'unknown failure' })
    return { reused: false, file: message.file, ms: performance.now() - t0, ...(message.timings ? { timings: message.timings } : {}) }
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGTERM')
    throw error
  } finally {
    child.removeAllListeners()
    if (child.connected) child.disconnect()
    child.unref()
  }
}

/**
 * Stops the devnet in `dir` (SIGTERM to its supervisor, which stops CVMs, the host and anvil) and
 * resolves when the supervisor has exited. Resolves `false` when none was running.
 */
export async function down({ dir, timeoutMs = 30_000 }: { dir: string; timeoutMs?: number }): Promise<boolean> {
  const file = await DevnetFile.read(dir)
  if (!file || !alive(file.pid)) return false
  process.kill(file.pid, 'SIGTERM')
  const deadline = Date.now() + timeoutMs
  while (alive(file.pid)) {
    if (Date.now() > deadline) {
      process.kill(file.pid, 'SIGKILL')
      break
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

/** Reads `devnet.json` and checks that the supervisor, the host API and the chain answer. */
export async function status({ dir }: { dir: string }): Promise<Status> {
  const file = await DevnetFile.read(dir)
  const checks = { supervisor: false, host: false, chain: false }
  let cvms: unknown[] = []
  if (file) {
    checks.supervisor = alive(file.pid)
    if (checks.supervisor) {
      const [host, chain] = await Promise.all([
        fetch(`${file.hostUrl}/v1/cvms`, { signal: AbortSignal.timeout(3000) })
          .then(async (r) => (r.ok ? ((await r.json()) as { cvms: unknown[] }).cvms : undefined))
          .catch(() => undefined),
        fetch(file.rpcUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
          signal: AbortSignal.timeout(3000),
        })
          .then((r) => r.ok)
          .catch(() => false),
      ])
      checks.host = host !== undefined
      checks.chain = chain
      cvms = host ?? []
    }
  }
  return { running: checks.supervisor && checks.host && checks.chain, dir, file, checks, cvms }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The devnet could not be started. */
export class DevnetStartError extends BaseError {
  override name = 'Devnet.StartError'
  constructor({ dir, reason }: { dir: string; reason: string }) {
    super(`the devnet did not start: ${reason}.`, { metaMessages: [`See ${join(dir, 'supervisor.log')}.`] })
  }
}
