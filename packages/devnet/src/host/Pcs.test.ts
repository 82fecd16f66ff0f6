/**
 * The devnet PCS against the real collateral client (`Collateral.fetch` of @regent-tee/attest) over HTTP on the
 * host API: the PCS API v4 paths, `update=early|standard`, and the devnet-only control (TCB status, a TCB recovery in
 * progress, expiring and expired collateral), with a real devnet quote verified under each answer.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Collateral, verifyQuote } from '@regent-tee/attest'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createCvm } from '../cvm/Cvm.js'
import { createLocalKeyProvider } from '../cvm/KeyProvider.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import { createHost, type Host } from './Host.js'
import { type HostServer, startHostServer } from './HostServer.js'

let dir: string
let host: Host
let server: HostServer
let quote: Uint8Array
const fmspc = DevnetPki.devnetFmspc

const fetchCollateral = (update?: 'early' | 'standard') =>
  Collateral.fetch({ pccsUrl: server.url, fmspc, ca: 'platform', tee: 'tdx', ...(update ? { update } : {}) })
const verdictOf = async (collateral: Collateral.Collateral, now = new Date()) =>
  verifyQuote(quote, { collateral, now, trustedRoots: [host.trustedRoot] })
const control = async (body: unknown, init: RequestInit = {}) => {
  const res = await fetch(`${server.url}/v1/devnet/pcs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } }
}
const get = async (path: string) => {
  const res = await fetch(`${server.url}${path}`)
  return { status: res.status, headers: res.headers, text: await res.text() }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-pcs-'))
  const pki = DevnetPki.create()
  const keyProvider = createLocalKeyProvider({ pki })
  host = createHost({ dir, rpcUrl: 'http://127.0.0.1:9', keyProvider, pki, hostUrl: () => server.url })
  server = await startHostServer(host)
  const cvm = await createCvm({ compose: new TextEncoder().encode('{"name":"pcs-probe"}'), qe: host.qe, keyProvider })
  quote = cvm.quote({ reportData: new Uint8Array(64) }).quote
})
afterAll(async () => {
  await server?.close()
  await host?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('devnet PCS', () => {
  test('default: the PCS API v4 paths give the host collateral byte for byte, early and standard alike, and the quote is UpToDate', async () => {
    const standard = await fetchCollateral()
    expect(Collateral.toJson(standard)).toEqual(host.collateral)
    expect(Collateral.toJson(await fetchCollateral('standard'))).toEqual(host.collateral)
    expect(Collateral.toJson(await fetchCollateral('early'))).toEqual(host.collateral)
    const verdict = await verdictOf(standard)
    expect([verdict.ok, verdict.hardware, verdict.status, verdict.advisoryIds]).toEqual([true, 'devnet', 'UpToDate', []])
    const pem = await get('/sgx/certification/v4/pckcrl?ca=platform&encoding=pem')
    expect(pem.status).toBe(200)
    expect(pem.text).toMatch(/^-----BEGIN X509 CRL-----\n/)
    expect(decodeURIComponent(pem.headers.get('SGX-PCK-CRL-Issuer-Chain') ?? '')).toBe(host.collateral.pck_crl_issuer_chain)
    expect((await fetch(`${server.url}/v1/devnet/pcs`).then((r) => r.json())) as unknown).toEqual({
      tcb: { status: 'UpToDate', advisoryIds: [] },
      early: null,
      nextUpdate: null,
      tcbEvaluationDataNumber: { standard: 17, early: 17 },
      version: 0,
    })
  })

  test('behavior: the control makes the TCB info say OutOfDate with an advisory; /v1/collateral agrees; reset restores the boot collateral', async () => {
    const r = await control({ tcb: { status: 'OutOfDate', advisoryIds: ['DEVNET-SA-00002'] } })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ tcb: { status: 'OutOfDate', advisoryIds: ['DEVNET-SA-00002'] }, early: null, version: 1 })
    const verdict = await verdictOf(await fetchCollateral())
    expect([verdict.verified, verdict.status, verdict.advisoryIds]).toEqual([true, 'OutOfDate', ['DEVNET-SA-00002']])
    const served = Collateral.parse(await fetch(`${server.url}/v1/collateral`).then((res) => res.text()))
    expect((await verdictOf(served)).status).toBe('OutOfDate')
    expect((await control({ reset: true })).body).toMatchObject({ tcb: { status: 'UpToDate' }, version: 2 })
    expect(Collateral.toJson(await fetchCollateral())).toEqual(host.collateral)
  })

  test('behavior: a TCB recovery in progress: early TCB info rates the platform OutOfDate under the next evaluation number, standard still UpToDate', async () => {
    await control({ early: { status: 'OutOfDate', advisoryIds: ['DEVNET-SA-00003'] } })
    const [standard, early] = [await fetchCollateral('standard'), await fetchCollateral('early')]
    expect([standard.tcbInfo.tcbEvaluationDataNumber, early.tcbInfo.tcbEvaluationDataNumber]).toEqual([17, 18])
    expect([(await verdictOf(standard)).status, (await verdictOf(early)).status]).toEqual(['UpToDate', 'OutOfDate'])
    expect((await verdictOf(early)).advisoryIds).toEqual(['DEVNET-SA-00003'])
    // The same TCB info by its evaluation data number; the two selectors together are refused, as Intel's PCS does.
    const byNumber = await get(`/tdx/certification/v4/tcb?fmspc=${fmspc}&tcbEvaluationDataNumber=18`)
    expect(byNumber.text).toBe(`{"tcbInfo":${early.tcbInfo.text},"signature":"${Buffer.from(early.tcbInfoSignature).toString('hex')}"}`)
    const both = await get(`/tdx/certification/v4/tcb?fmspc=${fmspc}&update=early&tcbEvaluationDataNumber=18`)
    expect([both.status, JSON.parse(both.text)]).toEqual([
      400,
      { error: { code: 'invalid_request', message: '"update" and "tcbEvaluationDataNumber" cannot be used together' } },
    ])
    expect((await get(`/tdx/certification/v4/tcb?fmspc=${fmspc}&tcbEvaluationDataNumber=16`)).status).toBe(404)
    await control({ early: null })
    expect(Collateral.toJson(await fetchCollateral('early'))).toEqual(host.collateral)
  })

  test('behavior: collateral that expires soon still verifies until its nextUpdate; expired collateral fails with collateral.expired', async () => {
    const soon = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * 86_400_000)
    await control({ nextUpdate: soon.toISOString() })
    const expiring = await fetchCollateral()
    expect(Collateral.verify(expiring, { now: new Date(), trustedRoots: [host.trustedRoot] }).nextUpdate).toEqual(soon)
    expect((await verdictOf(expiring)).ok).toBe(true)
    const past = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000)
    await control({ nextUpdate: past.toISOString() })
    const expired = await fetchCollateral()
    expect([expired.tcbInfo.nextUpdate, expired.qeIdentity.nextUpdate, expired.pckCrl.nextUpdate, expired.rootCaCrl.nextUpdate]).toEqual([
      past,
      past,
      past,
      past,
    ])
    const verdict = await verdictOf(expired)
    expect(verdict.ok).toBe(false)
    expect(verdict.reasons.map((r) => r.code)).toContain('collateral.expired')
    await control({ reset: true })
  })

  test('behavior: bad control input answers 4xx naming the problem and changes nothing', async () => {
    const before = (await fetch(`${server.url}/v1/devnet/pcs`).then((r) => r.json())) as { version: number }
    const cases: [unknown, number, string][] = [
      [
        { tcb: { status: 'Fine' } },
        400,
        '"tcb.status" must be one of UpToDate, SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate, OutOfDateConfigurationNeeded, Revoked',
      ],
      [
        { tcb: { status: 'OutOfDate', advisoryIds: ['<script>'] } },
        400,
        '"tcb.advisoryIds" must be at most 32 advisory ids like DEVNET-SA-00002',
      ],
      [{ tcb: { status: 'OutOfDate', extra: 1 } }, 400, 'unknown field "tcb.extra"'],
      [{ early: 'OutOfDate' }, 400, '"early" must be an object { status, advisoryIds? }'],
      [{ nextUpdate: 'tomorrow' }, 400, '"nextUpdate" must be an ISO time (UTC, …Z) within ten years of now, or null'],
      [{ nextUpdate: '2999-01-01T00:00:00Z' }, 400, '"nextUpdate" must be an ISO time (UTC, …Z) within ten years of now, or null'],
      [{ reset: false }, 400, '"reset" must be true when given'],
      [{ expire: true }, 400, 'unknown field "expire"'],
      [[], 400, 'the body must be a JSON object'],
      ['{"tcb":', 400, 'The request body is not valid JSON.'],
    ]
    for (const [body, status, message] of cases) {
      const r = await control(body)
      expect([r.status, r.body.error?.message], JSON.stringify(body)).toEqual([status, message])
    }
    const text = await control('{}', { headers: { 'content-type': 'text/plain' } })
    expect([text.status, text.body.error?.code]).toEqual([415, 'request.media_type'])
    const huge = await control(JSON.stringify({ tcb: { status: 'OutOfDate', advisoryIds: ['A'.repeat(70_000)] } }))
    expect([huge.status, huge.body.error?.code]).toEqual([413, 'request.too_large'])
    expect(await fetch(`${server.url}/v1/devnet/pcs`).then((r) => r.json())).toEqual(before)
    expect(Collateral.toJson(await fetchCollateral())).toEqual(host.collateral)
  })

  test('behavior: bad PCS requests answer as Intel PCS does (status, Error-Code) with the JSON error body', async () => {
    const cases: [string, number, string][] = [
      ['/tdx/certification/v4/tcb', 400, '"fmspc" must be 6 bytes of hex'],
      ['/tdx/certification/v4/tcb?fmspc=00906ED50000', 404, 'no TCB info for FMSPC 00906ED50000'],
      [`/tdx/certification/v4/tcb?fmspc=${fmspc}&update=later`, 400, '"update" must be early or standard'],
      [`/tdx/certification/v4/tcb?fmspc=${fmspc}&colour=red`, 400, 'unknown parameter "colour"'],
      ['/sgx/certification/v4/tcb?fmspc=00906ED50000', 404, 'the devnet platform is a TDX platform: it has no SGX TCB info or QE identity'],
      [
        '/sgx/certification/v4/pckcrl?ca=processor&encoding=der',
        404,
        'the devnet platform has no Processor CA: its PCK certificate is issued by the Platform CA',
      ],
      ['/sgx/certification/v4/pckcrl?ca=nobody', 400, '"ca" must be processor or platform'],
      ['/tdx/certification/v4/rootcacrl', 404, 'the root CA CRL is served under /sgx/certification/v4/rootcacrl'],
    ]
    for (const [path, status, message] of cases) {
      const r = await get(path)
      expect([r.status, JSON.parse(r.text).error.message, r.headers.get('Error-Code')], path).toEqual([
        status,
        message,
        JSON.parse(r.text).error.code,
      ])
    }
    const post = await fetch(`${server.url}/tdx/certification/v4/qe/identity`, { method: 'POST' })
    expect(post.status).toBe(405)
  })
})
