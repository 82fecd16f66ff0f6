/**
 * Certification data of DCAP quote signature data (types 1–7) and the QE report certification data
 * that type 6 wraps.
 *
 * Layout (Intel "SGX/TDX DCAP Quoting Library API", quote format appendix; Intel QVL
 * `QuoteStructures.h`, `CertificationData`, `QEReportCertificationData`):
 * `type u16 ‖ size u32 ‖ data[size]`. Types: 1 PPID cleartext, 2 PPID RSA-2048-OAEP encrypted,
 * 3 PPID RSA-3072-OAEP encrypted, 4 PCK leaf certificate, 5 PCK certificate chain (PEM, leaf
 * first, often NUL-terminated), 6 QE report certification data, 7 platform manifest.
 * Type 6 data = QE report (384) ‖ QE report signature (64) ‖ QE auth data size u16 ‖ auth data ‖
 * certification data (type 5 in every quote seen). Types 1–4 and 7 are kept as raw bytes.
 */
import { Lru } from '@regent-tee/core'
import * as EnclaveReport from './EnclaveReport.js'
import { InvalidFieldError, Reader, Writer } from './internal/Bytes.js'

export { InvalidFieldError, TruncatedError } from './internal/Bytes.js'

/** The certification data type codes. */
export const types = {
  ppidCleartext: 1,
  ppidRsa2048: 2,
  ppidRsa3072: 3,
  pckLeafCert: 4,
  pckCertChain: 5,
  qeReport: 6,
  platformManifest: 7,
} as const

/** QE report certification data (the payload of type 6; in SGX v3 quotes it appears without a type-6 header). */
export type QeReportData = {
  /** The Quoting Enclave's report (signed by the PCK key). */
  qeReport: EnclaveReport.EnclaveReport
  /** ECDSA P-256 r‖s over the 384 QE report bytes, by the PCK leaf key. */
  qeReportSignature: Uint8Array
  /** QE authentication data (32 bytes in every quote seen). */
  qeAuthData: Uint8Array
  /** The PCK certification data (type 5 in every real quote; never type 6). */
  certificationData: CertificationData
}

export type CertificationData =
  | { type: 1 | 2 | 3 | 4 | 7; data: Uint8Array }
  | {
      type: 5
      /** The exact PEM bytes, including any trailing NUL bytes. */
      pem: Uint8Array
    }
  | ({ type: 6 } & QeReportData)

/**
 * Parses one certification data block (`type ‖ size ‖ data`) that must span `bytes` exactly.
 *
 * @param bytes - The block.
 * @param options.offset - Absolute offset of `bytes` in an enclosing quote, used in error messages.
 * @param options.allowQeReport - Whether type 6 is allowed (default true; false for the data nested in type 6).
 * @throws {TruncatedError} When the header does not fit.
 * @throws {InvalidFieldError} For an unknown type, a size that overruns or leaves bytes over, a garbled
 *   PEM chain (type 5), a nested type 6, or a malformed type-6 payload.
 * @example
 * const cd = CertificationData.parse(bytes)
 */
export function parse(bytes: Uint8Array, options: { offset?: number; allowQeReport?: boolean } = {}): CertificationData {
  const base = options.offset ?? 0
  const r = new Reader(bytes, { what: 'certification data', base })
  const typeOffset = r.offset
  const type = r.u16('certificationData.type')
  const sizeOffset = r.offset
  const size = r.u32('certificationData.size')
  if (type < 1 || type > 7)
    throw new InvalidFieldError({
      what: 'certification data',
      field: 'certificationData.type',
      offset: typeOffset,
      reason: `unknown type ${type} (expected 1–7)`,
    })
  if (type === 6 && options.allowQeReport === false)
    throw new InvalidFieldError({
      what: 'certification data',
      field: 'certificationData.type',
      offset: typeOffset,
      reason: 'type 6 (QE report certification data) cannot be nested in type 6',
    })
  if (size !== r.remaining)
    throw new InvalidFieldError({
      what: 'certification data',
      field: 'certificationData.size',
      offset: sizeOffset,
      reason:
        size > r.remaining
          ? `declares ${size} bytes but only ${r.remaining} remain`
          : `declares ${size} bytes but ${r.remaining} follow (${r.remaining - size} unexplained bytes)`,
    })
  const dataOffset = r.offset
  const data = r.take('certificationData.data', size)
  if (type === 5) {
    // Whether a chain decodes is a function of its text alone (the offset only places an error): a platform's chain
    // is the same in all its quotes, so an accepted text is remembered and not decoded again.
    const text = pemText({ type, pem: data })
    if (!acceptedChains.get(text)) {
      certificates(data, { offset: dataOffset })
      acceptedChains.set(text, true)
    }
    return { type, pem: data }
  }
  if (type === 6) return { type, ...parseQeReportData(data, { offset: dataOffset }) }
  return { type: type as 1 | 2 | 3 | 4 | 7, data }
}

/**
 * Parses QE report certification data (`qeReport ‖ signature ‖ authSize ‖ auth ‖ certification data`),
 * which must span `bytes` exactly.
 *
 * @throws {TruncatedError} When a fixed field does not fit.
 * @throws {InvalidFieldError} As {@link parse}, for the nested certification data.
 */
