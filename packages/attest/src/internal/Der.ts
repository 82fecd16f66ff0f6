/**
 * A minimal, strict ASN.1 DER reader (ITU-T X.690 §8 and §10): definite lengths only, minimal length
 * encodings, no trailing bytes. Enough for X.509 certificates, CRLs (RFC 5280) and the Intel SGX PCK
 * certificate extensions. Every error names the byte offset (relative to the outermost input).
 *
 * Internal: never exported from the package.
 */
import { BaseError } from '../errors.js'

/** One decoded TLV. `offset` is absolute in the original input; `value` is a view, not a copy. */
export type Node = {
  /** Tag class: 0 universal, 1 application, 2 context-specific, 3 private. */
  readonly tagClass: number
  readonly constructed: boolean
  /** Tag number (low-tag form only; high-tag numbers are rejected, none occur in X.509). */
  readonly tag: number
  readonly offset: number
  /** The whole TLV (header and value). */
  readonly bytes: Uint8Array
  /** The value bytes. */
  readonly value: Uint8Array
  /** Absolute offset of the first value byte. */
  readonly valueOffset: number
}

/** Universal tag numbers used here. */
export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  enumerated: 0x0a,
  utf8String: 0x0c,
  sequence: 0x10,
  set: 0x11,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
} as const

/**
 * Reads exactly one TLV that spans all of `bytes`.
 *
 * @throws {InvalidDerError} on any malformed encoding or trailing bytes.
 */
export function parse(bytes: Uint8Array, baseOffset = 0): Node {
  const node = readAt(bytes, 0, baseOffset)
  if (node.bytes.length !== bytes.length)
    throw new InvalidDerError({ offset: baseOffset + node.bytes.length, reason: `${bytes.length - node.bytes.length} trailing bytes` })
  return node
}

/** Reads one TLV at `index` of `bytes` (absolute offsets are `baseOffset + index`). */
export function readAt(bytes: Uint8Array, index: number, baseOffset = 0): Node {
  const offset = baseOffset + index
  const first = bytes[index]
  if (first === undefined) throw new InvalidDerError({ offset, reason: 'unexpected end of input (tag)' })
  const tag = first & 0x1f
  if (tag === 0x1f) throw new InvalidDerError({ offset, reason: 'high-tag-number form is not supported' })
  const lengthByte = bytes[index + 1]
  if (lengthByte === undefined) throw new InvalidDerError({ offset: offset + 1, reason: 'unexpected end of input (length)' })
  let length: number
  let headerLength: number
  if (lengthByte < 0x80) {
    length = lengthByte
    headerLength = 2
  } else {
    const count = lengthByte & 0x7f
    if (count === 0) throw new InvalidDerError({ offset: offset + 1, reason: 'indefinite length is not DER' })
    if (count > 4) throw new InvalidDerError({ offset: offset + 1, reason: `length of ${count} bytes is too large` })
    if (index + 2 + count > bytes.length) throw new InvalidDerError({ offset: offset + 1, reason: 'unexpected end of input (length)' })
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[index + 2 + i] as number)
    if (bytes[index + 2] === 0 || length < 0x80)
      throw new InvalidDerError({ offset: offset + 1, reason: 'length is not minimally encoded' })
    headerLength = 2 + count
  }
  const end = index + headerLength + length
  if (end > bytes.length)
    throw new InvalidDerError({ offset, reason: `length ${length} exceeds the ${bytes.length - index - headerLength} remaining bytes` })
  return {
    tagClass: first >> 6,
    constructed: (first & 0x20) !== 0,
    tag,
    offset,
    bytes: bytes.subarray(index, end),
    value: bytes.subarray(index + headerLength, end),
    valueOffset: offset + headerLength,
  }
}

/** The children of a constructed node, in order. */
export function children(node: Node): Node[] {
  if (!node.constructed) throw new InvalidDerError({ offset: node.offset, reason: 'expected a constructed value' })
  const out: Node[] = []
  let index = 0
  while (index < node.value.length) {
    const child = readAt(node.value, index, node.valueOffset)
    out.push(child)
    index += child.bytes.length
  }
  return out
}

/** Asserts a universal tag (and constructed bit for SEQUENCE/SET); `name` appears in the error. */
export function expect(node: Node | undefined, tag: number, name: string, parentOffset = 0): Node {
  if (!node) throw new InvalidDerError({ offset: parentOffset, reason: `missing ${name}` })
  const constructed = tag === Tag.sequence || tag === Tag.set
  if (node.tagClass !== 0 || node.tag !== tag || node.constructed !== constructed)
    throw new InvalidDerError({ offset: node.offset, reason: `${name}: expected ${tagName(tag)}, got ${describe(node)}` })
  return node
}

/** Asserts a sequence and returns its children. */
export function sequence(node: Node | undefined, name: string, parentOffset = 0): Node[] {
  return children(expect(node, Tag.sequence, name, parentOffset))
}

/** True if `node` is context-specific `[n]`. */
export function isContext(node: Node | undefined, n: number): node is Node {
  return node !== undefined && node.tagClass === 2 && node.tag === n
}

/** An INTEGER as a bigint (two's complement, minimal encoding enforced). */
export function toBigInt(node: Node, name: string): bigint {
  expect(node, Tag.integer, name)
  const v = node.value
  if (v.length === 0) throw new InvalidDerError({ offset: node.offset, reason: `${name}: empty INTEGER` })
  if (v.length > 1 && ((v[0] === 0 && (v[1] as number) < 0x80) || (v[0] === 0xff && (v[1] as number) >= 0x80)))
    throw new InvalidDerError({ offset: node.offset, reason: `${name}: INTEGER is not minimally encoded` })
  let n = 0n
  for (const b of v) n = (n << 8n) | BigInt(b)
  if ((v[0] as number) >= 0x80) n -= 1n << BigInt(v.length * 8)
  return n
}

