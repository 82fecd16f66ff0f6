/**
 * The devnet host's dstack-vmm API (reference/providers.md §2.1–§2.3; dstack `vmm/rpc/proto/vmm_rpc.proto`,
 * `vmm/src/main_service.rs`, `vmm/src/main_routes.rs`, `ra-rpc/src/rocket_helper.rs`): the subset a deploy tool uses,
 * on the same paths with the same JSON shapes, so `regent deploy --target dstack` runs its production provider code
 * against the devnet.
 *
 * - `POST /prpc/<Method>?json` (a legacy `Teepod.` prefix is trimmed), JSON when `?json` is present or the body is
 *   `application/json`; protobuf bodies are refused. `bytes` fields are lowercase hex (`0x` accepted on input).
 *   Methods: CreateVm, StartVm, StopVm, ShutdownVm, RemoveVm, UpdateVm (and UpgradeApp), GetInfo, Status,
 *   GetComposeHash, GetAppEnvEncryptPubKey, GetMeta, ListImages, Version.
 * - `GET /logs?id=<vm>&lines=N&ch=stdout|stderr|serial` (text; the devnet keeps one combined log per CVM, so every
 *   channel returns it).
 * - `Authorization: Bearer <token>` on every request when a token is configured (401 otherwise).
 * - Errors: HTTP 400 `{"error": "<message>"}` as dstack's prpc (404 `VM not found` for logs, 401 for auth).
 *
 * A VM maps onto a devnet CVM: CreateVm keeps the exact `compose_file` string (compose hash = its SHA-256), pins
 * `app_id` (the RegentAppAuth app id; without one dstack's rule, `sha256(compose)[0..20]`), hands the CVM the
 * `encrypted_env` ciphertext (opened inside with the key provider's env key) and boots it unless `stopped`. The
 * agent code comes from the compose's pinned image: `image: <name>@sha256:<hex>` must resolve in the devnet's bundle
 * store (the stand-in for a container registry, `resolveImage`), and a mismatch or an absent digest is refused.
 * UpdateVm stores a new compose / env without a restart (as dstack); the next StartVm boots a CVM from it.
 */

import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { BodyTooLargeError, readBody } from '@regent-tee/core'
import type { KeyProvider } from '../cvm/KeyProvider.js'
import { BaseError } from '../errors.js'
import type { BundleStore } from './BundleStore.js'
import type { CvmRecord, Host } from './Host.js'

/** Options of {@link startVmmApi}. */
export type VmmApiOptions = {
  host: Host
  /** The key provider whose env keys GetAppEnvEncryptPubKey publishes (the host's). */
  keyProvider: KeyProvider
  /** Resolves a pinned image digest (`sha256:<hex>`) to a bundle directory, or throws {@link ImageError}. */
  resolveImage: (digest: string) => Promise<string>
  /** Bearer token required on every request (none: open, loopback only). */
  token?: string | undefined
  /** KMS URLs reported by GetMeta. */
  kmsUrls?: readonly string[] | undefined
  /** @default 0 */
  port?: number | undefined
}

/** A running VMM API. */
export type VmmApi = { url: string; close(): Promise<void> }

/** The guest OS image the devnet offers (ListImages, `image` of CreateVm). */
export const imageName = 'dstack-0.5.8-devnet'

type PortMapping = { protocol: string; host_port: number; vm_port: number; host_address: string }

/** What the VMM keeps per VM (VmConfiguration as sent, bytes as hex). */
type Vm = {
  id: string
  config: {
    name: string
    image: string
    compose_file: string
    vcpu: number
    memory: number
    disk_size: number
    ports: PortMapping[]
    encrypted_env: string
    app_id: string
    user_config: string
    kms_urls: string[]
    gateway_urls: string[]
    stopped: boolean
  }
  /** The CVM currently (or last) booted for this VM, and the config it was booted from. */
  cvmId: string | undefined
  bootedFrom: string | undefined
  createdAt: number
}

class RpcError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

const maxBody = 4 * 1024 * 1024

