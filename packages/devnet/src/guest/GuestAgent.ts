/**
 * The devnet guest agent: dstack 0.5.x's `DstackGuest` API (reference/dstack.md §1.1, §1.2, §1.5) over plain
 * HTTP/1.1 on a unix socket and/or loopback TCP, serving one {@link Cvm.Cvm}. The official `@phala/dstack-sdk`
 * `DstackClient` talks to it unmodified (`DSTACK_SIMULATOR_ENDPOINT` = the socket path or the URL).
 *
 * Routes: `POST`/`GET` `/GetKey`, `/GetQuote`, `/Info`, `/EmitEvent`, `/Attest`, `/Sign`, `/Verify`, `/Version`,
 * `/GetTlsKey`, and the legacy Tappd routes `/prpc/Tappd.{Info,Version,TdxQuote,RawQuote,DeriveK256Key}` (§1.3) and
 * `/prpc/Tappd.DeriveKey` (Tappd.ts).
 * Encoding (§1.1): JSON bodies with `Content-Type: application/json` (or `?json`), GET query parameters; field
 * names snake_case; bytes as lowercase hex without `0x` on output, `0x` tolerated on input. Responses always
 * carry `Content-Length` (the SDK's socket client needs it) and are pure ASCII (non-ASCII JSON is `\u`-escaped,
 * because the SDK's socket client compares UTF-16 lengths with byte lengths).
 *
 * Errors: `{"error": "<message>"}` — 400 for bad input (as dstack), 404 unknown method, 405 other HTTP methods (both
 * after the body was read and discarded),
 * 413 body over {@link maxBodyBytes}, 415 a non-empty body that is not JSON, 500 (generic text) for a fault in
 * the agent itself. Every request is validated completely before the CVM is touched, so a rejected request
 * changes nothing (a bad EmitEvent never extends RTMR3). No stack traces or key material appear in errors.
 */
import { chmod, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { BaseError, ReportData } from '@regent-tee/attest'
import { BodyTooLargeError, readBody } from '@regent-tee/core'
import * as Cvm from '../cvm/Cvm.js'
import * as DstackKeys from './DstackKeys.js'
import * as Tappd from './Tappd.js'

/** Request bodies larger than this are answered 413. */
export const maxBodyBytes = 1024 * 1024

/** A running guest agent. */
export type GuestAgent = {
  /** `http://127.0.0.1:<port>` when listening on TCP. */
  readonly url?: string | undefined
  /** The unix socket path when listening on one. */
  readonly socketPath?: string | undefined
  /** Stops listening and closes open connections. */
  close(): Promise<void>
}

export type StartOptions = {
  /** Listen on this unix socket path (removed first if it exists as a stale socket). */
  socketPath?: string | undefined
  /** The socket's mode. @default 0o777 (dstack's; its isolation is the VM boundary, the devnet host passes 0o600) */
  socketMode?: number | undefined
  /** Listen on 127.0.0.1 at this port (0 = ephemeral). */
  port?: number | undefined
  /** A connection that has not sent its headers in this time is closed (408). @default 5_000 */
  headersTimeoutMs?: number | undefined
  /** A request whose headers and body have not all arrived in this time is closed (408). @default 10_000 */
  requestTimeoutMs?: number | undefined
}

/**
 * Starts a guest agent for a CVM.
 *
 * @throws {NoListenerError} when neither `socketPath` nor `port` is given.
 * @example
 * const agent = await startGuestAgent(cvm, { port: 0 })
 * const client = new DstackClient(agent.url)
 */
export async function startGuestAgent(cvm: Cvm.Cvm, options: StartOptions): Promise<GuestAgent> {
  if (options.socketPath === undefined && options.port === undefined) throw new NoListenerError()
  const handler = createHandler(cvm)
  const servers: Server[] = []
  const listen = (server: Server, target: { path: string } | { port: number; host: string }) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(target, () => {
        server.off('error', reject)
        resolve()
      })
    })
  const make = () => {
    // Node checks these timeouts every connectionsCheckingInterval: 1 s, so a stalled body is cut within a second of them.
    const server = createServer(
      {
        requestTimeout: options.requestTimeoutMs ?? 10_000,
        headersTimeout: options.headersTimeoutMs ?? 5_000,
        connectionsCheckingInterval: 1_000,
      },
      (req, res) => void handler(req, res),
    )
    server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'ERR_HTTP_HEADERS_TIMEOUT'
      if (socket.writable) socket.end(timedOut ? errorResponseBytes(408, 'Request timeout') : errorResponseBytes(400, 'Bad request'))
      else socket.destroy()
    })
    servers.push(server)
    return server
  }
  let url: string | undefined
  try {
    if (options.socketPath !== undefined) {
      await rm(options.socketPath, { force: true })
      await listen(make(), { path: options.socketPath })
      await chmod(options.socketPath, options.socketMode ?? 0o777)
    }
    if (options.port !== undefined) {
      const server = make()
      await listen(server, { port: options.port, host: '127.0.0.1' })
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    }
  } catch (error) {
    await Promise.all(servers.map((s) => closeServer(s)))
    throw error
  }
  return {
    url,
    socketPath: options.socketPath,
    async close() {
      await Promise.all(servers.map((s) => closeServer(s)))
    },
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

// --- HTTP plumbing ---------------------------------------------------------------------------------------

type Fields = Record<string, unknown>
type Method = (cvm: Cvm.Cvm, fields: Fields) => unknown | Promise<unknown>

/** A request error answered with its status and message. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

function createHandler(cvm: Cvm.Cvm) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = new URL(req.url ?? '/', 'http://dstack')
      const method = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined
      if (!method || (req.method !== 'POST' && req.method !== 'GET')) {
        // Read (and discard) the body before answering, so a client still sending it is not reset (ECONNRESET).
        const drained = await readAgentBody(req).then(
          () => true,
          () => false,
        )
        if (!method) return send(res, 404, { error: `No such method: ${url.pathname}` }, !drained)
        return send(res, 405, { error: `Method ${req.method} is not allowed` }, !drained)
      }
      let fields: Fields
      if (req.method === 'GET') fields = queryFields(url.searchParams)
      else {
        const body = await readAgentBody(req)
        if (body.length === 0) fields = {}
        else {
          const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
          if (type !== 'application/json' && !url.searchParams.has('json'))
            throw new HttpError(415, 'Content-Type must be application/json')
          let parsed: unknown
          try {
            parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
          } catch {
            throw new HttpError(400, 'Invalid JSON body')
          }
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
            throw new HttpError(400, 'The JSON body must be an object')
          fields = parsed as Fields
        }
      }
      send(res, 200, await method(cvm, fields))
    } catch (error) {
      if (error instanceof HttpError) return send(res, error.status, { error: error.message }, error.status === 413)
      if (error instanceof BaseError) return send(res, 400, { error: error.shortMessage })
      send(res, 500, { error: 'Internal error' })
    }
  }
}

/** The body (core's limit policy), refused as the dstack guest agent refuses it: 413 or 400 with `{ error }`. */
async function readAgentBody(req: IncomingMessage): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readBody(req, { limit: maxBodyBytes }))
  } catch (error) {
    throw error instanceof BodyTooLargeError ? new HttpError(413, error.shortMessage) : new HttpError(400, 'Request body could not be read')
  }
}

