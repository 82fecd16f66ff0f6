/**
 * The 64-byte REPORTDATA of a quote, and dstack's rules for building it
 * (dstack `guest-agent/src/rpc_service.rs` GetQuote `pad64`; `dstack-attest/src/attestation.rs`
 * `QuoteContentType`; `Tappd.TdxQuote`).
 */
import { sha256, sha384, sha512 } from '@noble/hashes/sha2'
import { keccak_256, keccak_384, keccak_512, sha3_256, sha3_384, sha3_512 } from '@noble/hashes/sha3'
import { BaseError } from './errors.js'

/** Size of REPORTDATA in bytes. */
export const size = 64

/** Hash algorithms of `Tappd.TdxQuote` (`raw` = no hashing, content must be 64 bytes). */
export type HashAlgorithm =
  | 'sha256'
  | 'sha384'
  | 'sha512'
  | 'sha3-256'
  | 'sha3-384'
  | 'sha3-512'
  | 'keccak256'
  | 'keccak384'
  | 'keccak512'
  | 'raw'

const hashes: Record<Exclude<HashAlgorithm, 'raw'>, (b: Uint8Array) => Uint8Array> = {
  sha256,
  sha384,
  sha512,
  'sha3-256': sha3_256,
  'sha3-384': sha3_384,
  'sha3-512': sha3_512,
  keccak256: keccak_256,
  keccak384: keccak_384,
  keccak512: keccak_512,
}

/**
 * REPORTDATA from up to 64 bytes, right-padded with zeros — dstack GetQuote/Attest's rule
 * (e.g. a 32-byte hash in the first half).
 *
 * @throws {SizeError} When `bytes` is longer than 64 bytes (dstack answers 400 "Report data is too long").
 * @example
 * ReportData.from(sha256(message))
 */
export function from(bytes: Uint8Array): Uint8Array {
  if (bytes.length > size) throw new SizeError({ size: bytes.length })
  const out = new Uint8Array(size)
  out.set(bytes)
  return out
}

/**
 * REPORTDATA from a 32-byte hash, zero-padded.
 *
 * @throws {SizeError} When `hash` is not 32 bytes.
 */
export function fromHash(hash: Uint8Array): Uint8Array {
  if (hash.length !== 32) throw new SizeError({ size: hash.length, expected: 32 })
  return from(hash)
}

/**
 * dstack `Tappd.TdxQuote`: `H(tag ‖ ":" ‖ content)` right-padded to 64, where tag is `prefix` or
 * `"app-data"`; for `raw`, `content` itself (exactly 64 bytes).
 *
 * @param options.hashAlgorithm - Default `sha512`.
 * @throws {SizeError} For `raw` content that is not 64 bytes.
 * @example
 * ReportData.fromTappd({ content: new TextEncoder().encode('test content') })
 */
export function fromTappd(options: { content: Uint8Array; hashAlgorithm?: HashAlgorithm; prefix?: string }): Uint8Array {
  const algorithm = options.hashAlgorithm ?? 'sha512'
  if (algorithm === 'raw') {
    if (options.content.length !== size) throw new SizeError({ size: options.content.length, expected: size })
    return options.content.slice()
  }
  const tag = new TextEncoder().encode(`${options.prefix || 'app-data'}:`)
  const preimage = new Uint8Array(tag.length + options.content.length)
  preimage.set(tag)
  preimage.set(options.content, tag.length)
  return from(hashes[algorithm](preimage))
}

/** dstack RA-TLS certificates: `SHA-512("ratls-cert:" ‖ SPKI DER)`. */
export function fromRaTlsCertificate(spkiDer: Uint8Array): Uint8Array {
  return fromTappd({ content: spkiDer, prefix: 'ratls-cert' })
}

/** Whether `value` is a 64-byte REPORTDATA. */
export function validate(value: Uint8Array): boolean {
  return value.length === size
}

/** Thrown when REPORTDATA input has the wrong size. */
export class SizeError extends BaseError {
  override name = 'ReportData.SizeError'

  constructor({ size: actual, expected }: { size: number; expected?: number }) {
    super(
      expected === undefined
        ? `Report data is too long: ${actual} bytes (at most ${size}).`
        : `Report data input must be ${expected} bytes, got ${actual}.`,
    )
  }
}
