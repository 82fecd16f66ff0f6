import { createDecipheriv, createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto'
import { secp256k1 } from '@noble/curves/secp256k1'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils'
import { encryptEnvVars } from '@phala/dstack-sdk/encrypt-env-vars'
import { verifyEnvEncryptPublicKey, verifyEnvEncryptPublicKeyLegacy } from '@phala/dstack-sdk/verify-env-encrypt-public-key'
import * as fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import * as EnvEncryption from './EnvEncryption.js'

// reference/dstack.md §8 items 4, 5, 6.
const appEnvCryptKey = hexToBytes('4f3cf0a19a0444674c8e51222afd395b8df9fad2ba3cd7956f640a4b3c046db6')
const appEnvPublicKey = '4b03687002c7e0f6e8eaabea3edc108de72a06d2c2b64a3e14c34883645c7127'
const decryptVector = {
  envCryptKey: hexToBytes('7c282bf94b35dc47801dc953bfa0896fc2bd313381d3e8eca4e42f6536d2a96f'),
  ciphertext: hexToBytes(
    '0bd18749612f4c8b9dd583c7d6a646b90abd34e3c731a7708d0caf9039095641e1f0948e775f0b7351788db7f246d51806954626dcccb6a60d64665ca3715c6bef75616cab476d27bba04080361200d6a58cec',
  ),
}
const legacyVector = {
  publicKey: hexToBytes('e33a1832c6562067ff8f844a61e51ad051f1180b66ec2551fb0251735f3ee90a'),
  signature: hexToBytes(
    '8542c49081fbf4e03f62034f13fbf70630bdf256a53032e38465a27c36fd6bed7a5e7111652004aef37f7fd92fbfc1285212c4ae6a6154203a48f5e16cad2cef00',
  ),
  appId: new Uint8Array(20),
  signer: '0217610d74cbd39b6143842c6d8bc310d79da1d82cc9d17f8876376221eda0c38f',
}
const rootK256 = hexToBytes('2a'.repeat(32))
const rootPublicKey = secp256k1.getPublicKey(rootK256, true)
const appId = hexToBytes('5bb4ff9a3837357f19dc176407a5709c62eb6c56')

const envVar = fc.record({
  key: fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,40}$/),
  value: fc.string({ unit: 'grapheme', maxLength: 200 }),
})

/** An independent decryptor built on node:crypto only (X25519 via KeyObjects, AES-256-GCM). */
function nodeDecrypt(ciphertext: Uint8Array, envCryptKey: Uint8Array): string {
  const der = (prefix: string, key: Uint8Array) => Buffer.concat([Buffer.from(prefix, 'hex'), key])
  const privateKey = createPrivateKey({ key: der('302e020100300506032b656e04220420', envCryptKey), format: 'der', type: 'pkcs8' })
  const publicKey = createPublicKey({ key: der('302a300506032b656e032100', ciphertext.subarray(0, 32)), format: 'der', type: 'spki' })
  const shared = diffieHellman({ privateKey, publicKey })
  const decipher = createDecipheriv('aes-256-gcm', shared, ciphertext.subarray(32, 44))
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
  return Buffer.concat([decipher.update(ciphertext.subarray(44, ciphertext.length - 16)), decipher.final()]).toString('utf8')
}

describe('toPublicKey', () => {
  test('vector: the simulator env_crypt_key and its X25519 public key (§8 item 4)', () => {
    expect(bytesToHex(EnvEncryption.toPublicKey({ envCryptKey: appEnvCryptKey }))).toBe(appEnvPublicKey)
  })
})

describe('decryptBytes', () => {
  test('vector: dstack-util crypto.rs test ciphertext (§8 item 5)', () => {
    expect(new TextDecoder().decode(EnvEncryption.decryptBytes(decryptVector))).toBe('[{"key":"","value":""}]')
  })

  test('behavior: the vector plaintext is not an env document', () => {
    expect(() => EnvEncryption.decrypt(decryptVector)).toThrow('Decrypted env is invalid: expected an object with an "env" array.')
  })

  test('behavior: wrong key, tampered bytes and short input are typed errors', () => {
    expect(() => EnvEncryption.decryptBytes({ ...decryptVector, envCryptKey: appEnvCryptKey })).toThrow(
      'Encrypted env does not decrypt: wrong envCryptKey or tampered ciphertext.',
    )
    for (const at of [0, 40, 60, decryptVector.ciphertext.length - 1]) {
      const tampered = decryptVector.ciphertext.slice()
      tampered[at] = (tampered[at] as number) ^ 0x80
      expect(() => EnvEncryption.decryptBytes({ ...decryptVector, ciphertext: tampered })).toThrowError(EnvEncryption.DecryptionFailedError)
    }
    expect(() => EnvEncryption.decryptBytes({ ...decryptVector, ciphertext: new Uint8Array(59) })).toThrow(
      'Encrypted env must be at least 60 bytes (ephemeral_pk ‖ iv ‖ ct ‖ tag), got 59.',
    )
    expect(() => EnvEncryption.decryptBytes({ ...decryptVector, envCryptKey: new Uint8Array(31) })).toThrow(
      'Invalid envCryptKey: expected 32 bytes, got 31.',
    )
  })

  test('behavior: a low-order ephemeral key is rejected', () => {
    const lowOrder = new Uint8Array(60) // u = 0
    expect(() => EnvEncryption.decryptBytes({ ...decryptVector, ciphertext: lowOrder })).toThrow(
      'Invalid ephemeral public key: a low-order X25519 point (all-zero shared secret).',
    )
  })
})

