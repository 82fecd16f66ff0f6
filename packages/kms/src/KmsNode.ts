/**
 * A KMS node (DESIGN.md §6; docs/kms.md): root keys sealed at rest, the release log, nonce stores and a loopback
 * HTTP server — `GET /health`, `GET /v1/info`, `POST /v1/nonce`, `POST /v1/keys`, `GET /v1/log`, `GET /v1/app-env-key`,
 * `POST /v1/onboard/nonce`, `POST /v1/onboard`. Key release follows KeyRelease (checks), ReleaseRequest (wire
 * format) and AppKeys.derive (dstack derivation, reference/dstack.md §3.2); onboarding follows Onboarding.
 *
 * Bad input answers 4xx `{ error: { code, message } }` and changes nothing. A request is looked at in order of
 * cost to the caller: shape, nonce (a MAC: no state), then the quote and its report_data binding. Only a request
 * whose genuine quote binds its own nonce changes state: its nonce is consumed and exactly one log entry written,
 * whatever follows. Everything refused before that is only counted (`refused` in `/v1/info`, one counter per code),
 * so anonymous garbage cannot grow the log or any cache. Every connection must deliver its headers and body within
 * the node's timeouts (docs/kms.md "Anonymous callers").
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { type Collateral, intelSgxRootCa, type TcbInfo, type TrustedRoot } from '@regent-tee/attest'
import { errorBody, Lru, parseJson, readBody, sendHttpError, sendJson } from '@regent-tee/core'
import type { Address, PublicClient } from 'viem'
import * as AppKeys from './AppKeys.js'
import * as DstackKmsAuth from './DstackKmsAuth.js'
import * as EnvEncryption from './EnvEncryption.js'
import { BaseError } from './errors.js'
import * as Kdf from './Kdf.js'
import * as KeyRelease from './KeyRelease.js'
import type { Attest } from './KmsClient.js'
import * as Onboarding from './Onboarding.js'
import * as ReleaseLog from './ReleaseLog.js'
import * as ReleaseRequest from './ReleaseRequest.js'
import * as RootKeys from './RootKeys.js'

/** File names under `dataDir`. */
export const files = { sealedRootKeys: 'root-keys.sealed', releaseLog: 'release-log.sqlite' } as const

export type StartKmsNodeOptions = {
  /** Directory for the sealed root keys and the release log (created if absent). */
  dataDir: string
  /**
   * 32-byte sealing key from the node's environment of trust (never argv/env; docs/kms.md "Sealing"). Used during
   * start only; the node does not keep it. The caller owns and wipes it.
   */
  sealingKey: Uint8Array
  /** When `dataDir` holds no sealed keys: onboard from this running node instead of generating new roots. */
  join?: { url: string; attest: Attest; vmConfig?: string } | undefined
  /** RegentAppAuth on the node's chain. `cache: false` reads the contract on every request. */
  chain: {
    client: PublicClient
    appAuth: Address
    cache?: boolean | undefined
    /** dstack's DstackKms: apps registered there are decided by it (DstackKmsAuth, docs/kms.md). */
    dstackKms?: Address | undefined
  }
  /** Collateral for request quotes: a source, or one collateral document verified once per window. */
  collateral: KeyRelease.CollateralSource | Collateral.Json | string
  /**
   * Reuse verified collateral within its window and parsed event logs by their exact text; `false` verifies the
   * collateral in full and parses the log for every request (benchmarks). @default true
   */
  cacheCollateral?: boolean | undefined
  /** @default [intelSgxRootCa] — add a devnet root only on a devnet. */
  trustedRoots?: readonly TrustedRoot[] | undefined
  /** @default 'UpToDate' */
  minTcbStatus?: TcbInfo.Status | undefined
  /** Root CA certificate PEM returned with app keys. @default '' */
  caCert?: string | undefined
  /** @default 60_000 */
  nonceTtlMs?: number | undefined
  /** A connection that has not sent all its headers in this time is closed. @default 5_000 */
  headersTimeoutMs?: number | undefined
  /** A request (headers and body) that has not arrived in full in this time is closed. @default 15_000 */
  requestTimeoutMs?: number | undefined
  /** @default 64 KiB + quote (256 KiB) */
  maxBodyBytes?: number | undefined
  /** @default '127.0.0.1' */
  host?: string | undefined
  /** @default 0 (a free port) */
  port?: number | undefined
  /** Clock for quote verification. @default () => new Date() */
  now?: (() => Date) | undefined
  /** @default the first 8 bytes of the root address */
  nodeId?: string | undefined
}

