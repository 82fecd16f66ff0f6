/**
 * Intel enclave identity of the Quoting Enclave (PCS API v4 "Appendix B": `enclaveIdentity` v2, id "QE" for
 * SGX quotes, "TD_QE" for TDX), kept together with the exact signed JSON text. dcap.md §3 steps 4 and 8.
 * Signature and signer rules are the same as for TCB info (see TcbInfo.ts, including the 2025 TCB Signing
 * certificate re-issue: each collateral is verified with its own issuer chain).
 */
import type { X509Certificate } from 'node:crypto'
import type * as Crl from './Crl.js'
import { BaseError } from './errors.js'
import * as SignedJson from './internal/signedJson.js'
import type { TrustedRoot } from './roots.js'
import { type Status, statuses } from './TcbInfo.js'

export type TcbLevel = {
  readonly isvsvn: number
  readonly tcbDate: Date
  readonly tcbStatus: Status
  readonly advisoryIds: readonly string[]
}

export type QeIdentity = {
  /** The exact signed JSON text this was parsed from. */
  readonly text: string
  readonly id: 'QE' | 'TD_QE' | 'QVE'
  readonly version: number
  readonly issueDate: Date
  readonly nextUpdate: Date
  readonly tcbEvaluationDataNumber: number
  /** u32 values (the JSON hex is big-endian). */
  readonly miscselect: number
  readonly miscselectMask: number
  /** 16 bytes each. */
  readonly attributes: Uint8Array
  readonly attributesMask: Uint8Array
  /** 32 bytes. */
  readonly mrsigner: Uint8Array
  readonly isvprodid: number
  /** In the served order (highest ISVSVN first). */
  readonly tcbLevels: readonly TcbLevel[]
}

const fail: SignedJson.Fail = (path, reason) => new InvalidQeIdentityError({ path, reason })
const r = SignedJson.reader(fail)

/**
 * Parses the exact signed `enclaveIdentity` JSON text.
 *
 * @throws {InvalidQeIdentityError} naming the JSON path of the first bad field.
 * @example
 * const identity = QeIdentity.parse(collateral.qe_identity)
 */
export function parse(text: string): QeIdentity {
  const root = r.object(SignedJson.parseJson(text, fail), '')
  const version = r.integer(root, 'version', '')
  if (version !== 2) throw fail('version', `unsupported version ${version}`)
  const levels = r.array(root, 'tcbLevels', '')
  if (levels.length === 0) throw fail('tcbLevels', 'must not be empty')
  return {
    text,
    id: r.oneOf(root, 'id', '', ['QE', 'TD_QE', 'QVE']),
    version,
    issueDate: r.date(root, 'issueDate', ''),
    nextUpdate: r.date(root, 'nextUpdate', ''),
    tcbEvaluationDataNumber: r.integer(root, 'tcbEvaluationDataNumber', ''),
    miscselect: Number.parseInt(r.hex(root, 'miscselect', '', 4), 16),
    miscselectMask: Number.parseInt(r.hex(root, 'miscselectMask', '', 4), 16),
    attributes: bytes(r.hex(root, 'attributes', '', 16)),
    attributesMask: bytes(r.hex(root, 'attributesMask', '', 16)),
    mrsigner: bytes(r.hex(root, 'mrsigner', '', 32)),
    isvprodid: r.integer(root, 'isvprodid', '', 0xffff),
    tcbLevels: levels.map((value, i) => {
      const path = `tcbLevels[${i}]`
      const obj = r.object(value, path)
      const advisoryIds =
        obj.advisoryIDs === undefined
          ? []
          : r.array(obj, 'advisoryIDs', path).map((v, j) => {
              if (typeof v !== 'string') throw fail(`${path}.advisoryIDs[${j}]`, 'must be a string')
              return v
            })
      return {
        isvsvn: r.integer(r.object(obj.tcb, `${path}.tcb`), 'isvsvn', `${path}.tcb`, 0xffff),
        tcbDate: r.date(obj, 'tcbDate', path),
        tcbStatus: r.oneOf(obj, 'tcbStatus', path, statuses),
        advisoryIds,
      }
    }),
  }
}

function bytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/** A QE identity whose signature, signer chain and validity window were checked. */
export type Verified = { readonly identity: QeIdentity; readonly root: TrustedRoot; readonly signer: X509Certificate }

/**
 * Verifies a parsed QE identity at `now` (same rules as TcbInfo.verify: issuer chain to a trusted root and
 * unrevoked by `rootCrl`, signer CN per the root profile, r‖s signature over `identity.text`,
 * issueDate ≤ now ≤ nextUpdate).
 *
 * @throws the CertChain / Crl errors of the issuer chain; {@link UntrustedSignerError}; {@link InvalidSignatureError};
 *   {@link NotYetValidError}; {@link ExpiredError}.
 */
export function verify(
  identity: QeIdentity,
  options: { signature: string | Uint8Array; issuerChain: string; trustedRoots: readonly TrustedRoot[]; now: Date; rootCrl: Crl.Crl },
): Verified {
  const signature = SignedJson.signatureBytes(options.signature)
  const check = SignedJson.checkSigner({ ...options, text: identity.text, signature: signature ?? new Uint8Array() })
  if (!check.ok) {
    if (check.reason === 'commonName')
      throw new UntrustedSignerError({
        subject: check.signer.subject.replaceAll('\n', ', '),
        expected: check.root.tcbSigningCommonName ?? '',
      })
    throw new InvalidSignatureError()
  }
  if (options.now.getTime() < identity.issueDate.getTime()) throw new NotYetValidError({ issueDate: identity.issueDate, now: options.now })
  if (options.now.getTime() > identity.nextUpdate.getTime()) throw new ExpiredError({ nextUpdate: identity.nextUpdate, now: options.now })
  return { identity, root: check.root, signer: check.signer }
}