/** Serves the VMM API for `options.host` on 127.0.0.1. */
export async function startVmmApi(options: VmmApiOptions): Promise<VmmApi> {
  const vms = new Map<string, Vm>()
  const server: Server = createServer({ requestTimeout: 120_000 }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof RpcError) return send(res, error.status, { error: error.message })
      if (error instanceof BaseError) return send(res, 400, { error: error.shortMessage })
      send(res, 500, { error: 'Internal error' })
    })
  })

  const authorized = (req: IncomingMessage): boolean => {
    if (options.token === undefined) return true
    const given = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer /, ''))
    const want = Buffer.from(options.token)
    return given.length === want.length && timingSafeEqual(given, want)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://vmm')
    const body = await readVmmBody(req)
    if (!authorized(req)) return send(res, 401, { error: 'Unauthorized' })
    if (req.method === 'GET' && url.pathname === '/logs') return logs(url, res)
    const match = /^\/prpc\/(?:Teepod\.)?([A-Za-z]+)$/.exec(url.pathname)
    if (!match) return send(res, 404, { error: `No such route: ${url.pathname}` })
    if (req.method !== 'POST' && req.method !== 'GET') return send(res, 405, { error: `Method ${req.method} is not allowed` })
    let fields: Record<string, unknown> = {}
    if (req.method === 'GET') fields = Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'json'))
    else if (body.length > 0) {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
      if (!url.searchParams.has('json') && type !== 'application/json')
        throw new RpcError(400, 'protobuf bodies are not supported by the devnet VMM: send JSON (?json)')
      let parsed: unknown
      try {
        parsed = JSON.parse(body.toString('utf8'))
      } catch {
        throw new RpcError(400, 'Invalid JSON body')
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RpcError(400, 'The JSON body must be an object')
      fields = parsed as Record<string, unknown>
    }
    const method = methods[match[1] as string]
    if (!method) return send(res, 404, { error: `No such method: ${match[1]}` })
    send(res, 200, await method(fields))
  }

  const vmOf = (fields: Record<string, unknown>): Vm => {
    const id = str(fields, 'id')
    const vm = vms.get(id)
    if (!vm) throw new RpcError(400, `VM not found: ${id}`)
    return vm
  }

  const cvmOf = (vm: Vm): CvmRecord | undefined => {
    if (vm.cvmId === undefined) return undefined
    try {
      return options.host.get(vm.cvmId)
    } catch {
      return undefined
    }
  }

  /** Boots a CVM from the VM's current configuration (a new CVM when the config changed since the last boot). */
  const boot = async (vm: Vm): Promise<void> => {
    const key = JSON.stringify(vm.config)
    const current = cvmOf(vm)
    if (current?.status === 'running') return
    if (current && vm.bootedFrom === key) {
      await options.host.restart(current.cvmId)
      return
    }
    const compose = new TextEncoder().encode(vm.config.compose_file)
    await options.resolveImage(pinnedImage(vm.config.compose_file)) // a clear error before anything boots
    const record = await options.host.launch({
      compose,
      appId: new Uint8Array(Buffer.from(vm.config.app_id, 'hex')),
      ...(vm.config.encrypted_env ? { encryptedEnv: new Uint8Array(Buffer.from(vm.config.encrypted_env, 'hex')) } : {}),
      env: {},
    })
    vm.cvmId = record.cvmId
    vm.bootedFrom = key
  }

  const info = (vm: Vm) => {
    const cvm = cvmOf(vm)
    const status = cvm === undefined ? 'stopped' : cvm.status
    const ports: PortMapping[] = cvm
      ? (vm.config.ports.length > 0
          ? vm.config.ports
          : [{ protocol: 'tcp', host_port: 0, vm_port: cvm.port, host_address: '127.0.0.1' }]
        ).map((p) => ({
          ...p,
          host_port: cvm.port, // the devnet runs the agent on a loopback port of the host: that is the mapping
          host_address: '127.0.0.1',
        }))
      : vm.config.ports
    return {
      id: vm.id,
      name: vm.config.name,
      status,
      uptime: cvm && status === 'running' ? `${Math.floor((Date.now() - Date.parse(cvm.startedAt)) / 1000)}s` : '',
      app_id: cvm?.appId ?? vm.config.app_id,
      ...(cvm?.instanceId ? { instance_id: cvm.instanceId } : {}),
      configuration: { ...vm.config, ports },
      ...(cvm && status !== 'running' ? { exited_at: new Date().toISOString() } : {}),
      boot_progress: cvm ? 'done' : '',
      boot_error: '',
      shutdown_progress: '',
      image_version: '0.5.8',
      events: [],
      interfaces: [],
    }
  }

  const methods: Record<string, (f: Record<string, unknown>) => unknown | Promise<unknown>> = {
    async CreateVm(f) {
      const config = vmConfiguration(f)
      const vm: Vm = { id: randomUUID(), config, cvmId: undefined, bootedFrom: undefined, createdAt: Date.now() }
      // Validate what a boot needs before anything is kept: a rejected CreateVm leaves no VM behind.
      await options.resolveImage(pinnedImage(config.compose_file))
      vms.set(vm.id, vm)
      if (!config.stopped) {
        try {
          await boot(vm)
        } catch (error) {
          vms.delete(vm.id)
          throw error
        }
      }
      return { id: vm.id }
    },
    async StartVm(f) {
      await boot(vmOf(f))
      return {}
    },
    async StopVm(f) {
      const cvm = cvmOf(vmOf(f))
      if (cvm?.status === 'running') await options.host.stop(cvm.cvmId)
      return {}
    },
    async ShutdownVm(f) {
      return methods.StopVm?.(f)
    },
    async RemoveVm(f) {
      const vm = vmOf(f)
      const cvm = cvmOf(vm)
      if (cvm?.status === 'running') await options.host.stop(cvm.cvmId)
      vms.delete(vm.id)
      return {}
    },
    async UpdateVm(f) {
      const vm = vmOf(f)
      const compose = optionalStr(f, 'compose_file')
      const env = optionalHex(f, 'encrypted_env')
      const userConfig = optionalStr(f, 'user_config')
      if (compose) {
        appCompose(compose)
        await options.resolveImage(pinnedImage(compose))
      }
      if (compose) vm.config.compose_file = compose
      if (env) vm.config.encrypted_env = env
      if (userConfig) vm.config.user_config = userConfig
      if (f.update_ports === true) vm.config.ports = portMappings(f.ports)
      // dstack answers the app id of the new compose (`app_id_of`) when one is given.
      return { id: compose ? sha256Hex(compose).slice(0, 40) : vm.id }
    },
    async UpgradeApp(f) {
      return methods.UpdateVm?.(f)
    },
    GetInfo(f) {
      const id = str(f, 'id')
      const vm = vms.get(id)
      return vm ? { found: true, info: info(vm) } : { found: false }
    },
    Status(f) {
      const ids = f.ids === undefined ? [] : strings(f, 'ids')
      const keyword = optionalStr(f, 'keyword') ?? ''
      let list = [...vms.values()].sort((a, b) => a.createdAt - b.createdAt)
      if (ids.length > 0) list = list.filter((vm) => ids.includes(vm.id))
      if (keyword) list = list.filter((vm) => vm.config.name.includes(keyword) || vm.id.includes(keyword))
      const total = list.length
      const pageSize = uint(f, 'page_size')
      const page = uint(f, 'page')
      if (pageSize > 0) list = list.slice(Math.max(0, page - 1) * pageSize, Math.max(1, page) * pageSize)
      return { vms: list.map(info), port_mapping_enabled: true, total }
    },
    GetComposeHash(f) {
      return { hash: sha256Hex(str(f, 'compose_file')) }
    },
    async GetAppEnvEncryptPubKey(f) {
      const appId = hex(f, 'app_id')
      if (appId.length !== 40) throw new RpcError(400, 'app_id must be 20 bytes')
      if (!options.keyProvider.envPublicKey) throw new RpcError(400, 'the key provider publishes no env keys')
      const k = await options.keyProvider.envPublicKey(new Uint8Array(Buffer.from(appId, 'hex')))
      const h = (b: Uint8Array) => Buffer.from(b).toString('hex')
      return { public_key: h(k.publicKey), signature: h(k.signature), timestamp: Number(k.timestamp), signature_v1: h(k.signatureV1) }
    },
    GetMeta() {
      const kms = [...(options.kmsUrls ?? [])]
      return {
        kms: { url: kms[0] ?? '', urls: kms },
        gateway: { url: '', base_domain: '', port: 0, agent_port: 0, urls: [] },
        resources: { max_cvm_number: 64, max_allocable_vcpu: 64, max_allocable_memory_in_mb: 65_536 },
        networking: { supported_modes: ['user'], default_mode: 'user', default_bridge: '' },
      }
    },
    ListImages() {
      return {
        images: [{ name: imageName, description: 'Regent devnet simulated TDX guest (dstack 0.5.8 API)', version: '0.5.8', is_dev: true }],
      }
    },
    Version() {
      return { version: '0.5.8', rev: 'regent-devnet' }
    },
  }

  const logs = async (url: URL, res: ServerResponse) => {
    const vm = vms.get(url.searchParams.get('id') ?? '')
    const cvm = vm ? cvmOf(vm) : undefined
    if (!vm || !cvm) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('VM not found')
      return
    }
    const lines = url.searchParams.get('lines')
    if (lines !== null && !/^\d{1,6}$/.test(lines)) throw new RpcError(400, 'lines must be a whole number')
    const ch = url.searchParams.get('ch') ?? 'serial'
    if (!['stdout', 'stderr', 'serial'].includes(ch)) throw new RpcError(400, 'ch must be stdout, stderr or serial')
    const text = await options.host.logs(cvm.cvmId, lines === null ? {} : { tail: Number(lines) })
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text)
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

