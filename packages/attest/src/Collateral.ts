/**
 * DCAP collateral for one (TEE, FMSPC, PCK CA): root CA CRL, PCK CRL, TCB info and QE identity with their
 * signatures and issuer chains. The JSON form is @phala/dcap-qvl's "QuoteCollateralV3" (shared/vectors/README.md);
 * the signed JSON texts are kept byte-exact. Fetched from a PCCS or Intel PCS (API v4), verified fully offline
 * given a time, and cacheable until the earliest nextUpdate. dcap.md §3 steps 2–4.
 */
import type { X509Certificate } from 'node:crypto'
import * as CertChain from './CertChain.js'
import * as Crl from './Crl.js'
import { BaseError } from './errors.js'
import * as X509 from './internal/X509.js'
import * as QeIdentity from './QeIdentity.js'
import { certificateOf, type TrustedRoot } from './roots.js'
import * as TcbInfo from './TcbInfo.js'

export type Collateral = {
  readonly pckCrlIssuerChain: string
  readonly rootCaCrl: Crl.Crl
  readonly pckCrl: Crl.Crl
  readonly tcbInfoIssuerChain: string
  readonly tcbInfo: TcbInfo.TcbInfo
  /** 64 bytes r‖s. */
  readonly tcbInfoSignature: Uint8Array
  readonly qeIdentityIssuerChain: string
  readonly qeIdentity: QeIdentity.QeIdentity
  /** 64 bytes r‖s. */
  readonly qeIdentitySignature: Uint8Array
  readonly pckCertificateChain: string | undefined
}

/** The dcap-qvl QuoteCollateralV3 JSON object (byte fields as hex strings). */
export type Json = {
  pck_crl_issuer_chain: string
  root_ca_crl: string
  pck_crl: string
  tcb_info_issuer_chain: string
  tcb_info: string
  tcb_info_signature: string
  qe_identity_issuer_chain: string
  qe_identity: string
  qe_identity_signature: string
  pck_certificate_chain?: string | undefined
}

const stringKeys = [
  'pck_crl_issuer_chain',
  'root_ca_crl',
  'pck_crl',
  'tcb_info_issuer_chain',
  'tcb_info',
  'tcb_info_signature',
  'qe_identity_issuer_chain',
  'qe_identity',
  'qe_identity_signature',
] as const

/**
 * Parses QuoteCollateralV3 JSON (text or object). CRLs and signatures are hex; `tcb_info` / `qe_identity`
 * are the exact signed texts.
 *
 * @throws {InvalidCollateralError} naming the key that is missing or malformed (its cause is the field's own error).
 * @example
 * const collateral = Collateral.parse(readFileSync('tdx_quote_collateral.json', 'utf8'))
 */
export function parse(json: string | Json): Collateral {
  let obj: Record<string, unknown>
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json)
    } catch (cause) {
      throw new InvalidCollateralError({ key: '(root)', reason: 'is not valid JSON', cause })
    }
  } else obj = json as unknown as Record<string, unknown>
  if (typeof obj !== 'object' || obj === null) throw new InvalidCollateralError({ key: '(root)', reason: 'must be an object' })
  for (const key of stringKeys) if (typeof obj[key] !== 'string') throw new InvalidCollateralError({ key, reason: 'must be a string' })
  const s = obj as unknown as Json
  const field = <t>(key: string, f: () => t): t => {
    try {
      return f()
    } catch (cause) {
      if (cause instanceof BaseError) throw new InvalidCollateralError({ key, reason: cause.shortMessage, cause })
      throw cause
    }
  }
  if (obj.pck_certificate_chain !== undefined && typeof obj.pck_certificate_chain !== 'string')
    throw new InvalidCollateralError({ key: 'pck_certificate_chain', reason: 'must be a string' })
  return {
    pckCrlIssuerChain: s.pck_crl_issuer_chain,
    rootCaCrl: field('root_ca_crl', () => Crl.fromHex(s.root_ca_crl)),
    pckCrl: field('pck_crl', () => Crl.fromHex(s.pck_crl)),
    tcbInfoIssuerChain: s.tcb_info_issuer_chain,
    tcbInfo: field('tcb_info', () => TcbInfo.parse(s.tcb_info)),
    tcbInfoSignature: field('tcb_info_signature', () => signature(s.tcb_info_signature)),
    qeIdentityIssuerChain: s.qe_identity_issuer_chain,
    qeIdentity: field('qe_identity', () => QeIdentity.parse(s.qe_identity)),
    qeIdentitySignature: field('qe_identity_signature', () => signature(s.qe_identity_signature)),
    pckCertificateChain: s.pck_certificate_chain,
  }
}

