import { randomBytes } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { open, openBytes, openJoined, seal, sealBytes, sealJoined } from './aead.js'

const key = new Uint8Array(randomBytes(32))
const ad = new TextEncoder().encode('label')

describe('AES-256-GCM', () => {
  test('default: seal then open returns the plaintext; joined layout too', () => {
    const plaintext = new Uint8Array(randomBytes(1000))
    expect(open(key, seal(key, plaintext, { ad }), { ad })).toEqual(plaintext)
    const j = sealJoined(key, plaintext, { ad })
    expect(j.ciphertext.length).toBe(1016)
    expect(openJoined(key, j.iv, j.ciphertext, { ad })).toEqual(plaintext)
    const b = sealBytes(key, plaintext, { ad })
    expect([b.length, openBytes(key, b, { ad })]).toEqual([1028, plaintext])
    expect(openBytes(key, b.subarray(0, 27), { ad })).toBeUndefined()
  })

  test('differential: matches the NIST SP 800-38D test case 14 (256-bit zero key, zero IV, 16 zero bytes)', () => {
    const sealed = seal(new Uint8Array(32), new Uint8Array(16), { iv: new Uint8Array(12) })
    expect(Buffer.from(sealed.ciphertext).toString('hex')).toBe('cea7403d4d606b6e074ec5d3baf39d18')
    expect(Buffer.from(sealed.tag).toString('hex')).toBe('d0d1c8a799996bf0265b98b5d48ab919')
  })

  test('error: a flipped bit, another AD, another key or a short tag does not open', () => {
    const s = seal(key, new Uint8Array(64), { ad })
    const flipped = { ...s, ciphertext: Uint8Array.from(s.ciphertext, (b, i) => (i === 3 ? b ^ 1 : b)) }
    expect(open(key, flipped, { ad })).toBeUndefined()
    expect(open(key, s, { ad: new Uint8Array(1) })).toBeUndefined()
    expect(open(new Uint8Array(32), s, { ad })).toBeUndefined()
    expect(open(key, { ...s, tag: s.tag.subarray(0, 8) }, { ad })).toBeUndefined()
    expect(openJoined(key, s.iv, new Uint8Array(4))).toBeUndefined()
  })
})
