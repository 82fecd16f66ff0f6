/**
 * Relying-party policy applied to a cryptographically verified quote (DESIGN.md §4 "Policy"; dcap.md §3 step 14).
 * Intel's QVL stops at the TCB status; what a verifier accepts beyond that — which statuses and advisories, debug
 * TDs, SEPT_VE_DISABLE, MRSERVICETD, which measurements, which REPORTDATA, how fresh — is configuration, never
 * hard-coded (dcap.md §1.6 item 5: @phala/dcap-qvl's baked-in checks make Azure and Alibaba TD 1.5 quotes unusable).
 *
 * Every rule that fails adds one {@link Reason}; all rules are evaluated. TD attribute bits follow the TDX module
 * ABI (dcap.md §2.2): byte 0 bit 0 DEBUG, bits 1–7 reserved (TUD), bits 8–27 reserved, bit 28 SEPT_VE_DISABLE,
 * bit 29 reserved, bit 30 PKS, bit 31 KL, bits 32–62 reserved, bit 63 PERFMON.
 */

/** A rejection reason with a stable code. */
import type { Reason } from '@regent-tee/core'
import * as EnclaveReport from './EnclaveReport.js'
import * as EventLog from './EventLog.js'
import { BaseError } from './errors.js'
import * as TcbInfo from './TcbInfo.js'
import * as TdReport from './TdReport.js'

export type { Reason }

/** Hex (with or without `0x`) or bytes. */
export type BytesLike = string | Uint8Array

/** One approved measurement set: every field given must match (fields not given are not compared). */
export type ApprovedMeasurement = {
  readonly mrTd?: BytesLike
  readonly rtmr0?: BytesLike
  readonly rtmr1?: BytesLike
  readonly rtmr2?: BytesLike
  readonly rtmr3?: BytesLike
  /** dstack compose hash (RTMR3 event `compose-hash`; needs `eventLog`). */
  readonly composeHash?: BytesLike
  /** dstack OS image hash (RTMR3 event `os-image-hash`; needs `eventLog`). */
  readonly osImageHash?: BytesLike
  /** dstack app id (RTMR3 event `app-id`; needs `eventLog`). */
  readonly appId?: BytesLike
  /** SGX. */
  readonly mrEnclave?: BytesLike
  readonly mrSigner?: BytesLike
}

/** What an approval callback sees: the quote's measurements (lowercase hex) and, with an event log, the app info. */
export type MeasurementQuery = {
  readonly tee: 'tdx' | 'sgx'
  readonly mrTd?: string
  readonly rtmrs?: readonly [string, string, string, string]
  readonly mrEnclave?: string
  readonly mrSigner?: string
  readonly composeHash?: string
  readonly osImageHash?: string
  readonly appId?: string
}

/** An approval callback: `true` approves, `false` or a string (the reason) rejects. */
export type ApprovalCallback = (query: MeasurementQuery) => boolean | string | Promise<boolean | string>

export type Options = {
  /** Lowest acceptable status in the order UpToDate > SWHardeningNeeded > ConfigurationNeeded > ConfigurationAndSWHardeningNeeded > OutOfDate > OutOfDateConfigurationNeeded. Default: any status except Revoked (Revoked is always a cryptographic rejection). */
  readonly minTcbStatus?: TcbInfo.Status
  /** Explicit list of acceptable statuses (checked in addition to `minTcbStatus`). */
  readonly allowedStatuses?: readonly TcbInfo.Status[]
  /** Advisory IDs that may be present; any other ID is a reason. Default: any advisory is allowed. */
  readonly allowedAdvisories?: readonly string[]
  /** Accept debug TDs / enclaves. Default false. */
  readonly allowDebug?: boolean
  /** Require TD attribute SEPT_VE_DISABLE (bit 28). Default true. */
  readonly requireSeptVeDisable?: boolean
  /** Reject reserved TD attribute bits. Default true. */
  readonly rejectReservedTdAttributes?: boolean
  /** Require MRSERVICETD (TD 1.5) to be all zero. Default true. */
  readonly requireZeroMrServiceTd?: boolean
  /** Approved measurement sets (any one must match), or a callback (e.g. filled from RegentAppAuth on-chain). */
  readonly approvedMeasurements?: readonly ApprovedMeasurement[] | ApprovalCallback
  /** The exact 64-byte REPORTDATA, or a binding function (`true` accepts, `false`/string rejects). */
  readonly expectedReportData?: BytesLike | ((reportData: Uint8Array) => boolean | string)
  readonly freshness?: {
    /** The verifier's nonce; must appear in REPORTDATA at `nonceOffset`. */
    readonly nonce?: BytesLike
    /** Default 0 (dstack's `pad64` puts user data first). */
    readonly nonceOffset?: number
    /** When the quote was produced, as the caller knows it (e.g. from a signed envelope). */
    readonly issuedAt?: Date
    /** Maximum age of `issuedAt` at `now`. */
    readonly maxAgeSeconds?: number
  }
  /** A dstack event log (GetQuote `event_log` JSON or parsed) replayed against the quote's RTMRs; app info goes into the verdict. */
  readonly eventLog?: string | EventLog.EventLog
}

