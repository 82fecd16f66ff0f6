/**
 * Zero downtime around the switch (DESIGN.md §10 "zero downtime"; docs/uplift.md "Zero downtime"): the writes a
 * source accepts after its checkpoint froze (the window) are journaled with an idempotency key, applied and answered
 * at once, and replayed at the target in order once the chain names it; after the switch every request is forwarded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { errorBody, readBody, sendJson } from '@regent-tee/core'
import * as AdminRequest from '../admin/AdminRequest.js'

/** The request header that makes a write idempotent (an agent applies each key once). */
export const idempotencyHeader = 'idempotency-key'

/**
 * A write the source applied in the window, to be applied again at the target: an HTTP request (the agent's own
 * route), its JSON body and its idempotency key.
 */
export type HeldWrite = { readonly method: string; readonly path: string; readonly body: unknown; readonly key: string }

/** How held writes reach the target; `answered` false when it did not answer (retried with backoff). */
export type Replay = (targetUrl: string, writes: readonly HeldWrite[]) => Promise<{ answered: boolean; status: number }>

/** The largest body forwarded or replayed. */
export const maxForwardBody = 1024 * 1024

/**
 * The default replay: each write sent again to the target as the request it was (method, path, JSON body, idempotency
 * key), in order; stops at the first that does not answer. Agents with many small writes pass a batch replay instead.
 */
export const replayEach: Replay = async (targetUrl, writes) => {
  let status = 200
  for (const w of writes) {
    try {
      const res = await fetch(`${targetUrl.replace(/\/$/, '')}${w.path}`, {
        method: w.method,
        headers: { 'content-type': 'application/json', [idempotencyHeader]: w.key },
        body: JSON.stringify(w.body),
        signal: AbortSignal.timeout(30_000),
      })
      await res.arrayBuffer()
      if (res.status >= 500) return { answered: false, status: res.status }
      status = Math.max(status, res.status)
    } catch {
      return { answered: false, status: 0 }
    }
  }
  return { answered: true, status }
}

/**
 * Forwards one request to `base` (the target): method, path, query, content type, idempotency key, the operator's
 * signature headers and body go; its
 * status, content type and body come back. 502 `forward.unreachable` when it does not answer in 60 s.
 */
export async function forward(base: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET'
  let body: Buffer | undefined
  if (method !== 'GET' && method !== 'HEAD') {
    body = await readBody(req, { limit: maxForwardBody }).catch(() => undefined)
    if (body === undefined) return sendJson(res, 413, errorBody('request.too_large', `The request body is over ${maxForwardBody} bytes.`))
  }
  const headers: Record<string, string> = {}
  // The operator's signature headers go too: a signed request is for the agent, wherever it now runs.
  for (const name of ['content-type', idempotencyHeader, ...Object.values(AdminRequest.headers)]) {
    const value = req.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  try {
    const upstream = await fetch(`${base.replace(/\/$/, '')}${req.url ?? '/'}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(60_000),
    })
    const answer = Buffer.from(await upstream.arrayBuffer())
    if (res.headersSent) return void res.end()
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(answer)
  } catch {
    sendJson(res, 502, { error: { code: 'forward.unreachable', message: 'the target did not answer' } })
  }
}
