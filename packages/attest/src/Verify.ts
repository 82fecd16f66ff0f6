/**
 * DCAP quote verification (Intel QVL `QuoteVerifier.cpp` §4.1.2.4; dcap.md §3 steps 1–13), then the relying
 * party's policy (step 14, Policy.ts). Runs on node:crypto only, fully offline given collateral and a time.
 *
 * Per-collateral work (CRLs, TCB info, QE identity, their chains, the PCK CA) is done once by Collateral.verify;
 * pass its result (or a parsed collateral, whose verification is memoised per object) and each quote costs only
 * the per-quote work: parse, PCK leaf (issuer = the verified PCK CA that signed the PCK CRL, signature, validity,
 * revocation, CN profile), QE report signature, QE binding, QE identity match, quote signature, TCB level.
 * Parsing a PCK leaf is memoised by its exact PEM text; its checks are all redone on every call.
 *
 * Memoised by exact bytes (internal/Memo.ts; equivalent to recomputing, since each is a pure function of the bytes
 * in its key): the split and decoded PEM chain by its exact text; imported attestation keys by their exact x‖y;
 * successful PCK leaf signature checks by (PCK CA key, leaf DER) and successful QE report signature checks by
 * (PCK leaf key, QE report, signature), keyed by SHA-256 so that any byte difference misses. The quote signature
 * differs per quote and is never memoised.
 *
 * Every failed check adds a reason; independent checks keep running so the verdict lists every reason.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject, X509Certificate } from 'node:crypto'
import { Lru } from '@regent-tee/core'
import * as CertChain from './CertChain.js'
import * as Collateral from './Collateral.js'
import type * as Crl from './Crl.js'
import type * as EventLog from './EventLog.js'
import { BaseError } from './errors.js'
import * as Memo from './internal/Memo.js'
import * as X509 from './internal/X509.js'
import * as PckCertificate from './PckCertificate.js'
import * as Policy from './Policy.js'
import * as QeIdentity from './QeIdentity.js'
import * as Quote from './Quote.js'
import { certificateOf, intelSgxRootCa, type TrustedRoot } from './roots.js'
import type * as TcbInfo from './TcbInfo.js'
import * as TcbLevel from './TcbLevel.js'

export type Reason = Policy.Reason

/** TDX measurements, lowercase hex without `0x`. */
export type TdxMeasurements = {
  readonly mrTd: string
  readonly rtmr0: string
  readonly rtmr1: string
  readonly rtmr2: string
  readonly rtmr3: string
  readonly reportData: string
  readonly mrConfigId: string
  readonly mrOwner: string
  readonly mrOwnerConfig: string
  readonly mrSeam: string
  readonly tdAttributes: string
  readonly xfam: string
  readonly teeTcbSvn: string
  /** TD 1.5 only. */
  readonly mrServiceTd?: string
}

/** SGX measurements, lowercase hex without `0x`. */
export type SgxMeasurements = {
  readonly mrEnclave: string
  readonly mrSigner: string
  readonly reportData: string
  readonly isvProdId: number
  readonly isvSvn: number
  readonly attributes: string
}

/** The outcome of {@link verifyQuote}. */
export type Verdict = {
  /** True only when every cryptographic check and every policy rule passed (`reasons` is empty). */
  readonly ok: boolean
  /** True when every cryptographic check passed (the quote is genuine under `root`), whatever the policy says. */
  readonly verified: boolean
  /** `tdx`/`sgx` only when anchored at the built-in Intel SGX Root CA (byte comparison); any other root is `devnet`. */
  readonly hardware: 'tdx' | 'sgx' | 'devnet' | undefined
  /** Name of the trusted root that anchored the PCK chain and the collateral. */
  readonly root: string | undefined
  readonly tee: 'tdx' | 'sgx' | undefined
  readonly version: 3 | 4 | 5 | undefined
  /** Final converged TCB status (TcbLevel.converge); undefined when it could not be established. */
  readonly status: TcbInfo.Status | undefined
  readonly advisoryIds: readonly string[]
  readonly measurements: TdxMeasurements | SgxMeasurements | undefined
  readonly tcb:
    | { readonly platform: TcbLevel.Platform['status']; readonly module: TcbLevel.Module | undefined; readonly platformLevel: number }
    | undefined
  readonly qe: { readonly status: TcbInfo.Status; readonly advisoryIds: readonly string[]; readonly isvSvn: number } | undefined
  readonly policy: { readonly ok: boolean; readonly reasons: readonly Reason[] }
  /** Every reason for rejection: cryptographic reasons first, then the policy reasons. */
  readonly reasons: readonly Reason[]
  /** Earliest nextUpdate of the collateral used: re-fetch after this. */
  readonly collateralNextUpdate: Date | undefined
  /** App info from the policy's event log, once replayed against the quote's RTMRs. */
  readonly app: EventLog.AppInfo | undefined
}

