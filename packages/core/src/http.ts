/**
 * JSON over node:http, one policy for every Regent server (STYLE.md "Errors"; docs/core.md "JSON over HTTP"):
 * - a body is read up to a stated limit (default {@link defaultBodyLimit}); past it, or when `content-length` says so
 *   before a byte is read, {@link BodyTooLargeError} (413 `request.too_large`) and the answer closes the connection;
 * - a JSON body must say `content-type: application/json` (415 `request.media_type`) and parse
 *   (400 `request.malformed_json`);
 * - errors answer `{ "error": { "code", "message" } }`.
 * Servers that imitate a third party's API (Phala Cloud, dstack-vmm, the dstack guest agent) read bodies here and
 * keep that party's error shapes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { BaseError } from './errors.js'

/** The body limit when a server states none: 1 MiB. */
export const defaultBodyLimit = 1024 * 1024

/** A refusal with an HTTP status and a code; nothing changed on the server. */
export class HttpError extends BaseError {
  override name = 'HttpError'
  readonly status: number
  override readonly code: string
  constructor(status: number, code: string, message: string, options: { cause?: unknown } = {}) {
    super(message, { code, ...options })
    this.status = status
    this.code = code
  }
}

export class BodyTooLargeError extends HttpError {
  override name = 'BodyTooLargeError'
  constructor(limit: number) {
    super(413, 'request.too_large', `The request body is over ${limit} bytes.`)
  }
}

export class MalformedJsonError extends HttpError {
  override name = 'MalformedJsonError'
  constructor() {
    super(400, 'request.malformed_json', 'The request body is not valid JSON.')
  }
}

export class MediaTypeError extends HttpError {
  override name = 'MediaTypeError'
  constructor() {
    super(415, 'request.media_type', 'Send JSON with content-type application/json.')
  }
}

/**
 * Reads a request body up to `limit` bytes. Past the limit nothing more is kept: the rest is discarded as it arrives
 * (the server's request timeout bounds that), so the client reads the 413 instead of a reset connection.
 *
 * @throws {BodyTooLargeError} the declared or the read length is over `limit`.
 */
export function readBody(req: IncomingMessage, options: { limit?: number } = {}): Promise<Buffer> {
  const limit = options.limit ?? defaultBodyLimit
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        chunks.length = 0
        tooLarge()
      } else chunks.push(chunk)
    }
    const tooLarge = () => {
      req.removeListener('data', onData)
      req.resume()
      reject(new BodyTooLargeError(limit))
    }
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > limit) return tooLarge()
    req.on('data', onData)
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

export type ReadJsonOptions = {
  limit?: number
  /** An empty body reads as `undefined` (whatever its content type) instead of failing. */
  optional?: boolean
}

/**
 * Reads and parses a JSON body.
 *
 * @throws {MediaTypeError} {@link BodyTooLargeError} {@link MalformedJsonError}
 */
export async function readJson(req: IncomingMessage, options: ReadJsonOptions = {}): Promise<unknown> {
  const isJson = (req.headers['content-type'] ?? '').startsWith('application/json')
  if (!isJson && !options.optional) throw new MediaTypeError()
  const body = await readBody(req, options)
  if (body.length === 0 && options.optional) return undefined
  if (!isJson) throw new MediaTypeError()
  return parseJson(body)
}

/**
 * Parses a body read with {@link readBody} as strict UTF-8 JSON.
 *
 * @throws {MalformedJsonError}
 */
export function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as unknown
  } catch {
    throw new MalformedJsonError()
  }
}

/** Answers JSON (bigints as decimal strings) with its length. A 413 also closes the connection. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end()
  const text = `${JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`
  res
    .writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      ...(status === 413 ? { connection: 'close' } : {}),
      ...headers,
    })
    .end(text)
}

/** The error body every Regent server answers. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } }
}

/** Answers an {@link HttpError} with its status and code; true when `error` was one (the caller maps the rest). */
export function sendHttpError(res: ServerResponse, error: unknown): boolean {
  if (!(error instanceof HttpError)) return false
  sendJson(res, error.status, errorBody(error.code, error.shortMessage))
  return true
}
