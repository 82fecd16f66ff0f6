/**
 * The devnet's Intel PCS: the Provisioning Certification Service API v4 paths a verifier fetches DCAP collateral
 * from (Intel SGX and TDX DCAP "PCS API v4": `/sgx/certification/v4/pckcrl`, `/sgx/certification/v4/rootcacrl`,
 * `/tdx/certification/v4/tcb`, `/tdx/certification/v4/qe/identity`, with `update=early|standard` on the last two),
 * served by the devnet host for its one simulated platform, so that the real collateral client
 * (`Collateral.fetch` of @regent-tee/attest, or any PCCS client) runs unchanged against the devnet.
 *
 * A devnet-only control (`GET|POST /v1/devnet/pcs`) changes what it says, so that tests can cause for real what
 * Intel's service does to a deployed platform: the platform's TCB level becomes OutOfDate (or any status, with
 * advisories) in the standard TCB info; the early TCB info differs from the standard one (a TCB recovery in
 * progress: the next TCB evaluation data number already rates the platform lower); the collateral's nextUpdate
 * comes close or passes (expiring, expired collateral). Nothing here exists on a real host.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Collateral, TcbInfo } from '@regent-tee/attest'
import { HttpError, readJson } from '@regent-tee/core'
import * as DevnetCollateral from '../tdx/DevnetCollateral.js'
import type * as DevnetPki from '../tdx/DevnetPki.js'

/** A TCB level as the control sets it. */
export type Level = { status: TcbInfo.Status; advisoryIds: string[] }

/** What the devnet PCS says now (`GET /v1/devnet/pcs`). */
export type State = {
  /** The devnet platform's level in the standard TCB info. */
  tcb: Level
  /** The early TCB info's level for the platform; `null` = the early TCB info is the standard one. */
  early: Level | null
  /** nextUpdate (ISO) of the TCB info, QE identity and both CRLs; `null` = the boot collateral's window (30 days). */
  nextUpdate: string | null
  /** TCB evaluation data numbers of the standard and (when it differs) the early TCB info. */
  tcbEvaluationDataNumber: { standard: number; early: number }
  /** Increments on every change. */
  version: number
}

/** The TCB evaluation data number of the standard TCB info; the early one of a recovery in progress is one more. */
export const standardEvaluationDataNumber = 17

export type Pcs = {
  /** Answers a request if it is one of the PCS or control paths (resolves true), else leaves it (false). */
  serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>
  /** The standard collateral now (QuoteCollateralV3 JSON): what `GET /v1/collateral` serves. */
  collateral(): Collateral.Json
  /** The collateral a given `update` gives. */
  collateralFor(update: 'early' | 'standard'): Collateral.Json
  state(): State
  /** Applies a control change (the body of `POST /v1/devnet/pcs`); throws {@link ControlError} and changes nothing on bad input. */
  control(change: unknown): State
}

const day = 86_400_000
const maxBody = 64 << 10

/**
 * Creates the devnet PCS over the host's PKI; until the control changes something it serves exactly `collateral`
 * (the host's boot collateral, also what the devnet's KMS loaded).
 *
 * @example
 * const pcs = createPcs({ pki: host.pki, collateral: host.collateral })
 * pcs.control({ tcb: { status: 'OutOfDate', advisoryIds: ['DEVNET-SA-00002'] } })
 */
