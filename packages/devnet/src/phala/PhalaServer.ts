/**
 * The Phala Cloud–compatible HTTP API of the devnet (docs/targets/phala.md "The stand-in"; reference providers.md
 * §1.2–1.4): the endpoints `regent deploy --target phala` and `@phala/cloud` 0.2.9 use, with API version 2026-01-21
 * shapes, `X-API-Key` auth (401), FastAPI error bodies — 422 `detail: [{msg, type, loc}]`, structured
 * `detail: {error_code, message, details, suggestions, links}` for 404/409/465–468 — and the server-sent state
 * stream. Every response shape is checked by the official client's zod schemas in PhalaServer.test.ts.
 * Bad input changes nothing: validation runs before any operation.
 */
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { BodyTooLargeError, parseJson, readBody } from '@regent-tee/core'
import type * as AppCompose from './AppCompose.js'
import { apiVersion, type KmsMode, node, osImage, type PhalaCloud, type PhalaCvm, PhalaError, structured } from './PhalaCloud.js'

const maxBody = 1 << 20
const supportedVersions = ['2025-10-28', '2026-01-21']

export type PhalaServer = { url: string; apiKey: string; server: Server; close(): Promise<void> }

/** Serves `cloud` on 127.0.0.1 under `/api/v1`, with `apiKey` as the only accepted key. */
export async function startPhalaServer(cloud: PhalaCloud, options: { apiKey: string; port?: number }): Promise<PhalaServer> {
  let base = ''
  const server = createServer((req, res) => {
    handle(cloud, options.apiKey, () => base, req, res).catch((error: unknown) => sendError(res, error))
  })
  server.requestTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', resolve)
  })
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`
  return {
    url: base,
    apiKey: options.apiKey,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

type Req = { method: string; parts: string[]; query: URLSearchParams; headers: IncomingMessage['headers']; body: () => Promise<unknown> }

async function handle(cloud: PhalaCloud, apiKey: string, base: () => string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://phala')
  if (!url.pathname.startsWith('/api/v1/') && url.pathname !== '/api/v1') throw new PhalaError(404, 'Not Found')
  const parts = url.pathname.slice('/api/v1'.length).split('/').filter(Boolean)
  const method = req.method ?? 'GET'
  // Log endpoints are fetched without the API key (as Phala's public log URLs are).
  if (method === 'GET' && parts[0] === 'logs' && parts.length === 2) {
    const tail = url.searchParams.get('tail')
    if (tail !== null && !/^\d{1,6}$/.test(tail)) throw validation([['query', 'tail'], 'Input should be a valid integer', 'int_parsing'])
    const text = await cloud.logs(parts[1] as string, tail === null ? undefined : Number(tail))
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text)
    return
  }
  const key = req.headers['x-api-key']
  if (typeof key !== 'string' || !equal(key, apiKey)) throw new PhalaError(401, 'Invalid or missing API key')
  const version = req.headers['x-phala-version']
  if (version !== undefined && (typeof version !== 'string' || !supportedVersions.includes(version)))
    throw new PhalaError(400, `Unsupported X-Phala-Version ${String(version)}; supported: ${supportedVersions.join(', ')}`)
  const r: Req = { method, parts, query: url.searchParams, headers: req.headers, body: () => readJson(req) }
  const route = `${method} /${parts.map((p, i) => (i === 1 && ['cvms', 'kms', 'apps'].includes(parts[0] as string) && !['provision', 'paginated', 'phala'].includes(p) ? ':id' : p)).join('/')}`
  const id = parts[1] ?? ''

  switch (route) {
    case 'GET /auth/me':
      return send(res, 200, {
        user: {
          username: 'regent-devnet',
          email: 'devnet@regent.invalid',
          role: 'user',
          avatar: '',
          email_verified: true,
          totp_enabled: false,
          has_backup_codes: false,
          flag_has_password: false,
        },
        workspace: { id: 'ws_devnet', name: 'Regent devnet', slug: 'regent-devnet', tier: 'devnet', role: 'owner', avatar: null },
        credits: { balance: '1000000', granted_balance: '0', is_post_paid: false, outstanding_amount: null },
      })
    case 'GET /teepods/available':
      return send(res, 200, {
        tier: 'devnet',
        capacity: { max_instances: 64, max_vcpu: 128, max_memory: 262_144, max_disk: 4096 },
        nodes: [
          {
            teepod_id: node.teepodId,
            name: node.name,
            listed: true,
            resource_score: 1,
            remaining_vcpu: 64,
            remaining_memory: 131_072,
            remaining_cvm_slots: 32,
            images: [{ name: osImage.name, is_dev: false, version: osImage.version, os_image_hash: osImage.hash }],
            support_onchain_kms: cloud.kmsList().length > 1,
            fmspc: node.fmspc,
            device_id: node.deviceId,
            region_identifier: node.region,
            default_kms: 'kms_phala_devnet',
            kms_list: cloud.kmsList().map((k) => k.id),
          },
        ],
        kms_list: cloud.kmsList(),
      })
    case 'GET /kms':
      return send(res, 200, { items: cloud.kmsList(), total: cloud.kmsList().length, page: 1, page_size: 100, pages: 1 })
    case 'POST /cvms/provision': {
      const body = object(await r.body())
      const name = body.name
      if (typeof name !== 'string' || !/^[a-zA-Z](?!.*--)([a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(name) || name.length < 5 || name.length > 63)
        throw validation([
          ['body', 'name'],
          'Name must be 5-63 characters, start with letter, and contain only letters/numbers/hyphens',
          'value_error',
        ])
      const composeFile = composeFileOf(body.compose_file)
      const kmsName = body.kms ?? 'PHALA'
      if (kmsName !== 'PHALA' && kmsName !== 'ETHEREUM' && kmsName !== 'BASE')
        throw validation([['body', 'kms'], "Input should be 'PHALA', 'ETHEREUM' or 'BASE'", 'enum'])
      const nodeId = body.teepod_id ?? body.node_id
      if (nodeId !== undefined && !Number.isInteger(nodeId))
        throw validation([['body', 'teepod_id'], 'Input should be a valid integer', 'int_type'])
      const kms: KmsMode = kmsName === 'PHALA' ? 'phala' : 'onchain'
      return send(res, 200, cloud.provision({ name, nodeId: nodeId as number | undefined, kms, composeFile }))
    }
    case 'POST /cvms': {
      const body = object(await r.body())
      const appId = hex40(body.app_id, ['body', 'app_id'])
      const composeHash = hexString(body.compose_hash, ['body', 'compose_hash'], 64)
      const encryptedEnv =
        body.encrypted_env === undefined || body.encrypted_env === null ? undefined : bytes(body.encrypted_env, ['body', 'encrypted_env'])
      const cvm = await cloud.commit({
        appId,
        composeHash,
        encryptedEnv,
        ...(typeof body.contract_address === 'string' ? { contractAddress: body.contract_address } : {}),
        ...(typeof body.deployer_address === 'string' ? { deployer: body.deployer_address } : {}),
      })
      return send(res, 200, vmRecord(cvm))
    }
    case 'GET /cvms/paginated': {
      const items = cloud.list().map((c) => cvmInfo(cloud, c))
      return send(res, 200, { items, total: items.length, page: 1, page_size: Math.max(items.length, 1), pages: 1 })
    }
    case 'GET /cvms/:id':
      return send(res, 200, { ...cvmInfo(cloud, cloud.find(id)), compose_file: new TextDecoder().decode(cloud.find(id).compose) })
    case 'GET /cvms/:id/state':
      return state(cloud, cloud.find(id), r, res)
    case 'GET /cvms/:id/attestation':
      return send(res, 200, await cloud.attestation(id))
    case 'GET /cvms/:id/compose_file':
      return send(res, 200, JSON.parse(new TextDecoder().decode(cloud.find(id).compose)))
    case 'GET /cvms/:id/composition': {
      const cvm = cloud.find(id)
      return send(res, 200, {
        is_online: cvm.status === 'running',
        is_public: true,
        error: cvm.bootError || null,
        docker_compose_file: cvm.composeFile.docker_compose_file,
        manifest_version: 2,
        version: '1.0.0',
        runner: 'docker-compose',
        features: ['kms', 'tproxy-net'],
        containers: [
          {
            id: cvm.hostCvmId ?? cvm.id,
            names: ['agent'],
            image: cvm.composeFile.docker_compose_file.match(/image:\s*(\S+)/)?.[1] ?? '',
            image_id: cvm.composeHash,
            command: null,
            created: Math.floor(cvm.startedAt / 1000),
            state: cvm.status,
            status: cvm.status,
            log_endpoint: `${base()}/logs/${cvm.id}`,
          },
        ],
      })
    }
    case 'PATCH /cvms/:id': {
      const composeHash = header(r, 'x-compose-hash')
      const transactionHash = header(r, 'x-transaction-hash')
      if (composeHash !== undefined || transactionHash !== undefined) {
        if (composeHash === undefined || transactionHash === undefined)
          throw validation([['header', composeHash === undefined ? 'X-Compose-Hash' : 'X-Transaction-Hash'], 'Field required', 'missing'])
        return send(res, 202, await cloud.confirm(id, { composeHash, transactionHash }))
      }
      const body = object(await r.body())
      const patch: Partial<AppCompose.ComposeFileInput> = {}
      if (body.docker_compose_file !== undefined)
        patch.docker_compose_file = string(body.docker_compose_file, ['body', 'docker_compose_file'])
      if (body.allowed_envs !== undefined) patch.allowed_envs = strings(body.allowed_envs, ['body', 'allowed_envs'])
      for (const k of ['public_logs', 'public_sysinfo', 'public_tcbinfo'] as const)
        if (body[k] !== undefined) patch[k] = boolean(body[k], ['body', k])
      const encryptedEnv = body.encrypted_env === undefined ? undefined : bytes(body.encrypted_env, ['body', 'encrypted_env'])
      return send(
        res,
        202,
        await cloud.patch(id, { composeFile: patch, encryptedEnv, prepareOnly: header(r, 'x-prepare-only') === 'true' }),
      )
    }
    case 'POST /cvms/:id/commit-update': {
      const body = object(await r.body())
      const out = await cloud.confirm(id, {
        composeHash: hexString(body.compose_hash, ['body', 'compose_hash'], 64),
        transactionHash: string(body.transaction_hash, ['body', 'transaction_hash']),
        token: string(body.token, ['body', 'token']),
      })
      return send(res, 200, out)
    }
    case 'POST /cvms/:id/stop':
    case 'POST /cvms/:id/shutdown':
      return send(res, 200, vmRecord(await cloud.stop(id)))
    case 'POST /cvms/:id/start':
      return send(res, 200, vmRecord(await cloud.start(id)))
    case 'DELETE /cvms/:id':
      await cloud.remove(id)
      res.writeHead(204).end()
      return
    case 'GET /kms/:id/pubkey': {
      const appId = hex40(parts[3], ['path', 'app_id'])
      return send(res, 200, await cloud.envPublicKey(id, appId))
    }
    case 'POST /apps/:id/instances': {
      const body = object(await r.body())
      const cvm = await cloud.addInstance(id, {
        dockerComposeFile:
          body.docker_compose_file === undefined ? undefined : string(body.docker_compose_file, ['body', 'docker_compose_file']),
        encryptedEnv: body.encrypted_env === undefined ? undefined : bytes(body.encrypted_env, ['body', 'encrypted_env']),
      })
      return send(res, 200, vmRecord(cvm))
    }
    default:
      if (route.startsWith('GET /kms/:id/pubkey/')) {
        const appId = hex40(parts[3], ['path', 'app_id'])
        return send(res, 200, await cloud.envPublicKey(id, appId))
      }
      throw new PhalaError(404, 'Not Found')
  }
}

/** `GET /cvms/{id}/state`: JSON, or with `Accept: text/event-stream` the `state`/`complete`/`timeout` stream. */
async function state(cloud: PhalaCloud, cvm: PhalaCvm, r: Req, res: ServerResponse): Promise<void> {
  const snapshot = () => {
    const c = cloud.find(cvm.id)
    return {
      id: c.id,
      ...(c.instanceId ? { instance_id: c.instanceId } : {}),
      name: c.name,
      status: c.status,
      uptime: `${Math.max(0, Math.floor((Date.now() - c.startedAt) / 1000))}s`,
      boot_progress: c.bootProgress,
      ...(c.bootError ? { boot_error: c.bootError } : {}),
    }
  }
  if (!String(r.headers.accept ?? '').includes('text/event-stream')) return send(res, 200, snapshot())
  const target = r.query.get('target') ?? 'running'
  const interval = Number(r.query.get('interval') ?? '5')
  const timeout = Number(r.query.get('timeout') ?? '300')
  if (!Number.isFinite(interval) || interval < 1 || !Number.isFinite(timeout) || timeout < 1 || timeout > 600)
    throw validation([['query', 'timeout'], 'interval must be ≥ 1 s and timeout 1..600 s', 'value_error'])
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  const event = (name: string, data: unknown) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`)
  const last = (name: string, data: unknown) => {
    event(name, data)
    res.end()
  }
  const deadline = Date.now() + timeout * 1000
  let closed = false
  res.on('close', () => {
    closed = true
  })
  // Every status change is sent at once (the boot is awaited), then a heartbeat state every `interval`.
  for (;;) {
    const s = snapshot()
    event('state', s)
    if (s.status === target) return last('complete', s)
    if (s.status === 'exited' || s.status === 'deleted') return last('error', { error: s.boot_error ?? `CVM ${s.status}` })
    if (Date.now() >= deadline) return last('timeout', s)
    const wait = Math.min(interval * 1000, deadline - Date.now())
    const current = cloud.find(cvm.id).booting
    await Promise.race([current, new Promise((done) => setTimeout(done, wait).unref())])
    if (closed) return
  }
}

