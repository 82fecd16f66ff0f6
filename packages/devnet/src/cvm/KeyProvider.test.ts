import { keccak_256 } from '@noble/hashes/sha3'
import { AppKeys } from '@regent-tee/kms'
import { describe, expect, test } from 'vitest'
import * as DstackKeys from '../guest/DstackKeys.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import * as DevnetQe from '../tdx/DevnetQe.js'
import * as DevnetTd from '../tdx/DevnetTd.js'
import { createLocalKeyProvider } from './KeyProvider.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const rootK256 = new Uint8Array(32).fill(3)
const rootCa = new Uint8Array(32).fill(4)
const appId = new Uint8Array(20).fill(0x5a)
const instanceId = new Uint8Array(20).fill(0x6b)

/** A TD that has logged app-id/instance-id, and a request quoting it. */
function request(options: { appId?: Uint8Array; requestedAppId?: Uint8Array; qe?: DevnetQe.DevnetQe } = {}) {
  const td = DevnetTd.create()
  DevnetTd.extend(td, { name: 'system-preparing', payload: new Uint8Array(0) })
  DevnetTd.extend(td, { name: 'app-id', payload: options.appId ?? appId })
  DevnetTd.extend(td, { name: 'compose-hash', payload: new Uint8Array(32) })
  DevnetTd.extend(td, { name: 'instance-id', payload: instanceId })
  DevnetTd.extend(td, { name: 'boot-mr-done', payload: new Uint8Array(0) })
  const quote = DevnetQe.quote(options.qe ?? qe, { tdReport: DevnetTd.report(td, { reportData: new Uint8Array(64) }) })
  return {
    td,
    request: {
      appId: options.requestedAppId ?? appId,
      instanceId,
      quote,
      eventLog: DevnetTd.eventLogJson(td, { stripped: false }),
      vmConfig: JSON.stringify({ os_image_hash: 'aa'.repeat(32) }),
    },
  }
}

describe('createLocalKeyProvider', () => {
  test('default: releases KMS-derived keys for an attested request; the app key signature recovers to the root', async () => {
    const provider = createLocalKeyProvider({ pki, rootK256, rootCa })
    expect(provider.info.name).toBe('local-devnet')
    const keys = await provider.appKeys(request().request)
    const expected = AppKeys.derive({ rootK256, rootCa, appId, instanceId })
    expect([hex(keys.k256Key), hex(keys.envCryptKey), hex(keys.diskCryptKey)]).toEqual([
      hex(expected.k256Key),
      hex(expected.envCryptKey),
      hex(expected.diskCryptKey as Uint8Array),
    ])
    const appPublicKey = DstackKeys.publicKeyOf({ key: keys.k256Key, algorithm: 'secp256k1' })
    const signer = DstackKeys.recover({
      hash: keccak_256(DstackKeys.concat(new TextEncoder().encode('dstack-kms-issued:'), appId, appPublicKey)),
      signature: keys.k256Signature,
    })
    expect(hex(signer)).toBe(hex(provider.k256PublicKey))
    expect(hex(keys.osImageHash as Uint8Array)).toBe('aa'.repeat(32))
    expect(keys.caCert).toBe(provider.caCert)
  })

  test('behavior: the same root gives the same app keys on another provider instance (replicas)', async () => {
    const a = await createLocalKeyProvider({ pki, rootK256, rootCa }).appKeys(request().request)
    const b = await createLocalKeyProvider({ pki, rootK256, rootCa }).appKeys(request().request)
    expect(hex(b.k256Key)).toBe(hex(a.k256Key))
  })

  test('behavior: refuses a quote from a PKI it does not trust', async () => {
    const provider = createLocalKeyProvider({ pki })
    const foreign = DevnetQe.create({ pki: DevnetPki.create() })
    await expect(provider.appKeys(request({ qe: foreign }).request)).rejects.toThrow(/^Key request rejected: /)
  })

  test('behavior: refuses when the event log’s app-id is not the requested app id', async () => {
    const provider = createLocalKeyProvider({ pki })
    await expect(provider.appKeys(request({ requestedAppId: new Uint8Array(20).fill(1) }).request)).rejects.toThrow(
      `Key request rejected: the event log's app-id ${hex(appId)} is not the requested ${'01'.repeat(20)}`,
    )
  })

  test('behavior: refuses an event log that does not replay to the quote', async () => {
    const provider = createLocalKeyProvider({ pki })
    const { request: r, td } = request()
    DevnetTd.extend(td, { name: 'extra', payload: new Uint8Array(1) })
    await expect(provider.appKeys({ ...r, eventLog: DevnetTd.eventLogJson(td, { stripped: false }) })).rejects.toThrow(
      /^Key request rejected: /,
    )
  })

  test('behavior: invalid root keys are refused', () => {
    expect(() => createLocalKeyProvider({ pki, rootK256: new Uint8Array(32) })).toThrow(
      'Invalid key provider root key rootK256: not a valid secp256k1 private key.',
    )
    expect(() => createLocalKeyProvider({ pki, rootCa: new Uint8Array(32).fill(0xff) })).toThrow(
      'Invalid key provider root key rootCa: not a valid P-256 private key.',
    )
  })
})

describe('DstackKeys (dstack.md §8 vectors)', () => {
  test('vector 1: derive_dh_secret of the kdf.rs root key', () => {
    // The 32-byte scalar inside the vector's PKCS#8 DER.
    const scalar = bytes('f57527cea4ab7ffb49af99b158cdc0e3ec06398f528349ea236b7d2afe19cec1')
    expect(hex(DstackKeys.deriveDhSecret({ ikm: scalar, context: ['context one', 'context two'] }))).toBe(
      '663afd58820be8ad645f9c035e93199d114ab16f738db62393bc1d7d623e8813',
    )
  })

  test('vector 2: the simulator app key’s k256_signature recovers the KMS root', () => {
    const appKey = bytes('d6e88992cdeeee35fe70b5db61ab66cdb191fb9b6ec9313757ef162dd7214d5d')
    const appPublicKey = DstackKeys.publicKeyOf({ key: appKey, algorithm: 'secp256k1' })
    expect(hex(appPublicKey)).toBe('02818494263695e8839122dbd88e281d7380622999df4e60a14befa0f2d096fc7c')
    const signer = DstackKeys.recover({
      hash: keccak_256(
        DstackKeys.concat(new TextEncoder().encode('dstack-kms-issued:'), bytes('5bb4ff9a3837357f19dc176407a5709c62eb6c56'), appPublicKey),
      ),
      signature: bytes(
        '9e618603e72d01fedb82deff6daf2d62a572becf0059eec3f89c1ab40e1f2e594d2a283f843f34e8f39e4cc49a612496ce67223a12ac923f8efe330346dfc6c500',
      ),
    })
    expect(hex(signer)).toBe('0321529e458424ab1f710a3a57ec4dad2fb195ddca572f7469242ba6c7563085b6')
  })
})