/** A policy whose callbacks are synchronous (for {@link Verify.verifyQuoteSync}). */
export type SyncOptions = Omit<Options, 'approvedMeasurements'> & {
  readonly approvedMeasurements?: readonly ApprovedMeasurement[] | ((query: MeasurementQuery) => boolean | string)
}

/** Statuses from best to worst (Revoked excluded). */
export const statusOrder: readonly TcbInfo.Status[] = TcbInfo.statuses.filter((s) => s !== 'Revoked')

/** The verified facts a policy is evaluated on. */
export type Input = {
  readonly report: TdReport.TdReport | EnclaveReport.EnclaveReport
  readonly tee: 'tdx' | 'sgx'
  readonly status: TcbInfo.Status | undefined
  readonly advisoryIds: readonly string[]
  readonly now: Date
}

export type Result = {
  readonly reasons: Reason[]
  /** App info from the event log, when one was given and replayed. */
  readonly app: EventLog.AppInfo | undefined
  /** The measurement query for an approval callback (set when `approvedMeasurements` is a callback). */
  readonly query: MeasurementQuery | undefined
}

const reservedTdAttributes = Uint8Array.from([0xfe, 0xff, 0xff, 0x2f, 0xff, 0xff, 0xff, 0x7f])

/**
 * Evaluates every synchronous rule of the policy. An approval callback is not called here: its query is returned
 * in `query` for {@link approve}.
 *
 * @throws {InvalidPolicyError} when an option is malformed (e.g. a non-hex measurement).
 * @example
 * const { reasons } = Policy.evaluate({ report: quote.body, tee: 'tdx', status, advisoryIds, now }, { minTcbStatus: 'UpToDate' })
 */
