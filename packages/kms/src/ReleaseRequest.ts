/**
 * Wire format of attested key release and onboarding (docs/kms.md "Wire formats", a permanent, versioned
 * contract): the report_data a requester's quote must carry, the request transcript hash, the X25519 +
 * HKDF-SHA256 + AES-256-GCM envelope that carries keys to the requester's ephemeral key, the request bodies,
 * and the binary layout of released app keys.
 *
 * Labels are Regent's own (DESIGN.md §6: "the keys travel encrypted to a key bound in the requester's
 * report_data"); dstack's KMS binds an RA-TLS certificate instead (reference/dstack.md §5), so these are not
 * dstack wire formats. Primitives: RFC 7748 (X25519), RFC 5869 (HKDF), NIST SP 800-38D (AES-GCM) via node:crypto.
 */
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { Aead, Envelope as EnvelopeKey } from '@regent-tee/core'
import { BaseError } from './errors.js'

/** What a report_data binding is for. */
export type Purpose = 'keys' | 'onboard'

/** Domain-separation labels of report_data, per purpose (version 1). */
export const reportDataLabels = { keys: 'regent-kms-key-request/v1', onboard: 'regent-kms-onboard/v1' } as const satisfies Record<
  Purpose,
  string
>

/** Label of the transcript hash (AEAD associated data and HKDF salt). */
export const transcriptLabel = 'regent-kms-transcript/v1'

/** HKDF info of the envelope key. */
export const envelopeInfo = 'regent-kms-envelope/v1'

/** Nonce length (bytes). */
export const nonceLength = 32

/** X25519 public key length (bytes). */
export const publicKeyLength = 32

/** Version byte of the released app keys payload. */
export const appKeysVersion = 1

const encoder = new TextEncoder()

/**
 * report_data = SHA-512(utf8(label) ‖ 0x00 ‖ ephemeralPublicKey(32) ‖ nonce(32)), 64 bytes.
 *
 * @throws {InvalidFieldError} for a public key or nonce of the wrong length.
 * @example
 * const reportData = ReleaseRequest.toReportData({ purpose: 'keys', ephemeralPublicKey, nonce })
 */
export function toReportData(options: { purpose: Purpose; ephemeralPublicKey: Uint8Array; nonce: Uint8Array }): Uint8Array {
  assertLength('ephemeralPublicKey', options.ephemeralPublicKey, publicKeyLength)
  assertLength('nonce', options.nonce, nonceLength)
  return new Uint8Array(
    createHash('sha512')
      .update(encoder.encode(reportDataLabels[options.purpose]))
      .update(Uint8Array.of(0))
      .update(options.ephemeralPublicKey)
      .update(options.nonce)
      .digest(),
  )
}

/** The facts a response is bound to. */
export type Transcript = {
  purpose: Purpose
  /** SHA-256 of the request quote bytes. */
  quoteHash: Uint8Array
  /** The requester's X25519 public key. */
  requesterPublicKey: Uint8Array
  nonce: Uint8Array
  /** The responder's ephemeral X25519 public key. */
  responderPublicKey: Uint8Array
  /** The KMS root k256 compressed public key (33 bytes) of the node that answers. */
  kmsRootPublicKey: Uint8Array
}

/**
 * transcript = SHA-256(utf8(label) ‖ 0x00 ‖ utf8(purpose) ‖ 0x00 ‖ quoteHash(32) ‖ requesterPublicKey(32) ‖
 * nonce(32) ‖ responderPublicKey(32) ‖ kmsRootPublicKey(33)).
 *
 * @example
 * const aad = ReleaseRequest.transcriptHash(transcript)
 */
export function transcriptHash(transcript: Transcript): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update(encoder.encode(transcriptLabel))
      .update(Uint8Array.of(0))
      .update(encoder.encode(transcript.purpose))
      .update(Uint8Array.of(0))
      .update(transcript.quoteHash)
      .update(transcript.requesterPublicKey)
      .update(transcript.nonce)
      .update(transcript.responderPublicKey)
      .update(transcript.kmsRootPublicKey)
      .digest(),
  )
}

/** An encrypted response: the responder's ephemeral key, AES-GCM IV and ciphertext ‖ tag. */
export type Envelope = { responderPublicKey: Uint8Array; iv: Uint8Array; ciphertext: Uint8Array }

/** An X25519 key pair (raw 32-byte keys). */
export type KeyPair = { privateKey: Uint8Array; publicKey: Uint8Array }