export type Options<policy = Policy.Options> = {
  /** Verified collateral (Collateral.verify / a Collateral cache), parsed collateral, or its JSON. */
  readonly collateral: Collateral.Verified | Collateral.Collateral | Collateral.Json | string
  /** Verification time. */
  readonly now: Date
  /** @default [intelSgxRootCa] */
  readonly trustedRoots?: readonly TrustedRoot[]
  readonly policy?: policy
  /** TDX TCB component rule; `'dcap-qvl'` exists for differential tests only. @default 'intel' */
  readonly tcbRule?: TcbLevel.Rule
}

/**
 * Verifies a quote and applies the policy, awaiting an asynchronous approval callback if the policy has one.
 * Never throws for bad quotes or collateral: every failure is a reason in the verdict.
 *
 * @param quote - Raw quote bytes or a parsed quote.
 * @throws {Policy.InvalidPolicyError} only for a malformed policy.
 * @example
 * const verdict = await verifyQuote(bytes, { collateral: verified, now: new Date(), policy: { minTcbStatus: 'UpToDate' } })
 * if (!verdict.ok) console.log(verdict.reasons)
 */
export async function verifyQuote(quote: Quote.Quote | Uint8Array, options: Options): Promise<Verdict> {
  const { verdict, callback, query } = run(quote, options)
  if (!callback || !query) return verdict
  return withPolicyReasons(verdict, await Policy.approve(callback, query))
}

/**
 * Synchronous {@link verifyQuote} for policies without asynchronous callbacks (hot paths, benchmarks).
 *
 * @throws {Policy.InvalidPolicyError} only for a malformed policy.
 * @example
 * const { ok, status } = verifyQuoteSync(bytes, { collateral: verified, now })
 */
export function verifyQuoteSync(quote: Quote.Quote | Uint8Array, options: Options<Policy.SyncOptions>): Verdict {
  const { verdict, callback, query } = run(quote, options)
  if (!callback || !query) return verdict
  return withPolicyReasons(verdict, Policy.approveSync(callback, query))
}

function withPolicyReasons(verdict: Verdict, extra: Reason[]): Verdict {
  if (extra.length === 0) return verdict
  const policyReasons = [...verdict.policy.reasons, ...extra]
  const reasons = [...verdict.reasons, ...extra]
  return { ...verdict, ok: false, policy: { ok: false, reasons: policyReasons }, reasons }
}

const intelRootDer = certificateOf(intelSgxRootCa).raw

