/**
 * Intel TCB info (PCS API v4 "Appendix A": `tcbInfo` v2 for SGX, v3 for SGX and TDX), kept together with the
 * exact signed JSON text. dcap.md §3 steps 3, 10–12.
 *
 * Signature: ECDSA P-256 over the exact bytes of the `tcbInfo` object as served (never a re-serialisation),
 * 64-byte r‖s, by the TCB signing certificate of the accompanying issuer chain.
 *
 * The Intel SGX TCB Signing certificate was re-issued with the same key and serial for 2025-05-06..2032-05-06
 * (the 2018 one expired 2025-05-21). Collateral signed before the re-issue carries the old certificate in its
 * issuer chain, and that chain is what we verify, at the caller's `now`: the 2023 vector verifies with its
 * own 2018–2025 chain, while the renewed certificate would fail there (notBefore 2025-05-06 is after `now`).
 * We therefore never substitute a "current" signing certificate for the one supplied.
 */
import type { X509Certificate } from 'node:crypto'
import type * as Crl from './Crl.js'
import { BaseError } from './errors.js'
import * as SignedJson from './internal/signedJson.js'
import type { TrustedRoot } from './roots.js'

/** TCB statuses Intel uses in TCB info and QE identity levels. */
export type Status =
  | 'UpToDate'
  | 'SWHardeningNeeded'
  | 'ConfigurationNeeded'
  | 'ConfigurationAndSWHardeningNeeded'
  | 'OutOfDate'
  | 'OutOfDateConfigurationNeeded'
  | 'Revoked'

export const statuses: readonly Status[] = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
]

export type Component = { readonly svn: number; readonly category: string | undefined; readonly type: string | undefined }

export type TcbLevel = {
  /** 16 SGX TCB components (v2: sgxtcbcomp01svn..16svn). */
  readonly sgxComponents: readonly Component[]
  readonly pcesvn: number
  /** 16 TDX TCB components (TDX TCB info only). */
  readonly tdxComponents: readonly Component[] | undefined
  readonly tcbDate: Date
  readonly tcbStatus: Status
  readonly advisoryIds: readonly string[]
}

export type ModuleTcbLevel = {
  readonly isvsvn: number
  readonly tcbDate: Date
  readonly tcbStatus: Status
  readonly advisoryIds: readonly string[]
}

/** `tdxModule`: the base TDX module identity (mrsigner 48 bytes, attributes and mask 8 bytes, uppercase hex). */
export type TdxModule = { readonly mrsigner: string; readonly attributes: string; readonly attributesMask: string }

/** One `tdxModuleIdentities` entry ("TDX_01", "TDX_03", …). */
export type TdxModuleIdentity = TdxModule & { readonly id: string; readonly tcbLevels: readonly ModuleTcbLevel[] }

export type TcbInfo = {
  /** The exact signed JSON text this was parsed from. */
  readonly text: string
  readonly id: 'SGX' | 'TDX'
  readonly version: 2 | 3
  readonly issueDate: Date
  readonly nextUpdate: Date
  /** 6 bytes, uppercase hex. */
  readonly fmspc: string
  /** 2 bytes, uppercase hex. */
  readonly pceId: string
  readonly tcbType: number
  readonly tcbEvaluationDataNumber: number
  readonly tdxModule: TdxModule | undefined
  readonly tdxModuleIdentities: readonly TdxModuleIdentity[] | undefined
  /** In the served order (Intel serves them highest first). */
  readonly tcbLevels: readonly TcbLevel[]
}

const fail: SignedJson.Fail = (path, reason) => new InvalidTcbInfoError({ path, reason })
const r = SignedJson.reader(fail)

/**
 * Parses the exact signed `tcbInfo` JSON text (not the PCS response wrapper).
 *
 * @throws {InvalidTcbInfoError} naming the JSON path of the first bad field (unknown status, wrong length, …).
 * @example
 * const info = TcbInfo.parse(collateral.tcb_info)
 */
