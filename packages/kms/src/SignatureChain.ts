/**
 * dstack's key-provenance signature chain: `[sig_app, sig_kms]`, both 65-byte recoverable
 * secp256k1 signatures `r(32) ‖ s(32) ‖ recid(1)` with recid ∈ {0, 1} (not 27/28).
 *
 * - `sig_app` (chain[0]): by the app k256 key over Keccak-256(utf8(purpose + ":" + lowercase hex(P2)))
 *   where P2 is the derived key's public key (33-byte compressed secp256k1 or 32-byte ed25519).
 * - `sig_kms` (chain[1]): by the KMS root k256 key over
 *   Keccak-256("dstack-kms-issued" ‖ ":" ‖ app_id(20) ‖ P1) where P1 is the app key's compressed public key.
 *
 * Follows dstack `guest-agent/src/rpc_service.rs::get_key` and `kms/src/main_service.rs::get_app_key`
 * (signing), `sdk/go/dstack/client_web3_test.go` and `kms/README.md` (verification) — reference/dstack.md
 * §3.2–§3.4; vectors §8 items 2 and 3.
 */
import { ed25519 } from '@noble/curves/ed25519'
import { secp256k1 } from '@noble/curves/secp256k1'
import { keccak_256 } from '@noble/hashes/sha3'
import { bytesToHex } from '@noble/hashes/utils'
import { type Address, getAddress } from 'viem'
import { BaseError } from './errors.js'
import * as Kdf from './Kdf.js'

/** Length of each signature of the chain. */
export const signatureLength = 65

/** Label of the KMS root's signature over the app key (dstack's, fixed by compatibility). */
export const kmsIssuedLabel = 'dstack-kms-issued'

/** Algorithm of the derived key whose public key chain[0] signs. */
export type Algorithm = 'secp256k1' | 'ed25519'

/** Result of {@link verify}. */
export type Verified = {
  /** P2: the derived key's public key the chain was checked for (33 B compressed or 32 B ed25519). */
  publicKey: Uint8Array
  /** P1: the app k256 key's compressed public key (33 B). */
  appPublicKey: Uint8Array
  /** P0: the KMS root k256 key's compressed public key (33 B). */
  kmsRootPublicKey: Uint8Array
  /** Ethereum address of P0 (what RegentAppAuth stores as an allowed KMS root). */
  kmsRootAddress: Address
}

const encoder = new TextEncoder()

/**
 * Hash signed by chain[0]: Keccak-256(utf8(purpose + ":" + lowercase hex(publicKey))).
 *
 * @example
 * SignatureChain.purposeHash({ purpose: 'signing', publicKey })
 */
export function purposeHash(options: { purpose: string; publicKey: Uint8Array }): Uint8Array {
  return keccak_256(encoder.encode(`${options.purpose}:${bytesToHex(options.publicKey)}`))
}

/**
 * Hash signed by chain[1]: Keccak-256("dstack-kms-issued" ‖ ":" ‖ appId(20) ‖ appPublicKey(33)).
 *
 * @throws {InvalidAppIdError} if `appId` is not 20 bytes.
 * @throws {InvalidPublicKeyError} if `appPublicKey` is not 33-byte compressed SEC1.
 *
 * @example
 * SignatureChain.kmsIssuedHash({ appId, appPublicKey })
 */
export function kmsIssuedHash(options: { appId: Uint8Array; appPublicKey: Uint8Array }): Uint8Array {
  const { appId, appPublicKey } = options
  if (appId.length !== 20) throw new InvalidAppIdError(appId.length)
  if (appPublicKey.length !== 33) throw new InvalidPublicKeyError('appPublicKey', `${appPublicKey.length} bytes, expected 33`)
  const label = encoder.encode(`${kmsIssuedLabel}:`)
  const message = new Uint8Array(label.length + 20 + 33)
  message.set(label, 0)
  message.set(appId, label.length)
  message.set(appPublicKey, label.length + 20)
  return keccak_256(message)
}

/**
 * Recoverable secp256k1 signature (RFC 6979, low-s) over a 32-byte hash, encoded `r ‖ s ‖ recid`
 * with recid 0/1 — the encoding of dstack `kms/src/crypto.rs::sign_message`.
 *
 * @example
 * SignatureChain.sign({ privateKey: rootK256, hash })
 */
export function sign(options: { privateKey: Uint8Array; hash: Uint8Array }): Uint8Array {
  const signature = secp256k1.sign(options.hash, options.privateKey, { lowS: true })
  const out = new Uint8Array(signatureLength)
  out.set(signature.toCompactRawBytes(), 0)
  out[64] = signature.recovery
  return out
}

