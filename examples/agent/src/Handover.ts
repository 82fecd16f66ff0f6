/**
 * Zero-downtime handover (docs/uplift.md "Zero downtime"): the memory routes that both sides of an uplift serve,
 * and the forwarding layer in front of the source's handler.
 *
 *   GET  /topics?user=                  what the agent learned about a user
 *   POST /remember   { user, text }     learns; { remembered, topics }
 *
 * The source serves its own state until its journal shows the on-chain switch (`handover-tx`), then forwards every
 * new request to the target, which serves the same routes on the state it loaded once the chain names it canonical.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { Database } from 'better-sqlite3'
import { learn, topics } from './Memory.js'

const maxBody = 64 * 1024
const userPattern = /^[\w.-]{1,64}$/

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`)
}
const fail = (res: ServerResponse, status: number, code: string, message: string) => send(res, status, { error: { code, message } })

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req) {
    size += (c as Buffer).length
    if (size > maxBody) return undefined
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks)
}

/** Serves the memory routes on `db`; false for any other path (nothing is written to `res`). */
export async function serveMemory(db: Database, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://agent')
  if (req.method === 'GET' && url.pathname === '/topics') {
    const user = url.searchParams.get('user') ?? ''
    if (!userPattern.test(user)) fail(res, 400, 'bad_request', '"user" must be 1–64 word characters')
    else send(res, 200, { user, topics: topics(db, user) })
    return true
  }
  if (req.method === 'POST' && url.pathname === '/remember') {
    const raw = await readBody(req)
    if (raw === undefined) {
      fail(res, 413, 'too_large', `body over ${maxBody} bytes`)
      return true
    }
    let body: { user?: unknown; text?: unknown }
    try {
      body = JSON.parse(raw.toString('utf8')) as typeof body
    } catch {
      fail(res, 400, 'bad_request', 'body is not valid JSON')
      return true
    }
    const { user, text } = body ?? {}
    if (typeof user !== 'string' || !userPattern.test(user)) fail(res, 400, 'bad_request', '"user" must be 1–64 word characters')
    else if (typeof text !== 'string' || text.length === 0 || text.length > 4096)
      fail(res, 400, 'bad_request', '"text" must be 1–4096 characters')
    else send(res, 200, learn(db, { user, text }))
    return true
  }
  return false
}

export type ForwarderParameters = {
  /** The source's own handler (it serves until the switch). */
  readonly serve: RequestListener
  /** True once the handover is on-chain, e.g. `() => journal.get('handover-tx') !== undefined`. Checked per request. */
  readonly switched: () => boolean
  /** The target's public base URL. */
  readonly targetUrl: string
}

/**
 * The forwarding layer in front of a source: each request goes to `serve` until `switched()` is true, then to the
 * target (method, path, query, content-type and body; the target's status and body come back unchanged).
 * A request that cannot reach the target gets 502 `{ error: { code: "forward.unreachable" } }`.
 */
export function createForwarder(parameters: ForwarderParameters): RequestListener {
  const base = parameters.targetUrl.replace(/\/$/, '')
  return (req, res) => {
    if (!parameters.switched()) return void parameters.serve(req, res)
    void forward(base, req, res)
  }
}

/** Forwards one request to `base` (the target); 502 `forward.unreachable` when it does not answer. */
export async function forward(base: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  await relay(base.replace(/\/$/, ''), req, res).catch(() => fail(res, 502, 'forward.unreachable', 'the target did not answer'))
}

async function relay(base: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET'
  const body = method === 'GET' || method === 'HEAD' ? undefined : await readBody(req)
  if (body === undefined && method !== 'GET' && method !== 'HEAD') return fail(res, 413, 'too_large', `body over ${maxBody} bytes`)
  const headers: Record<string, string> = {}
  for (const name of ['content-type', idempotencyHeader]) {
    const value = req.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  const upstream = await fetch(`${base}${req.url ?? '/'}`, { method, headers, ...(body === undefined ? {} : { body }) })
  const answer = Buffer.from(await upstream.arrayBuffer())
  res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(answer)
}

/** The request header that makes a write idempotent (the agent applies each key once). */
export const idempotencyHeader = 'idempotency-key'

/** A write the source applied during the uplift window, to be applied again at the target after the switch. */
export type HeldWrite = { readonly path: string; readonly body: unknown; readonly key: string }

/**
 * Replays held writes at the target in one batch (`POST /remember/batch`, each with its idempotency key, so a batch
 * replayed twice is applied once). `answered`: the target answered (2xx applied or already applied; 4xx it refuses
 * the batch, which the source had accepted — reported, not retried); false when it did not answer.
 */
export async function replay(base: string, writes: readonly HeldWrite[]): Promise<{ answered: boolean; status: number }> {
  const items = writes.map((w) => {
    if (w.path !== '/remember') throw new Error(`cannot replay a write to ${w.path}`)
    return { ...(w.body as { user: string; text: string }), key: w.key }
  })
  try {
    const res = await fetch(`${base.replace(/\/$/, '')}/remember/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items }),
      signal: AbortSignal.timeout(30_000),
    })
    await res.arrayBuffer()
    return { answered: res.status < 500, status: res.status }
  } catch {
    return { answered: false, status: 0 }
  }
}