// --- request fields (everything checked before a VM is created or changed) ---------------------------------

function str(f: Record<string, unknown>, name: string): string {
  const v = f[name]
  if (typeof v !== 'string' || v.length === 0) throw new RpcError(400, `Field "${name}" must be a non-empty string`)
  return v
}

function optionalStr(f: Record<string, unknown>, name: string): string | undefined {
  const v = f[name]
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') throw new RpcError(400, `Field "${name}" must be a string`)
  return v
}

function strings(f: Record<string, unknown>, name: string): string[] {
  const v = f[name] ?? []
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new RpcError(400, `Field "${name}" must be an array of strings`)
  return v as string[]
}

function uint(f: Record<string, unknown>, name: string): number {
  const v = f[name] ?? 0
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > 0xffffffff)
    throw new RpcError(400, `Field "${name}" must be a uint32`)
  return n
}

function hex(f: Record<string, unknown>, name: string): string {
  const v = f[name] ?? ''
  if (typeof v !== 'string') throw new RpcError(400, `Field "${name}" must be a hex string`)
  const h = v.startsWith('0x') ? v.slice(2) : v
  if (h.length % 2 !== 0 || /[^0-9a-fA-F]/.test(h)) throw new RpcError(400, `Field "${name}" must be a hex string`)
  return h.toLowerCase()
}

