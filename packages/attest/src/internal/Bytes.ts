/**
 * Bounds-checked little-endian reader and writer for the DCAP quote structures (Intel "TDX DCAP
 * Quoting Library API", quote format appendix; layouts summarised in docs/protocol.md).
 *
 * Every read names the field it reads, and every failure names that field and its absolute byte
 * offset in the outer structure (a reader over a sub-slice is created with the slice's `base`).
 * Internal: never exported from the package. The two error classes are re-exported by the modules
 * that parse (`Quote`, `TdReport`, `EnclaveReport`, `CertificationData`) so callers can match them.
 */
import { BaseError } from '../errors.js'

export class Reader {
  private position = 0

  /**
   * @param bytes - The bytes to read.
   * @param options.what - What is being parsed, used in error messages ("quote", "TD report", …).
   * @param options.base - Absolute offset of `bytes[0]` in the outer structure (for error messages).
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly options: { what: string; base?: number },
  ) {}

  /** Absolute offset of the next byte to read. */
  get offset(): number {
    return (this.options.base ?? 0) + this.position
  }

  get remaining(): number {
    return this.bytes.length - this.position
  }

  /** Reads `length` bytes (copied, so parsed values never alias the input). */
  take(field: string, length: number): Uint8Array {
    this.need(field, length)
    const out = this.bytes.slice(this.position, this.position + length)
    this.position += length
    return out
  }

  u16(field: string): number {
    this.need(field, 2)
    const at = this.position
    this.position += 2
    return (this.bytes[at] as number) | ((this.bytes[at + 1] as number) << 8)
  }

  u32(field: string): number {
    this.need(field, 4)
    const at = this.position
    this.position += 4
    return (
      ((this.bytes[at] as number) |
        ((this.bytes[at + 1] as number) << 8) |
        ((this.bytes[at + 2] as number) << 16) |
        ((this.bytes[at + 3] as number) << 24)) >>>
      0
    )
  }

  /** Reads everything that is left. */
  rest(): Uint8Array {
    return this.take('rest', this.remaining)
  }

  private need(field: string, length: number): void {
    if (this.remaining < length)
      throw new TruncatedError({ what: this.options.what, field, offset: this.offset, needed: length, remaining: this.remaining })
  }
}

export class Writer {
  private readonly chunks: Uint8Array[] = []
  private length = 0

  /** Writes `value`; with `size`, asserts its length first (serializing a malformed object fails loudly). */
  bytes(field: string, value: Uint8Array, size?: number): this {
    if (size !== undefined && value.length !== size)
      throw new InvalidFieldError({
        what: 'quote',
        field,
        offset: this.length,
        reason: `expected ${size} bytes, got ${value.length}`,
      })
    this.chunks.push(value)
    this.length += value.length
    return this
  }

  u16(field: string, value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff)
      throw new InvalidFieldError({ what: 'quote', field, offset: this.length, reason: `expected a u16, got ${value}` })
    return this.bytes(field, Uint8Array.of(value & 0xff, value >>> 8))
  }

  u32(field: string, value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
      throw new InvalidFieldError({ what: 'quote', field, offset: this.length, reason: `expected a u32, got ${value}` })
    return this.bytes(field, Uint8Array.of(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24))
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(this.length)
    let at = 0
    for (const chunk of this.chunks) {
      out.set(chunk, at)
      at += chunk.length
    }
    return out
  }
}

export function equals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')
}

/** Thrown when a field extends past the end of the input. */
export class TruncatedError extends BaseError {
  override name = 'Quote.TruncatedError'
  readonly field: string
  readonly offset: number

  constructor({
    what,
    field,
    offset,
    needed,
    remaining,
  }: { what: string; field: string; offset: number; needed: number; remaining: number }) {
    super(`Truncated ${what}: field "${field}" at offset ${offset} needs ${needed} bytes, but only ${remaining} remain.`)
    this.field = field
    this.offset = offset
  }
}

/** Thrown when a field holds a value the format (or this strict parser) does not allow. */
export class InvalidFieldError extends BaseError {
  override name = 'Quote.InvalidFieldError'
  readonly field: string
  readonly offset: number

  constructor({ what, field, offset, reason, details }: { what: string; field: string; offset: number; reason: string; details?: string }) {
    super(`Invalid ${what} field "${field}" at offset ${offset}: ${reason}.`, details === undefined ? {} : { details })
    this.field = field
    this.offset = offset
  }
}
