/**
 * The KMS root keys (DESIGN.md §6; reference/dstack.md §3.1): the root secp256k1 key (signs dstack's
 * "dstack-kms-issued" chain entry; its address is the KMS root RegentAppAuth allows per app) and the root CA
 * P-256 key (parent of env, disk and app-CA keys). Generated once by the first node, shared with later nodes
 * only by attested onboarding, and kept at rest sealed with AES-256-GCM (NIST SP 800-38D) under a sealing key
 * the node's environment of trust hands it (docs/kms.md "Sealing").
 *
 * Sealed layout (version 1): "RKMS" ‖ u8 1 ‖ iv(12) ‖ AES-256-GCM(rootK256(32) ‖ rootCa(32)) ‖ tag(16), with
 * AAD = utf8("regent-kms-root-keys/v1").
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { p256 } from '@noble/curves/nist'
import { secp256k1 } from '@noble/curves/secp256k1'
import { Aead, concat } from '@regent-tee/core'
import type { Address } from 'viem'
import { BaseError } from './errors.js'
import * as Kdf from './Kdf.js'
import * as SignatureChain from './SignatureChain.js'

/** The two root private keys (32-byte scalars). */
export type RootKeys = { rootK256: Uint8Array; rootCa: Uint8Array }

/** Magic of a sealed file. */
export const magic = 'RKMS'
/** Current sealed-format version. */
export const version = 1
/** AAD of the sealed format. */
export const sealLabel = 'regent-kms-root-keys/v1'
/** Serialized length of {@link toBytes}. */
export const size = 64

const encoder = new TextEncoder()

/**
 * Generates fresh root keys from the OS CSPRNG.
 *
 * @example
 * const keys = RootKeys.generate()
 */
export function generate(): RootKeys {
  return { rootK256: secp256k1.utils.randomPrivateKey(), rootCa: p256.utils.randomPrivateKey() }
}

/**
 * rootK256 ‖ rootCa (64 bytes): the plaintext of sealing and of onboarding.
 *
 * @throws {InvalidRootKeysError} when a key is not a valid scalar of its curve.
 */
export function toBytes(keys: RootKeys): Uint8Array {
  assert(keys)
  const out = new Uint8Array(size)
  out.set(keys.rootK256, 0)
  out.set(keys.rootCa, 32)
  return out
}

/**
 * Inverse of {@link toBytes}; copies.
 *
 * @throws {InvalidRootKeysError} for a wrong length or invalid scalars.
 */
export function fromBytes(bytes: Uint8Array): RootKeys {
  if (bytes.length !== size) throw new InvalidRootKeysError({ reason: `expected ${size} bytes, got ${bytes.length}` })
  const keys = { rootK256: Uint8Array.from(bytes.subarray(0, 32)), rootCa: Uint8Array.from(bytes.subarray(32)) }
  assert(keys)
  return keys
}

/**
 * Throws unless both keys are valid private scalars.
 *
 * @throws {InvalidRootKeysError}
 */
export function assert(keys: RootKeys): void {
  if (keys.rootK256.length !== 32 || !secp256k1.utils.isValidPrivateKey(keys.rootK256))
    throw new InvalidRootKeysError({ reason: 'rootK256 is not a secp256k1 private key' })
  if (keys.rootCa.length !== 32 || !p256.utils.isValidPrivateKey(keys.rootCa))
    throw new InvalidRootKeysError({ reason: 'rootCa is not a P-256 private key' })
}

/**
 * Seals root keys under a 32-byte sealing key (see the module header for the layout).
 *
 * @throws {InvalidSealingKeyError} unless `key` is 32 bytes.
 * @example
 * const sealed = RootKeys.seal(keys, { key: sealingKey })
 */
export function seal(keys: RootKeys, options: { key: Uint8Array }): Uint8Array {
  if (options.key.length !== 32) throw new InvalidSealingKeyError({ length: options.key.length })
  const plaintext = toBytes(keys)
  try {
    return concat([Buffer.from(magic), Uint8Array.of(version), Aead.sealBytes(options.key, plaintext, { ad: encoder.encode(sealLabel) })])
  } finally {
    plaintext.fill(0)
  }
}

