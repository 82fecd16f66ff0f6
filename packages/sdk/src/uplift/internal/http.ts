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
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req) {
    size += (c as Buffer).length
    if (size > maxBody) throw new HttpRefusal(413, 'too_large', `body over ${maxBody} bytes`)
    chunks.push(c as Buffer)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
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

/** POSTs a message (canonical JSON) and returns the parsed JSON answer; a 4xx/5xx becomes an UpliftRefusedError. */
export async function post(url: string, body: string, step: string): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const json = (await res.json()) as { error?: { code: string; message: string } }
  if (!res.ok)
    throw new UpliftRefusedError({
      step,
      reasons: [{ code: json.error?.code ?? `http.${res.status}`, message: json.error?.message ?? `HTTP ${res.status}` }],
    })
  return json
}
