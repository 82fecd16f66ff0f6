/**
 * The devnet Quoting Enclave: a per-host P-256 attestation key, certified by a QE report (384-byte SGX
 * enclave report) signed with the devnet PCK leaf key, and TDX v4 quotes signed with the attestation key —
 * the byte layout of Intel's TD QE (dcap.md §2.1–§2.3; attest's Quote.ts / CertificationData.ts):
 *
 *   header: version 4, attestation key type 2, TEE type 0x81, QE/PCE SVN 0, Intel's QE vendor id (it names the
 *           QE's format; such quotes still fail under Intel's root because the PCK chain is the devnet's),
 *           user data = QE id (16) ‖ 0⁴
 *   body:   TD 1.0 report
 *   signature data: ECDSA r‖s over header‖body by the attestation key, the key (x‖y), certification data type 6
 *           = QE report ‖ its r‖s signature by the PCK key ‖ QE auth data ‖ type 5 PEM chain (leaf, PCK CA, root, NUL-terminated)
 *
 * QE report REPORTDATA = SHA-256(attestation key x‖y ‖ QE auth data) ‖ 0³² (dcap.md §3 step 7). Its MRSIGNER,
 * ISVPRODID, ISVSVN, MISCSELECT and ATTRIBUTES are those the devnet QE identity ({@link identity}) describes.
 */
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { BaseError, type CertificationData, EnclaveReport, Quote, type TdReport } from '@regent-tee/attest'
import * as DevnetPki from './DevnetPki.js'

/**
 * The devnet TD QE's identity (what the devnet QE identity collateral lists). MRSIGNER and MRENCLAVE are
 * SHA-256 of "regent-devnet/v1/td-qe/mrsigner" / ".../mrenclave" — not Intel's TD QE signer
 * (DC9E2A7C…A8C5), so a devnet QE report never matches Intel's QE identity.
 */
