// HTTP plumbing of the uplift roles (never exported): JSON bodies with a size cap, `{ error: { code, message } }`
// answers (STYLE.md "Errors"), and the client side's POST that turns a 4xx body back into an UpliftRefusedError.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { UpliftRefusedError } from '../errors.js'
import * as Messages from '../Messages.js'

/** A refusal with an HTTP status: no state changed. */
export class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export const maxBody = 2 * 1024 * 1024

export async function readJson(req: IncomingMessage): Promise<unknown> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
    throw new HttpRefusal(415, 'unsupported_media_type', 'send application/json')
  const body = await readBody(req, maxBody)
  try {
    return JSON.parse(body.toString('utf8')) as unknown
  } catch {
    throw new HttpRefusal(400, 'bad_request', 'body is not valid JSON')
  }
}

/** Reads a request body up to `limit` bytes; rejects with a 413 refusal beyond it. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req) {
    size += (c as Buffer).length
    if (size > limit) throw new HttpRefusal(413, 'too_large', `body over ${limit} bytes`)
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks)
}

/** Answers JSON (bigints as decimal strings). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(`${JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`)
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`)
}

/** Maps a thrown error to a 4xx answer (protocol refusals keep their code) or an opaque 500. */
export function sendError(res: ServerResponse, error: unknown): void {
  if (error instanceof HttpRefusal) send(res, error.status, { error: { code: error.code, message: error.message } })
  else if (error instanceof UpliftRefusedError) send(res, 422, { error: { code: error.code, message: error.shortMessage } })
  else if (error instanceof Messages.InvalidMessageError) send(res, 400, { error: { code: 'message.format', message: error.shortMessage } })
  else send(res, 500, { error: { code: 'internal', message: 'internal error' } })
}

/** How long the source waits for one answer of the target (a handover may wait for a transaction). */
export const answerTimeoutMs = 120_000
/** The largest answer the source reads (a TargetHello with its quote and event log is far below). */
export const maxAnswer = 4 * 1024 * 1024

/**
 * POSTs a message (canonical JSON) and returns the parsed JSON answer. Every failure is an UpliftRefusedError naming
 * the step: the target's own 4xx/5xx code; `target.unreachable` (no connection, or no answer within
 * {@link answerTimeoutMs}); `target.bad_answer` (not JSON, or over {@link maxAnswer} bytes).
 */
export async function post(url: string, body: string, step: string, timeoutMs = answerTimeoutMs): Promise<unknown> {
  const refuse = (code: string, message: string): never => {
    throw new UpliftRefusedError({ step, reasons: [{ code, message }] })
  }
  let res: Response
  let text: string
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    })
    const length = Number(res.headers.get('content-length') ?? '0')
    if (length > maxAnswer) return refuse('target.bad_answer', `the answer is ${length} bytes, over ${maxAnswer}`)
    const read = await readCapped(res, maxAnswer)
    if (read === undefined) return refuse('target.bad_answer', `the answer of ${url} is over ${maxAnswer} bytes`)
    text = read
  } catch (error) {
    if (error instanceof UpliftRefusedError) throw error
    const timedOut = (error as { name?: string }).name === 'TimeoutError'
    return refuse(
      'target.unreachable',
      timedOut ? `no answer from ${url} within ${timeoutMs / 1000} s` : `${url}: ${(error as Error).message}`,
    )
  }
  let json: { error?: { code?: unknown; message?: unknown } }
  try {
    json = JSON.parse(text) as typeof json
  } catch {
    return refuse(res.ok ? 'target.bad_answer' : `http.${res.status}`, `the answer of ${url} is not JSON (HTTP ${res.status})`)
  }
  if (!res.ok) {
    const code = typeof json?.error?.code === 'string' ? json.error.code : `http.${res.status}`
    const message = typeof json?.error?.message === 'string' ? json.error.message : `HTTP ${res.status}`
    refuse(code, message)
  }
  return json
}