/** A small non-negative INTEGER (or ENUMERATED with `tag`) as a number. */
export function toNumber(node: Node, name: string, tag: number = Tag.integer): number {
  expect(node, tag, name)
  const n = toBigInt({ ...node, tag: Tag.integer }, name)
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER))
    throw new InvalidDerError({ offset: node.offset, reason: `${name}: ${n} is out of range` })
  return Number(n)
}

/** The magnitude of a non-negative INTEGER as uppercase hex without sign padding (certificate serials). */
export function toUnsignedHex(node: Node, name: string): string {
  const n = toBigInt(node, name)
  if (n < 0n) throw new InvalidDerError({ offset: node.offset, reason: `${name}: negative INTEGER` })
  const hex = n.toString(16).toUpperCase()
  return hex.length % 2 ? `0${hex}` : hex
}

/** An OBJECT IDENTIFIER in dotted form. */
export function toOid(node: Node, name: string): string {
  expect(node, Tag.oid, name)
  const v = node.value
  if (v.length === 0) throw new InvalidDerError({ offset: node.offset, reason: `${name}: empty OBJECT IDENTIFIER` })
  const arcs: bigint[] = []
  let acc = 0n
  let start = true
  for (let i = 0; i < v.length; i++) {
    const b = v[i] as number
    if (start && b === 0x80)
      throw new InvalidDerError({ offset: node.valueOffset + i, reason: `${name}: OID arc is not minimally encoded` })
    acc = (acc << 7n) | BigInt(b & 0x7f)
    start = false
    if ((b & 0x80) === 0) {
      arcs.push(acc)
      acc = 0n
      start = true
    }
  }
  if (!start) throw new InvalidDerError({ offset: node.offset, reason: `${name}: truncated OBJECT IDENTIFIER` })
  const first = arcs[0] as bigint
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n]
  return [...head, ...arcs.slice(1)].join('.')
}

/** The contents of an OCTET STRING. */
export function toOctetString(node: Node, name: string): Uint8Array {
  return expect(node, Tag.octetString, name).value
}

/** The contents of a BIT STRING with no unused bits (signatures, keys). */
export function toBitString(node: Node, name: string): Uint8Array {
  expect(node, Tag.bitString, name)
  if (node.value[0] !== 0) throw new InvalidDerError({ offset: node.valueOffset, reason: `${name}: BIT STRING has unused bits` })
  return node.value.subarray(1)
}

/** A BOOLEAN (DER: 0x00 or 0xFF). */
export function toBoolean(node: Node, name: string): boolean {
  expect(node, Tag.boolean, name)
  const b = node.value[0]
  if (node.value.length !== 1 || (b !== 0 && b !== 0xff))
    throw new InvalidDerError({ offset: node.offset, reason: `${name}: BOOLEAN must be one byte 00 or FF` })
  return b === 0xff
}

/** A UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5: Zulu, seconds, no fractions). */
export function toDate(node: Node, name: string): Date {
  const isUtc = node.tagClass === 0 && node.tag === Tag.utcTime && !node.constructed
  const isGeneralized = node.tagClass === 0 && node.tag === Tag.generalizedTime && !node.constructed
  if (!isUtc && !isGeneralized)
    throw new InvalidDerError({ offset: node.offset, reason: `${name}: expected a time, got ${describe(node)}` })
  const text = new TextDecoder().decode(node.value)
  const match = isUtc
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
    : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (!match) throw new InvalidDerError({ offset: node.offset, reason: `${name}: malformed time "${text}"` })
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number]
  // RFC 5280 §4.1.2.5.1: UTCTime YY >= 50 is 19YY, else 20YY.
  const year = isUtc ? (y >= 50 ? 1900 + y : 2000 + y) : y
  const ms = Date.UTC(year, mo - 1, d, h, mi, s)
  const date = new Date(ms)
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59)
    throw new InvalidDerError({ offset: node.offset, reason: `${name}: invalid date "${text}"` })
  return date
}

/** A string type (UTF8String, PrintableString, IA5String, …) decoded as UTF-8. */
export function toText(node: Node): string {
  return new TextDecoder().decode(node.value)
}

const oidNames: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
}

/** A Name (RDNSequence) rendered as `CN=…, O=…` in encoded order, for messages and display. */
export function nameToString(node: Node, name: string): string {
  const parts: string[] = []
  for (const rdn of sequence(node, name)) {
    for (const atv of children(expect(rdn, Tag.set, `${name} RDN`))) {
      const [type, value] = sequence(atv, `${name} attribute`)
      const oid = toOid(expect(type, Tag.oid, `${name} attribute type`, atv.offset), `${name} attribute type`)
      if (!value) throw new InvalidDerError({ offset: atv.offset, reason: `${name}: attribute without value` })
      parts.push(`${oidNames[oid] ?? oid}=${toText(value)}`)
    }
  }
  return parts.join(', ')
}

function tagName(tag: number): string {
  for (const [k, v] of Object.entries(Tag)) if (v === tag) return k
  return `tag ${tag}`
}

function describe(node: Node): string {
  if (node.tagClass === 2) return `[${node.tag}]`
  if (node.tagClass === 0) return tagName(node.tag)
  return `class ${node.tagClass} tag ${node.tag}`
}

/** Malformed DER; the message names the offset. */
export class InvalidDerError extends BaseError {
  override name = 'Der.InvalidDerError'
  readonly offset: number
  constructor({ offset, reason }: { offset: number; reason: string }) {
    super(`Invalid DER at offset ${offset}: ${reason}.`)
    this.offset = offset
  }
}
