import { describe, expect, test } from 'vitest'
import { count, eth, leaves } from './format.js'

describe('format', () => {
  test('default: ETH amounts for humans, exact to the wei', () => {
    expect(eth(10n ** 18n)).toBe('1 ETH')
    expect(eth(15n * 10n ** 17n)).toBe('1.5 ETH')
    expect(eth(0n)).toBe('0 ETH')
    expect(eth(1n)).toBe('0.000000000000000001 ETH')
    expect(eth(1234n * 10n ** 18n)).toBe('1234 ETH')
  })

  test('behavior: one wording for counted nouns (1 leaf, 2 leaves, never "1 leaves")', () => {
    expect([leaves(0), leaves(1), leaves(2), leaves(8)]).toEqual(['0 leaves', '1 leaf', '2 leaves', '8 leaves'])
    expect(count(1, 'CVM', 'CVMs')).toBe('1 CVM')
  })
})
