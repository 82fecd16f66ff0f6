/**
 * The checks a KMS node makes before it releases keys (DESIGN.md §6; docs/kms.md "Checks, in order"), modelled on
 * what dstack's KMS checks (reference/dstack.md §5.3) with Regent's attested-request binding instead of RA-TLS:
 * KMS-issued single-use nonces, DCAP quote verification with @regent-tee/attest under the node's trusted roots,
 * RTMR3 replay, the report_data binding of ReleaseRequest, boot facts read from the replayed log, the
 * on-chain RegentAppAuth decision (read at the current block, cached for that block only), and the TCB policy.
 *
 * Every refusal is a {@link Refusal} with a stable `code`; nothing here throws for bad input.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  Collateral,
  EventLog,
  Policy,
  type TcbInfo,
  type TdxMeasurements,
  type TrustedRoot,
  type Verdict,
  verifyQuote,
} from '@regent-tee/attest'
import { regentAppAuthAbi } from '@regent-tee/contracts'
import { type Address, getAddress, type Hex, type PublicClient } from 'viem'
import { BaseError } from './errors.js'
import * as ReleaseRequest from './ReleaseRequest.js'

/** A refused request: HTTP status, stable code, human message. */
export type Refusal = { status: 400 | 403 | 409 | 503; code: string; message: string }

/** The boot facts of a verified request (bytes as lowercase hex, no 0x). */
export type Facts = {
  appId: string
  composeHash: string
  /** '' when the CVM has no instance id. */
  instanceId: string
  osImageHash: string
  /** dstack mr_aggregated in boot-time mode (RTMR3 replayed up to boot-mr-done); what identifies a KMS node. */
  mrAggregated: string
  /** dstack mr_system in boot-time mode (mr_key_provider = 0). */
  mrSystem: string
  tcbStatus: TcbInfo.Status
  advisoryIds: readonly string[]
  quoteHash: string
  hardware: Verdict['hardware']
}

// ---------------------------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------------------------

/** Result of consuming a nonce. */
export type NonceState = 'ok' | 'unknown' | 'used' | 'expired'

/** KMS-issued single-use nonces. */
export type NonceStore = {
  /** A fresh 32-byte nonce and its expiry. @throws {TooManyNoncesError} when `max` are outstanding. */
  issue(): { nonce: Uint8Array; expiresAt: Date }
  /** Marks the nonce used (whatever the outcome of the request) and says what it was before. */
  consume(nonce: Uint8Array): NonceState
  /** Outstanding (issued, unused, unexpired) nonces. */
  size(): number
}

/**
 * Creates an in-memory nonce store. A used nonce is remembered until it would have expired, so a replay within
 * the window is `used`; after it, `unknown`.
 *
 * @example
 * const nonces = KeyRelease.createNonceStore({ ttlMs: 60_000 })
 */
export function createNonceStore(
  options: { ttlMs?: number | undefined; max?: number | undefined; now?: (() => number) | undefined } = {},
): NonceStore {
  const ttl = options.ttlMs ?? 60_000
  const max = options.max ?? 100_000
  const now = options.now ?? Date.now
  const entries = new Map<string, { expiresAt: number; used: boolean }>()
  let outstanding = 0
  const sweep = () => {
    const t = now()
    for (const [key, entry] of entries) {
      if (entry.expiresAt > t) break // insertion order = expiry order
      if (!entry.used) outstanding--
      entries.delete(key)
    }
  }
  return {
    issue() {
      sweep()
      if (outstanding >= max) throw new TooManyNoncesError({ max })
      const nonce = new Uint8Array(randomBytes(ReleaseRequest.nonceLength))
      const expiresAt = now() + ttl
      entries.set(ReleaseRequest.toHex(nonce), { expiresAt, used: false })
      outstanding++
      return { nonce, expiresAt: new Date(expiresAt) }
    },
    consume(nonce) {
      const entry = entries.get(ReleaseRequest.toHex(nonce))
      if (!entry) return 'unknown'
      if (entry.used) return 'used'
      entry.used = true
      outstanding--
      if (entry.expiresAt <= now()) return 'expired'
      return 'ok'
    },
    size() {
      sweep()
      return outstanding
    },
  }
}