/**
 * A fresh X25519 key pair for one request.
 *
 * @example
 * const { privateKey, publicKey } = ReleaseRequest.createKeyPair()
 */
export function createKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  const jwk = privateKey.export({ format: 'jwk' })
  return {
    privateKey: new Uint8Array(Buffer.from(jwk.d as string, 'base64url')),
    publicKey: rawPublicKey(publicKey.export({ format: 'jwk' })),
  }
}

/**
 * Encrypts `plaintext` to `transcript.requesterPublicKey`: a fresh responder X25519 key, shared secret
 * S = X25519(responder, requester), key = HKDF-SHA256(ikm S, salt transcript, info "regent-kms-envelope/v1", 32),
 * AES-256-GCM with a random 12-byte IV and AAD = transcript hash.
 *
 * @param options.transcript - Every field but `responderPublicKey` (filled in here).
 * @throws {InvalidFieldError} for a low-order or malformed requester key.
 * @example
 * const envelope = ReleaseRequest.seal({ plaintext, transcript })
 */
export function seal(options: { plaintext: Uint8Array; transcript: Omit<Transcript, 'responderPublicKey'> }): Envelope {
  const responder = generateKeyPairSync('x25519')
  const responderPublicKey = rawPublicKey(responder.publicKey.export({ format: 'jwk' }))
  const transcript = transcriptHash({ ...options.transcript, responderPublicKey })
  const key = envelopeKey({ privateKey: responder.privateKey, publicKey: options.transcript.requesterPublicKey, transcript })
  try {
    const { iv, ciphertext } = Aead.sealJoined(key, options.plaintext, { ad: transcript })
    return { responderPublicKey, iv, ciphertext }
  } finally {
    key.fill(0)
  }
}

/**
 * Decrypts an {@link Envelope} with the requester's private key.
 *
 * @throws {DecryptionFailedError} when the tag does not verify (wrong key, altered envelope or other transcript).
 * @example
 * const plaintext = ReleaseRequest.open({ envelope, privateKey, transcript })
 */
export function open(options: {
  envelope: Envelope
  privateKey: Uint8Array
  transcript: Omit<Transcript, 'responderPublicKey'>
}): Uint8Array {
  const { envelope } = options
  assertLength('responderPublicKey', envelope.responderPublicKey, publicKeyLength)
  assertLength('iv', envelope.iv, 12)
  if (envelope.ciphertext.length < 16) throw new DecryptionFailedError()
  const transcript = transcriptHash({ ...options.transcript, responderPublicKey: envelope.responderPublicKey })
  assertLength('privateKey', options.privateKey, 32)
  assertLength('requesterPublicKey', options.transcript.requesterPublicKey, publicKeyLength)
  // A JWK import (RFC 8037) costs a tenth of a PKCS#8 one in OpenSSL 3; node derives the public key from `d` and
  // ignores `x`, which must merely be present (the requester's own key is what belongs there).
  const privateKey = createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'X25519',
      d: Buffer.from(options.privateKey).toString('base64url'),
      x: Buffer.from(options.transcript.requesterPublicKey).toString('base64url'),
    },
    format: 'jwk',
  })
  const key = envelopeKey({ privateKey, publicKey: envelope.responderPublicKey, transcript })
  try {
    const plaintext = Aead.openJoined(key, envelope.iv, envelope.ciphertext, { ad: transcript })
    if (!plaintext) throw new DecryptionFailedError()
    return plaintext
  } finally {
    key.fill(0)
  }
}

/** The app keys carried in a release envelope. */
export type AppKeysPayload = {
  k256Key: Uint8Array
  k256Signature: Uint8Array
  envCryptKey: Uint8Array
  /** 32 bytes, or empty when the CVM has no instance id. */
  diskCryptKey: Uint8Array
  /** 32 bytes (the OS image hash the KMS accepted). */
  osImageHash: Uint8Array
  /** KMS root CA certificate PEM (may be empty when the node has none configured). */
  caCert: string
}

/**
 * Binary layout (version 1): u8 version ‖ k256Key(32) ‖ k256Signature(65) ‖ envCryptKey(32) ‖ u8 n ‖
 * diskCryptKey(n ∈ {0, 32}) ‖ osImageHash(32) ‖ utf8(caCert) (to the end).
 *
 * @example
 * const bytes = ReleaseRequest.serializeAppKeys(payload)
 */
