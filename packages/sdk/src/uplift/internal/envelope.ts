// The uplift envelope (docs/uplift.md "Envelope"), modelled on the KMS one (docs/kms.md "Envelope"):
// S = X25519(sender, recipient) (RFC 7748; an all-zero S is refused: low-order point),
// K = HKDF-SHA256(ikm S, salt = transcript hash, info = versioned label, 32 bytes) (RFC 5869),
// AES-256-GCM (NIST SP 800-38D) with a random 12-byte IV, ciphertext ‖ tag(16), caller-defined associated data.
// node:crypto only. Never exported from the package.
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto'
import { utf8 } from '../../internal/bytes.js'

/** A raw X25519 key pair (32-byte keys). */
export type KeyPair = { readonly privateKey: Uint8Array; readonly publicKey: Uint8Array }

export function createKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  return {
    privateKey: new Uint8Array(Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url')),
    publicKey: new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')),
  }
}

function privateKeyObject(privateKey: Uint8Array): KeyObject {
  // node derives the public part from `d`; `x` must be present but is ignored (the KMS does the same).
  return createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(privateKey).toString('base64url'), x: Buffer.alloc(32).toString('base64url') },
    format: 'jwk',
  })
}

/** Thrown for an unusable or low-order peer key; callers turn it into their own refusal. */
export class BadPeerKeyError extends Error {}

/**
 * K = HKDF-SHA256(X25519(privateKey, peerPublicKey), salt, info, 32). The caller wipes K.
 *
 * @throws {BadPeerKeyError}
 */
export function deriveKey(options: { privateKey: Uint8Array; peerPublicKey: Uint8Array; salt: Uint8Array; info: string }): Uint8Array {
  if (options.privateKey.length !== 32 || options.peerPublicKey.length !== 32) throw new BadPeerKeyError('key length')
  let shared: Buffer
  try {
    const peer = createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(options.peerPublicKey).toString('base64url') },
      format: 'jwk',
    })
    shared = diffieHellman({ privateKey: privateKeyObject(options.privateKey), publicKey: peer })
  } catch {
    throw new BadPeerKeyError('unusable X25519 key')
  }
  try {
    if (shared.every((b) => b === 0)) throw new BadPeerKeyError('low-order X25519 point')
    return new Uint8Array(hkdfSync('sha256', shared, options.salt, utf8(options.info), 32))
  } finally {
    shared.fill(0)
  }
}

export function encrypt(key: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): { iv: Uint8Array; ciphertext: Uint8Array } {
  const iv = new Uint8Array(randomBytes(12))
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(ad)
  const ciphertext = new Uint8Array(Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]))
  return { iv, ciphertext }
}

/** Returns undefined when the tag does not verify. */
export function decrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
  if (iv.length !== 12 || ciphertext.length < 16) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv)
    decipher.setAAD(ad)
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
    return new Uint8Array(Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]))
  } catch {
    return undefined
  }
}
