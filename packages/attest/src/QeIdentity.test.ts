import { readFileSync } from 'node:fs'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { describe, expect, test } from 'vitest'
import * as QeIdentity from './QeIdentity.js'

const vectors = vectorsDir
const tdQe = QeIdentity.parse(JSON.parse(readFileSync(`${vectors}dcap-qvl/sample/tdx_quote_collateral.json`, 'utf8')).qe_identity)
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const report = {
  miscselect: 0,
  attributes: hex('11000000000000000000000000000000'),
  mrsigner: hex('DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5'),
  isvprodid: 2,
  isvsvn: 4,
}

describe('parse', () => {
  test('default: TD_QE identity', () => {
    expect([tdQe.id, tdQe.version, tdQe.isvprodid, tdQe.miscselectMask, tdQe.tcbLevels[0]?.isvsvn, tdQe.tcbLevels[0]?.tcbStatus]).toEqual([
      'TD_QE',
      2,
      2,
      0xffffffff,
      4,
      'UpToDate',
    ])
  })
})

describe('match', () => {
  test('default: the Intel TD QE at ISVSVN 4 is UpToDate', () => {
    expect(QeIdentity.match(tdQe, report).status).toBe('UpToDate')
  })

  test('behavior: a lower ISVSVN selects a lower level; below every level fails', () => {
    const lowest = Math.min(...tdQe.tcbLevels.map((l) => l.isvsvn))
    expect(QeIdentity.match(tdQe, { ...report, isvsvn: 100 }).status).toBe('UpToDate')
    expect(() => QeIdentity.match(tdQe, { ...report, isvsvn: lowest - 1 })).toThrowError(
      `No QE identity TCB level for ISVSVN ${lowest - 1}.`,
    )
  })

  test('behavior: each mismatched field is named', () => {
    expect(() => QeIdentity.match(tdQe, { ...report, isvprodid: 1 })).toThrowError(
      'QE report isvprodid does not match the QE identity: expected 2, got 1.',
    )
    expect(() => QeIdentity.match(tdQe, { ...report, mrsigner: new Uint8Array(32) })).toThrowError(
      `QE report mrsigner does not match the QE identity: expected DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5, got ${'00'.repeat(32)}.`,
    )
    expect(() => QeIdentity.match(tdQe, { ...report, miscselect: 1 })).toThrowError(
      'QE report miscselect does not match the QE identity: expected 00000000, got 00000001.',
    )
    // Bit 2 of byte 0 is masked out (mask FBFF…): ignored. Bit 0 (INIT) is not.
    expect(QeIdentity.match(tdQe, { ...report, attributes: hex('15000000000000000000000000000000') }).status).toBe('UpToDate')
    expect(() => QeIdentity.match(tdQe, { ...report, attributes: hex('10000000000000000000000000000000') })).toThrowError(
      'QE report attributes does not match the QE identity: expected 11000000000000000000000000000000, got 10000000000000000000000000000000.',
    )
  })
})
