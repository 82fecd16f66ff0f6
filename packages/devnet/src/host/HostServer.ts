/**
 * The host's HTTP API on loopback (docs/devnet.md): launch, list, stop, kill, restart and inspect CVMs (record, launch
 * compose, logs), serve devnet collateral (also on Intel's PCS API v4 paths, Pcs.ts), inject faults, and proxy each
 * CVM's chain RPC (so a CVM can be cut off).
 * Bad input → 4xx with `{ error: { code, message } }`; nothing changes on a rejected request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HttpError, readBody, readJson, sendJson } from '@regent-tee/core'
import { BaseError } from '../errors.js'
import type * as DevnetTd from '../tdx/DevnetTd.js'
import { CvmRunningError, type Faults, type Host, UnknownCvmError } from './Host.js'
import { createPcs, type Pcs } from './Pcs.js'

const maxBody = 1 << 20

export type HostServer = {
  url: string
  server: Server
  /** The devnet's Intel PCS (PCS API v4 paths) and its devnet-only control (Pcs.ts). */
  pcs: Pcs
  close(): Promise<void>
}

/** Serves `host` on 127.0.0.1 (`port` 0 = kernel-chosen). */
/** Devnet app approval (registers the app of a compose and approves it); see Devnet.approveApp. */
export type ApproveApp = (compose: Uint8Array, salt?: `0x${string}`) => Promise<{ appId: string; composeHash: string }>

export async function startHostServer(
  host: Host,
  options: {
    port?: number
    info?: () => unknown
    approveApp?: ApproveApp
    /** A connection that has not sent its headers in this time is closed (408). @default 10_000 */
    headersTimeoutMs?: number
    /** A request whose headers and body have not all arrived in this time is closed (408). @default 30_000 */
    requestTimeoutMs?: number
  } = {},
): Promise<HostServer> {
  const pcs = createPcs({ pki: host.pki, collateral: host.collateral })
  // Node checks these timeouts every connectionsCheckingInterval: 1 s, so a stalled body is cut within a second of them.
  const server = createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      handle(host, pcs, req, res, options.info, options.approveApp).catch((error: unknown) => sendJson(res, ...toHttp(error)))
    },
  )
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    pcs,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