export function parse(text: string): TcbInfo {
  const root = r.object(SignedJson.parseJson(text, fail), '')
  const version = r.integer(root, 'version', '')
  if (version !== 2 && version !== 3) throw fail('version', `unsupported version ${version}`)
  const id = version === 2 ? (root.id === undefined ? 'SGX' : r.oneOf(root, 'id', '', ['SGX'])) : r.oneOf(root, 'id', '', ['SGX', 'TDX'])
  const isTdx = id === 'TDX'
  const tdxModule = root.tdxModule === undefined ? undefined : module(r.object(root.tdxModule, 'tdxModule'), 'tdxModule')
  if (isTdx && !tdxModule) throw fail('tdxModule', 'is missing')
  const identities =
    root.tdxModuleIdentities === undefined
      ? undefined
      : r.array(root, 'tdxModuleIdentities', '').map((value, i) => {
          const path = `tdxModuleIdentities[${i}]`
          const obj = r.object(value, path)
          return {
            id: r.string(obj, 'id', path),
            ...module(obj, path),
            tcbLevels: r.array(obj, 'tcbLevels', path).map((level, j) => moduleLevel(level, `${path}.tcbLevels[${j}]`)),
          }
        })
  const levels = r.array(root, 'tcbLevels', '')
  if (levels.length === 0) throw fail('tcbLevels', 'must not be empty')
  return {
    text,
    id,
    version,
    issueDate: r.date(root, 'issueDate', ''),
    nextUpdate: r.date(root, 'nextUpdate', ''),
    fmspc: r.hex(root, 'fmspc', '', 6),
    pceId: r.hex(root, 'pceId', '', 2),
    tcbType: r.integer(root, 'tcbType', ''),
    tcbEvaluationDataNumber: r.integer(root, 'tcbEvaluationDataNumber', ''),
    tdxModule,
    tdxModuleIdentities: identities,
    tcbLevels: levels.map((level, i) => tcbLevel(level, `tcbLevels[${i}]`, version, isTdx)),
  }
}

function module(obj: Record<string, unknown>, path: string): TdxModule {
  return {
    mrsigner: r.hex(obj, 'mrsigner', path, 48),
    attributes: r.hex(obj, 'attributes', path, 8),
    attributesMask: r.hex(obj, 'attributesMask', path, 8),
  }
}

function advisories(obj: Record<string, unknown>, path: string): string[] {
  if (obj.advisoryIDs === undefined) return []
  return r.array(obj, 'advisoryIDs', path).map((v, i) => {
    if (typeof v !== 'string') throw fail(`${path}.advisoryIDs[${i}]`, 'must be a string')
    return v
  })
}

function moduleLevel(value: unknown, path: string): ModuleTcbLevel {
  const obj = r.object(value, path)
  return {
    isvsvn: r.integer(r.object(obj.tcb, `${path}.tcb`), 'isvsvn', `${path}.tcb`, 0xff),
    tcbDate: r.date(obj, 'tcbDate', path),
    tcbStatus: r.oneOf(obj, 'tcbStatus', path, statuses),
    advisoryIds: advisories(obj, path),
  }
}

function components(obj: Record<string, unknown>, key: string, path: string): Component[] {
  const list = r.array(obj, key, path)
  if (list.length !== 16) throw fail(`${path}.${key}`, `must have 16 entries, got ${list.length}`)
  return list.map((value, i) => {
    const p = `${path}.${key}[${i}]`
    const c = r.object(value, p)
    return {
      svn: r.integer(c, 'svn', p, 0xff),
      category: c.category === undefined ? undefined : r.string(c, 'category', p),
      type: c.type === undefined ? undefined : r.string(c, 'type', p),
    }
  })
}

function tcbLevel(value: unknown, path: string, version: number, isTdx: boolean): TcbLevel {
  const obj = r.object(value, path)
  const tcbPath = `${path}.tcb`
  const tcb = r.object(obj.tcb, tcbPath)
  let sgxComponents: Component[]
  let tdxComponents: Component[] | undefined
  if (version === 2) {
    sgxComponents = []
    for (let i = 1; i <= 16; i++)
      sgxComponents.push({
        svn: r.integer(tcb, `sgxtcbcomp${i < 10 ? '0' : ''}${i}svn`, tcbPath, 0xff),
        category: undefined,
        type: undefined,
      })
  } else {
    sgxComponents = components(tcb, 'sgxtcbcomponents', tcbPath)
    if (isTdx) tdxComponents = components(tcb, 'tdxtcbcomponents', tcbPath)
    else if (tcb.tdxtcbcomponents !== undefined) throw fail(`${tcbPath}.tdxtcbcomponents`, 'is not allowed in SGX TCB info')
  }
  return {
    sgxComponents,
    pcesvn: r.integer(tcb, 'pcesvn', tcbPath, 0xffff),
    tdxComponents,
    tcbDate: r.date(obj, 'tcbDate', path),
    tcbStatus: r.oneOf(obj, 'tcbStatus', path, statuses),
    advisoryIds: advisories(obj, path),
  }
}

