/**
 * The dstack event log (`event_log` of a guest-agent GetQuote response) and RTMR replay.
 *
 * Spec: dstack `cc-eventlog/src/{tdx,runtime_events}.rs` (TdxEvent JSON: imr 0-based, event_type,
 * digest hex, event name, event_payload hex; HEAD adds version 2 and preimage) and
 * `dstack-attest/src/attestation.rs` (`find_event`: first occurrence, stop at `system-ready`).
 *
 * Replay: each RTMR starts as 48 zero bytes and `rtmr = SHA-384(rtmr ‖ digest)`. For RTMR0..2 (boot
 * events, payloads stripped by dstack ≥ 0.5.6) the logged digest is used, zero-padded to 48 bytes.
 * For RTMR3 the host's digest is NEVER used: it is recomputed from the event type, name and payload —
 * V1: `SHA-384(u32le(event_type) ‖ ":" ‖ name ‖ ":" ‖ payload)`; V2 (events marked `version: 2`):
 * `SHA-384(JCS {"name","payload": lowercase hex,"type"})` — and a non-empty host digest that disagrees
 * is a {@link DigestMismatchError}.
 */
import { createHash } from 'node:crypto'
import { BaseError } from './errors.js'
import { equals, toHex } from './internal/Bytes.js'

/** Event type of dstack runtime (RTMR3) events, 0x08000001. */
export const runtimeEventType = 0x08000001

/** One event of the log. */
export type Event = {
  /** Register index, 0-based (0 → RTMR0 … 3 → RTMR3). */
  imr: 0 | 1 | 2 | 3
  eventType: number
  /** The digest the host sent; absent when stripped (empty string). Never trusted for RTMR3. */
  digest?: Uint8Array
  /** Event name (empty for boot events). */
  event: string
  /** Event payload (empty when stripped). */
  payload: Uint8Array
  /** Digest format of a runtime event: 1 (legacy) or 2. */
  version: 1 | 2
}

export type EventLog = readonly Event[]

/** RTMR0..RTMR3. */
export type Rtmrs = readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array]

/** A runtime (RTMR3) event's name and payload. */
export type RuntimeEvent = { name: string; payload: Uint8Array }

/** What the RTMR3 events say about the app (dstack OS 0.5.x sequence). */
export type AppInfo = {
  appId: Uint8Array | undefined
  composeHash: Uint8Array | undefined
  instanceId: Uint8Array | undefined
  osImageHash: Uint8Array | undefined
  mrKms: Uint8Array | undefined
  keyProvider: { name: string; id: string; payload: Uint8Array } | undefined
  storageFs: string | undefined
  /** Whether `boot-mr-done` / `system-ready` were logged. */
  bootMrDone: boolean
  systemReady: boolean
  /** Runtime events up to and including `system-ready` (what the identity is read from). */
  events: readonly RuntimeEvent[]
  /** Runtime events after `system-ready` (app events; cannot override identity events). */
  appEvents: readonly RuntimeEvent[]
}

/**
 * Parses the event log JSON (the `event_log` string of GetQuote, or the already-decoded array).
 *
 * @throws {InvalidEventLogError} Naming the entry index and field that is malformed.
 * @example
 * const log = EventLog.parse(response.event_log)
 */
export function parse(json: string | readonly unknown[]): EventLog {
  let value: unknown = json
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json)
    } catch (cause) {
      throw new InvalidEventLogError({ reason: 'not valid JSON', cause })
    }
  }
  if (!Array.isArray(value)) throw new InvalidEventLogError({ reason: 'expected a JSON array of events' })
  return value.map((entry, index): Event => {
    const fail = (field: string, reason: string): never => {
      throw new InvalidEventLogError({ reason: `entry ${index}, field "${field}": ${reason}` })
    }
    if (typeof entry !== 'object' || entry === null) return fail('(entry)', 'expected an object')
    const e = entry as Record<string, unknown>
    const imr = e.imr
    if (imr !== 0 && imr !== 1 && imr !== 2 && imr !== 3) fail('imr', `expected 0, 1, 2 or 3, got ${JSON.stringify(imr)}`)
    const eventType = e.event_type
    if (typeof eventType !== 'number' || !Number.isInteger(eventType) || eventType < 0 || eventType > 0xffffffff)
      fail('event_type', `expected a u32, got ${JSON.stringify(eventType)}`)
    const event = e.event ?? ''
    if (typeof event !== 'string') fail('event', 'expected a string')
    const version = e.version ?? 1
    if (version !== 1 && version !== 2) fail('version', `expected 1 or 2, got ${JSON.stringify(version)}`)
    const digest = hexField(e.digest, 'digest', fail)
    if (digest.length > 48) fail('digest', `expected at most 48 bytes, got ${digest.length}`)
    const payload = hexField(e.event_payload, 'event_payload', fail)
    return {
      imr: imr as Event['imr'],
      eventType: eventType as number,
      ...(digest.length > 0 ? { digest } : {}),
      event: event as string,
      payload,
      version: version as 1 | 2,
    }
  })
}

