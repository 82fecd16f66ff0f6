import { Collateral, EventLog } from '@regent-tee/attest'
import { createCvm, createLocalKeyProvider, DevnetCollateral, DevnetPki, DevnetQe } from '@regent-tee/devnet'
import { describe, expect, test } from 'vitest'
import * as KeyRelease from './KeyRelease.js'

const pki = DevnetPki.create()
const trustedRoots = [DevnetPki.trustedRoot(pki)]

describe('createEventLogCache', () => {
  test('default: keeps what it is given, by exact text, within its entry and byte budgets', async () => {
    const compose = new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'x' }))
    const cvm = await createCvm({ compose, qe: DevnetQe.create({ pki }), keyProvider: createLocalKeyProvider({ pki }) })
    const { eventLog } = cvm.quote({ reportData: new Uint8Array(64) })
    const cache = KeyRelease.createEventLogCache({ max: 2, maxBytes: eventLog.length * 2 + 3 })
    expect(cache.get(eventLog)).toBeUndefined() // nothing is parsed or kept on a lookup
    const parsed = EventLog.parse(eventLog)
    cache.set(eventLog, parsed)
    expect(cache.get(eventLog)).toBe(parsed)
    expect(cache.get(`${eventLog} `)).toBeUndefined() // another text is another entry
    cache.set(`${eventLog} `, parsed)
    cache.set(`${eventLog}  `, parsed) // over the byte budget: the least recently used goes
    expect([cache.size, cache.get(eventLog)]).toEqual([2, undefined])
    cache.set('x'.repeat(eventLog.length * 3), parsed) // larger than the whole budget: not kept
    expect(cache.size).toBe(2)
  })
})

describe('createNonceStore', () => {
  test('default: issuing keeps nothing; a nonce is single-use, expires, and belongs to its store and purpose', () => {
    let t = 1_000_000
    const secret = new Uint8Array(32).fill(3)
    const store = KeyRelease.createNonceStore({ purpose: 'keys', ttlMs: 60_000, now: () => t, secret })
    const nonces = Array.from({ length: 150_000 }, () => store.issue().nonce)
    expect(store.size()).toBe(0)
    expect(new Set(nonces.map((n) => Buffer.from(n).toString('hex'))).size).toBe(150_000)
    const [a, b] = nonces as [Uint8Array, Uint8Array]
    expect([store.check(a), store.consume(a), store.consume(a), store.check(a), store.size()]).toEqual(['ok', 'ok', 'used', 'used', 1])
    const forged = Uint8Array.from(b)
    forged[31] = (forged[31] ?? 0) ^ 1
    expect(store.check(forged)).toBe('unknown')
    expect(KeyRelease.createNonceStore({ purpose: 'onboard', now: () => t, secret }).check(b)).toBe('unknown')
    expect(KeyRelease.createNonceStore({ purpose: 'keys', now: () => t }).check(b)).toBe('unknown')
    t += 60_000
    expect([store.consume(b), store.size()]).toEqual(['expired', 0])
  })

  test('behavior: the used set is bounded: when full of unexpired nonces a consume is busy and marks nothing', () => {
    const store = KeyRelease.createNonceStore({ maxUsed: 2 })
    const [a, b, c] = [store.issue().nonce, store.issue().nonce, store.issue().nonce]
    expect([store.consume(a), store.consume(b), store.consume(c), store.check(c)]).toEqual(['ok', 'ok', 'busy', 'ok'])
    expect(KeyRelease.nonceRefusal('busy')).toMatchObject({ status: 503, code: 'nonce.busy' })
  })
})

describe('fixedCollateral', () => {
  test('default: verified once and reused; cache: false gives a fresh parse per call (so attest verifies it in full)', async () => {
    const json = DevnetCollateral.issue(pki)
    const cached = KeyRelease.fixedCollateral({ collateral: json, trustedRoots })
    const a = await cached(new Uint8Array(0))
    expect('qeIdentity' in a && 'identity' in a.qeIdentity).toBe(true)
    expect(await cached(new Uint8Array(0))).toBe(a)
    const uncached = KeyRelease.fixedCollateral({ collateral: json, trustedRoots, cache: false })
    const [x, y] = [await uncached(new Uint8Array(0)), await uncached(new Uint8Array(0))]
    expect(x).not.toBe(y)
    expect(Collateral.toJson(x as Collateral.Collateral)).toEqual(Collateral.toJson(y as Collateral.Collateral))
  })
})