export function serializeAppKeys(payload: AppKeysPayload): Uint8Array {
  assertLength('k256Key', payload.k256Key, 32)
  assertLength('k256Signature', payload.k256Signature, 65)
  assertLength('envCryptKey', payload.envCryptKey, 32)
  if (payload.diskCryptKey.length !== 0) assertLength('diskCryptKey', payload.diskCryptKey, 32)
  assertLength('osImageHash', payload.osImageHash, 32)
  const ca = encoder.encode(payload.caCert)
  const out = new Uint8Array(1 + 32 + 65 + 32 + 1 + payload.diskCryptKey.length + 32 + ca.length)
  let at = 0
  const put = (b: Uint8Array) => {
    out.set(b, at)
    at += b.length
  }
  put(Uint8Array.of(appKeysVersion))
  put(payload.k256Key)
  put(payload.k256Signature)
  put(payload.envCryptKey)
  put(Uint8Array.of(payload.diskCryptKey.length))
  put(payload.diskCryptKey)
  put(payload.osImageHash)
  put(ca)
  return out
}

/**
 * Parses {@link serializeAppKeys} output. The returned keys are copies the caller owns.
 *
 * @throws {InvalidPayloadError} naming the offset that failed.
 * @example
 * const keys = ReleaseRequest.parseAppKeys(plaintext)
 */
export function parseAppKeys(bytes: Uint8Array): AppKeysPayload {
  if (bytes[0] !== appKeysVersion) throw new InvalidPayloadError({ offset: 0, reason: `unsupported version ${bytes[0] ?? '(none)'}` })
  if (bytes.length < 1 + 32 + 65 + 32 + 1 + 32) throw new InvalidPayloadError({ offset: bytes.length, reason: 'truncated' })
  const n = bytes[130] as number
  if (n !== 0 && n !== 32) throw new InvalidPayloadError({ offset: 130, reason: `disk key length must be 0 or 32, got ${n}` })
  if (bytes.length < 131 + n + 32) throw new InvalidPayloadError({ offset: bytes.length, reason: 'truncated' })
  const slice = (from: number, length: number) => Uint8Array.from(bytes.subarray(from, from + length))
  let caCert: string
  try {
    caCert = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(131 + n + 32))
  } catch {
    throw new InvalidPayloadError({ offset: 131 + n + 32, reason: 'caCert is not UTF-8' })
  }
  return {
    k256Key: slice(1, 32),
    k256Signature: slice(33, 65),
    envCryptKey: slice(98, 32),
    diskCryptKey: slice(131, n),
    osImageHash: slice(131 + n, 32),
    caCert,
  }
}

/** A parsed `POST /v1/keys` or `POST /v1/onboard` body. */
export type Request = {
  quote: Uint8Array
  eventLog: string
  ephemeralPublicKey: Uint8Array
  nonce: Uint8Array
  /** dstack's VmConfig JSON as the host wrote it ('' when absent): informational, never trusted. */
  vmConfig: string
  /** The `os_image_hash` vmConfig names (lowercase hex), if any: a claim, compared with what the quote measures. */
  claimedOsImageHash?: string | undefined
}

/** Largest accepted quote (bytes). */
export const maxQuoteBytes = 64 * 1024

/**
 * Validates a request body (already JSON-decoded): `{ quote: hex, eventLog: string, ephemeralPublicKey: hex(32),
 * nonce: hex(32), vmConfig?: string }`. Hex may carry a `0x` prefix. A non-empty vmConfig must be a JSON object
 * whose `os_image_hash`, when present, is 32 bytes of hex.
 *
 * @throws {InvalidFieldError} naming the field (`vmConfig` for a malformed vmConfig).
 * @example
 * const request = ReleaseRequest.parse(JSON.parse(body))
 */
export function parse(body: unknown): Request {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new InvalidFieldError({ field: '(body)', reason: 'must be a JSON object' })
  const o = body as Record<string, unknown>
  const quote = hexField(o, 'quote')
  if (quote.length === 0 || quote.length > maxQuoteBytes)
    throw new InvalidFieldError({ field: 'quote', reason: `must be 1..${maxQuoteBytes} bytes` })
  if (typeof o.eventLog !== 'string') throw new InvalidFieldError({ field: 'eventLog', reason: 'must be a string' })
  const ephemeralPublicKey = hexField(o, 'ephemeralPublicKey')
  assertLength('ephemeralPublicKey', ephemeralPublicKey, publicKeyLength)
  const nonce = hexField(o, 'nonce')
  assertLength('nonce', nonce, nonceLength)
  if (o.vmConfig !== undefined && typeof o.vmConfig !== 'string')
    throw new InvalidFieldError({ field: 'vmConfig', reason: 'must be a string' })
  const vmConfig = (o.vmConfig as string | undefined) ?? ''
  return { quote, eventLog: o.eventLog, ephemeralPublicKey, nonce, vmConfig, claimedOsImageHash: claimedImage(vmConfig) }
}

