import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import * as Collateral from './Collateral.js'
import { createTrustedRoot, intelSgxRootCa, intelSgxRootCaPem } from './roots.js'

const vectors = vectorsDir
const read = (file: string) => readFileSync(`${vectors}${file}`, 'utf8')

// Collateral file, "mid" time and window (shared/vectors/README.md and _composed/README.md).
const sets: [string, number, string, string][] = [
  ['dcap-qvl/sample/tdx_quote_collateral.json', 1751624191, '2025-06-19T10:32:27Z', '2025-07-19T10:00:35Z'],
  ['dcap-qvl/sample/sgx_quote_collateral.json', 1751624924, '2025-06-19T10:56:11Z', '2025-07-19T10:01:18Z'],
  ['dcap-qvl/near-gas-test/quote_collateral.json', 1758093775, '2025-09-02T07:41:59Z', '2025-10-02T07:03:51Z'],
  ['dcap-qvl/sample/tdx_quote_outdated_collateral.json', 1772707803, '2026-02-18T10:58:51Z', '2026-03-20T10:41:15Z'],
  ['_composed/automata-solana-tdx-00806f050000-2025-07_collateral.json', 1753175614, '2025-07-07T09:20:26Z', '2025-08-06T09:06:43Z'],
  ['_composed/automata-evm1025-tdx-00806f050000-2025-10_collateral.json', 1761920231, '2025-10-19T17:48:50Z', '2025-11-12T10:45:32Z'],
  ['_composed/automata-evm0825-sgx-00606a000000-2025-08_collateral.json', 1756530546, '2025-08-15T05:41:26Z', '2025-09-14T04:36:46Z'],
  ['_composed/go-tdx-guest-tdx-50806f000000-2023-06_collateral.json', 1687939438, '2023-06-18T08:42:58Z', '2023-07-08T07:24:59Z'],
]
const trustedRoots = [intelSgxRootCa]

function failure(f: () => unknown): Collateral.VerificationError {
  try {
    f()
  } catch (error) {
    if (error instanceof Collateral.VerificationError) return error
    throw error
  }
  throw new Error('expected a Collateral.VerificationError')
}

