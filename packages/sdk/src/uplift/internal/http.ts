// HTTP plumbing of the uplift roles (never exported): JSON bodies through @regent-tee/core (one limit policy and
// one code per fault), `{ error: { code, message } }` answers (STYLE.md "Errors"), and the client side's POST that
// turns a 4xx body back into an UpliftRefusedError.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { errorBody, HttpError, readJson, sendJson } from '@regent-tee/core'
import { UpliftRefusedError } from '../errors.js'
import * as Messages from '../Messages.js'

/** The largest control message the target reads (a SourceHello, a key envelope, a state offer). */
const maxBody = 2 * 1024 * 1024

/** Reads a JSON control message (core's policy: request.media_type, request.too_large, request.malformed_json). */
export function readMessage(req: IncomingMessage): Promise<unknown> {
  return readJson(req, { limit: maxBody })
}

/** Maps a thrown error to a 4xx answer (protocol refusals keep their code) or an opaque 500. */
export function sendError(res: ServerResponse, error: unknown): void {
  if (error instanceof HttpError) sendJson(res, error.status, errorBody(error.code, error.shortMessage))
  else if (error instanceof UpliftRefusedError) sendJson(res, 422, errorBody(error.code, error.shortMessage))
  else if (error instanceof Messages.InvalidMessageError) sendJson(res, 400, errorBody('message.format', error.shortMessage))
  else sendJson(res, 500, errorBody('internal', 'internal error'))
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
