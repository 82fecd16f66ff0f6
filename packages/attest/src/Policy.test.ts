import { readFileSync } from 'node:fs'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { describe, expect, test } from 'vitest'
import * as Policy from './Policy.js'
import * as Quote from './Quote.js'
import type * as TdReport from './TdReport.js'

const vectors = vectorsDir
const fixture = JSON.parse(readFileSync(`${vectors}dstack/verifier-fixtures/quote-report.json`, 'utf8'))
const quote = Quote.parse(new Uint8Array(Buffer.from(String(fixture.quote).replace(/^0x/, ''), 'hex')))
const td = quote.body as TdReport.TdReport
const now = new Date(1772707803_000)
const base: Policy.Input = { report: td, tee: 'tdx', status: 'OutOfDate', advisoryIds: ['INTEL-SA-00960'], now }
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const codes = (options: Policy.Options, input: Partial<Policy.Input> = {}) =>
  Policy.evaluate({ ...base, ...input }, options).reasons.map((r) => r.code)

describe('evaluate', () => {
  test('default: the dstack fixture passes the default policy', () => {
    expect(Policy.evaluate(base).reasons).toEqual([])
  })

  test('behavior: status and advisories', () => {
    expect(Policy.evaluate(base, { minTcbStatus: 'UpToDate', allowedAdvisories: [] }).reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "policy.tcb_status",
          "message": "TCB status OutOfDate is below the minimum UpToDate.",
        },
        {
          "code": "policy.advisory",
          "message": "Advisories not allowed by policy: INTEL-SA-00960.",
        },
      ]
    `)
    expect(codes({ minTcbStatus: 'OutOfDate' })).toEqual([])
    expect(codes({ allowedStatuses: ['UpToDate', 'SWHardeningNeeded'] })).toEqual(['policy.tcb_status'])
    expect(codes({ allowedAdvisories: ['intel-sa-00960'] })).toEqual([])
  })

  test('behavior: TD attributes (debug, SEPT_VE_DISABLE, reserved bits) and MRSERVICETD', () => {
    const attributes = Uint8Array.from([0x03, 0, 0, 0, 0, 0, 0, 0])
    const report = { ...td, tdAttributes: attributes } as TdReport.TdReport
    expect(Policy.evaluate({ ...base, report }).reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "policy.debug",
          "message": "The TD is a debug TD (TDATTRIBUTES.DEBUG is set).",
        },
        {
          "code": "policy.sept_ve_disable",
          "message": "TD attribute SEPT_VE_DISABLE (bit 28) is not set.",
        },
        {
          "code": "policy.td_attributes_reserved",
          "message": "Reserved TD attribute bits are set (0200000000000000).",
        },
      ]
    `)
    expect(codes({ allowDebug: true, requireSeptVeDisable: false, rejectReservedTdAttributes: false }, { report })).toEqual([])
    const td15 = { ...td, type: 'td15', teeTcbSvn2: new Uint8Array(16), mrServiceTd: new Uint8Array(48).fill(7) } as TdReport.TdReport
    expect(codes({}, { report: td15 })).toEqual(['policy.mr_service_td'])
    expect(codes({ requireZeroMrServiceTd: false }, { report: td15 })).toEqual([])
  })

  test('behavior: approved measurements from the replayed event log (compose hash, OS image)', () => {
    const result = Policy.evaluate(base, { eventLog: fixture.event_log })
    expect(result.reasons).toEqual([])
    const composeHash = hex(result.app?.composeHash as Uint8Array)
    expect(codes({ eventLog: fixture.event_log, approvedMeasurements: [{ composeHash, mrTd: hex(td.mrTd) }] })).toEqual([])
    expect(codes({ eventLog: fixture.event_log, approvedMeasurements: [{ composeHash: `0x${'00'.repeat(32)}` }] })).toEqual([
      'policy.measurement',
    ])
    // Without the event log a compose hash cannot be approved.
    expect(codes({ approvedMeasurements: [{ composeHash }] })).toEqual(['policy.measurement'])
  })

  test('behavior: an event log that does not replay to the quoted RTMRs is a reason', () => {
    const log = JSON.parse(fixture.event_log)
    const last = log.findLast((e: { imr: number }) => e.imr === 3)
    last.event_payload = '00'
    last.digest = ''
    expect(codes({ eventLog: JSON.stringify(log) })).toEqual(['policy.event_log'])
  })

  test('behavior: report data (exact and binding function), nonce and age', () => {
    expect(codes({ expectedReportData: td.reportData })).toEqual([])
    expect(codes({ expectedReportData: new Uint8Array(64) })).toEqual(['policy.report_data'])
    expect(Policy.evaluate(base, { expectedReportData: () => 'wrong signer' }).reasons).toEqual([
      { code: 'policy.report_data', message: 'wrong signer' },
    ])
    expect(codes({ freshness: { nonce: td.reportData.subarray(8, 24), nonceOffset: 8 } })).toEqual([])
    expect(codes({ freshness: { nonce: new Uint8Array(16).fill(9) } })).toEqual(['policy.nonce'])
    expect(codes({ freshness: { issuedAt: new Date(now.getTime() - 120_000), maxAgeSeconds: 60 } })).toEqual(['policy.stale'])
    expect(codes({ freshness: { maxAgeSeconds: 60 } })).toEqual(['policy.stale'])
  })

  test('behavior: malformed options throw InvalidPolicyError', () => {
    expect(() => Policy.evaluate(base, { approvedMeasurements: [{ mrTd: 'xyz' }] })).toThrowErrorMatchingInlineSnapshot(
      `[Policy.InvalidPolicyError: Invalid policy: approvedMeasurements "xyz" is not hex.]`,
    )
  })
})
