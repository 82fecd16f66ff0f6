/**
 * The dstack key helpers the devnet guest agent needs beyond @regent-tee/kms (which owns AppKeys and GetKey):
 * algorithm names, the TLS-key seed expansion, PKCS#8 of P-256 keys, and Sign/Verify.
 *
 * Spec (facts from reference/dstack.md, no code copied):
 * - §3.1 `derive_key` = HKDF-SHA256(ikm, salt "RATLS", info = ‖ context); P-256 scalars from the same bytes;
 *   `derive_dh_secret` = SHA-256 of the 138-byte PKCS#8 DER of the derived P-256 key.
 * - §3.2 KMS side: app `k256_key` = derive_key(root k256, [app_id, "app-key"]); `k256_signature` = recoverable
 *   secp256k1 signature by the root k256 key over Keccak-256("dstack-kms-issued:" ‖ app_id ‖ compressed app pubkey);
 *   `env_crypt_key` = derive_dh_secret(root CA, [app_id, "env-encrypt-key"]); `disk_crypt_key` =
 *   derive_dh_secret(root CA, [app_id, instance_id, "app-disk-crypt-key"]); app CA = P-256 from
 *   derive_key(root CA scalar, [app_id, "app-ca"]).
 * - §3.3 guest side (GetKey): key = derive_key(app k256, [path]); chain[0] = recoverable signature by the app
 *   key over Keccak-256(utf8(purpose + ":" + hex(pubkey))) where pubkey is compressed secp256k1 or ed25519;
 *   chain[1] = the KMS's `k256_signature`.
 * - §1.2 Sign/Verify: key = GetKey("vms", "signing"); secp256k1 signs SHA-256(data), `secp256k1_prehashed` signs
 *   the 32-byte data as is (64-byte r‖s); ed25519 is RFC 8032.
 *
 * The KMS-side and GetKey formulas (§3.2, §3.3) live in @regent-tee/kms and are used from there.
 */
import { ed25519 } from '@noble/curves/ed25519'
import { p256 } from '@noble/curves/nist'
import { secp256k1 } from '@noble/curves/secp256k1'
import { hkdf } from '@noble/hashes/hkdf'
import { sha256 } from '@noble/hashes/sha2'
import { BaseError } from '@regent-tee/attest'

const encoder = new TextEncoder()

/** GetKey / Sign algorithms. `k256` and `""` are aliases of `secp256k1`. */
export type KeyAlgorithm = 'secp256k1' | 'ed25519'
/** Sign / Verify algorithms. */
export type SignAlgorithm = 'secp256k1' | 'secp256k1_prehashed' | 'ed25519'

/** dstack `derive_key`: HKDF-SHA256 with salt "RATLS" and the context parts concatenated as info. */
export function deriveKey(options: { ikm: Uint8Array; context: readonly (string | Uint8Array)[]; length?: number }): Uint8Array {
  const info = concat(...options.context.map((c) => (typeof c === 'string' ? encoder.encode(c) : c)))
  return hkdf(sha256, options.ikm, encoder.encode('RATLS'), info, options.length ?? 32)
}

/** A derived P-256 key: dstack `derive_p256_key_pair(_from_bytes)`. */
export function deriveP256(options: { ikm: Uint8Array; context: readonly (string | Uint8Array)[] }): {
  privateKey: Uint8Array
  publicKey: Uint8Array
} {
  const privateKey = deriveKey(options)
  return { privateKey, publicKey: p256.getPublicKey(privateKey, false) }
}

/** dstack `derive_dh_secret`: SHA-256 of the PKCS#8 DER of the derived P-256 key. */
export function deriveDhSecret(options: { ikm: Uint8Array; context: readonly (string | Uint8Array)[] }): Uint8Array {
  const { privateKey, publicKey } = deriveP256(options)
  const der = p256Pkcs8({ privateKey, publicKey })
  const out = sha256(der)
  der.fill(0)
  privateKey.fill(0)
  return out
}

