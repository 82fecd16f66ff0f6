/**
 * Devnet DCAP collateral in @phala/dcap-qvl's "QuoteCollateralV3" JSON shape (shared/vectors/README.md;
 * attest's Collateral.ts): root CA CRL and PCK CRL (hex DER), TDX TCB info v3 and TD_QE identity v2 as exact
 * JSON texts in Intel's key order (PCS API v4 appendices A and B, as in the real vectors), each signed with
 * ECDSA P-256 over the exact UTF-8 bytes by the devnet TCB signing key (64-byte r‖s hex), and the PEM issuer
 * chains (signer, root). dcap.md §3 steps 2–4, 8, 10–12.
 *
 * The TCB info describes the devnet platform: its top level is exactly the PCK certificate's SGX TCB and
 * PCESVN and the TD's TEE_TCB_SVN (DevnetTd.defaultTeeTcbSvn), with status UpToDate unless told otherwise; a
 * lower level (PCESVN - 1) is OutOfDate with advisory DEVNET-SA-00001. The module identity TDX_01 covers the
 * module SVN of TEE_TCB_SVN[0]. Options shift statuses, advisories and windows for verifier-policy tests.
 */
import { sign } from 'node:crypto'
import { BaseError, type Collateral, TcbInfo } from '@regent-tee/attest'
import * as DevnetPki from './DevnetPki.js'
import * as DevnetQe from './DevnetQe.js'
import * as DevnetTd from './DevnetTd.js'

/** A TCB level's status and advisories. */
export type Level = { status?: TcbInfo.Status | undefined; advisoryIds?: readonly string[] | undefined }

export type IssueOptions = {
  /** Reference time for the default windows. @default new Date() */
  now?: Date | undefined
  /** TCB info and QE identity issueDate. @default now-1h (whole seconds) */
  issueDate?: Date | undefined
  /** TCB info and QE identity nextUpdate. @default issueDate+30d */
  nextUpdate?: Date | undefined
  /** @default 17 */
  tcbEvaluationDataNumber?: number | undefined
  /** The platform's TEE_TCB_SVN the top TCB level lists. @default DevnetTd.defaultTeeTcbSvn */
  teeTcbSvn?: Uint8Array | undefined
  /** The TCB level the devnet platform matches. @default { status: 'UpToDate' } */
  platform?: Level | undefined
  /** The TDX module identity level the devnet module matches. @default { status: 'UpToDate' } */
  tdxModule?: Level | undefined
  /** The QE identity level the devnet QE matches. @default { status: 'UpToDate' } */
  qe?: Level | undefined
  /** CRL windows. @default thisUpdate = issueDate, nextUpdate = thisUpdate+30d */
  crl?: { thisUpdate?: Date | undefined; nextUpdate?: Date | undefined } | undefined
  /** Serials the PCK CA CRL revokes (e.g. `pki.pck.certificate.serial`). @default [] */
  pckRevoked?: readonly string[] | undefined
  /** Serials the root CA CRL revokes (e.g. `pki.pckCa.certificate.serial`). @default [] */
  rootRevoked?: readonly string[] | undefined
}

const day = 24 * 3_600_000

/** TCB date of the devnet's current TCB recovery, and of the older level. */
export const tcbDates = { current: '2025-01-01T00:00:00Z', previous: '2024-01-01T00:00:00Z' } as const

/**
 * Issues signed collateral for the devnet platform, QE and PCK CA.
 *
 * @returns QuoteCollateralV3 JSON (parse with attest's Collateral.parse).
 * @throws {InvalidOptionsError} for an empty window, a TEE_TCB_SVN that is not 16 bytes, or an unknown status.
 * @example
 * const json = DevnetCollateral.issue(pki)
 * Collateral.verify(Collateral.parse(json), { now: new Date(), trustedRoots: [DevnetPki.trustedRoot(pki)] })
 */
