/**
 * dstack's encrypted environment variables: X25519 + AES-256-GCM (ECIES-like, no KDF, no AAD),
 * ciphertext `ephemeral_pk(32) ‖ iv(12) ‖ ct ‖ tag(16)`, plaintext `{"env":[{"key","value"},…]}`;
 * and the KMS root's signatures over an app's env public key.
 *
 * Follows dstack `docs/encrypted-env-spec.md`, `sdk/js/src/encrypt-env-vars.ts`,
 * `dstack-util/src/crypto.rs` (decrypt), `dstack-util/src/parse_env_file.rs` (limits),
 * `kms/src/crypto.rs::sign_message*` and `sdk/js/src/verify-env-encrypt-public-key.ts` —
 * reference/dstack.md §6.1–§6.3; vectors §8 items 4, 5, 6. The label "dstack-env-encrypt-pubkey"
 * is dstack's, fixed by compatibility.
 *
 * Security (§6.3): this gives confidentiality only. Anyone who knows the app's public key can
 * encrypt a replacement env; apps must authenticate env contents themselves.
 */
import { gcm } from '@noble/ciphers/aes'
import { x25519 } from '@noble/curves/ed25519'
import { keccak_256 } from '@noble/hashes/sha3'
import { bytesToHex, randomBytes } from '@noble/hashes/utils'
import { BaseError } from './errors.js'
import * as SignatureChain from './SignatureChain.js'

/** One environment variable. */
export type EnvVar = { key: string; value: string }

/** Label of the KMS root's signature over an env public key. */
export const publicKeyLabel = 'dstack-env-encrypt-pubkey'

/** Default maximum age of a timestamped env public key signature (seconds), as the dstack JS SDK. */
export const defaultMaxAgeSeconds = 300

/** Limits the guest applies when it parses a decrypted env (`parse_env_file.rs`). */
export const limits = { entries: 1024, keyLength: 255, valueBytes: 128 * 1024, totalBytes: 1024 * 1024 } as const

const overhead = 32 + 12 + 16
const keyPattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const encoder = new TextEncoder()

/**
 * The X25519 public key of an app's `envCryptKey` (what `GetAppEnvEncryptPubKey` returns).
 *
 * @example
 * EnvEncryption.toPublicKey({ envCryptKey })
 */
export function toPublicKey(options: { envCryptKey: Uint8Array }): Uint8Array {
  if (options.envCryptKey.length !== 32) throw new InvalidKeyError('envCryptKey', options.envCryptKey.length)
  return x25519.getPublicKey(options.envCryptKey)
}

/**
 * Encrypts env vars to an app's X25519 public key, as dstack's SDK `encryptEnvVars` (§6.2).
 * Checks the env against the limits the guest enforces first, so it never produces an env the
 * guest would drop.
 *
 * @param options.envs - Variables, in order.
 * @param options.publicKey - The app's 32-byte X25519 env public key (verify its KMS signature first: {@link verifyPublicKey}).
 * @returns Raw ciphertext `ephemeral_pk ‖ iv ‖ ct ‖ tag` (dstack's SDK hex-encodes it).
 * @throws {InvalidEnvError} if a key or value breaks the guest's rules.
 * @throws {InvalidKeyError} if the public key is not 32 bytes.
 * @throws {LowOrderPublicKeyError} if it is a low-order point.
 *
 * @example
 * const ciphertext = EnvEncryption.encrypt({ envs: [{ key: 'API_KEY', value: 'x' }], publicKey })
 */
export function encrypt(options: { envs: readonly EnvVar[]; publicKey: Uint8Array }): Uint8Array {
  assertEnvs(options.envs)
  const plaintext = encoder.encode(JSON.stringify({ env: options.envs.map(({ key, value }) => ({ key, value })) }))
  if (plaintext.length > limits.totalBytes)
    throw new InvalidEnvError(`the env is ${plaintext.length} bytes, at most ${limits.totalBytes} are allowed`)
  try {
    return encryptBytes({ plaintext, publicKey: options.publicKey })
  } finally {
    plaintext.fill(0)
  }
}

/**
 * Decrypts an encrypted env with the app's `envCryptKey` and parses `{"env":[…]}`.
 *
 * @returns The variables (unfiltered: applying app-compose `allowed_envs` is the caller's job).
 * @throws {InvalidCiphertextError} if the ciphertext is shorter than 60 bytes.
 * @throws {LowOrderPublicKeyError} if its ephemeral public key is a low-order point.
 * @throws {DecryptionFailedError} if the tag does not verify (wrong key or tampered bytes).
 * @throws {InvalidPlaintextError} if the plaintext is not `{"env":[{"key":string,"value":string},…]}`.
 *
 * @example
 * const envs = EnvEncryption.decrypt({ ciphertext, envCryptKey })
 */
