/**
 * TCB level selection and status convergence for DCAP quotes (dcap.md §3 steps 10–13): Intel QVL
 * `Verifiers/Checks/TcbLevelCheck.cpp` / `TdxModuleCheck.cpp` and go-tdx-guest `verify/verify.go`
 * (`isTdxTcbSvnHigherOrEqual`), written from the rules, not from their code.
 *
 * 1. The PCK certificate's FMSPC and PCE-ID must equal the TCB info's.
 * 2. Platform level = the first level in TCB info order (Intel serves them highest first) where every PCK SGX
 *    component SVN ≥ the level's, PCK PCESVN ≥ the level's pcesvn, and, for TDX, TEE_TCB_SVN ≥ the level's
 *    tdxtcbcomponents — compared from index 2 when TEE_TCB_SVN[1] > 0 (bytes 0–1 are the TDX module SVN and
 *    major version, judged by the module identity instead), from index 0 otherwise. This is rule `'intel'`.
 *    Rule `'dcap-qvl'` always compares from index 0, as @phala/dcap-qvl and Automata's verifier do; it exists only
 *    for differential tests. The two differ on go-tdx-guest `cos-113-tdx-quote.dat` and teekit `tdx-v4-azure`
 *    (TEE_TCB_SVN 04 01 07…): Intel's rule selects the UpToDate level, dcap-qvl's OutOfDate.
 * 3. TDX module (TEE_TCB_SVN[1] > 0): the `tdxModuleIdentities` entry `TDX_%02X` of TEE_TCB_SVN[1]; MRSIGNERSEAM
 *    must equal its mrsigner and (SEAMATTRIBUTES & attributesMask) its attributes; the module status is its first
 *    level with isvsvn ≤ TEE_TCB_SVN[0]. TEE_TCB_SVN[1] = 0 (or no identities in the TCB info): the base
 *    `tdxModule` mrsigner/attributes are checked and the module adds no status.
 * 4. Convergence ({@link converge}): statuses are sets of conditions — OutOfDate (O), ConfigurationNeeded (C),
 *    SWHardeningNeeded (S) — and Revoked dominates. The final status is the union over platform, module and QE:
 *
 *    | union of conditions | final status |
 *    |---|---|
 *    | any Revoked | Revoked |
 *    | O and C | OutOfDateConfigurationNeeded |
 *    | O (with or without S) | OutOfDate |
 *    | C and S | ConfigurationAndSWHardeningNeeded |
 *    | C | ConfigurationNeeded |
 *    | S | SWHardeningNeeded |
 *    | none | UpToDate |
 *
 *    This reproduces Intel QVL's QE convergence (QE OutOfDate + platform UpToDate/SWHardeningNeeded → OutOfDate;
 *    + ConfigurationNeeded/ConfigurationAndSWHardeningNeeded → OutOfDateConfigurationNeeded) and its module rule
 *    (module OutOfDate lowers the platform the same way). dcap-qvl instead takes the worse of the two by a fixed
 *    order. TD 1.5 "TDRelaunchAdvised" statuses are not produced (TDRelaunchCheck is not implemented).
 *    Advisory IDs are the union, in order of first appearance (platform, module, QE).
 */
import { BaseError } from './errors.js'
import type * as PckCertificate from './PckCertificate.js'
import type * as QeIdentity from './QeIdentity.js'
import type * as TcbInfo from './TcbInfo.js'

/** Which TDX component comparison to use: Intel QVL's (default) or @phala/dcap-qvl's (differential tests only). */
export type Rule = 'intel' | 'dcap-qvl'

/** The platform level that matched. */
export type Platform = {
  /** Index in `tcbInfo.tcbLevels`. */
  readonly index: number
  readonly level: TcbInfo.TcbLevel
  readonly status: TcbInfo.Status
  readonly advisoryIds: readonly string[]
}

/** The TDX module identity that matched. */
export type Module = {
  /** `TDX_01`, … or `tdxModule` for the base identity. */
  readonly id: string
  /** Undefined for the base identity (it has no levels). */
  readonly status: TcbInfo.Status | undefined
  readonly advisoryIds: readonly string[]
  readonly tcbDate: Date | undefined
}