describe('verify', () => {
  test('default: every vector collateral verifies at its mid time, and at both window edges', () => {
    for (const [file, mid, start, end] of sets) {
      const collateral = Collateral.parse(read(file))
      const verified = Collateral.verify(collateral, { now: new Date(mid * 1000), trustedRoots })
      expect([file, verified.root.name, verified.nextUpdate.toISOString()]).toEqual([file, 'intel', new Date(end).toISOString()])
      Collateral.verify(collateral, { now: new Date(start), trustedRoots })
      Collateral.verify(collateral, { now: new Date(end), trustedRoots })
    }
  })

  test('behavior: one second before and after each window fails with a typed reason', () => {
    for (const [file, , start, end] of sets) {
      const collateral = Collateral.parse(read(file))
      const before = failure(() => Collateral.verify(collateral, { now: new Date(Date.parse(start) - 1000), trustedRoots }))
      expect(before.reasons.every((r) => /NotYetValidError$/.test(r.error.name))).toBe(true)
      expect(before.reasons.length).toBeGreaterThan(0)
      const after = failure(() => Collateral.verify(collateral, { now: new Date(Date.parse(end) + 1000), trustedRoots }))
      expect(after.reasons.every((r) => /ExpiredError$/.test(r.error.name))).toBe(true)
    }
  })

  test('behavior: exact reasons for the dcap-qvl TDX sample', () => {
    const collateral = Collateral.parse(read(sets[0]?.[0] as string))
    expect(
      failure(() => Collateral.verify(collateral, { now: new Date('2025-06-19T10:32:26Z'), trustedRoots })).message,
    ).toMatchInlineSnapshot(`
      "Collateral failed verification: qeIdentity.

      qeIdentity: QE identity is not yet valid: issueDate 2025-06-19T10:32:27.000Z is after 2025-06-19T10:32:26.000Z."
    `)
    expect(
      failure(() => Collateral.verify(collateral, { now: new Date('2025-07-19T10:00:36Z'), trustedRoots })).message,
    ).toMatchInlineSnapshot(`
      "Collateral failed verification: pckCrl.

      pckCrl: CRL of "CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" expired: nextUpdate 2025-07-19T10:00:35.000Z is before 2025-07-19T10:00:36.000Z."
    `)
  })

  test('behavior: tampered tcb_info text (one byte) and a signature from another collateral', () => {
    const json = JSON.parse(read(sets[0]?.[0] as string))
    const now = new Date(1751624191_000)
    const tampered = Collateral.parse({
      ...json,
      tcb_info: json.tcb_info.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18'),
    })
    expect(failure(() => Collateral.verify(tampered, { now, trustedRoots })).message).toBe(
      'Collateral failed verification: tcbInfo.\n\ntcbInfo: TCB info signature is invalid.',
    )
    const other = JSON.parse(read(sets[1]?.[0] as string))
    const swapped = Collateral.parse({
      ...json,
      tcb_info_signature: other.tcb_info_signature,
      qe_identity_signature: other.qe_identity_signature,
    })
    expect(failure(() => Collateral.verify(swapped, { now, trustedRoots })).message).toBe(
      'Collateral failed verification: tcbInfo, qeIdentity.\n\ntcbInfo: TCB info signature is invalid.\nqeIdentity: QE identity signature is invalid.',
    )
  })

  test('behavior: untrusted anchors and the root profile signer-name rule', () => {
    const collateral = Collateral.parse(read(sets[0]?.[0] as string))
    const now = new Date(1751624191_000)
    const none = failure(() => Collateral.verify(collateral, { now, trustedRoots: [] }))
    expect(none.reasons.map((r) => r.part)).toEqual(['rootCaCrl', 'pckCrl', 'tcbInfo', 'qeIdentity'])
    expect(none.reasons[1]?.error.message).toBe(
      'Certificate chain ends at self-signed "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US", which is not a trusted root.',
    )
    const devnetProfile = createTrustedRoot({ name: 'devnet', pem: intelSgxRootCaPem, tcbSigningCommonName: 'Devnet TCB Signing' })
    expect(failure(() => Collateral.verify(collateral, { now, trustedRoots: [devnetProfile] })).message).toBe(
      'Collateral failed verification: tcbInfo, qeIdentity.\n\n' +
        'tcbInfo: TCB info signer "CN=Intel SGX TCB Signing, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is not a "Devnet TCB Signing" certificate.\n' +
        'qeIdentity: QE identity signer "CN=Intel SGX TCB Signing, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is not a "Devnet TCB Signing" certificate.',
    )
  })

  test('behavior: 2023 collateral verifies only with its own (pre-re-issue) TCB Signing chain', () => {
    const old = JSON.parse(read('_composed/go-tdx-guest-tdx-50806f000000-2023-06_collateral.json'))
    const renewed = JSON.parse(read(sets[0]?.[0] as string)).tcb_info_issuer_chain
    const collateral = Collateral.parse({ ...old, tcb_info_issuer_chain: renewed })
    expect(failure(() => Collateral.verify(collateral, { now: new Date(1687939438_000), trustedRoots })).message).toBe(
      'Collateral failed verification: tcbInfo.\n\ntcbInfo: Certificate 0 "CN=Intel SGX TCB Signing, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is not yet valid: notBefore 2025-05-06T09:25:00.000Z is after 2023-06-28T08:03:58.000Z.',
    )
  })
})

