/**
 * The checks a KMS node makes before it releases keys (DESIGN.md §6; docs/kms.md "Checks, in order"), modelled on
 * what dstack's KMS checks (reference/dstack.md §5.3) with Regent's attested-request binding instead of RA-TLS:
 * KMS-issued single-use nonces (stateless: a MAC over expiry and counter), DCAP quote verification with
 * @regent-tee/attest under the node's trusted roots and the report_data binding of ReleaseRequest — both before
 * anything of the request is kept — then RTMR3 replay and boot facts from the replayed log, the OS image whose
 * approved measurements (MRTD, RTMR0–2) the quote carries, read from RegentAppAuth, the on-chain RegentAppAuth
 * decision (read at the current block, cached for that block only), and the TCB policy.
 *
 * Every refusal is a {@link Refusal} with a stable `code`; nothing here throws for bad input.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
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
import { Lru } from '@regent-tee/core'
import { type Address, getAddress, type Hex, type PublicClient } from 'viem'
import * as ReleaseRequest from './ReleaseRequest.js'

/** A refused request: HTTP status, stable code, human message. */
export type Refusal = { status: 400 | 403 | 409 | 503; code: string; message: string }

/** The boot facts of a verified request (bytes as lowercase hex, no 0x). */
export type Facts = {
  appId: string
  composeHash: string
  /** '' when the CVM has no instance id. */
  instanceId: string
  /**
   * The approved OS image whose measurements the quote's MRTD/RTMR0–2 are (from RegentAppAuth, {@link resolveOsImage});
   * '' until resolved. Never the requester's claim.
   */
  osImageHash: string
  /** dstack mr_aggregated in boot-time mode (RTMR3 replayed up to boot-mr-done); what identifies a KMS node. */
  mrAggregated: string
  /** dstack mr_system in boot-time mode (mr_key_provider = 0): SHA-256(MRTD ‖ RTMR0–2 ‖ 0³²), the OS image measurement. */
  mrSystem: string
  tcbStatus: TcbInfo.Status
  advisoryIds: readonly string[]
  quoteHash: string
  hardware: Verdict['hardware']
}

// ---------------------------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------------------------

/** Result of checking or consuming a nonce. */
export type NonceState = 'ok' | 'unknown' | 'used' | 'expired' | 'busy'

/** Label of the nonce MAC (version 1). */
export const nonceMacLabel = 'regent-kms-nonce/v1'

/**
 * KMS-issued single-use nonces. Issuing keeps no state (docs/kms.md "Nonces"): a nonce is
 * `expiry (u64 BE, unix ms) ‖ counter (u64 BE) ‖ HMAC-SHA256(node secret, label ‖ 0x00 ‖ purpose ‖ 0x00 ‖ expiry ‖
 * counter)[0..16]`, so nobody can exhaust them and a nonce of another node (or purpose) is `unknown`. Only a
 * nonce whose request passed the quote check is remembered, as used, until it would have expired.
 */
export type NonceStore = {
  /** A fresh 32-byte nonce and its expiry. Never throws and never keeps state. */
  issue(): { nonce: Uint8Array; expiresAt: Date }
  /** What the nonce is now, without changing anything. */
  check(nonce: Uint8Array): NonceState
  /** Marks a valid nonce used and says what it was before; `busy` when the used set is full (nothing marked). */
  consume(nonce: Uint8Array): NonceState
  /** Used nonces remembered (those consumed and not yet expired). */
  size(): number
}

/**
 * Creates a stateless nonce store: issued nonces are a MAC under a per-store random secret, so a restart forgets
 * them (requests then fail with `nonce.unknown`); used ones are remembered until they expire, at most `maxUsed`.
 *
 * @example
 * const nonces = KeyRelease.createNonceStore({ purpose: 'keys', ttlMs: 60_000 })
 */
