/**
 * The X25519 → HKDF-SHA256 → AES-256-GCM envelope key (docs/kms.md "Envelope", docs/uplift.md "Envelope"):
 * S = X25519(own private key, peer public key) (RFC 7748; an all-zero S is refused: a low-order point),
 * K = HKDF-SHA256(ikm S, salt, info = a versioned label, 32 bytes) (RFC 5869). The KMS key release and the uplift's
 * key and state envelopes derive their keys here and encrypt with {@link ./aead.ts}.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto'
import { BaseError } from './errors.js'

/** A raw X25519 key pair (32-byte keys). */
export type KeyPair = { readonly privateKey: Uint8Array; readonly publicKey: Uint8Array }

/** A fresh X25519 key pair. */
export function createKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  return {
    privateKey: new Uint8Array(Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url')),
    publicKey: new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')),
  }
}

function privateKeyObject(privateKey: Uint8Array): KeyObject {
  // node derives the public part from `d`; `x` must be present but is ignored.
  return createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(privateKey).toString('base64url'), x: Buffer.alloc(32).toString('base64url') },
    format: 'jwk',
  })
}

/** The peer's X25519 public key is not 32 bytes, not a curve point node accepts, or a low-order point. */
export class BadPeerKeyError extends BaseError {
  override name = 'BadPeerKeyError'
  readonly reason: 'length' | 'unusable' | 'low_order'
  constructor(reason: BadPeerKeyError['reason']) {
    const why = { length: 'a key is not 32 bytes', unusable: 'not a usable X25519 key', low_order: 'a low-order point' }[reason]
    super(`The peer's X25519 public key is unusable: ${why}.`, { code: 'envelope.peer_key' })
    this.reason = reason
  }
}

/**
 * K = HKDF-SHA256(X25519(privateKey, peerPublicKey), salt, info, 32). The caller wipes K.
 *
 * @throws {BadPeerKeyError}
 */
export function deriveKey(options: {
  privateKey: Uint8Array | KeyObject
  peerPublicKey: Uint8Array
  salt: Uint8Array
  info: string
}): Uint8Array {
  if (options.peerPublicKey.length !== 32) throw new BadPeerKeyError('length')
  if (options.privateKey instanceof Uint8Array && options.privateKey.length !== 32) throw new BadPeerKeyError('length')
  let shared: Buffer
  try {
    const peer = createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(options.peerPublicKey).toString('base64url') },
      format: 'jwk',
    })
    const own = options.privateKey instanceof Uint8Array ? privateKeyObject(options.privateKey) : options.privateKey
    shared = diffieHellman({ privateKey: own, publicKey: peer })
  } catch {
    throw new BadPeerKeyError('unusable')
  }
  try {
    if (shared.every((b) => b === 0)) throw new BadPeerKeyError('low_order')
    return new Uint8Array(hkdfSync('sha256', shared, options.salt, new TextEncoder().encode(options.info), 32))
  } finally {
    shared.fill(0)
  }
}
