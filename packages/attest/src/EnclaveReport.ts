/**
 * SGX enclave report (`sgx_report_body_t`, 384 bytes): the body of SGX quotes (v3, and v4/v5 with
 * body type 1) and the QE report inside every quote's signature data.
 *
 * Layout: Intel SGX DCAP "Quote Library API", enclave report body; Intel QVL
 * `QuoteStructures.h` (`EnclaveReport`). All integers little-endian. Reserved fields are kept so
 * that {@link serialize} is byte-exact (the QE report signature covers all 384 bytes).
 */
import { InvalidFieldError, Reader, Writer } from './internal/Bytes.js'

export { InvalidFieldError, TruncatedError } from './internal/Bytes.js'

/** Size in bytes of an SGX enclave report. */
export const size = 384

/** A parsed SGX enclave report. Byte fields are copies of the input. */
export type EnclaveReport = {
  /** CPUSVN, 16 bytes @0. */
  cpuSvn: Uint8Array
  /** MISCSELECT, u32 @16. */
  miscSelect: number
  /** Reserved, 28 bytes @20. */
  reserved1: Uint8Array
  /** ATTRIBUTES, 16 bytes @48 (byte 0 bit 1 = DEBUG). */
  attributes: Uint8Array
  /** MRENCLAVE, 32 bytes @64. */
  mrEnclave: Uint8Array
  /** Reserved, 32 bytes @96. */
  reserved2: Uint8Array
  /** MRSIGNER, 32 bytes @128. */
  mrSigner: Uint8Array
  /** Reserved, 96 bytes @160. */
  reserved3: Uint8Array
  /** ISVPRODID, u16 @256. */
  isvProdId: number
  /** ISVSVN, u16 @258. */
  isvSvn: number
  /** Reserved, 60 bytes @260. */
  reserved4: Uint8Array
  /** REPORTDATA, 64 bytes @320. */
  reportData: Uint8Array
}

/**
 * Parses a 384-byte SGX enclave report.
 *
 * @param bytes - Exactly {@link size} bytes.
 * @param options.offset - Absolute offset of `bytes` in an enclosing structure, used in error messages.
 * @returns The report.
 * @throws {InvalidFieldError} When `bytes` is not exactly 384 bytes long.
 * @example
 * const report = EnclaveReport.parse(bytes.subarray(48, 48 + EnclaveReport.size))
 */
export function parse(bytes: Uint8Array, options: { offset?: number } = {}): EnclaveReport {
  const offset = options.offset ?? 0
  if (bytes.length !== size)
    throw new InvalidFieldError({
      what: 'enclave report',
      field: 'enclaveReport',
      offset,
      reason: `expected ${size} bytes, got ${bytes.length}`,
    })
  const r = new Reader(bytes, { what: 'enclave report', base: offset })
  return {
    cpuSvn: r.take('cpuSvn', 16),
    miscSelect: r.u32('miscSelect'),
    reserved1: r.take('reserved1', 28),
    attributes: r.take('attributes', 16),
    mrEnclave: r.take('mrEnclave', 32),
    reserved2: r.take('reserved2', 32),
    mrSigner: r.take('mrSigner', 32),
    reserved3: r.take('reserved3', 96),
    isvProdId: r.u16('isvProdId'),
    isvSvn: r.u16('isvSvn'),
    reserved4: r.take('reserved4', 60),
    reportData: r.take('reportData', 64),
  }
}

/**
 * Serializes an enclave report back to its 384 bytes.
 *
 * @param options.field - Field name prefix used in error messages (default `enclaveReport`).
 * @throws {InvalidFieldError} When a byte field has the wrong length or an integer is out of range.
 * @example
 * EnclaveReport.serialize(EnclaveReport.parse(bytes)) // equals bytes
 */
export function serialize(report: EnclaveReport, options: { field?: string } = {}): Uint8Array {
  const field = options.field ?? 'enclaveReport'
  return new Writer()
    .bytes(`${field}.cpuSvn`, report.cpuSvn, 16)
    .u32(`${field}.miscSelect`, report.miscSelect)
    .bytes(`${field}.reserved1`, report.reserved1, 28)
    .bytes(`${field}.attributes`, report.attributes, 16)
    .bytes(`${field}.mrEnclave`, report.mrEnclave, 32)
    .bytes(`${field}.reserved2`, report.reserved2, 32)
    .bytes(`${field}.mrSigner`, report.mrSigner, 32)
    .bytes(`${field}.reserved3`, report.reserved3, 96)
    .u16(`${field}.isvProdId`, report.isvProdId)
    .u16(`${field}.isvSvn`, report.isvSvn)
    .bytes(`${field}.reserved4`, report.reserved4, 60)
    .bytes(`${field}.reportData`, report.reportData, 64)
    .toBytes()
}

/** Whether the DEBUG attribute (ATTRIBUTES byte 0, bit 1) is set. */
export function isDebug(report: EnclaveReport): boolean {
  return ((report.attributes[0] ?? 0) & 0b10) !== 0
}