export function decrypt(options: { ciphertext: Uint8Array; envCryptKey: Uint8Array }): EnvVar[] {
  const plaintext = decryptBytes(options)
  try {
    return parse(plaintext)
  } finally {
    plaintext.fill(0)
  }
}

/**
 * The byte layer of {@link encrypt}: `ephemeral_pk ‖ iv ‖ AES-256-GCM(X25519(eph, pk), iv, plaintext)`.
 *
 * @example
 * EnvEncryption.encryptBytes({ plaintext, publicKey })
 */
export function encryptBytes(options: { plaintext: Uint8Array; publicKey: Uint8Array }): Uint8Array {
  const { plaintext, publicKey } = options
  if (publicKey.length !== 32) throw new InvalidKeyError('publicKey', publicKey.length)
  const ephemeral = x25519.utils.randomPrivateKey()
  const shared = sharedSecret(ephemeral, publicKey, 'publicKey')
  try {
    const iv = randomBytes(12)
    const sealed = gcm(shared, iv).encrypt(plaintext)
    const out = new Uint8Array(32 + 12 + sealed.length)
    out.set(x25519.getPublicKey(ephemeral), 0)
    out.set(iv, 32)
    out.set(sealed, 44)
    return out
  } finally {
    shared.fill(0)
    ephemeral.fill(0)
  }
}

/**
 * The byte layer of {@link decrypt}: splits 32/12/rest and opens with X25519(envCryptKey, ephemeral_pk).
 *
 * @throws {InvalidCiphertextError} / {DecryptionFailedError} as {@link decrypt}.
 *
 * @example
 * EnvEncryption.decryptBytes({ ciphertext, envCryptKey })
 */
export function decryptBytes(options: { ciphertext: Uint8Array; envCryptKey: Uint8Array }): Uint8Array {
  const { ciphertext, envCryptKey } = options
  if (envCryptKey.length !== 32) throw new InvalidKeyError('envCryptKey', envCryptKey.length)
  if (ciphertext.length < overhead) throw new InvalidCiphertextError(ciphertext.length)
  const shared = sharedSecret(envCryptKey, ciphertext.subarray(0, 32), 'ephemeral public key')
  try {
    return gcm(shared, ciphertext.subarray(32, 44)).decrypt(ciphertext.subarray(44))
  } catch (cause) {
    throw new DecryptionFailedError({ cause })
  } finally {
    shared.fill(0)
  }
}

/**
 * Parses a decrypted env plaintext `{"env":[{"key":string,"value":string},…]}`.
 *
 * @throws {InvalidPlaintextError} naming what is wrong.
 *
 * @example
 * EnvEncryption.parse(plaintext)
 */
export function parse(plaintext: Uint8Array): EnvVar[] {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext))
  } catch (cause) {
    throw new InvalidPlaintextError('not UTF-8 JSON', { cause })
  }
  const env = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as { env?: unknown }).env : undefined
  if (!Array.isArray(env)) throw new InvalidPlaintextError('expected an object with an "env" array')
  return env.map((entry: unknown, i) => {
    const { key, value } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>
    if (typeof key !== 'string' || typeof value !== 'string')
      throw new InvalidPlaintextError(`env[${i}] must be {"key": string, "value": string}`)
    return { key, value }
  })
}

/**
 * Asserts that env vars satisfy the guest's rules (`parse_env_file.rs`): at most 1024 entries,
 * keys matching `^[a-zA-Z_][a-zA-Z0-9_]*$` and at most 255 characters, values at most 128 KiB.
 *
 * @throws {InvalidEnvError} naming the entry that fails.
 *
 * @example
 * EnvEncryption.assertEnvs([{ key: 'FOO', value: 'bar' }])
 */
export function assertEnvs(envs: readonly EnvVar[]): void {
  if (envs.length > limits.entries) throw new InvalidEnvError(`${envs.length} entries, at most ${limits.entries} are allowed`)
  envs.forEach(({ key, value }, i) => {
    if (!keyPattern.test(key)) throw new InvalidEnvError(`env[${i}].key ${JSON.stringify(key)} must match ${keyPattern.source}`)
    if (key.length > limits.keyLength)
      throw new InvalidEnvError(`env[${i}].key is ${key.length} characters, at most ${limits.keyLength} are allowed`)
    const size = encoder.encode(value).length
    if (size > limits.valueBytes) throw new InvalidEnvError(`env[${i}].value is ${size} bytes, at most ${limits.valueBytes} are allowed`)
  })
}

