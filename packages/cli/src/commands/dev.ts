/** `regent dev …`: the embedded devnet (docs/devnet.md). Each command returns data; main.ts prints it. */
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import {
  Bundle,
  type CvmRecord,
  type DevnetFile,
  DevnetStartError,
  down as devnetDown,
  status as devnetStatus,
  up as devnetUp,
} from '@regent-tee/devnet'
import type { Command, CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'

const dirOf = (input: CommandInput) => resolveDevnetDir(input.flags.devnetDir ?? input.flags.dir).dir
const docs = 'docs/devnet.md'

async function runningFile(dir: string): Promise<DevnetFile.DevnetFile> {
  const s = await devnetStatus({ dir })
  if (!s.running || !s.file)
    throw new CliError('devnet.not_running', `no devnet is running in ${dir}`, { hint: 'start one with `regent dev up`', docs })
  return s.file
}

async function hostCall<T>(file: DevnetFile.DevnetFile, path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(`${file.hostUrl}${path}`, { ...init, signal: AbortSignal.timeout(60_000) }).catch((cause: unknown) => {
    throw new CliError('devnet.unreachable', `the devnet host at ${file.hostUrl} did not answer`, {
      hint: 'check `regent dev status`',
      cause,
    })
  })
  const text = await res.text()
  if (!res.ok) {
    const message = (() => {
      try {
        return (JSON.parse(text) as { error?: { message?: string } }).error?.message
      } catch {
        return undefined
      }
    })()
    const code = res.status === 404 ? 'cvm.unknown' : res.status === 409 ? 'cvm.running' : 'devnet.request_failed'
    const refusedByKms = /app\.not_registered|measurement\.(not_approved|timelock)|os_image\.|kms_root\./.test(message ?? '')
    const unknownCvm = code === 'cvm.unknown' && path.startsWith('/v1/cvms/')
    throw new CliError(code, message ?? `host answered HTTP ${res.status}`, {
      docs,
      exitCode: res.status === 404 || res.status === 400 ? 2 : 1,
      ...(refusedByKms ? { hint: 'approve the app on-chain first (`--approve` on the devnet, `regent deploy` otherwise)' } : {}),
      ...(res.status === 409 ? { hint: 'stop it first with `regent dev cvm stop`' } : {}),
      ...(unknownCvm ? { hint: await knownCvms(file) } : {}),
    })
  }
  return (res.headers.get('content-type') ?? '').startsWith('application/json') ? (JSON.parse(text) as T) : (text as T)
}

/** The hint of an unknown CVM id: the ids this devnet knows (`dev cvm list`). */
async function knownCvms(file: DevnetFile.DevnetFile): Promise<string> {
  const list = await fetch(`${file.hostUrl}/v1/cvms`, { signal: AbortSignal.timeout(10_000) })
    .then((r) => r.json() as Promise<{ cvms: { cvmId: string; appName: string }[] }>)
    .catch(() => undefined)
  const ids = list?.cvms.map((c) => `${c.cvmId} (${c.appName})`) ?? []
  return ids.length ? `the devnet's CVMs: ${ids.join(', ')} (regent dev cvm list)` : 'the devnet runs no CVM (regent dev cvm list)'
}

const summary = (f: DevnetFile.DevnetFile) =>
  [
    `  chain      ${f.rpcUrl} (chain id ${f.chainId})`,
    `  host       ${f.hostUrl}`,
    `  keys       ${f.keyProvider.name}${f.kmsUrls.length ? ` (${f.kmsUrls.join(', ')})` : ''}`,
    ...Object.entries(f.contracts).map(([k, v]) => `  ${k.padEnd(19)}${v}`),
  ].join('\n')

export const up: Command = {
  async run(input) {
    try {
      const kms = String(input.flags.kmsNodes ?? '1')
      if (!/^\d$/.test(kms)) throw new UsageError('usage', '--kms-nodes takes a number from 0 to 9')
      const r = await devnetUp({
        dir: dirOf(input),
        fresh: input.flags.fresh === true,
        kmsNodes: Number(kms),
        onStep: (step) => input.note(`✔ ${step.name}: ${step.detail} (${(step.ms / 1000).toFixed(1)} s)`),
      })
      return { ok: true, data: { reused: r.reused, ms: Math.round(r.ms), ...r.file } }
    } catch (error) {
      if (error instanceof DevnetStartError)
        throw new CliError('devnet.start_failed', error.shortMessage, { hint: error.metaMessages[0] ?? '', docs })
      throw error
    }
  },
  render(result) {
    const d = result.data as DevnetFile.DevnetFile & { reused: boolean; ms: number }
    return `${d.reused ? '✓ devnet already running (reused)' : `✓ devnet up in ${(d.ms / 1000).toFixed(1)} s`}\n${summary(d)}`
  },
}

export const down: Command = {
  async run(input) {
    const stopped = await devnetDown({ dir: dirOf(input) })
    return { ok: true, data: { stopped } }
  },
  render(result) {
    return (result.data as { stopped: boolean }).stopped ? '✓ devnet stopped' : 'no devnet was running'
  },
}

export const status: Command = {
  async run(input) {
    const s = await devnetStatus({ dir: dirOf(input) })
    // Exit 1 when no healthy devnet runs (as `systemctl is-active`): scripts can test it; the report is printed either way.
    return { ok: s.running, data: { running: s.running, dir: resolve(s.dir), checks: s.checks, devnet: s.file ?? null, cvms: s.cvms } }
  },
  render(result) {
    const d = result.data as {
      running: boolean
      dir: string
      checks: Record<string, boolean>
      devnet: DevnetFile.DevnetFile | null
      cvms: CvmRecord[]
    }
    if (!d.devnet) return `no devnet in ${d.dir} (start one with \`regent dev up\`)`
    const checks = Object.entries(d.checks)
      .map(([k, v]) => `${v ? '✓' : '✗'} ${k}`)
      .join('  ')
    const head = d.running
      ? '● devnet running'
      : d.checks.supervisor
        ? '○ devnet unhealthy (its supervisor runs but a part does not answer; try `regent dev up --fresh`)'
        : '○ devnet stopped (state kept; `regent dev up` restarts it)'
    return `${head}\n  ${checks}\n${summary(d.devnet)}\n  cvms       ${d.cvms.length}`
  },
}

export const cvmLaunch: Command = {
  async run(input) {
    const { compose, bundle } = input.flags
    if (typeof compose !== 'string') throw new UsageError('usage', 'missing --compose <file>')
    if (typeof bundle !== 'string') throw new UsageError('usage', 'missing --bundle <dir>')
    let bytes = await readFile(compose).catch(() => {
      throw new UsageError('file.unreadable', `cannot read compose file ${compose}`)
    })
    // A compose template (`{{bundleDigest}}`): the bundle is a package directory, assembled with its dependencies here
    // and its digest pinned, as `regent deploy` does. Otherwise the compose must already pin the bundle's digest.
    let bundleDir = resolve(bundle)
    if (bytes.includes(Bundle.digestPlaceholder)) {
      const assembled = await Bundle.assemble({ dir: bundleDir, out: join(dirOf(input), 'builds') }).catch((e: unknown) => {
        throw new UsageError('bundle.invalid', (e as Error & { shortMessage?: string }).shortMessage ?? (e as Error).message)
      })
      bundleDir = assembled.dir
      bytes = Buffer.from(Bundle.pin(new Uint8Array(bytes), assembled.digest))
    }
    const appId = input.flags.appId
    if (appId !== undefined && (typeof appId !== 'string' || !/^(0x)?[0-9a-fA-F]{40}$/.test(appId)))
      throw new UsageError('usage', '--app-id takes 20 bytes of hex')
    if (appId !== undefined && input.flags.approve === true)
      throw new UsageError('usage', '--approve registers the app and chooses its id: drop --app-id')
    const file = await runningFile(dirOf(input))
    let id = typeof appId === 'string' ? appId : undefined
    if (input.flags.approve === true) {
      const approved = await hostCall<{ appId: string }>(file, '/v1/apps', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ compose: bytes.toString('base64') }),
      })
      id = approved.appId
    }
    const record = await hostCall<CvmRecord>(file, '/v1/cvms', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        compose: bytes.toString('base64'),
        bundle: bundleDir,
        ...(id ? { appId: id } : {}),
        ...(input.flags.debugGuestAgent === true ? { debugGuestAgent: true } : {}),
      }),
    })
    return { ok: true, data: record }
  },
  render(result) {
    const r = result.data as CvmRecord
    return [
      `✓ ${r.cvmId} running (${r.appName || 'agent'})`,
      ...(r.endpoint ? [`  endpoint     ${r.endpoint}   (debug: DSTACK_SIMULATOR_ENDPOINT outside the CVM)`] : []),
      `  app          ${r.appUrl}`,
      `  appId        ${r.appId}`,
      `  instanceId   ${r.instanceId}`,
      `  composeHash  ${r.composeHash}`,
      `  bundle       ${r.bundleDigest}`,
    ].join('\n')
  },
}

