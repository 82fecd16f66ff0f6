/**
 * Intel DCAP quotes: SGX v3, v4 (TDX TD 1.0 or SGX) and v5 (body type 1 SGX, 2 TD 1.0, 3 TD 1.5).
 * Strict parsing and byte-exact serialization.
 *
 * Layout: Intel "TDX DCAP Quoting Library API" quote format appendix; Intel QVL
 * `QuoteConstants.h`/`QuoteStructures.h`/`Quote.cpp`; go-tdx-guest `abi/abi.go` (documented in
 * docs/protocol.md). All integers little-endian.
 *
 * Wire shape: header (48) ‖ [v5: body type u16 ‖ body size u32] ‖ body ‖ signature data size u32 ‖
 * signature data ‖ trailing bytes. Signature data = quote signature (64) ‖ attestation key (64) ‖
 * v3: QE report certification data without a header (QE report, its signature, QE auth data, then the
 * PCK certification data); v4/v5: certification data of type 6 wrapping the same.
 *
 * Trailing bytes: real quotes carry zero padding after the signature data (70 bytes from dstack/tappd,
 * padding to 8000 bytes from GCP and Automata). {@link parse} accepts trailing bytes only if they are
 * all zero and records them in `trailing` so {@link serialize} is byte-exact; a non-zero trailing byte is
 * a {@link TrailingBytesError} naming its offset, unless `allowTrailingData: true` is passed (the only
 * vector that needs it is go-tdx-guest's `tdx_prod_quote_SPR_E4.dat`, whose 39 trailing bytes are the
 * ASCII text "extra bytes(only for testing purpose)" added by its authors).
 */
import * as CertificationData from './CertificationData.js'
import * as EnclaveReport from './EnclaveReport.js'
import { BaseError } from './errors.js'
import { InvalidFieldError, Reader, toHex, Writer } from './internal/Bytes.js'
import * as TdReport from './TdReport.js'

export { InvalidFieldError, TruncatedError } from './internal/Bytes.js'

/** Intel's QE vendor id (header bytes 12..28): `939a7233f79c4ca9940a0db3957f0607`. */
export const intelQeVendorId: Uint8Array = Uint8Array.from([
  0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
])

/** Header TEE type values. */
export const teeTypes = { sgx: 0x00000000, tdx: 0x00000081 } as const

/** v5 body type values. */
export const bodyTypes = { sgx: 1, td10: 2, td15: 3 } as const

/** Attestation key type 2 = ECDSA-256-with-P-256 (the only one this parser accepts). */
export const attestationKeyTypeEcdsaP256 = 2

/** The 48-byte quote header. */
export type Header = {
  /** 3, 4 or 5. */
  version: 3 | 4 | 5
  /** Always 2 (ECDSA P-256). */
  attestationKeyType: 2
  /** 0 (SGX) or 0x81 (TDX). */
  teeType: number
  /** u16 @8 (QE SVN in SGX quotes; 0 in TDX quotes seen). */
  qeSvn: number
  /** u16 @10 (PCE SVN in SGX quotes; 0 in TDX quotes seen). */
  pceSvn: number
  /** 16 bytes @12, {@link intelQeVendorId}. */
  qeVendorId: Uint8Array
  /** 20 bytes @28; the first 16 are the QE ID. */
  userData: Uint8Array
}

/** The signature data, identical in shape for every version (v4/v5 wrap the QE part in a type-6 block on the wire). */
export type SignatureData = {
  /** ECDSA P-256 r‖s over {@link signedRegion}, by the attestation key. */
  signature: Uint8Array
  /** Raw P-256 public key x‖y (64 bytes, no 0x04 prefix). */
  attestationKey: Uint8Array
} & CertificationData.QeReportData

type Common = { signatureData: SignatureData; trailing: Uint8Array }

