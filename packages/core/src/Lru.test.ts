import { describe, expect, test } from 'vitest'
import { Lru } from './Lru.js'

describe('Lru', () => {
  test('default: evicts the least recently used entry; a get refreshes it', () => {
    const evicted: string[] = []
    const lru = new Lru<string, number>(2, { onEvict: (_v, k) => evicted.push(k) })
    lru.set('a', 1)
    lru.set('b', 2)
    expect(lru.get('a')).toBe(1)
    lru.set('c', 3)
    expect([lru.has('a'), lru.has('b'), lru.has('c'), lru.size]).toEqual([true, false, true, 2])
    expect(evicted).toEqual(['b'])
  })

  test('behavior: replaced, deleted and cleared values are handed to onEvict (to wipe them)', () => {
    const wiped: number[] = []
    const lru = new Lru<string, number>(4, { onEvict: (v) => wiped.push(v) })
    lru.set('a', 1)
    lru.set('a', 2)
    lru.set('b', 3)
    lru.delete('b')
    lru.clear()
    expect(wiped).toEqual([1, 3, 2])
    expect(lru.size).toBe(0)
  })

  test('error: a bound below one is refused', () => {
    expect(() => new Lru(0)).toThrow(RangeError)
  })
})

describe('Lru with weights', () => {
  test('behavior: the total weight is bounded; the oldest entries leave first; one over the bound is not kept', () => {
    const lru = new Lru<string, string>(10, { weight: (v) => v.length, maxWeight: 10 })
    lru.set('a', 'xxxx')
    lru.set('b', 'yyyy')
    lru.set('c', 'zzzz')
    expect([lru.has('a'), lru.has('b'), lru.has('c'), lru.weight]).toEqual([false, true, true, 8])
    expect(lru.set('d', 'w'.repeat(11))).toBe(false)
    expect([lru.has('d'), lru.weight]).toEqual([false, 8])
    lru.set('b', 'yy')
    expect(lru.weight).toBe(6)
  })
})
