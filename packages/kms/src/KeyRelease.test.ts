import { Collateral, EventLog } from '@regent-tee/attest'
import { createCvm, createLocalKeyProvider, DevnetCollateral, DevnetPki, DevnetQe } from '@regent-tee/devnet'
import { describe, expect, test } from 'vitest'
import * as KeyRelease from './KeyRelease.js'

const pki = DevnetPki.create()
const trustedRoots = [DevnetPki.trustedRoot(pki)]

describe('createLru', () => {
  test('default: keeps the most recently used entries and hands every evicted value to onEvict', () => {
    const evicted: Uint8Array[] = []
    const lru = KeyRelease.createLru<string, Uint8Array>({ max: 2, onEvict: (v) => evicted.push(v) })
    const [a, b, c] = [new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])]
    lru.set('a', a)
    lru.set('b', b)
    expect(lru.get('a')).toBe(a) // a is now the most recent
    lru.set('c', c)
    expect([lru.has('a'), lru.has('b'), lru.has('c'), lru.size]).toEqual([true, false, true, 2])
    expect(evicted).toEqual([b])
    expect(lru.get('b')).toBeUndefined()
  })
})

describe('createEventLogCache', () => {
  test('default: one parse per exact text, equal to a fresh parse; unparsable text is undefined', async () => {
    const compose = new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'x' }))
    const cvm = await createCvm({ compose, qe: DevnetQe.create({ pki }), keyProvider: createLocalKeyProvider({ pki }) })
    const { eventLog } = cvm.quote({ reportData: new Uint8Array(64) })
    const cache = KeyRelease.createEventLogCache({ max: 4 })
    const first = cache.get(eventLog)
    expect(first).toEqual(EventLog.parse(eventLog))
    expect(cache.get(eventLog)).toBe(first)
    expect(cache.get('not json')).toBeUndefined()
    expect(cache.get(`${eventLog} `)).not.toBe(first) // another text is another entry
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