/**
 * Opens {@link seal} output.
 *
 * @throws {InvalidSealingKeyError} unless `key` is 32 bytes.
 * @throws {InvalidSealedError} for a wrong magic or length.
 * @throws {UnsupportedVersionError} for another version byte.
 * @throws {UnsealError} when the tag does not verify (wrong key or altered bytes).
 * @example
 * const keys = RootKeys.unseal(sealed, { key: sealingKey })
 */
export function unseal(sealed: Uint8Array, options: { key: Uint8Array }): RootKeys {
  if (options.key.length !== 32) throw new InvalidSealingKeyError({ length: options.key.length })
  if (sealed.length !== 4 + 1 + 12 + size + 16 || Buffer.from(sealed.subarray(0, 4)).toString('latin1') !== magic)
    throw new InvalidSealedError()
  if (sealed[4] !== version) throw new UnsupportedVersionError({ version: sealed[4] as number })
  const plaintext = Aead.openBytes(options.key, sealed.subarray(5), { ad: encoder.encode(sealLabel) })
  if (!plaintext) throw new UnsealError()
  try {
    return fromBytes(plaintext)
  } finally {
    plaintext.fill(0)
  }
}

/** The node's public identity. */
export type Identity = {
  /** Compressed root k256 public key (33 bytes). */
  k256PublicKey: Uint8Array
  /** Ethereum address of the root k256 key (what RegentAppAuth's `addKmsRoot` takes). */
  address: Address
  /** SubjectPublicKeyInfo DER of the root CA P-256 key (dstack's key-provider id for a KMS). */
  caSpki: Uint8Array
}

/**
 * The public identity of root keys.
 *
 * @example
 * const { address } = RootKeys.identity(keys)
 */
export function identity(keys: RootKeys): Identity {
  const k256PublicKey = secp256k1.getPublicKey(keys.rootK256, true)
  const pkcs8 = Kdf.toPkcs8({ privateKey: keys.rootCa })
  try {
    const caSpki = new Uint8Array(
      createPublicKey(createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' }),
    )
    return { k256PublicKey, address: SignatureChain.kmsRootAddress(k256PublicKey), caSpki }
  } finally {
    pkcs8.fill(0)
  }
}

/**
 * Overwrites both keys with zeros.
 *
 * @example
 * RootKeys.wipe(keys)
 */
export function wipe(keys: RootKeys): void {
  keys.rootK256.fill(0)
  keys.rootCa.fill(0)
}

/** Root keys are malformed. */
export class InvalidRootKeysError extends BaseError {
  override name = 'RootKeys.InvalidRootKeysError'
  constructor({ reason }: { reason: string }) {
    super(`Invalid root keys: ${reason}.`)
  }
}

/** The sealing key is not 32 bytes. */
export class InvalidSealingKeyError extends BaseError {
  override name = 'RootKeys.InvalidSealingKeyError'
  constructor({ length }: { length: number }) {
    super(`The sealing key must be 32 bytes, got ${length}.`)
  }
}

/** Not a sealed root-keys blob. */
export class InvalidSealedError extends BaseError {
  override name = 'RootKeys.InvalidSealedError'
  constructor() {
    super(`Not sealed root keys: expected "${magic}" and ${4 + 1 + 12 + size + 16} bytes.`)
  }
}

/** A sealed blob of another format version. */
export class UnsupportedVersionError extends BaseError {
  override name = 'RootKeys.UnsupportedVersionError'
  constructor({ version: v }: { version: number }) {
    super(`Unsupported sealed root-keys version ${v}; this build reads version ${version}.`)
  }
}

/** The sealed blob does not open with this key (wrong key or tampered bytes). */
export class UnsealError extends BaseError {
  override name = 'RootKeys.UnsealError'
  constructor() {
    super('The sealed root keys do not open: wrong sealing key or altered bytes.')
  }
}
