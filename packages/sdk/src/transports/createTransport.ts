/**
 * Transports of the TEE client (viem's client/transport split): a transport moves one guest-agent call
 * — `POST /<Method>` with a JSON body — and returns the decoded JSON. Protocol: dstack.md §1.1 (HTTP/1.1,
 * `Content-Type: application/json`, errors as HTTP 400 `{"error": "..."}`). Both the unix-socket and the
 * HTTP transport go through {@link rpc} so devnet and real dstack share one code path.
 */
import * as nodeHttp from 'node:http'
import * as nodeHttps from 'node:https'
import { BaseError } from '../errors.js'

/** One guest-agent request. */
export type RequestArgs = {
  /** Method name without service prefix, e.g. `GetQuote`. */
  readonly method: string
  readonly body?: Record<string, unknown> | undefined
  /** Milliseconds; overrides the transport's timeout. */
  readonly timeout?: number | undefined
}

/** A configured transport. */
export type Transport = {
  /** `unix`, `http`, or another kind. */
  readonly type: string
  /** Where requests go (socket path or URL), for messages. */
  readonly endpoint: string
  request(args: RequestArgs): Promise<unknown>
}

/** Default per-request timeout: dstack's JS SDK uses 30 s. */
export const defaultTimeout = 30_000

/** Maximum response body accepted (quotes and tcb_info with event logs are a few tens of KiB). */
const maxResponseBytes = 16 * 1024 * 1024

/** @internal Sends `POST /<method>` over node:http to a unix socket or a URL. */
export function rpc(
  target: { socketPath: string } | { url: URL },
  args: RequestArgs & { timeout: number; endpoint: string },
): Promise<unknown> {
  const body = Buffer.from(JSON.stringify(args.body ?? {}), 'utf8')
  return new Promise((resolve, reject) => {
    const options: nodeHttp.RequestOptions = {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': body.length, host: 'localhost' },
    }
    let req: nodeHttp.ClientRequest
    if ('socketPath' in target) req = nodeHttp.request({ ...options, socketPath: target.socketPath, path: `/${args.method}` })
    else {
      const url = new URL(`/${args.method}`, target.url)
      const mod = url.protocol === 'https:' ? nodeHttps : nodeHttp
      req = mod.request(url, { ...options, headers: { ...options.headers, host: url.host } })
    }
    const timer = setTimeout(() => {
      req.destroy(new TimeoutError({ method: args.method, timeout: args.timeout }))
    }, args.timeout)
    req.on('error', (error) => {
      clearTimeout(timer)
      reject(error instanceof BaseError ? error : new TransportError({ method: args.method, endpoint: args.endpoint, cause: error }))
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxResponseBytes) req.destroy(new InvalidResponseError({ method: args.method, reason: 'the response is too large' }))
        else chunks.push(chunk)
      })
      res.on('end', () => {
        clearTimeout(timer)
        const text = Buffer.concat(chunks).toString('utf8')
        const status = res.statusCode ?? 0
        let json: unknown
        try {
          json = text.length === 0 ? {} : JSON.parse(text)
        } catch {
          return reject(
            status === 200
              ? new InvalidResponseError({ method: args.method, reason: 'the body is not JSON' })
              : new GuestAgentError({ method: args.method, status, message: text.slice(0, 200) }),
          )
        }
        const error = typeof json === 'object' && json !== null ? (json as { error?: unknown }).error : undefined
        if (status !== 200 || error !== undefined) {
          const message = typeof error === 'string' ? error : typeof error === 'object' && error ? JSON.stringify(error) : `HTTP ${status}`
          return reject(new GuestAgentError({ method: args.method, status, message }))
        }
        if (typeof json !== 'object' || json === null || Array.isArray(json))
          return reject(new InvalidResponseError({ method: args.method, reason: 'the body is not a JSON object' }))
        resolve(json)
      })
      res.on('error', (error) => {
        clearTimeout(timer)
        reject(new TransportError({ method: args.method, endpoint: args.endpoint, cause: error }))
      })
    })
    req.end(body)
  })
}

/** The guest agent answered with an error (`{"error": "..."}`, HTTP 400 in dstack; 404 for an unknown method). */
export class GuestAgentError extends BaseError {
  override name = 'GuestAgentError'
  readonly method: string
  readonly status: number
  /** The agent's message, verbatim. */
  readonly agentMessage: string
  constructor({ method, status, message }: { method: string; status: number; message: string }) {
    super(`The guest agent rejected ${method} (HTTP ${status}): ${message}`)
    this.method = method
    this.status = status
    this.agentMessage = message
  }
}

/** The call did not finish within the timeout. */
export class TimeoutError extends BaseError {
  override name = 'TimeoutError'
  constructor({ method, timeout }: { method: string; timeout: number }) {
    super(`The guest agent did not answer ${method} within ${timeout} ms.`)
  }
}

/** The guest agent could not be reached (socket missing, connection refused or reset). */
export class TransportError extends BaseError {
  override name = 'TransportError'
  constructor({ method, endpoint, cause }: { method: string; endpoint: string; cause: unknown }) {
    super(`Could not reach the guest agent at ${endpoint} for ${method}.`, {
      cause,
      details: (cause as Error)?.message,
      metaMessages: ['Is the dstack socket mounted into the container, or DSTACK_SIMULATOR_ENDPOINT set?'],
    })
  }
}

/** The guest agent's answer is not what the protocol says. */
export class InvalidResponseError extends BaseError {
  override name = 'InvalidResponseError'
  constructor({ method, reason }: { method: string; reason: string }) {
    super(`Invalid ${method} response from the guest agent: ${reason}.`)
  }
}