/** The TDX report fields used by module and TDX component matching. */
export type TdxFields = {
  /** 16 bytes. */
  readonly teeTcbSvn: Uint8Array
  /** 48 bytes. */
  readonly mrSignerSeam: Uint8Array
  /** 8 bytes. */
  readonly seamAttributes: Uint8Array
}

export type Result = {
  readonly status: TcbInfo.Status
  readonly advisoryIds: readonly string[]
  readonly platform: Platform
  readonly module: Module | undefined
  readonly qe: QeIdentity.MatchResult
}

/**
 * Runs steps 1–4 of the module doc: identifiers, platform level, TDX module, convergence with the QE status.
 *
 * @param options.tcbInfo - A parsed (and verified) TCB info.
 * @param options.pck - The quote's PCK certificate extensions.
 * @param options.tdx - The TD report fields for TDX quotes; undefined for SGX.
 * @param options.qe - The QE identity match (QeIdentity.match).
 * @param options.rule - `'intel'` (default) or `'dcap-qvl'`.
 * @throws {FmspcMismatchError} {@link PceIdMismatchError} {@link TeeMismatchError} {@link NotFoundError}
 *   {@link ModuleIdentityNotFoundError} {@link ModuleMismatchError} {@link ModuleLevelNotFoundError}.
 * @example
 * const { status, advisoryIds } = TcbLevel.evaluate({ tcbInfo, pck, tdx: quote.body, qe })
 */
export function evaluate(options: {
  tcbInfo: TcbInfo.TcbInfo
  pck: Pick<PckCertificate.PckCertificate, 'fmspc' | 'pceId' | 'tcb'>
  tdx: TdxFields | undefined
  qe: QeIdentity.MatchResult
  rule?: Rule | undefined
}): Result {
  const { tcbInfo, pck, tdx, qe } = options
  assertIdentifiers({ tcbInfo, pck, tee: tdx ? 'tdx' : 'sgx' })
  const platform = select({ tcbInfo, pck, teeTcbSvn: tdx?.teeTcbSvn, rule: options.rule })
  const module = tdx ? matchModule({ tcbInfo, tdx }) : undefined
  const statuses = [platform.status, ...(module?.status ? [module.status] : []), qe.status]
  const advisoryIds = [...new Set([...platform.advisoryIds, ...(module?.advisoryIds ?? []), ...qe.advisoryIds])]
  return { status: converge(statuses), advisoryIds, platform, module, qe }
}

/**
 * Checks that the TCB info is for this TEE and this platform: id `TDX` (v3) for TDX, `SGX` for SGX; FMSPC and
 * PCE-ID equal to the PCK certificate's (Intel QVL; dcap-qvl checks only FMSPC).
 *
 * @throws {TeeMismatchError} {@link FmspcMismatchError} {@link PceIdMismatchError}.
 */
export function assertIdentifiers(options: {
  tcbInfo: TcbInfo.TcbInfo
  pck: Pick<PckCertificate.PckCertificate, 'fmspc' | 'pceId'>
  tee: 'tdx' | 'sgx'
}): void {
  const { tcbInfo, pck, tee } = options
  const expectedId = tee === 'tdx' ? 'TDX' : 'SGX'
  if (tcbInfo.id !== expectedId || (tee === 'tdx' && tcbInfo.version !== 3))
    throw new TeeMismatchError({ tee, id: tcbInfo.id, version: tcbInfo.version })
  if (pck.fmspc.toUpperCase() !== tcbInfo.fmspc.toUpperCase()) throw new FmspcMismatchError({ pck: pck.fmspc, tcbInfo: tcbInfo.fmspc })
  if (pck.pceId.toUpperCase() !== tcbInfo.pceId.toUpperCase()) throw new PceIdMismatchError({ pck: pck.pceId, tcbInfo: tcbInfo.pceId })
}

/**
 * Selects the platform TCB level (module doc step 2).
 *
 * @throws {NotFoundError} naming the component of the lowest level that the platform falls short of.
 * @example
 * const { status } = TcbLevel.select({ tcbInfo, pck, teeTcbSvn: quote.body.teeTcbSvn })
 */
