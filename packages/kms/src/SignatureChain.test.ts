import { secp256k1 } from '@noble/curves/secp256k1'
import { keccak_256 } from '@noble/hashes/sha3'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils'
import * as fc from 'fast-check'
import { publicKeyToAddress } from 'viem/accounts'
import { describe, expect, test } from 'vitest'
import * as AppKeys from './AppKeys.js'
import * as GetKey from './GetKey.js'
import * as SignatureChain from './SignatureChain.js'

// reference/dstack.md §8 items 2 and 3 (HEAD sdk/simulator/appkeys.json; sdk/go client_web3_test.go).
const appId = hexToBytes('5bb4ff9a3837357f19dc176407a5709c62eb6c56')
const appK256Key = hexToBytes('d6e88992cdeeee35fe70b5db61ab66cdb191fb9b6ec9313757ef162dd7214d5d')
const appPublicKey = '02818494263695e8839122dbd88e281d7380622999df4e60a14befa0f2d096fc7c'
const k256Signature = hexToBytes(
  '9e618603e72d01fedb82deff6daf2d62a572becf0059eec3f89c1ab40e1f2e594d2a283f843f34e8f39e4cc49a612496ce67223a12ac923f8efe330346dfc6c500',
)
const kmsRoot = '0321529e458424ab1f710a3a57ec4dad2fb195ddca572f7469242ba6c7563085b6'
const testPathKey = hexToBytes('b9fbb7171185c421c58610a2acba8ceae93623ae47815618cbad1e98fc042cb7')

const chainFor = (purpose: string, path = '/test/path') => GetKey.derive({ appK256Key, k256Signature, path, purpose }).signatureChain

describe('recover', () => {
  test('vector: the simulator k256_signature recovers to the listed KMS root (§8 item 2)', () => {
    const hash = SignatureChain.kmsIssuedHash({ appId, appPublicKey: hexToBytes(appPublicKey) })
    expect(bytesToHex(SignatureChain.recover({ hash, signature: k256Signature }))).toBe(kmsRoot)
  })

  test('behavior: the kms-issued message is "dstack-kms-issued:" ‖ app_id ‖ compressed app key', () => {
    const message = new Uint8Array([...new TextEncoder().encode('dstack-kms-issued:'), ...appId, ...hexToBytes(appPublicKey)])
    expect(bytesToHex(SignatureChain.kmsIssuedHash({ appId, appPublicKey: hexToBytes(appPublicKey) }))).toBe(
      bytesToHex(keccak_256(message)),
    )
  })

  test('behavior: errors name the signature and what failed', () => {
    const hash = new Uint8Array(32)
    expect(() => SignatureChain.recover({ hash, signature: k256Signature.subarray(0, 64) })).toThrow(
      'signature must be 65 bytes (r ‖ s ‖ recid), got 64.',
    )
    const v27 = k256Signature.slice()
    v27[64] = 27
    expect(() => SignatureChain.recover({ hash, signature: v27, name: 'signature_chain[1]' })).toThrow(
      'signature_chain[1] has recovery id 27, expected 0 or 1.',
    )
    const zeroR = k256Signature.slice()
    zeroR.fill(0, 0, 32)
    expect(() => SignatureChain.recover({ hash, signature: zeroR, name: 'signature_chain[0]' })).toThrow(
      'signature_chain[0] is not a valid recoverable secp256k1 signature.',
    )
  })
})

describe('sign', () => {
  test('default: r ‖ s ‖ recid (0/1), low-s, recovers to the signer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (hash) => {
        const signature = SignatureChain.sign({ privateKey: appK256Key, hash })
        expect(signature.length).toBe(65)
        expect([0, 1]).toContain(signature[64])
        expect(secp256k1.Signature.fromCompact(signature.subarray(0, 64)).hasHighS()).toBe(false)
        expect(bytesToHex(SignatureChain.recover({ hash, signature }))).toBe(appPublicKey)
      }),
      { numRuns: 30 },
    )
  })
})