describe('encrypt', () => {
  test('default: ephemeral_pk ‖ iv ‖ ct ‖ tag of {"env":[…]}, fresh randomness each time', () => {
    const envs = [{ key: 'FOO', value: 'bar' }]
    const a = EnvEncryption.encrypt({ envs, publicKey: hexToBytes(appEnvPublicKey) })
    const b = EnvEncryption.encrypt({ envs, publicKey: hexToBytes(appEnvPublicKey) })
    const plaintext = '{"env":[{"key":"FOO","value":"bar"}]}'
    expect(a.length).toBe(32 + 12 + plaintext.length + 16)
    expect(bytesToHex(a.subarray(0, 44))).not.toBe(bytesToHex(b.subarray(0, 44)))
    expect(nodeDecrypt(a, appEnvCryptKey)).toBe(plaintext)
  })

  test('differential: SDK encryptEnvVars → our decrypt', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(envVar, { maxLength: 8 }), async (envs) => {
        const hex = await encryptEnvVars(envs, appEnvPublicKey)
        expect(EnvEncryption.decrypt({ ciphertext: hexToBytes(hex), envCryptKey: appEnvCryptKey })).toEqual(envs)
      }),
      { numRuns: 30 },
    )
  })

  test('differential: our encrypt → node:crypto decrypt gives the SDK plaintext', () => {
    fc.assert(
      fc.property(fc.array(envVar, { maxLength: 8 }), (envs) => {
        const ciphertext = EnvEncryption.encrypt({ envs, publicKey: hexToBytes(appEnvPublicKey) })
        expect(nodeDecrypt(ciphertext, appEnvCryptKey)).toBe(JSON.stringify({ env: envs }))
      }),
      { numRuns: 30 },
    )
  })

  test('property: round trip with any key pair', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(envVar, { maxLength: 5 }), (envCryptKey, envs) => {
        const publicKey = EnvEncryption.toPublicKey({ envCryptKey })
        const ciphertext = EnvEncryption.encrypt({ envs, publicKey })
        expect(EnvEncryption.decrypt({ ciphertext, envCryptKey })).toEqual(envs)
      }),
      { numRuns: 30 },
    )
  })

  test('behavior: refuses envs the guest would drop', () => {
    const publicKey = hexToBytes(appEnvPublicKey)
    expect(() => EnvEncryption.encrypt({ envs: [{ key: '1A', value: '' }], publicKey })).toThrow(
      'Invalid env: env[0].key "1A" must match ^[a-zA-Z_][a-zA-Z0-9_]*$.',
    )
    expect(() =>
      EnvEncryption.encrypt({
        envs: [
          { key: 'A', value: '' },
          { key: 'B-C', value: '' },
        ],
        publicKey,
      }),
    ).toThrow('Invalid env: env[1].key "B-C" must match ^[a-zA-Z_][a-zA-Z0-9_]*$.')
    expect(() => EnvEncryption.encrypt({ envs: [{ key: 'K'.repeat(256), value: '' }], publicKey })).toThrow(
      'Invalid env: env[0].key is 256 characters, at most 255 are allowed.',
    )
    expect(() => EnvEncryption.encrypt({ envs: [{ key: 'K', value: 'é'.repeat(65537) }], publicKey })).toThrow(
      'Invalid env: env[0].value is 131074 bytes, at most 131072 are allowed.',
    )
    const many = Array.from({ length: 1025 }, (_, i) => ({ key: `K${i}`, value: '' }))
    expect(() => EnvEncryption.encrypt({ envs: many, publicKey })).toThrow('Invalid env: 1025 entries, at most 1024 are allowed.')
    const big = Array.from({ length: 9 }, (_, i) => ({ key: `K${i}`, value: 'v'.repeat(128 * 1024) }))
    expect(() => EnvEncryption.encrypt({ envs: big, publicKey })).toThrow(
      /^Invalid env: the env is \d+ bytes, at most 1048576 are allowed\.$/,
    )
    expect(() => EnvEncryption.encrypt({ envs: [], publicKey: new Uint8Array(32) })).toThrow(
      'Invalid publicKey: a low-order X25519 point (all-zero shared secret).',
    )
    expect(() => EnvEncryption.encrypt({ envs: [], publicKey: new Uint8Array(33) })).toThrow(
      'Invalid publicKey: expected 32 bytes, got 33.',
    )
  })
})