export function select(options: {
  tcbInfo: TcbInfo.TcbInfo
  pck: Pick<PckCertificate.PckCertificate, 'tcb'>
  teeTcbSvn: Uint8Array | undefined
  rule?: Rule | undefined
}): Platform {
  const { tcbInfo, pck, teeTcbSvn } = options
  const rule = options.rule ?? 'intel'
  const tdxStart = teeTcbSvn && rule === 'intel' && (teeTcbSvn[1] ?? 0) > 0 ? 2 : 0
  let lastShortfall: Shortfall | undefined
  for (let index = 0; index < tcbInfo.tcbLevels.length; index++) {
    const level = tcbInfo.tcbLevels[index] as TcbInfo.TcbLevel
    const shortfall = shortfallOf(level, pck.tcb, teeTcbSvn, tdxStart)
    if (!shortfall) return { index, level, status: level.tcbStatus, advisoryIds: level.advisoryIds }
    lastShortfall = shortfall
  }
  throw new NotFoundError({ shortfall: lastShortfall as Shortfall, levels: tcbInfo.tcbLevels.length })
}

type Shortfall = { component: string; actual: number; required: number }

function shortfallOf(
  level: TcbInfo.TcbLevel,
  tcb: PckCertificate.Tcb,
  teeTcbSvn: Uint8Array | undefined,
  tdxStart: number,
): Shortfall | undefined {
  for (let i = 0; i < 16; i++) {
    const actual = tcb.components[i] ?? 0
    const required = level.sgxComponents[i]?.svn ?? 0
    if (actual < required) return { component: `SGX TCB component ${i + 1} (PCK)`, actual, required }
  }
  if (tcb.pcesvn < level.pcesvn) return { component: 'PCESVN (PCK)', actual: tcb.pcesvn, required: level.pcesvn }
  if (teeTcbSvn) {
    const tdx = level.tdxComponents
    if (!tdx) return { component: 'tdxtcbcomponents (missing in TCB level)', actual: 0, required: 0 }
    for (let i = tdxStart; i < 16; i++) {
      const actual = teeTcbSvn[i] ?? 0
      const required = tdx[i]?.svn ?? 0
      if (actual < required) return { component: `TEE_TCB_SVN[${i}]`, actual, required }
    }
  }
  return undefined
}

/**
 * Matches the TDX module identity (module doc step 3).
 *
 * @throws {ModuleIdentityNotFoundError} {@link ModuleMismatchError} {@link ModuleLevelNotFoundError}.
 */
export function matchModule(options: { tcbInfo: TcbInfo.TcbInfo; tdx: TdxFields }): Module {
  const { tcbInfo, tdx } = options
  const svn = tdx.teeTcbSvn[0] ?? 0
  const major = tdx.teeTcbSvn[1] ?? 0
  if (major > 0 && tcbInfo.tdxModuleIdentities) {
    const id = `TDX_${major.toString(16).toUpperCase().padStart(2, '0')}`
    const identity = tcbInfo.tdxModuleIdentities.find((m) => m.id.toUpperCase() === id)
    if (!identity) throw new ModuleIdentityNotFoundError({ id })
    checkModule(identity, tdx, id)
    const level = identity.tcbLevels.find((l) => l.isvsvn <= svn)
    if (!level) throw new ModuleLevelNotFoundError({ id, svn })
    return { id, status: level.tcbStatus, advisoryIds: level.advisoryIds, tcbDate: level.tcbDate }
  }
  if (!tcbInfo.tdxModule) throw new ModuleIdentityNotFoundError({ id: 'tdxModule' })
  checkModule(tcbInfo.tdxModule, tdx, 'tdxModule')
  return { id: 'tdxModule', status: undefined, advisoryIds: [], tcbDate: undefined }
}

function checkModule(module: TcbInfo.TdxModule, tdx: TdxFields, id: string): void {
  const mrsigner = hex(tdx.mrSignerSeam)
  if (mrsigner !== module.mrsigner.toUpperCase())
    throw new ModuleMismatchError({ id, field: 'MRSIGNERSEAM', expected: module.mrsigner.toUpperCase(), actual: mrsigner })
  const mask = Buffer.from(module.attributesMask, 'hex')
  const masked = hex(tdx.seamAttributes.map((b, i) => b & (mask[i] ?? 0)))
  if (masked !== module.attributes.toUpperCase())
    throw new ModuleMismatchError({ id, field: 'SEAMATTRIBUTES', expected: module.attributes.toUpperCase(), actual: masked })
}