export const cvmList: Command = {
  async run(input) {
    const file = await runningFile(dirOf(input))
    const { cvms } = await hostCall<{ cvms: CvmRecord[] }>(file, '/v1/cvms')
    return { ok: true, data: { cvms } }
  },
  render(result) {
    const { cvms } = result.data as { cvms: CvmRecord[] }
    if (cvms.length === 0) return 'no CVMs (launch one with `regent dev cvm launch`)'
    // The devnet's own KMS nodes run in CVMs too: marked `system`, listed last.
    const system = (c: CvmRecord) => c.appName === 'regent-kms'
    const rows = [...cvms.filter((c) => !system(c)), ...cvms.filter(system)].map((c) => [
      c.cvmId,
      c.status,
      system(c) ? `${c.appName} (system)` : c.appName,
      c.appId,
      `${c.composeHash.slice(0, 16)}…`,
      c.appUrl,
    ])
    const table = [['CVM', 'STATUS', 'APP', 'APP ID', 'COMPOSE HASH', 'URL'], ...rows]
    const widths = table[0]?.map((_, i) => Math.max(...table.map((r) => (r[i] as string).length))) ?? []
    return table.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ')).join('\n')
  },
}

export const cvmStop: Command = {
  async run(input) {
    const file = await runningFile(dirOf(input))
    const id = encodeURIComponent(input.args[0] ?? '')
    return { ok: true, data: await hostCall<CvmRecord>(file, `/v1/cvms/${id}/stop`, { method: 'POST' }) }
  },
  render(result) {
    const r = result.data as CvmRecord
    return `✓ ${r.cvmId} ${r.status}`
  },
}

export const cvmRestart: Command = {
  async run(input) {
    const file = await runningFile(dirOf(input))
    const id = encodeURIComponent(input.args[0] ?? '')
    return { ok: true, data: await hostCall<CvmRecord>(file, `/v1/cvms/${id}/restart`, { method: 'POST' }) }
  },
  render(result) {
    const r = result.data as CvmRecord
    return `✓ ${r.cvmId} ${r.status} again (instance ${r.instanceId}, app ${r.appUrl})`
  },
}

export const cvmLogs: Command = {
  async run(input) {
    const tail = input.flags.tail
    if (tail !== undefined && (typeof tail !== 'string' || !/^\d{1,6}$/.test(tail)))
      throw new UsageError('usage', '--tail takes a whole number')
    const file = await runningFile(dirOf(input))
    const id = encodeURIComponent(input.args[0] ?? '')
    const text = await hostCall<string>(file, `/v1/cvms/${id}/logs${tail ? `?tail=${tail}` : ''}`)
    return { ok: true, data: { cvmId: input.args[0], logs: text } } satisfies CommandResult
  },
  render(result) {
    return (result.data as { logs: string }).logs.replace(/\n$/, '')
  },
}