describe('parse', () => {
  test('behavior: names what is wrong', () => {
    const enc = (s: string) => new TextEncoder().encode(s)
    expect(EnvEncryption.parse(enc('{"env":[{"key":"A","value":"1"}],"extra":1}'))).toEqual([{ key: 'A', value: '1' }])
    expect(() => EnvEncryption.parse(enc('{"env":[{"key":"A","value":1}]}'))).toThrow(
      'Decrypted env is invalid: env[0] must be {"key": string, "value": string}.',
    )
    expect(() => EnvEncryption.parse(enc('not json'))).toThrow('Decrypted env is invalid: not UTF-8 JSON.')
    expect(() => EnvEncryption.parse(Uint8Array.from([0x22, 0xff, 0x22]))).toThrow('Decrypted env is invalid: not UTF-8 JSON.')
  })
})

describe('verifyPublicKey', () => {
  test('vector: legacy signature recovers the listed signer (§8 item 6)', () => {
    expect(bytesToHex(EnvEncryption.verifyPublicKey(legacyVector))).toBe(legacyVector.signer)
    expect(bytesToHex(EnvEncryption.verifyPublicKey({ ...legacyVector, kmsRootPublicKey: hexToBytes(legacyVector.signer) }))).toBe(
      legacyVector.signer,
    )
  })

  test('differential: SDK verifyEnvEncryptPublicKeyLegacy agrees on the vector and on our signatures', () => {
    expect(verifyEnvEncryptPublicKeyLegacy(legacyVector.publicKey, legacyVector.signature, '00'.repeat(20))).toBe(
      `0x${legacyVector.signer}`,
    )
    const publicKey = hexToBytes(appEnvPublicKey)
    const signature = EnvEncryption.signPublicKey({ rootK256, appId, publicKey })
    expect(verifyEnvEncryptPublicKeyLegacy(publicKey, signature, bytesToHex(appId))).toBe(`0x${bytesToHex(rootPublicKey)}`)
  })

  test('differential: SDK verifyEnvEncryptPublicKey (signature_v1, timestamped) recovers our root', () => {
    const publicKey = hexToBytes(appEnvPublicKey)
    const timestamp = BigInt(Math.floor(Date.now() / 1000))
    const signature = EnvEncryption.signPublicKey({ rootK256, appId, publicKey, timestamp })
    expect(verifyEnvEncryptPublicKey(publicKey, signature, bytesToHex(appId), timestamp)).toBe(`0x${bytesToHex(rootPublicKey)}`)
    expect(bytesToHex(EnvEncryption.verifyPublicKey({ publicKey, signature, appId, timestamp, kmsRootPublicKey: rootPublicKey }))).toBe(
      bytesToHex(rootPublicKey),
    )
    // The timestamp is signed: the legacy check of a v1 signature recovers someone else.
    expect(() => EnvEncryption.verifyPublicKey({ publicKey, signature, appId, kmsRootPublicKey: rootPublicKey })).toThrowError(
      EnvEncryption.SignerMismatchError,
    )
  })

  test('behavior: timestamp window as the SDK (60 s future, 300 s default max age)', () => {
    const publicKey = hexToBytes(appEnvPublicKey)
    const now = 1_700_000_000n
    const sign = (timestamp: bigint) => EnvEncryption.signPublicKey({ rootK256, appId, publicKey, timestamp })
    expect(() => EnvEncryption.verifyPublicKey({ publicKey, appId, signature: sign(now + 61n), timestamp: now + 61n, now })).toThrow(
      'Env public key signature timestamp is 61s in the future (at most 60s allowed).',
    )
    expect(() => EnvEncryption.verifyPublicKey({ publicKey, appId, signature: sign(now - 301n), timestamp: now - 301n, now })).toThrow(
      'Env public key signature timestamp is 301s old (at most 300s allowed).',
    )
    expect(() =>
      EnvEncryption.verifyPublicKey({ publicKey, appId, signature: sign(now - 11n), timestamp: now - 11n, now, maxAgeSeconds: 10 }),
    ).toThrow('Env public key signature timestamp is 11s old (at most 10s allowed).')
    expect(bytesToHex(EnvEncryption.verifyPublicKey({ publicKey, appId, signature: sign(now + 60n), timestamp: now + 60n, now }))).toBe(
      bytesToHex(rootPublicKey),
    )
  })

  test('behavior: signer mismatch names both keys; malformed input is typed', () => {
    expect(() => EnvEncryption.verifyPublicKey({ ...legacyVector, kmsRootPublicKey: rootPublicKey })).toThrow(
      `Env public key is not signed by the trusted KMS root.\n\nExpected:  0x${bytesToHex(rootPublicKey)}\nRecovered: 0x${legacyVector.signer}`,
    )
    expect(() => EnvEncryption.verifyPublicKey({ ...legacyVector, signature: legacyVector.signature.subarray(1) })).toThrow(
      'env public key signature must be 65 bytes (r ‖ s ‖ recid), got 64.',
    )
    expect(() => EnvEncryption.verifyPublicKey({ ...legacyVector, appId: new Uint8Array(32) })).toThrow(
      'Invalid appId: expected 20 bytes, got 32.',
    )
  })
})
