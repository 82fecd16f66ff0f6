/**
 * The agent's failover, from the operator's side (docs/cli/failover.md; the agent mounts `@regent-tee/sdk/failover`):
 * its status, its lease and its standbys through the operator-signed admin API (`/admin/failover*`, the uplift's
 * signing scheme, docs/uplift.md "Admin API"), and standby CVMs of the agent's app on the devnet (the exact compose
 * and app id of the agent's own CVM, `REGENT_UPLIFT_ROLE=standby`).
 *
 * The SDK's `createAdminClient` keeps a refusal's code and message only; a refused standby's reasons travel beside
 * them (`422 { error, standby: { state, reasons } }`), so these calls sign with `AdminRequest.sign` and read the
 * whole answer.
 */
import type { CvmRecord, DevnetFile } from '@regent-tee/devnet'
import { AdminRequest } from '@regent-tee/sdk/uplift'
import type { LocalAccount } from 'viem'
import { CliError, UsageError } from '../errors.js'
import * as Admin from './Admin.js'
import { agentError } from './CrashOutput.js'
import * as Host from './Host.js'

const docs = 'docs/cli/failover.md'
/** Attaching a standby streams it a snapshot first: longer than a plain admin call. */
const requestTimeoutMs = 60_000
/** How long a standby CVM may take to boot (KMS keys) and answer /health as a standby. */
const bootTimeoutMs = 120_000

/** One standby as the canonical sees it (the SDK's `StandbyStatus`). */
export type Standby = {
  url: string
  state: 'attaching' | 'syncing' | 'streaming' | 'unreachable' | 'refused'
  instanceId: string | null
  /** The last seq it acknowledged (-1: none yet). */
  acked: number
  reasons?: { code: string; message: string }[]
}

/** `GET /admin/failover` (and a standby's `/health` `failover`). */
export type Status = {
  role: 'off' | 'canonical' | 'fenced' | 'claiming' | 'standby'
  agentId: string | null
  epoch: string
  instanceId: string
  /** The canonical instance's URL as this instance last read the lease. */
  canonical: string | null
  /** `expiresAt` in unix seconds, `period` in seconds (0: no lease). */
  lease: { holder: string; expiresAt: string; period: string; renewed: boolean } | null
  window: { state: string; remainingMs: number } | null
  replication: { k: number; required: number; degraded: boolean; standbys: Standby[]; lagRecords: number } | null
  following: { agentId?: string; leaderUrl?: string; epoch?: string; synced?: boolean } | null
  claims: { attempts: number; won: number }
  head: number
}

/** The lease settings `POST /admin/failover` takes. */
export type Lease = { period: number; k: number; marginMs: number }

/** The default self-fence margin: 1 s, or a quarter of a shorter period (the agent requires it below half). */
export const defaultMarginMs = (period: number) => Math.min(1000, Math.floor((period * 1000) / 4))

type Answer = { status: number; body: Record<string, unknown> }

/** The operator's client of one agent's failover admin API. */
export type Client = {
  url: string
  status(): Promise<Status>
  /** Sets the lease on-chain (period 0 clears it); this instance holds it. */
  setLease(lease: Lease | { period: 0 }): Promise<Status>
  /** Attaches a standby: its status once streaming, or the agent's refusal with its reasons. */
  attach(standbyUrl: string): Promise<{ ok: true; standby: Standby; status: Status } | { ok: false; standby: Standby }>
  detach(standbyUrl: string): Promise<Status>
}

/**
 * A client of the agent at `url` signing as `operator` (read on the first signed call).
 *
 * @throws from its methods: {CliError} `agent.unreachable`, the admin refusals of {@link Admin.unwrap}, and
 *   {@link refusalError}'s codes.
 */