function optionalHex(f: Record<string, unknown>, name: string): string | undefined {
  return f[name] === undefined || f[name] === null || f[name] === '' ? undefined : hex(f, name)
}

function portMappings(value: unknown): PortMapping[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new RpcError(400, 'Field "ports" must be an array')
  return value.map((p, i) => {
    if (typeof p !== 'object' || p === null) throw new RpcError(400, `Field "ports[${i}]" must be an object`)
    const o = p as Record<string, unknown>
    const protocol = o.protocol ?? 'tcp'
    if (protocol !== 'tcp' && protocol !== 'udp') throw new RpcError(400, `Field "ports[${i}].protocol" must be tcp or udp`)
    return {
      protocol,
      host_port: uint(o, 'host_port'),
      vm_port: uint(o, 'vm_port'),
      host_address: typeof o.host_address === 'string' ? o.host_address : '127.0.0.1',
    }
  })
}

/** The app-compose document (dstack's: a JSON object with a string `name`). */
function appCompose(text: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new RpcError(400, 'compose_file is not JSON (an app-compose.json string)')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { name?: unknown }).name !== 'string')
    throw new RpcError(400, 'compose_file must be an app-compose.json object with a string "name"')
  return value as Record<string, unknown>
}

/** The one image the compose pins by digest (`image: <name>@sha256:<hex>` in docker_compose_file). */
export function pinnedImage(composeFile: string): string {
  const compose = appCompose(composeFile)
  const docker = compose.docker_compose_file
  if (typeof docker !== 'string') throw new ImageError({ reason: 'the compose has no docker_compose_file' })
  const images = [...docker.matchAll(/^\s*image:\s*["']?([^"'\s]+)["']?\s*$/gm)].map((m) => m[1] as string)
  if (images.length !== 1) throw new ImageError({ reason: `the compose must name exactly one image, it names ${images.length}` })
  const digest = /@(sha256:[0-9a-f]{64})$/.exec(images[0] as string)?.[1]
  if (!digest) throw new ImageError({ reason: `image ${images[0]} is not pinned by digest (name@sha256:<64 hex>)` })
  return digest
}

