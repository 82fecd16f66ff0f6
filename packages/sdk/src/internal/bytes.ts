// Byte helpers shared inside @regent-tee/sdk (never exported from the package).
import { BaseError } from '../errors.js'

export { concat, equalBytes } from '@regent-tee/core'

/** `0x`-prefixed hex string. */
export type Hex = `0x${string}`

/** Bytes, or a `0x`-prefixed hex string. */
export type BytesLike = Uint8Array | Hex

const hexRe = /^(0x)?([0-9a-fA-F]{2})*$/

/** Lowercase hex without `0x`. */
export function toHexRaw(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Lowercase `0x` hex. */
export function toHex(bytes: Uint8Array): Hex {
  return `0x${toHexRaw(bytes)}`
}

/** Decodes hex with or without `0x`; throws {@link InvalidHexError} naming `field`. */
export function fromHex(hex: string, field: string): Uint8Array {
  if (!hexRe.test(hex)) throw new InvalidHexError({ field })
  return new Uint8Array(Buffer.from(hex.startsWith('0x') ? hex.slice(2) : hex, 'hex'))
}

/** Bytes from a {@link BytesLike}: Uint8Array copied, strings must be `0x` hex. */
export function toBytes(value: BytesLike, field: string): Uint8Array {
  if (value instanceof Uint8Array) return Uint8Array.from(value)
  if (typeof value !== 'string' || !value.startsWith('0x')) throw new InvalidHexError({ field })
  return fromHex(value, field)
}

export function u16(n: number): Uint8Array {
  const b = new Uint8Array(2)
  new DataView(b.buffer).setUint16(0, n)
  return b
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

export function u64(n: bigint | number): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Overwrites a buffer we own with zeros. */
export function wipe(bytes: Uint8Array | undefined): void {
  bytes?.fill(0)
}

export class InvalidHexError extends BaseError {
  override name = 'InvalidHexError'
  readonly field: string
  constructor({ field }: { field: string }) {
    super(`${field} is not valid hex (expected 0x-prefixed, an even number of hex digits).`)
    this.field = field
  }
}
