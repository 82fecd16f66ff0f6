import { createPrivateKey } from 'node:crypto'
import { p256 } from '@noble/curves/nist'
import { secp256k1 } from '@noble/curves/secp256k1'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils'
import * as fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import * as AppKeys from './AppKeys.js'
import * as EnvEncryption from './EnvEncryption.js'
import * as Kdf from './Kdf.js'
import * as SignatureChain from './SignatureChain.js'

// Roots: the P-256 key of dstack's kdf.rs vector (§8 item 1) and a fixed secp256k1 key.
const rootCaDer = hexToBytes(
  '308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420f57527cea4ab7ffb49af99b158cdc0e3ec06398f528349ea236b7d2afe19cec1a1440342000491f50522407ce29dce3ed7d31a15d80c1c42f13a23552d2b33a0ce09ee11e47bce95936f3e7f80d195f879e28e1b144ef37ac9ab8e36a690cbf930b775897b27',
)
const rootCaScalar = hexToBytes('f57527cea4ab7ffb49af99b158cdc0e3ec06398f528349ea236b7d2afe19cec1')
const rootCa = createPrivateKey({ key: Buffer.from(rootCaDer), format: 'der', type: 'pkcs8' })
const rootK256 = hexToBytes('2a'.repeat(32))
const appId = hexToBytes('5bb4ff9a3837357f19dc176407a5709c62eb6c56')
const instanceId = hexToBytes('1691ed1b47506cad7d08834668691d88246f5b1f')

describe('derive', () => {
  test('default: each key is the §3.2 derivation with its dstack label', () => {
    const keys = AppKeys.derive({ rootK256, rootCa, appId, instanceId })
    expect(bytesToHex(keys.k256Key)).toBe(bytesToHex(Kdf.deriveKey({ ikm: rootK256, context: [appId, 'app-key'] })))
    expect(bytesToHex(keys.k256PublicKey)).toBe(bytesToHex(secp256k1.getPublicKey(keys.k256Key, true)))
    expect(bytesToHex(keys.envCryptKey)).toBe(
      bytesToHex(Kdf.deriveDhSecret({ parentKey: rootCaScalar, context: [appId, 'env-encrypt-key'] })),
    )
    expect(bytesToHex(keys.diskCryptKey as Uint8Array)).toBe(
      bytesToHex(Kdf.deriveDhSecret({ parentKey: rootCaScalar, context: [appId, instanceId, 'app-disk-crypt-key'] })),
    )
    expect(bytesToHex(keys.appCa.privateKey)).toBe(bytesToHex(Kdf.deriveKey({ ikm: rootCaScalar, context: [appId, 'app-ca'] })))
    expect(bytesToHex(keys.appCa.publicKey)).toBe(bytesToHex(p256.getPublicKey(keys.appCa.privateKey, false)))
  })

  test('behavior: k256Signature is the root key’s recoverable signature over the kms-issued message', () => {
    const keys = AppKeys.derive({ rootK256, rootCa, appId })
    const hash = SignatureChain.kmsIssuedHash({ appId, appPublicKey: keys.k256PublicKey })
    expect(keys.k256Signature.length).toBe(65)
    expect(bytesToHex(SignatureChain.recover({ hash, signature: keys.k256Signature }))).toBe(
      bytesToHex(secp256k1.getPublicKey(rootK256, true)),
    )
  })

  test('behavior: diskCryptKey only with an instance id; empty instance id (no_instance_id) differs', () => {
    expect(AppKeys.derive({ rootK256, rootCa, appId }).diskCryptKey).toBeUndefined()
    const empty = AppKeys.derive({ rootK256, rootCa, appId, instanceId: new Uint8Array(0) }).diskCryptKey as Uint8Array
    const withId = AppKeys.derive({ rootK256, rootCa, appId, instanceId }).diskCryptKey as Uint8Array
    expect(empty.length).toBe(32)
    expect(bytesToHex(empty)).not.toBe(bytesToHex(withId))
  })

  test('behavior: the env key pair works end to end (KMS derives, client encrypts to its public key)', () => {
    const keys = AppKeys.derive({ rootK256, rootCa, appId })
    const publicKey = EnvEncryption.toPublicKey({ envCryptKey: keys.envCryptKey })
    const ciphertext = EnvEncryption.encrypt({ envs: [{ key: 'A', value: 'b' }], publicKey })
    expect(EnvEncryption.decrypt({ ciphertext, envCryptKey: keys.envCryptKey })).toEqual([{ key: 'A', value: 'b' }])
  })

  test('behavior: rootCa as a scalar equals rootCa as a KeyObject; the caller’s buffers are untouched', () => {
    const scalar = rootCaScalar.slice()
    const a = AppKeys.derive({ rootK256, rootCa: scalar, appId })
    const b = AppKeys.derive({ rootK256, rootCa, appId })
    expect(bytesToHex(a.envCryptKey)).toBe(bytesToHex(b.envCryptKey))
    expect(bytesToHex(scalar)).toBe(bytesToHex(rootCaScalar))
    expect(bytesToHex(rootK256)).toBe('2a'.repeat(32))
  })

  test('behavior: wipe zeroes every secret', () => {
    const keys = AppKeys.derive({ rootK256, rootCa, appId, instanceId })
    AppKeys.wipe(keys)
    for (const secret of [keys.k256Key, keys.envCryptKey, keys.diskCryptKey as Uint8Array, keys.appCa.privateKey])
      expect(secret.every((b) => b === 0)).toBe(true)
  })

  test('behavior: typed errors', () => {
    expect(() => AppKeys.derive({ rootK256, rootCa, appId: new Uint8Array(32) })).toThrow('appId must be 20 bytes, got 32.')
    expect(() => AppKeys.derive({ rootK256, rootCa, appId, instanceId: new Uint8Array(19) })).toThrow(
      'instanceId must be 20 bytes (or empty for no_instance_id), got 19.',
    )
    expect(() => AppKeys.derive({ rootK256: new Uint8Array(32), rootCa, appId })).toThrow('Invalid secp256k1 private scalar: zero.')
    expect(() => AppKeys.derive({ rootK256, rootCa: new Uint8Array(16), appId })).toThrow(
      'Invalid P-256 private key: a 32-byte scalar was expected, got 16 bytes.',
    )
  })

  test('property: same inputs → same keys; different app ids → different keys', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ minLength: 20, maxLength: 20 }), (x, y) => {
        const a = AppKeys.derive({ rootK256, rootCa: rootCaScalar, appId: x })
        const a2 = AppKeys.derive({ rootK256, rootCa: rootCaScalar, appId: x })
        expect(bytesToHex(a.k256Key)).toBe(bytesToHex(a2.k256Key))
        expect(bytesToHex(a.k256Signature)).toBe(bytesToHex(a2.k256Signature))
        expect(bytesToHex(a.envCryptKey)).toBe(bytesToHex(a2.envCryptKey))
        fc.pre(bytesToHex(x) !== bytesToHex(y))
        const b = AppKeys.derive({ rootK256, rootCa: rootCaScalar, appId: y })
        expect(bytesToHex(b.k256Key)).not.toBe(bytesToHex(a.k256Key))
        expect(bytesToHex(b.envCryptKey)).not.toBe(bytesToHex(a.envCryptKey))
        expect(bytesToHex(b.appCa.privateKey)).not.toBe(bytesToHex(a.appCa.privateKey))
      }),
      { numRuns: 25 },
    )
  })
})
