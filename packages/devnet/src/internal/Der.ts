/**
 * A minimal ASN.1 DER writer (ITU-T X.690 §8 and §10): definite minimal lengths, minimal INTEGER
 * encodings, RFC 5280 §4.1.2.5 times (UTCTime through 2049, GeneralizedTime from 2050, Zulu, whole
 * seconds). Enough to build X.509 v3 certificates, v2 CRLs and the Intel SGX PCK extensions.
 *
 * Every function returns one complete TLV; compose them by nesting. Internal: never exported from the package.
 */
import { concat as concatBytes } from '@regent-tee/core'

/** Universal tag numbers (with the constructed bit for SEQUENCE / SET). */
export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  enumerated: 0x0a,
  utf8String: 0x0c,
  sequence: 0x30,
  set: 0x31,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
} as const

/** Concatenates byte arrays (core's concat, variadic for the encoders below). */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  return concatBytes(parts)
}

/** One TLV with a single-byte identifier `tag` (class, constructed bit and low tag number). */
export function tlv(tag: number, value: Uint8Array): Uint8Array {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f)
    throw new RangeError(`DER tag ${tag} is not a low-tag-number identifier`)
  return concat(Uint8Array.of(tag), length(value.length), value)
}

function length(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n)
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Uint8Array.from([0x80 | bytes.length, ...bytes])
}

/**
 * An INTEGER. A number or bigint is encoded in minimal two's complement; a Uint8Array is taken as the
 * unsigned big-endian magnitude (certificate serials) and encoded minimally (leading zeros dropped, a 0x00
 * prepended when the top bit is set).
 */
export function integer(value: number | bigint | Uint8Array): Uint8Array {
  if (value instanceof Uint8Array) {
    let start = 0
    while (start < value.length - 1 && value[start] === 0) start++
    const magnitude = value.length === 0 ? Uint8Array.of(0) : value.subarray(start)
    return tlv(Tag.integer, (magnitude[0] as number) & 0x80 ? concat(Uint8Array.of(0), magnitude) : magnitude)
  }
  return tlv(Tag.integer, twosComplement(BigInt(value)))
}

/** An ENUMERATED (same content rules as INTEGER). */
export function enumerated(value: number): Uint8Array {
  return tlv(Tag.enumerated, twosComplement(BigInt(value)))
}

function twosComplement(n: bigint): Uint8Array {
  const bytes: number[] = []
  let v = n
  for (;;) {
    const byte = Number(v & 0xffn)
    bytes.unshift(byte)
    v >>= 8n
    // Stop when the remaining value is pure sign extension of the byte just written.
    if ((v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0)) break
  }
  return Uint8Array.from(bytes)
}

/** A BOOLEAN (DER: FF for true, 00 for false). */
export function boolean(value: boolean): Uint8Array {
  return tlv(Tag.boolean, Uint8Array.of(value ? 0xff : 0x00))
}

/** NULL. */
export function nil(): Uint8Array {
  return tlv(Tag.null, new Uint8Array(0))
}

/** An OBJECT IDENTIFIER from dotted form (e.g. `1.2.840.10045.4.3.2`). */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`OID "${dotted}" has a non-numeric arc`)
    return BigInt(a)
  })
  const [first, second, ...rest] = arcs
  if (first === undefined || second === undefined || first > 2n || (first < 2n && second >= 40n))
    throw new RangeError(`OID "${dotted}" is not a valid object identifier`)
  const out: number[] = []
  for (const arc of [first * 40n + second, ...rest]) {
    const groups: number[] = [Number(arc & 0x7fn)]
    for (let v = arc >> 7n; v > 0n; v >>= 7n) groups.unshift(Number(v & 0x7fn) | 0x80)
    out.push(...groups)
  }
  return tlv(Tag.oid, Uint8Array.from(out))
}

/** An OCTET STRING. */
export function octetString(value: Uint8Array): Uint8Array {
  return tlv(Tag.octetString, value)
}