function run(
  input: Quote.Quote | Uint8Array,
  options: Options<Policy.Options | Policy.SyncOptions>,
): { verdict: Verdict; callback: Policy.ApprovalCallback | undefined; query: Policy.MeasurementQuery | undefined } {
  const reasons: Reason[] = []
  const add = (code: string, message: string) => reasons.push({ code, message })
  const trustedRoots = options.trustedRoots ?? [intelSgxRootCa]
  const { now } = options

  // Step 1: parse (version 3/4/5, key type 2, Intel QE vendor id, TEE type consistent with version: Quote.parse).
  let quote: Quote.Quote
  let raw: Uint8Array | undefined
  try {
    quote = input instanceof Uint8Array ? Quote.parse(input) : input
    raw = input instanceof Uint8Array ? input : undefined
  } catch (error) {
    if (!(error instanceof BaseError)) throw error
    add('quote.parse', error.shortMessage)
    return { verdict: empty(reasons), callback: undefined, query: undefined }
  }
  const tee = quote.type === 'sgx' ? 'sgx' : 'tdx'

  // Steps 2–4: collateral (verified once per collateral object; here only the window at `now`).
  const verified = collateralAt(options.collateral, now, trustedRoots, add)
  const root = verified?.root
  const collateralNextUpdate = verified?.nextUpdate

  // Step 5: PCK chain — leaf under the verified PCK CA (which issued the PCK CRL), the quote's CA and root byte-equal.
  const pck = pckLeaf(quote, verified, now, trustedRoots, add)

  // Step 6: QE report signature by the PCK leaf key.
  // A platform's QE report and its signature are the same in all its quotes: a success is memoised by the exact
  // (PCK leaf key, QE report, signature) bytes, which is what the verification is a function of.
  const qeReportBytes = raw ? raw.subarray(qeReportOffset(quote), qeReportOffset(quote) + 384) : Quote.qeReportBytes(quote)
  const sig = quote.signatureData
  if (
    pck &&
    !Memo.verification(ecdsaScheme, [pck.spki, qeReportBytes, sig.qeReportSignature], () =>
      ecdsa(qeReportBytes, pck.key, sig.qeReportSignature),
    )
  )
    add('qe.signature', 'QE report signature does not verify with the PCK certificate key.')

  // Step 7: QE binding. Intel compares REPORTDATA[0..32]; we also require [32..64] to be zero (go-tdx-guest's rule;
  // true of every real quote seen), so nothing else can ride in the signed QE report.
  const qeReport = sig.qeReport
  const binding = createHash('sha256').update(sig.attestationKey).update(sig.qeAuthData).digest()
  if (!binding.equals(qeReport.reportData.subarray(0, 32)))
    add('qe.binding', 'QE report REPORTDATA[0..32] is not SHA-256(attestation key ‖ QE auth data).')
  else if (qeReport.reportData.subarray(32).some((b) => b !== 0)) add('qe.binding', 'QE report REPORTDATA[32..64] is not zero.')

  // Step 8: QE identity.
  let qe: QeIdentity.MatchResult | undefined
  if (verified) {
    const identity = verified.qeIdentity.identity
    const expectedId = tee === 'tdx' ? 'TD_QE' : 'QE'
    if (identity.id !== expectedId)
      add('qe.identity', `QE identity id ${identity.id} does not match ${tee === 'sgx' ? 'an SGX' : 'a TDX'} quote (${expectedId}).`)
    else
      try {
        qe = QeIdentity.match(identity, {
          miscselect: qeReport.miscSelect,
          attributes: qeReport.attributes,
          mrsigner: qeReport.mrSigner,
          isvprodid: qeReport.isvProdId,
          isvsvn: qeReport.isvSvn,
        })
        if (qe.status === 'Revoked') add('qe.revoked', `QE TCB level for ISVSVN ${qeReport.isvSvn} is Revoked.`)
      } catch (error) {
        if (!(error instanceof BaseError)) throw error
        add(error instanceof QeIdentity.TcbLevelNotFoundError ? 'qe.tcb_level_not_found' : 'qe.identity', error.shortMessage)
      }
  }

  // Step 9: quote signature over header ‖ body with the attestation key (different in every quote: never memoised).
  const signed = raw ? raw.subarray(0, Quote.signedLength(quote)) : Quote.signedRegion(quote)
  const attestationKey = importRawP256(sig.attestationKey)
  if (!attestationKey) add('quote.attestation_key', 'The attestation key is not a valid P-256 point.')
  else if (!ecdsa(signed, attestationKey, sig.signature))
    add('quote.signature', 'Quote signature does not verify with the attestation key.')

  // Steps 10–13: TCB info id/version, FMSPC/PCE-ID, platform level, TDX module, convergence.
  let tcb: TcbLevel.Result | undefined
  if (verified && pck && qe) {
    try {
      tcb = TcbLevel.evaluate({
        tcbInfo: verified.tcbInfo.info,
        pck: pck.extensions,
        tdx: quote.type === 'sgx' ? undefined : quote.body,
        qe,
        rule: options.tcbRule,
      })
      if (tcb.status === 'Revoked') add('tcb.revoked', 'The converged TCB status is Revoked.')
    } catch (error) {
      if (!(error instanceof BaseError)) throw error
      add(tcbCode(error), error.shortMessage)
    }
  }

  // Step 14: policy, evaluated even when a cryptographic check failed (so every reason is listed).
  const cryptoReasons = [...reasons]
  const status = tcb?.status
  const policy = options.policy ?? {}
  const evaluated = Policy.evaluate({ report: quote.body, tee, status, advisoryIds: tcb?.advisoryIds ?? [], now }, policy as Policy.Options)
  const all = [...cryptoReasons, ...evaluated.reasons]
  const hardware = root === undefined ? undefined : certificateOf(root).raw.equals(intelRootDer) ? tee : 'devnet'
  const verdict: Verdict = {
    ok: all.length === 0,
    verified: cryptoReasons.length === 0,
    hardware,
    root: root?.name,
    tee,
    version: quote.header.version,
    status,
    advisoryIds: tcb?.advisoryIds ?? [],
    measurements: measurementsOf(quote),
    tcb: tcb && { platform: tcb.platform.status, module: tcb.module, platformLevel: tcb.platform.index },
    qe: qe && { status: qe.status, advisoryIds: qe.advisoryIds, isvSvn: qeReport.isvSvn },
    policy: { ok: evaluated.reasons.length === 0, reasons: evaluated.reasons },
    reasons: all,
    collateralNextUpdate,
    app: evaluated.app,
  }
  const callback = typeof policy.approvedMeasurements === 'function' ? (policy.approvedMeasurements as Policy.ApprovalCallback) : undefined
  return { verdict, callback, query: evaluated.query }
}