describe('parse', () => {
  test('behavior: names the bad key', () => {
    const json = JSON.parse(read(sets[0]?.[0] as string))
    expect(() => Collateral.parse({ ...json, pck_crl: undefined })).toThrowError('Invalid collateral: pck_crl must be a string')
    expect(() => Collateral.parse({ ...json, tcb_info_signature: 'abcd' })).toThrowError(
      'Invalid collateral: tcb_info_signature Signature must be 64 bytes of hex (r‖s), got 2 bytes.',
    )
    expect(() => Collateral.parse({ ...json, tcb_info: json.tcb_info.replace('"UpToDate"', '"Fine"') })).toThrowError(
      'Invalid collateral: tcb_info Invalid TCB info: tdxModuleIdentities[0].tcbLevels[0].tcbStatus has unknown value "Fine".',
    )
    expect(() =>
      Collateral.parse({ ...json, tcb_info: json.tcb_info.replace('"fmspc":"B0C06F000000"', '"fmspc":"B0C06F00"') }),
    ).toThrowError('Invalid collateral: tcb_info Invalid TCB info: fmspc must be 6 bytes of hex, got "B0C06F00".')
    expect(() => Collateral.parse({ ...json, qe_identity: json.qe_identity.replace('"isvsvn":4', '"isvsvn":-4') })).toThrowError(
      'Invalid collateral: qe_identity Invalid QE identity: tcbLevels[0].tcb.isvsvn must be an integer in [0, 65535].',
    )
    expect(Collateral.toJson(Collateral.parse(json))).toEqual(json)
  })
})

