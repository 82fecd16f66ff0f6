/**
 * Guest side of dstack's key hierarchy: the `GetKey` derivation from the app k256 key to a
 * path key, with its two-entry signature chain.
 *
 * Follows dstack `guest-agent/src/rpc_service.rs::get_key` (reference/dstack.md §1.2 GetKey, §3.3);
 * vectors §8 item 3. Only `path` enters the derivation: `purpose` changes only chain[0], and
 * `algorithm` changes only the public key chain[0] signs — the 32 secret bytes are the same for
 * secp256k1 and ed25519 (§9, dstack issue #605). Kept for compatibility, documented as such.
 */
import { BaseError } from './errors.js'
import * as Kdf from './Kdf.js'
import * as SignatureChain from './SignatureChain.js'

/** A GetKey result. */
export type Result = {
  /** The 32 derived bytes: secp256k1 private key, or ed25519 seed. */
  key: Uint8Array
  /** 33-byte compressed secp256k1 or 32-byte ed25519 public key (the one chain[0] signs). */
  publicKey: Uint8Array
  /** `[sig by the app key over the purpose message, KMS root signature over the app key]`. */
  signatureChain: [Uint8Array, Uint8Array]
}

/**
 * Algorithm names GetKey accepts, as dstack's agent does: `secp256k1` (default, also `k256` and
 * the empty string) or `ed25519`.
 */
export type AlgorithmName = SignatureChain.Algorithm | 'k256' | ''

/**
 * dstack GetKey: `key = derive_key(app_k256_key, [utf8(path)], 32)`; chain[0] = app key's
 * recoverable signature over Keccak-256(utf8(purpose + ":" + hex(publicKey))); chain[1] = the
 * KMS-issued `k256Signature` of the app key.
 *
 * @param options.appK256Key - App root secp256k1 key (32 B), from `AppKeys.derive`.
 * @param options.k256Signature - The app key's KMS signature (65 B), chain[1]; empty for non-KMS providers.
 * @param options.path - Key path (any UTF-8 string, including "").
 * @param options.purpose - Purpose string (only signed, not derived from). Default "".
 * @param options.algorithm - Default `secp256k1`.
 * @throws {UnsupportedAlgorithmError} for other algorithm names.
 * @throws {InvalidKmsSignatureError} if `k256Signature` is neither 65 bytes nor empty.
 * @throws {Kdf.InvalidScalarError} if `appK256Key` or a derived secp256k1 key is not a valid scalar.
 *
 * @example
 * const { key, signatureChain } = GetKey.derive({ appK256Key, k256Signature, path: 'wallet/ethereum', purpose: 'wallet' })
 */
export function derive(options: {
  appK256Key: Uint8Array
  k256Signature: Uint8Array
  path: string
  purpose?: string
  algorithm?: AlgorithmName
}): Result {
  const { appK256Key, k256Signature, path, purpose = '' } = options
  const algorithm = toAlgorithm(options.algorithm ?? 'secp256k1')
  // dstack: non-KMS key providers have an empty k256_signature, and chain[1] is then empty.
  if (k256Signature.length !== SignatureChain.signatureLength && k256Signature.length !== 0)
    throw new InvalidKmsSignatureError(k256Signature.length)
  Kdf.assertScalar(appK256Key, { curve: 'secp256k1' })
  const key = Kdf.deriveKey({ ikm: appK256Key, context: [path], length: 32 })
  try {
    const publicKey = SignatureChain.toPublicKey({ key, algorithm })
    const appSignature = SignatureChain.sign({
      privateKey: appK256Key,
      hash: SignatureChain.purposeHash({ purpose, publicKey }),
    })
    return { key, publicKey, signatureChain: [appSignature, k256Signature.slice()] }
  } catch (error) {
    key.fill(0)
    throw error
  }
}

/**
 * The canonical algorithm for a GetKey `algorithm` string (dstack: "" and "k256" mean secp256k1).
 *
 * @throws {UnsupportedAlgorithmError} for anything else.
 *
 * @example
 * GetKey.toAlgorithm('k256') // 'secp256k1'
 */
export function toAlgorithm(name: string): SignatureChain.Algorithm {
  if (name === '' || name === 'secp256k1' || name === 'k256') return 'secp256k1'
  if (name === 'ed25519') return 'ed25519'
  throw new UnsupportedAlgorithmError(name)
}

/** The algorithm is not one GetKey supports. */
export class UnsupportedAlgorithmError extends BaseError {
  override name = 'GetKey.UnsupportedAlgorithmError'
  constructor(algorithm: string) {
    super(`Unsupported algorithm ${JSON.stringify(algorithm)}.`, {
      metaMessages: ['Supported: "secp256k1" (default, alias "k256" or ""), "ed25519".'],
    })
  }
}

/** The app key's KMS signature (chain[1]) is neither 65 bytes nor empty. */
export class InvalidKmsSignatureError extends BaseError {
  override name = 'GetKey.InvalidKmsSignatureError'
  constructor(length: number) {
    super(`k256Signature must be 65 bytes (r ‖ s ‖ recid) or empty (non-KMS key provider), got ${length}.`)
  }
}