export function evaluate(input: Input, options: Options = {}): Result {
  const reasons: Reason[] = []
  const add = (code: string, message: string) => reasons.push({ code, message })
  const { report, tee, status } = input
  const td = tee === 'tdx' ? (report as TdReport.TdReport) : undefined
  const enclave = tee === 'sgx' ? (report as EnclaveReport.EnclaveReport) : undefined

  // TCB status and advisories.
  if (status !== undefined && status !== 'Revoked') {
    if (options.minTcbStatus !== undefined) {
      const min = statusOrder.indexOf(options.minTcbStatus)
      if (min < 0) throw new InvalidPolicyError({ option: 'minTcbStatus', reason: `"${options.minTcbStatus}" is not an orderable status` })
      if (statusOrder.indexOf(status) > min) add('policy.tcb_status', `TCB status ${status} is below the minimum ${options.minTcbStatus}.`)
    }
    if (options.allowedStatuses && !options.allowedStatuses.includes(status))
      add('policy.tcb_status', `TCB status ${status} is not one of the allowed statuses (${options.allowedStatuses.join(', ')}).`)
  }
  if (options.allowedAdvisories) {
    const allowed = new Set(options.allowedAdvisories.map((a) => a.toUpperCase()))
    const extra = input.advisoryIds.filter((a) => !allowed.has(a.toUpperCase()))
    if (extra.length > 0) add('policy.advisory', `Advisories not allowed by policy: ${extra.join(', ')}.`)
  }

  // Debug and TD attributes.
  if (!options.allowDebug) {
    if (td && TdReport.isDebug(td)) add('policy.debug', 'The TD is a debug TD (TDATTRIBUTES.DEBUG is set).')
    if (enclave && EnclaveReport.isDebug(enclave)) add('policy.debug', 'The enclave is a debug enclave (ATTRIBUTES.DEBUG is set).')
  }
  if (td) {
    if ((options.requireSeptVeDisable ?? true) && !TdReport.isSeptVeDisabled(td))
      add('policy.sept_ve_disable', 'TD attribute SEPT_VE_DISABLE (bit 28) is not set.')
    if (options.rejectReservedTdAttributes ?? true) {
      const bits = td.tdAttributes.map((b, i) => b & (reservedTdAttributes[i] as number))
      if (bits.some((b) => b !== 0)) add('policy.td_attributes_reserved', `Reserved TD attribute bits are set (${hex(bits)}).`)
    }
    if ((options.requireZeroMrServiceTd ?? true) && td.type === 'td15' && td.mrServiceTd.some((b) => b !== 0))
      add('policy.mr_service_td', `MRSERVICETD is not zero (${hex(td.mrServiceTd)}).`)
  }

  // Event log replay (before measurements: it supplies the compose hash / OS image).
  let app: EventLog.AppInfo | undefined
  if (options.eventLog !== undefined) {
    if (!td) add('policy.event_log', 'An event log was given for an SGX quote.')
    else {
      try {
        const log = typeof options.eventLog === 'string' ? EventLog.parse(options.eventLog) : options.eventLog
        EventLog.assert(log, { rtmrs: TdReport.rtmrs(td) })
        app = EventLog.appInfo(log)
      } catch (error) {
        if (!(error instanceof BaseError)) throw error
        add('policy.event_log', error.shortMessage)
      }
    }
  }

  // Approved measurements (list form; the callback form is run by `approve`).
  const query = measurementQuery(input, app)
  if (Array.isArray(options.approvedMeasurements)) {
    const list = options.approvedMeasurements as readonly ApprovedMeasurement[]
    if (!list.some((m) => matches(m, query)))
      add('policy.measurement', `No approved measurement matches (${list.length} approved set${list.length === 1 ? '' : 's'}).`)
  }

  // REPORTDATA binding and freshness.
  const reportData = report.reportData
  const expected = options.expectedReportData
  if (expected !== undefined) {
    if (typeof expected === 'function') {
      const verdict = expected(reportData)
      if (verdict !== true)
        add('policy.report_data', typeof verdict === 'string' ? verdict : 'REPORTDATA is rejected by the binding function.')
    } else if (hex(bytes(expected, 'expectedReportData')) !== hex(reportData))
      add('policy.report_data', `REPORTDATA ${hex(reportData)} is not the expected value.`)
  }
  const freshness = options.freshness
  if (freshness?.nonce !== undefined) {
    const nonce = bytes(freshness.nonce, 'freshness.nonce')
    const offset = freshness.nonceOffset ?? 0
    if (offset < 0 || offset + nonce.length > 64)
      throw new InvalidPolicyError({ option: 'freshness.nonce', reason: `does not fit REPORTDATA at offset ${offset}` })
    if (hex(reportData.subarray(offset, offset + nonce.length)) !== hex(nonce))
      add('policy.nonce', `REPORTDATA does not contain the verifier's nonce at offset ${offset}.`)
  }
  if (freshness?.maxAgeSeconds !== undefined) {
    if (!freshness.issuedAt) add('policy.stale', 'freshness.maxAgeSeconds is set but the quote time (freshness.issuedAt) is unknown.')
    else {
      const age = (input.now.getTime() - freshness.issuedAt.getTime()) / 1000
      if (age > freshness.maxAgeSeconds)
        add('policy.stale', `The quote is ${Math.floor(age)} s old, older than ${freshness.maxAgeSeconds} s.`)
      if (age < -60) add('policy.stale', `The quote time ${freshness.issuedAt.toISOString()} is in the future.`)
    }
  }
  return { reasons, app, query: typeof options.approvedMeasurements === 'function' ? query : undefined }
}