/** A running node. */
export type KmsNode = {
  readonly url: string
  readonly port: number
  readonly nodeId: string
  readonly identity: RootKeys.Identity
  /** Read access to the release log (for tests and operators). */
  readonly log: Pick<ReleaseLog.ReleaseLog, 'read' | 'head'>
  /** What the node keeps about requests: refusals counted per code (not logged), cached event logs, used nonces. */
  stats(): { refused: Record<string, number>; eventLogs: number; usedNonces: { keys: number; onboard: number } }
  /** Whether the roots were generated, unsealed or onboarded at this start. */
  readonly origin: 'generated' | 'unsealed' | 'onboarded'
  close(): Promise<void>
}

/**
 * Starts a node: loads (unseal), onboards or generates its root keys, opens its release log and listens.
 *
 * @throws {RootKeys.UnsealError} for a wrong sealing key; {@link KmsClient.RequestRefusedError} when onboarding is refused.
 * @example
 * const node = await startKmsNode({ dataDir, sealingKey, chain: { client, appAuth }, collateral, trustedRoots })
 */
export async function startKmsNode(options: StartKmsNodeOptions): Promise<KmsNode> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 })
  const sealedPath = join(options.dataDir, files.sealedRootKeys)
  let origin: KmsNode['origin']
  let roots: RootKeys.RootKeys
  if (existsSync(sealedPath)) {
    roots = RootKeys.unseal(new Uint8Array(readFileSync(sealedPath)), { key: options.sealingKey })
    origin = 'unsealed'
  } else {
    roots = options.join ? await Onboarding.join(options.join) : RootKeys.generate()
    origin = options.join ? 'onboarded' : 'generated'
    writeFileSync(sealedPath, RootKeys.seal(roots, { key: options.sealingKey }), { mode: 0o600, flag: 'wx' })
  }
  const identity = RootKeys.identity(roots)
  const nodeId = options.nodeId ?? identity.address.slice(2, 18).toLowerCase()
  const log = ReleaseLog.open({ path: join(options.dataDir, files.releaseLog) })
  const trustedRoots = options.trustedRoots ?? [intelSgxRootCa]
  const now = options.now ?? (() => new Date())
  const collateral =
    typeof options.collateral === 'function'
      ? options.collateral
      : KeyRelease.fixedCollateral({ collateral: options.collateral, trustedRoots, now, cache: options.cacheCollateral !== false })
  const eventLogs = options.cacheCollateral === false ? undefined : KeyRelease.createEventLogCache({ max: 1024 })
  const verify: KeyRelease.VerifyConfig = { trustedRoots, collateral, now, eventLogs }
  const appAuth = DstackKmsAuth.withDstackKms(
    KeyRelease.createAppAuth({ client: options.chain.client, address: options.chain.appAuth, cache: options.chain.cache !== false }),
    options.chain.dstackKms ? DstackKmsAuth.create({ client: options.chain.client, address: options.chain.dstackKms }) : undefined,
  )
  const minTcbStatus = options.minTcbStatus ?? 'UpToDate'
  const nonces = {
    keys: KeyRelease.createNonceStore({ purpose: 'keys', ttlMs: options.nonceTtlMs }),
    onboard: KeyRelease.createNonceStore({ purpose: 'onboard', ttlMs: options.nonceTtlMs }),
  }
  // Refusals of requests that never got past the quote check: counted per code (a fixed, small set), never logged.
  const refused: Record<string, number> = {}
  const maxBodyBytes = options.maxBodyBytes ?? 256 * 1024
  const caCert = options.caCert ?? ''
  const chainId = await options.chain.client.getChainId()

  // Per-app derivation (dstack §3.2: everything but the disk key depends on the app id only) and per-instance disk
  // keys, in bounded LRUs; evicted and remaining entries are wiped.
  const appCache = new Lru<string, AppKeys.AppKeys>(4096, { onEvict: (keys) => AppKeys.wipe(keys) })
  const diskCache = new Lru<string, Uint8Array>(65_536, { onEvict: (key) => key.fill(0) })
  const appKeysOf = (appId: string, instanceId: string): Omit<ReleaseRequest.AppKeysPayload, 'osImageHash'> => {
    let app = appCache.get(appId)
    if (!app) {
      app = AppKeys.derive({ rootK256: roots.rootK256, rootCa: roots.rootCa, appId: Buffer.from(appId, 'hex') })
      appCache.set(appId, app)
    }
    let disk: Uint8Array = new Uint8Array(0)
    if (instanceId !== '') {
      const key = `${appId}:${instanceId}`
      let cached = diskCache.get(key)
      if (!cached) {
        cached = Kdf.deriveDhSecret({
          parentKey: roots.rootCa,
          context: [Buffer.from(appId, 'hex'), Buffer.from(instanceId, 'hex'), 'app-disk-crypt-key'],
        })
        diskCache.set(key, cached)
      }
      disk = cached
    }
    return { k256Key: app.k256Key, k256Signature: app.k256Signature, envCryptKey: app.envCryptKey, diskCryptKey: disk, caCert }
  }
  const clearCaches = () => {
    appCache.clear() // each value is wiped on its way out
    diskCache.clear()
  }

  const record = (kind: ReleaseLog.Kind, facts: Partial<KeyRelease.Facts> | undefined, quoteHash: string, refusal?: KeyRelease.Refusal) =>
    log.append({
      kind,
      outcome: refusal ? 'refused' : 'released',
      code: refusal?.code ?? '',
      reason: refusal?.message ?? '',
      appId: facts?.appId ?? '',
      instanceId: facts?.instanceId ?? '',
      composeHash: facts?.composeHash ?? '',
      quoteHash: facts?.quoteHash ?? quoteHash,
    })

  const respondEnvelope = (purpose: ReleaseRequest.Purpose, request: ReleaseRequest.Request, quoteHash: string, plaintext: Uint8Array) => {
    try {
      const envelope = ReleaseRequest.seal({
        plaintext,
        transcript: {
          purpose,
          quoteHash: Buffer.from(quoteHash, 'hex'),
          requesterPublicKey: request.ephemeralPublicKey,
          nonce: request.nonce,
          kmsRootPublicKey: identity.k256PublicKey,
        },
      })
      return {
        kmsRootPublicKey: ReleaseRequest.toHex(identity.k256PublicKey),
        envelope: {
          responderPublicKey: ReleaseRequest.toHex(envelope.responderPublicKey),
          iv: ReleaseRequest.toHex(envelope.iv),
          ciphertext: ReleaseRequest.toHex(envelope.ciphertext),
        },
      }
    } finally {
      plaintext.fill(0)
    }
  }

  /**
   * One attested request, `/v1/keys` or `/v1/onboard` (docs/kms.md "Checks, in order"): nonce (stateless), the quote
   * and its binding; then — the nonce consumed, every outcome logged once — the event log and boot facts, and
   * `decide` (the OS image and the on-chain and TCB policy of the purpose).
   */
  const handleAttested = async (
    purpose: ReleaseRequest.Purpose,
    body: unknown,
    decide: (facts: KeyRelease.Facts, request: ReleaseRequest.Request) => Promise<KeyRelease.Facts | KeyRelease.Refusal>,
    payload: (facts: KeyRelease.Facts) => Uint8Array,
  ): Promise<Reply> => {
    const request = ReleaseRequest.parse(body)
    const quoteHash = sha256Hex(request.quote)
    const store = nonces[purpose]
    let consumed = false
    const refuse = (refusal: KeyRelease.Refusal, facts?: KeyRelease.Facts): Reply => {
      if (consumed) record(purpose, facts, quoteHash, refusal)
      else refused[refusal.code] = (refused[refusal.code] ?? 0) + 1
      return { status: refusal.status, body: { error: { code: refusal.code, message: refusal.message } } }
    }
    // 1. nonce: issued by this node for this purpose, unexpired, unused (a MAC check; nothing is kept).
    const nonceRefusal = KeyRelease.nonceRefusal(store.check(request.nonce))
    if (nonceRefusal) return refuse(nonceRefusal)
    // 2. quote and binding; then the nonce is consumed and the rest is read.
    const facts = await KeyRelease.verifyRequest(verify, request, purpose, {
      quoteHash,
      consume: () => {
        const refusal = KeyRelease.nonceRefusal(store.consume(request.nonce))
        if (!refusal) consumed = true
        return refusal
      },
    })
    if ('code' in facts) return refuse(facts)
    // 3. OS image, on-chain authorization, TCB.
    const decided = await decide(facts, request)
    if ('code' in decided) return refuse(decided, facts)
    // 4. derive, encrypt to the ephemeral key, log.
    const response = respondEnvelope(purpose, request, quoteHash, payload(decided))
    record(purpose, decided, quoteHash)
    return { status: 200, body: response }
  }

  const handleKeys = (body: unknown) =>
    handleAttested(
      'keys',
      body,
      async (facts, request) => {
        const unavailable: KeyRelease.Refusal = {
          status: 503,
          code: 'chain.unavailable',
          message: 'RegentAppAuth could not be read; nothing was released.',
        }
        // One block for every read of this request (concurrent requests share its eth_blockNumber).
        let block: bigint
        try {
          block = await appAuth.latestBlock()
        } catch {
          return unavailable
        }
        const allowed = async (osImageHash: string) => {
          try {
            return await appAuth.isAppAllowedWithKms(KeyRelease.toBootInfo({ ...facts, osImageHash }), identity.address, block)
          } catch {
            return undefined
          }
        }
        const decided = (image: KeyRelease.Facts, answer: { allowed: boolean; reason: string }) =>
          KeyRelease.appAuthRefusal(answer) ?? KeyRelease.tcbRefusal({ status: image.tcbStatus, minimum: minTcbStatus }) ?? image
        // The image vm_config names is tried first (one chain read when it is the measured one): RegentAppAuth accepts
        // it only when the quote's mrSystem is one of its approved measurements, so the claim cannot decide.
        const claimed = request.claimedOsImageHash
        if (claimed !== undefined) {
          const answer = await allowed(claimed)
          if (!answer) return unavailable
          const refusal = KeyRelease.appAuthRefusal(answer)
          if (!refusal?.code.startsWith('os_image.')) return decided({ ...facts, osImageHash: claimed }, answer)
        }
        // Otherwise the image is looked up from the measurement, and the refusal names what failed.
        const withImage = await KeyRelease.resolveOsImage({ appAuth, facts, table: `0x${facts.appId}`, claimed, block })
        if ('code' in withImage) {
          // The contract's earlier checks (app registered, compose hash approved) name the refusal when they fail too.
          if (withImage.code !== 'os_image.measurement') return withImage
          const earlier = KeyRelease.appAuthRefusal((await allowed('00'.repeat(32))) ?? { allowed: true, reason: '' })
          return earlier && !earlier.code.startsWith('os_image.') ? earlier : withImage
        }
        const answer = await allowed(withImage.osImageHash)
        return answer ? decided(withImage, answer) : unavailable
      },
      (facts) => {
        const keys = appKeysOf(facts.appId, facts.instanceId)
        return ReleaseRequest.serializeAppKeys({ ...keys, osImageHash: Buffer.from(facts.osImageHash, 'hex') })
      },
    )

  const handleOnboard = (body: unknown) =>
    handleAttested(
      'onboard',
      body,
      async (facts, request) => {
        const result = await Onboarding.decide({ appAuth, minTcbStatus }, facts, request)
        return 'refusal' in result ? result.refusal : result.facts
      },
      () => RootKeys.toBytes(roots),
    )

  const issueNonce = (purpose: ReleaseRequest.Purpose, body: unknown): Reply => {
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body)))
      return badRequest('request.invalid', 'The body must be empty or a JSON object.')
    const { nonce, expiresAt } = nonces[purpose].issue()
    return { status: 200, body: { nonce: ReleaseRequest.toHex(nonce), expiresAt: expiresAt.toISOString() } }
  }

  const info = () => ({
    nodeId,
    k256PublicKey: ReleaseRequest.toHex(identity.k256PublicKey),
    address: identity.address,
    caSpki: ReleaseRequest.toHex(identity.caSpki),
    trustedRoots: trustedRoots.map((r) => ({
      name: r.name,
      hardware: r.pem.trim() === intelSgxRootCa.pem.trim() ? 'intel' : 'other',
    })),
    chain: { chainId, appAuth: options.chain.appAuth },
    minTcbStatus,
    log: log.head(),
    refused: { ...refused },
  })

  const readLog = (query: URLSearchParams): Reply => {
    const from = integer(query.get('from'), 0)
    const limit = integer(query.get('limit'), 100)
    if (from === undefined || limit === undefined || limit < 1 || limit > 1000)
      return badRequest('request.invalid', 'from must be an integer ≥ 0 and limit an integer in 1..1000.')
    return { status: 200, body: { entries: log.read({ from, limit }), head: log.head() } }
  }

  /** dstack `GetAppEnvEncryptPubKey`: public (no attestation), as dstack's KMS serves it. */
  const appEnvKey = (query: URLSearchParams): Reply => {
    const appId = (query.get('app_id') ?? '').replace(/^0x/, '').toLowerCase()
    if (!/^[0-9a-f]{40}$/.test(appId)) return badRequest('request.invalid', 'app_id must be 20 bytes of hex.')
    const keys = appKeysOf(appId, '')
    const published = EnvEncryption.publish({
      rootK256: roots.rootK256,
      appId: Buffer.from(appId, 'hex'),
      envCryptKey: keys.envCryptKey,
      now: BigInt(Math.floor(Date.now() / 1000)),
    })
    return {
      status: 200,
      body: {
        public_key: ReleaseRequest.toHex(published.publicKey),
        signature: ReleaseRequest.toHex(published.signature),
        timestamp: Number(published.timestamp),
        signature_v1: ReleaseRequest.toHex(published.signatureV1),
      },
    }
  }

  type Route = { method: 'GET' | 'POST'; handle: (body: unknown, query: URLSearchParams) => Reply | Promise<Reply> }
  const routes: Record<string, Route> = {
    '/health': { method: 'GET', handle: () => ({ status: 200, body: { ok: true, nodeId } }) },
    '/v1/info': { method: 'GET', handle: () => ({ status: 200, body: info() }) },
    '/v1/log': { method: 'GET', handle: (_b, q) => readLog(q) },
    '/v1/app-env-key': { method: 'GET', handle: (_b, q) => appEnvKey(q) },
    '/v1/nonce': { method: 'POST', handle: (b) => issueNonce('keys', b) },
    '/v1/keys': { method: 'POST', handle: (b) => handleKeys(b) },
    '/v1/onboard/nonce': { method: 'POST', handle: (b) => issueNonce('onboard', b) },
    '/v1/onboard': { method: 'POST', handle: (b) => handleOnboard(b) },
  }

  // Node checks these timeouts every connectionsCheckingInterval: 1 s, so a stalled body is cut within a second of them.
  const server: Server = createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? 5_000,
      requestTimeout: options.requestTimeoutMs ?? 15_000,
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      dispatch(req, res).catch((error: unknown) => {
        if (!sendHttpError(res, error)) send(res, { status: 500, body: errorBody('internal', 'Internal error.') })
      })
    },
  )
  const dispatch = async (req: IncomingMessage, res: ServerResponse) => {
    const parsed = new URL(req.url ?? '/', 'http://kms')
    const route = Object.hasOwn(routes, parsed.pathname) ? routes[parsed.pathname] : undefined
    if (!route) {
      req.resume()
      return send(res, { status: 404, body: { error: { code: 'route.not_found', message: `No route ${parsed.pathname}.` } } })
    }
    if (req.method !== route.method) {
      req.resume()
      return send(res, { status: 405, body: { error: { code: 'request.method', message: `${parsed.pathname} takes ${route.method}.` } } })
    }
    let body: unknown
    if (route.method === 'POST') {
      // An empty body is allowed (no content type needed); a non-empty one must be JSON (core's one policy).
      const raw = await readBody(req, { limit: maxBodyBytes })
      if (raw.length > 0) body = parseJson(raw)
    }
    try {
      send(res, await route.handle(body, parsed.searchParams))
    } catch (error) {
      if (error instanceof ReleaseRequest.InvalidFieldError)
        return send(res, badRequest(error.field === 'vmConfig' ? 'vmconfig.invalid' : 'request.invalid', error.shortMessage))
      throw error
    }
  }
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'ERR_HTTP_HEADERS_TIMEOUT'
    if (socket.writable)
      socket.end(`HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
    else socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const host = options.host ?? '127.0.0.1'

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    nodeId,
    identity,
    origin,
    log: { read: (o) => log.read(o), head: () => log.head() },
    stats: () => ({
      refused: { ...refused },
      eventLogs: eventLogs?.size ?? 0,
      usedNonces: { keys: nonces.keys.size(), onboard: nonces.onboard.size() },
    }),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      log.close()
      clearCaches()
      RootKeys.wipe(roots)
    },
  }
}

type Reply = { status: number; body: unknown }

function badRequest(code: string, message: string): Reply {
  return { status: 400, body: { error: { code, message } } }
}

function send(res: ServerResponse, reply: Reply): void {
  sendJson(res, reply.status, reply.body)
}

function integer(text: string | null, fallback: number): number | undefined {
  if (text === null) return fallback
  if (!/^\d{1,15}$/.test(text)) return undefined
  return Number(text)
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** A node option is unusable. */
export class InvalidOptionsError extends BaseError {
  override name = 'KmsNode.InvalidOptionsError'
  constructor({ reason }: { reason: string }) {
    super(`Invalid KMS node options: ${reason}.`)
  }
}
