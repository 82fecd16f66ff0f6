/**
 * `regent monitor` as a real process for the end-to-end tests (test/e2e/monitor*.test.ts): its `--json` lines read
 * as they come, waits on a line (never on time), and the devnet's PCS control, chain clock, project deploys and
 * webhook receiver the tests use to cause each condition for real.
 */
import { mkdtemp, symlink } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Guarded, spawnGuarded } from '@regent-tee/core'
import type { Devnet } from '@regent-tee/devnet'
import { createTestClient, http } from 'viem'
import * as Webhook from '../../packages/cli/src/monitor/Webhook.js'
import { regent, repoRoot } from '../../packages/cli/test/cli.js'
import { devnetChain } from './uplift-fixture.js'

const bin = fileURLToPath(new URL('../../packages/cli/bin/regent.mjs', import.meta.url))

/** One `--json` line of the monitor. */
export type Line = { type: 'check' | 'alert' | 'ui' | 'summary'; [k: string]: unknown }
export type AlertLine = Line & {
  type: 'alert'
  state: 'raised' | 'resolved'
  code: string
  agent: string
  subject: string
  facts: Record<string, unknown>
  message: string
  resolution: string | null
  id: number
}

export type MonitorProcess = {
  process: Guarded
  lines: Line[]
  stderr: () => string
  /** The index the next line will have (wait for lines from here on). */
  mark(): number
  /** The first line at or after `from` that satisfies `match` (already printed or to come); rejects on exit or after `timeoutMs`. */
  next<T extends Line = Line>(match: (line: Line) => boolean, options?: { from?: number; timeoutMs?: number }): Promise<T>
  /** An alert transition of `code` for `agent` (and subject) at or after `from`. */
  alert(
    state: 'raised' | 'resolved',
    code: string,
    agent: string,
    options?: { from?: number; subject?: (s: string) => boolean; timeoutMs?: number },
  ): Promise<AlertLine>
  /** SIGTERM, then the summary line and the exit code. */
  stop(): Promise<{ code: number | null; summary: Line | undefined }>
}

/** Starts `regent monitor <args> --json` with `env` added. */
export function startMonitor(args: readonly string[], env: Record<string, string> = {}): MonitorProcess {
  const p = spawnGuarded(process.execPath, [bin, 'monitor', ...args, '--json'], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: '1', ...env },
  })
  const lines: Line[] = []
  const listeners = new Set<() => void>()
  let partial = ''
  let stderr = ''
  p.child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8')
  })
  p.child.stdout.on('data', (c: Buffer) => {
    const parts = (partial + c.toString('utf8')).split('\n')
    partial = parts.pop() ?? ''
    for (const text of parts) if (text.trim()) lines.push(JSON.parse(text) as Line)
    for (const f of listeners) f()
  })
  const next = <T extends Line>(match: (line: Line) => boolean, { from = 0, timeoutMs = 90_000 } = {}) =>
    new Promise<T>((resolve, reject) => {
      const look = () => {
        for (let i = from; i < lines.length; i++) if (match(lines[i] as Line)) return lines[i] as T
        return undefined
      }
      const found = look()
      if (found) return resolve(found)
      const done = () => {
        clearTimeout(timer)
        listeners.delete(on)
      }
      const on = () => {
        const hit = look()
        if (!hit) return
        done()
        resolve(hit)
      }
      const timer = setTimeout(() => {
        done()
        reject(
          new Error(
            `no such monitor line within ${timeoutMs} ms; last lines:\n${lines
              .slice(-15)
              .map((l) => JSON.stringify(l).slice(0, 400))
              .join('\n')}\nstderr:\n${stderr.slice(-3000)}`,
          ),
        )
      }, timeoutMs)
      listeners.add(on)
      void p.exited.then((code) => {
        if (!listeners.has(on)) return
        done()
        reject(
          new Error(
            `the monitor exited (${code}) first; last lines:\n${lines
              .slice(-5)
              .map((l) => JSON.stringify(l).slice(0, 600))
              .join('\n')}\nstderr:\n${stderr.slice(-3000)}`,
          ),
        )
      })
    })
  return {
    process: p,
    lines,
    stderr: () => stderr,
    mark: () => lines.length,
    next,
    alert: (state, code, agent, options = {}) =>
      next<AlertLine>(
        (l) =>
          l.type === 'alert' && l.state === state && l.code === code && l.agent === agent && (options.subject?.(String(l.subject)) ?? true),
        options,
      ),
    async stop() {
      p.child.kill('SIGTERM') // the guard forwards it to regent, which ends its loop and prints the summary
      const code = await p.exited
      return { code, summary: lines.findLast((l) => l.type === 'summary') }
    },
  }
}

/** The devnet PCS control (docs/devnet.md "Devnet PCS"). */
export async function pcs(devnet: Devnet, change: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${devnet.file.hostUrl}/v1/devnet/pcs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(change),
  })
  if (!res.ok) throw new Error(`PCS control answered ${res.status}: ${await res.text()}`)
  return (await res.json()) as Record<string, unknown>
}

/** Moves the chain clock forward and mines a block (anvil). */
export async function elapse(devnet: Devnet, seconds: number): Promise<void> {
  const test = createTestClient({ chain: devnetChain(devnet), transport: http(devnet.file.rpcUrl), mode: 'anvil' })
  await test.increaseTime({ seconds })
  await test.mine({ blocks: 1 })
}

/** A project made by `regent init`, with the repository's node_modules beside it (what `npm install` gives). */
export async function initProject(root: string, name: string): Promise<string> {
  const dir = join(root, name)
  const init = await regent(['init', dir, '--name', name, '--json'])
  if (init.code !== 0) throw new Error(`regent init failed: ${init.stderr}`)
  await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

/** `regent deploy --json` of a project to the devnet in `devnetDir`. */
export async function deploy(project: string, devnetDir: string, ...extra: string[]) {
  const r = await regent(['deploy', '--dir', project, '--devnet-dir', devnetDir, '--json', ...extra])
  return {
    code: r.code,
    stderr: r.stderr,
    data: JSON.parse(r.stdout || '{}') as Record<string, string> & { error?: { code: string; message: string } },
  }
}

/** A webhook receiver on loopback that checks every delivery's signature with the receiver-side check. */
export async function webhookReceiver(secret: string, { failFirst = 0 } = {}) {
  const deliveries: { id: string; body: Record<string, unknown>; verified: boolean; status: number }[] = []
  let failures = failFirst
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const verified = Webhook.verifySignature({ secret, header: req.headers['regent-signature'] as string, body: raw, now: new Date() }).ok
      const status = failures > 0 ? 503 : verified ? 204 : 401
      if (failures > 0) failures--
      deliveries.push({ id: String(req.headers['regent-delivery']), body: JSON.parse(raw.toString('utf8')), verified, status })
      res.writeHead(status).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/regent`,
    deliveries,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

export const tempRoot = (label: string) => mkdtemp(join(tmpdir(), `regent-${label}-`))
