/**
 * AES-256-GCM (NIST SP 800-38D) with a 12-byte IV and a 16-byte tag, on node:crypto. The one implementation every
 * sealed file, envelope and stream uses; callers lay out IV, ciphertext and tag in their own formats.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

export const ivLength = 12
export const tagLength = 16
export const keyLength = 32

/** Encrypts with a random IV (or the given one: a caller that derives IVs must never reuse one under a key). */
export function seal(
  key: Uint8Array,
  plaintext: Uint8Array,
  options: { ad?: Uint8Array; iv?: Uint8Array } = {},
): { iv: Uint8Array; ciphertext: Uint8Array; tag: Uint8Array } {
  const iv = options.iv ?? new Uint8Array(randomBytes(ivLength))
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  if (options.ad) cipher.setAAD(options.ad)
  const ciphertext = new Uint8Array(Buffer.concat([cipher.update(plaintext), cipher.final()]))
  return { iv, ciphertext, tag: new Uint8Array(cipher.getAuthTag()) }
}

/** Decrypts; undefined when the tag does not verify (wrong key, IV, AD or altered bytes) or a length is wrong. */
export function open(
  key: Uint8Array,
  parts: { iv: Uint8Array; ciphertext: Uint8Array; tag: Uint8Array },
  options: { ad?: Uint8Array } = {},
): Uint8Array | undefined {
  if (key.length !== keyLength || parts.iv.length !== ivLength || parts.tag.length !== tagLength) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, parts.iv)
    if (options.ad) decipher.setAAD(options.ad)
    decipher.setAuthTag(parts.tag)
    return new Uint8Array(Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]))
  } catch {
    return undefined
  }
}

/** {@link seal} as one buffer `ciphertext ‖ tag` (the layout of the uplift and KMS envelopes). */
export function sealJoined(key: Uint8Array, plaintext: Uint8Array, options: { ad?: Uint8Array; iv?: Uint8Array } = {}) {
  const { iv, ciphertext, tag } = seal(key, plaintext, options)
  const joined = new Uint8Array(ciphertext.length + tagLength)
  joined.set(ciphertext)
  joined.set(tag, ciphertext.length)
  return { iv, ciphertext: joined }
}

/** {@link open} of `ciphertext ‖ tag`. */
export function openJoined(key: Uint8Array, iv: Uint8Array, joined: Uint8Array, options: { ad?: Uint8Array } = {}) {
  if (joined.length < tagLength) return undefined
  return open(
    key,
    { iv, ciphertext: joined.subarray(0, joined.length - tagLength), tag: joined.subarray(joined.length - tagLength) },
    options,
  )
}

/** {@link seal} as one buffer `iv ‖ ciphertext ‖ tag` (sealed files and log records). */
export function sealBytes(key: Uint8Array, plaintext: Uint8Array, options: { ad?: Uint8Array } = {}): Uint8Array {
  const { iv, ciphertext, tag } = seal(key, plaintext, options)
  const out = new Uint8Array(ivLength + ciphertext.length + tagLength)
  out.set(iv)
  out.set(ciphertext, ivLength)
  out.set(tag, ivLength + ciphertext.length)
  return out
}

/** {@link open} of `iv ‖ ciphertext ‖ tag`; undefined when it is too short or does not verify. */
export function openBytes(key: Uint8Array, bytes: Uint8Array, options: { ad?: Uint8Array } = {}): Uint8Array | undefined {
  if (bytes.length < ivLength + tagLength) return undefined
  return openJoined(key, bytes.subarray(0, ivLength), bytes.subarray(ivLength), options)
}