function send(res: ServerResponse, status: number, body: unknown, close = false): void {
  if (res.headersSent) return
  const text = asciiJson(body)
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...(close ? { Connection: 'close' } : {}),
  })
  res.end(text)
}

function errorResponseBytes(status: 400 | 408, message: string): string {
  const body = asciiJson({ error: message })
  return `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`
}

/** JSON with every non-ASCII character escaped (the SDK's socket client counts UTF-16 units as bytes). */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

function queryFields(params: URLSearchParams): Fields {
  const out: Fields = {}
  for (const key of new Set(params.keys())) {
    if (key === 'json') continue
    const values = params.getAll(key)
    out[key] = key === 'alt_names' ? values : values[values.length - 1]
  }
  return out
}

// --- field readers (validate everything before touching the CVM) -----------------------------------------

function string(fields: Fields, name: string): string {
  const value = fields[name]
  if (value === undefined || value === null) return ''
  if (typeof value !== 'string') throw new HttpError(400, `Field "${name}" must be a string`)
  return value
}

function bytes(fields: Fields, name: string): Uint8Array {
  const value = string(fields, name)
  const hex = value.startsWith('0x') ? value.slice(2) : value
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) throw new HttpError(400, `Field "${name}" must be a hex string`)
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

function boolean(fields: Fields, name: string, fallback: boolean): boolean {
  const value = fields[name]
  if (value === undefined || value === null) return fallback
  if (value === true || value === 'true') return true
  if (value === false || value === 'false') return false
  throw new HttpError(400, `Field "${name}" must be a boolean`)
}

function unixSeconds(fields: Fields, name: string): number | undefined {
  const value = fields[name]
  if (value === undefined || value === null) return undefined
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > 253_402_300_799)
    throw new HttpError(400, `Field "${name}" must be unix seconds`)
  return n
}

function strings(fields: Fields, name: string): string[] {
  const value = fields[name]
  if (value === undefined || value === null) return []
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new HttpError(400, `Field "${name}" must be an array of strings`)
  return value as string[]
}