export function createPcs(options: { pki: DevnetPki.DevnetPki; collateral: Collateral.Json }): Pcs {
  const { pki } = options
  const initial = (): Omit<State, 'version'> => ({
    tcb: { status: 'UpToDate', advisoryIds: [] },
    early: null,
    nextUpdate: null,
    tcbEvaluationDataNumber: { standard: standardEvaluationDataNumber, early: standardEvaluationDataNumber },
  })
  let state: State = { ...initial(), version: 0 }

  const isDefault = (s: State) => s.tcb.status === 'UpToDate' && s.tcb.advisoryIds.length === 0 && s.early === null && s.nextUpdate === null
  const issue = (s: State, level: Level, number: number): Collateral.Json => {
    const now = new Date()
    const nextUpdate = s.nextUpdate === null ? undefined : new Date(s.nextUpdate)
    // A window that has already closed (expired collateral) opened 30 days before it closed.
    const issueDate =
      nextUpdate && nextUpdate.getTime() - 3_600_000 <= now.getTime() ? new Date(nextUpdate.getTime() - 30 * day) : undefined
    return DevnetCollateral.issue(pki, {
      now,
      ...(issueDate ? { issueDate } : {}),
      ...(nextUpdate ? { nextUpdate } : {}),
      platform: level,
      tcbEvaluationDataNumber: number,
      crl: { thisUpdate: issueDate ?? new Date(now.getTime() - 3_600_000), ...(nextUpdate ? { nextUpdate } : {}) },
    })
  }
  const build = (s: State) => {
    const standard = isDefault(s) ? options.collateral : issue(s, s.tcb, s.tcbEvaluationDataNumber.standard)
    const early = s.early === null ? standard : issue(s, s.early, s.tcbEvaluationDataNumber.early)
    return { version: s.version, standard, early }
  }
  let issued = build(state)

  const pcs: Pcs = {
    state: () => structuredClone(state),
    collateral: () => issued.standard,
    collateralFor: (update) => issued[update],
    control(change) {
      const next = applyChange(state, change)
      const early = next.early === null ? standardEvaluationDataNumber : standardEvaluationDataNumber + 1
      const candidate: State = {
        ...next,
        tcbEvaluationDataNumber: { standard: standardEvaluationDataNumber, early },
        version: state.version + 1,
      }
      const built = build(candidate) // a bad window throws here, before anything changes
      state = candidate
      issued = built
      return pcs.state()
    },
    async serve(req, res, url) {
      const path = url.pathname
      if (path === '/v1/devnet/pcs') {
        if (req.method === 'GET') return reply(res, 200, pcs.state())
        if (req.method !== 'POST') return fail(res, 405, 'method_not_allowed', `use GET or POST on ${path}`)
        let body: unknown
        try {
          body = await readJson(req, { limit: maxBody })
        } catch (error) {
          if (!(error instanceof HttpError)) throw error
          return fail(res, error.status, error.code, error.shortMessage)
        }
        try {
          return reply(res, 200, pcs.control(body))
        } catch (error) {
          if (error instanceof ControlError) return fail(res, error.status, error.code, error.message)
          if (error instanceof DevnetCollateral.InvalidOptionsError) return fail(res, 400, 'invalid_request', error.shortMessage)
          throw error
        }
      }
      const m = /^\/(sgx|tdx)\/certification\/v4\/(pckcrl|rootcacrl|tcb|qe\/identity)$/.exec(path)
      if (!m) return false
      if (req.method !== 'GET') return fail(res, 405, 'method_not_allowed', `use GET on ${path}`)
      const [, tee, resource] = m as unknown as [string, 'sgx' | 'tdx', string]
      try {
        servePcs(res, tee, resource, url.searchParams)
      } catch (error) {
        if (!(error instanceof ControlError)) throw error
        fail(res, error.status, error.code, error.message)
      }
      return true
    },
  }

  function servePcs(res: ServerResponse, tee: 'sgx' | 'tdx', resource: string, query: URLSearchParams): void {
    const c = issued
    if (resource === 'rootcacrl') {
      if (tee !== 'sgx') throw new ControlError(404, 'not_found', 'the root CA CRL is served under /sgx/certification/v4/rootcacrl')
      allowOnly(query, [])
      res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(Buffer.from(c.standard.root_ca_crl, 'hex'))
      return
    }
    if (resource === 'pckcrl') {
      if (tee !== 'sgx') throw new ControlError(404, 'not_found', 'the PCK CRL is served under /sgx/certification/v4/pckcrl')
      allowOnly(query, ['ca', 'encoding'])
      const ca = query.get('ca')
      const encoding = query.get('encoding') ?? 'pem'
      if (ca !== 'processor' && ca !== 'platform') throw new ControlError(400, 'invalid_request', '"ca" must be processor or platform')
      if (encoding !== 'der' && encoding !== 'pem') throw new ControlError(400, 'invalid_request', '"encoding" must be der or pem')
      if (ca === 'processor')
        throw new ControlError(
          404,
          'not_found',
          'the devnet platform has no Processor CA: its PCK certificate is issued by the Platform CA',
        )
      const der = Buffer.from(c.standard.pck_crl, 'hex')
      const body = encoding === 'der' ? der : pem('X509 CRL', der)
      res
        .writeHead(200, {
          'content-type': encoding === 'der' ? 'application/pkix-crl' : 'application/x-pem-file',
          'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(c.standard.pck_crl_issuer_chain),
        })
        .end(body)
      return
    }
    if (tee !== 'tdx')
      throw new ControlError(404, 'not_found', 'the devnet platform is a TDX platform: it has no SGX TCB info or QE identity')
    const update = query.get('update')
    if (update !== null && update !== 'early' && update !== 'standard')
      throw new ControlError(400, 'invalid_request', '"update" must be early or standard')
    if (resource === 'qe/identity') {
      allowOnly(query, ['update'])
      const j = c[update ?? 'standard']
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(j.qe_identity_issuer_chain),
        })
        .end(`{"enclaveIdentity":${j.qe_identity},"signature":"${j.qe_identity_signature}"}`)
      return
    }
    allowOnly(query, ['fmspc', 'update', 'tcbEvaluationDataNumber'])
    const fmspc = query.get('fmspc') ?? ''
    if (!/^[0-9a-fA-F]{12}$/.test(fmspc)) throw new ControlError(400, 'invalid_request', '"fmspc" must be 6 bytes of hex')
    if (fmspc.toUpperCase() !== pki.platform.fmspc) throw new ControlError(404, 'not_found', `no TCB info for FMSPC ${fmspc.toUpperCase()}`)
    const number = query.get('tcbEvaluationDataNumber')
    if (number !== null && update !== null)
      throw new ControlError(400, 'invalid_request', '"update" and "tcbEvaluationDataNumber" cannot be used together')
    let j = c[update ?? 'standard']
    if (number !== null) {
      if (!/^\d{1,6}$/.test(number)) throw new ControlError(400, 'invalid_request', '"tcbEvaluationDataNumber" must be a whole number')
      const n = Number(number)
      if (n === state.tcbEvaluationDataNumber.standard) j = c.standard
      else if (n === state.tcbEvaluationDataNumber.early) j = c.early
      else throw new ControlError(404, 'not_found', `no TCB info with tcbEvaluationDataNumber ${n}`)
    }
    res
      .writeHead(200, { 'content-type': 'application/json', 'TCB-Info-Issuer-Chain': encodeURIComponent(j.tcb_info_issuer_chain) })
      .end(`{"tcbInfo":${j.tcb_info},"signature":"${j.tcb_info_signature}"}`)
  }

  return pcs
}