/**
 * The RTMR3 digest of a dstack runtime event, computed from its name and payload.
 *
 * @param options.version - 1 (legacy, default) or 2.
 * @example
 * EventLog.runtimeEventDigest({ name: 'app-id', payload: appId })
 */
export function runtimeEventDigest(options: { name: string; payload: Uint8Array; eventType?: number; version?: 1 | 2 }): Uint8Array {
  const eventType = options.eventType ?? runtimeEventType
  if (options.version === 2) {
    // JCS: keys sorted, no whitespace; JSON.stringify of a string is its JCS form.
    const json = `{"name":${JSON.stringify(options.name)},"payload":"${toHex(options.payload)}","type":${eventType}}`
    return sha384(new TextEncoder().encode(json))
  }
  const name = new TextEncoder().encode(options.name)
  const preimage = new Uint8Array(4 + 1 + name.length + 1 + options.payload.length)
  new DataView(preimage.buffer).setUint32(0, eventType, true)
  preimage[4] = 0x3a
  preimage.set(name, 5)
  preimage[5 + name.length] = 0x3a
  preimage.set(options.payload, 6 + name.length)
  return sha384(preimage)
}

/**
 * Replays the log into RTMR0..RTMR3 (RTMR3 from recomputed digests only).
 *
 * @throws {DigestMismatchError} When the host sent an RTMR3 digest that differs from the recomputed one.
 * @throws {InvalidEventLogError} When an RTMR0..2 event has no digest, or an RTMR3 event is not a dstack runtime event.
 * @example
 * const [rtmr0, rtmr1, rtmr2, rtmr3] = EventLog.replay(log)
 */
export function replay(log: EventLog): Rtmrs {
  const rtmrs: Uint8Array[] = [new Uint8Array(48), new Uint8Array(48), new Uint8Array(48), new Uint8Array(48)]
  log.forEach((e, index) => {
    let digest: Uint8Array
    if (e.imr === 3) {
      if (e.eventType !== runtimeEventType)
        throw new InvalidEventLogError({
          reason: `entry ${index} extends RTMR3 with event type 0x${e.eventType.toString(16)}; only dstack runtime events (0x08000001) can be recomputed`,
        })
      digest = runtimeEventDigest({ name: e.event, payload: e.payload, eventType: e.eventType, version: e.version })
      if (e.digest && !equals(e.digest, digest)) throw new DigestMismatchError({ index, name: e.event, sent: e.digest, recomputed: digest })
    } else {
      if (!e.digest) throw new InvalidEventLogError({ reason: `entry ${index} (RTMR${e.imr}) has no digest` })
      digest = new Uint8Array(48)
      digest.set(e.digest)
    }
    rtmrs[e.imr] = sha384(rtmrs[e.imr] as Uint8Array, digest)
  })
  return rtmrs as unknown as Rtmrs
}

/**
 * Replays the log and asserts it reproduces the given registers (e.g. `Quote.rtmrs(quote)`).
 *
 * @param options.rtmrs - The registers from the quote.
 * @param options.registers - Which to compare (default all four).
 * @throws {RtmrMismatchError} With both values, for the first register that differs.
 * @throws As {@link replay}.
 * @example
 * EventLog.assert(log, { rtmrs: Quote.rtmrs(quote) })
 */
export function assert(log: EventLog, options: { rtmrs: readonly Uint8Array[]; registers?: readonly (0 | 1 | 2 | 3)[] }): void {
  const replayed = replay(log)
  for (const i of options.registers ?? [0, 1, 2, 3]) {
    const expected = options.rtmrs[i]
    const actual = replayed[i]
    if (!expected || !actual || !equals(expected, actual))
      throw new RtmrMismatchError({ index: i, quoted: expected ?? new Uint8Array(0), replayed: actual ?? new Uint8Array(0) })
  }
}

/** Like {@link assert} but returns a boolean (false on any error). */
export function validate(log: EventLog, options: { rtmrs: readonly Uint8Array[]; registers?: readonly (0 | 1 | 2 | 3)[] }): boolean {
  try {
    assert(log, options)
    return true
  } catch {
    return false
  }
}

/** The runtime (RTMR3) events, in order. */
export function runtimeEvents(log: EventLog): RuntimeEvent[] {
  return log.filter((e) => e.imr === 3 && e.eventType === runtimeEventType).map((e) => ({ name: e.event, payload: e.payload }))
}