/** The QE report fields compared with the identity (from the QE report in the quote's certification data). */
export type ReportFields = {
  /** MISCSELECT as a u32 (little-endian in the report). */
  readonly miscselect: number
  /** 16 bytes. */
  readonly attributes: Uint8Array
  /** 32 bytes. */
  readonly mrsigner: Uint8Array
  readonly isvprodid: number
  readonly isvsvn: number
}

export type MatchResult = { readonly status: Status; readonly advisoryIds: readonly string[]; readonly tcbDate: Date }

/**
 * Matches a QE report against the identity (dcap.md §3 step 8, Intel QVL EnclaveIdentityV2 checks):
 * MRSIGNER and ISVPRODID equal, (MISCSELECT & mask) == miscselect, (ATTRIBUTES & mask) == attributes, then
 * the QE TCB status is the first level (highest first) with isvsvn ≤ the report's ISVSVN.
 *
 * @throws {MismatchError} naming the field that differs; {@link TcbLevelNotFoundError} when ISVSVN is below every level.
 * @example
 * const { status } = QeIdentity.match(identity, { miscselect, attributes, mrsigner, isvprodid, isvsvn })
 */
export function match(identity: QeIdentity, report: ReportFields): MatchResult {
  if (report.mrsigner.length !== 32 || !equal(report.mrsigner, identity.mrsigner))
    throw new MismatchError({ field: 'mrsigner', expected: hex(identity.mrsigner), actual: hex(report.mrsigner) })
  if (report.isvprodid !== identity.isvprodid)
    throw new MismatchError({ field: 'isvprodid', expected: String(identity.isvprodid), actual: String(report.isvprodid) })
  if ((report.miscselect & identity.miscselectMask) >>> 0 !== identity.miscselect >>> 0)
    throw new MismatchError({
      field: 'miscselect',
      expected: u32(identity.miscselect),
      actual: u32((report.miscselect & identity.miscselectMask) >>> 0),
    })
  if (report.attributes.length !== 16)
    throw new MismatchError({ field: 'attributes', expected: hex(identity.attributes), actual: hex(report.attributes) })
  const masked = report.attributes.map((b, i) => b & (identity.attributesMask[i] as number))
  if (!equal(masked, identity.attributes))
    throw new MismatchError({ field: 'attributes', expected: hex(identity.attributes), actual: hex(masked) })
  const level = [...identity.tcbLevels].sort((a, b) => b.isvsvn - a.isvsvn).find((l) => l.isvsvn <= report.isvsvn)
  if (!level) throw new TcbLevelNotFoundError({ isvsvn: report.isvsvn })
  return { status: level.tcbStatus, advisoryIds: level.advisoryIds, tcbDate: level.tcbDate }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').toUpperCase()
}

function u32(n: number): string {
  return n.toString(16).toUpperCase().padStart(8, '0')
}

/** The enclave identity JSON is malformed; names the JSON path. */
export class InvalidQeIdentityError extends BaseError {
  override name = 'QeIdentity.InvalidQeIdentityError'
  readonly path: string
  constructor({ path, reason }: { path: string; reason: string }) {
    super(`Invalid QE identity: ${path} ${reason}.`)
    this.path = path
  }
}

/** The signing certificate's CN does not satisfy the anchoring root's profile. */
export class UntrustedSignerError extends BaseError {
  override name = 'QeIdentity.UntrustedSignerError'
  constructor({ subject, expected }: { subject: string; expected: string }) {
    super(`QE identity signer "${subject}" is not a "${expected}" certificate.`)
  }
}

/** The signature does not verify over the exact text with the signer key. */
export class InvalidSignatureError extends BaseError {
  override name = 'QeIdentity.InvalidSignatureError'
  constructor() {
    super('QE identity signature is invalid.')
  }
}

/** `now` is before issueDate. */
export class NotYetValidError extends BaseError {
  override name = 'QeIdentity.NotYetValidError'
  constructor({ issueDate, now }: { issueDate: Date; now: Date }) {
    super(`QE identity is not yet valid: issueDate ${issueDate.toISOString()} is after ${now.toISOString()}.`)
  }
}

/** `now` is after nextUpdate. */
export class ExpiredError extends BaseError {
  override name = 'QeIdentity.ExpiredError'
  constructor({ nextUpdate, now }: { nextUpdate: Date; now: Date }) {
    super(`QE identity expired: nextUpdate ${nextUpdate.toISOString()} is before ${now.toISOString()}.`)
  }
}

/** A QE report field does not match the identity. */
export class MismatchError extends BaseError {
  override name = 'QeIdentity.MismatchError'
  readonly field: keyof ReportFields
  constructor({ field, expected, actual }: { field: keyof ReportFields; expected: string; actual: string }) {
    super(`QE report ${field} does not match the QE identity: expected ${expected}, got ${actual}.`)
    this.field = field
  }
}

/** The QE's ISVSVN is below every TCB level of the identity. */
export class TcbLevelNotFoundError extends BaseError {
  override name = 'QeIdentity.TcbLevelNotFoundError'
  constructor({ isvsvn }: { isvsvn: number }) {
    super(`No QE identity TCB level for ISVSVN ${isvsvn}.`)
  }
}