describe('verify', () => {
  test('vector: a /test/path chain recovers the app key and the listed KMS root (§8 items 2, 3)', () => {
    const signatureChain = chainFor('test-purpose')
    // chain[0] signs exactly the listed message.
    const message = 'test-purpose:02c1082e78670feed1c847db81dbd71be37e4d53200a746c0a89f0afa8173cf566'
    expect(
      bytesToHex(
        SignatureChain.recover({
          hash: keccak_256(new TextEncoder().encode(message)),
          signature: signatureChain[0],
        }),
      ),
    ).toBe(appPublicKey)
    const verified = SignatureChain.verify({
      key: testPathKey,
      purpose: 'test-purpose',
      appId,
      signatureChain,
      kmsRootPublicKey: hexToBytes(kmsRoot),
    })
    expect(bytesToHex(verified.publicKey)).toBe('02c1082e78670feed1c847db81dbd71be37e4d53200a746c0a89f0afa8173cf566')
    expect(bytesToHex(verified.appPublicKey)).toBe(appPublicKey)
    expect(bytesToHex(verified.kmsRootPublicKey)).toBe(kmsRoot)
    expect(verified.kmsRootAddress).toBe(
      publicKeyToAddress(`0x${bytesToHex(secp256k1.ProjectivePoint.fromHex(kmsRoot).toRawBytes(false))}`),
    )
  })

  test('behavior: P2 given as compressed, uncompressed or ed25519 public key', () => {
    const uncompressed = secp256k1.getPublicKey(testPathKey, false)
    const a = SignatureChain.verify({ publicKey: uncompressed, purpose: 'p', appId, signatureChain: chainFor('p') })
    expect(bytesToHex(a.kmsRootPublicKey)).toBe(kmsRoot)
    const ed = GetKey.derive({ appK256Key, k256Signature, path: '/test/path', purpose: 'p', algorithm: 'ed25519' })
    const b = SignatureChain.verify({
      publicKey: hexToBytes('2149e71e37ed8568f5a240e6966b5d6f6017428069ddf06ed4c04151de4b2304'),
      algorithm: 'ed25519',
      purpose: 'p',
      appId,
      signatureChain: ed.signatureChain,
      kmsRootPublicKey: hexToBytes(kmsRoot),
    })
    expect(bytesToHex(b.kmsRootPublicKey)).toBe(kmsRoot)
    // The same chain checked as secp256k1 does not lead to the root: chain[0] binds the algorithm's key.
    expect(() =>
      SignatureChain.verify({
        key: testPathKey,
        purpose: 'p',
        appId,
        signatureChain: ed.signatureChain,
        kmsRootPublicKey: hexToBytes(kmsRoot),
      }),
    ).toThrowError(SignatureChain.KmsRootMismatchError)
  })

  test('behavior: a different purpose or app id does not verify to the root', () => {
    const signatureChain = chainFor('wallet')
    const root = hexToBytes(kmsRoot)
    expect(() => SignatureChain.verify({ key: testPathKey, purpose: 'other', appId, signatureChain, kmsRootPublicKey: root })).toThrowError(
      SignatureChain.KmsRootMismatchError,
    )
    const otherApp = appId.slice()
    otherApp[0] = (otherApp[0] as number) ^ 1
    expect(() =>
      SignatureChain.verify({ key: testPathKey, purpose: 'wallet', appId: otherApp, signatureChain, kmsRootPublicKey: root }),
    ).toThrowError(SignatureChain.KmsRootMismatchError)
  })

  test('behavior: mismatched root — message names both keys', () => {
    const other = secp256k1.getPublicKey(hexToBytes('01'.repeat(32)), true)
    expect(() =>
      SignatureChain.verify({
        key: testPathKey,
        purpose: 'x',
        appId,
        signatureChain: chainFor('x'),
        kmsRootPublicKey: other,
      }),
    ).toThrow(
      ['Signature chain does not lead to the trusted KMS root.', '', `Expected:  0x${bytesToHex(other)}`, `Recovered: 0x${kmsRoot}`].join(
        '\n',
      ),
    )
  })

  test('behavior: checks a trusted root address (RegentAppAuth form)', () => {
    const address = SignatureChain.kmsRootAddress(hexToBytes(kmsRoot))
    const signatureChain = chainFor('x')
    expect(
      SignatureChain.verify({
        key: testPathKey,
        purpose: 'x',
        appId,
        signatureChain,
        kmsRootAddress: address.toLowerCase() as `0x${string}`,
      }).kmsRootAddress,
    ).toBe(address)
    expect(() =>
      SignatureChain.verify({
        key: testPathKey,
        purpose: 'x',
        appId,
        signatureChain,
        kmsRootAddress: '0x0000000000000000000000000000000000000001',
      }),
    ).toThrow(
      `Signature chain does not lead to the trusted KMS root.\n\nExpected:  0x0000000000000000000000000000000000000001\nRecovered: ${address}`,
    )
  })

  test('behavior: typed errors for malformed chains', () => {
    const signatureChain = chainFor('x')
    const base = { key: testPathKey, purpose: 'x', appId }
    expect(() => SignatureChain.verify({ ...base, signatureChain: [signatureChain[0]] })).toThrow(
      'Signature chain must have 2 entries [app, kms], got 1.',
    )
    expect(() => SignatureChain.verify({ ...base, signatureChain: [signatureChain[0], new Uint8Array(0)] })).toThrow(
      'signature_chain[1] must be 65 bytes (r ‖ s ‖ recid), got 0.',
    )
    const recid = signatureChain[0].slice()
    recid[64] = 2
    expect(() => SignatureChain.verify({ ...base, signatureChain: [recid, signatureChain[1]] })).toThrow(
      'signature_chain[0] has recovery id 2, expected 0 or 1.',
    )
    expect(() => SignatureChain.verify({ ...base, appId: appId.subarray(1), signatureChain })).toThrow('appId must be 20 bytes, got 19.')
    expect(() => SignatureChain.verify({ publicKey: new Uint8Array(33), purpose: 'x', appId, signatureChain })).toThrow(
      'Invalid publicKey: not a secp256k1 point.',
    )
    expect(() => SignatureChain.verify({ ...base, signatureChain, kmsRootPublicKey: new Uint8Array(20) })).toThrow(
      'Invalid kmsRootPublicKey: 20 bytes, expected 33 or 65.',
    )
  })

  test('property: chains from AppKeys.derive + GetKey.derive verify to the root; any flipped byte fails', () => {
    const scalar = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((b) => secp256k1.utils.isValidPrivateKey(b))
    fc.assert(
      fc.property(
        scalar,
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.string(),
        fc.string(),
        fc.constantFrom<'secp256k1' | 'ed25519'>('secp256k1', 'ed25519'),
        fc.nat({ max: 129 }),
        fc.integer({ min: 1, max: 255 }),
        (rootK256, id, path, purpose, algorithm, at, mask) => {
          const keys = AppKeys.derive({ rootK256, rootCa: hexToBytes('11'.repeat(32)), appId: id })
          const got = GetKey.derive({ appK256Key: keys.k256Key, k256Signature: keys.k256Signature, path, purpose, algorithm })
          const kmsRootPublicKey = secp256k1.getPublicKey(rootK256, true)
          const ok = SignatureChain.verify({
            key: got.key,
            algorithm,
            purpose,
            appId: id,
            signatureChain: got.signatureChain,
            kmsRootPublicKey,
          })
          expect(bytesToHex(ok.kmsRootPublicKey)).toBe(bytesToHex(kmsRootPublicKey))
          expect(bytesToHex(ok.appPublicKey)).toBe(bytesToHex(keys.k256PublicKey))
          const flipped: [Uint8Array, Uint8Array] = [got.signatureChain[0].slice(), got.signatureChain[1].slice()]
          const entry = flipped[at < 65 ? 0 : 1]
          entry[at % 65] = (entry[at % 65] as number) ^ mask
          expect(() =>
            SignatureChain.verify({ key: got.key, algorithm, purpose, appId: id, signatureChain: flipped, kmsRootPublicKey }),
          ).toThrowError(/signature_chain\[[01]\]|Signature chain does not lead to the trusted KMS root/)
        },
      ),
      { numRuns: 40 },
    )
  })
})

describe('kmsRootAddress', () => {
  test('default: keccak of the uncompressed key, EIP-55 (viem differential), same for both encodings', () => {
    const uncompressed = secp256k1.ProjectivePoint.fromHex(kmsRoot).toRawBytes(false)
    const expected = publicKeyToAddress(`0x${bytesToHex(uncompressed)}`)
    expect(SignatureChain.kmsRootAddress(hexToBytes(kmsRoot))).toBe(expected)
    expect(SignatureChain.kmsRootAddress(uncompressed)).toBe(expected)
  })

  test('behavior: rejects non-points', () => {
    expect(() => SignatureChain.kmsRootAddress(new Uint8Array(64))).toThrow('Invalid publicKey: 64 bytes, expected 33 or 65.')
  })
})