/** The control's change, validated whole before anything is applied. */
function applyChange(state: State, change: unknown): Omit<State, 'version' | 'tcbEvaluationDataNumber'> {
  if (typeof change !== 'object' || change === null || Array.isArray(change))
    throw new ControlError(400, 'invalid_request', 'the body must be a JSON object')
  const c = change as Record<string, unknown>
  for (const key of Object.keys(c))
    if (!['tcb', 'early', 'nextUpdate', 'reset'].includes(key)) throw new ControlError(400, 'invalid_request', `unknown field "${key}"`)
  if (c.reset !== undefined && c.reset !== true) throw new ControlError(400, 'invalid_request', '"reset" must be true when given')
  const base = c.reset === true ? { tcb: { status: 'UpToDate' as const, advisoryIds: [] }, early: null, nextUpdate: null } : { ...state }
  const tcb = c.tcb === undefined ? base.tcb : level(c.tcb, 'tcb')
  const early = c.early === undefined ? base.early : c.early === null ? null : level(c.early, 'early')
  let nextUpdate = base.nextUpdate
  if (c.nextUpdate !== undefined) {
    if (c.nextUpdate === null) nextUpdate = null
    else {
      const t =
        typeof c.nextUpdate === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(c.nextUpdate)
          ? Date.parse(c.nextUpdate)
          : Number.NaN
      if (!Number.isFinite(t) || Math.abs(t - Date.now()) > 3650 * day)
        throw new ControlError(400, 'invalid_request', '"nextUpdate" must be an ISO time (UTC, …Z) within ten years of now, or null')
      nextUpdate = new Date(Math.floor(t / 1000) * 1000).toISOString()
    }
  }
  return { tcb, early, nextUpdate }
}

function level(value: unknown, name: string): Level {
  const v = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  if (!v) throw new ControlError(400, 'invalid_request', `"${name}" must be an object { status, advisoryIds? }`)
  for (const key of Object.keys(v))
    if (key !== 'status' && key !== 'advisoryIds') throw new ControlError(400, 'invalid_request', `unknown field "${name}.${key}"`)
  if (!TcbInfo.statuses.includes(v.status as TcbInfo.Status))
    throw new ControlError(400, 'invalid_request', `"${name}.status" must be one of ${TcbInfo.statuses.join(', ')}`)
  const ids = v.advisoryIds ?? []
  if (!Array.isArray(ids) || ids.length > 32 || !ids.every((id) => typeof id === 'string' && /^[A-Z][A-Z0-9-]{2,39}$/.test(id)))
    throw new ControlError(400, 'invalid_request', `"${name}.advisoryIds" must be at most 32 advisory ids like DEVNET-SA-00002`)
  return { status: v.status as TcbInfo.Status, advisoryIds: [...(ids as string[])] }
}

function allowOnly(query: URLSearchParams, names: readonly string[]): void {
  for (const key of query.keys()) if (!names.includes(key)) throw new ControlError(400, 'invalid_request', `unknown parameter "${key}"`)
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64')
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`
}

function reply(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`)
  return true
}

/** Errors answer as the host API does (`{ error: { code, message } }`) and as Intel PCS does (`Error-Code`, `Error-Message`). */
function fail(res: ServerResponse, status: number, code: string, message: string): true {
  res
    .writeHead(status, { 'content-type': 'application/json', 'Error-Code': code, 'Error-Message': encodeURIComponent(message) })
    .end(`${JSON.stringify({ error: { code, message } })}\n`)
  return true
}

/** A PCS or control request the devnet PCS refuses: `status` and `code` are what it answers. */
export class ControlError extends HttpError {
  override name = 'Pcs.ControlError'
}