export function issue(pki: DevnetPki.DevnetPki, options: IssueOptions = {}): Collateral.Json {
  const now = options.now ?? new Date()
  const issueDate = wholeSeconds(options.issueDate ?? new Date(now.getTime() - 3_600_000))
  const nextUpdate = wholeSeconds(options.nextUpdate ?? new Date(issueDate.getTime() + 30 * day))
  if (!(issueDate.getTime() < nextUpdate.getTime()))
    throw new InvalidOptionsError({ option: 'nextUpdate', reason: 'must be after issueDate' })
  const crlThisUpdate = options.crl?.thisUpdate ?? issueDate
  const crlNextUpdate = options.crl?.nextUpdate ?? new Date(crlThisUpdate.getTime() + 30 * day)

  const tcbInfo = tcbInfoText(pki, { ...options, issueDate, nextUpdate })
  const qeIdentity = qeIdentityText({ ...options, issueDate, nextUpdate })
  const signingKey = pki.tcbSigning.privateKey
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
  return {
    pck_crl_issuer_chain: DevnetPki.pckCrlIssuerChainPem(pki),
    root_ca_crl: hex(
      DevnetPki.issueCrl(pki, { issuer: 'root', revoked: options.rootRevoked, thisUpdate: crlThisUpdate, nextUpdate: crlNextUpdate }),
    ),
    pck_crl: hex(
      DevnetPki.issueCrl(pki, { issuer: 'pckCa', revoked: options.pckRevoked, thisUpdate: crlThisUpdate, nextUpdate: crlNextUpdate }),
    ),
    tcb_info_issuer_chain: DevnetPki.tcbIssuerChainPem(pki),
    tcb_info: tcbInfo,
    tcb_info_signature: hex(sign('sha256', Buffer.from(tcbInfo, 'utf8'), { key: signingKey, dsaEncoding: 'ieee-p1363' })),
    qe_identity_issuer_chain: DevnetPki.tcbIssuerChainPem(pki),
    qe_identity: qeIdentity,
    qe_identity_signature: hex(sign('sha256', Buffer.from(qeIdentity, 'utf8'), { key: signingKey, dsaEncoding: 'ieee-p1363' })),
  }
}

/**
 * The exact TDX TCB info JSON text (version 3, id "TDX") for the devnet platform, in Intel's key order.
 *
 * @throws {InvalidOptionsError} as {@link issue}.
 */
export function tcbInfoText(pki: DevnetPki.DevnetPki, options: IssueOptions & { issueDate: Date; nextUpdate: Date }): string {
  const teeTcbSvn = options.teeTcbSvn ?? DevnetTd.defaultTeeTcbSvn
  if (teeTcbSvn.length !== 16) throw new InvalidOptionsError({ option: 'teeTcbSvn', reason: `must be 16 bytes, got ${teeTcbSvn.length}` })
  const { components, pcesvn } = pki.platform.tcb
  const platform = level(options.platform, 'platform')
  const module = level(options.tdxModule, 'tdxModule')
  const moduleAttributes = {
    mrsigner: hexUpper(DevnetTd.mrSignerSeam),
    attributes: hexUpper(DevnetTd.seamAttributes),
    attributesMask: 'FFFFFFFFFFFFFFFF',
  }
  const sgx = (svns: readonly number[]) => svns.map((svn, i) => ({ svn, ...(sgxLabels[i] ?? {}) }))
  const tdx = (svns: Uint8Array) => [...svns].map((svn, i) => ({ svn, ...(tdxLabels[i] ?? {}) }))
  const moduleSvn = teeTcbSvn[0] as number
  const levels = [
    {
      tcb: { sgxtcbcomponents: sgx(components), pcesvn, tdxtcbcomponents: tdx(teeTcbSvn) },
      tcbDate: tcbDates.current,
      tcbStatus: platform.status,
      ...advisories(platform.advisoryIds),
    },
    ...(pcesvn > 0
      ? [
          {
            tcb: { sgxtcbcomponents: sgx(components), pcesvn: pcesvn - 1, tdxtcbcomponents: tdx(teeTcbSvn) },
            tcbDate: tcbDates.previous,
            tcbStatus: 'OutOfDate',
            advisoryIDs: ['DEVNET-SA-00001'],
          },
        ]
      : []),
  ]
  const moduleLevels = [
    { tcb: { isvsvn: moduleSvn }, tcbDate: tcbDates.current, tcbStatus: module.status, ...advisories(module.advisoryIds) },
    ...(moduleSvn > 0
      ? [{ tcb: { isvsvn: moduleSvn - 1 }, tcbDate: tcbDates.previous, tcbStatus: 'OutOfDate', advisoryIDs: ['DEVNET-SA-00001'] }]
      : []),
  ]
  return JSON.stringify({
    id: 'TDX',
    version: 3,
    issueDate: isoSeconds(options.issueDate),
    nextUpdate: isoSeconds(options.nextUpdate),
    fmspc: pki.platform.fmspc,
    pceId: pki.platform.pceId,
    tcbType: 0,
    tcbEvaluationDataNumber: options.tcbEvaluationDataNumber ?? 17,
    tdxModule: moduleAttributes,
    tdxModuleIdentities: [{ id: `TDX_${hexUpper(Uint8Array.of(teeTcbSvn[1] as number))}`, ...moduleAttributes, tcbLevels: moduleLevels }],
    tcbLevels: levels,
  })
}