function empty(reasons: Reason[]): Verdict {
  return {
    ok: false,
    verified: false,
    hardware: undefined,
    root: undefined,
    tee: undefined,
    version: undefined,
    status: undefined,
    advisoryIds: [],
    measurements: undefined,
    tcb: undefined,
    qe: undefined,
    policy: { ok: true, reasons: [] },
    reasons,
    collateralNextUpdate: undefined,
    app: undefined,
  }
}

function tcbCode(error: BaseError): string {
  if (error instanceof TcbLevel.NotFoundError) return 'tcb.level_not_found'
  if (error instanceof TcbLevel.FmspcMismatchError) return 'tcb.fmspc_mismatch'
  if (error instanceof TcbLevel.PceIdMismatchError) return 'tcb.pce_id_mismatch'
  if (error instanceof TcbLevel.TeeMismatchError) return 'tcb.tee_mismatch'
  return 'tcb.module'
}

// --- collateral ---------------------------------------------------------------------------------------------

type Window = { start: number; end: number }
const memo = new WeakMap<object, { roots: readonly TrustedRoot[]; verified: Collateral.Verified }>()
const windows = new WeakMap<Collateral.Verified, Window>()

function isVerified(value: Options['collateral']): value is Collateral.Verified {
  return typeof value === 'object' && 'qeIdentity' in value && typeof value.qeIdentity === 'object' && 'identity' in value.qeIdentity
}