/** An SGX quote (v3, or v4/v5 with an SGX body). */
export type SgxQuote = Common & { type: 'sgx'; header: Header; body: EnclaveReport.EnclaveReport }
/** A TDX quote with a TD 1.0 body (v4, or v5 body type 2). */
export type Td10Quote = Common & { type: 'td10'; header: Header & { version: 4 | 5 }; body: TdReport.TdReport10 }
/** A TDX quote with a TD 1.5 body (v5 body type 3). */
export type Td15Quote = Common & { type: 'td15'; header: Header & { version: 5 }; body: TdReport.TdReport15 }

/** A parsed quote, discriminated by `type`. Byte fields are copies of the input. */
export type Quote = SgxQuote | Td10Quote | Td15Quote

export type ParseOptions = {
  /** Accept non-zero bytes after the signature data (they are kept in `trailing`). Default false. */
  allowTrailingData?: boolean
}

const headerSize = 48

/**
 * Parses a quote.
 *
 * @param bytes - The raw quote.
 * @param options.allowTrailingData - See the module doc; default false (only zero padding is accepted).
 * @returns The quote.
 * @throws {TruncatedError} When any field extends past the end.
 * @throws {InvalidFieldError} For a wrong version, attestation key type ≠ 2, a non-Intel QE vendor id,
 *   a TEE type inconsistent with the version/body type, an unknown v5 body type or wrong body size, an
 *   unknown or misplaced certification data type, a size that overruns, a garbled PEM chain.
 * @throws {TrailingBytesError} For non-zero bytes after the signature data (unless allowed).
 * @example
 * const quote = Quote.parse(bytes)
 * if (quote.type !== 'sgx') console.log(quote.body.rtmr3)
 */
export function parse(bytes: Uint8Array, options: ParseOptions = {}): Quote {
  const r = new Reader(bytes, { what: 'quote' })
  const invalid = (field: string, offset: number, reason: string): never => {
    throw new InvalidFieldError({ what: 'quote', field, offset, reason })
  }
  const version = r.u16('header.version')
  if (version !== 3 && version !== 4 && version !== 5) invalid('header.version', 0, `unsupported version ${version} (expected 3, 4 or 5)`)
  const attestationKeyType = r.u16('header.attestationKeyType')
  if (attestationKeyType !== attestationKeyTypeEcdsaP256)
    invalid('header.attestationKeyType', 2, `unsupported attestation key type ${attestationKeyType} (expected 2, ECDSA-256-with-P-256)`)
  const teeType = r.u32('header.teeType')
  if (teeType !== teeTypes.sgx && teeType !== teeTypes.tdx)
    invalid('header.teeType', 4, `unknown TEE type 0x${teeType.toString(16)} (expected 0x0 or 0x81)`)
  if (version === 3 && teeType !== teeTypes.sgx)
    invalid('header.teeType', 4, `version 3 quotes are SGX only (TEE type 0x0), got 0x${teeType.toString(16)}`)
  const qeSvn = r.u16('header.qeSvn')
  const pceSvn = r.u16('header.pceSvn')
  const qeVendorId = r.take('header.qeVendorId', 16)
  if (toHex(qeVendorId) !== toHex(intelQeVendorId))
    invalid('header.qeVendorId', 12, `not Intel's QE vendor id (expected ${toHex(intelQeVendorId)}, got ${toHex(qeVendorId)})`)
  const userData = r.take('header.userData', 20)
  const header = { version, attestationKeyType: 2, teeType, qeSvn, pceSvn, qeVendorId, userData } as Header

  let type: Quote['type'] = teeType === teeTypes.sgx ? 'sgx' : 'td10'
  if (version === 5) {
    const bodyType = r.u16('body.type')
    if (bodyType !== 1 && bodyType !== 2 && bodyType !== 3) invalid('body.type', 48, `unknown body type ${bodyType} (expected 1, 2 or 3)`)
    type = bodyType === 1 ? 'sgx' : bodyType === 2 ? 'td10' : 'td15'
    if ((type === 'sgx') !== (teeType === teeTypes.sgx))
      invalid('header.teeType', 4, `TEE type 0x${teeType.toString(16)} does not match body type ${bodyType}`)
    const bodySize = r.u32('body.size')
    const expected = bodySizeOf(type)
    if (bodySize !== expected) invalid('body.size', 50, `body type ${bodyType} requires ${expected} bytes, got ${bodySize}`)
  }
  const bodyOffset = r.offset
  const bodyBytes = r.take('body', bodySizeOf(type))
  const body = type === 'sgx' ? EnclaveReport.parse(bodyBytes, { offset: bodyOffset }) : TdReport.parse(bodyBytes, { offset: bodyOffset })

  const sizeOffset = r.offset
  const signatureDataSize = r.u32('signatureData.size')
  if (signatureDataSize > r.remaining)
    invalid('signatureData.size', sizeOffset, `declares ${signatureDataSize} bytes but only ${r.remaining} remain`)
  const s = new Reader(r.take('signatureData', signatureDataSize), { what: 'quote', base: sizeOffset + 4 })
  const signature = s.take('signatureData.signature', 64)
  const attestationKey = s.take('signatureData.attestationKey', 64)
  let qe: CertificationData.QeReportData
  const at = s.offset
  const tail = s.rest()
  if (version === 3) qe = CertificationData.parseQeReportData(tail, { offset: at })
  else {
    // v4/v5 wrap the QE report in certification data type 6; check the type before parsing the block.
    const cdType = tail.length >= 2 ? (tail[0] as number) | ((tail[1] as number) << 8) : 6
    if (cdType !== 6)
      invalid('certificationData.type', at, `version ${version} quotes require type 6 (QE report certification data), got ${cdType}`)
    const { type: _, ...rest } = CertificationData.parse(tail, { offset: at }) as Extract<CertificationData.CertificationData, { type: 6 }>
    qe = rest
  }

  const trailingOffset = r.offset
  const trailing = r.rest()
  if (!options.allowTrailingData) {
    const nonZero = trailing.findIndex((b) => b !== 0)
    if (nonZero >= 0) throw new TrailingBytesError({ offset: trailingOffset + nonZero, end: trailingOffset, count: trailing.length })
  }
  return { type, header, body, signatureData: { signature, attestationKey, ...qe }, trailing } as Quote
}

