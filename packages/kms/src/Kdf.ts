/**
 * dstack's key-derivation primitives, bit for bit.
 *
 * Follows dstack `ra-tls/src/kdf.rs` (`derive_key`, `derive_p256_key_pair_from_bytes`,
 * `derive_p256_key_pair`, `derive_dh_secret`) as described in reference/dstack.md §3.1;
 * vector §8 item 1. HKDF-SHA256 (RFC 5869) with salt "RATLS"; the HKDF info is the byte
 * concatenation of every context part (ring's `Prk::expand(&[&[u8]])`).
 *
 * The labels used here ("RATLS" and the context strings callers pass) are dstack's, not ours:
 * they are fixed by compatibility, and documented in docs/protocol.md as part of the contract.
 */
import { createECDH, type KeyObject } from 'node:crypto'
import { p256 } from '@noble/curves/nist'
import { secp256k1 } from '@noble/curves/secp256k1'
import { hkdf } from '@noble/hashes/hkdf'
import { sha256 } from '@noble/hashes/sha2'
import { BaseError } from './errors.js'

/** HKDF salt of dstack's `derive_key`. */
export const salt: Uint8Array = new TextEncoder().encode('RATLS')

/** Context parts: strings are UTF-8 encoded; all parts are concatenated into the HKDF info. */
export type Context = readonly (string | Uint8Array)[]

/** A P-256 private key: the 32-byte big-endian scalar, or a node:crypto EC P-256 KeyObject. */
export type P256PrivateKey = Uint8Array | KeyObject

/** A derived P-256 key pair: 32-byte scalar and 65-byte uncompressed SEC1 public key. */
export type P256KeyPair = { privateKey: Uint8Array; publicKey: Uint8Array }

/** Curves whose scalars this module checks. */
export type Curve = 'p256' | 'secp256k1'

const encoder = new TextEncoder()
const maxLength = 255 * 32

/**
 * dstack `derive_key`: HKDF-SHA256(ikm, salt "RATLS", info = ‖ context, length).
 *
 * @param options.ikm - Input key material (e.g. the KMS root k256 key or an app key).
 * @param options.context - Context parts, concatenated into the HKDF info.
 * @param options.length - Output length in bytes (default 32, at most 8160).
 * @returns `length` derived bytes (owned by the caller; wipe them when done).
 * @throws {InvalidLengthError} if `length` is not an integer in 1..8160.
 *
 * @example
 * Kdf.deriveKey({ ikm: rootK256, context: [appId, 'app-key'] })
 */
export function deriveKey(options: { ikm: Uint8Array; context: Context; length?: number }): Uint8Array {
  const { ikm, context, length = 32 } = options
  if (!Number.isInteger(length) || length < 1 || length > maxLength) throw new InvalidLengthError(length)
  const info = concatContext(context)
  return hkdf(sha256, ikm, salt, info, length)
}

/**
 * dstack `derive_p256_key_pair_from_bytes` (from `secret`) or `derive_p256_key_pair` (from the
 * scalar of `parentKey`): the P-256 scalar is `deriveKey({ ikm, context, length: 32 })`.
 *
 * @returns The derived scalar and its uncompressed public key.
 * @throws {InvalidScalarError} if the derived bytes are 0 or ≥ n (probability ~2^-32).
 * @throws {InvalidPrivateKeyError} if `parentKey` is not a P-256 scalar or P-256 KeyObject.
 *
 * @example
 * const appCa = Kdf.deriveP256({ parentKey: rootCaKey, context: [appId, 'app-ca'] })
 */
export function deriveP256(
  options: { secret: Uint8Array; context: Context } | { parentKey: P256PrivateKey; context: Context },
): P256KeyPair {
  const ikm = 'secret' in options ? options.secret : toP256Scalar(options.parentKey)
  try {
    const privateKey = deriveKey({ ikm, context: options.context, length: 32 })
    try {
      assertScalar(privateKey, { curve: 'p256' })
    } catch (error) {
      privateKey.fill(0)
      throw error
    }
    return { privateKey, publicKey: p256PublicKey(privateKey) }
  } finally {
    if (!('secret' in options)) ikm.fill(0)
  }
}

/**
 * dstack `derive_dh_secret`: SHA-256 of the 138-byte PKCS#8 v1 DER (see {@link toPkcs8}) of the
 * P-256 key derived from `parentKey` with `context`. dstack uses it for `env_crypt_key` and
 * `disk_crypt_key` (reference/dstack.md §3.2).
 *
 * @returns 32 secret bytes.
 * @throws {InvalidScalarError} / {InvalidPrivateKeyError} as {@link deriveP256}.
 *
 * @example
 * const envCryptKey = Kdf.deriveDhSecret({ parentKey: rootCaKey, context: [appId, 'env-encrypt-key'] })
 */
export function deriveDhSecret(options: { parentKey: P256PrivateKey; context: Context }): Uint8Array {
  const { privateKey, publicKey } = deriveP256(options)
  const der = toPkcs8({ privateKey, publicKey })
  try {
    return sha256(der)
  } finally {
    der.fill(0)
    privateKey.fill(0)
  }
}

// PKCS#8 v1 (RFC 5208) wrapping an RFC 5915 ECPrivateKey without the [0] parameters field:
// 30 81 87 | 02 01 00 | 30 13 (id-ecPublicKey, prime256v1) | 04 6d 30 6b 02 01 01 04 20 <d> a1 44 03 42 00 <Q>
// (reference/dstack.md §3.1 — the bytes OpenSSL/WebCrypto/rcgen export).
const pkcs8Prefix = Uint8Array.from([
  0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
  0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20,
])
const pkcs8Middle = Uint8Array.from([0xa1, 0x44, 0x03, 0x42, 0x00])

