import { describe, expect, test } from 'vitest'
import { BadPeerKeyError, createKeyPair, deriveKey } from './envelope.js'

const salt = new Uint8Array(32).fill(7)

describe('X25519 → HKDF envelope key', () => {
  test('default: both sides derive the same key; another info or salt gives another key', () => {
    const a = createKeyPair()
    const b = createKeyPair()
    const k1 = deriveKey({ privateKey: a.privateKey, peerPublicKey: b.publicKey, salt, info: 'x/v1' })
    const k2 = deriveKey({ privateKey: b.privateKey, peerPublicKey: a.publicKey, salt, info: 'x/v1' })
    expect(k1).toEqual(k2)
    expect(deriveKey({ privateKey: a.privateKey, peerPublicKey: b.publicKey, salt, info: 'x/v2' })).not.toEqual(k1)
    expect(deriveKey({ privateKey: a.privateKey, peerPublicKey: b.publicKey, salt: new Uint8Array(32), info: 'x/v1' })).not.toEqual(k1)
  })

  test('error: a low-order point (all-zero shared secret) and a short key are refused', () => {
    const a = createKeyPair()
    // OpenSSL refuses the all-zero result itself; the explicit check stays for any other backend.
    expect(() => deriveKey({ privateKey: a.privateKey, peerPublicKey: new Uint8Array(32), salt, info: 'x' })).toThrow(BadPeerKeyError)
    expect(() => deriveKey({ privateKey: a.privateKey, peerPublicKey: new Uint8Array(31), salt, info: 'x' })).toThrow(BadPeerKeyError)
  })
})