/** The os_image_hash a vmConfig names, checked for shape only. */
function claimedImage(vmConfig: string): string | undefined {
  if (vmConfig === '') return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(vmConfig)
  } catch {
    throw new InvalidFieldError({ field: 'vmConfig', reason: 'must be a JSON object' })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidFieldError({ field: 'vmConfig', reason: 'must be a JSON object' })
  const value = (parsed as { os_image_hash?: unknown }).os_image_hash
  if (value === undefined || value === '') return undefined
  if (typeof value !== 'string' || !/^(0x)?[0-9a-fA-F]{64}$/.test(value))
    throw new InvalidFieldError({ field: 'vmConfig', reason: 'os_image_hash must be 32 bytes of hex' })
  return value.replace(/^0x/, '').toLowerCase()
}

/**
 * Serializes a request to its JSON body.
 *
 * @example
 * fetch(url, { method: 'POST', body: ReleaseRequest.serialize(request) })
 */
export function serialize(request: Request): string {
  return JSON.stringify({
    quote: toHex(request.quote),
    eventLog: request.eventLog,
    ephemeralPublicKey: toHex(request.ephemeralPublicKey),
    nonce: toHex(request.nonce),
    vmConfig: request.vmConfig,
  })
}

/** Lowercase hex without prefix. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/**
 * Strict hex (optional `0x`, even length) to bytes.
 *
 * @throws {InvalidFieldError} naming `field`.
 */
export function fromHex(text: unknown, field: string): Uint8Array {
  if (typeof text !== 'string') throw new InvalidFieldError({ field, reason: 'must be a hex string' })
  const h = text.startsWith('0x') ? text.slice(2) : text
  // Node's hex decoder stops at the first pair that is not two hex digits, so a full-length result is the check
  // (one pass instead of a regex over a quote's ~10 000 characters and then the decode).
  const bytes = h.length % 2 === 0 ? Buffer.from(h, 'hex') : undefined
  if (bytes === undefined || bytes.length * 2 !== h.length)
    throw new InvalidFieldError({ field, reason: 'must be an even-length hex string' })
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)
}

function hexField(o: Record<string, unknown>, field: string): Uint8Array {
  if (!(field in o)) throw new InvalidFieldError({ field, reason: 'is required' })
  return fromHex(o[field], field)
}

function assertLength(field: string, bytes: Uint8Array, length: number): void {
  if (bytes.length !== length) throw new InvalidFieldError({ field, reason: `must be ${length} bytes, got ${bytes.length}` })
}

function rawPublicKey(jwk: { x?: string | undefined }): Uint8Array {
  return new Uint8Array(Buffer.from(jwk.x as string, 'base64url'))
}

function envelopeKey(options: { privateKey: KeyObject; publicKey: Uint8Array; transcript: Uint8Array }): Uint8Array {
  assertLength('requesterPublicKey', options.publicKey, publicKeyLength)
  try {
    return EnvelopeKey.deriveKey({
      privateKey: options.privateKey,
      peerPublicKey: options.publicKey,
      salt: options.transcript,
      info: envelopeInfo,
    })
  } catch (error) {
    if (!(error instanceof EnvelopeKey.BadPeerKeyError)) throw error
    // RFC 7748 §6.1: an all-zero shared secret means a low-order point.
    const reason = error.reason === 'low_order' ? 'is a low-order X25519 point' : 'is not a usable X25519 public key'
    throw new InvalidFieldError({ field: 'ephemeralPublicKey', reason })
  }
}

/** A request field is missing or malformed. */
export class InvalidFieldError extends BaseError {
  override name = 'ReleaseRequest.InvalidFieldError'
  readonly field: string
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid ${field}: ${reason}.`)
    this.field = field
  }
}

/** An envelope did not decrypt (wrong key, altered bytes, or another transcript). */
export class DecryptionFailedError extends BaseError {
  override name = 'ReleaseRequest.DecryptionFailedError'
  constructor() {
    super('The key envelope did not decrypt: wrong key, altered envelope or another transcript.')
  }
}

/** A released payload is malformed. */
export class InvalidPayloadError extends BaseError {
  override name = 'ReleaseRequest.InvalidPayloadError'
  constructor({ offset, reason }: { offset: number; reason: string }) {
    super(`Invalid key payload at offset ${offset}: ${reason}.`)
  }
}