/** Length of the PKCS#8 DER of a P-256 key as dstack hashes it. */
export const pkcs8Length = 138

/**
 * The PKCS#8 v1 DER of a P-256 key, exactly as dstack hashes it in `derive_dh_secret` (138 bytes).
 *
 * @param options.privateKey - 32-byte scalar.
 * @param options.publicKey - 65-byte uncompressed public key (computed when omitted).
 * @returns The DER (secret; wipe it when done).
 * @throws {InvalidScalarError} if `privateKey` is not a valid P-256 scalar.
 *
 * @example
 * Kdf.toPkcs8({ privateKey })
 */
export function toPkcs8(options: { privateKey: Uint8Array; publicKey?: Uint8Array }): Uint8Array {
  const { privateKey } = options
  assertScalar(privateKey, { curve: 'p256' })
  const publicKey = options.publicKey ?? p256PublicKey(privateKey)
  if (publicKey.length !== 65 || publicKey[0] !== 0x04) throw new InvalidPublicKeyError(publicKey.length)
  const der = new Uint8Array(pkcs8Length)
  der.set(pkcs8Prefix, 0)
  der.set(privateKey, pkcs8Prefix.length)
  der.set(pkcs8Middle, pkcs8Prefix.length + 32)
  der.set(publicKey, pkcs8Prefix.length + 32 + pkcs8Middle.length)
  return der
}

/**
 * The 32-byte scalar of a P-256 private key given as bytes (copied) or as a node:crypto KeyObject.
 *
 * @returns A fresh copy of the scalar (the caller owns it and should wipe it).
 * @throws {InvalidPrivateKeyError} if it is not a P-256 private key.
 * @throws {InvalidScalarError} if the scalar is 0 or ≥ n.
 *
 * @example
 * Kdf.toP256Scalar(createPrivateKey(pem))
 */
export function toP256Scalar(key: P256PrivateKey): Uint8Array {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new InvalidPrivateKeyError(`a 32-byte scalar was expected, got ${key.length} bytes`)
    const copy = key.slice()
    assertScalar(copy, { curve: 'p256' })
    return copy
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec')
    throw new InvalidPrivateKeyError(`a private EC key was expected, got a ${key.type} ${key.asymmetricKeyType} key`)
  const curve = key.asymmetricKeyDetails?.namedCurve
  if (curve !== 'prime256v1') throw new InvalidPrivateKeyError(`curve prime256v1 was expected, got ${curve}`)
  const jwk = key.export({ format: 'jwk' })
  if (typeof jwk.d !== 'string') throw new InvalidPrivateKeyError('the key has no private scalar')
  const scalar = new Uint8Array(Buffer.from(jwk.d, 'base64url'))
  if (scalar.length !== 32) throw new InvalidPrivateKeyError(`a 32-byte scalar was expected, got ${scalar.length} bytes`)
  assertScalar(scalar, { curve: 'p256' })
  return scalar
}

/**
 * Asserts that 32 bytes are a valid private scalar of `curve`: big-endian, 0 < d < n — the check
 * ring/rcgen (P-256) and k256 (secp256k1) apply when dstack builds a key from derived bytes.
 *
 * @throws {InvalidScalarError} naming the curve (never the value).
 *
 * @example
 * Kdf.assertScalar(key, { curve: 'secp256k1' })
 */
export function assertScalar(bytes: Uint8Array, options: { curve: Curve }): void {
  const n = options.curve === 'p256' ? p256.CURVE.n : secp256k1.CURVE.n
  if (bytes.length !== 32) throw new InvalidScalarError(options.curve, `length ${bytes.length}, expected 32`)
  let d = 0n
  for (const b of bytes) d = (d << 8n) | BigInt(b)
  if (d === 0n) throw new InvalidScalarError(options.curve, 'zero')
  if (d >= n) throw new InvalidScalarError(options.curve, '≥ the group order n')
}

/**
 * Uncompressed P-256 public key of a valid scalar. OpenSSL's P-256 (node:crypto ECDH) is ~10× faster
 * than a generic implementation here, and this runs three times per key release; the tests check it
 * against @noble/curves.
 */
function p256PublicKey(privateKey: Uint8Array): Uint8Array {
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(privateKey)
  return new Uint8Array(ecdh.getPublicKey())
}

/** Concatenated context (the HKDF info). */
function concatContext(context: Context): Uint8Array {
  const parts = context.map((part) => (typeof part === 'string' ? encoder.encode(part) : part))
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** HKDF output length out of range. */
export class InvalidLengthError extends BaseError {
  override name = 'Kdf.InvalidLengthError'
  constructor(length: number) {
    super(`HKDF output length must be an integer in 1..${maxLength}, got ${length}.`)
  }
}

/** Derived or given bytes are not a valid private scalar of the curve. */
export class InvalidScalarError extends BaseError {
  override name = 'Kdf.InvalidScalarError'
  constructor(curve: Curve, reason: string) {
    super(`Invalid ${curve} private scalar: ${reason}.`, {
      metaMessages: ['A valid scalar is 32 big-endian bytes d with 0 < d < n.'],
    })
  }
}

/** A parent key is not a P-256 private key. */
export class InvalidPrivateKeyError extends BaseError {
  override name = 'Kdf.InvalidPrivateKeyError'
  constructor(reason: string) {
    super(`Invalid P-256 private key: ${reason}.`)
  }
}

/** A P-256 public key is not 65-byte uncompressed SEC1. */
export class InvalidPublicKeyError extends BaseError {
  override name = 'Kdf.InvalidPublicKeyError'
  constructor(length: number) {
    super(`Invalid P-256 public key: expected 65-byte uncompressed SEC1 (0x04 ‖ X ‖ Y), got ${length} bytes.`)
  }
}
