import { readFileSync } from 'node:fs'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { describe, expect, test } from 'vitest'
import * as Collateral from './Collateral.js'
import type * as QeIdentity from './QeIdentity.js'
import * as TcbLevel from './TcbLevel.js'

const vectors = vectorsDir
// Automata 2025-10 TDX TCB info (FMSPC 00806F050000): the top level is tdxtcbcomponents 05 00 07 …, module TDX_01.
const tcbInfo = Collateral.parse(
  readFileSync(`${vectors}_composed/automata-evm1025-tdx-00806f050000-2025-10_collateral.json`, 'utf8'),
).tcbInfo
const top = tcbInfo.tcbLevels[0] as (typeof tcbInfo.tcbLevels)[number]
const pck = {
  fmspc: tcbInfo.fmspc,
  pceId: tcbInfo.pceId,
  tcb: { components: top.sgxComponents.map((c) => c.svn), pcesvn: top.pcesvn, cpusvn: new Uint8Array(16) },
}
const identity = tcbInfo.tdxModuleIdentities?.find((m) => m.id === 'TDX_01')
const tdx = (svn: number[]) => {
  const teeTcbSvn = new Uint8Array(16)
  teeTcbSvn.set(svn)
  return { teeTcbSvn, mrSignerSeam: Buffer.from(identity?.mrsigner ?? '', 'hex'), seamAttributes: new Uint8Array(8) }
}
const qeUpToDate: QeIdentity.MatchResult = { status: 'UpToDate', advisoryIds: [], tcbDate: new Date(0) }
const topTdx = top.tdxComponents?.map((c) => c.svn) ?? []

describe('converge', () => {
  test('default: the documented table', () => {
    expect(TcbLevel.converge(['UpToDate', 'UpToDate'])).toBe('UpToDate')
    expect(TcbLevel.converge(['SWHardeningNeeded', 'OutOfDate'])).toBe('OutOfDate')
    expect(TcbLevel.converge(['UpToDate', 'OutOfDate'])).toBe('OutOfDate')
    expect(TcbLevel.converge(['ConfigurationNeeded', 'OutOfDate'])).toBe('OutOfDateConfigurationNeeded')
    expect(TcbLevel.converge(['ConfigurationAndSWHardeningNeeded', 'OutOfDate'])).toBe('OutOfDateConfigurationNeeded')
    expect(TcbLevel.converge(['ConfigurationNeeded', 'SWHardeningNeeded'])).toBe('ConfigurationAndSWHardeningNeeded')
    expect(TcbLevel.converge(['ConfigurationNeeded', 'UpToDate'])).toBe('ConfigurationNeeded')
    expect(TcbLevel.converge(['UpToDate', 'Revoked', 'OutOfDate'])).toBe('Revoked')
  })
})

describe('select', () => {
  test("behavior: Intel's rule skips TEE_TCB_SVN[0..1] when [1] > 0; dcap-qvl's does not", () => {
    const svn = [topTdx[0] as number, ...topTdx.slice(1)]
    svn[0] = (topTdx[0] as number) - 1
    svn[1] = 1
    const intel = TcbLevel.select({ tcbInfo, pck, teeTcbSvn: tdx(svn).teeTcbSvn })
    const qvl = TcbLevel.select({ tcbInfo, pck, teeTcbSvn: tdx(svn).teeTcbSvn, rule: 'dcap-qvl' })
    expect(intel.index).toBe(0)
    expect(qvl.index).toBeGreaterThan(0)
  })

  test('behavior: no level → NotFoundError naming the component', () => {
    const low = { ...pck, tcb: { ...pck.tcb, pcesvn: 0 } }
    expect(() => TcbLevel.select({ tcbInfo, pck: low, teeTcbSvn: tdx(topTdx).teeTcbSvn })).toThrowErrorMatchingInlineSnapshot(
      `[TcbLevel.NotFoundError: TCB level not found: PCESVN (PCK) is 0, below 5 in the lowest of 4 TCB levels.]`,
    )
  })
})

describe('evaluate', () => {
  test('default: top level, module TDX_01 and QE converge', () => {
    const result = TcbLevel.evaluate({ tcbInfo, pck, tdx: tdx([9, 1, ...topTdx.slice(2)]), qe: qeUpToDate })
    expect([result.status, result.platform.index, result.module?.id]).toEqual(['UpToDate', 0, 'TDX_01'])
  })

  test('behavior: QE OutOfDate lowers the final status and adds its advisories', () => {
    const qe: QeIdentity.MatchResult = { status: 'OutOfDate', advisoryIds: ['INTEL-SA-TEST'], tcbDate: new Date(0) }
    const result = TcbLevel.evaluate({ tcbInfo, pck, tdx: tdx([9, 1, ...topTdx.slice(2)]), qe })
    expect([result.status, result.advisoryIds]).toEqual(['OutOfDate', ['INTEL-SA-TEST']])
  })

  test('behavior: identifier and module errors', () => {
    const run = (o: Partial<Parameters<typeof TcbLevel.evaluate>[0]>) => () =>
      TcbLevel.evaluate({ tcbInfo, pck, tdx: tdx([9, 1, ...topTdx.slice(2)]), qe: qeUpToDate, ...o })
    expect(run({ pck: { ...pck, fmspc: '00906ED50000' } })).toThrowErrorMatchingInlineSnapshot(
      `[TcbLevel.FmspcMismatchError: PCK certificate FMSPC 00906ED50000 does not match TCB info FMSPC 00806F050000.]`,
    )
    expect(run({ pck: { ...pck, pceId: '0001' } })).toThrowErrorMatchingInlineSnapshot(
      `[TcbLevel.PceIdMismatchError: PCK certificate PCE-ID 0001 does not match TCB info PCE-ID 0000.]`,
    )
    expect(run({ tdx: undefined })).toThrowErrorMatchingInlineSnapshot(
      `[TcbLevel.TeeMismatchError: TCB info id "TDX" version 3 does not match an SGX quote.]`,
    )
    expect(run({ tdx: tdx([9, 0x7f, ...topTdx.slice(2)]) })).toThrowErrorMatchingInlineSnapshot(
      `[TcbLevel.ModuleIdentityNotFoundError: TDX module identity TDX_7F not found in the TCB info.]`,
    )
    expect(
      run({ tdx: { ...tdx([9, 1, ...topTdx.slice(2)]), mrSignerSeam: new Uint8Array(48).fill(1) } }),
    ).toThrowErrorMatchingInlineSnapshot(
      `[TcbLevel.ModuleMismatchError: TDX module MRSIGNERSEAM does not match TDX_01: expected 000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000, got 010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101.]`,
    )
    expect(run({ tdx: tdx([0, 1, ...topTdx.slice(2)]) })).toThrowErrorMatchingInlineSnapshot(
      `[TcbLevel.ModuleLevelNotFoundError: TDX module TCB level not found: TDX_01 has no level with isvsvn ≤ 0 (TEE_TCB_SVN[0]).]`,
    )
  })
})