export const identity = {
  mrSigner: sha256('regent-devnet/v1/td-qe/mrsigner'),
  mrEnclave: sha256('regent-devnet/v1/td-qe/mrenclave'),
  isvProdId: 2,
  isvSvn: 4,
  miscSelect: 0,
  miscSelectMask: 0xffffffff,
  /** As Intel's TD QE reports: INIT|MODE64BIT|PROVISIONKEY (0x15), XFRM 0xE7. */
  attributes: Uint8Array.from([0x15, 0, 0, 0, 0, 0, 0, 0, 0xe7, 0, 0, 0, 0, 0, 0, 0]),
  /** Intel's TD QE identity attributes and mask (PROVISIONKEY masked out). */
  identityAttributes: Uint8Array.from([0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  attributesMask: Uint8Array.from([0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]),
} as const

/** QE auth data of Intel's QE (the bytes 00 01 … 1F), which the devnet QE also uses by default. */
export const defaultQeAuthData: Uint8Array = Uint8Array.from({ length: 32 }, (_, i) => i)

export type DevnetQe = {
  /** 16 bytes; quote header user data starts with it. */
  readonly qeId: Uint8Array
  /** The attestation private key (P-256). Never serialized by this module. */
  readonly attestationKey: KeyObject
  /** Raw public key x‖y (64 bytes), as the quote carries it. */
  readonly attestationPublicKey: Uint8Array
  /** QE report, its PCK signature, QE auth data and the PCK chain: the type-6 payload of every quote. */
  readonly qeReportData: CertificationData.QeReportData
}

export type CreateOptions = {
  pki: DevnetPki.DevnetPki
  /** A persisted P-256 attestation private key. @default a fresh key */
  attestationKey?: KeyObject | undefined
  /** @default {@link defaultQeAuthData} */
  qeAuthData?: Uint8Array | undefined
  /** 16 bytes. @default SHA-256("regent-devnet/v1/qe-id" ‖ PPID)[0..16] */
  qeId?: Uint8Array | undefined
  /** The QE's ISVSVN. @default identity.isvSvn */
  isvSvn?: number | undefined
  /** Leave the root certificate out of the quote's PCK chain (leaf, PCK CA), as some platforms do. @default false */
  omitRoot?: boolean | undefined
}

/**
 * Creates the devnet QE: certifies the attestation key with a QE report signed by the PCK leaf key.
 *
 * @throws {InvalidOptionsError} when the attestation key is not a P-256 private key or a size is wrong.
 * @example
 * const qe = DevnetQe.create({ pki })
 * const quote = DevnetQe.quote(qe, { tdReport: DevnetTd.report(td, { reportData }) })
 */
export function create(options: CreateOptions): DevnetQe {
  const { pki } = options
  const attestationKey = options.attestationKey ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  if (attestationKey.type !== 'private' || attestationKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new InvalidOptionsError({ option: 'attestationKey', reason: 'must be a P-256 private key' })
  const qeAuthData = Uint8Array.from(options.qeAuthData ?? defaultQeAuthData)
  if (qeAuthData.length > 0xffff) throw new InvalidOptionsError({ option: 'qeAuthData', reason: 'must be at most 65535 bytes' })
  const qeId = Uint8Array.from(options.qeId ?? sha256(`regent-devnet/v1/qe-id${pki.platform.ppid}`).subarray(0, 16))
  if (qeId.length !== 16) throw new InvalidOptionsError({ option: 'qeId', reason: 'must be 16 bytes' })
  const isvSvn = options.isvSvn ?? identity.isvSvn
  if (!Number.isInteger(isvSvn) || isvSvn < 0 || isvSvn > 0xffff)
    throw new InvalidOptionsError({ option: 'isvSvn', reason: 'must be an integer in [0, 65535]' })

  const attestationPublicKey = DevnetPki.uncompressedPoint(attestationKey).subarray(1)
  const reportData = new Uint8Array(64)
  reportData.set(createHash('sha256').update(attestationPublicKey).update(qeAuthData).digest())
  const qeReport: EnclaveReport.EnclaveReport = {
    cpuSvn: Uint8Array.from(pki.platform.tcb.cpusvn),
    miscSelect: identity.miscSelect,
    reserved1: new Uint8Array(28),
    attributes: Uint8Array.from(identity.attributes),
    mrEnclave: Uint8Array.from(identity.mrEnclave),
    reserved2: new Uint8Array(32),
    mrSigner: Uint8Array.from(identity.mrSigner),
    reserved3: new Uint8Array(96),
    isvProdId: identity.isvProdId,
    isvSvn,
    reserved4: new Uint8Array(60),
    reportData,
  }
  const qeReportSignature = signRaw(EnclaveReport.serialize(qeReport), pki.pck.privateKey)
  const chain = options.omitRoot ? pki.pck.certificate.pem + pki.pckCa.certificate.pem : DevnetPki.pckCertChainPem(pki)
  const pem = new TextEncoder().encode(`${chain}\0`)
  return {
    qeId,
    attestationKey,
    attestationPublicKey: Uint8Array.from(attestationPublicKey),
    qeReportData: { qeReport, qeReportSignature, qeAuthData, certificationData: { type: 5, pem } },
  }
}

/**
 * Builds a signed TDX v4 quote for a TD 1.0 report body.
 *
 * @returns The quote bytes (parse with attest's Quote.parse).
 * @throws {InvalidOptionsError} when the body is not a TD 1.0 report.
 * @example
 * const bytes = DevnetQe.quote(qe, { tdReport })
 */
export function quote(qe: DevnetQe, options: { tdReport: TdReport.TdReport10 }): Uint8Array {
  if (options.tdReport.type !== 'td10')
    throw new InvalidOptionsError({ option: 'tdReport', reason: 'must be a TD 1.0 report (v4 quotes carry TD10 bodies)' })
  const userData = new Uint8Array(20)
  userData.set(qe.qeId)
  const unsigned: Quote.Td10Quote = {
    type: 'td10',
    header: {
      version: 4,
      attestationKeyType: 2,
      teeType: Quote.teeTypes.tdx,
      qeSvn: 0,
      pceSvn: 0,
      qeVendorId: Uint8Array.from(Quote.intelQeVendorId),
      userData,
    },
    body: options.tdReport,
    signatureData: { signature: new Uint8Array(64), attestationKey: qe.attestationPublicKey, ...qe.qeReportData },
    trailing: new Uint8Array(0),
  }
  const signature = signRaw(Quote.signedRegion(unsigned), qe.attestationKey)
  return Quote.serialize({ ...unsigned, signatureData: { ...unsigned.signatureData, signature } })
}

function signRaw(data: Uint8Array, key: KeyObject): Uint8Array {
  return new Uint8Array(sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }))
}

function sha256(text: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(text).digest())
}

/** An option passed to {@link create} or {@link quote} is invalid. */
export class InvalidOptionsError extends BaseError {
  override name = 'DevnetQe.InvalidOptionsError'
  constructor({ option, reason }: { option: string; reason: string }) {
    super(`Invalid devnet QE option ${option}: ${reason}.`)
  }
}