function collateralAt(
  input: Options['collateral'],
  now: Date,
  trustedRoots: readonly TrustedRoot[],
  add: (code: string, message: string) => void,
): Collateral.Verified | undefined {
  let verified: Collateral.Verified
  if (isVerified(input)) verified = input
  else {
    let parsed: Collateral.Collateral
    try {
      parsed = typeof input === 'string' || !('tcbInfoSignature' in input) ? Collateral.parse(input as string | Collateral.Json) : input
    } catch (error) {
      if (!(error instanceof BaseError)) throw error
      add('collateral.invalid', error.shortMessage)
      return undefined
    }
    const cached = memo.get(parsed)
    if (cached && sameRoots(cached.roots, trustedRoots)) verified = cached.verified
    else {
      try {
        verified = Collateral.verify(parsed, { now, trustedRoots })
      } catch (error) {
        if (!(error instanceof Collateral.VerificationError)) throw error
        for (const { part, error: e } of error.reasons) add(collateralCode(part, e), `${part}: ${messageOf(e)}`)
        return undefined
      }
      memo.set(parsed, { roots: trustedRoots, verified })
    }
  }
  // A verified collateral must be anchored at one of this call's roots, and be within its window at `now`.
  const anchor = certificateOf(verified.root).raw
  if (!trustedRoots.some((r) => certificateOf(r).raw.equals(anchor))) {
    add('collateral.untrusted_root', `Collateral is anchored at "${verified.root.name}", which is not a trusted root of this call.`)
    return undefined
  }
  const window = windowOf(verified)
  const t = now.getTime()
  if (t < window.start) {
    add('collateral.not_yet_valid', `Collateral is not valid before ${new Date(window.start).toISOString()} (now ${now.toISOString()}).`)
    return undefined
  }
  if (t > window.end) {
    add('collateral.expired', `Collateral expired at ${new Date(window.end).toISOString()} (now ${now.toISOString()}).`)
    return undefined
  }
  return verified
}

function sameRoots(a: readonly TrustedRoot[], b: readonly TrustedRoot[]): boolean {
  return a.length === b.length && a.every((root, i) => root === b[i])
}

function windowOf(verified: Collateral.Verified): Window {
  let window = windows.get(verified)
  if (!window) {
    const c = verified.collateral
    const certs = [verified.pckCa, verified.tcbInfo.signer, verified.qeIdentity.signer, certificateOf(verified.root)].map((x) =>
      X509.fields(x),
    )
    window = {
      start: Math.max(
        c.tcbInfo.issueDate.getTime(),
        c.qeIdentity.issueDate.getTime(),
        c.rootCaCrl.thisUpdate.getTime(),
        c.pckCrl.thisUpdate.getTime(),
        ...certs.map((f) => f.notBefore.getTime()),
      ),
      end: Math.min(verified.nextUpdate.getTime(), ...certs.map((f) => f.notAfter.getTime())),
    }
    windows.set(verified, window)
  }
  return window
}

function collateralCode(part: Collateral.Part, error: Error): string {
  if (/ExpiredError$/.test(error.name)) return 'collateral.expired'
  if (/NotYetValidError$/.test(error.name)) return 'collateral.not_yet_valid'
  if (/RevokedError$/.test(error.name)) return 'collateral.revoked'
  return part === 'rootCaCrl' || part === 'pckCrl'
    ? 'collateral.crl'
    : part === 'tcbInfo'
      ? 'collateral.tcb_info'
      : 'collateral.qe_identity'
}

function messageOf(error: Error): string {
  return error instanceof BaseError ? error.shortMessage : error.message
}

// --- PCK leaf -----------------------------------------------------------------------------------------------

type Leaf = {
  certificate: X509Certificate
  /** The certificate's exact DER (what its signature check is a function of, with the CA key). */
  der: Uint8Array
  fields: X509.Fields
  extensions: PckCertificate.PckCertificate
  key: KeyObject
  /** The leaf key's SubjectPublicKeyInfo DER (the key bytes of the QE report signature memo). */
  spki: Uint8Array
}
type Chain = { blocks: string[]; ders: Buffer[] }
type PublicKey = { key: KeyObject; spki: Uint8Array }
/** Parsed PCK leaves (or why not) by exact PEM text. */
const leaves = new Lru<string, Leaf | BaseError>(1024)
/** Split and decoded PCK chains by exact PEM text (valid ones only). */
const chains = new Lru<string, Chain>(1024)
/** Imported attestation keys by their exact x‖y (valid points only). */
const attestationKeys = new Lru<string, KeyObject>(4096)
const caKeys = new WeakMap<X509Certificate, PublicKey>()
const revokedSets = new WeakMap<Crl.Crl, Set<string>>()
const ecdsaScheme = 'ecdsa-p256-sha256-p1363/v1'
const certificateScheme = 'x509-certificate-signature/v1'