export function client(url: string, operator: () => LocalAccount): Client {
  let scope: AdminRequest.Scope | undefined
  const request = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> => {
    if (!scope) {
      const info = Admin.unwrap(url, await Admin.client(url, operator()).info())
      if (!info.ok) throw refusalError(url, info.refusal)
      scope = { agentId: info.data.agentId, chainId: info.data.chainId, succession: info.data.succession }
    }
    const text = body === undefined ? '' : JSON.stringify(body)
    const headers = await AdminRequest.sign(operator(), { ...scope, method, path, body: new TextEncoder().encode(text) })
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: text }),
      signal: AbortSignal.timeout(requestTimeoutMs),
    }).catch((cause: unknown) => {
      throw new CliError('agent.unreachable', `the agent at ${url} did not answer ${method} ${path} (${(cause as Error).message})`, {
        hint: 'is it running, and is the URL right?',
        docs,
        cause,
      })
    })
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>
    return { status: res.status, body: json }
  }
  /** The answer's body, or the refusal as a CliError. */
  const ok = (a: Answer): Record<string, unknown> => {
    if (a.status >= 200 && a.status < 300) return a.body
    const e = (a.body.error ?? {}) as { code?: string; message?: string }
    const refusal = { status: a.status, code: e.code ?? `http.${a.status}`, message: e.message ?? `HTTP ${a.status}` }
    // The admin API answered /admin/info, so a 404 here is a missing failover, not a missing admin API.
    if (refusal.code !== 'http.404') Admin.unwrap(url, { ok: false, refusal })
    throw refusalError(url, refusal)
  }
  return {
    url,
    status: async () => ok(await request('GET', '/admin/failover')) as Status,
    setLease: async (lease) => ok(await request('POST', '/admin/failover', lease)) as Status,
    async attach(standbyUrl) {
      const a = await request('POST', '/admin/failover/standbys', { url: standbyUrl })
      if (a.status === 422 && (a.body.error as { code?: string } | undefined)?.code === 'standby.refused')
        return { ok: false, standby: a.body.standby as Standby }
      const { standby, ...status } = ok(a) as Status & { standby: Standby }
      return { ok: true, standby, status }
    },
    detach: async (standbyUrl) => ok(await request('POST', '/admin/failover/standbys/remove', { url: standbyUrl })) as Status,
  }
}

/**
 * A failover refusal as the error the user sees.
 *
 * Codes: `failover.missing` (the agent mounts no failover), `failover.not_canonical` (a standby, or an instance that
 * holds no agent: ask the canonical), `failover.fenced` / `failover.claiming` (the canonical cannot act now),
 * `failover.off` (no lease yet), `failover.invalid` (the agent refused the settings); any other code as the agent
 * gave it.
 */
export function refusalError(url: string, r: { status: number; code: string; message: string }): CliError {
  if (r.code === 'http.404' || r.code === 'not_found')
    return new CliError('failover.missing', `the agent at ${url} has no failover admin API (HTTP 404 on /admin/failover)`, {
      hint: "this needs an agent that mounts the SDK's failover (mountFailover, @regent-tee/sdk/failover)",
      docs,
    })
  if (r.code === 'failover.standby' || r.code === 'agent.none')
    return new CliError('failover.not_canonical', `${url} is not the agent's canonical instance (${r.code}: ${r.message})`, {
      hint: `pass the canonical instance's URL: \`regent failover status --agent ${url}\` names it`,
      docs,
    })
  if (r.code === 'failover.fenced' || r.code === 'failover.claiming')
    return new CliError(r.code, `the agent at ${url} cannot act now (${r.message})`, {
      hint: `regent failover status --agent ${url}`,
      docs,
    })
  if (r.code === 'failover.off')
    return new CliError('failover.off', `the agent at ${url} has no lease: standbys are attached to a canonical that holds one`, {
      hint: `regent failover enable --agent ${url} --period 10`,
      docs,
    })
  if (r.code === 'bad_request') return new CliError('failover.invalid', `the agent at ${url} refused the settings: ${r.message}`, { docs })
  return new CliError(r.code, `the agent at ${url} refused (HTTP ${r.status}): ${r.message}`, { docs })
}

/**
 * The failover status of the instance at `url`: a standby's (or a claiming one's) from its public `/health`, any
 * other instance's from `GET /admin/failover` (signed).
 */
export async function statusOf(url: string, operator: () => LocalAccount): Promise<Status> {
  const h = (await Admin.health(url)) as Admin.Health & { failover?: unknown }
  if ((h.role === 'standby' || h.role === 'claiming') && typeof h.failover === 'object' && h.failover !== null) return h.failover as Status
  return client(url, operator).status()
}

/** The refusal of a standby as a CLI error: every reason the agent gave, by code. */
export function standbyRefused(agent: string, standby: Standby, extra = ''): CliError {
  const reasons = (standby.reasons ?? []).map((r) => `${r.code} (${r.message.replace(/\.$/, '')})`).join('; ')
  return new CliError(
    'standby.refused',
    `the agent at ${agent} refused the standby at ${standby.url} (${standby.state}): ${reasons || 'no reason given'}${extra}`,
    {
      hint: 'the agent attests each standby: another CVM of its own app, on an approved measurement, under a root it trusts',
      docs,
    },
  )
}

