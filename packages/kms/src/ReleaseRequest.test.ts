import { createHash } from 'node:crypto'
import { x25519 } from '@noble/curves/ed25519'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import * as ReleaseLog from './ReleaseLog.js'
import * as ReleaseRequest from './ReleaseRequest.js'
import * as RootKeys from './RootKeys.js'

const nonce = new Uint8Array(32).fill(2)
const transcript = (requesterPublicKey: Uint8Array) => ({
  purpose: 'keys' as const,
  quoteHash: new Uint8Array(32).fill(1),
  requesterPublicKey,
  nonce,
  kmsRootPublicKey: new Uint8Array(33).fill(3),
})

describe('ReleaseRequest.toReportData', () => {
  test('default: SHA-512(label ‖ 0x00 ‖ key ‖ nonce), purposes differ', () => {
    const key = new Uint8Array(32).fill(9)
    const expected = createHash('sha512')
      .update('regent-kms-key-request/v1')
      .update(Uint8Array.of(0))
      .update(key)
      .update(nonce)
      .digest('hex')
    expect(ReleaseRequest.toHex(ReleaseRequest.toReportData({ purpose: 'keys', ephemeralPublicKey: key, nonce }))).toBe(expected)
    expect(ReleaseRequest.toHex(ReleaseRequest.toReportData({ purpose: 'onboard', ephemeralPublicKey: key, nonce }))).not.toBe(expected)
    expect(() => ReleaseRequest.toReportData({ purpose: 'keys', ephemeralPublicKey: key, nonce: new Uint8Array(31) })).toThrow(
      'Invalid nonce: must be 32 bytes, got 31.',
    )
  })
})

describe('ReleaseRequest.seal', () => {
  test('behavior: opens with the requester key (noble X25519 agrees on the public key); any other transcript or key fails', () => {
    const pair = ReleaseRequest.createKeyPair()
    expect(ReleaseRequest.toHex(x25519.getPublicKey(pair.privateKey))).toBe(ReleaseRequest.toHex(pair.publicKey))
    const plaintext = new TextEncoder().encode('app keys')
    const envelope = ReleaseRequest.seal({ plaintext, transcript: transcript(pair.publicKey) })
    expect(
      new TextDecoder().decode(ReleaseRequest.open({ envelope, privateKey: pair.privateKey, transcript: transcript(pair.publicKey) })),
    ).toBe('app keys')
    expect(() =>
      ReleaseRequest.open({
        envelope,
        privateKey: pair.privateKey,
        transcript: { ...transcript(pair.publicKey), nonce: new Uint8Array(32) },
      }),
    ).toThrow(ReleaseRequest.DecryptionFailedError)
    expect(() =>
      ReleaseRequest.open({ envelope, privateKey: ReleaseRequest.createKeyPair().privateKey, transcript: transcript(pair.publicKey) }),
    ).toThrow(ReleaseRequest.DecryptionFailedError)
    expect(() => ReleaseRequest.seal({ plaintext, transcript: transcript(new Uint8Array(32)) })).toThrow(ReleaseRequest.InvalidFieldError)
  })

  test('behavior: app keys payload round-trips (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), fc.string(), (k, disk, caCert) => {
        const payload = {
          k256Key: k,
          k256Signature: new Uint8Array(65).fill(1),
          envCryptKey: k,
          diskCryptKey: disk ? k : new Uint8Array(0),
          osImageHash: k,
          caCert,
        }
        expect(ReleaseRequest.parseAppKeys(ReleaseRequest.serializeAppKeys(payload))).toEqual(payload)
      }),
    )
  })
})

describe('ReleaseRequest.parse', () => {
  test('behavior: names the field that failed', () => {
    expect(() => ReleaseRequest.parse([])).toThrow('Invalid (body): must be a JSON object.')
    expect(() => ReleaseRequest.parse({ quote: 'xyz' })).toThrow('Invalid quote: must be an even-length hex string.')
    for (const bad of ['0g', 'g0', 'ab cd', 'abc', 'ab\u00e9f', '0x0x', 'abZZ', 'ab+1'])
      expect(() => ReleaseRequest.fromHex(bad, 'quote')).toThrow('Invalid quote: must be an even-length hex string.')
    expect(ReleaseRequest.fromHex('0xAbcD', 'quote')).toEqual(Uint8Array.of(0xab, 0xcd))
    expect(ReleaseRequest.fromHex('', 'quote')).toEqual(new Uint8Array(0))
    expect(() => ReleaseRequest.parse({ quote: 'aa', eventLog: 1 })).toThrow('Invalid eventLog: must be a string.')
    expect(() => ReleaseRequest.parse({ quote: 'aa', eventLog: '[]', ephemeralPublicKey: 'aa', nonce: '' })).toThrow(
      'Invalid ephemeralPublicKey: must be 32 bytes, got 1.',
    )
  })
})

describe('RootKeys.seal', () => {
  test('default: unseals with the key; wrong key, altered byte, other version refused', () => {
    const keys = RootKeys.generate()
    const key = new Uint8Array(32).fill(5)
    const sealed = RootKeys.seal(keys, { key })
    expect(RootKeys.unseal(sealed, { key })).toEqual(keys)
    expect(() => RootKeys.unseal(sealed, { key: new Uint8Array(32) })).toThrow(RootKeys.UnsealError)
    const altered = Uint8Array.from(sealed)
    altered[40] = (altered[40] as number) ^ 1
    expect(() => RootKeys.unseal(altered, { key })).toThrow('The sealed root keys do not open: wrong sealing key or altered bytes.')
    const v2 = Uint8Array.from(sealed)
    v2[4] = 2
    expect(() => RootKeys.unseal(v2, { key })).toThrow('Unsupported sealed root-keys version 2; this build reads version 1.')
    expect(() => RootKeys.seal(keys, { key: new Uint8Array(16) })).toThrow('The sealing key must be 32 bytes, got 16.')
    expect(Buffer.from(sealed).includes(Buffer.from(keys.rootK256))).toBe(false)
  })
})

describe('ReleaseLog.verify', () => {
  test('behavior: any edited field, reordering or deletion breaks the chain at that entry', () => {
    const log = ReleaseLog.open({ path: ':memory:' })
    for (let i = 0; i < 4; i++)
      log.append({
        kind: 'keys',
        outcome: 'released',
        code: '',
        reason: '',
        appId: 'aa',
        instanceId: 'bb',
        composeHash: 'cc',
        quoteHash: `${i}`,
        time: 1000 + i,
      })
    const entries = log.read()
    expect(ReleaseLog.verify(entries)).toEqual({ ok: true, head: log.head().hash })
    for (const field of ['time', 'outcome', 'appId', 'quoteHash'] as const) {
      const edited = entries.map((e) => ({ ...e }))
      ;(edited[2] as Record<string, unknown>)[field] = field === 'time' ? 1 : 'x'
      expect(ReleaseLog.verify(edited)).toEqual({ ok: false, seq: 2, reason: 'hash does not match the entry' })
    }
    expect(ReleaseLog.verify([entries[0], entries[2]] as ReleaseLog.Entry[])).toEqual({ ok: false, seq: 2, reason: 'sequence 2 follows 0' })
    log.close()
  })
})