const conditions: Record<Exclude<TcbInfo.Status, 'Revoked'>, { o: boolean; c: boolean; s: boolean }> = {
  UpToDate: { o: false, c: false, s: false },
  SWHardeningNeeded: { o: false, c: false, s: true },
  ConfigurationNeeded: { o: false, c: true, s: false },
  ConfigurationAndSWHardeningNeeded: { o: false, c: true, s: true },
  OutOfDate: { o: true, c: false, s: false },
  OutOfDateConfigurationNeeded: { o: true, c: true, s: false },
}

/**
 * Converges several statuses (platform, module, QE) into one, per the table in the module doc.
 *
 * @example
 * TcbLevel.converge(['ConfigurationNeeded', 'OutOfDate']) // 'OutOfDateConfigurationNeeded'
 */
export function converge(statuses: readonly TcbInfo.Status[]): TcbInfo.Status {
  let o = false
  let c = false
  let s = false
  for (const status of statuses) {
    if (status === 'Revoked') return 'Revoked'
    const k = conditions[status]
    o ||= k.o
    c ||= k.c
    s ||= k.s
  }
  if (o) return c ? 'OutOfDateConfigurationNeeded' : 'OutOfDate'
  if (c) return s ? 'ConfigurationAndSWHardeningNeeded' : 'ConfigurationNeeded'
  return s ? 'SWHardeningNeeded' : 'UpToDate'
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase()
}

/** The TCB info is for another TEE (or a TDX TCB info is not version 3). */
export class TeeMismatchError extends BaseError {
  override name = 'TcbLevel.TeeMismatchError'
  constructor({ tee, id, version }: { tee: 'tdx' | 'sgx'; id: string; version: number }) {
    super(`TCB info id "${id}" version ${version} does not match ${tee === 'sgx' ? 'an SGX' : 'a TDX'} quote.`)
  }
}

/** The PCK certificate's FMSPC differs from the TCB info's. */
export class FmspcMismatchError extends BaseError {
  override name = 'TcbLevel.FmspcMismatchError'
  constructor({ pck, tcbInfo }: { pck: string; tcbInfo: string }) {
    super(`PCK certificate FMSPC ${pck} does not match TCB info FMSPC ${tcbInfo}.`)
  }
}

/** The PCK certificate's PCE-ID differs from the TCB info's. */
export class PceIdMismatchError extends BaseError {
  override name = 'TcbLevel.PceIdMismatchError'
  constructor({ pck, tcbInfo }: { pck: string; tcbInfo: string }) {
    super(`PCK certificate PCE-ID ${pck} does not match TCB info PCE-ID ${tcbInfo}.`)
  }
}

/** No platform TCB level matches; names the component of the lowest level that fell short. */
export class NotFoundError extends BaseError {
  override name = 'TcbLevel.NotFoundError'
  readonly component: string
  constructor({ shortfall, levels }: { shortfall: Shortfall; levels: number }) {
    super(
      `TCB level not found: ${shortfall.component} is ${shortfall.actual}, below ${shortfall.required} in the lowest of ${levels} TCB levels.`,
    )
    this.component = shortfall.component
  }
}

/** The TCB info has no module identity for the quote's TDX module major version. */
export class ModuleIdentityNotFoundError extends BaseError {
  override name = 'TcbLevel.ModuleIdentityNotFoundError'
  constructor({ id }: { id: string }) {
    super(`TDX module identity ${id} not found in the TCB info.`)
  }
}

/** MRSIGNERSEAM or masked SEAMATTRIBUTES differ from the module identity. */
export class ModuleMismatchError extends BaseError {
  override name = 'TcbLevel.ModuleMismatchError'
  constructor({ id, field, expected, actual }: { id: string; field: string; expected: string; actual: string }) {
    super(`TDX module ${field} does not match ${id}: expected ${expected}, got ${actual}.`)
  }
}

/** The TDX module SVN is below every level of its module identity. */
export class ModuleLevelNotFoundError extends BaseError {
  override name = 'TcbLevel.ModuleLevelNotFoundError'
  constructor({ id, svn }: { id: string; svn: number }) {
    super(`TDX module TCB level not found: ${id} has no level with isvsvn ≤ ${svn} (TEE_TCB_SVN[0]).`)
  }
}
