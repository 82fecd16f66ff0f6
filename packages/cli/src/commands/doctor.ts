/**
 * `regent doctor`: checks the environment a Regent developer needs (DESIGN.md §11) — Node version, devnet
 * reachable, contracts deployed, KMS nodes answering, clock skew, devnet collateral freshness — and says what to
 * fix for each failed check. Docs: docs/cli/doctor.md.
 */
import { Collateral, createTrustedRoot } from '@regent-tee/attest'
import { type DevnetFile, status as devnetStatus } from '@regent-tee/devnet'
import type { Command, CommandInput, CommandResult } from '../command.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'

/** One line of the report (`--json` prints the list). */
export type Check = { check: string; ok: boolean; detail: string; fix?: string }

/** Largest clock difference accepted, seconds (HTTP Date headers have 1 s resolution). */
export const maxSkewSeconds = 5
/** Collateral that expires sooner than this fails the check. */
export const minCollateralDays = 1

const timeout = () => AbortSignal.timeout(3000)

export const doctor: Command = {
  async run({ flags }: CommandInput): Promise<CommandResult<Check[]>> {
    const dir = resolveDevnetDir(flags.devnetDir).dir
    const checks: Check[] = [nodeCheck(), ...(await phalaCheck(process.env))]
    const s = await devnetStatus({ dir }).catch((error: unknown) => ({ error }))
    if ('error' in s) {
      checks.push({ check: 'devnet', ok: false, detail: firstLine(s.error), fix: 'run `regent dev up --fresh`' })
      return done([...checks, ...skipped()])
    }
    if (!s.file) {
      checks.push({
        check: 'devnet',
        ok: false,
        detail: `no devnet in ${dir}`,
        fix: 'start one with `regent dev up` (or pass --devnet-dir)',
      })
      return done([...checks, ...skipped()])
    }
    if (!s.running) {
      const down = Object.entries(s.checks)
        .filter(([, ok]) => !ok)
        .map(([k]) => k)
      checks.push({
        check: 'devnet',
        ok: false,
        detail: `the devnet in ${dir} is not running (${down.join(', ')} down)`,
        fix: s.checks.supervisor ? 'restart it: `regent dev up --fresh`' : 'start it again: `regent dev up` (its chain state is kept)',
      })
      return done([...checks, ...skipped()])
    }
    const file = s.file
    checks.push({ check: 'devnet', ok: true, detail: `running in ${dir}: chain ${file.rpcUrl} (id ${file.chainId}), host ${file.hostUrl}` })
    const [contracts, kms, clock, collateral] = await Promise.all([
      contractsCheck(file),
      kmsCheck(file),
      clockCheck(file),
      collateralCheck(file),
    ])
    return done([...checks, contracts, kms, clock, collateral])
  },
  render(result, { color }) {
    const checks = result.data as Check[]
    const paint = (code: number, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s)
    const lines = checks.flatMap((c) => [
      `${c.ok ? paint(32, '✓') : paint(31, '✗')} ${c.check.padEnd(11)} ${c.detail}`,
      ...(c.fix ? [`  ${''.padEnd(11)} fix: ${c.fix}`] : []),
    ])
    const failed = checks.filter((c) => !c.ok).length
    lines.push('', failed === 0 ? paint(32, 'all checks pass') : paint(31, `${failed} of ${checks.length} checks failed`))
    return lines.join('\n')
  },
}

/**
 * Phala Cloud (`--target phala`, docs/targets/phala.md): when PHALA_CLOUD_API_KEY or PHALA_CLOUD_API_PREFIX is set,
 * both are checked with `GET /auth/me` through the official client; nothing is reported when neither is set.
 */
