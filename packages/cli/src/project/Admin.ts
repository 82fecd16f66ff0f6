/**
 * The running agent's endpoints that `regent uplift` uses (docs/cli/uplift.md): `GET /health`, and the admin API
 * through the SDK's typed client (`createAdminClient`), every request signed by the operator's key (EIP-712, one
 * request each, short-lived; docs/uplift.md "Admin API"). The key comes from `REGENT_OPERATOR_KEY`, never a flag, and
 * never leaves this process: only signatures travel. The uplift's checks of what the agent answers live here too
 * (agentHealth, assertFree, refusalError).
 */
import { type AdminClient, type AdminRefusal, createAdminClient, type UpliftStatus } from '@regent-tee/sdk/uplift'
import { type Address, getAddress, isAddress, type LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { CliError, UsageError } from '../errors.js'

const docs = 'docs/cli/uplift.md'
const requestTimeoutMs = 10_000

export type { UpliftStatus }
export type Decision = NonNullable<UpliftStatus['decision']>

/** What `GET /health` answers (the fields the CLI reads). */
export type Health = { ok: boolean; agentId?: string; wallet?: string; role?: string; runtime?: string }

/**
 * The operator's account from `REGENT_OPERATOR_KEY` (0x + 32 bytes hex).
 *
 * @throws {UsageError} `operator.missing` (unset), `operator.invalid` (not a private key).
 */
export function operatorFromEnv(env: NodeJS.ProcessEnv = process.env): LocalAccount {
  const key = env.REGENT_OPERATOR_KEY
  if (!key)
    throw new UsageError('operator.missing', "the agent's admin API needs its operator's signature: REGENT_OPERATOR_KEY is not set", {
      hint: "export REGENT_OPERATOR_KEY=0x… (the key of the operator address in the agent's measured settings)",
      docs,
    })
  if (!/^0x[0-9a-fA-F]{64}$/.test(key))
    throw new UsageError('operator.invalid', 'REGENT_OPERATOR_KEY must be 0x followed by 64 hex digits (a private key)', { docs })
  return privateKeyToAccount(key as `0x${string}`)
}

/**
 * The operator's address for a deploy: REGENT_OPERATOR, else the address of REGENT_OPERATOR_KEY; undefined when
 * neither is set (the agent then has no admin API).
 *
 * @throws {UsageError} `operator.invalid` for a malformed value.
 */
export function operatorAddress(env: NodeJS.ProcessEnv = process.env): Address | undefined {
  const address = env.REGENT_OPERATOR
  if (address) {
    if (!isAddress(address)) throw new UsageError('operator.invalid', 'REGENT_OPERATOR must be an address', { docs })
    return getAddress(address)
  }
  return env.REGENT_OPERATOR_KEY ? operatorFromEnv(env).address : undefined
}

/** A client of the agent's admin API that signs as `operator`. */
export function client(url: string, operator: LocalAccount): AdminClient {
  return createAdminClient({ url, operator, timeoutMs: requestTimeoutMs })
}

/**
 * Unwraps a call: the data, or a CliError for the refusals no caller handles itself (transport, authority).
 * Other refusals are returned for the caller to map.
 *
 * @throws {CliError} `agent.unreachable`, `admin.unauthorized`, `admin.not_operator`, `admin.disabled`, `admin.missing`.
 */
export function unwrap<T>(
  url: string,
  r: { ok: true; data: T } | { ok: false; refusal: AdminRefusal },
): { ok: true; data: T } | { ok: false; refusal: AdminRefusal } {
  if (r.ok) return r
  const { code, message, status } = r.refusal
  if (code === 'admin.unreachable')
    throw new CliError('agent.unreachable', `the agent at ${url} did not answer (${message})`, {
      hint: 'is it running, and is the URL right?',
      docs,
    })
  if (code === 'admin.not_operator')
    throw new CliError('admin.not_operator', `the agent at ${url} refused: ${message}`, {
      hint: "REGENT_OPERATOR_KEY must be the key of the operator in the agent's measured settings (GET /admin/info names it)",
      docs,
    })
  if (code.startsWith('admin.') && status === 401)
    throw new CliError('admin.unauthorized', `the agent at ${url} refused the signed request (${code}: ${message})`, {
      hint: 'check the machine clock (requests expire within a minute) and REGENT_OPERATOR_KEY',
      docs,
    })
  if (code === 'admin.disabled')
    throw new CliError('admin.disabled', `the agent at ${url} has no admin API (${message})`, {
      hint: 'an agent gets one from the operator address in its measured settings (x-regent), which `regent deploy` writes',
      docs,
    })
  if (status === 404 && !code.startsWith('admin.') && code === 'http.404')
    throw new CliError('admin.missing', `the agent at ${url} has no admin API (HTTP 404)`, {
      hint: "this needs an agent that mounts the SDK's uplift (mountUplift; docs/sdk.md)",
      docs,
    })
  return r
}

/**
 * `GET <url>/health`.
 *
 * @throws {CliError} `agent.unreachable` (no answer), `agent.not_agent` (not a JSON `{ ok: true }` answer).
 */
export async function health(url: string, options: { what?: string } = {}): Promise<Health> {
  const what = options.what ?? 'the agent'
  const res = await fetch(`${url.replace(/\/+$/, '')}/health`, { signal: AbortSignal.timeout(requestTimeoutMs) }).catch(
    (cause: unknown) => {
      const inner = (cause as { cause?: { code?: string; message?: string } }).cause
      throw new CliError(
        'agent.unreachable',
        `${what} at ${url} did not answer (${inner?.code ?? inner?.message ?? (cause as Error).message})`,
        {
          hint: 'is it running, and is the URL right?',
          docs,
          cause,
        },
      )
    },
  )
  const body = await res.json().catch(() => undefined)
  if (!res.ok || typeof body !== 'object' || body === null || (body as Health).ok !== true)
    throw new CliError('agent.not_agent', `${url} is not a Regent agent: GET /health answered HTTP ${res.status} without { ok: true }`, {
      hint: "pass the agent's base URL (the one that serves /health)",
      docs,
    })
  return body as Health
}

/** The agent's /health: it must be an agent (`start`: one that still holds its epoch). */
export async function agentHealth(url: string, { start }: { start: boolean }): Promise<{ url: string; agentId: string; wallet: string }> {
  const h = await health(url)
  if (h.role === 'uplift-target')
    throw new CliError('agent.uplift_target', `${url} is an uplift target (a CVM waiting for an agent), not the agent`, {
      hint: 'pass the URL of the running agent that should move',
      docs,
    })
  if (start && h.role === 'demoted')
    throw new CliError('agent.demoted', `the agent at ${url} has already handed over: it is a demoted backup`, {
      hint: `its last uplift: regent uplift status --agent ${url}`,
      docs,
    })
  if (typeof h.agentId !== 'string' || !/^\d{1,78}$/.test(h.agentId) || typeof h.wallet !== 'string' || (start && h.role !== 'agent'))
    throw new CliError('agent.not_agent', `${url} is not a Regent agent (GET /health names no agentId, wallet and role "agent")`, {
      hint: "pass the agent's base URL (the one that serves /health)",
      docs,
    })
  return { url, agentId: h.agentId, wallet: h.wallet }
}

/**
 * Before launching anything: the agent has no session running, done, or failed after its key left (that one must be
 * resumed). A session that failed before its key step may be replaced: the agent abandons it on the next start.
 */
export function assertFree(url: string, s: UpliftStatus, note: (line: string) => void): void {
  if (s.state === 'running')
    throw new CliError(
      'uplift.busy',
      `the agent at ${url} is already running an uplift (session ${s.sessionId ?? '?'}, next ${s.next ?? '?'})`,
      {
        hint: `follow it: regent uplift resume --agent ${url}`,
        docs,
      },
    )
  if (s.state === 'done')
    throw new CliError(
      'uplift.done',
      `the agent at ${url} has completed an uplift already (session ${s.sessionId ?? '?'} to ${s.targetUrl ?? '?'})`,
      {
        hint: `regent uplift status --agent ${url}`,
        docs,
      },
    )
  const keySent = s.steps.some((e) => e.step === 'key-envelope' || e.step === 'key-offer')
  if (s.state === 'failed' && !keySent)
    note(`the agent's failed session ${s.sessionId ?? ''} stopped before its key step: the agent abandons it for this one`)
  else if (s.state === 'failed')
    throw new CliError(
      'uplift.unfinished',
      `the agent at ${url} has an unfinished uplift (session ${s.sessionId ?? '?'}, stopped before ${s.next ?? '?'}${s.error ? `: ${s.error.code}: ${s.error.message}` : ''})`,
      { hint: `regent uplift resume --agent ${url}`, docs },
    )
}

/** An admin refusal the command does not handle itself, as a CLI error (the agent's code and message). */
export function refusalError(url: string, r: AdminRefusal): CliError {
  if (r.code === 'uplift.busy')
    return new CliError('uplift.busy', `the agent at ${url} has an uplift running or unfinished (${r.message})`, {
      hint: `regent uplift resume --agent ${url}`,
      docs,
    })
  return new CliError(r.code, `the agent at ${url} refused (HTTP ${r.status}): ${r.message}`, { docs })
}
