import { sha256 } from '@noble/hashes/sha2'
import { describe, expect, test } from 'vitest'
import * as ReportData from './ReportData.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('from / fromHash', () => {
  test('default: right-pads with zeros to 64 bytes (dstack GetQuote pad64)', () => {
    expect(hex(ReportData.from(Uint8Array.of(0x12, 0x34)))).toBe(`1234${'00'.repeat(62)}`)
    const h = sha256(new TextEncoder().encode('x'))
    expect(hex(ReportData.fromHash(h))).toBe(hex(h) + '00'.repeat(32))
  })
  test('behavior: too long / wrong hash size', () => {
    expect(() => ReportData.from(new Uint8Array(65))).toThrowErrorMatchingInlineSnapshot(
      `[ReportData.SizeError: Report data is too long: 65 bytes (at most 64).]`,
    )
    expect(() => ReportData.fromHash(new Uint8Array(31))).toThrowErrorMatchingInlineSnapshot(
      `[ReportData.SizeError: Report data input must be 32 bytes, got 31.]`,
    )
  })
})

describe('fromTappd', () => {
  test('default: SHA-512("app-data:test content") (dstack.md §8 vector 9)', () => {
    expect(hex(ReportData.fromTappd({ content: new TextEncoder().encode('test content') }))).toBe(
      '7ea0b744ed5e9c0c83ff9f575668e1697652cd349f2027cdf26f918d4c53e8cd50b5ea9b449b4c3d50e20ae00ec29688d5a214e8daff8a10041f5d624dae8a01',
    )
  })
  test('behavior: 32-byte hashes are zero-padded; prefix replaces app-data; raw needs 64 bytes', () => {
    const content = new TextEncoder().encode('c')
    const padded = ReportData.fromTappd({ content, hashAlgorithm: 'sha256', prefix: 'p' })
    expect(hex(padded)).toBe(hex(sha256(new TextEncoder().encode('p:c'))) + '00'.repeat(32))
    expect(ReportData.fromTappd({ content: new Uint8Array(64).fill(7), hashAlgorithm: 'raw' })).toEqual(new Uint8Array(64).fill(7))
    expect(() => ReportData.fromTappd({ content, hashAlgorithm: 'raw' })).toThrowErrorMatchingInlineSnapshot(
      `[ReportData.SizeError: Report data input must be 64 bytes, got 1.]`,
    )
    expect(ReportData.validate(padded)).toBe(true)
    expect(ReportData.validate(content)).toBe(false)
  })
})
