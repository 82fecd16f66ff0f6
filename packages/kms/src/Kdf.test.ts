import { createPrivateKey, generateKeyPairSync, hkdfSync } from 'node:crypto'
import { p256 } from '@noble/curves/nist'
import { secp256k1 } from '@noble/curves/secp256k1'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils'
import * as fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import * as Kdf from './Kdf.js'

// reference/dstack.md §8 item 1 (dstack ra-tls/src/kdf.rs::test_derive_dh_secret_stable_output).
const rootDer = hexToBytes(
  '308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420f57527cea4ab7ffb49af99b158cdc0e3ec06398f528349ea236b7d2afe19cec1a1440342000491f50522407ce29dce3ed7d31a15d80c1c42f13a23552d2b33a0ce09ee11e47bce95936f3e7f80d195f879e28e1b144ef37ac9ab8e36a690cbf930b775897b27',
)
const rootScalar = hexToBytes('f57527cea4ab7ffb49af99b158cdc0e3ec06398f528349ea236b7d2afe19cec1')
const rootKey = createPrivateKey({ key: Buffer.from(rootDer), format: 'der', type: 'pkcs8' })

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const p256Scalar = bytes32.filter((b) => p256.utils.isValidPrivateKey(b))

describe('deriveKey', () => {
  test('default: HKDF-SHA256, salt "RATLS", info = concatenated context, 32 bytes (node:crypto differential)', () => {
    const ikm = hexToBytes('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff')
    const expected = new Uint8Array(hkdfSync('sha256', ikm, 'RATLS', 'context onecontext two', 32))
    expect(bytesToHex(Kdf.deriveKey({ ikm, context: ['context one', 'context two'] }))).toBe(bytesToHex(expected))
  })

  test('behavior: string and byte context parts are the same bytes; only the concatenation counts', () => {
    const ikm = new Uint8Array(32).fill(7)
    const a = Kdf.deriveKey({ ikm, context: ['ab', 'c'] })
    const b = Kdf.deriveKey({ ikm, context: [new TextEncoder().encode('a'), 'bc'] })
    const c = Kdf.deriveKey({ ikm, context: ['abc'] })
    expect(bytesToHex(a)).toBe(bytesToHex(b))
    expect(bytesToHex(a)).toBe(bytesToHex(c))
    expect(bytesToHex(a)).not.toBe(bytesToHex(Kdf.deriveKey({ ikm, context: ['abd'] })))
  })

  test('behavior: length', () => {
    const ikm = new Uint8Array(32).fill(1)
    const long = Kdf.deriveKey({ ikm, context: ['x'], length: 64 })
    expect(long.length).toBe(64)
    expect(bytesToHex(long.subarray(0, 32))).toBe(bytesToHex(Kdf.deriveKey({ ikm, context: ['x'] })))
    expect(() => Kdf.deriveKey({ ikm, context: [], length: 0 })).toThrow('HKDF output length must be an integer in 1..8160, got 0.')
    expect(() => Kdf.deriveKey({ ikm, context: [], length: 8161 })).toThrow('HKDF output length must be an integer in 1..8160, got 8161.')
  })

  test('property: matches node:crypto hkdfSync for any ikm and context', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.array(fc.string(), { maxLength: 4 }), (ikm, ctx) => {
        const expected = new Uint8Array(hkdfSync('sha256', ikm, 'RATLS', Buffer.from(ctx.join(''), 'utf8'), 32))
        expect(bytesToHex(Kdf.deriveKey({ ikm, context: ctx }))).toBe(bytesToHex(expected))
      }),
    )
  })
})

describe('deriveDhSecret', () => {
  test('vector: dstack kdf.rs stable output (§8 item 1)', () => {
    expect(bytesToHex(Kdf.deriveDhSecret({ parentKey: rootKey, context: ['context one', 'context two'] }))).toBe(
      '663afd58820be8ad645f9c035e93199d114ab16f738db62393bc1d7d623e8813',
    )
  })

  test('behavior: the parent as a scalar gives the same secret as the KeyObject', () => {
    expect(bytesToHex(Kdf.deriveDhSecret({ parentKey: rootScalar, context: ['context one', 'context two'] }))).toBe(
      '663afd58820be8ad645f9c035e93199d114ab16f738db62393bc1d7d623e8813',
    )
  })

  test('behavior: does not modify the caller’s parent scalar', () => {
    const parent = rootScalar.slice()
    Kdf.deriveDhSecret({ parentKey: parent, context: ['x'] })
    expect(bytesToHex(parent)).toBe(bytesToHex(rootScalar))
  })
})