/**
 * The refusal for a nonce state, or undefined for `ok`.
 *
 * @example
 * const refusal = KeyRelease.nonceRefusal(nonces.consume(request.nonce))
 */
export function nonceRefusal(state: NonceState): Refusal | undefined {
  if (state === 'unknown')
    return { status: 403, code: 'nonce.unknown', message: 'The nonce was not issued by this node (or has been forgotten).' }
  if (state === 'used')
    return { status: 403, code: 'nonce.used', message: 'The nonce has already been used; ask POST /v1/nonce for a new one.' }
  if (state === 'expired')
    return { status: 403, code: 'nonce.expired', message: 'The nonce has expired; ask POST /v1/nonce for a new one.' }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Collateral
// ---------------------------------------------------------------------------------------------

/** Where a node gets DCAP collateral for a quote. */
export type CollateralSource = (quote: Uint8Array) => Promise<Collateral.Verified | Collateral.Collateral>

/**
 * A collateral source over one fixed collateral document, verified once under `trustedRoots` and reused until
 * it leaves its window (then verified again). When verification throws (e.g. the collateral is signed by a root
 * the node does not trust) the parsed collateral is returned, so that the quote verdict names the failure.
 * With `cache: false` every call returns a freshly parsed copy, so verifyQuote verifies it in full (benchmarks).
 *
 * @throws {Collateral.InvalidCollateralError} when the document does not parse.
 * @example
 * const collateral = KeyRelease.fixedCollateral({ collateral: json, trustedRoots: [intelSgxRootCa] })
 */
export function fixedCollateral(options: {
  collateral: Collateral.Json | Collateral.Collateral | string
  trustedRoots: readonly TrustedRoot[]
  now?: () => Date
  cache?: boolean
}): CollateralSource {
  const parsed =
    typeof options.collateral === 'object' && 'tcbInfo' in options.collateral && typeof options.collateral.tcbInfo !== 'string'
      ? (options.collateral as Collateral.Collateral)
      : Collateral.parse(options.collateral as Collateral.Json | string)
  const now = options.now ?? (() => new Date())
  let verified: Collateral.Verified | undefined
  if (options.cache === false) {
    // A fresh parse per call: attest memoizes verification per parsed object, so reusing one would still cache.
    const json = Collateral.toJson(parsed)
    return async () => Collateral.parse(json)
  }
  return async () => {
    const t = now().getTime()
    if (verified && t <= verified.nextUpdate.getTime()) return verified
    try {
      verified = Collateral.verify(parsed, { now: now(), trustedRoots: options.trustedRoots })
      return verified
    } catch {
      verified = undefined
      return parsed
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Quote, event log, binding, boot facts
// ---------------------------------------------------------------------------------------------

/** Known OS images: MRTD and RTMR0–2 (hex) per OS image hash (hex). */
export type OsImages = (osImageHash: string) => { mrTd: string; rtmr0: string; rtmr1: string; rtmr2: string } | undefined

/** What {@link verifyRequest} needs from the node. */
export type VerifyConfig = {
  trustedRoots: readonly TrustedRoot[]
  collateral: CollateralSource
  now: () => Date
  /** When given, the OS image hash from vm_config must be known here and match the quote's MRTD/RTMR0–2. */
  osImages?: OsImages | undefined
  /** Parsed event logs by their exact text ({@link createEventLogCache}); without it every request parses its log. */
  eventLogs?: EventLogCache | undefined
}

/** Parsed event logs keyed by their exact JSON text (a CVM sends the same log until it emits an event). */
export type EventLogCache = {
  /** The parsed log, or undefined when the text does not parse (attest then names the failure). */
  get(text: string): EventLog.EventLog | undefined
}

/**
 * A bounded LRU of parsed event logs. Parsing is a pure function of the text, so a hit is exactly what a fresh
 * parse would give; the replay against each quote's RTMRs still runs for every request.
 *
 * @example
 * const eventLogs = KeyRelease.createEventLogCache({ max: 1024 })
 */
export function createEventLogCache(options: { max?: number } = {}): EventLogCache {
  const entries = createLru<string, EventLog.EventLog | undefined>({ max: options.max ?? 1024 })
  return {
    get(text) {
      if (entries.has(text)) return entries.get(text)
      let log: EventLog.EventLog | undefined
      try {
        log = EventLog.parse(text)
      } catch {
        log = undefined
      }
      entries.set(text, log)
      return log
    },
  }
}

/** A small least-recently-used map; `onEvict` sees every value dropped for space. */
export type Lru<K, V> = {
  has(key: K): boolean
  get(key: K): V | undefined
  set(key: K, value: V): void
  values(): IterableIterator<V>
  clear(): void
  readonly size: number
}

/**
 * Creates a bounded LRU over a Map (insertion order = recency).
 *
 * @example
 * const keys = KeyRelease.createLru<string, Uint8Array>({ max: 4096, onEvict: (k) => k.fill(0) })
 */
export function createLru<K, V>(options: { max: number; onEvict?: (value: V) => void }): Lru<K, V> {
  const map = new Map<K, V>()
  return {
    has: (key) => map.has(key),
    get(key) {
      if (!map.has(key)) return undefined
      const value = map.get(key) as V
      map.delete(key)
      map.set(key, value)
      return value
    },
    set(key, value) {
      map.delete(key)
      map.set(key, value)
      while (map.size > options.max) {
        const [oldest, dropped] = map.entries().next().value as [K, V]
        map.delete(oldest)
        options.onEvict?.(dropped)
      }
    },
    values: () => map.values(),
    clear: () => map.clear(),
    get size() {
      return map.size
    },
  }
}

const untrustedCodes = new Set(['collateral.untrusted_root'])

/**
 * The root certificate (last PEM block) of a quote's PCK certificate chain, whitespace-normalised; undefined
 * when the quote carries no PEM chain.
 *
 * @example
 * KeyRelease.quoteRootPem(quote) === normalizePem(root.pem)
 */
export function quoteRootPem(quote: Uint8Array): string | undefined {
  const text = Buffer.from(quote.buffer, quote.byteOffset, quote.byteLength).toString('latin1')
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g)
  const last = blocks?.at(-1)
  return last === undefined ? undefined : normalizePem(last)
}

/** A PEM certificate with all whitespace removed (for byte-equal comparison). */
export function normalizePem(pem: string): string {
  return pem.replace(/\s+/g, '')
}

/**
 * Verifies a parsed request's quote for `purpose`: DCAP under the trusted roots, RTMR3 replay of the event log,
 * report_data = ReleaseRequest.toReportData(purpose, ephemeral key, nonce), then reads the boot facts.
 *
 * Refusal codes in order of precedence: `untrusted_root`, `quote.invalid`, `eventlog.replay`, `quote.binding`,
 * `eventlog.app_info`, `vmconfig.invalid`, `os_image.unknown`, `os_image.mismatch`.
 *
 * @example
 * const result = await KeyRelease.verifyRequest(config, request, 'keys')
 * if ('code' in result) refuse(result)
 */
export async function verifyRequest(
  config: VerifyConfig,
  request: ReleaseRequest.Request,
  purpose: ReleaseRequest.Purpose,
  options: { quoteHash?: string | undefined } = {},
): Promise<Facts | Refusal> {
  const expected = ReleaseRequest.toReportData({ purpose, ephemeralPublicKey: request.ephemeralPublicKey, nonce: request.nonce })
  // Parsed once (from the cache when the node has one); an unparsable log goes to attest as text so that its
  // verdict names the failure.
  const eventLog = config.eventLogs?.get(request.eventLog) ?? request.eventLog
  const verdict = await verifyQuote(request.quote, {
    collateral: await config.collateral(request.quote),
    now: config.now(),
    trustedRoots: config.trustedRoots,
    policy: { eventLog, expectedReportData: expected },
  })
  const codes = verdict.reasons.map((r) => r.code)
  const root = quoteRootPem(request.quote)
  const rootTrusted = root === undefined || config.trustedRoots.some((r) => normalizePem(r.pem) === root)
  const message = (filter: (code: string) => boolean) =>
    verdict.reasons
      .filter((r) => filter(r.code))
      .map((r) => `${r.code}: ${r.message}`)
      .join(' ')
  if (!rootTrusted || codes.some((c) => untrustedCodes.has(c)))
    return { status: 403, code: 'untrusted_root', message: 'The quote does not chain to a root this node trusts.' }
  const crypto = codes.filter((c) => !c.startsWith('policy.'))
  if (crypto.length > 0 || !verdict.verified || verdict.tee !== 'tdx')
    return { status: 403, code: 'quote.invalid', message: `The quote does not verify. ${message((c) => !c.startsWith('policy.'))}`.trim() }
  if (codes.includes('policy.event_log'))
    return {
      status: 403,
      code: 'eventlog.replay',
      message: `The event log does not replay to the quoted RTMRs. ${message((c) => c === 'policy.event_log')}`.trim(),
    }
  if (codes.includes('policy.report_data'))
    return {
      status: 403,
      code: 'quote.binding',
      message: `The quote's report_data does not commit to this request's ephemeral key and nonce (${ReleaseRequest.reportDataLabels[purpose]}).`,
    }
  if (codes.length > 0) return { status: 403, code: 'quote.invalid', message: `The quote fails the node's policy. ${message(() => true)}` }

  const app = verdict.app
  const m = verdict.measurements as TdxMeasurements
  if (!app?.appId || !app.composeHash || app.appId.length !== 20 || app.composeHash.length !== 32)
    return {
      status: 403,
      code: 'eventlog.app_info',
      message: 'The replayed event log does not name an app-id (20 bytes) and a compose-hash (32 bytes).',
    }
  const instanceId = app.instanceId ?? new Uint8Array(0)
  if (instanceId.length !== 0 && instanceId.length !== 20)
    return { status: 403, code: 'eventlog.app_info', message: `The instance-id event must be 20 bytes or empty, got ${instanceId.length}.` }

  let osImageHash: string
  try {
    const value = (JSON.parse(request.vmConfig) as { os_image_hash?: unknown }).os_image_hash
    if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value)) throw new Error('os_image_hash')
    osImageHash = value.toLowerCase()
  } catch {
    return { status: 400, code: 'vmconfig.invalid', message: 'vmConfig must be a JSON object with os_image_hash (32 bytes hex).' }
  }
  if (config.osImages) {
    const image = config.osImages(osImageHash)
    if (!image)
      return {
        status: 403,
        code: 'os_image.unknown',
        message: `OS image ${osImageHash} is not known to this node; its measurements cannot be checked.`,
      }
    if (image.mrTd !== m.mrTd || image.rtmr0 !== m.rtmr0 || image.rtmr1 !== m.rtmr1 || image.rtmr2 !== m.rtmr2)
      return { status: 403, code: 'os_image.mismatch', message: `The quote's MRTD/RTMR0-2 are not those of OS image ${osImageHash}.` }
  }
  const derived = bootMeasurements({ measurements: m, eventLog })
  return {
    appId: hex(app.appId),
    composeHash: hex(app.composeHash),
    instanceId: hex(instanceId),
    osImageHash,
    mrAggregated: derived.mrAggregated,
    mrSystem: derived.mrSystem,
    tcbStatus: verdict.status as TcbInfo.Status,
    advisoryIds: verdict.advisoryIds,
    quoteHash: options.quoteHash ?? createHash('sha256').update(request.quote).digest('hex'),
    hardware: verdict.hardware,
  }
}

/** RTMR3' per parsed log object (a pure function of the log; parsed logs are shared through the event log cache). */
const bootRtmr3 = new WeakMap<EventLog.EventLog, Uint8Array>()

/**
 * dstack's boot-time-mode measurements (reference/dstack.md §4.5): RTMR3' = replay of the RTMR3 events up to and
 * including `boot-mr-done`; mr_aggregated = SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3' [‖ MRCONFIGID ‖ MROWNER ‖
 * MROWNERCONFIG], the last three only when any is non-zero); mr_system = SHA-256(MRTD ‖ RTMR0–2 ‖ 0³²).
 * Boot-time mode makes the value independent of events after boot (key provider, app events).
 *
 * @throws {EventLog.InvalidEventLogError} for an unparsable log (callers verify the log first).
 * @example
 * const { mrAggregated } = KeyRelease.bootMeasurements({ measurements: verdict.measurements, eventLog })
 */
export function bootMeasurements(options: {
  measurements: Pick<TdxMeasurements, 'mrTd' | 'rtmr0' | 'rtmr1' | 'rtmr2' | 'mrConfigId' | 'mrOwner' | 'mrOwnerConfig'>
  eventLog: string | EventLog.EventLog
}): { mrAggregated: string; mrSystem: string } {
  const m = options.measurements
  const log = typeof options.eventLog === 'string' ? EventLog.parse(options.eventLog) : options.eventLog
  let rtmr3 = bootRtmr3.get(log)
  if (!rtmr3) {
    const prefix: EventLog.Event[] = []
    for (const event of log) {
      prefix.push(event)
      if (event.imr === 3 && event.event === 'boot-mr-done') break
    }
    rtmr3 = EventLog.replay(prefix)[3]
    bootRtmr3.set(log, rtmr3)
  }
  const b = (h: string) => Buffer.from(h, 'hex')
  const config = Buffer.concat([b(m.mrConfigId), b(m.mrOwner), b(m.mrOwnerConfig)])
  const aggregated = createHash('sha256').update(b(m.mrTd)).update(b(m.rtmr0)).update(b(m.rtmr1)).update(b(m.rtmr2)).update(rtmr3)
  if (config.some((x) => x !== 0)) aggregated.update(config)
  const system = createHash('sha256').update(b(m.mrTd)).update(b(m.rtmr0)).update(b(m.rtmr1)).update(b(m.rtmr2)).update(new Uint8Array(32))
  return { mrAggregated: aggregated.digest('hex'), mrSystem: system.digest('hex') }
}

// ---------------------------------------------------------------------------------------------
// On-chain authorization
// ---------------------------------------------------------------------------------------------

/** RegentAppAuth's `AppBootInfo` as viem encodes it. */
export type BootInfo = {
  appId: Address
  composeHash: Hex
  instanceId: Address
  deviceId: Hex
  mrAggregated: Hex
  mrSystem: Hex
  osImageHash: Hex
  tcbStatus: string
  advisoryIds: readonly string[]
}

/**
 * The `AppBootInfo` of verified facts (instance id left-padded to an address; device id zero: the devnet and
 * this node do not check devices).
 *
 * @example
 * const info = KeyRelease.toBootInfo(facts)
 */
export function toBootInfo(facts: Facts): BootInfo {
  return {
    appId: getAddress(`0x${facts.appId}`),
    composeHash: `0x${facts.composeHash}`,
    instanceId: getAddress(`0x${facts.instanceId.padStart(40, '0')}`),
    deviceId: `0x${'00'.repeat(32)}`,
    mrAggregated: `0x${facts.mrAggregated}`,
    mrSystem: `0x${facts.mrSystem}`,
    osImageHash: `0x${facts.osImageHash}`,
    tcbStatus: facts.tcbStatus,
    advisoryIds: facts.advisoryIds,
  }
}

/** Reads RegentAppAuth decisions at the current block. */
export type AppAuth = {
  /** `isAppAllowedWithKms(bootInfo, kmsRoot)` at the latest block. */
  isAppAllowedWithKms(bootInfo: BootInfo, kmsRoot: Address): Promise<{ allowed: boolean; reason: string; block: bigint }>
  /** `isKmsAllowed(bootInfo)` at the latest block. */
  isKmsAllowed(bootInfo: BootInfo): Promise<{ allowed: boolean; reason: string; block: bigint }>
}

/**
 * A RegentAppAuth reader. Each call first learns the latest block number (concurrent calls share one
 * `eth_blockNumber`), then reads the contract AT that block; with `cache` (default) answers are memoised per
 * (block, function, arguments) and dropped as soon as a newer block is seen — never reused across blocks.
 *
 * @example
 * const appAuth = KeyRelease.createAppAuth({ client, address: deployment.contracts.appAuth })
 */
export function createAppAuth(options: { client: PublicClient; address: Address; cache?: boolean }): AppAuth {
  const { client, address } = options
  let pendingBlock: Promise<bigint> | undefined
  let cachedBlock = -1n
  const answers = new Map<string, Promise<{ allowed: boolean; reason: string; block: bigint }>>()
  const latest = () => {
    pendingBlock ??= client.getBlockNumber({ cacheTime: 0 }).finally(() => {
      pendingBlock = undefined
    })
    return pendingBlock
  }
  const read = async (functionName: 'isAppAllowedWithKms' | 'isKmsAllowed', args: readonly unknown[]) => {
    const block = await latest()
    if (block > cachedBlock) {
      cachedBlock = block
      answers.clear()
    }
    const key = `${block}:${functionName}:${JSON.stringify(args)}`
    const useCache = options.cache !== false && block === cachedBlock
    const hit = useCache ? answers.get(key) : undefined
    if (hit) return hit
    const answer = (
      client.readContract({ address, abi: regentAppAuthAbi, functionName, args, blockNumber: block } as never) as Promise<
        readonly [boolean, string]
      >
    ).then(([allowed, reason]) => ({ allowed, reason, block }))
    if (useCache) {
      answers.set(key, answer)
      answer.catch(() => answers.delete(key))
    }
    return answer
  }
  return {
    isAppAllowedWithKms: (bootInfo, kmsRoot) => read('isAppAllowedWithKms', [bootInfo, kmsRoot]),
    isKmsAllowed: (bootInfo) => read('isKmsAllowed', [bootInfo]),
  }
}

const contractReasons: Record<string, string> = {
  'App not registered': 'app.not_registered',
  'Compose hash not allowed': 'measurement.not_approved',
  'Compose hash pending timelock': 'measurement.timelock',
  'OS image is not allowed': 'os_image.not_approved',
  'OS image pending timelock': 'os_image.timelock',
  'TCB status not UpToDate': 'tcb.status',
  'KMS root not allowed': 'kms_root.not_allowed',
  'KMS root pending timelock': 'kms_root.timelock',
  'Aggregated MR not allowed': 'measurement.not_approved',
  'Aggregated MR pending timelock': 'measurement.timelock',
}

/**
 * The refusal for a RegentAppAuth answer, or undefined when allowed.
 *
 * @example
 * KeyRelease.appAuthRefusal({ allowed: false, reason: 'Compose hash pending timelock' }) // code measurement.timelock
 */
export function appAuthRefusal(answer: { allowed: boolean; reason: string }): Refusal | undefined {
  if (answer.allowed) return undefined
  return { status: 403, code: contractReasons[answer.reason] ?? 'app.not_allowed', message: `RegentAppAuth refused: ${answer.reason}.` }
}

/**
 * The refusal when `status` is below `minimum` (attest's order: UpToDate > SWHardeningNeeded > ConfigurationNeeded
 * > ConfigurationAndSWHardeningNeeded > OutOfDate > OutOfDateConfigurationNeeded; Revoked never passes).
 *
 * @example
 * KeyRelease.tcbRefusal({ status: 'OutOfDate', minimum: 'UpToDate' })?.code // 'tcb.status'
 */
export function tcbRefusal(options: { status: TcbInfo.Status; minimum: TcbInfo.Status }): Refusal | undefined {
  const rank = Policy.statusOrder.indexOf(options.status)
  const min = Policy.statusOrder.indexOf(options.minimum)
  if (rank >= 0 && min >= 0 && rank <= min) return undefined
  return { status: 403, code: 'tcb.status', message: `TCB status ${options.status} is below this node's minimum ${options.minimum}.` }
}

function hex(bytes: Uint8Array): string {
  return ReleaseRequest.toHex(bytes)
}

/** Too many nonces are outstanding (a flood of POST /v1/nonce). */
export class TooManyNoncesError extends BaseError {
  override name = 'KeyRelease.TooManyNoncesError'
  constructor({ max }: { max: number }) {
    super(`Too many outstanding nonces (${max}); try again when some have been used or expired.`)
  }
}