export async function phalaCheck(env: NodeJS.ProcessEnv): Promise<Check[]> {
  if (env.PHALA_CLOUD_API_KEY === undefined && env.PHALA_CLOUD_API_PREFIX === undefined) return []
  const Phala = await import('../providers/phala.js')
  try {
    const config = Phala.envOf(env)
    const me = await Phala.whoami(Phala.clientOf(config))
    return [{ check: 'phala', ok: true, detail: `${config.baseUrl}: key of ${me.username} (workspace ${me.workspace})` }]
  } catch (error) {
    const e = error as { shortMessage?: string; message?: string; hint?: string }
    return [
      {
        check: 'phala',
        ok: false,
        detail: e.shortMessage ?? e.message ?? String(error),
        fix: e.hint ?? 'check PHALA_CLOUD_API_KEY and PHALA_CLOUD_API_PREFIX',
      },
    ]
  }
}

const done = (checks: Check[]): CommandResult<Check[]> => ({ ok: checks.every((c) => c.ok), data: checks })

function skipped(): Check[] {
  return ['contracts', 'kms', 'clock', 'collateral'].map((check) => ({
    check,
    ok: false,
    detail: 'not checked: no running devnet',
    fix: 'start the devnet (`regent dev up`), then run `regent doctor` again',
  }))
}

function nodeCheck(): Check {
  const version = process.versions.node
  const [major = 0, minor = 0] = version.split('.').map(Number)
  const ok = major === 20 && minor >= 10
  return ok
    ? { check: 'node', ok, detail: `Node ${version}` }
    : {
        check: 'node',
        ok,
        detail: `Node ${version}; Regent is built and tested on Node 20 (>= 20.10)`,
        fix: 'install Node 20, e.g. `nvm install 20`',
      }
}

async function rpc<T>(url: string, method: string, params: unknown[]): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: timeout(),
  })
  const body = (await res.json()) as { result?: T; error?: { message: string } }
  if (body.error || body.result === undefined) throw new Error(body.error?.message ?? `${method}: no result`)
  return body.result
}

async function contractsCheck(file: DevnetFile.DevnetFile): Promise<Check> {
  const entries = Object.entries(file.contracts)
  try {
    const codes = await Promise.all(entries.map(([, address]) => rpc<string>(file.rpcUrl, 'eth_getCode', [address, 'latest'])))
    const missing = entries.filter((_, i) => (codes[i] ?? '0x') === '0x').map(([name, address]) => `${name} (${address})`)
    if (missing.length === 0)
      return { check: 'contracts', ok: true, detail: `${entries.length} contracts have code (${entries.map(([n]) => n).join(', ')})` }
    return {
      check: 'contracts',
      ok: false,
      detail: `no code at ${missing.join(', ')}`,
      fix: 'the chain lost its contracts: `regent dev up --fresh` redeploys them',
    }
  } catch (error) {
    return { check: 'contracts', ok: false, detail: `the chain did not answer: ${firstLine(error)}`, fix: 'check `regent dev status`' }
  }
}

async function kmsCheck(file: DevnetFile.DevnetFile): Promise<Check> {
  if (file.kmsUrls.length === 0)
    return { check: 'kms', ok: true, detail: `no KMS nodes: app keys come from the ${file.keyProvider.name} key provider` }
  const answers = await Promise.all(
    file.kmsUrls.map((url) =>
      fetch(`${url}/health`, { signal: timeout() }).then(
        async (r) => r.ok && ((await r.json()) as { ok?: boolean }).ok === true,
        () => false,
      ),
    ),
  )
  const down = file.kmsUrls.filter((_, i) => !answers[i])
  if (down.length === 0)
    return { check: 'kms', ok: true, detail: `${file.kmsUrls.length} KMS node(s) healthy (${file.kmsUrls.join(', ')})` }
  return {
    check: 'kms',
    ok: false,
    detail: `no healthy answer from GET /health at ${down.join(', ')}`,
    fix: 'restart the devnet: `regent dev up --fresh` (or see `regent dev cvm logs` for the KMS CVM)',
  }
}