function vmConfiguration(f: Record<string, unknown>): Vm['config'] {
  const name = str(f, 'name')
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) throw new RpcError(400, 'Field "name" must be a label (letters, digits, . _ -)')
  const compose = str(f, 'compose_file')
  appCompose(compose)
  const image = optionalStr(f, 'image') ?? imageName
  if (image !== imageName) throw new RpcError(400, `Image not found: ${image} (this host offers ${imageName})`)
  const appId = optionalHex(f, 'app_id') ?? sha256Hex(compose).slice(0, 40)
  if (appId.length !== 40) throw new RpcError(400, 'Field "app_id" must be 20 bytes of hex')
  if (f.stopped !== undefined && typeof f.stopped !== 'boolean') throw new RpcError(400, 'Field "stopped" must be a boolean')
  return {
    name,
    image,
    compose_file: compose,
    vcpu: uint(f, 'vcpu'),
    memory: uint(f, 'memory'),
    disk_size: uint(f, 'disk_size'),
    ports: portMappings(f.ports),
    encrypted_env: optionalHex(f, 'encrypted_env') ?? '',
    app_id: appId,
    user_config: optionalStr(f, 'user_config') ?? '',
    kms_urls: strings(f, 'kms_urls'),
    gateway_urls: strings(f, 'gateway_urls'),
    stopped: f.stopped === true,
  }
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** The body (core's limit policy), refused as dstack-vmm refuses a bad request: RpcError 400. */
async function readVmmBody(req: IncomingMessage): Promise<Buffer> {
  try {
    return await readBody(req, { limit: maxBody })
  } catch (error) {
    throw new RpcError(400, error instanceof BodyTooLargeError ? error.shortMessage : 'Request body could not be read')
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
}

/** The compose's image cannot be resolved (absent from the bundle store, not pinned, or its content mismatches). */
export class ImageError extends BaseError {
  override name = 'VmmApi.ImageError'
  constructor({ reason }: { reason: string }) {
    super(`Image error: ${reason}.`)
  }
}

/**
 * The devnet's image resolver: a pinned `sha256:<hex>` must be in the host's bundle store (BundleStore.ts: pushed, and
 * digested when it was), the devnet's stand-in for a container registry; `regent deploy --target dstack` pushes there.
 */
export function bundleStoreResolver(store: BundleStore): (digest: string) => Promise<string> {
  return async (digest) => {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new ImageError({ reason: `${digest} is not a sha256 digest` })
    const dir = store.path(digest)
    if (dir === undefined) throw new ImageError({ reason: `${digest} is not in the devnet bundle store (push the bundle first)` })
    return dir
  }
}
