/**
 * KMS side of dstack's key hierarchy: the per-app keys a KMS releases to an approved CVM,
 * derived from the two KMS roots (root k256 key, root CA P-256 key) and the app identity.
 *
 * Follows dstack `kms/src/main_service.rs::get_app_key` and `kms/src/crypto.rs` (reference/dstack.md
 * §3.2, §6.1); vectors §8 items 2 and 4. Labels ("app-key", "env-encrypt-key", "app-disk-crypt-key",
 * "app-ca", "dstack-kms-issued") are dstack's, fixed by compatibility.
 */
import { secp256k1 } from '@noble/curves/secp256k1'
import { BaseError } from './errors.js'
import * as Kdf from './Kdf.js'
import * as SignatureChain from './SignatureChain.js'

/** The keys a KMS releases for one app (and, for the disk key, one instance). */
export type AppKeys = {
  /** App root secp256k1 key (32 B): `derive_key(root_k256, [app_id, "app-key"])`. */
  k256Key: Uint8Array
  /** Its compressed public key (33 B). */
  k256PublicKey: Uint8Array
  /** Root k256 signature over Keccak-256("dstack-kms-issued:" ‖ app_id ‖ k256PublicKey), 65 B `r ‖ s ‖ recid`. */
  k256Signature: Uint8Array
  /** X25519 private key for encrypted env (32 B): `derive_dh_secret(root_ca, [app_id, "env-encrypt-key"])`. */
  envCryptKey: Uint8Array
  /** Disk key (32 B; dstack hex-encodes it as LUKS passphrase), only when `instanceId` was given. */
  diskCryptKey?: Uint8Array
  /** App CA P-256 key pair: `derive_p256_key_pair(root_ca, [app_id, "app-ca"])`. */
  appCa: Kdf.P256KeyPair
}

/**
 * Derives an app's keys from the KMS roots, as dstack's KMS does in `GetAppKey`.
 *
 * @param options.rootK256 - KMS root secp256k1 private key (32 B).
 * @param options.rootCa - KMS root CA P-256 private key (32-byte scalar or KeyObject).
 * @param options.appId - 20-byte app id.
 * @param options.instanceId - 20-byte instance id, or empty (dstack `no_instance_id`); needed for `diskCryptKey`.
 * @returns Fresh buffers the caller owns (wipe them after use).
 * @throws {InvalidAppIdError} / {InvalidInstanceIdError} on wrong lengths.
 * @throws {Kdf.InvalidScalarError} if `rootK256` (or a derived key) is not a valid scalar.
 * @throws {Kdf.InvalidPrivateKeyError} if `rootCa` is not a P-256 private key.
 *
 * @example
 * const keys = AppKeys.derive({ rootK256, rootCa, appId, instanceId })
 */
export function derive(options: { rootK256: Uint8Array; rootCa: Kdf.P256PrivateKey; appId: Uint8Array; instanceId?: Uint8Array }): AppKeys {
  const { rootK256, appId, instanceId } = options
  if (appId.length !== 20) throw new InvalidAppIdError(appId.length)
  if (instanceId !== undefined && instanceId.length !== 20 && instanceId.length !== 0) throw new InvalidInstanceIdError(instanceId.length)
  Kdf.assertScalar(rootK256, { curve: 'secp256k1' })

  const rootCa = Kdf.toP256Scalar(options.rootCa)
  try {
    // §3.2 k256_key / k256_signature
    const k256Key = Kdf.deriveKey({ ikm: rootK256, context: [appId, 'app-key'], length: 32 })
    Kdf.assertScalar(k256Key, { curve: 'secp256k1' })
    const k256PublicKey = secp256k1.getPublicKey(k256Key, true)
    const k256Signature = SignatureChain.sign({
      privateKey: rootK256,
      hash: SignatureChain.kmsIssuedHash({ appId, appPublicKey: k256PublicKey }),
    })
    // §3.2 / §6.1 env_crypt_key, disk_crypt_key, app CA
    const envCryptKey = Kdf.deriveDhSecret({ parentKey: rootCa, context: [appId, 'env-encrypt-key'] })
    const appCa = Kdf.deriveP256({ parentKey: rootCa, context: [appId, 'app-ca'] })
    const keys: AppKeys = { k256Key, k256PublicKey, k256Signature, envCryptKey, appCa }
    if (instanceId !== undefined)
      keys.diskCryptKey = Kdf.deriveDhSecret({ parentKey: rootCa, context: [appId, instanceId, 'app-disk-crypt-key'] })
    return keys
  } finally {
    rootCa.fill(0)
  }
}

/**
 * Overwrites every secret buffer of `keys` with zeros.
 *
 * @example
 * AppKeys.wipe(keys)
 */
export function wipe(keys: AppKeys): void {
  keys.k256Key.fill(0)
  keys.envCryptKey.fill(0)
  keys.diskCryptKey?.fill(0)
  keys.appCa.privateKey.fill(0)
}

/** An app id is not 20 bytes. */
export class InvalidAppIdError extends BaseError {
  override name = 'AppKeys.InvalidAppIdError'
  constructor(length: number) {
    super(`appId must be 20 bytes, got ${length}.`)
  }
}

/** An instance id is neither 20 bytes nor empty. */
export class InvalidInstanceIdError extends BaseError {
  override name = 'AppKeys.InvalidInstanceIdError'
  constructor(length: number) {
    super(`instanceId must be 20 bytes (or empty for no_instance_id), got ${length}.`)
  }
}
