/** Hex and byte helpers. */

/** `0x`-prefixed hex string. */
export type Hex = `0x${string}`

const hexPattern = /^(0x)?([0-9a-fA-F]{2})*$/

/** Lowercase `0x` hex. */
export function toHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`
}

/** True for hex with or without `0x` and an even number of digits. */
export function isHex(value: unknown): value is string {
  return typeof value === 'string' && hexPattern.test(value)
}

/** Decodes hex with or without `0x`; undefined when it is not hex (the caller names the field in its own error). */
export function fromHex(hex: string): Uint8Array | undefined {
  if (!hexPattern.test(hex)) return undefined
  return new Uint8Array(Buffer.from(hex.startsWith('0x') ? hex.slice(2) : hex, 'hex'))
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** Constant-time equality of two byte strings (the length is not secret). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}