export function createNonceStore(
  options: {
    purpose?: string | undefined
    ttlMs?: number | undefined
    maxUsed?: number | undefined
    now?: (() => number) | undefined
    /** 32-byte MAC key. @default 32 random bytes */
    secret?: Uint8Array | undefined
  } = {},
): NonceStore {
  const ttl = options.ttlMs ?? 60_000
  const maxUsed = options.maxUsed ?? 1_000_000
  const now = options.now ?? Date.now
  const secret = Buffer.from(options.secret ?? randomBytes(32))
  const prefix = Buffer.from(`${nonceMacLabel}\0${options.purpose ?? 'keys'}\0`, 'utf8')
  let counter = 0n
  const used = new Map<string, number>()
  // Nonces whose MAC verified (their expiry): a request checks its nonce, then consumes it; one MAC for both.
  const valid = new Map<string, number>()
  const tag = (body: Uint8Array) => createHmac('sha256', secret).update(prefix).update(body).digest().subarray(0, 16)
  const sweep = (all: boolean) => {
    const t = now()
    for (const [key, expiresAt] of used) {
      if (expiresAt <= t) used.delete(key)
      else if (!all) break // mostly consumed in expiry order; a full sweep when the set is full catches the rest
    }
  }
  const state = (nonce: Uint8Array): { state: NonceState; expiresAt: number; key: string } => {
    const key = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('hex')
    if (nonce.length !== ReleaseRequest.nonceLength) return { state: 'unknown', expiresAt: 0, key }
    let expiresAt = valid.get(key)
    if (expiresAt === undefined) {
      const body = nonce.subarray(0, 16)
      if (!timingSafeEqual(tag(body), nonce.subarray(16))) return { state: 'unknown', expiresAt: 0, key }
      expiresAt = Number(Buffer.from(body.buffer, body.byteOffset, 8).readBigUInt64BE(0))
      if (valid.size >= 4096) valid.clear()
      valid.set(key, expiresAt)
    }
    if (used.has(key)) return { state: 'used', expiresAt, key }
    if (expiresAt <= now()) return { state: 'expired', expiresAt, key }
    return { state: 'ok', expiresAt, key }
  }
  return {
    issue() {
      const expiresAt = now() + ttl
      const body = Buffer.alloc(16)
      body.writeBigUInt64BE(BigInt(expiresAt), 0)
      body.writeBigUInt64BE(counter, 8)
      counter = (counter + 1n) & 0xffff_ffff_ffff_ffffn
      return { nonce: new Uint8Array(Buffer.concat([body, tag(body)])), expiresAt: new Date(expiresAt) }
    },
    check: (nonce) => state(nonce).state,
    consume(nonce) {
      sweep(false)
      const s = state(nonce)
      if (s.state !== 'ok') return s.state
      if (used.size >= maxUsed) {
        sweep(true)
        if (used.size >= maxUsed) return 'busy'
      }
      used.set(s.key, s.expiresAt)
      return 'ok'
    },
    size() {
      sweep(true)
      return used.size
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
  if (state === 'busy') return { status: 503, code: 'nonce.busy', message: 'Too many nonces are in use right now; try again shortly.' }
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

/** What {@link verifyRequest} needs from the node. */
export type VerifyConfig = {
  trustedRoots: readonly TrustedRoot[]
  collateral: CollateralSource
  now: () => Date
  /** Parsed event logs by their exact text ({@link createEventLogCache}); without it every request parses its log. */
  eventLogs?: EventLogCache | undefined
}

/**
 * Parsed event logs keyed by their exact JSON text (a CVM sends the same log until it emits an event). Only logs that
 * replayed to a verified quote's RTMRs are kept, so nothing an anonymous caller sends is ever cached.
 */
export type EventLogCache = {
  /** The parsed log of a text that replayed before, or undefined. */
  get(text: string): EventLog.EventLog | undefined
  /** Keeps a log that just replayed to a verified quote (dropped when the text alone exceeds the byte budget). */
  set(text: string, log: EventLog.EventLog): void
  /** Entries kept. */
  readonly size: number
}

/**
 * A bounded LRU of parsed event logs: at most `max` entries and `maxBytes` of log text in total. Parsing is a pure
 * function of the text, so a hit is exactly what a fresh parse would give; the replay against each quote's RTMRs
 * still runs for every request.
 *
 * @example
 * const eventLogs = KeyRelease.createEventLogCache({ max: 1024 })
 */
export function createEventLogCache(options: { max?: number; maxBytes?: number } = {}): EventLogCache {
  const entries = new Lru<string, EventLog.EventLog>(options.max ?? 1024, {
    weight: (_log, text) => text.length,
    maxWeight: options.maxBytes ?? 32 * 1024 * 1024,
  })
  return {
    get: (text) => entries.get(text),
    set(text, log) {
      if (!entries.has(text)) entries.set(text, log)
    },
    get size() {
      return entries.size
    },
  }
}

/** Attest reason codes that mean the quote's PCK chain or its collateral is not anchored at a trusted root. */
const untrustedCodes = new Set(['collateral.untrusted_root', 'pck.untrusted_root'])

/** What {@link verifyRequest} does between the quote check and the event log (the node consumes the nonce here). */
export type VerifyHooks = {
  /**
   * Called once the quote verified and its report_data binds this request's key and nonce, before anything of the
   * request is parsed or kept; a refusal returned here ends the request.
   */
  consume?: (() => Refusal | undefined) | undefined
}

/**
 * Verifies a parsed request's quote for `purpose` and reads its boot facts, in two stages:
 *
 * 1. the quote alone: DCAP under the trusted roots (the PCK chain anchored by attest's one rule,
 *    `CertChain.anchorOf`: the quote's last certificate is a trusted root or is issued by one — the root may be
 *    left out) and report_data = ReleaseRequest.toReportData(purpose, ephemeral key, nonce). Nothing of the request
 *    is kept before this passes.
 * 2. then `hooks.consume`, then the event log (parsed, or from the cache of logs that replayed before), its RTMR3
 *    replay to the quote, the app info and the boot-time measurements.
 *
 * The OS image is not read here: {@link resolveOsImage} looks it up on-chain from `mrSystem`.
 *
 * Refusal codes in order of precedence: `untrusted_root`, `quote.invalid`, `quote.binding`, (the hook's),
 * `eventlog.replay`, `eventlog.app_info`.
 *
 * @example
 * const result = await KeyRelease.verifyRequest(config, request, 'keys')
 * if ('code' in result) refuse(result)
 */
export async function verifyRequest(
  config: VerifyConfig,
  request: ReleaseRequest.Request,
  purpose: ReleaseRequest.Purpose,
  options: { quoteHash?: string | undefined } & VerifyHooks = {},
): Promise<Facts | Refusal> {
  const expected = ReleaseRequest.toReportData({ purpose, ephemeralPublicKey: request.ephemeralPublicKey, nonce: request.nonce })
  // Stage 1: the quote and its binding, and nothing else of the request.
  const verdict = await verifyQuote(request.quote, {
    collateral: await config.collateral(request.quote),
    now: config.now(),
    trustedRoots: config.trustedRoots,
    policy: { expectedReportData: expected },
  })
  const codes = verdict.reasons.map((r) => r.code)
  const message = (filter: (code: string) => boolean) =>
    verdict.reasons
      .filter((r) => filter(r.code))
      .map((r) => `${r.code}: ${r.message}`)
      .join(' ')
  if (codes.some((c) => untrustedCodes.has(c)))
    return { status: 403, code: 'untrusted_root', message: 'The quote does not chain to a root this node trusts.' }
  const crypto = codes.filter((c) => !c.startsWith('policy.'))
  if (crypto.length > 0 || !verdict.verified || verdict.tee !== 'tdx')
    return { status: 403, code: 'quote.invalid', message: `The quote does not verify. ${message((c) => !c.startsWith('policy.'))}`.trim() }
  if (codes.includes('policy.report_data'))
    return {
      status: 403,
      code: 'quote.binding',
      message: `The quote's report_data does not commit to this request's ephemeral key and nonce (${ReleaseRequest.reportDataLabels[purpose]}).`,
    }
  if (codes.length > 0) return { status: 403, code: 'quote.invalid', message: `The quote fails the node's policy. ${message(() => true)}` }

  // Stage 2: a genuine quote bound to this request.
  const consumed = options.consume?.()
  if (consumed) return consumed
  const m = verdict.measurements as TdxMeasurements
  const rtmrs = [m.rtmr0, m.rtmr1, m.rtmr2, m.rtmr3].map((h) => Buffer.from(h, 'hex'))
  let log = config.eventLogs?.get(request.eventLog)
  try {
    if (log) EventLog.assert(log, { rtmrs })
    else {
      log = EventLog.parse(request.eventLog)
      EventLog.assert(log, { rtmrs })
      config.eventLogs?.set(request.eventLog, log)
    }
  } catch (error) {
    const reason =
      error instanceof Error && 'shortMessage' in error ? String((error as { shortMessage: unknown }).shortMessage) : 'does not parse'
    return {
      status: 403,
      code: 'eventlog.replay',
      message: `The event log does not replay to the quoted RTMRs. policy.event_log: ${reason}`,
    }
  }
  const app = EventLog.appInfo(log)
  if (!app.appId || !app.composeHash || app.appId.length !== 20 || app.composeHash.length !== 32)
    return {
      status: 403,
      code: 'eventlog.app_info',
      message: 'The replayed event log does not name an app-id (20 bytes) and a compose-hash (32 bytes).',
    }
  const instanceId = app.instanceId ?? new Uint8Array(0)
  if (instanceId.length !== 0 && instanceId.length !== 20)
    return { status: 403, code: 'eventlog.app_info', message: `The instance-id event must be 20 bytes or empty, got ${instanceId.length}.` }
  const derived = bootMeasurements({ measurements: m, eventLog: log })
  return {
    appId: hex(app.appId),
    composeHash: hex(app.composeHash),
    instanceId: hex(instanceId),
    osImageHash: '',
    mrAggregated: derived.mrAggregated,
    mrSystem: derived.mrSystem,
    tcbStatus: verdict.status as TcbInfo.Status,
    advisoryIds: verdict.advisoryIds,
    quoteHash: options.quoteHash ?? createHash('sha256').update(request.quote).digest('hex'),
    hardware: verdict.hardware,
  }
}

/** The app id under which RegentAppAuth keeps the KMS nodes' own OS images (`KMS_IMAGES`). */
export const kmsImagesTable = '0x0000000000000000000000000000000000000000' as const satisfies Address

/**
 * The OS image of verified facts, from RegentAppAuth (`osImageOfMeasurement(table, mrSystem)` at the latest block):
 * the approved image of `table` (the app id, or {@link kmsImagesTable} for onboarding) whose measurements the
 * quote's MRTD/RTMR0–2 are. The requester's claim (`vmConfig.os_image_hash`) is never used to decide; when it names
 * another image the request is refused as well. `os_image.measurement` when the measurements are no approved
 * image's (or the claim disagrees), `chain.unavailable` when the chain cannot be read.
 *
 * @example
 * const withImage = await KeyRelease.resolveOsImage({ appAuth, facts, table: `0x${facts.appId}`, claimed: request.claimedOsImageHash })
 */
export async function resolveOsImage(options: {
  appAuth: AppAuth
  facts: Facts
  table: Address
  claimed?: string | undefined
  /** The block to read at (the request's, from `appAuth.latestBlock()`); default the latest. */
  block?: bigint | undefined
}): Promise<Facts | Refusal> {
  const { facts } = options
  let image: { osImageHash: string }
  try {
    image = await options.appAuth.osImageOf(options.table, `0x${facts.mrSystem}`, options.block)
  } catch {
    return { status: 503, code: 'chain.unavailable', message: 'RegentAppAuth could not be read; nothing was released.' }
  }
  const whose = options.table === kmsImagesTable ? 'the KMS nodes' : `app 0x${facts.appId}`
  if (image.osImageHash === '')
    return {
      status: 403,
      code: 'os_image.measurement',
      message: `The quote's MRTD/RTMR0-2 (mr_system ${facts.mrSystem}) are not a measurement of any OS image approved for ${whose}.`,
    }
  if (options.claimed !== undefined && options.claimed !== image.osImageHash)
    return {
      status: 403,
      code: 'os_image.measurement',
      message: `vm_config names OS image ${options.claimed}, but the quote's MRTD/RTMR0-2 are those of ${image.osImageHash}.`,
    }
  return { ...facts, osImageHash: image.osImageHash }
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
  /** The latest block number (concurrent callers share one `eth_blockNumber`): pass it to the reads of one request. */
  latestBlock(): Promise<bigint>
  /**
   * `osImageOfMeasurement(table, mrSystem)` at `block` (default: the latest): the approved OS image (lowercase hex, ''
   * for none) whose measurement this is, for app `table` (or the KMS table, app id 0).
   */
  osImageOf(table: Address, mrSystem: Hex, block?: bigint): Promise<{ osImageHash: string; activatesAt: bigint; block: bigint }>
  /** `isAppAllowedWithKms(bootInfo, kmsRoot)` at `block` (default: the latest). */
  isAppAllowedWithKms(bootInfo: BootInfo, kmsRoot: Address, block?: bigint): Promise<{ allowed: boolean; reason: string; block: bigint }>
  /** `isKmsAllowed(bootInfo)` at `block` (default: the latest). */
  isKmsAllowed(bootInfo: BootInfo, block?: bigint): Promise<{ allowed: boolean; reason: string; block: bigint }>
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
  const answers = new Map<string, Promise<unknown>>()
  const latest = () => {
    pendingBlock ??= client.getBlockNumber({ cacheTime: 0 }).finally(() => {
      pendingBlock = undefined
    })
    return pendingBlock
  }
  const read = async <T>(
    functionName: 'isAppAllowedWithKms' | 'isKmsAllowed' | 'osImageOfMeasurement',
    args: readonly unknown[],
    shape: (answer: never, block: bigint) => T,
    at: bigint | undefined,
  ): Promise<T> => {
    const block = at ?? (await latest())
    if (block > cachedBlock) {
      cachedBlock = block
      answers.clear()
    }
    const key = `${block}:${functionName}:${JSON.stringify(args)}`
    const useCache = options.cache !== false && block === cachedBlock
    const hit = useCache ? (answers.get(key) as Promise<T> | undefined) : undefined
    if (hit) return hit
    const answer = (
      client.readContract({ address, abi: regentAppAuthAbi, functionName, args, blockNumber: block } as never) as Promise<never>
    ).then((raw) => shape(raw, block))
    if (useCache) {
      answers.set(key, answer)
      answer.catch(() => answers.delete(key))
    }
    return answer
  }
  const decision = ([allowed, reason]: readonly [boolean, string], block: bigint) => ({ allowed, reason, block })
  return {
    latestBlock: latest,
    osImageOf: (table, mrSystem, block) =>
      read(
        'osImageOfMeasurement',
        [table, mrSystem],
        ([hash, activatesAt]: readonly [Hex, bigint], at) => ({
          osImageHash: /^0x0{64}$/.test(hash) ? '' : hash.slice(2).toLowerCase(),
          activatesAt,
          block: at,
        }),
        block,
      ),
    isAppAllowedWithKms: (bootInfo, kmsRoot, block) => read('isAppAllowedWithKms', [bootInfo, kmsRoot], decision, block),
    isKmsAllowed: (bootInfo, block) => read('isKmsAllowed', [bootInfo], decision, block),
  }
}

const contractReasons: Record<string, string> = {
  'App not registered': 'app.not_registered',
  'Compose hash not allowed': 'measurement.not_approved',
  'Compose hash pending timelock': 'measurement.timelock',
  'OS image is not allowed': 'os_image.not_approved',
  'OS image pending timelock': 'os_image.timelock',
  'OS image measurement mismatch': 'os_image.measurement',
  'OS image measurement pending timelock': 'os_image.timelock',
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