/** The VM record of commit / instances / start / stop (`CommitCvmProvisionSchema`, `VMSchema`). */
function vmRecord(cvm: PhalaCvm) {
  return {
    id: cvm.numericId,
    name: cvm.name,
    status: cvm.status,
    teepod_id: cvm.nodeId,
    teepod: { id: cvm.nodeId, name: node.name, region_identifier: node.region },
    user_id: 1,
    app_id: cvm.appId,
    vm_uuid: cvm.vmUuid,
    instance_id: cvm.instanceId,
    app_url: cvm.appUrl,
    base_image: osImage.name,
    vcpu: 2,
    memory: 2048,
    disk_size: 20,
    manifest_version: 2,
    version: '1.0.0',
    runner: 'docker-compose',
    docker_compose_file: cvm.composeFile.docker_compose_file,
    features: ['kms', 'tproxy-net'],
    created_at: cvm.createdAt,
    encrypted_env_pubkey: null,
    app_auth_contract_address: cvm.kms === 'onchain' ? `0x${cvm.appId}` : null,
    deployer_address: null,
  }
}

/** `CvmInfoV20260121Schema`. */
function cvmInfo(cloud: PhalaCloud, cvm: PhalaCvm) {
  const kms = cloud.kmsInfo(cvm.kms)
  return {
    id: cvm.id,
    name: cvm.name,
    app_id: cvm.appId,
    vm_uuid: cvm.vmUuid,
    instance_id: cvm.instanceId,
    resource: {
      instance_type: 'tdx.small',
      vcpu: 2,
      memory_in_gb: 2,
      disk_in_gb: 20,
      gpus: 0,
      compute_billing_price: '0',
      billing_period: 'skip',
    },
    node_info: {
      object_type: 'node',
      id: node.teepodId,
      name: node.name,
      region: node.region,
      device_id: node.deviceId,
      ppid: null,
      status: 'online',
      version: '0.5.8',
    },
    os: { name: osImage.name, version: osImage.version.join('.'), is_dev: false, os_image_hash: osImage.hash },
    kms_type: cvm.kms === 'phala' ? 'phala' : 'base',
    kms_info: {
      chain_id: kms.chain_id,
      dstack_kms_address: kms.kms_contract_address,
      dstack_app_address: cvm.kms === 'onchain' ? `0x${cvm.appId}` : null,
      deployer_address: null,
      rpc_endpoint: null,
      encrypted_env_pubkey: null,
    },
    status: cvm.status,
    progress: { target: 'running', started_at: new Date(cvm.startedAt).toISOString(), correlation_id: cvm.correlationId },
    compose_hash: cvm.composeHash,
    gateway: { base_domain: null, cname: null },
    services: [],
    endpoints: cvm.appUrl ? [{ app: cvm.appUrl, instance: cvm.appUrl }] : [],
    public_logs: cvm.composeFile.public_logs ?? true,
    public_sysinfo: cvm.composeFile.public_sysinfo ?? true,
    public_tcbinfo: true,
    gateway_enabled: true,
    secure_time: false,
    listed: false,
    storage_fs: cvm.composeFile.storage_fs ?? 'zfs',
  }
}