/**
 * Recovers the compressed secp256k1 public key (33 B) that produced a 65-byte `r ‖ s ‖ recid`
 * signature over `hash`.
 *
 * @param options.name - What the signature is, for error messages (default "signature").
 * @throws {InvalidSignatureLengthError} if the signature is not 65 bytes.
 * @throws {InvalidRecoveryIdError} if recid is not 0 or 1.
 * @throws {InvalidSignatureError} if r/s are out of range or no point recovers.
 *
 * @example
 * SignatureChain.recover({ hash, signature })
 */
export function recover(options: { hash: Uint8Array; signature: Uint8Array; name?: string }): Uint8Array {
  const { hash, signature, name = 'signature' } = options
  if (signature.length !== signatureLength) throw new InvalidSignatureLengthError(name, signature.length)
  const recid = signature[64] as number
  // §3.2: dstack encodes recid as 0/1; 27/28 (Ethereum v) and 2/3 are not produced by it.
  if (recid !== 0 && recid !== 1) throw new InvalidRecoveryIdError(name, recid)
  try {
    const sig = secp256k1.Signature.fromCompact(signature.subarray(0, 64)).addRecoveryBit(recid)
    return sig.recoverPublicKey(hash).toRawBytes(true)
  } catch (cause) {
    throw new InvalidSignatureError(name, { cause })
  }
}

/**
 * Verifies a dstack signature chain back to the KMS root (reference/dstack.md §3.4):
 * recovers P1 from chain[0] over the purpose message for P2, then P0 from chain[1] over the
 * "dstack-kms-issued" message for (appId, P1), and compares P0 with the expected root if given.
 *
 * P2 is given as `publicKey` (33 B compressed or 65 B uncompressed secp256k1, 32 B ed25519 with
 * `algorithm: 'ed25519'`) or computed from `key` (the 32 GetKey bytes) and `algorithm`.
 *
 * @param options.appId - 20-byte app id, from a verified source (attested app-id event / contract).
 * @param options.kmsRootPublicKey - Trusted KMS root k256 public key (33 or 65 B).
 * @param options.kmsRootAddress - Trusted KMS root address (alternative to the public key).
 * @returns P2, P1, P0 and P0's address.
 * @throws {InvalidChainLengthError} if the chain does not have exactly 2 entries.
 * @throws {InvalidSignatureLengthError} / {InvalidRecoveryIdError} / {InvalidSignatureError} naming chain[0] or chain[1].
 * @throws {KmsRootMismatchError} if P0 is not the expected KMS root.
 *
 * @example
 * SignatureChain.verify({ key, algorithm: 'secp256k1', purpose: 'wallet', appId, signatureChain, kmsRootPublicKey })
 */
export function verify(
  options: (
    | { key: Uint8Array; algorithm?: Algorithm; publicKey?: undefined }
    | { publicKey: Uint8Array; algorithm?: Algorithm; key?: undefined }
  ) & {
    purpose: string
    appId: Uint8Array
    signatureChain: readonly Uint8Array[]
    kmsRootPublicKey?: Uint8Array
    kmsRootAddress?: Address
  },
): Verified {
  const { purpose, appId, signatureChain, algorithm = 'secp256k1' } = options
  if (signatureChain.length !== 2) throw new InvalidChainLengthError(signatureChain.length)
  const publicKey = options.key !== undefined ? toPublicKey({ key: options.key, algorithm }) : normalize(options.publicKey, algorithm)
  const appPublicKey = recover({
    hash: purposeHash({ purpose, publicKey }),
    signature: signatureChain[0] as Uint8Array,
    name: 'signature_chain[0]',
  })
  const kmsRootPublicKey = recover({
    hash: kmsIssuedHash({ appId, appPublicKey }),
    signature: signatureChain[1] as Uint8Array,
    name: 'signature_chain[1]',
  })
  const address = kmsRootAddress(kmsRootPublicKey)
  if (options.kmsRootPublicKey !== undefined) {
    const expected = toCompressed(options.kmsRootPublicKey, 'kmsRootPublicKey')
    if (bytesToHex(expected) !== bytesToHex(kmsRootPublicKey))
      throw new KmsRootMismatchError(`0x${bytesToHex(expected)}`, `0x${bytesToHex(kmsRootPublicKey)}`)
  }
  if (options.kmsRootAddress !== undefined && options.kmsRootAddress.toLowerCase() !== address.toLowerCase())
    throw new KmsRootMismatchError(options.kmsRootAddress, address)
  return { publicKey, appPublicKey, kmsRootPublicKey, kmsRootAddress: address }
}

/**
 * Ethereum address of a secp256k1 public key (33 B compressed or 65 B uncompressed): the last 20
 * bytes of Keccak-256 of the 64-byte uncompressed point, EIP-55 checksummed. RegentAppAuth stores
 * the KMS root this way.
 *
 * @throws {InvalidPublicKeyError} if the bytes are not a secp256k1 point.
 *
 * @example
 * SignatureChain.kmsRootAddress(verified.kmsRootPublicKey)
 */