export function parseQeReportData(bytes: Uint8Array, options: { offset?: number } = {}): QeReportData {
  const r = new Reader(bytes, { what: 'certification data', base: options.offset ?? 0 })
  const qeReportOffset = r.offset
  const qeReport = EnclaveReport.parse(r.take('qeReport', EnclaveReport.size), { offset: qeReportOffset })
  const qeReportSignature = r.take('qeReportSignature', 64)
  const authSize = r.u16('qeAuthData.size')
  const qeAuthData = r.take('qeAuthData', authSize)
  const certOffset = r.offset
  const certificationData = parse(r.rest(), { offset: certOffset, allowQeReport: false })
  return { qeReport, qeReportSignature, qeAuthData, certificationData }
}

/**
 * Serializes a certification data block (`type ‖ size ‖ data`).
 *
 * @throws {InvalidFieldError} When a fixed-size field has the wrong length.
 */
export function serialize(data: CertificationData): Uint8Array {
  const body = data.type === 5 ? data.pem : data.type === 6 ? serializeQeReportData(data) : data.data
  return new Writer()
    .u16('certificationData.type', data.type)
    .u32('certificationData.size', body.length)
    .bytes('certificationData.data', body)
    .toBytes()
}

/** Serializes QE report certification data (without a type-6 header). */
export function serializeQeReportData(data: QeReportData): Uint8Array {
  return new Writer()
    .bytes('qeReport', EnclaveReport.serialize(data.qeReport, { field: 'qeReport' }))
    .bytes('qeReportSignature', data.qeReportSignature, 64)
    .u16('qeAuthData.size', data.qeAuthData.length)
    .bytes('qeAuthData', data.qeAuthData)
    .bytes('certificationData', serialize(data.certificationData))
    .toBytes()
}

/** PEM chain texts (without trailing NULs) that {@link certificates} accepted. */
const acceptedChains = new Lru<string, true>(1024)

const begin = '-----BEGIN CERTIFICATE-----'
const end = '-----END CERTIFICATE-----'

/**
 * Decodes a PEM certificate chain (type 5 data) into DER certificates, leaf first. Trailing NUL
 * bytes are allowed; anything else outside BEGIN/END blocks, bad base64, or a DER length that does
 * not match the decoded bytes (a truncated certificate) is an error.
 *
 * @param pem - The exact PEM bytes.
 * @param options.offset - Absolute offset of `pem` in an enclosing quote, used in error messages.
 * @returns The DER certificates (at least one).
 * @throws {InvalidFieldError} Naming field `pckCertChain` and the offset of the defect.
 * @example
 * const [leaf, ca, root] = CertificationData.certificates(cd.pem)
 */
export function certificates(pem: Uint8Array, options: { offset?: number } = {}): Uint8Array[] {
  const base = options.offset ?? 0
  const fail = (at: number, reason: string): never => {
    throw new InvalidFieldError({ what: 'certification data', field: 'pckCertChain', offset: base + at, reason })
  }
  let length = pem.length
  while (length > 0 && pem[length - 1] === 0) length--
  const text = Buffer.from(pem.buffer, pem.byteOffset, length).toString('latin1')
  const out: Uint8Array[] = []
  let at = 0
  for (;;) {
    while (at < text.length && /\s/.test(text[at] as string)) at++
    if (at === text.length) break
    const n = out.length + 1
    if (!text.startsWith(begin, at)) fail(at, `certificate ${n}: expected "${begin}"`)
    const bodyStart = at + begin.length
    const stop = text.indexOf(end, bodyStart)
    if (stop < 0) fail(bodyStart, `certificate ${n}: no "${end}" line (truncated chain?)`)
    const body = text.slice(bodyStart, stop).replace(/\s/g, '')
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0 || body.length === 0)
      fail(bodyStart, `certificate ${n}: body is not valid base64`)
    const der = new Uint8Array(Buffer.from(body, 'base64'))
    const declared = derLength(der)
    if (declared !== der.length)
      fail(
        bodyStart,
        `certificate ${n}: DER ${declared === undefined ? 'header is malformed' : `declares ${declared} bytes but has ${der.length}`}`,
      )
    out.push(der)
    at = stop + end.length
  }
  if (out.length === 0) fail(0, 'no certificate found')
  return out
}

/** The PEM text of a type-5 chain, without trailing NUL bytes. */
export function pemText(data: Extract<CertificationData, { type: 5 }>): string {
  let length = data.pem.length
  while (length > 0 && data.pem[length - 1] === 0) length--
  return Buffer.from(data.pem.buffer, data.pem.byteOffset, length).toString('latin1')
}

/** Total length a DER SEQUENCE declares (header + content), or undefined if the header is malformed. */
function derLength(der: Uint8Array): number | undefined {
  if (der.length < 2 || der[0] !== 0x30) return undefined
  const first = der[1] as number
  if (first < 0x80) return 2 + first
  const count = first & 0x7f
  if (count === 0 || count > 3 || der.length < 2 + count) return undefined
  let content = 0
  for (let i = 0; i < count; i++) content = content * 256 + (der[2 + i] as number)
  return 2 + count + content
}