/**
 * The devnet CVM that runs the instance `instanceId` (the agent's own: same compose, same app id for its standbys).
 *
 * @throws {CliError} `standby.no_cvm` when no running CVM of the devnet is that instance.
 */
export async function cvmOf(file: DevnetFile.DevnetFile, params: { url: string; instanceId: string; devnetDir: string }) {
  const id = params.instanceId.replace(/^0x/, '').toLowerCase()
  const cvm = (await Host.list(file)).find((c) => c.status === 'running' && c.instanceId.replace(/^0x/, '').toLowerCase() === id)
  if (!cvm)
    throw new CliError(
      'standby.no_cvm',
      `the agent at ${params.url} (instance ${params.instanceId}) is not a running CVM of the devnet in ${params.devnetDir}`,
      {
        hint: "launch a CVM of the agent's app with REGENT_UPLIFT_ROLE=standby yourself and attach it: regent standby add --agent <url> --url <standby>",
        docs,
      },
    )
  return cvm
}

/**
 * The running CVMs of `appId` that were not in `before` (ids): what a command launched, also a launch whose answer
 * had not arrived when it was interrupted.
 */
export async function launchedSince(file: DevnetFile.DevnetFile, appId: string, before: ReadonlySet<string>): Promise<CvmRecord[]> {
  const app = appId.replace(/^0x/, '').toLowerCase()
  return (await Host.list(file)).filter((c) => c.status === 'running' && c.appId.toLowerCase() === app && !before.has(c.cvmId))
}

/** The ids of every CVM the devnet knows now. */
export const cvmIds = async (file: DevnetFile.DevnetFile): Promise<Set<string>> => new Set((await Host.list(file)).map((c) => c.cvmId))

/**
 * Launches a standby CVM: the exact compose and app id of `of` (another instance of the agent's app, so the same
 * KMS key and an approved measurement) with `REGENT_UPLIFT_ROLE=standby`. Host settings only in its environment.
 */
export async function launchStandby(file: DevnetFile.DevnetFile, of: CvmRecord, options: { claimDelayMs?: number } = {}) {
  return Host.launch(file, {
    compose: await Host.compose(file, of.cvmId),
    appId: of.appId,
    env: {
      REGENT_UPLIFT_ROLE: 'standby',
      REGENT_COLLATERAL_URL: file.collateralUrl,
      ...(options.claimDelayMs ? { REGENT_FAILOVER_CLAIM_DELAY_MS: String(options.claimDelayMs) } : {}),
    },
  })
}

/**
 * Polls (bounded) until the CVM's `/health` answers `role` (`standby`, or `agent` with an agentId); fails early
 * when its program exits.
 *
 * @throws {CliError} `standby.boot_failed` (or `agent.boot_failed` for the agent), with the CVM's own error.
 */
export async function waitForRole(
  file: DevnetFile.DevnetFile,
  cvm: CvmRecord,
  role: 'standby' | 'agent',
): Promise<{ agentId: string | null; wallet: string | null }> {
  const deadline = Date.now() + bootTimeoutMs
  for (;;) {
    const h = await fetch(`${cvm.appUrl}/health`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => (r.ok ? (r.json() as Promise<{ role?: string; agentId?: string | null; wallet?: string | null }>) : undefined),
      () => undefined,
    )
    if (h?.role === role && (role === 'standby' || typeof h.agentId === 'string'))
      return { agentId: h.agentId ?? null, wallet: h.wallet ?? null }
    const now = await Host.get(file, cvm.cvmId)
    if (now.status !== 'running' || Date.now() > deadline) {
      const tail = agentError(await Host.logs(file, cvm.cvmId, 40).catch(() => ''))
      throw new CliError(
        `${role}.boot_failed`,
        now.status === 'running'
          ? `${cvm.cvmId} did not answer /health as ${role === 'standby' ? 'a standby' : 'the agent'} within ${bootTimeoutMs / 1000} s${h?.role ? ` (role ${h.role})` : ''}`
          : `${cvm.cvmId} ${now.status} (exit code ${now.exitCode}) before serving${tail ? `: ${tail}` : ''}`,
        { hint: `see its output: \`regent dev cvm logs ${cvm.cvmId}\``, docs },
      )
    }
    await new Promise((r) => setTimeout(r, 200)) // the poll interval of its /health while it boots
  }
}