/** Serialises back to QuoteCollateralV3 JSON (lowercase hex; signed texts unchanged). */
export function toJson(collateral: Collateral): Json {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
  return {
    pck_crl_issuer_chain: collateral.pckCrlIssuerChain,
    root_ca_crl: hex(collateral.rootCaCrl.der),
    pck_crl: hex(collateral.pckCrl.der),
    tcb_info_issuer_chain: collateral.tcbInfoIssuerChain,
    tcb_info: collateral.tcbInfo.text,
    tcb_info_signature: hex(collateral.tcbInfoSignature),
    qe_identity_issuer_chain: collateral.qeIdentityIssuerChain,
    qe_identity: collateral.qeIdentity.text,
    qe_identity_signature: hex(collateral.qeIdentitySignature),
    ...(collateral.pckCertificateChain === undefined ? {} : { pck_certificate_chain: collateral.pckCertificateChain }),
  }
}

function signature(hex: string): Uint8Array {
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex
  if (!/^[0-9a-fA-F]{128}$/.test(clean)) throw new BaseError(`Signature must be 64 bytes of hex (r‖s), got ${clean.length / 2} bytes.`)
  return new Uint8Array(Buffer.from(clean, 'hex'))
}

/** Collateral whose every part was verified at `now`. */
export type Verified = {
  readonly collateral: Collateral
  readonly root: TrustedRoot
  readonly tcbInfo: TcbInfo.Verified
  readonly qeIdentity: QeIdentity.Verified
  readonly rootCaCrl: Crl.Crl
  readonly pckCrl: Crl.Crl
  /** The PCK CA that signed the PCK CRL (the issuer of PCK leaf certificates for this collateral). */
  readonly pckCa: X509Certificate
  /** The earliest nextUpdate over TCB info, QE identity and both CRLs: re-fetch after this. */
  readonly nextUpdate: Date
}

export type Part = 'rootCaCrl' | 'pckCrl' | 'tcbInfo' | 'qeIdentity'

/**
 * Verifies every part of the collateral at `now` against `trustedRoots`:
 * - root CA CRL: signed by the trusted root it names, within its window;
 * - PCK CRL: its issuer chain (`pckCrlIssuerChain`) valid to the same root and unrevoked, signed by the chain's
 *   first certificate, within its window;
 * - TCB info and QE identity: see TcbInfo.verify / QeIdentity.verify.
 * All four are checked; every failure is reported.
 *
 * @throws {VerificationError} with `reasons` (part + error) for each part that failed.
 * @example
 * const verified = Collateral.verify(collateral, { now: new Date(), trustedRoots: [intelSgxRootCa] })
 */
export function verify(collateral: Collateral, options: { now: Date; trustedRoots: readonly TrustedRoot[] }): Verified {
  const { now, trustedRoots } = options
  const reasons: { part: Part; error: Error }[] = []
  const attempt = <t>(part: Part, f: () => t): t | undefined => {
    try {
      return f()
    } catch (error) {
      if (!(error instanceof Error)) throw error
      reasons.push({ part, error })
      return undefined
    }
  }
  const rootCrl = collateral.rootCaCrl
  attempt('rootCaCrl', () => {
    // The root CRL must be issued by a trusted root, and must not revoke that root (dcap.md §3 step 2).
    const root = trustedRoots.find((r) => X509.equalBytes(X509.fields(certificateOf(r)).subject, rootCrl.issuer.der))
    if (!root) throw new UntrustedCrlIssuerError({ issuer: rootCrl.issuer.text })
    CertChain.verify({ chain: [certificateOf(root)], trustedRoots: [root], now, crls: [rootCrl] })
  })
  const pckCa = attempt('pckCrl', () => {
    const chain = CertChain.verify({ chain: collateral.pckCrlIssuerChain, trustedRoots, now, crls: [rootCrl] })
    const issuer = chain.certificates[0] as X509Certificate
    Crl.verify(collateral.pckCrl, { issuer, now })
    return { issuer, root: chain.root }
  })
  const common = { trustedRoots, now, rootCrl }
  const tcbInfo = attempt('tcbInfo', () =>
    TcbInfo.verify(collateral.tcbInfo, { ...common, signature: collateral.tcbInfoSignature, issuerChain: collateral.tcbInfoIssuerChain }),
  )
  const qeIdentity = attempt('qeIdentity', () =>
    QeIdentity.verify(collateral.qeIdentity, {
      ...common,
      signature: collateral.qeIdentitySignature,
      issuerChain: collateral.qeIdentityIssuerChain,
    }),
  )
  if (reasons.length > 0 || !pckCa || !tcbInfo || !qeIdentity) throw new VerificationError({ reasons })
  const roots = new Set([pckCa.root, tcbInfo.root, qeIdentity.root])
  if (roots.size !== 1) throw new VerificationError({ reasons: [{ part: 'tcbInfo', error: new MixedRootsError() }] })
  const nextUpdate = new Date(
    Math.min(
      collateral.tcbInfo.nextUpdate.getTime(),
      collateral.qeIdentity.nextUpdate.getTime(),
      rootCrl.nextUpdate.getTime(),
      collateral.pckCrl.nextUpdate.getTime(),
    ),
  )
  return {
    collateral,
    root: pckCa.root,
    tcbInfo,
    qeIdentity,
    rootCaCrl: rootCrl,
    pckCrl: collateral.pckCrl,
    pckCa: pckCa.issuer,
    nextUpdate,
  }
}

