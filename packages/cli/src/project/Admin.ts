/**
 * The running agent's endpoints that `regent uplift` uses (docs/cli/uplift.md "The agent's admin API"): `GET /health`
 * and the authenticated admin API `GET|POST /admin/uplift`, `POST /admin/uplift/resume`
 * (`authorization: Bearer <REGENT_ADMIN_TOKEN>`). The token is sent only in that header: never in a URL, an error
 * or an output.
 */
import { upliftSourceSteps } from '@regent-tee/sdk'
import { CliError } from '../errors.js'

const docs = 'docs/cli/uplift.md'
const requestTimeoutMs = 10_000

/** The source's steps in order (docs/uplift.md "Journal"); the key step is `key-envelope` (import) or `key-offer` (rotate). */
export const sourceSteps = upliftSourceSteps

/** The journal name of a source step for a key option. */
export const stepName = (step: (typeof sourceSteps)[number], mode: 'import' | 'rotate') =>
  step === 'key' ? (mode === 'import' ? 'key-envelope' : 'key-offer') : step

export type Decision = { ev: number; proceed: boolean; table: string }

/** What `GET /admin/uplift` answers: the agent's (source's) uplift session. */
export type UpliftStatus = {
  state: 'idle' | 'running' | 'failed' | 'done'
  sessionId: string | null
  mode: 'import' | 'rotate' | null
  targetUrl: string | null
  steps: { step: string; at: string }[]
  next: string | null
  decision: Decision | null
  error: { code: string; message: string } | null
  result: { signer: string; epoch: string; stateRoot: string; seq: string; transactionHash: string } | null
  /** The self-continuity challenge, once sent. */
  handshake: { epoch: string; nonce: string; leafIndexes: string[] } | null
  /** Writes the source accepted in the window, and how many the target applied. */
  heldWrites: { held: number; replayed: number } | null
}

/** What `GET /health` answers (the fields the CLI reads). */
export type Health = { ok: boolean; agentId?: string; wallet?: string; role?: string; runtime?: string }

/** An answer the caller handles itself (a 4xx other than 401/404): status, error code and the whole body. */
export type Refusal = { status: number; code: string; message: string; body: Record<string, unknown> }

/**
 * `GET <url>/health`.
 *
 * @throws {CliError} `agent.unreachable` (no answer), `agent.not_agent` (not a JSON `{ ok: true }` answer).
 */
export async function health(url: string, options: { what?: string } = {}): Promise<Health> {
  const what = options.what ?? 'the agent'
  const res = await request(url, '/health', { what })
  const body = await res.json().catch(() => undefined)
  if (!res.ok || typeof body !== 'object' || body === null || (body as Health).ok !== true)
    throw new CliError('agent.not_agent', `${url} is not a Regent agent: GET /health answered HTTP ${res.status} without { ok: true }`, {
      hint: "pass the agent's base URL (the one that serves /health)",
      docs,
    })
  return body as Health
}

/**
 * One admin call. 2xx → the JSON body; 401 → `admin.unauthorized`; 404 → `admin.disabled` (the agent has no token
 * configured) or `admin.missing` (no admin API at all); any other 4xx/5xx → a {@link Refusal} the caller maps.
 *
 * @throws {CliError} `agent.unreachable`, `admin.unauthorized`, `admin.disabled`, `admin.missing`, `agent.bad_response`.
 */
export async function call(
  url: string,
  params: { method: 'GET' | 'POST'; path: string; token: string | undefined; body?: unknown },
): Promise<{ ok: true; status: UpliftStatus } | { ok: false; refusal: Refusal }> {
  const headers: Record<string, string> = params.token ? { authorization: `Bearer ${params.token}` } : {}
  if (params.method === 'POST') headers['content-type'] = 'application/json'
  const res = await request(url, params.path, {
    what: 'the agent',
    init: { method: params.method, headers, ...(params.method === 'POST' ? { body: JSON.stringify(params.body ?? {}) } : {}) },
  })
  const text = await res.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {}
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
  const code = typeof error?.code === 'string' ? error.code : undefined
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`
  if (res.ok) return { ok: true, status: assertStatus(url, body) }
  if (res.status === 401)
    throw new CliError(
      'admin.unauthorized',
      params.token ? `the agent at ${url} refused the admin token (${message})` : `the agent at ${url} wants an admin token (${message})`,
      { hint: "pass the agent's REGENT_ADMIN_TOKEN in the environment variable REGENT_ADMIN_TOKEN (or --token)", docs },
    )
  if (res.status === 404 && code === 'admin.disabled')
    throw new CliError('admin.disabled', `the agent at ${url} has its admin API disabled (${message})`, {
      hint: 'restart the agent with REGENT_ADMIN_TOKEN set, and pass the same token here',
      docs,
    })
  if (res.status === 404)
    throw new CliError('admin.missing', `the agent at ${url} has no admin API (${params.method} ${params.path} answered HTTP 404)`, {
      hint: 'this needs an agent that serves /admin/uplift (the example agent does)',
      docs,
    })
  return {
    ok: false,
    refusal: { status: res.status, code: code ?? `http.${res.status}`, message, body: (body ?? {}) as Record<string, unknown> },
  }
}

async function request(url: string, path: string, options: { what: string; init?: RequestInit }): Promise<Response> {
  return fetch(`${url.replace(/\/+$/, '')}${path}`, { ...options.init, signal: AbortSignal.timeout(requestTimeoutMs) }).catch(
    (cause: unknown) => {
      const inner = (cause as { cause?: { code?: string; message?: string } }).cause
      const reason = inner?.code ?? inner?.message ?? (cause as Error).message
      throw new CliError('agent.unreachable', `${options.what} at ${url} did not answer (${reason})`, {
        hint: 'is it running, and is the URL right?',
        docs,
        cause,
      })
    },
  )
}

const states = ['idle', 'running', 'failed', 'done']

function assertStatus(url: string, body: unknown): UpliftStatus {
  const s = body as Partial<UpliftStatus> | undefined
  if (typeof s !== 'object' || s === null || !states.includes(s.state as string) || !Array.isArray(s.steps))
    throw new CliError('agent.bad_response', `the agent at ${url} answered an uplift status the CLI does not understand`, { docs })
  return {
    state: s.state as UpliftStatus['state'],
    sessionId: s.sessionId ?? null,
    mode: s.mode ?? null,
    targetUrl: s.targetUrl ?? null,
    steps: s.steps,
    next: s.next ?? null,
    decision: s.decision ?? null,
    error: s.error ?? null,
    result: s.result ?? null,
    handshake: s.handshake ?? null,
    heldWrites: s.heldWrites ?? null,
  }
}