/** A BIT STRING whose last byte has `unusedBits` unused low bits (0 for keys and signatures). */
export function bitString(value: Uint8Array, unusedBits = 0): Uint8Array {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (value.length === 0 && unusedBits !== 0))
    throw new RangeError(`BIT STRING unused bits ${unusedBits} is invalid`)
  return tlv(Tag.bitString, concat(Uint8Array.of(unusedBits), value))
}

/**
 * A named-bit BIT STRING (e.g. keyUsage, RFC 5280 §4.2.1.3) from bit positions (bit 0 = first, most
 * significant bit), DER-minimal: trailing zero bits removed (X.690 §11.2.2).
 */
export function namedBits(bits: readonly number[]): Uint8Array {
  if (bits.length === 0) return bitString(new Uint8Array(0))
  const highest = Math.max(...bits)
  const bytes = new Uint8Array((highest >> 3) + 1)
  for (const b of bits) bytes[b >> 3] = (bytes[b >> 3] as number) | (0x80 >> (b & 7))
  return bitString(bytes, 7 - (highest & 7))
}

/** A SEQUENCE of already-encoded elements. */
export function sequence(...items: readonly Uint8Array[]): Uint8Array {
  return tlv(Tag.sequence, concat(...items))
}

/** A SET of already-encoded elements, sorted by encoding as DER requires for SET OF (X.690 §11.6). */
export function set(...items: readonly Uint8Array[]): Uint8Array {
  const sorted = [...items].sort(compareBytes)
  return tlv(Tag.set, concat(...sorted))
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number)
  return a.length - b.length
}

/** A UTF8String. */
export function utf8String(value: string): Uint8Array {
  return tlv(Tag.utf8String, new TextEncoder().encode(value))
}

/** A PrintableString (X.680 §41.4 character set only). */
export function printableString(value: string): Uint8Array {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value)) throw new RangeError(`"${value}" is not a PrintableString`)
  return tlv(Tag.printableString, new TextEncoder().encode(value))
}

/** An IA5String (ASCII). */
export function ia5String(value: string): Uint8Array {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: IA5 is exactly the 7-bit range.
  if (!/^[\x00-\x7f]*$/.test(value)) throw new RangeError(`"${value}" is not an IA5String`)
  return tlv(Tag.ia5String, new TextEncoder().encode(value))
}

/** A UTCTime `YYMMDDHHMMSSZ` (years 1950–2049; sub-second precision is dropped). */
export function utcTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear()
  if (year < 1950 || year > 2049) throw new RangeError(`UTCTime cannot encode year ${year}`)
  return tlv(Tag.utcTime, new TextEncoder().encode(`${pad(year % 100)}${timeOfYear(date)}Z`))
}

/** A GeneralizedTime `YYYYMMDDHHMMSSZ` (sub-second precision is dropped). */
export function generalizedTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear()
  if (year < 0 || year > 9999) throw new RangeError(`GeneralizedTime cannot encode year ${year}`)
  return tlv(Tag.generalizedTime, new TextEncoder().encode(`${String(year).padStart(4, '0')}${timeOfYear(date)}Z`))
}

/** A Time as RFC 5280 §4.1.2.5 requires: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Uint8Array {
  return date.getUTCFullYear() < 2050 ? utcTime(date) : generalizedTime(date)
}

function timeOfYear(d: Date): string {
  return `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

/** A context-specific EXPLICIT tag `[n]` wrapping one encoded element (always constructed). */
export function explicit(n: number, inner: Uint8Array): Uint8Array {
  return tlv(contextTag(n, true), inner)
}

/**
 * A context-specific IMPLICIT tag `[n]`: the element's own identifier is replaced, its contents kept.
 * `inner` must be a complete TLV; the constructed bit is carried over from it.
 */
export function implicit(n: number, inner: Uint8Array): Uint8Array {
  const first = inner[0]
  if (first === undefined) throw new RangeError('IMPLICIT tagging needs an encoded element')
  const out = Uint8Array.from(inner)
  out[0] = contextTag(n, (first & 0x20) !== 0)
  return out
}

function contextTag(n: number, constructed: boolean): number {
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new RangeError(`context tag [${n}] is out of range`)
  return 0x80 | (constructed ? 0x20 : 0) | n
}