/**
 * Runs an approval callback and turns its answer into reasons (a throwing callback is a reason, not a crash).
 *
 * @example
 * const reasons = await Policy.approve(callback, query)
 */
export async function approve(callback: ApprovalCallback, query: MeasurementQuery): Promise<Reason[]> {
  try {
    return reasonsOf(await callback(query))
  } catch (error) {
    return [{ code: 'policy.measurement', message: `Measurement approval failed: ${(error as Error)?.message ?? String(error)}` }]
  }
}

/** Synchronous {@link approve}: a callback that returns a Promise is a reason (use Verify.verifyQuote). */
export function approveSync(callback: (query: MeasurementQuery) => unknown, query: MeasurementQuery): Reason[] {
  try {
    const answer = callback(query)
    if (typeof answer === 'object' && answer !== null && 'then' in answer)
      return [{ code: 'policy.measurement', message: 'The approval callback is asynchronous: use verifyQuote, not verifyQuoteSync.' }]
    return reasonsOf(answer as boolean | string)
  } catch (error) {
    return [{ code: 'policy.measurement', message: `Measurement approval failed: ${(error as Error)?.message ?? String(error)}` }]
  }
}

function reasonsOf(answer: boolean | string): Reason[] {
  if (answer === true) return []
  return [{ code: 'policy.measurement', message: typeof answer === 'string' ? answer : 'The measurement is not approved.' }]
}

function measurementQuery(input: Input, app: EventLog.AppInfo | undefined): MeasurementQuery {
  const fromApp = {
    ...(app?.composeHash ? { composeHash: hex(app.composeHash) } : {}),
    ...(app?.osImageHash ? { osImageHash: hex(app.osImageHash) } : {}),
    ...(app?.appId ? { appId: hex(app.appId) } : {}),
  }
  if (input.tee === 'sgx') {
    const e = input.report as EnclaveReport.EnclaveReport
    return { tee: 'sgx', mrEnclave: hex(e.mrEnclave), mrSigner: hex(e.mrSigner), ...fromApp }
  }
  const td = input.report as TdReport.TdReport
  const [r0, r1, r2, r3] = TdReport.rtmrs(td).map(hex) as [string, string, string, string]
  return { tee: 'tdx', mrTd: hex(td.mrTd), rtmrs: [r0, r1, r2, r3], ...fromApp }
}

function matches(m: ApprovedMeasurement, q: MeasurementQuery): boolean {
  const pairs: [BytesLike | undefined, string | undefined][] = [
    [m.mrTd, q.mrTd],
    [m.rtmr0, q.rtmrs?.[0]],
    [m.rtmr1, q.rtmrs?.[1]],
    [m.rtmr2, q.rtmrs?.[2]],
    [m.rtmr3, q.rtmrs?.[3]],
    [m.composeHash, q.composeHash],
    [m.osImageHash, q.osImageHash],
    [m.appId, q.appId],
    [m.mrEnclave, q.mrEnclave],
    [m.mrSigner, q.mrSigner],
  ]
  if (pairs.every(([want]) => want === undefined)) return false
  return pairs.every(([want, have]) => want === undefined || (have !== undefined && hex(bytes(want, 'approvedMeasurements')) === have))
}

function bytes(value: BytesLike, option: string): Uint8Array {
  if (typeof value !== 'string') return value
  const clean = value.startsWith('0x') || value.startsWith('0X') ? value.slice(2) : value
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new InvalidPolicyError({ option, reason: `"${value}" is not hex` })
  return new Uint8Array(Buffer.from(clean, 'hex'))
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')
}

/** A policy option is malformed. */
export class InvalidPolicyError extends BaseError {
  override name = 'Policy.InvalidPolicyError'
  constructor({ option, reason }: { option: string; reason: string }) {
    super(`Invalid policy: ${option} ${reason}.`)
  }
}