/**
 * Hash the KMS root signs for an env public key (§6.3): Keccak-256("dstack-env-encrypt-pubkey" ‖ ":"
 * ‖ appId(20) ‖ [u64_be(timestamp)] ‖ publicKey(32)); without `timestamp` the legacy `signature`,
 * with it `signature_v1`.
 */
function publicKeyHash(options: { appId: Uint8Array; publicKey: Uint8Array; timestamp?: bigint | undefined }): Uint8Array {
  const { appId, publicKey, timestamp } = options
  if (appId.length !== 20) throw new InvalidKeyError('appId', appId.length, 20)
  if (publicKey.length !== 32) throw new InvalidKeyError('publicKey', publicKey.length)
  const label = encoder.encode(`${publicKeyLabel}:`)
  const ts = timestamp === undefined ? new Uint8Array(0) : new Uint8Array(8)
  if (timestamp !== undefined) new DataView(ts.buffer).setBigUint64(0, timestamp, false)
  const message = new Uint8Array(label.length + 20 + ts.length + 32)
  message.set(label, 0)
  message.set(appId, label.length)
  message.set(ts, label.length + 20)
  message.set(publicKey, label.length + 20 + ts.length)
  return keccak_256(message)
}

/**
 * KMS side of §6.3: the root k256 key's 65-byte recoverable signature over an app's env public key
 * (legacy form without `timestamp`, `signature_v1` with a unix-seconds `timestamp`).
 *
 * @example
 * EnvEncryption.signPublicKey({ rootK256, appId, publicKey, timestamp: BigInt(Math.floor(Date.now() / 1000)) })
 */
export function signPublicKey(options: { rootK256: Uint8Array; appId: Uint8Array; publicKey: Uint8Array; timestamp?: bigint }): Uint8Array {
  return SignatureChain.sign({ privateKey: options.rootK256, hash: publicKeyHash(options) })
}

/**
 * Client side of §6.3: recovers the signer of an env public key signature and, when given,
 * checks it is the trusted KMS root. With `timestamp` (`signature_v1`) it also rejects
 * timestamps more than 60 s in the future or older than `maxAgeSeconds` (as the dstack JS SDK).
 *
 * @param options.now - Current unix time in seconds (default: the clock).
 * @returns The signer's compressed secp256k1 public key (33 B).
 * @throws {SignatureChain.InvalidSignatureLengthError} / {SignatureChain.InvalidRecoveryIdError} / {SignatureChain.InvalidSignatureError}.
 * @throws {TimestampError} if the timestamp is out of the window.
 * @throws {SignerMismatchError} if the signer is not `kmsRootPublicKey`.
 *
 * @example
 * EnvEncryption.verifyPublicKey({ publicKey, signature, appId, timestamp, kmsRootPublicKey })
 */
export function verifyPublicKey(options: {
  publicKey: Uint8Array
  signature: Uint8Array
  appId: Uint8Array
  timestamp?: bigint
  maxAgeSeconds?: number
  now?: bigint
  kmsRootPublicKey?: Uint8Array
}): Uint8Array {
  const { publicKey, signature, appId, timestamp } = options
  if (timestamp !== undefined) {
    const now = options.now ?? BigInt(Math.floor(Date.now() / 1000))
    const maxAge = BigInt(options.maxAgeSeconds ?? defaultMaxAgeSeconds)
    const age = now - timestamp
    if (age < -60n) throw new TimestampError(`${-age}s in the future (at most 60s allowed)`)
    if (age > maxAge) throw new TimestampError(`${age}s old (at most ${maxAge}s allowed)`)
  }
  const signer = SignatureChain.recover({
    hash: publicKeyHash({ appId, publicKey, timestamp }),
    signature,
    name: 'env public key signature',
  })
  if (options.kmsRootPublicKey !== undefined) {
    const expected = SignatureChain.toCompressed(options.kmsRootPublicKey, 'kmsRootPublicKey')
    if (bytesToHex(expected) !== bytesToHex(signer)) throw new SignerMismatchError(`0x${bytesToHex(expected)}`, `0x${bytesToHex(signer)}`)
  }
  return signer
}

function sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array, name: string): Uint8Array {
  try {
    return x25519.getSharedSecret(privateKey, publicKey)
  } catch (cause) {
    // noble rejects an all-zero shared secret (a low-order public key).
    throw new LowOrderPublicKeyError(name, { cause })
  }
}

/** A key or id has the wrong length. */
export class InvalidKeyError extends BaseError {
  override name = 'EnvEncryption.InvalidKeyError'
  constructor(what: string, length: number, expected = 32) {
    super(`Invalid ${what}: expected ${expected} bytes, got ${length}.`)
  }
}

/** An X25519 public key is a low-order point (the shared secret would be all zeros). */
export class LowOrderPublicKeyError extends BaseError {
  override name = 'EnvEncryption.LowOrderPublicKeyError'
  constructor(what: string, options: { cause: unknown }) {
    super(`Invalid ${what}: a low-order X25519 point (all-zero shared secret).`, options)
  }
}

/** The ciphertext is too short to hold `ephemeral_pk ‖ iv ‖ tag`. */
export class InvalidCiphertextError extends BaseError {
  override name = 'EnvEncryption.InvalidCiphertextError'
  constructor(length: number) {
    super(`Encrypted env must be at least ${overhead} bytes (ephemeral_pk ‖ iv ‖ ct ‖ tag), got ${length}.`)
  }
}

/** AES-GCM authentication failed. */
export class DecryptionFailedError extends BaseError {
  override name = 'EnvEncryption.DecryptionFailedError'
  constructor(options: { cause: unknown }) {
    super('Encrypted env does not decrypt: wrong envCryptKey or tampered ciphertext.', options)
  }
}

/** The decrypted plaintext is not an env document. */
export class InvalidPlaintextError extends BaseError {
  override name = 'EnvEncryption.InvalidPlaintextError'
  constructor(reason: string, options: { cause?: unknown } = {}) {
    super(`Decrypted env is invalid: ${reason}.`, options)
  }
}

/** An env var breaks the guest's rules. */
export class InvalidEnvError extends BaseError {
  override name = 'EnvEncryption.InvalidEnvError'
  constructor(reason: string) {
    super(`Invalid env: ${reason}.`)
  }
}

/** The timestamp of a `signature_v1` is outside the accepted window. */
export class TimestampError extends BaseError {
  override name = 'EnvEncryption.TimestampError'
  constructor(reason: string) {
    super(`Env public key signature timestamp is ${reason}.`)
  }
}

/** The env public key was not signed by the trusted KMS root. */
export class SignerMismatchError extends BaseError {
  override name = 'EnvEncryption.SignerMismatchError'
  constructor(expected: string, recovered: string) {
    super('Env public key is not signed by the trusted KMS root.', {
      metaMessages: [`Expected:  ${expected}`, `Recovered: ${recovered}`],
    })
  }
}

/** What a KMS publishes for an app's env key (dstack `KMS.GetAppEnvEncryptPubKey` → `PublicKeyResponse`). */
export type PublishedPublicKey = {
  /** X25519 public key (32 bytes). */
  publicKey: Uint8Array
  /** Legacy root signature (65 bytes) over `keccak256("dstack-env-encrypt-pubkey" ‖ ":" ‖ app_id ‖ public_key)`. */
  signature: Uint8Array
  /** Unix seconds signed into {@link PublishedPublicKey.signatureV1}. */
  timestamp: bigint
  /** Root signature with the timestamp (`signature_v1`). */
  signatureV1: Uint8Array
}

/**
 * The KMS side of `GetAppEnvEncryptPubKey` (dstack.md §6.1, §6.3): the app's env public key (X25519 of
 * `envCryptKey`) signed by the root k256 key, in both signature forms.
 *
 * @example
 * const published = EnvEncryption.publish({ rootK256, appId, envCryptKey, now: BigInt(Math.floor(Date.now() / 1000)) })
 */
export function publish(options: { rootK256: Uint8Array; appId: Uint8Array; envCryptKey: Uint8Array; now: bigint }): PublishedPublicKey {
  const publicKey = toPublicKey({ envCryptKey: options.envCryptKey })
  return {
    publicKey,
    signature: signPublicKey({ rootK256: options.rootK256, appId: options.appId, publicKey }),
    timestamp: options.now,
    signatureV1: signPublicKey({ rootK256: options.rootK256, appId: options.appId, publicKey, timestamp: options.now }),
  }
}
