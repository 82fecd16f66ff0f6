import { describe, expect, test } from 'vitest'
import * as Der from './Der.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('integer', () => {
  test('default: minimal two’s complement for numbers and bigints', () => {
    expect([0, 1, 127, 128, 255, 256, -1, -128, -129, 65535].map((n) => hex(Der.integer(n)))).toEqual([
      '020100',
      '020101',
      '02017f',
      '02020080',
      '020200ff',
      '02020100',
      '0201ff',
      '020180',
      '0202ff7f',
      '020300ffff',
    ])
    expect(hex(Der.integer(2n ** 64n))).toBe('0209010000000000000000')
  })

  test('behavior: bytes are an unsigned magnitude (leading zeros dropped, 00 added before a set top bit)', () => {
    expect(hex(Der.integer(Uint8Array.from([0, 0, 0x12])))).toBe('020112')
    expect(hex(Der.integer(Uint8Array.from([0x95, 0x6f])))).toBe('020300956f')
    expect(hex(Der.integer(Uint8Array.from([0, 0])))).toBe('020100')
  })
})

describe('oid', () => {
  test('default: encodes arcs base-128 (the Intel SGX extension OIDs as in real PCK certificates)', () => {
    expect(hex(Der.oid('1.2.840.113741.1.13.1.1'))).toBe('060a2a864886f84d010d0101')
    expect(hex(Der.oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302')
    expect(hex(Der.oid('2.5.29.19'))).toBe('0603551d13')
  })

  test('behavior: rejects malformed OIDs', () => {
    expect(() => Der.oid('1.x')).toThrowError('OID "1.x" has a non-numeric arc')
    expect(() => Der.oid('1.40')).toThrowError('OID "1.40" is not a valid object identifier')
  })
})

describe('lengths and strings', () => {
  test('default: short and long definite lengths', () => {
    expect(hex(Der.octetString(new Uint8Array(127))).slice(0, 4)).toBe('047f')
    expect(hex(Der.octetString(new Uint8Array(128))).slice(0, 6)).toBe('048180')
    expect(hex(Der.octetString(new Uint8Array(300))).slice(0, 8)).toBe('0482012c')
  })

  test('behavior: string types, boolean, enumerated, null', () => {
    expect(hex(Der.utf8String('CA'))).toBe('0c024341')
    expect(hex(Der.printableString('US'))).toBe('13025553')
    expect(() => Der.printableString('a*b')).toThrowError('"a*b" is not a PrintableString')
    expect(hex(Der.boolean(true))).toBe('0101ff')
    expect(hex(Der.boolean(false))).toBe('010100')
    expect(hex(Der.enumerated(1))).toBe('0a0101')
    expect(hex(Der.nil())).toBe('0500')
  })
})

describe('bit strings', () => {
  test('default: keyUsage named bits are DER-minimal (as in Intel certificates)', () => {
    expect(hex(Der.namedBits([0, 1]))).toBe('030206c0') // digitalSignature, nonRepudiation
    expect(hex(Der.namedBits([5, 6]))).toBe('03020106') // keyCertSign, cRLSign
    expect(hex(Der.bitString(Uint8Array.from([0xab])))).toBe('030200ab')
  })
})

describe('time', () => {
  test('default: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', () => {
    expect(Buffer.from(Der.time(new Date('2049-12-31T23:59:59.999Z')).subarray(2)).toString()).toBe('491231235959Z')
    expect(hex(Der.time(new Date('2049-12-31T23:59:59Z')).subarray(0, 1))).toBe('17')
    expect(Buffer.from(Der.time(new Date('2050-01-01T00:00:00Z')).subarray(2)).toString()).toBe('20500101000000Z')
    expect(hex(Der.time(new Date('2050-01-01T00:00:00Z')).subarray(0, 1))).toBe('18')
    expect(() => Der.utcTime(new Date('2050-01-01T00:00:00Z'))).toThrowError('UTCTime cannot encode year 2050')
  })
})

describe('constructed and tagged', () => {
  test('default: SET OF is sorted by encoding, SEQUENCE keeps order', () => {
    expect(hex(Der.set(Der.integer(2), Der.integer(1)))).toBe('3106020101020102')
    expect(hex(Der.sequence(Der.integer(2), Der.integer(1)))).toBe('3006020102020101')
  })

  test('behavior: explicit wraps, implicit replaces the identifier and keeps the constructed bit', () => {
    expect(hex(Der.explicit(0, Der.integer(2)))).toBe('a003020102')
    expect(hex(Der.implicit(0, Der.octetString(Uint8Array.of(1, 2))))).toBe('80020102')
    expect(hex(Der.implicit(0, Der.sequence(Der.nil())))).toBe('a0020500')
    expect(() => Der.explicit(31, Der.nil())).toThrowError('context tag [31] is out of range')
  })
})
