/**
 * The two guest-agent calls a KMS node makes about itself (dstack 0.5.x `DstackGuest`, reference/dstack.md §1.1,
 * §1.2; docs/devnet-guest-agent.md): `GetKey` for its sealing key and `GetQuote` for its onboarding evidence. Plain
 * HTTP/1.1 JSON over the guest agent's unix socket (or a loopback URL), so the node needs no SDK at run time
 * (@regent-tee/sdk is above kms in the package arrows; @phala/dstack-sdk is a dev dependency used in tests as the
 * reference client).
 */
import { existsSync } from 'node:fs'
import { request } from 'node:http'
import { BaseError } from '../errors.js'

/** Where dstack OS puts the guest agent socket, in the order the official SDK probes them. */
export const socketPaths = ['/var/run/dstack.sock', '/run/dstack.sock', '/var/run/dstack/dstack.sock', '/run/dstack/dstack.sock'] as const

/** The guest agent of the CVM this process runs in. */
export type GuestAgent = {
  readonly endpoint: string
  /** GetKey: 32 key bytes (the caller wipes them). */
  getKey(options: { path: string; purpose: string }): Promise<Uint8Array>
  /** GetQuote over `reportData` (≤ 64 bytes): quote, event log, VmConfig JSON. */
  getQuote(options: { reportData: Uint8Array }): Promise<{ quote: Uint8Array; eventLog: string; vmConfig: string | undefined }>
}

/**
 * A guest-agent client for `endpoint` (a unix socket path or an `http://` URL); without one, the
 * `DSTACK_SIMULATOR_ENDPOINT` of `env`, else the first dstack socket path that exists.
 *
 * @throws {NoEndpointError} when no endpoint is given or found.
 * @example
 * const agent = fromEnv({ env: process.env })
 * const key = await agent.getKey({ path: 'regent/kms/v1/sealing', purpose: 'sealing' })
 */
export function fromEnv(options: { env: NodeJS.ProcessEnv }): GuestAgent {
  const endpoint = options.env.DSTACK_SIMULATOR_ENDPOINT || socketPaths.find((p) => existsSync(p))
  if (!endpoint) throw new NoEndpointError()
  const call = (method: string, body: unknown): Promise<Record<string, unknown>> => {
    const text = JSON.stringify(body)
    const url = /^https?:\/\//.test(endpoint) ? new URL(`/${method}`, endpoint) : undefined
    return new Promise((resolve, reject) => {
      const req = request(
        {
          ...(url ? { host: url.hostname, port: url.port, path: url.pathname } : { socketPath: endpoint, path: `/${method}` }),
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('error', (cause) => reject(new GuestAgentError({ method, reason: 'the response could not be read', cause })))
          res.on('end', () => {
            let json: Record<string, unknown>
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
            } catch {
              return reject(new GuestAgentError({ method, reason: `HTTP ${res.statusCode}, the body is not JSON` }))
            } finally {
              for (const chunk of chunks) chunk.fill(0)
            }
            if (res.statusCode !== 200 || typeof json !== 'object' || json === null)
              return reject(new GuestAgentError({ method, reason: `HTTP ${res.statusCode}: ${String(json?.error ?? 'no error message')}` }))
            resolve(json)
          })
        },
      )
      req.on('error', (cause) => reject(new GuestAgentError({ method, reason: `cannot reach ${endpoint}`, cause })))
      req.end(text)
    })
  }
  const hexField = (method: string, json: Record<string, unknown>, field: string): Uint8Array => {
    const value = json[field]
    if (typeof value !== 'string' || !/^(0x)?([0-9a-fA-F]{2})+$/.test(value))
      throw new GuestAgentError({ method, reason: `field ${field} is not hex` })
    return new Uint8Array(Buffer.from(value.replace(/^0x/, ''), 'hex'))
  }
  return {
    endpoint,
    async getKey({ path, purpose }) {
      const json = await call('GetKey', { path, purpose })
      const key = hexField('GetKey', json, 'key')
      json.key = ''
      if (key.length !== 32) {
        key.fill(0)
        throw new GuestAgentError({ method: 'GetKey', reason: `expected a 32-byte key, got ${key.length} bytes` })
      }
      return key
    },
    async getQuote({ reportData }) {
      const json = await call('GetQuote', { report_data: Buffer.from(reportData).toString('hex') })
      if (typeof json.event_log !== 'string') throw new GuestAgentError({ method: 'GetQuote', reason: 'field event_log is not a string' })
      return {
        quote: hexField('GetQuote', json, 'quote'),
        eventLog: json.event_log,
        vmConfig: typeof json.vm_config === 'string' ? json.vm_config : undefined,
      }
    },
  }
}

/** No guest agent endpoint is configured or present. */
export class NoEndpointError extends BaseError {
  override name = 'GuestAgent.NoEndpointError'
  constructor() {
    super(`No guest agent: DSTACK_SIMULATOR_ENDPOINT is unset and none of ${socketPaths.join(', ')} exists.`)
  }
}

/** A guest-agent call failed. */
export class GuestAgentError extends BaseError {
  override name = 'GuestAgent.GuestAgentError'
  constructor({ method, reason, cause }: { method: string; reason: string; cause?: unknown }) {
    super(`Guest agent ${method} failed: ${reason}.`, { cause })
  }
}