/**
 * Serializes a quote byte-exactly (including `trailing`).
 *
 * @throws {InvalidFieldError} When a field has the wrong length, or `type`, `header.version` and
 *   `header.teeType` are inconsistent.
 * @example
 * Quote.serialize(Quote.parse(bytes)) // equals bytes
 */
export function serialize(quote: Quote): Uint8Array {
  const signatureData = serializeSignatureData(quote)
  return new Writer()
    .bytes('signedRegion', signedRegion(quote))
    .u32('signatureData.size', signatureData.length)
    .bytes('signatureData', signatureData)
    .bytes('trailing', quote.trailing)
    .toBytes()
}

/**
 * The bytes covered by the quote signature: header ‖ (v5: body descriptor) ‖ body —
 * [0, 432) for v3 SGX, [0, 632) for v4 TDX, [0, 638) for v5 TD 1.0, [0, 702) for v5 TD 1.5.
 */
export function signedRegion(quote: Quote): Uint8Array {
  const { header, type } = quote
  const invalid = (field: string, offset: number, reason: string): never => {
    throw new InvalidFieldError({ what: 'quote', field, offset, reason })
  }
  if (header.version === 3 && type !== 'sgx') invalid('header.version', 0, `version 3 cannot carry a ${type} body`)
  if (header.version === 4 && type === 'td15') invalid('header.version', 0, 'version 4 cannot carry a td15 body')
  if (header.teeType !== (type === 'sgx' ? teeTypes.sgx : teeTypes.tdx))
    invalid('header.teeType', 4, `TEE type 0x${header.teeType.toString(16)} does not match a ${type} body`)
  const w = new Writer()
    .u16('header.version', header.version)
    .u16('header.attestationKeyType', header.attestationKeyType)
    .u32('header.teeType', header.teeType)
    .u16('header.qeSvn', header.qeSvn)
    .u16('header.pceSvn', header.pceSvn)
    .bytes('header.qeVendorId', header.qeVendorId, 16)
    .bytes('header.userData', header.userData, 20)
  if (header.version === 5) w.u16('body.type', bodyTypes[type]).u32('body.size', bodySizeOf(type))
  w.bytes('body', quote.type === 'sgx' ? EnclaveReport.serialize(quote.body, { field: 'body' }) : TdReport.serialize(quote.body))
  return w.toBytes()
}