// ---------------------------------------------------------------------------------------------
// Validation (FastAPI 422 shapes) and I/O
// ---------------------------------------------------------------------------------------------

type Loc = (string | number)[]

function validation(...issues: [Loc, string, string][]): PhalaError {
  return new PhalaError(
    422,
    issues.map(([loc, msg, type]) => ({ loc, msg, type })),
  )
}

function composeFileOf(v: unknown): AppCompose.ComposeFileInput {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw validation([['body', 'compose_file'], 'Field required', 'missing'])
  const o = v as Record<string, unknown>
  if (typeof o.docker_compose_file !== 'string' || o.docker_compose_file.length === 0)
    throw structured(400, 'ERR-01-002', 'A docker compose file is required', [{ field: 'compose_file.docker_compose_file', value: null }])
  const size =
    Buffer.byteLength(o.docker_compose_file) + (typeof o.pre_launch_script === 'string' ? Buffer.byteLength(o.pre_launch_script) : 0)
  if (size > 200 * 1024)
    throw validation([
      ['body', 'compose_file'],
      'Combined size of docker_compose_file and pre_launch_script must not exceed 200KB',
      'value_error',
    ])
  const out: AppCompose.ComposeFileInput = { docker_compose_file: o.docker_compose_file }
  if (o.allowed_envs !== undefined) out.allowed_envs = strings(o.allowed_envs, ['body', 'compose_file', 'allowed_envs'])
  if (o.name !== undefined) out.name = string(o.name, ['body', 'compose_file', 'name'])
  if (o.pre_launch_script !== undefined) out.pre_launch_script = string(o.pre_launch_script, ['body', 'compose_file', 'pre_launch_script'])
  for (const k of ['kms_enabled', 'public_logs', 'public_sysinfo', 'public_tcbinfo', 'gateway_enabled'] as const)
    if (o[k] !== undefined) out[k] = boolean(o[k], ['body', 'compose_file', k])
  if (o.storage_fs !== undefined) {
    if (o.storage_fs !== 'ext4' && o.storage_fs !== 'zfs')
      throw validation([['body', 'compose_file', 'storage_fs'], "Input should be 'ext4' or 'zfs'", 'enum'])
    out.storage_fs = o.storage_fs
  }
  return out
}