export function kmsRootAddress(publicKey: Uint8Array): Address {
  const uncompressed = toPoint(publicKey, 'publicKey').toRawBytes(false)
  return getAddress(`0x${bytesToHex(keccak_256(uncompressed.subarray(1)).subarray(12))}`)
}

/**
 * The public key chain[0] signs for a derived key: 33-byte compressed secp256k1, or the 32-byte
 * ed25519 public key of the same bytes used as seed (dstack uses the same 32 bytes for both, §9).
 *
 * @throws {InvalidPublicKeyError} if an ed25519 seed is not 32 bytes.
 * @throws {Kdf.InvalidScalarError} if a secp256k1 key is not a valid scalar.
 *
 * @example
 * SignatureChain.toPublicKey({ key, algorithm: 'ed25519' })
 */
export function toPublicKey(options: { key: Uint8Array; algorithm: Algorithm }): Uint8Array {
  if (options.algorithm === 'ed25519') {
    if (options.key.length !== 32) throw new InvalidPublicKeyError('key', `${options.key.length} bytes, expected 32`)
    return ed25519.getPublicKey(options.key)
  }
  Kdf.assertScalar(options.key, { curve: 'secp256k1' })
  return secp256k1.getPublicKey(options.key, true)
}

function toPoint(publicKey: Uint8Array, name: string) {
  if (publicKey.length !== 33 && publicKey.length !== 65)
    throw new InvalidPublicKeyError(name, `${publicKey.length} bytes, expected 33 or 65`)
  try {
    return secp256k1.ProjectivePoint.fromHex(publicKey)
  } catch (cause) {
    throw new InvalidPublicKeyError(name, 'not a secp256k1 point', cause)
  }
}

/**
 * A secp256k1 public key (33 B compressed or 65 B uncompressed) as 33-byte compressed SEC1.
 *
 * @param name - What the key is, for error messages (default "publicKey").
 * @throws {InvalidPublicKeyError} if the bytes are not a secp256k1 point.
 *
 * @example
 * SignatureChain.toCompressed(uncompressedRootKey)
 */
export function toCompressed(publicKey: Uint8Array, name = 'publicKey'): Uint8Array {
  return toPoint(publicKey, name).toRawBytes(true)
}

function normalize(publicKey: Uint8Array, algorithm: Algorithm, name = 'publicKey'): Uint8Array {
  if (algorithm === 'ed25519') {
    if (publicKey.length !== 32) throw new InvalidPublicKeyError(name, `${publicKey.length} bytes, expected 32 (ed25519)`)
    return publicKey.slice()
  }
  return toCompressed(publicKey, name)
}

/** The chain does not have exactly two signatures. */
export class InvalidChainLengthError extends BaseError {
  override name = 'SignatureChain.InvalidChainLengthError'
  constructor(length: number) {
    super(`Signature chain must have 2 entries [app, kms], got ${length}.`)
  }
}

/** A chain entry is not 65 bytes. */
export class InvalidSignatureLengthError extends BaseError {
  override name = 'SignatureChain.InvalidSignatureLengthError'
  constructor(what: string, length: number) {
    super(`${what} must be 65 bytes (r ‖ s ‖ recid), got ${length}.`)
  }
}

/** A chain entry's recovery id is not 0 or 1. */
export class InvalidRecoveryIdError extends BaseError {
  override name = 'SignatureChain.InvalidRecoveryIdError'
  constructor(what: string, recid: number) {
    super(`${what} has recovery id ${recid}, expected 0 or 1.`, {
      metaMessages: ['dstack encodes recid as 0/1; Ethereum-style 27/28 is not accepted.'],
    })
  }
}

/** No public key recovers from a chain entry. */
export class InvalidSignatureError extends BaseError {
  override name = 'SignatureChain.InvalidSignatureError'
  constructor(what: string, options: { cause: unknown }) {
    super(`${what} is not a valid recoverable secp256k1 signature.`, { cause: options.cause })
  }
}

/** The chain recovers to a different KMS root than the trusted one. */
export class KmsRootMismatchError extends BaseError {
  override name = 'SignatureChain.KmsRootMismatchError'
  constructor(expected: string, recovered: string) {
    super('Signature chain does not lead to the trusted KMS root.', {
      metaMessages: [`Expected:  ${expected}`, `Recovered: ${recovered}`],
    })
  }
}

/** An app id is not 20 bytes. */
export class InvalidAppIdError extends BaseError {
  override name = 'SignatureChain.InvalidAppIdError'
  constructor(length: number) {
    super(`appId must be 20 bytes, got ${length}.`)
  }
}

/** A public key (or key) has the wrong size or is not on the curve. */
export class InvalidPublicKeyError extends BaseError {
  override name = 'SignatureChain.InvalidPublicKeyError'
  constructor(what: string, reason: string, cause?: unknown) {
    super(`Invalid ${what}: ${reason}.`, cause === undefined ? {} : { cause })
  }
}
