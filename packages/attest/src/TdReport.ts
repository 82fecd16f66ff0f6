/**
 * TDX TD report bodies of DCAP quotes: TD 1.0 ("TD10", 584 bytes; quote v4 and v5 body type 2) and
 * TD 1.5 ("TD15", 648 bytes = TD10 + TEE_TCB_SVN2 + MRSERVICETD; quote v5 body type 3).
 *
 * Layout: Intel "TDX DCAP Quoting Library API", quote format appendix; Intel QVL
 * `QuoteStructures.h` (`TDReport10`, `TDReport15`); go-tdx-guest `abi/abi.go`. Offsets below are
 * relative to the start of the body (48 in a v4 quote, 54 in a v5 quote).
 */
import { InvalidFieldError, Reader, Writer } from './internal/Bytes.js'

export { InvalidFieldError, TruncatedError } from './internal/Bytes.js'

/** Body sizes in bytes. */
export const size = { td10: 584, td15: 648 } as const

/** A TD 1.0 report body. Byte fields are copies of the input. */
export type TdReport10 = {
  type: 'td10'
  /** TEE_TCB_SVN, 16 bytes @0 ([0] TDX module SVN, [1] module major version). */
  teeTcbSvn: Uint8Array
  /** MRSEAM, 48 bytes @16. */
  mrSeam: Uint8Array
  /** MRSIGNERSEAM, 48 bytes @64 (zero for Intel's TDX module). */
  mrSignerSeam: Uint8Array
  /** SEAMATTRIBUTES, 8 bytes @112. */
  seamAttributes: Uint8Array
  /** TDATTRIBUTES, 8 bytes @120 (byte 0 bit 0 DEBUG; bit 28 SEPT_VE_DISABLE). */
  tdAttributes: Uint8Array
  /** XFAM, 8 bytes @128. */
  xfam: Uint8Array
  /** MRTD, 48 bytes @136. */
  mrTd: Uint8Array
  /** MRCONFIGID, 48 bytes @184. */
  mrConfigId: Uint8Array
  /** MROWNER, 48 bytes @232. */
  mrOwner: Uint8Array
  /** MROWNERCONFIG, 48 bytes @280. */
  mrOwnerConfig: Uint8Array
  /** RTMR0..RTMR3, 48 bytes each @328, 376, 424, 472. */
  rtmr0: Uint8Array
  rtmr1: Uint8Array
  rtmr2: Uint8Array
  rtmr3: Uint8Array
  /** REPORTDATA, 64 bytes @520. */
  reportData: Uint8Array
}

/** A TD 1.5 report body: TD 1.0 fields plus two trailing fields. */
export type TdReport15 = Omit<TdReport10, 'type'> & {
  type: 'td15'
  /** TEE_TCB_SVN2, 16 bytes @584. */
  teeTcbSvn2: Uint8Array
  /** MRSERVICETD, 48 bytes @600. */
  mrServiceTd: Uint8Array
}

export type TdReport = TdReport10 | TdReport15

/**
 * Parses a TD report body; the type follows from the length (584 → TD10, 648 → TD15).
 *
 * @param bytes - The body bytes.
 * @param options.offset - Absolute offset of `bytes` in an enclosing quote, used in error messages.
 * @returns The report, discriminated by `type`.
 * @throws {InvalidFieldError} When the length is neither 584 nor 648.
 * @example
 * const td = TdReport.parse(quoteBytes.subarray(48, 48 + TdReport.size.td10))
 */
export function parse(bytes: Uint8Array, options: { offset?: number } = {}): TdReport {
  const offset = options.offset ?? 0
  if (bytes.length !== size.td10 && bytes.length !== size.td15)
    throw new InvalidFieldError({
      what: 'TD report',
      field: 'tdReport',
      offset,
      reason: `expected ${size.td10} (TD 1.0) or ${size.td15} (TD 1.5) bytes, got ${bytes.length}`,
    })
  const r = new Reader(bytes, { what: 'TD report', base: offset })
  const td10 = {
    teeTcbSvn: r.take('teeTcbSvn', 16),
    mrSeam: r.take('mrSeam', 48),
    mrSignerSeam: r.take('mrSignerSeam', 48),
    seamAttributes: r.take('seamAttributes', 8),
    tdAttributes: r.take('tdAttributes', 8),
    xfam: r.take('xfam', 8),
    mrTd: r.take('mrTd', 48),
    mrConfigId: r.take('mrConfigId', 48),
    mrOwner: r.take('mrOwner', 48),
    mrOwnerConfig: r.take('mrOwnerConfig', 48),
    rtmr0: r.take('rtmr0', 48),
    rtmr1: r.take('rtmr1', 48),
    rtmr2: r.take('rtmr2', 48),
    rtmr3: r.take('rtmr3', 48),
    reportData: r.take('reportData', 64),
  }
  if (bytes.length === size.td10) return { type: 'td10', ...td10 }
  return { type: 'td15', ...td10, teeTcbSvn2: r.take('teeTcbSvn2', 16), mrServiceTd: r.take('mrServiceTd', 48) }
}

/**
 * Serializes a TD report body (584 or 648 bytes, by `type`).
 *
 * @throws {InvalidFieldError} When a byte field has the wrong length.
 * @example
 * TdReport.serialize(TdReport.parse(bytes)) // equals bytes
 */
export function serialize(report: TdReport): Uint8Array {
  const w = new Writer()
    .bytes('tdReport.teeTcbSvn', report.teeTcbSvn, 16)
    .bytes('tdReport.mrSeam', report.mrSeam, 48)
    .bytes('tdReport.mrSignerSeam', report.mrSignerSeam, 48)
    .bytes('tdReport.seamAttributes', report.seamAttributes, 8)
    .bytes('tdReport.tdAttributes', report.tdAttributes, 8)
    .bytes('tdReport.xfam', report.xfam, 8)
    .bytes('tdReport.mrTd', report.mrTd, 48)
    .bytes('tdReport.mrConfigId', report.mrConfigId, 48)
    .bytes('tdReport.mrOwner', report.mrOwner, 48)
    .bytes('tdReport.mrOwnerConfig', report.mrOwnerConfig, 48)
    .bytes('tdReport.rtmr0', report.rtmr0, 48)
    .bytes('tdReport.rtmr1', report.rtmr1, 48)
    .bytes('tdReport.rtmr2', report.rtmr2, 48)
    .bytes('tdReport.rtmr3', report.rtmr3, 48)
    .bytes('tdReport.reportData', report.reportData, 64)
  if (report.type === 'td15') w.bytes('tdReport.teeTcbSvn2', report.teeTcbSvn2, 16).bytes('tdReport.mrServiceTd', report.mrServiceTd, 48)
  return w.toBytes()
}

/** RTMR0..RTMR3 as a tuple. */
export function rtmrs(report: TdReport): readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array] {
  return [report.rtmr0, report.rtmr1, report.rtmr2, report.rtmr3]
}

/** Whether the TD DEBUG attribute (TDATTRIBUTES byte 0, bit 0) is set. */
export function isDebug(report: TdReport): boolean {
  return ((report.tdAttributes[0] ?? 0) & 1) !== 0
}

/** Whether SEPT_VE_DISABLE (TDATTRIBUTES bit 28) is set. */
export function isSeptVeDisabled(report: TdReport): boolean {
  return ((report.tdAttributes[3] ?? 0) & 0x10) !== 0
}
