/**
 * Zero-downtime handover (docs/uplift.md "Zero downtime"): how a demoted source reaches its target. After the
 * on-chain switch (`handover-tx` in its journal) it forwards every request, and it replays the writes it accepted
 * in the uplift window as batches with their idempotency keys.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

/** The largest body any agent route takes (a write batch). */
const maxBody = 1024 * 1024

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
