/**
 * dstack's `VersionedAttestation`, legacy SCALE "V0" form — what real dstack 0.5.x guest agents return from
 * `Attest` (dstack.md §4.7; dstack-attest `attestation.rs`):
 *
 *   0x00 (V0) ‖ 0x00 (AttestationQuote::DstackTdx) ‖ quote: Vec<u8> ‖ event_log: Vec<TdxEvent> ‖
 *   runtime_events: Vec<{ event: String, payload: Vec<u8> }> ‖ report_data: [u8; 64] ‖ config: String
 *
 * TdxEvent = imr u32 LE ‖ event_type u32 LE ‖ digest Vec<u8> ‖ event String ‖ event_payload Vec<u8>. Vec and
 * String lengths are SCALE compact integers (low two bits: 0 → 6-bit, 1 → 14-bit u16 LE, 2 → 30-bit u32 LE).
 */
import { BaseError, type EventLog } from '@regent-tee/attest'
import { concat } from './DstackKeys.js'

/** The decoded V0 attestation. */
export type Attestation = {
  readonly quote: Uint8Array
  readonly eventLog: readonly EventLog.Event[]
  readonly runtimeEvents: readonly EventLog.RuntimeEvent[]
  readonly reportData: Uint8Array
  readonly config: string
}

const encoder = new TextEncoder()

/**
 * Serializes a V0 attestation.
 *
 * @throws {InvalidAttestationError} when report data is not 64 bytes.
 * @example
 * const bytes = Attestation.serialize({ quote, eventLog, runtimeEvents, reportData, config: vmConfig })
 */
export function serialize(a: Attestation): Uint8Array {
  if (a.reportData.length !== 64) throw new InvalidAttestationError({ reason: 'report_data must be 64 bytes' })
  const bytes = (b: Uint8Array) => concat(compact(b.length), b)
  const string = (s: string) => bytes(encoder.encode(s))
  const u32 = (n: number) => {
    const out = new Uint8Array(4)
    new DataView(out.buffer).setUint32(0, n, true)
    return out
  }
  return concat(
    Uint8Array.of(0x00, 0x00),
    bytes(a.quote),
    compact(a.eventLog.length),
    ...a.eventLog.map((e) => concat(u32(e.imr), u32(e.eventType), bytes(e.digest ?? new Uint8Array(0)), string(e.event), bytes(e.payload))),
    compact(a.runtimeEvents.length),
    ...a.runtimeEvents.map((e) => concat(string(e.name), bytes(e.payload))),
    a.reportData,
    string(a.config),
  )
}

/**
 * Parses a V0 attestation.
 *
 * @throws {InvalidAttestationError} naming the offset of the first malformed field, or for another version.
 * @example
 * const { quote, runtimeEvents } = Attestation.parse(bytes)
 */
export function parse(input: Uint8Array): Attestation {
  let at = 0
  const fail = (reason: string): never => {
    throw new InvalidAttestationError({ reason: `${reason} at offset ${at}` })
  }
  const take = (n: number) => {
    if (at + n > input.length) fail(`truncated (need ${n} bytes)`)
    const out = input.slice(at, at + n)
    at += n
    return out
  }
  const byte = () => take(1)[0] as number
  const length = (): number => {
    const first = input[at]
    if (first === undefined) return fail('truncated compact length')
    const mode = first & 3
    if (mode === 0) return byte() >> 2
    if (mode === 1) {
      const b = take(2)
      return ((b[0] as number) | ((b[1] as number) << 8)) >>> 2
    }
    if (mode === 2) return new DataView(take(4).buffer).getUint32(0, true) >>> 2
    return fail('unsupported big-integer compact length')
  }
  const bytes = () => take(length())
  const string = () => new TextDecoder('utf-8', { fatal: true }).decode(bytes())
  const u32 = () => new DataView(take(4).buffer).getUint32(0, true)
  if (byte() !== 0) fail('not a V0 (SCALE) attestation')
  if (byte() !== 0) fail('not a DstackTdx attestation')
  const quote = bytes()
  const eventLog: EventLog.Event[] = []
  for (let n = length(); n > 0; n--) {
    const imr = u32()
    if (imr > 3) fail(`imr ${imr} out of range`)
    const eventType = u32()
    const digest = bytes()
    const event = string()
    const payload = bytes()
    eventLog.push({ imr: imr as 0 | 1 | 2 | 3, eventType, ...(digest.length > 0 ? { digest } : {}), event, payload, version: 1 })
  }
  const runtimeEvents: EventLog.RuntimeEvent[] = []
  for (let n = length(); n > 0; n--) runtimeEvents.push({ name: string(), payload: bytes() })
  const reportData = take(64)
  const config = string()
  if (at !== input.length) fail('trailing bytes')
  return { quote, eventLog, runtimeEvents, reportData, config }
}

function compact(n: number): Uint8Array {
  if (n < 1 << 6) return Uint8Array.of(n << 2)
  if (n < 1 << 14) return Uint8Array.of(((n << 2) | 1) & 0xff, (n << 2) >> 8)
  if (n < 1 << 30) {
    const out = new Uint8Array(4)
    new DataView(out.buffer).setUint32(0, ((n << 2) | 2) >>> 0, true)
    return out
  }
  throw new InvalidAttestationError({ reason: `length ${n} is too large` })
}

/** The bytes are not a dstack V0 attestation of a TDX quote. */
export class InvalidAttestationError extends BaseError {
  override name = 'Attestation.InvalidAttestationError'
  constructor({ reason }: { reason: string }) {
    super(`Invalid dstack attestation: ${reason}.`)
  }
}