/** The default fetch, `globalThis.fetch` (called with an abort signal for the timeout). */
export type FetchFn = (url: string, init?: { signal?: AbortSignal }) => Promise<Response>

/** Largest response body accepted from a PCCS (real TCB infos and CRLs are far below it). */
export const maxResponseBytes = 4 << 20

export type FetchOptions = {
  /** PCCS or Intel PCS base URL, e.g. `https://api.trustedservices.intel.com` (no trailing `/sgx/...`). */
  pccsUrl: string
  /** 6 bytes hex. */
  fmspc: string
  /** Which PCK CA issued the PCK certificate (PckCertificate.from(leaf).ca). */
  ca: 'processor' | 'platform'
  tee: 'tdx' | 'sgx'
  /** @default globalThis.fetch */
  fetch?: FetchFn | undefined
  /** Per-request timeout. @default 30_000 */
  timeoutMs?: number | undefined
  /**
   * Intel PCS API v4 `update` of the TCB info and QE identity: `early` is the TCB info a TCB recovery publishes
   * first (on its disclosure day), `standard` what verifiers get by default (some weeks later). Omitted: not sent
   * (the service's default, standard).
   */
  update?: 'early' | 'standard' | undefined
}

/**
 * Fetches collateral from a PCCS or Intel PCS (API v4):
 * `GET /sgx/certification/v4/pckcrl?ca=<ca>&encoding=der` (issuer chain in `SGX-PCK-CRL-Issuer-Chain`),
 * `GET /{sgx|tdx}/certification/v4/tcb?fmspc=<fmspc>` (`TCB-Info-Issuer-Chain`, or the v3 name `SGX-TCB-Info-Issuer-Chain`),
 * `GET /{sgx|tdx}/certification/v4/qe/identity` (`SGX-Enclave-Identity-Issuer-Chain`), both with `update=<update>` when given,
 * `GET /sgx/certification/v4/rootcacrl` (PCCS; DER or hex body). Issuer chains are URL-decoded; the signed
 * texts are the raw bytes between `{"tcbInfo":` / `{"enclaveIdentity":` and `,"signature":`.
 * Does not verify: call {@link verify}.
 *
 * @throws {FetchError} for network failures, non-200 statuses, missing headers or malformed bodies (names the URL).
 * @example
 * const collateral = await Collateral.fetch({ pccsUrl: 'https://pccs.example', fmspc: '00806F050000', ca: 'platform', tee: 'tdx' })
 */