/**
 * The exact TD_QE identity JSON text (version 2) for the devnet QE, in Intel's key order.
 *
 * @throws {InvalidOptionsError} for an unknown status.
 */
export function qeIdentityText(options: IssueOptions & { issueDate: Date; nextUpdate: Date }): string {
  const qe = level(options.qe, 'qe')
  const { identity } = DevnetQe
  return JSON.stringify({
    id: 'TD_QE',
    version: 2,
    issueDate: isoSeconds(options.issueDate),
    nextUpdate: isoSeconds(options.nextUpdate),
    tcbEvaluationDataNumber: options.tcbEvaluationDataNumber ?? 17,
    miscselect: u32(identity.miscSelect),
    miscselectMask: u32(identity.miscSelectMask),
    attributes: hexUpper(identity.identityAttributes),
    attributesMask: hexUpper(identity.attributesMask),
    mrsigner: hexUpper(identity.mrSigner),
    isvprodid: identity.isvProdId,
    tcbLevels: [
      { tcb: { isvsvn: identity.isvSvn }, tcbDate: tcbDates.current, tcbStatus: qe.status, ...advisories(qe.advisoryIds) },
      { tcb: { isvsvn: identity.isvSvn - 1 }, tcbDate: tcbDates.previous, tcbStatus: 'OutOfDate', advisoryIDs: ['DEVNET-SA-00001'] },
    ],
  })
}

// Intel's descriptive labels of the first TCB components (facts from the PCS TCB info), kept so the JSON reads the same.
const sgxLabels: readonly ({ category: string; type?: string } | undefined)[] = [
  { category: 'BIOS', type: 'Early Microcode Update' },
  { category: 'OS/VMM', type: 'SGX Late Microcode Update' },
  { category: 'OS/VMM', type: 'TXT SINIT' },
  { category: 'BIOS' },
  { category: 'BIOS' },
  { category: 'BIOS' },
  undefined,
  { category: 'OS/VMM', type: 'SEAMLDR ACM' },
]
const tdxLabels: readonly ({ category: string; type: string } | undefined)[] = [
  { category: 'OS/VMM', type: 'TDX Module' },
  { category: 'OS/VMM', type: 'TDX Module' },
  { category: 'OS/VMM', type: 'TDX Late Microcode Update' },
]

function level(value: Level | undefined, option: string): { status: TcbInfo.Status; advisoryIds: readonly string[] } {
  const status = value?.status ?? 'UpToDate'
  if (!TcbInfo.statuses.includes(status))
    throw new InvalidOptionsError({ option: `${option}.status`, reason: `unknown status "${status}"` })
  return { status, advisoryIds: value?.advisoryIds ?? [] }
}

function advisories(ids: readonly string[]): { advisoryIDs?: string[] } {
  return ids.length > 0 ? { advisoryIDs: [...ids] } : {}
}

function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000)
}

function isoSeconds(d: Date): string {
  return wholeSeconds(d)
    .toISOString()
    .replace(/\.000Z$/, 'Z')
}

function hexUpper(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').toUpperCase()
}

function u32(n: number): string {
  return (n >>> 0).toString(16).toUpperCase().padStart(8, '0')
}

/** An option passed to {@link issue} is invalid. */
export class InvalidOptionsError extends BaseError {
  override name = 'DevnetCollateral.InvalidOptionsError'
  constructor({ option, reason }: { option: string; reason: string }) {
    super(`Invalid devnet collateral option ${option}: ${reason}.`)
  }
}