/**
 * Extracts app-id, compose-hash, instance-id, os-image-hash, mr-kms, key-provider and storage-fs from
 * the runtime events (first occurrence of each name, none after `system-ready`, as dstack does).
 * Only meaningful after {@link assert} has matched RTMR3 against a verified quote.
 *
 * @throws {InvalidEventLogError} When an identity event has the wrong size or key-provider is not `{name,id}` JSON.
 * @example
 * const { composeHash, appId } = EventLog.appInfo(log)
 */
export function appInfo(log: EventLog): AppInfo {
  const all = runtimeEvents(log)
  const readyAt = all.findIndex((e) => e.name === 'system-ready')
  const events = readyAt < 0 ? all : all.slice(0, readyAt + 1)
  const find = (name: string, sizes?: readonly number[]): Uint8Array | undefined => {
    const found = events.find((e) => e.name === name)?.payload
    if (found && sizes && !sizes.includes(found.length))
      throw new InvalidEventLogError({ reason: `event "${name}" has a ${found.length}-byte payload (expected ${sizes.join(' or ')})` })
    return found
  }
  const kp = find('key-provider')
  let keyProvider: AppInfo['keyProvider']
  if (kp) {
    let parsed: unknown
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(kp))
    } catch (cause) {
      throw new InvalidEventLogError({ reason: 'event "key-provider" is not UTF-8 JSON', cause })
    }
    const { name, id } = (parsed ?? {}) as { name?: unknown; id?: unknown }
    if (typeof name !== 'string' || typeof id !== 'string')
      throw new InvalidEventLogError({ reason: 'event "key-provider" is not {"name": string, "id": string}' })
    keyProvider = { name, id, payload: kp }
  }
  const storageFs = find('storage-fs')
  return {
    appId: find('app-id', [20]),
    composeHash: find('compose-hash', [32]),
    instanceId: find('instance-id', [0, 20]),
    osImageHash: find('os-image-hash'),
    mrKms: find('mr-kms'),
    keyProvider,
    storageFs: storageFs && new TextDecoder().decode(storageFs),
    bootMrDone: events.some((e) => e.name === 'boot-mr-done'),
    systemReady: readyAt >= 0,
    events,
    appEvents: readyAt < 0 ? [] : all.slice(readyAt + 1),
  }
}

/** SHA-384 (FIPS 180-4) of the concatenated parts, by node:crypto, as a plain Uint8Array. */
function sha384(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha384')
  for (const part of parts) hash.update(part)
  return new Uint8Array(hash.digest())
}

function hexField(value: unknown, field: string, fail: (field: string, reason: string) => never): Uint8Array {
  if (value === undefined || value === null || value === '') return new Uint8Array(0)
  if (typeof value !== 'string') return fail(field, 'expected a hex string')
  const hex = value.startsWith('0x') ? value.slice(2) : value
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) return fail(field, 'expected a hex string')
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/** Thrown when the event log JSON is malformed or cannot be replayed. */
export class InvalidEventLogError extends BaseError {
  override name = 'EventLog.InvalidEventLogError'

  constructor({ reason, cause }: { reason: string; cause?: unknown }) {
    super(`Invalid event log: ${reason}.`, cause === undefined ? {} : { cause })
  }
}

/** Thrown when the host's digest of a runtime event differs from the one recomputed from its name and payload. */
export class DigestMismatchError extends BaseError {
  override name = 'EventLog.DigestMismatchError'
  readonly index: number
  readonly sent: Uint8Array
  readonly recomputed: Uint8Array

  constructor({ index, name, sent, recomputed }: { index: number; name: string; sent: Uint8Array; recomputed: Uint8Array }) {
    super(`Event log entry ${index} ("${name}"): the sent digest does not match the digest recomputed from its name and payload.`, {
      metaMessages: [`sent:       ${toHex(sent)}`, `recomputed: ${toHex(recomputed)}`],
    })
    this.index = index
    this.sent = sent
    this.recomputed = recomputed
  }
}

/** Thrown when the replayed register differs from the quoted one. */
export class RtmrMismatchError extends BaseError {
  override name = 'EventLog.RtmrMismatchError'
  readonly index: number
  readonly quoted: Uint8Array
  readonly replayed: Uint8Array

  constructor({ index, quoted, replayed }: { index: number; quoted: Uint8Array; replayed: Uint8Array }) {
    super(`RTMR${index} replayed from the event log does not match the quote.`, {
      metaMessages: [`quoted:   ${toHex(quoted)}`, `replayed: ${toHex(replayed)}`],
    })
    this.index = index
    this.quoted = quoted
    this.replayed = replayed
  }
}
