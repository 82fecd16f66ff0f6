import { ed25519 } from '@noble/curves/ed25519'
import { secp256k1 } from '@noble/curves/secp256k1'
import { keccak_256 } from '@noble/hashes/sha3'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils'
import { toViemAccount } from '@phala/dstack-sdk/viem'
import * as fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import * as GetKey from './GetKey.js'
import * as SignatureChain from './SignatureChain.js'

// reference/dstack.md §8 items 2 and 3.
const appId = hexToBytes('5bb4ff9a3837357f19dc176407a5709c62eb6c56')
const appK256Key = hexToBytes('d6e88992cdeeee35fe70b5db61ab66cdb191fb9b6ec9313757ef162dd7214d5d')
const appPublicKey = '02818494263695e8839122dbd88e281d7380622999df4e60a14befa0f2d096fc7c'
const k256Signature = hexToBytes(
  '9e618603e72d01fedb82deff6daf2d62a572becf0059eec3f89c1ab40e1f2e594d2a283f843f34e8f39e4cc49a612496ce67223a12ac923f8efe330346dfc6c500',
)
const kmsRoot = '0321529e458424ab1f710a3a57ec4dad2fb195ddca572f7469242ba6c7563085b6'
const vectors = [
  {
    path: '/test/path',
    key: 'b9fbb7171185c421c58610a2acba8ceae93623ae47815618cbad1e98fc042cb7',
    secp256k1: '02c1082e78670feed1c847db81dbd71be37e4d53200a746c0a89f0afa8173cf566',
  },
  {
    path: 'wallet/ethereum',
    key: 'abc24a0a6485cfceb30932bcfc9c3b918eab2216d8619c423a0d1017390938ef',
    secp256k1: '03d11dee20a15caa0edfbb1e6cb36dad2447a5fdb2bfd745f3dcce1b7fbdfd84cf',
  },
  {
    path: '',
    key: 'aa221ae548b5a8f52fcb8687cfd873712f6a1232b2717e5ee3d58ab74f21905b',
    secp256k1: '027458ba47c31272b5076edebdc1ecdaedef806b10d76dd0a209cbd1fa14a3f9cf',
  },
] as const

describe('derive', () => {
  test.each(vectors)('vector: path $path (§8 item 3)', ({ path, key, secp256k1: pub }) => {
    const got = GetKey.derive({ appK256Key, k256Signature, path, purpose: 'test-purpose' })
    expect(bytesToHex(got.key)).toBe(key)
    expect(bytesToHex(got.publicKey)).toBe(pub)
    expect(bytesToHex(got.signatureChain[1])).toBe(bytesToHex(k256Signature))
    const verified = SignatureChain.verify({
      key: got.key,
      purpose: 'test-purpose',
      appId,
      signatureChain: got.signatureChain,
      kmsRootPublicKey: hexToBytes(kmsRoot),
    })
    expect(bytesToHex(verified.appPublicKey)).toBe(appPublicKey)
  })

  test('vector: ed25519 public key of /test/path uses the same 32 bytes as seed (§8 item 3, §9)', () => {
    const k1 = GetKey.derive({ appK256Key, k256Signature, path: '/test/path', purpose: 'p' })
    const ed = GetKey.derive({ appK256Key, k256Signature, path: '/test/path', purpose: 'p', algorithm: 'ed25519' })
    expect(bytesToHex(ed.key)).toBe(bytesToHex(k1.key))
    expect(bytesToHex(ed.publicKey)).toBe('2149e71e37ed8568f5a240e6966b5d6f6017428069ddf06ed4c04151de4b2304')
    expect(bytesToHex(ed.publicKey)).toBe(bytesToHex(ed25519.getPublicKey(ed.key)))
    expect(bytesToHex(ed.signatureChain[0])).not.toBe(bytesToHex(k1.signatureChain[0]))
  })

  test('vector: chain[0] signs Keccak-256 of the listed purpose message', () => {
    const got = GetKey.derive({ appK256Key, k256Signature, path: '/test/path', purpose: 'test-purpose' })
    const hash = keccak_256(new TextEncoder().encode('test-purpose:02c1082e78670feed1c847db81dbd71be37e4d53200a746c0a89f0afa8173cf566'))
    expect(secp256k1.verify(got.signatureChain[0].subarray(0, 64), hash, hexToBytes(appPublicKey))).toBe(true)
  })

  test('behavior: purpose changes only chain[0], never the key', () => {
    const a = GetKey.derive({ appK256Key, k256Signature, path: 'p', purpose: 'a' })
    const b = GetKey.derive({ appK256Key, k256Signature, path: 'p', purpose: 'b' })
    expect(bytesToHex(a.key)).toBe(bytesToHex(b.key))
    expect(bytesToHex(a.signatureChain[0])).not.toBe(bytesToHex(b.signatureChain[0]))
  })

  test('behavior: algorithm names as dstack accepts them', () => {
    const base = { appK256Key, k256Signature, path: 'p' }
    const k1 = bytesToHex(GetKey.derive(base).publicKey)
    expect(bytesToHex(GetKey.derive({ ...base, algorithm: 'k256' }).publicKey)).toBe(k1)
    expect(bytesToHex(GetKey.derive({ ...base, algorithm: '' }).publicKey)).toBe(k1)
    expect(() => GetKey.derive({ ...base, algorithm: 'rsa' as GetKey.AlgorithmName })).toThrow(
      'Unsupported algorithm "rsa".\n\nSupported: "secp256k1" (default, alias "k256" or ""), "ed25519".',
    )
  })

  test('behavior: non-KMS providers have an empty chain[1]; other lengths are rejected', () => {
    const got = GetKey.derive({ appK256Key, k256Signature: new Uint8Array(0), path: 'p' })
    expect(got.signatureChain[1].length).toBe(0)
    expect(() => GetKey.derive({ appK256Key, k256Signature: new Uint8Array(64), path: 'p' })).toThrow(
      'k256Signature must be 65 bytes (r ‖ s ‖ recid) or empty (non-KMS key provider), got 64.',
    )
    expect(() => GetKey.derive({ appK256Key: new Uint8Array(32), k256Signature, path: 'p' })).toThrow(
      'Invalid secp256k1 private scalar: zero.',
    )
  })

  test('differential: the dstack SDK viem adapter gives the address of our key', () => {
    const got = GetKey.derive({ appK256Key, k256Signature, path: 'wallet/ethereum', purpose: 'wallet' })
    const account = toViemAccount({ __name__: 'GetKeyResponse', key: got.key, signature_chain: got.signatureChain })
    expect(account.address).toBe(
      SignatureChain.kmsRootAddress(hexToBytes('03d11dee20a15caa0edfbb1e6cb36dad2447a5fdb2bfd745f3dcce1b7fbdfd84cf')),
    )
  })

  test('property: deterministic; different paths give different keys', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (p, q, purpose) => {
        const a = GetKey.derive({ appK256Key, k256Signature, path: p, purpose })
        const a2 = GetKey.derive({ appK256Key, k256Signature, path: p, purpose })
        expect(bytesToHex(a.key)).toBe(bytesToHex(a2.key))
        expect(bytesToHex(a.signatureChain[0])).toBe(bytesToHex(a2.signatureChain[0]))
        fc.pre(p !== q)
        expect(bytesToHex(GetKey.derive({ appK256Key, k256Signature, path: q, purpose }).key)).not.toBe(bytesToHex(a.key))
      }),
      { numRuns: 40 },
    )
  })
})