function object(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw validation([['body'], 'Input should be a valid dictionary', 'dict_type'])
  return v as Record<string, unknown>
}
function string(v: unknown, loc: Loc): string {
  if (typeof v !== 'string') throw validation([loc, 'Input should be a valid string', 'string_type'])
  return v
}
function strings(v: unknown, loc: Loc): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(x)))
    throw validation([loc, 'Input should be a list of environment variable names', 'list_type'])
  return v as string[]
}
function boolean(v: unknown, loc: Loc): boolean {
  if (typeof v !== 'boolean') throw validation([loc, 'Input should be a valid boolean', 'bool_type'])
  return v
}
function hexString(v: unknown, loc: Loc, length: number): string {
  const s = typeof v === 'string' ? v.replace(/^0x/, '') : ''
  if (!new RegExp(`^[0-9a-fA-F]{${length}}$`).test(s))
    throw validation([loc, `Input should be ${length} hex characters`, 'string_pattern_mismatch'])
  return s.toLowerCase()
}
function hex40(v: unknown, loc: Loc): string {
  return hexString(typeof v === 'string' ? v.replace(/^app_/, '') : v, loc, 40)
}
function bytes(v: unknown, loc: Loc): Uint8Array {
  const s = typeof v === 'string' ? v.replace(/^0x/, '') : ''
  if (s.length === 0 || s.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(s))
    throw validation([loc, 'Input should be hex bytes', 'string_pattern_mismatch'])
  return new Uint8Array(Buffer.from(s, 'hex'))
}
function header(r: Req, name: string): string | undefined {
  const v = r.headers[name]
  return typeof v === 'string' ? v : undefined
}
function equal(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** A JSON body (core's limit policy); errors in Phala Cloud's shapes (413, or a `json_invalid` validation error). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  let body: Buffer
  try {
    body = await readBody(req, { limit: maxBody })
  } catch (error) {
    throw new PhalaError(413, error instanceof BodyTooLargeError ? error.shortMessage : 'Request body could not be read')
  }
  if (body.length === 0) return {}
  try {
    return parseJson(body)
  } catch {
    throw validation([['body'], 'JSON decode error', 'json_invalid'])
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  const text = JSON.stringify(body)
  res
    .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-phala-version': apiVersion })
    .end(text)
}

function sendError(res: ServerResponse, error: unknown): void {
  if (error instanceof PhalaError) send(res, error.status, { detail: error.detail })
  else send(res, 500, { detail: 'Internal Server Error' })
}