/** Skew of a server's clock from its HTTP Date header (1 s resolution), against the midpoint of the request. */
async function dateSkew(url: string): Promise<number | undefined> {
  const before = Date.now()
  const res = await fetch(url, { signal: timeout() }).catch(() => undefined)
  const after = Date.now()
  const date = res?.headers.get('date')
  await res?.body?.cancel()
  if (!date) return undefined
  // the header is truncated to the second: its midpoint is 0.5 s later
  return (Date.parse(date) + 500 - (before + after) / 2) / 1000
}

async function clockCheck(file: DevnetFile.DevnetFile): Promise<Check> {
  const servers = [
    ['host', `${file.hostUrl}/health`],
    ...file.kmsUrls.map((u, i) => [`kms${file.kmsUrls.length > 1 ? i : ''}`, `${u}/health`]),
  ] as const
  const [skews, block] = await Promise.all([
    Promise.all(servers.map(([, url]) => dateSkew(url))),
    rpc<{ timestamp: string }>(file.rpcUrl, 'eth_getBlockByNumber', ['latest', false]).catch(() => undefined),
  ])
  const parts: string[] = []
  const bad: string[] = []
  for (const [i, [name]] of servers.entries()) {
    const skew = skews[i]
    if (skew === undefined) {
      parts.push(`${name} no Date header`)
      continue
    }
    const s = Math.round(skew)
    parts.push(`${name} ${s >= 0 ? '+' : ''}${s} s`)
    if (Math.abs(skew) > maxSkewSeconds + 1) bad.push(`${name} is ${s} s off`)
  }
  if (block) {
    // anvil mines on demand: an old latest block is normal, a block from the future is a clock problem.
    const age = Math.round(Date.now() / 1000 - Number(BigInt(block.timestamp)))
    parts.push(age >= 0 ? `chain latest block ${age} s old` : `chain latest block ${-age} s in the future`)
    if (age < -maxSkewSeconds) bad.push(`the chain's latest block is ${-age} s ahead of this clock`)
  } else bad.push('the chain did not answer eth_getBlockByNumber')
  const detail = `local ${new Date().toISOString()}; ${parts.join(', ')}`
  return bad.length === 0
    ? { check: 'clock', ok: true, detail }
    : {
        check: 'clock',
        ok: false,
        detail: `${bad.join('; ')} (${detail})`,
        fix: 'sync this clock (NTP: `timedatectl set-ntp true`); a chain moved forward with evm_increaseTime needs `regent dev up --fresh`',
      }
}

async function collateralCheck(file: DevnetFile.DevnetFile): Promise<Check> {
  try {
    const res = await fetch(file.collateralUrl, { signal: timeout() })
    if (!res.ok) throw new Error(`GET ${file.collateralUrl} answered HTTP ${res.status}`)
    const collateral = Collateral.parse(await res.text())
    const now = new Date()
    const { nextUpdate } = Collateral.verify(collateral, { now, trustedRoots: [createTrustedRoot({ name: 'devnet', pem: file.rootCa })] })
    const days = (nextUpdate.getTime() - now.getTime()) / 86_400_000
    const detail = `devnet collateral verifies; next update ${nextUpdate.toISOString()} (${days.toFixed(1)} days left)`
    return days >= minCollateralDays
      ? { check: 'collateral', ok: true, detail }
      : { check: 'collateral', ok: false, detail, fix: 'restart the devnet (`regent dev up --fresh`) to issue fresh collateral' }
  } catch (error) {
    return {
      check: 'collateral',
      ok: false,
      detail: `devnet collateral does not verify now: ${firstLine(error)}`,
      fix: 'restart the devnet (`regent dev up --fresh`) to issue fresh collateral',
    }
  }
}

function firstLine(error: unknown): string {
  const e = error as { shortMessage?: string; message?: string }
  return (e.shortMessage ?? e.message ?? String(error)).split('\n')[0] ?? 'error'
}