function pckLeaf(
  quote: Quote.Quote,
  verified: Collateral.Verified | undefined,
  now: Date,
  trustedRoots: readonly TrustedRoot[],
  add: (code: string, message: string) => void,
): Leaf | undefined {
  let chain: Chain
  try {
    chain = chainOf(Quote.pckCertChainPem(quote))
  } catch (error) {
    if (!(error instanceof BaseError)) throw error
    add(error instanceof Quote.UnsupportedCertificationDataError ? 'pck.unsupported' : 'pck.chain', error.shortMessage)
    return undefined
  }
  const { blocks, ders } = chain
  // Anchoring, by CertChain.anchorOf (the one rule for every chain, also the KMS's): the quote's last certificate is a
  // trusted root or is issued by one (a chain with the root left out), whatever collateral came with the quote.
  const anchored = blocks.length > 1 && CertChain.anchorOf(ders[ders.length - 1] as Buffer, trustedRoots) !== undefined
  if (!anchored) add('pck.untrusted_root', 'The PCK certificate chain in the quote does not end at (or directly under) a trusted root.')
  const leaf = parseLeaf(blocks[0] as string)
  if (leaf instanceof BaseError) {
    add('pck.certificate', leaf.shortMessage)
    return undefined
  }
  if (!verified) return leaf // collateral failed (already a reason): the leaf key still serves the QE report check.
  const ca = verified.pckCa
  const caFields = X509.fields(ca)
  let ok = true
  const fail = (code: string, message: string) => {
    ok = false
    add(code, message)
  }
  // The quote's intermediate must be the PCK CA that issued the collateral's PCK CRL (Intel QVL: same issuer),
  // already verified to the root with the root CRL; the quote's root, if present, must be that root.
  const quoteCa = ders[1]
  if (quoteCa === undefined) fail('pck.chain', 'The PCK certificate chain has no PCK CA certificate.')
  else if (!quoteCa.equals(ca.raw))
    fail('pck.chain', `The PCK CA in the quote is not the PCK CRL issuer of the collateral ("${caFields.subjectText}").`)
  const quoteRoot = ders[ders.length - 1]
  if (!anchored) ok = false
  else if (blocks.length > 2 && !(quoteRoot as Buffer).equals(certificateOf(verified.root).raw))
    fail('pck.chain', `The root certificate in the quote is not the trusted root "${verified.root.name}".`)
  if (blocks.length > 3) fail('pck.chain', `The PCK certificate chain has ${blocks.length} certificates (expected 3).`)
  if (!X509.equalBytes(leaf.fields.issuer, caFields.subject))
    fail('pck.chain', `The PCK certificate is issued by "${leaf.fields.issuerText}", not by "${caFields.subjectText}".`)
  else {
    // The leaf's signature is a function of the CA key and the leaf's exact DER: a success is memoised by those bytes.
    const caKey = caKeyOf(ca)
    if (!Memo.verification(certificateScheme, [caKey.spki, leaf.der], () => leaf.certificate.verify(caKey.key)))
      fail('pck.signature', 'The PCK certificate signature does not verify with the PCK CA key.')
  }
  const t = now.getTime()
  if (t < leaf.fields.notBefore.getTime() || t > leaf.fields.notAfter.getTime())
    fail(
      'pck.expired',
      `The PCK certificate is valid ${leaf.fields.notBefore.toISOString()} .. ${leaf.fields.notAfter.toISOString()}, not at ${now.toISOString()}.`,
    )
  if (revokedSet(verified.pckCrl).has(leaf.fields.serial))
    fail('pck.revoked', `The PCK certificate (serial ${leaf.fields.serial}) is revoked.`)
  const cn = verified.root.pckCommonName
  if (cn !== undefined && !(leaf.fields.subjectCommonName ?? '').includes(cn))
    fail('pck.common_name', `The PCK certificate CN "${leaf.fields.subjectCommonName ?? ''}" does not contain "${cn}".`)
  return ok ? leaf : undefined
}