/** Length of {@link signedRegion}. */
export function signedLength(quote: Quote): number {
  return headerSize + (quote.header.version === 5 ? 6 : 0) + bodySizeOf(quote.type)
}

/**
 * The PCK certificate chain PEM text (type-5 certification data; inside type 6 for v4/v5), without
 * trailing NUL bytes.
 *
 * @throws {UnsupportedCertificationDataError} When the quote carries another certification type (e.g. encrypted PPID).
 */
export function pckCertChainPem(quote: Quote): string {
  return CertificationData.pemText(pckCertificationData(quote))
}

/**
 * The PCK certificate chain as DER certificates, leaf first.
 *
 * @throws {UnsupportedCertificationDataError} As {@link pckCertChainPem}.
 */
export function pckCertChain(quote: Quote): Uint8Array[] {
  return CertificationData.certificates(pckCertificationData(quote).pem)
}

/** The QE report (signed by the PCK key; its REPORTDATA binds the attestation key). */
export function qeReport(quote: Quote): EnclaveReport.EnclaveReport {
  return quote.signatureData.qeReport
}

/** The 384 QE report bytes covered by the QE report signature. */
export function qeReportBytes(quote: Quote): Uint8Array {
  return EnclaveReport.serialize(quote.signatureData.qeReport, { field: 'qeReport' })
}

/** REPORTDATA of the body (64 bytes), for any body type. */
export function reportData(quote: Quote): Uint8Array {
  return quote.body.reportData
}

/** The TD report body, or undefined for SGX quotes. */
export function tdReport(quote: Quote): TdReport.TdReport | undefined {
  return quote.type === 'sgx' ? undefined : quote.body
}

/** MRTD, or undefined for SGX quotes. */
export function mrTd(quote: Quote): Uint8Array | undefined {
  return tdReport(quote)?.mrTd
}

/** RTMR0..RTMR3, or undefined for SGX quotes. */
export function rtmrs(quote: Quote): readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array] | undefined {
  const td = tdReport(quote)
  return td && TdReport.rtmrs(td)
}

/** TEE_TCB_SVN (16 bytes), or undefined for SGX quotes. */
export function teeTcbSvn(quote: Quote): Uint8Array | undefined {
  return tdReport(quote)?.teeTcbSvn
}

/** TDATTRIBUTES (8 bytes), or undefined for SGX quotes. */
export function tdAttributes(quote: Quote): Uint8Array | undefined {
  return tdReport(quote)?.tdAttributes
}

/** MRSERVICETD for TD 1.5 bodies; undefined otherwise (TD 1.0 has no service TD). */
export function mrServiceTd(quote: Quote): Uint8Array | undefined {
  return quote.type === 'td15' ? quote.body.mrServiceTd : undefined
}

/**
 * Decodes and parses the contents of a quote file: raw binary, hex text (optional `0x`, whitespace
 * tolerated) or base64 text.
 *
 * @param contents - File bytes or text.
 * @param options - Passed to {@link parse}.
 * @throws {DecodeError} When the contents are none of the three encodings, saying why each failed.
 * @throws Any error of {@link parse} once decoded.
 * @example
 * const quote = Quote.fromFileContents(readFileSync('quote.hex'))
 */