/** The body as text; undefined past `limit` bytes (a target that streams without end is cut off). */
async function readCapped(res: Response, limit: number): Promise<string | undefined> {
  const reader = res.body?.getReader()
  if (!reader) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > limit) {
      await reader.cancel()
      return undefined
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Answers a refusal of a streamed request that was not read to its end: the rest of the body is discarded (never
 * parsed) so that the client, still sending, reads the answer instead of a reset connection.
 */
export function sendRefusalDraining(req: IncomingMessage, res: ServerResponse, error: unknown): void {
  if (!req.complete) req.resume()
  sendError(res, error)
}

/** A stream's idle timeout: the target accepted no byte and gave no answer for this long. */
export const streamIdleTimeoutMs = 30_000
/** The slowest rate a stream's total timeout allows for: 1 MiB/s, on top of {@link answerTimeoutMs} for the answer. */
export const streamFloorBytesPerSecond = 1024 * 1024

/**
 * POSTs a binary stream (`application/octet-stream`, `byteLength` bytes) pulled from `body` only as the connection
 * takes it (backpressure: the next part is produced while the previous is on the wire), and returns the parsed JSON
 * answer. Timeouts: {@link streamIdleTimeoutMs} without progress, and a total of {@link answerTimeoutMs} +
 * byteLength / {@link streamFloorBytesPerSecond} (120 s + 1 s per MiB). Failures as {@link post}:
 * `target.unreachable` (no connection, a timeout), `target.bad_answer`, or the target's own code.
 */
export async function postStream(url: string, body: AsyncIterable<Uint8Array>, byteLength: number, step: string): Promise<unknown> {
  const refuse = (code: string, message: string): never => {
    throw new UpliftRefusedError({ step, reasons: [{ code, message }] })
  }
  const totalMs = answerTimeoutMs + Math.ceil((byteLength / streamFloorBytesPerSecond) * 1000)
  const abort = new AbortController()
  let timedOut: string | undefined
  const stop = (why: string) => {
    timedOut = why
    abort.abort()
  }
  const total = setTimeout(() => stop(`the stream to ${url} did not finish within ${totalMs / 1000} s`), totalMs)
  let idle = setTimeout(() => undefined, 0)
  const touch = () => {
    clearTimeout(idle)
    idle = setTimeout(() => stop(`the target took no byte of the stream for ${streamIdleTimeoutMs / 1000} s`), streamIdleTimeoutMs)
  }
  const parts = body[Symbol.asyncIterator]()
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        touch()
        const { done, value } = await parts.next()
        if (done) {
          clearTimeout(idle) // sent: the answer (load and restore) is bounded by the total timeout
          controller.close()
        } else controller.enqueue(value)
      },
      async cancel() {
        await parts.return?.()
      },
    },
    { highWaterMark: 1 },
  )
  try {
    touch()
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: stream,
      duplex: 'half',
      signal: abort.signal,
    } as RequestInit)
    clearTimeout(idle)
    const read = await readCapped(res, maxAnswer)
    if (read === undefined) return refuse('target.bad_answer', `the answer of ${url} is over ${maxAnswer} bytes`)
    let json: { error?: { code?: unknown; message?: unknown } }
    try {
      json = JSON.parse(read) as typeof json
    } catch {
      return refuse(res.ok ? 'target.bad_answer' : `http.${res.status}`, `the answer of ${url} is not JSON (HTTP ${res.status})`)
    }
    if (!res.ok)
      refuse(
        typeof json?.error?.code === 'string' ? json.error.code : `http.${res.status}`,
        typeof json?.error?.message === 'string' ? json.error.message : `HTTP ${res.status}`,
      )
    return json
  } catch (error) {
    if (error instanceof UpliftRefusedError) throw error
    return refuse('target.unreachable', timedOut ?? `${url}: ${(error as Error).message}`)
  } finally {
    clearTimeout(total)
    clearTimeout(idle)
  }
}