function reportData(fields: Fields): Uint8Array {
  const data = bytes(fields, 'report_data')
  if (data.length > 64) throw new HttpError(400, 'Report data is too long')
  return data
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

// --- methods -----------------------------------------------------------------------------------------------

function getKey(cvm: Cvm.Cvm, f: Fields) {
  const path = string(f, 'path')
  const purpose = string(f, 'purpose')
  const algorithm = DstackKeys.keyAlgorithm(string(f, 'algorithm'))
  const { key, signatureChain } = cvm.getKey({ path, purpose, algorithm })
  const out = { key: hex(key), signature_chain: signatureChain.map(hex) }
  key.fill(0)
  return out
}

function getQuote(cvm: Cvm.Cvm, f: Fields) {
  const q = cvm.quote({ reportData: reportData(f) })
  return { quote: hex(q.quote), event_log: q.eventLog, report_data: hex(q.reportData), vm_config: q.vmConfig }
}

function info(cvm: Cvm.Cvm) {
  const i = cvm.info
  const tcb = cvm.tcbInfo()
  return {
    app_id: hex(i.appId),
    instance_id: hex(i.instanceId),
    app_cert: cvm.appCert,
    tcb_info: JSON.stringify(tcb, null, 2),
    app_name: i.appName,
    device_id: hex(i.deviceId),
    mr_aggregated: tcb.mr_aggregated,
    os_image_hash: hex(i.osImageHash),
    key_provider_info: i.keyProviderInfo,
    compose_hash: hex(i.composeHash),
    vm_config: i.vmConfig,
    cloud_vendor: 'Regent Devnet',
    cloud_product: 'devnet',
  }
}

function emitEvent(cvm: Cvm.Cvm, f: Fields) {
  const name = string(f, 'event')
  const payload = bytes(f, 'payload')
  cvm.emitEvent({ name, payload })
  return {}
}

function attest(cvm: Cvm.Cvm, f: Fields) {
  return { attestation: hex(cvm.attest({ reportData: reportData(f) })) }
}

function sign(cvm: Cvm.Cvm, f: Fields) {
  const algorithm = string(f, 'algorithm')
  const data = bytes(f, 'data')
  const r = cvm.sign({ algorithm, data })
  return { signature: hex(r.signature), signature_chain: r.signatureChain.map(hex), public_key: hex(r.publicKey) }
}

function verify(cvm: Cvm.Cvm, f: Fields) {
  const algorithm = string(f, 'algorithm')
  const data = bytes(f, 'data')
  const signature = bytes(f, 'signature')
  const publicKey = bytes(f, 'public_key')
  return { valid: cvm.verify({ algorithm, data, signature, publicKey }) }
}

async function getTlsKey(cvm: Cvm.Cvm, f: Fields) {
  const options: Cvm.TlsKeyOptions = {
    subject: string(f, 'subject'),
    altNames: strings(f, 'alt_names'),
    usageRaTls: boolean(f, 'usage_ra_tls', false),
    usageServerAuth: boolean(f, 'usage_server_auth', false),
    usageClientAuth: boolean(f, 'usage_client_auth', false),
    notBefore: unixSeconds(f, 'not_before'),
    notAfter: unixSeconds(f, 'not_after'),
  }
  boolean(f, 'with_app_info', false)
  const r = await cvm.tlsKey(options)
  return { key: r.key, certificate_chain: r.certificateChain }
}

function tdxQuote(cvm: Cvm.Cvm, f: Fields) {
  const content = bytes(f, 'report_data')
  const algorithm = string(f, 'hash_algorithm') || 'sha512'
  const prefix = string(f, 'prefix')
  if (!tappdHashes.includes(algorithm)) throw new HttpError(400, `Unsupported hash algorithm: ${algorithm}`)
  let data: Uint8Array
  try {
    data = ReportData.fromTappd({ content, hashAlgorithm: algorithm as ReportData.HashAlgorithm, prefix })
  } catch {
    throw new HttpError(400, 'Report data must be 64 bytes for the raw hash algorithm')
  }
  const q = cvm.quote({ reportData: data })
  return { quote: hex(q.quote), event_log: q.eventLog, hash_algorithm: algorithm, prefix: algorithm === 'raw' ? '' : prefix || 'app-data' }
}

const tappdHashes = ['sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-384', 'sha3-512', 'keccak256', 'keccak384', 'keccak512', 'raw']

function rawQuote(cvm: Cvm.Cvm, f: Fields) {
  return tdxQuote(cvm, { report_data: f.report_data, hash_algorithm: 'raw' })
}

function deriveK256Key(cvm: Cvm.Cvm, f: Fields) {
  const { key, signature_chain } = getKey(cvm, { path: f.path, purpose: f.purpose })
  return { k256_key: key, k256_signature_chain: signature_chain }
}

const routes: Record<string, Method> = {
  '/GetKey': getKey,
  '/GetQuote': getQuote,
  '/Info': info,
  '/EmitEvent': emitEvent,
  '/Attest': attest,
  '/Sign': sign,
  '/Verify': verify,
  '/Version': () => ({ ...Cvm.version }),
  '/GetTlsKey': getTlsKey,
  '/prpc/Tappd.Info': info,
  '/prpc/Tappd.Version': () => ({ ...Cvm.version }),
  '/prpc/Tappd.TdxQuote': tdxQuote,
  '/prpc/Tappd.RawQuote': rawQuote,
  '/prpc/Tappd.DeriveK256Key': deriveK256Key,
  ...Tappd.routes,
}

/** Neither a socket path nor a port was given. */
export class NoListenerError extends BaseError {
  override name = 'GuestAgent.NoListenerError'
  constructor() {
    super('The guest agent needs a socketPath, a port, or both.')
  }
}