describe('fetch', () => {
  // A real HTTP server on loopback serving the dcap-qvl TDX sample the way a PCCS does.
  const json = JSON.parse(read(sets[0]?.[0] as string))
  const mode = { value: 'ok' as 'ok' | 'status' | 'header' | 'truncated' | 'silent' | 'huge' }
  const held: import('node:http').ServerResponse[] = []
  const hits: string[] = []
  let server: Server
  let pccsUrl = ''
  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      hits.push(`${url.pathname}${url.search}`)
      if (mode.value === 'status' && url.pathname.endsWith('/tcb')) return void res.writeHead(404).end('{}')
      if (mode.value === 'silent' && url.pathname.endsWith('/tcb')) return void held.push(res)
      if (mode.value === 'huge' && url.pathname.endsWith('/tcb'))
        return void res.writeHead(200).end(Buffer.alloc(Collateral.maxResponseBytes + 1, 0x20))
      if (url.pathname === '/sgx/certification/v4/pckcrl') {
        res.writeHead(200, { 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(json.pck_crl_issuer_chain) })
        return void res.end(Buffer.from(json.pck_crl, 'hex'))
      }
      if (url.pathname === '/sgx/certification/v4/rootcacrl') return void res.writeHead(200).end(json.root_ca_crl)
      if (url.pathname === '/tdx/certification/v4/tcb' && url.searchParams.get('fmspc') === 'B0C06F000000') {
        const headers = mode.value === 'header' ? {} : { 'TCB-Info-Issuer-Chain': encodeURIComponent(json.tcb_info_issuer_chain) }
        const body = `{"tcbInfo":${json.tcb_info},"signature":"${json.tcb_info_signature}"}`
        return void res.writeHead(200, headers).end(mode.value === 'truncated' ? body.slice(0, 200) : body)
      }
      if (url.pathname === '/tdx/certification/v4/qe/identity') {
        res.writeHead(200, { 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(json.qe_identity_issuer_chain) })
        return void res.end(`{"enclaveIdentity":${json.qe_identity},"signature":"${json.qe_identity_signature}"}`)
      }
      res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    pccsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy()
        server.close(() => resolve())
      }),
  )

  test('default: fetched collateral equals the vector byte for byte and verifies', async () => {
    mode.value = 'ok'
    const collateral = await Collateral.fetch({ pccsUrl, fmspc: 'b0c06f000000', ca: 'platform', tee: 'tdx' })
    expect(Collateral.toJson(collateral)).toEqual(json)
    expect(Collateral.verify(collateral, { now: new Date(1751624191_000), trustedRoots }).root.name).toBe('intel')
  })

  test('behavior: update=early|standard goes on the TCB info and QE identity requests only; anything else is refused', async () => {
    mode.value = 'ok'
    hits.length = 0
    await Collateral.fetch({ pccsUrl, fmspc: 'b0c06f000000', ca: 'platform', tee: 'tdx', update: 'early' })
    expect([...hits].sort()).toEqual([
      '/sgx/certification/v4/pckcrl?ca=platform&encoding=der',
      '/sgx/certification/v4/rootcacrl',
      '/tdx/certification/v4/qe/identity?update=early',
      '/tdx/certification/v4/tcb?fmspc=B0C06F000000&update=early',
    ])
    hits.length = 0
    await Collateral.fetch({ pccsUrl, fmspc: 'b0c06f000000', ca: 'platform', tee: 'tdx', update: 'standard' })
    expect(hits.filter((h) => h.includes('update='))).toHaveLength(2)
    hits.length = 0
    const bad = { pccsUrl, fmspc: 'b0c06f000000', ca: 'platform', tee: 'tdx', update: 'late' as 'early' } as const
    await expect(Collateral.fetch(bad)).rejects.toThrowError(
      `Fetching collateral from ${pccsUrl} failed: update must be "early" or "standard", got "late".`,
    )
    expect(hits).toEqual([])
  })

  test('behavior: bad status, missing header, truncated JSON', async () => {
    const options = { pccsUrl, fmspc: 'B0C06F000000', ca: 'platform', tee: 'tdx' } as const
    mode.value = 'status'
    await expect(Collateral.fetch(options)).rejects.toThrowError(
      `Fetching collateral from ${pccsUrl}/tdx/certification/v4/tcb?fmspc=B0C06F000000 failed: HTTP status 404.`,
    )
    mode.value = 'header'
    await expect(Collateral.fetch(options)).rejects.toThrowError(
      `Fetching collateral from ${pccsUrl}/tdx/certification/v4/tcb?fmspc=B0C06F000000 failed: missing header TCB-Info-Issuer-Chain.`,
    )
    mode.value = 'truncated'
    await expect(Collateral.fetch(options)).rejects.toThrowError(
      `Fetching collateral from ${pccsUrl}/tdx/certification/v4/tcb?fmspc=B0C06F000000 failed: body is not {"tcbInfo":…,"signature":…}.`,
    )
  })

  test('behavior: a PCCS that never answers times out; an oversized body is refused', async () => {
    const options = { pccsUrl, fmspc: 'B0C06F000000', ca: 'platform', tee: 'tdx', timeoutMs: 300 } as const
    mode.value = 'silent'
    await expect(Collateral.fetch(options)).rejects.toThrowError(
      `Fetching collateral from ${pccsUrl}/tdx/certification/v4/tcb?fmspc=B0C06F000000 failed: no answer within 300 ms.`,
    )
    mode.value = 'huge'
    // Its own timeout: on a loaded machine 300 ms may not be enough for the other three requests to answer.
    await expect(Collateral.fetch({ ...options, timeoutMs: 30_000 })).rejects.toThrowError(
      `Fetching collateral from ${pccsUrl}/tdx/certification/v4/tcb?fmspc=B0C06F000000 failed: response larger than 4194304 bytes.`,
    )
  })

  test('behavior: createCache fetches once per window and refetches after nextUpdate', async () => {
    mode.value = 'ok'
    let fetches = 0
    const cache = Collateral.createCache({
      fetch: (key) => {
        fetches++
        return Collateral.fetch({ pccsUrl, ...key })
      },
      trustedRoots,
    })
    const key = { tee: 'tdx', fmspc: 'B0C06F000000', ca: 'platform' } as const
    const [a, b] = await Promise.all([cache.get(key, { now: new Date(1751624191_000) }), cache.get(key, { now: new Date(1751624191_000) })])
    const c = await cache.get(key, { now: new Date('2025-07-19T10:00:35Z') })
    expect(a).toBe(b)
    expect(c).toBe(a)
    expect(fetches).toBe(1)
    await expect(cache.get(key, { now: new Date('2025-07-19T10:00:36Z') })).rejects.toThrowError(Collateral.VerificationError)
    expect(fetches).toBe(2)
  })
})