function parseLeaf(pem: string): Leaf | BaseError {
  const cached = leaves.get(pem)
  if (cached) return cached
  let result: Leaf | BaseError
  try {
    const certificate = new X509Certificate(pem)
    const fields = X509.fields(certificate)
    const extensions = PckCertificate.from(certificate)
    const key = certificate.publicKey
    result = { certificate, der: certificate.raw, fields, extensions, key, spki: spkiOf(key) }
  } catch (error) {
    result = error instanceof BaseError ? error : new InvalidCertificateError({ cause: error })
  }
  leaves.set(pem, result)
  return result
}

function chainOf(text: string): Chain {
  let chain = chains.get(text)
  if (!chain) {
    const blocks = CertChain.split(text)
    chain = { blocks, ders: blocks.map(derOf) }
    chains.set(text, chain)
  }
  return chain
}

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ''), 'base64')
}

function caKeyOf(ca: X509Certificate): PublicKey {
  let key = caKeys.get(ca)
  if (!key) {
    const object = ca.publicKey
    key = { key: object, spki: spkiOf(object) }
    caKeys.set(ca, key)
  }
  return key
}

function spkiOf(key: KeyObject): Uint8Array {
  return key.export({ type: 'spki', format: 'der' })
}

function revokedSet(crl: Crl.Crl): Set<string> {
  let set = revokedSets.get(crl)
  if (!set) {
    set = new Set(crl.revoked.map((r) => r.serial))
    revokedSets.set(crl, set)
  }
  return set
}

// --- crypto helpers -----------------------------------------------------------------------------------------

function ecdsa(data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
  } catch {
    return false
  }
}

/** Imports x‖y as a P-256 public key; memoised by the exact 64 bytes (a platform's key is in all its quotes). */
function importRawP256(xy: Uint8Array): KeyObject | undefined {
  if (xy.length !== 64) return undefined
  const id = Buffer.from(xy.buffer, xy.byteOffset, xy.length).toString('hex')
  const cached = attestationKeys.get(id)
  if (cached) return cached
  try {
    const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url')
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64(xy.subarray(0, 32)), y: b64(xy.subarray(32)) }, format: 'jwk' })
    attestationKeys.set(id, key)
    return key
  } catch {
    return undefined
  }
}

function qeReportOffset(quote: Quote.Quote): number {
  // signed region ‖ u32 size ‖ signature 64 ‖ attestation key 64 ‖ (v4/v5: certification data type u16 + size u32).
  return Quote.signedLength(quote) + 4 + 128 + (quote.header.version === 3 ? 0 : 6)
}

function measurementsOf(quote: Quote.Quote): TdxMeasurements | SgxMeasurements {
  const h = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')
  if (quote.type === 'sgx') {
    const b = quote.body
    return {
      mrEnclave: h(b.mrEnclave),
      mrSigner: h(b.mrSigner),
      reportData: h(b.reportData),
      isvProdId: b.isvProdId,
      isvSvn: b.isvSvn,
      attributes: h(b.attributes),
    }
  }
  const b = quote.body
  return {
    mrTd: h(b.mrTd),
    rtmr0: h(b.rtmr0),
    rtmr1: h(b.rtmr1),
    rtmr2: h(b.rtmr2),
    rtmr3: h(b.rtmr3),
    reportData: h(b.reportData),
    mrConfigId: h(b.mrConfigId),
    mrOwner: h(b.mrOwner),
    mrOwnerConfig: h(b.mrOwnerConfig),
    mrSeam: h(b.mrSeam),
    tdAttributes: h(b.tdAttributes),
    xfam: h(b.xfam),
    teeTcbSvn: h(b.teeTcbSvn),
    ...(b.type === 'td15' ? { mrServiceTd: h(b.mrServiceTd) } : {}),
  }
}

/** The PCK leaf certificate is not a parsable X.509 certificate. */
export class InvalidCertificateError extends BaseError {
  override name = 'Verify.InvalidCertificateError'
  constructor({ cause }: { cause: unknown }) {
    super('The PCK certificate is not a valid X.509 certificate.', { cause })
  }
}
