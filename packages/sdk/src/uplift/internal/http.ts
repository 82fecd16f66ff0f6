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