/** The 138-byte PKCS#8 v1 DER of a P-256 key (no [0] parameters in the ECPrivateKey), as dstack hashes it. */
export function p256Pkcs8(options: { privateKey: Uint8Array; publicKey?: Uint8Array }): Uint8Array {
  const publicKey = options.publicKey ?? p256.getPublicKey(options.privateKey, false)
  return concat(
    Uint8Array.from([
      0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
      0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20,
    ]),
    options.privateKey,
    Uint8Array.from([0xa1, 0x44, 0x03, 0x42, 0x00]),
    publicKey,
  )
}

/** Normalizes a GetKey algorithm name (dstack: `""`/`k256` → secp256k1). */
export function keyAlgorithm(name: string): KeyAlgorithm {
  if (name === '' || name === 'secp256k1' || name === 'k256') return 'secp256k1'
  if (name === 'ed25519') return 'ed25519'
  throw new UnsupportedAlgorithmError({ algorithm: name })
}

/** Normalizes a Sign/Verify algorithm name. */
export function signAlgorithm(name: string): SignAlgorithm {
  if (name === 'secp256k1' || name === 'k256') return 'secp256k1'
  if (name === 'secp256k1_prehashed' || name === 'ed25519') return name
  throw new UnsupportedAlgorithmError({ algorithm: name })
}

/** The public key GetKey's chain signs: compressed secp256k1 (33 B) or ed25519 (32 B). */
export function publicKeyOf(options: { key: Uint8Array; algorithm: KeyAlgorithm }): Uint8Array {
  return options.algorithm === 'ed25519' ? ed25519.getPublicKey(options.key) : secp256k1.getPublicKey(options.key, true)
}

/** Signs `data` with `key` (§1.2 Sign semantics). @throws {InvalidSignInputError} for prehashed data not 32 bytes. */
export function sign(options: { key: Uint8Array; algorithm: SignAlgorithm; data: Uint8Array }): Uint8Array {
  if (options.algorithm === 'ed25519') return ed25519.sign(options.data, options.key)
  const hash = options.algorithm === 'secp256k1' ? sha256(options.data) : options.data
  if (hash.length !== 32) throw new InvalidSignInputError({ reason: 'secp256k1_prehashed data must be exactly 32 bytes' })
  return secp256k1.sign(hash, options.key, { prehash: false }).toCompactRawBytes()
}

/** Verifies a signature by {@link sign}'s rules; false for any malformed input. */
export function verify(options: { algorithm: SignAlgorithm; data: Uint8Array; signature: Uint8Array; publicKey: Uint8Array }): boolean {
  try {
    if (options.algorithm === 'ed25519') return ed25519.verify(options.signature, options.data, options.publicKey)
    const hash = options.algorithm === 'secp256k1' ? sha256(options.data) : options.data
    if (hash.length !== 32 || options.signature.length !== 64) return false
    return secp256k1.verify(options.signature, hash, options.publicKey, { prehash: false, lowS: false })
  } catch {
    return false
  }
}

/** Recovers the compressed secp256k1 signer of a 65-byte r‖s‖recid signature over a 32-byte hash. */
export function recover(options: { hash: Uint8Array; signature: Uint8Array }): Uint8Array {
  const recovery = options.signature[64]
  if (options.signature.length !== 65 || (recovery !== 0 && recovery !== 1))
    throw new InvalidSignInputError({ reason: 'expected r‖s‖recid' })
  return secp256k1.Signature.fromCompact(options.signature.subarray(0, 64))
    .addRecoveryBit(recovery)
    .recoverPublicKey(options.hash)
    .toRawBytes(true)
}

/** Concatenates byte arrays. */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** The algorithm is not one dstack supports (the guest agent answers 400 "Unsupported algorithm"). */
export class UnsupportedAlgorithmError extends BaseError {
  override name = 'DstackKeys.UnsupportedAlgorithmError'
  constructor({ algorithm }: { algorithm: string }) {
    super(`Unsupported algorithm: ${JSON.stringify(algorithm)}.`)
  }
}

/** Input to sign is malformed. */
export class InvalidSignInputError extends BaseError {
  override name = 'DstackKeys.InvalidSignInputError'
  constructor({ reason }: { reason: string }) {
    super(`Invalid signing input: ${reason}.`)
  }
}
