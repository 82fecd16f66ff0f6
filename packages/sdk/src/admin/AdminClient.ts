/**
 * The operator's typed client of an agent's admin API (AdminRoutes.ts): every request signed with the operator's key
 * (AdminRequest.ts), every call bounded by a timeout. `regent uplift` and `regent demo` use it; so can any program.
 */
import type { Address, Hex, LocalAccount } from 'viem'
import type { UpliftStatus } from '../uplift/Controller.js'
import type * as Decide from '../uplift/Decide.js'
import * as AdminRequest from './AdminRequest.js'

/** What `GET /admin/info` tells a client to sign over. */
export type AdminInfo = { agentId: bigint; chainId: number; succession: Address; operator: Address }

/** A refusal of the admin API (or a transport failure: `admin.unreachable`). */
export type AdminRefusal = { status: number; code: string; message: string; decision?: UpliftStatus['decision'] }

/** A call's outcome: the answer, or the agent's refusal (never thrown, so callers switch on codes). */
export type AdminResult<T> = { ok: true; status: number; data: T } | { ok: false; refusal: AdminRefusal }

export type AdminClient = {
  readonly url: string
  info(): Promise<AdminResult<AdminInfo>>
  status(): Promise<AdminResult<UpliftStatus>>
  start(request: {
    targetUrl: string
    key: 'import' | 'rotate'
    force?: boolean
    decision?: Omit<Decide.Options, 'force'>
  }): Promise<AdminResult<UpliftStatus>>
  resume(): Promise<AdminResult<UpliftStatus>>
  withdraw(request: { to: Address; amount: bigint }): Promise<AdminResult<{ transactionHash: Hex; epoch: string }>>
  /** A signed request to one of the agent's own operator-only routes (e.g. the example agent's `POST /checkpoint`). */
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<AdminResult<T>>
}

/**
 * A client for the agent at `url`, signing as `operator`. The signed scope (agent, chain, RegentSuccession) is read
 * from the agent's `/admin/info` once, unless given.
 *
 * @param options.timeoutMs - per request (default 30 s).
 * @example
 * const admin = createAdminClient({ url: 'http://127.0.0.1:8080', operator: privateKeyToAccount(key) })
 * const r = await admin.start({ targetUrl, key: 'import' })
 * if (!r.ok) console.error(r.refusal.code)
 */
export function createAdminClient(options: {
  url: string
  operator: LocalAccount
  scope?: AdminRequest.Scope
  timeoutMs?: number
}): AdminClient {
  const base = options.url.replace(/\/$/, '')
  const timeoutMs = options.timeoutMs ?? 30_000
  let scope: AdminRequest.Scope | undefined = options.scope

  const request = async <T>(method: string, path: string, body?: unknown, signed = true): Promise<AdminResult<T>> => {
    const text = body === undefined ? '' : JSON.stringify(body)
    const bytes = new TextEncoder().encode(text)
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }
    try {
      if (signed) {
        if (!scope) {
          const info = await client.info()
          if (!info.ok) return info
          scope = { agentId: info.data.agentId, chainId: info.data.chainId, succession: info.data.succession }
        }
        Object.assign(headers, await AdminRequest.sign(options.operator, { ...scope, method, path, body: bytes }))
      }
      const res = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: text }),
        signal: AbortSignal.timeout(timeoutMs),
      })
      const json = (await res.json().catch(() => ({}))) as {
        error?: { code?: string; message?: string }
        decision?: UpliftStatus['decision']
      }
      if (!res.ok)
        return {
          ok: false,
          refusal: {
            status: res.status,
            code: json.error?.code ?? `http.${res.status}`,
            message: json.error?.message ?? `HTTP ${res.status}`,
            ...(json.decision ? { decision: json.decision } : {}),
          },
        }
      return { ok: true, status: res.status, data: json as T }
    } catch (error) {
      return {
        ok: false,
        refusal: { status: 0, code: 'admin.unreachable', message: `${base} did not answer: ${(error as Error).message}` },
      }
    }
  }

  const client: AdminClient = {
    url: base,
    async info() {
      const r = await request<{ agentId: string; chainId: number; succession: Address; operator: Address }>(
        'GET',
        '/admin/info',
        undefined,
        false,
      )
      return r.ok ? { ...r, data: { ...r.data, agentId: BigInt(r.data.agentId) } } : r
    },
    status: () => request('GET', '/admin/uplift'),
    start: (r) => request('POST', '/admin/uplift', r),
    resume: () => request('POST', '/admin/uplift/resume', {}),
    withdraw: (r) => request('POST', '/admin/withdraw', { to: r.to, amount: r.amount.toString() }),
    request: (method, path, body) => request(method, path, body),
  }
  return client
}