async function handle(
  host: Host,
  pcs: Pcs,
  req: IncomingMessage,
  res: ServerResponse,
  info?: () => unknown,
  approveApp?: ApproveApp,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://host')
  if (await pcs.serve(req, res, url)) return
  const parts = url.pathname.split('/').filter(Boolean)
  const method = req.method ?? 'GET'
  const route = `${method} /${parts.map((p, i) => (parts[0] === 'v1' && parts[1] === 'cvms' && i === 2 ? ':id' : p)).join('/')}`
  const id = parts[2] ?? ''

  switch (route) {
    case 'GET /health':
      return sendJson(res, 200, { ok: true })
    case 'GET /v1/devnet':
      return sendJson(res, 200, { rootCa: host.pki.root.certificate.pem, trustedRoot: host.trustedRoot.name, ...(info?.() as object) })
    case 'GET /v1/collateral':
      return sendJson(res, 200, pcs.collateral())
    case 'POST /v1/faucet': {
      const body = object(await readJson(req, { limit: maxBody }))
      if (typeof body.address !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(body.address))
        throw new HttpError(400, 'invalid_request', '"address" must be a 0x-prefixed 20-byte hex address')
      const max = 10n ** 24n // one million ether: plenty for a devnet, small enough to stay sane
      let wei = 10n ** 19n
      if (body.wei !== undefined) {
        if (typeof body.wei !== 'string' || !/^\d{1,25}$/.test(body.wei) || BigInt(body.wei) > max)
          throw new HttpError(400, 'invalid_request', '"wei" must be a decimal string of at most 1e24')
        wei = BigInt(body.wei)
      }
      const cvm = url.searchParams.get('cvm') ?? undefined // a CVM's faucet funds on that CVM's chain
      if (cvm !== undefined) host.get(cvm)
      const balance = await host.fund(body.address, wei, cvm)
      return sendJson(res, 200, { address: body.address, balance: balance.toString() })
    }
    case 'POST /v1/apps': {
      if (!approveApp) throw new HttpError(404, 'not_found', 'this host does not approve apps')
      const body = object(await readJson(req, { limit: maxBody }))
      const compose = base64(body.compose, 'compose')
      let salt: `0x${string}` | undefined
      if (body.salt !== undefined) salt = `0x${Buffer.from(hexBytes(body.salt, 'salt', 32)).toString('hex')}`
      return sendJson(res, 200, await approveApp(compose, salt))
    }
    case 'GET /v1/cvms':
      return sendJson(res, 200, { cvms: host.list() })
    case 'POST /v1/bundles': {
      // A push into the bundle store (the devnet's registry): a local directory, copied and digested.
      const body = object(await readJson(req, { limit: maxBody }))
      if (typeof body.dir !== 'string' || body.dir.length === 0)
        throw new HttpError(400, 'invalid_request', '"dir" must be a directory path')
      return sendJson(res, 201, { digest: await host.bundles.put(body.dir) })
    }
    case 'POST /v1/cvms': {
      const body = object(await readJson(req, { limit: maxBody }))
      const compose = base64(body.compose, 'compose')
      if (body.bundle !== undefined && (typeof body.bundle !== 'string' || body.bundle.length === 0))
        throw new HttpError(400, 'invalid_request', '"bundle" must be a directory path (pushed into the bundle store first)')
      const env = body.env === undefined ? undefined : stringMap(body.env, 'env')
      const record = await host.launch({
        compose,
        ...(typeof body.bundle === 'string' ? { bundle: body.bundle } : {}),
        ...(body.appId === undefined ? {} : { appId: hexBytes(body.appId, 'appId', 20) }),
        ...(body.instanceIdSeed === undefined ? {} : { instanceIdSeed: hexBytes(body.instanceIdSeed, 'instanceIdSeed', 20) }),
        ...(env ? { env } : {}),
        ...(body.image === undefined ? {} : { image: osImage(body.image) }),
        ...(body.shape === undefined ? {} : { shape: vmShape(body.shape) }),
        ...(body.vmConfig === undefined ? {} : { vmConfig: boundedString(body.vmConfig, 'vmConfig', 65_536) }),
        ...(body.debugGuestAgent === undefined ? {} : { debugGuestAgent: flag(body.debugGuestAgent, 'debugGuestAgent') }),
      })
      return sendJson(res, 201, record)
    }
    case 'GET /v1/cvms/:id':
      return sendJson(res, 200, host.get(id))
    case 'GET /v1/cvms/:id/compose': {
      // The exact bytes (not re-serialized JSON): their SHA-256 is the CVM's compose hash.
      const compose = host.compose(id)
      res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.from(compose))
      return
    }
    case 'POST /v1/cvms/:id/stop':
      return sendJson(res, 200, await host.stop(id))
    case 'POST /v1/cvms/:id/kill':
      return sendJson(res, 200, await host.kill(id))
    case 'POST /v1/cvms/:id/restart': {
      // The body is optional (a bare POST restarts with the launch env); when sent, it is JSON.
      const raw = await readJson(req, { limit: maxBody, optional: true })
      const body = raw === undefined ? {} : object(raw)
      for (const k of Object.keys(body)) if (k !== 'env') throw new HttpError(400, 'invalid_request', `unknown field "${k}"`)
      const env = body.env === undefined ? undefined : envChanges(body.env)
      return sendJson(res, 200, await host.restart(id, env ? { env } : {}))
    }
    case 'GET /v1/cvms/:id/logs': {
      const tailParam = url.searchParams.get('tail')
      if (tailParam !== null && !/^\d{1,6}$/.test(tailParam)) throw new HttpError(400, 'invalid_request', '"tail" must be a whole number')
      const text = await host.logs(id, tailParam === null ? {} : { tail: Number(tailParam) })
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text)
      return
    }
    case 'POST /v1/cvms/:id/faults': {
      const body = object(await readJson(req, { limit: maxBody }))
      const faults: Partial<Faults> = {}
      for (const [k, v] of Object.entries(body)) {
        if (k !== 'staleQuote' && k !== 'alterCompose' && k !== 'partitionChain')
          throw new HttpError(400, 'invalid_request', `unknown fault "${k}"`)
        if (typeof v !== 'boolean') throw new HttpError(400, 'invalid_request', `fault "${k}" must be true or false`)
        faults[k] = v
      }
      host.get(id)
      return sendJson(res, 200, host.setFaults(id, faults))
    }
    case 'POST /v1/cvms/:id/rpc': {
      const target = host.rpcFor(id)
      const body = await readBody(req, { limit: maxBody })
      if (!target) throw new HttpError(503, 'partitioned', `CVM ${id} is cut off from the chain`)
      const upstream = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(30_000),
      }).catch(() => undefined)
      if (!upstream) throw new HttpError(502, 'chain_unreachable', 'the chain did not answer')
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(Buffer.from(await upstream.arrayBuffer()))
      return
    }
    default:
      throw new HttpError(404, 'not_found', `no route ${method} ${url.pathname}`)
  }
}