export function fromFileContents(contents: Uint8Array | string, options: ParseOptions = {}): Quote {
  if (typeof contents !== 'string') {
    // A binary quote starts with version 3/4/5 (u16 LE) and key type 2; text never does.
    if (
      contents.length >= 4 &&
      (contents[0] as number) >= 3 &&
      (contents[0] as number) <= 5 &&
      contents[1] === 0 &&
      contents[2] === 2 &&
      contents[3] === 0
    )
      return parse(contents, options)
  }
  const text =
    typeof contents === 'string' ? contents : Buffer.from(contents.buffer, contents.byteOffset, contents.length).toString('latin1')
  const compact = text.replace(/\s/g, '')
  const hex = compact.startsWith('0x') || compact.startsWith('0X') ? compact.slice(2) : compact
  const reasons: string[] = []
  if (typeof contents !== 'string') reasons.push(`not a binary quote (first bytes ${toHex(contents.subarray(0, 4)) || 'none'})`)
  const badHex = hex.search(/[^0-9a-fA-F]/)
  if (hex.length > 0 && badHex < 0 && hex.length % 2 === 0) return parse(new Uint8Array(Buffer.from(hex, 'hex')), options)
  reasons.push(
    hex.length === 0
      ? 'not hex (empty)'
      : badHex >= 0
        ? `not hex (invalid character ${JSON.stringify(hex[badHex])} at ${badHex})`
        : `not hex (odd length ${hex.length})`,
  )
  const badBase64 = compact.search(/[^A-Za-z0-9+/=]/)
  if (compact.length > 0 && badBase64 < 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(compact) && compact.length % 4 === 0)
    return parse(new Uint8Array(Buffer.from(compact, 'base64')), options)
  reasons.push(
    compact.length === 0
      ? 'not base64 (empty)'
      : badBase64 >= 0
        ? `not base64 (invalid character ${JSON.stringify(compact[badBase64])} at ${badBase64})`
        : `not base64 (length ${compact.length} is not a multiple of 4 or misplaced padding)`,
  )
  throw new DecodeError({ reasons })
}

function bodySizeOf(type: Quote['type']): number {
  return type === 'sgx' ? EnclaveReport.size : TdReport.size[type]
}

function serializeSignatureData(quote: Quote): Uint8Array {
  const { signature, attestationKey, ...qe } = quote.signatureData
  const w = new Writer().bytes('signatureData.signature', signature, 64).bytes('signatureData.attestationKey', attestationKey, 64)
  if (quote.header.version === 3) w.bytes('signatureData.qeReportData', CertificationData.serializeQeReportData(qe))
  else w.bytes('signatureData.certificationData', CertificationData.serialize({ type: 6, ...qe }))
  return w.toBytes()
}

function pckCertificationData(quote: Quote): Extract<CertificationData.CertificationData, { type: 5 }> {
  const cd = quote.signatureData.certificationData
  if (cd.type !== 5) throw new UnsupportedCertificationDataError({ type: cd.type })
  return cd
}

/** Thrown when non-zero bytes follow the signature data. */
export class TrailingBytesError extends BaseError {
  override name = 'Quote.TrailingBytesError'
  readonly offset: number

  constructor({ offset, end, count }: { offset: number; end: number; count: number }) {
    super(
      `Non-zero trailing byte at offset ${offset}: the quote ends at ${end} and only zero padding may follow (${count} trailing bytes).`,
      {
        metaMessages: ['Pass `allowTrailingData: true` to keep arbitrary trailing bytes.'],
      },
    )
    this.offset = offset
  }
}

/** Thrown when quote file contents are neither binary, hex nor base64. */
export class DecodeError extends BaseError {
  override name = 'Quote.DecodeError'

  constructor({ reasons }: { reasons: readonly string[] }) {
    super(`Could not decode quote file contents: ${reasons.join('; ')}.`)
  }
}

/** Thrown when the quote's PCK certification data is not a type-5 PEM chain. */
export class UnsupportedCertificationDataError extends BaseError {
  override name = 'Quote.UnsupportedCertificationDataError'

  constructor({ type }: { type: number }) {
    super(`The quote carries certification data type ${type}, not a PCK certificate chain (type 5).`, {
      metaMessages: ['Types 2/3 (encrypted PPID) need the PCK certificate fetched from a PCCS.'],
    })
  }
}