describe('toPkcs8', () => {
  test('vector: the root key of §8 item 1 serializes to its own DER', () => {
    expect(bytesToHex(Kdf.toPkcs8({ privateKey: rootScalar }))).toBe(bytesToHex(rootDer))
  })

  test('property: byte-equal to node:crypto PKCS#8 export of the same JWK, 138 bytes', () => {
    fc.assert(
      fc.property(p256Scalar, (d) => {
        const pub = p256.getPublicKey(d, false)
        const jwk = {
          kty: 'EC',
          crv: 'P-256',
          d: Buffer.from(d).toString('base64url'),
          x: Buffer.from(pub.subarray(1, 33)).toString('base64url'),
          y: Buffer.from(pub.subarray(33)).toString('base64url'),
        }
        const node = createPrivateKey({ key: jwk, format: 'jwk' }).export({ format: 'der', type: 'pkcs8' })
        const ours = Kdf.toPkcs8({ privateKey: d })
        expect(ours.length).toBe(Kdf.pkcs8Length)
        expect(bytesToHex(ours)).toBe(node.toString('hex'))
      }),
      { numRuns: 30 },
    )
  })

  test('behavior: rejects a public key that is not uncompressed SEC1', () => {
    expect(() => Kdf.toPkcs8({ privateKey: rootScalar, publicKey: p256.getPublicKey(rootScalar, true) })).toThrow(
      'Invalid P-256 public key: expected 65-byte uncompressed SEC1 (0x04 ‖ X ‖ Y), got 33 bytes.',
    )
  })
})

describe('deriveP256', () => {
  test('default: from a parent key, the scalar is derive_key(parent scalar, context) and the public key matches', () => {
    const { privateKey, publicKey } = Kdf.deriveP256({ parentKey: rootKey, context: ['app', 'app-ca'] })
    expect(bytesToHex(privateKey)).toBe(bytesToHex(Kdf.deriveKey({ ikm: rootScalar, context: ['app', 'app-ca'] })))
    expect(bytesToHex(publicKey)).toBe(bytesToHex(p256.getPublicKey(privateKey, false)))
  })

  test('behavior: from secret bytes equals from a parent with the same scalar (dstack from_bytes vs key pair)', () => {
    const a = Kdf.deriveP256({ secret: rootScalar, context: ['p'] })
    const b = Kdf.deriveP256({ parentKey: rootScalar, context: ['p'] })
    expect(bytesToHex(a.privateKey)).toBe(bytesToHex(b.privateKey))
  })

  test('property: different contexts give different keys; public keys match @noble/curves', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (x, y) => {
        fc.pre(x !== y)
        const a = Kdf.deriveP256({ parentKey: rootScalar, context: [x] })
        const b = Kdf.deriveP256({ parentKey: rootScalar, context: [y] })
        expect(bytesToHex(a.privateKey)).not.toBe(bytesToHex(b.privateKey))
        // The public key (node:crypto ECDH) agrees with @noble/curves.
        expect(bytesToHex(a.publicKey)).toBe(bytesToHex(p256.getPublicKey(a.privateKey, false)))
      }),
      { numRuns: 30 },
    )
  })
})

describe('toP256Scalar', () => {
  test('default: KeyObject → its scalar', () => {
    expect(bytesToHex(Kdf.toP256Scalar(rootKey))).toBe(bytesToHex(rootScalar))
  })

  test('behavior: errors name what is wrong', () => {
    expect(() => Kdf.toP256Scalar(new Uint8Array(31))).toThrow('Invalid P-256 private key: a 32-byte scalar was expected, got 31 bytes.')
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
    expect(() => Kdf.toP256Scalar(k1.privateKey)).toThrow('Invalid P-256 private key: curve prime256v1 was expected, got secp256k1.')
    expect(() => Kdf.toP256Scalar(generateKeyPairSync('ed25519').privateKey)).toThrow(
      'Invalid P-256 private key: a private EC key was expected, got a private ed25519 key.',
    )
    expect(() => Kdf.toP256Scalar(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey)).toThrow(
      'Invalid P-256 private key: a private EC key was expected, got a public ec key.',
    )
  })
})

describe('assertScalar', () => {
  const toBytes = (n: bigint) => hexToBytes(n.toString(16).padStart(64, '0'))

  test('default: 1 and n − 1 are valid', () => {
    expect(() => Kdf.assertScalar(toBytes(1n), { curve: 'p256' })).not.toThrow()
    expect(() => Kdf.assertScalar(toBytes(p256.CURVE.n - 1n), { curve: 'p256' })).not.toThrow()
    expect(() => Kdf.assertScalar(toBytes(secp256k1.CURVE.n - 1n), { curve: 'secp256k1' })).not.toThrow()
  })

  test('behavior: rejects 0 and ≥ n without printing the value', () => {
    expect(() => Kdf.assertScalar(new Uint8Array(32), { curve: 'p256' })).toThrow('Invalid p256 private scalar: zero.')
    expect(() => Kdf.assertScalar(toBytes(p256.CURVE.n), { curve: 'p256' })).toThrow('Invalid p256 private scalar: ≥ the group order n.')
    expect(() => Kdf.assertScalar(toBytes(secp256k1.CURVE.n + 5n), { curve: 'secp256k1' })).toThrow(
      'Invalid secp256k1 private scalar: ≥ the group order n.',
    )
    // Each curve is checked against its own order: p256's n < secp256k1's n.
    const between = p256.CURVE.n + 1n
    expect(between < secp256k1.CURVE.n).toBe(true)
    expect(() => Kdf.assertScalar(toBytes(between), { curve: 'secp256k1' })).not.toThrow()
    expect(() => Kdf.assertScalar(toBytes(between), { curve: 'p256' })).toThrowError(Kdf.InvalidScalarError)
    expect(() => Kdf.assertScalar(new Uint8Array(33), { curve: 'p256' })).toThrow('Invalid p256 private scalar: length 33, expected 32.')
  })
})