function toHttp(error: unknown): [number, { error: { code: string; message: string } }] {
  if (error instanceof HttpError) return [error.status, { error: { code: error.code, message: error.shortMessage } }]
  if (error instanceof UnknownCvmError) return [404, { error: { code: 'unknown_cvm', message: error.shortMessage } }]
  if (error instanceof CvmRunningError) return [409, { error: { code: 'cvm_running', message: error.shortMessage } }]
  if (error instanceof BaseError && typeof (error as { code?: unknown }).code === 'string')
    return [400, { error: { code: (error as unknown as { code: string }).code, message: error.shortMessage } }]
  if (error instanceof BaseError) return [400, { error: { code: 'invalid_request', message: error.shortMessage } }]
  return [500, { error: { code: 'internal', message: 'internal error' } }]
}

function object(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new HttpError(400, 'invalid_request', 'request body must be a JSON object')
  return v as Record<string, unknown>
}

function base64(v: unknown, name: string): Uint8Array {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0 || v.length === 0)
    throw new HttpError(400, 'invalid_request', `"${name}" must be base64 (the exact file bytes)`)
  return new Uint8Array(Buffer.from(v, 'base64'))
}

function hexBytes(v: unknown, name: string, length: number): Uint8Array {
  const s = typeof v === 'string' ? v.replace(/^0x/, '') : ''
  if (!new RegExp(`^[0-9a-fA-F]{${length * 2}}$`).test(s))
    throw new HttpError(400, 'invalid_request', `"${name}" must be ${length} bytes of hex`)
  return new Uint8Array(Buffer.from(s, 'hex'))
}

/** `{ NAME: "value" | null }`: environment names (no `=` or NUL) to a value (no NUL) or `null` (remove). */
function envChanges(v: unknown): Record<string, string | null> {
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  const valid = (k: string, x: unknown) => /^[^=\0]+$/.test(k) && (x === null || (typeof x === 'string' && !x.includes('\0')))
  if (!o || !Object.entries(o).every(([k, x]) => valid(k, x)))
    throw new HttpError(400, 'invalid_request', '"env" must map variable names to strings or null')
  return o as Record<string, string | null>
}

/** A devnet OS image description: `{ name, version, firmware, kernel, initrd, cmdline }`, all strings. */
function osImage(v: unknown): DevnetTd.OsImage {
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  const fields = ['name', 'version', 'firmware', 'kernel', 'initrd', 'cmdline'] as const
  if (!o || Object.keys(o).some((k) => !(fields as readonly string[]).includes(k)))
    throw new HttpError(400, 'invalid_request', `"image" must be an object with ${fields.join(', ')}`)
  const image = Object.fromEntries(fields.map((f) => [f, boundedString(o[f], `image.${f}`, 4096)]))
  return image as unknown as DevnetTd.OsImage
}

/** A VM shape: `{ vcpus: 1..256, memoryMb: 1..1048576 }`. */
function vmShape(v: unknown): DevnetTd.VmShape {
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {}
  const int = (x: unknown, max: number) => typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= max
  if (!int(o.vcpus, 256) || !int(o.memoryMb, 1_048_576) || Object.keys(o).length !== 2)
    throw new HttpError(400, 'invalid_request', '"shape" must be { vcpus: 1..256, memoryMb: 1..1048576 }')
  return { vcpus: o.vcpus as number, memoryMb: o.memoryMb as number }
}

function flag(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw new HttpError(400, 'invalid_request', `"${name}" must be true or false`)
  return v
}

function boundedString(v: unknown, name: string, max: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw new HttpError(400, 'invalid_request', `"${name}" must be a non-empty string of at most ${max} characters`)
  return v
}

function stringMap(v: unknown, name: string): Record<string, string> {
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  if (!o || !Object.values(o).every((x) => typeof x === 'string'))
    throw new HttpError(400, 'invalid_request', `"${name}" must map names to strings`)
  return o as Record<string, string>
}