/** `in 7.2 s` / `3.1 s ago` for a lease expiry in unix seconds. */
export function expiry(expiresAt: string, now = Date.now()): string {
  const ms = Number(expiresAt) * 1000 - now
  return ms >= 0 ? `in ${(ms / 1000).toFixed(1)} s` : `${(-ms / 1000).toFixed(1)} s ago`
}

/** The lines of a status, for a human. */
export function renderStatus(url: string, s: Status): string[] {
  const lease = s.lease
  const standbys = s.replication?.standbys ?? []
  const mine = lease !== null && lease.holder.toLowerCase() === s.instanceId.toLowerCase()
  const head =
    s.role === 'standby' || s.role === 'claiming'
      ? `${url}: ${s.role === 'standby' ? 'a standby' : 'a standby taking the agent over'} (instance ${s.instanceId})${s.following?.leaderUrl ? `, following agent ${s.following.agentId ?? '?'} at ${s.following.leaderUrl}` : ', attached to no canonical yet'}`
      : `agent ${s.agentId ?? '?'} at ${url}: role ${s.role}, epoch ${s.epoch}, instance ${s.instanceId}`
  return [
    head,
    lease && lease.period !== '0'
      ? // The holder's copy of the lease is the one it last read: its window (below) says how long it may acknowledge.
        `  lease        period ${lease.period} s, holder ${lease.holder}${mine ? ' (this instance)' : `, expires ${expiry(lease.expiresAt)}${lease.renewed ? '' : ' (not renewed at this epoch yet)'}`}`
      : '  lease        off (no failover: `regent failover enable`)',
    ...(s.canonical ? [`  canonical    ${s.canonical}`] : []),
    ...(s.window ? [`  window       ${s.window.state}, ${(s.window.remainingMs / 1000).toFixed(1)} s left`] : []),
    ...(s.replication
      ? [
          `  replication  k ${s.replication.k}, ${s.replication.required} required${s.replication.degraded ? ' (DEGRADED: fewer standbys counted than k)' : ''}, lag ${s.replication.lagRecords} records`,
          ...standbyTable(standbys),
        ]
      : []),
    ...(s.following?.leaderUrl
      ? [`  following    ${s.following.leaderUrl} (epoch ${s.following.epoch ?? '?'}${s.following.synced ? ', synced' : ', syncing'})`]
      : []),
    `  head         seq ${s.head}${s.claims.attempts ? `; claims ${s.claims.won} won of ${s.claims.attempts}` : ''}`,
  ]
}

/** One line per standby: URL, state, instance, last seq acknowledged. */
export function standbyTable(standbys: readonly Standby[]): string[] {
  if (standbys.length === 0) return ['  standbys     none']
  return [
    `  standbys     ${standbys.length}`,
    ...standbys.map(
      (b) =>
        `    ${b.url.padEnd(24)} ${b.state.padEnd(11)} ${b.instanceId ?? '-'}  acked seq ${b.acked}${(b.reasons ?? []).map((r) => `  ${r.code}`).join('')}`,
    ),
  ]
}

/**
 * A `--agent` / `--url` value: an http(s) base URL, without its trailing slash.
 *
 * @throws {UsageError} `usage`.
 */
export function urlFlag(value: string | boolean | undefined, flag: string, example: string): string {
  if (typeof value !== 'string') throw new UsageError('usage', `${flag} <url> is required`, { hint: example, docs })
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new UsageError('usage', `${flag} takes a base URL (http or https), not "${value}"`, { docs })
  return value.replace(/\/+$/, '')
}

/**
 * A whole-number flag in [min, max], or its default.
 *
 * @throws {UsageError} `usage`.
 */
export function intFlag(value: string | boolean | undefined, flag: string, range: { min: number; max: number; default?: number }): number {
  if (value === undefined && range.default !== undefined) return range.default
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= range.min && n <= range.max))
    throw new UsageError(
      'usage',
      `${flag} takes a whole number from ${range.min} to ${range.max}${value === undefined ? '' : `, not "${String(value)}"`}`,
      {
        docs,
      },
    )
  return n
}

/** The operator's key from REGENT_OPERATOR_KEY, read once, when the first request is signed. */
export function operatorOnce(): () => LocalAccount {
  let operator: LocalAccount | undefined
  return () => {
    operator ??= Admin.operatorFromEnv()
    return operator
  }
}