export async function fetch(options: FetchOptions): Promise<Collateral> {
  const get: FetchFn = options.fetch ?? ((url, init) => globalThis.fetch(url, init))
  const timeoutMs = options.timeoutMs ?? 30_000
  const base = options.pccsUrl.replace(/\/+$/, '')
  if (!/^[0-9a-fA-F]{12}$/.test(options.fmspc))
    throw new FetchError({ url: base, reason: `FMSPC must be 6 bytes of hex, got "${options.fmspc}"` })
  const request = async (path: string): Promise<{ url: string; body: Uint8Array; headers: Headers }> => {
    const url = `${base}${path}`
    let response: Response
    try {
      response = await get(url, { signal: AbortSignal.timeout(timeoutMs) })
    } catch (cause) {
      const timedOut = (cause as { name?: string } | undefined)?.name === 'TimeoutError'
      throw new FetchError({ url, reason: timedOut ? `no answer within ${timeoutMs} ms` : 'request failed', cause })
    }
    if (Number(response.headers.get('content-length') ?? 0) > maxResponseBytes)
      throw new FetchError({ url, reason: `response larger than ${maxResponseBytes} bytes` })
    let body: Uint8Array
    try {
      body = new Uint8Array(await response.arrayBuffer())
    } catch (cause) {
      throw new FetchError({ url, reason: 'response body could not be read', cause })
    }
    if (body.length > maxResponseBytes) throw new FetchError({ url, reason: `response larger than ${maxResponseBytes} bytes` })
    if (response.status !== 200) throw new FetchError({ url, reason: `HTTP status ${response.status}` })
    return { url, body, headers: response.headers }
  }
  const header = (res: { url: string; headers: Headers }, ...names: string[]): string => {
    for (const name of names) {
      const value = res.headers.get(name)
      if (value !== null) {
        try {
          return decodeURIComponent(value)
        } catch (cause) {
          throw new FetchError({ url: res.url, reason: `header ${name} is not URL-encoded`, cause })
        }
      }
    }
    throw new FetchError({ url: res.url, reason: `missing header ${names[0]}` })
  }
  const signed = (res: { url: string; body: Uint8Array }, key: 'tcbInfo' | 'enclaveIdentity') => {
    const text = new TextDecoder().decode(res.body)
    const prefix = `{"${key}":`
    const cut = text.lastIndexOf(',"signature":')
    if (!text.startsWith(prefix) || cut < prefix.length)
      throw new FetchError({ url: res.url, reason: `body is not {"${key}":…,"signature":…}` })
    let sig: unknown
    try {
      sig = JSON.parse(`{${text.slice(cut + 1)}`).signature
    } catch (cause) {
      throw new FetchError({ url: res.url, reason: 'body is not valid JSON', cause })
    }
    if (typeof sig !== 'string') throw new FetchError({ url: res.url, reason: 'signature is not a string' })
    return { text: text.slice(prefix.length, cut), signature: sig }
  }
  const tee = options.tee
  if (options.update !== undefined && options.update !== 'early' && options.update !== 'standard')
    throw new FetchError({ url: base, reason: `update must be "early" or "standard", got "${String(options.update)}"` })
  const update = options.update === undefined ? '' : `update=${options.update}`
  const [pck, root, tcb, qe] = await Promise.all([
    request(`/sgx/certification/v4/pckcrl?ca=${options.ca}&encoding=der`),
    request('/sgx/certification/v4/rootcacrl'),
    request(`/${tee}/certification/v4/tcb?fmspc=${options.fmspc.toUpperCase()}${update ? `&${update}` : ''}`),
    request(`/${tee}/certification/v4/qe/identity${update ? `?${update}` : ''}`),
  ])
  const crlHex = (res: { url: string; body: Uint8Array }) => {
    // PCCS serves the root CA CRL as hex text; Intel serves DER.
    const text = new TextDecoder().decode(res.body).trim()
    return res.body[0] === 0x30 ? Buffer.from(res.body).toString('hex') : text
  }
  const tcbSigned = signed(tcb, 'tcbInfo')
  const qeSigned = signed(qe, 'enclaveIdentity')
  const json: Json = {
    pck_crl_issuer_chain: header(pck, 'SGX-PCK-CRL-Issuer-Chain'),
    root_ca_crl: crlHex(root),
    pck_crl: crlHex(pck),
    tcb_info_issuer_chain: header(tcb, 'TCB-Info-Issuer-Chain', 'SGX-TCB-Info-Issuer-Chain'),
    tcb_info: tcbSigned.text,
    tcb_info_signature: tcbSigned.signature,
    qe_identity_issuer_chain: header(qe, 'SGX-Enclave-Identity-Issuer-Chain'),
    qe_identity: qeSigned.text,
    qe_identity_signature: qeSigned.signature,
  }
  try {
    return parse(json)
  } catch (cause) {
    if (cause instanceof InvalidCollateralError) throw new FetchError({ url: base, reason: cause.shortMessage, cause })
    throw cause
  }
}