/** A TCB info whose signature, signer chain and validity window were checked. */
export type Verified = { readonly info: TcbInfo; readonly root: TrustedRoot; readonly signer: X509Certificate }

/**
 * Verifies a parsed TCB info at `now`: the issuer chain is valid to one of `trustedRoots` and unrevoked by
 * `rootCrl` (CertChain.verify), the signer CN satisfies the anchoring root's profile (Intel: contains
 * "Intel SGX TCB Signing"), the r‖s `signature` verifies over `info.text`, and issueDate ≤ now ≤ nextUpdate.
 *
 * @throws the CertChain / Crl errors of the issuer chain; {@link UntrustedSignerError}; {@link InvalidSignatureError};
 *   {@link NotYetValidError}; {@link ExpiredError}.
 * @example
 * const verified = TcbInfo.verify(TcbInfo.parse(text), { signature, issuerChain, trustedRoots: [intelSgxRootCa], now, rootCrl })
 */
export function verify(
  info: TcbInfo,
  options: { signature: string | Uint8Array; issuerChain: string; trustedRoots: readonly TrustedRoot[]; now: Date; rootCrl: Crl.Crl },
): Verified {
  const signature = SignedJson.signatureBytes(options.signature)
  const check = SignedJson.checkSigner({ ...options, text: info.text, signature: signature ?? new Uint8Array() })
  if (!check.ok) {
    if (check.reason === 'commonName')
      throw new UntrustedSignerError({
        subject: check.signer.subject.replaceAll('\n', ', '),
        expected: check.root.tcbSigningCommonName ?? '',
      })
    throw new InvalidSignatureError()
  }
  if (options.now.getTime() < info.issueDate.getTime()) throw new NotYetValidError({ issueDate: info.issueDate, now: options.now })
  if (options.now.getTime() > info.nextUpdate.getTime()) throw new ExpiredError({ nextUpdate: info.nextUpdate, now: options.now })
  return { info, root: check.root, signer: check.signer }
}

/** The TCB info JSON is malformed; names the JSON path. */
export class InvalidTcbInfoError extends BaseError {
  override name = 'TcbInfo.InvalidTcbInfoError'
  readonly path: string
  constructor({ path, reason }: { path: string; reason: string }) {
    super(`Invalid TCB info: ${path} ${reason}.`)
    this.path = path
  }
}

/** The signing certificate's CN does not satisfy the anchoring root's profile. */
export class UntrustedSignerError extends BaseError {
  override name = 'TcbInfo.UntrustedSignerError'
  constructor({ subject, expected }: { subject: string; expected: string }) {
    super(`TCB info signer "${subject}" is not a "${expected}" certificate.`)
  }
}

/** The signature does not verify over the exact text with the signer key. */
export class InvalidSignatureError extends BaseError {
  override name = 'TcbInfo.InvalidSignatureError'
  constructor() {
    super('TCB info signature is invalid.')
  }
}

/** `now` is before issueDate. */
export class NotYetValidError extends BaseError {
  override name = 'TcbInfo.NotYetValidError'
  constructor({ issueDate, now }: { issueDate: Date; now: Date }) {
    super(`TCB info is not yet valid: issueDate ${issueDate.toISOString()} is after ${now.toISOString()}.`)
  }
}

/** `now` is after nextUpdate. */
export class ExpiredError extends BaseError {
  override name = 'TcbInfo.ExpiredError'
  constructor({ nextUpdate, now }: { nextUpdate: Date; now: Date }) {
    super(`TCB info expired: nextUpdate ${nextUpdate.toISOString()} is before ${now.toISOString()}.`)
  }
}