export type CacheKey = { readonly tee: 'tdx' | 'sgx'; readonly fmspc: string; readonly ca: 'processor' | 'platform' }

export type Cache = {
  /** Verified collateral for the key at `now` (default: the cache's clock), fetched and verified at most once per validity window. */
  get(key: CacheKey, options?: { now?: Date | undefined }): Promise<Verified>
  /** Drops every entry. */
  clear(): void
}

/**
 * Creates a cache of verified collateral per (tee, FMSPC, CA). An entry is fetched and verified once and reused
 * until its earliest nextUpdate; concurrent requests share one fetch; failures are not cached. Verifying many
 * quotes then costs only the per-quote work.
 *
 * @example
 * const cache = Collateral.createCache({ fetch: (key) => Collateral.fetch({ pccsUrl, ...key }), trustedRoots: [intelSgxRootCa] })
 * const { tcbInfo, qeIdentity } = await cache.get({ tee: 'tdx', fmspc, ca: 'platform' })
 */
export function createCache(options: {
  fetch: (key: CacheKey) => Promise<Collateral>
  trustedRoots: readonly TrustedRoot[]
  /** @default () => new Date() */
  now?: (() => Date) | undefined
}): Cache {
  const clock = options.now ?? (() => new Date())
  const entries = new Map<string, Promise<Verified>>()
  return {
    async get(key, getOptions = {}) {
      const now = getOptions.now ?? clock()
      const id = `${key.tee}:${key.fmspc.toUpperCase()}:${key.ca}`
      const pending = entries.get(id)
      if (pending) {
        const verified = await pending.catch(() => undefined)
        if (verified && now.getTime() <= verified.nextUpdate.getTime() && now.getTime() >= latestStart(verified).getTime()) return verified
        if (entries.get(id) === pending) entries.delete(id)
      }
      const promise = options.fetch(key).then((collateral) => verify(collateral, { now, trustedRoots: options.trustedRoots }))
      entries.set(id, promise)
      promise.catch(() => {
        if (entries.get(id) === promise) entries.delete(id)
      })
      return promise
    },
    clear() {
      entries.clear()
    },
  }
}

function latestStart(verified: Verified): Date {
  const c = verified.collateral
  return new Date(
    Math.max(
      c.tcbInfo.issueDate.getTime(),
      c.qeIdentity.issueDate.getTime(),
      c.rootCaCrl.thisUpdate.getTime(),
      c.pckCrl.thisUpdate.getTime(),
    ),
  )
}

/** The collateral JSON is missing a key or a part is malformed. */
export class InvalidCollateralError extends BaseError {
  override name = 'Collateral.InvalidCollateralError'
  readonly key: string
  constructor({ key, reason, cause }: { key: string; reason: string; cause?: unknown }) {
    super(`Invalid collateral: ${key} ${reason}`, { cause })
    this.key = key
  }
}

/** One or more parts of the collateral failed verification; `reasons` lists each. */
export class VerificationError extends BaseError {
  override name = 'Collateral.VerificationError'
  readonly reasons: readonly { readonly part: Part; readonly error: Error }[]
  constructor({ reasons }: { reasons: readonly { part: Part; error: Error }[] }) {
    super(`Collateral failed verification: ${reasons.map((r) => r.part).join(', ')}.`, {
      metaMessages: reasons.map((r) => `${r.part}: ${r.error instanceof BaseError ? r.error.shortMessage : r.error.message}`),
      cause: reasons[0]?.error,
    })
    this.reasons = reasons
  }
}

/** The root CA CRL is not issued by any trusted root. */
export class UntrustedCrlIssuerError extends BaseError {
  override name = 'Collateral.UntrustedCrlIssuerError'
  constructor({ issuer }: { issuer: string }) {
    super(`Root CA CRL issuer "${issuer}" is not a trusted root.`)
  }
}

/** The parts of the collateral are anchored at different trusted roots. */
export class MixedRootsError extends BaseError {
  override name = 'Collateral.MixedRootsError'
  constructor() {
    super('Collateral parts are anchored at different trusted roots.')
  }
}

/** Fetching collateral failed. */
export class FetchError extends BaseError {
  override name = 'Collateral.FetchError'
  readonly url: string
  constructor({ url, reason, cause }: { url: string; reason: string; cause?: unknown }) {
    super(`Fetching collateral from ${url} failed: ${reason}.`, { cause })
    this.url = url
  }
}
