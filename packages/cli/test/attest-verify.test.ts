import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { regent, vectors } from './cli.js'

const sample = join(vectors, 'dcap-qvl/sample')
const quote = join(sample, 'tdx_quote')
const collateral = join(sample, 'tdx_quote_collateral.json')
const mid = '1751624191' // inside the sample collateral's window (shared/vectors/README.md)

describe('regent attest verify', () => {
  test('default: a real TDX quote verifies offline; one JSON object with the documented fields; exit 0', async () => {
    const r = await regent(['attest', 'verify', quote, '--collateral', collateral, '--now', mid, '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({
      ok: true,
      status: 'UpToDate',
      advisoryIds: [],
      tee: 'tdx',
      version: 4,
      hardware: 'tdx',
      root: 'intel',
      reasons: [],
    })
    expect(Object.keys(out.measurements)).toEqual(expect.arrayContaining(['mrTd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'reportData']))
    expect(out.measurements.mrTd).toMatch(/^[0-9a-f]{96}$/)
    expect(out.measurements.reportData).toMatch(/^[0-9a-f]{128}$/)
    expect(out.collateral).toEqual({ source: 'file', nextUpdate: '2025-07-19T10:00:35.000Z' })
    expect(r.stdout.trim().split('\n')).toHaveLength(1)
  })

  test('behavior: an SGX v3 quote reports SGX measurements and its status with advisories', async () => {
    const r = await regent([
      'attest',
      'verify',
      join(sample, 'sgx_quote'),
      '--collateral',
      join(sample, 'sgx_quote_collateral.json'),
      '--now',
      '1751624924',
      '--json',
    ])
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({
      tee: 'sgx',
      version: 3,
      hardware: 'sgx',
      status: 'ConfigurationAndSWHardeningNeeded',
      advisoryIds: ['INTEL-SA-00289', 'INTEL-SA-00615'],
    })
    expect(Object.keys(out.measurements)).toEqual(expect.arrayContaining(['mrEnclave', 'mrSigner', 'reportData']))
  })

  test('behavior: hex (with and without 0x) and base64 quote files give the same verdict', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regent-cli-'))
    const bytes = readFileSync(quote)
    const files = { hex: bytes.toString('hex'), hex0x: `0x${bytes.toString('hex')}\n`, b64: bytes.toString('base64') }
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
    for (const name of Object.keys(files)) {
      const r = await regent(['attest', 'verify', join(dir, name), '--collateral', collateral, '--now', mid, '--json'])
      expect([name, r.code, JSON.parse(r.stdout).status]).toEqual([name, 0, 'UpToDate'])
    }
  })

  test('behavior: outside the collateral window the quote does not verify: exit 1 with error code', async () => {
    const r = await regent(['attest', 'verify', quote, '--collateral', collateral, '--now', '1851624191', '--json'])
    expect(r.code).toBe(1)
    const out = JSON.parse(r.stdout)
    expect(out.ok).toBe(false)
    expect(out.error.code).toBe('collateral.expired')
    expect(out.reasons.length).toBeGreaterThan(0)
  })

  test('behavior: a file that is not a quote: exit 1, error quote.invalid naming what was tried', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regent-cli-'))
    writeFileSync(join(dir, 'junk'), 'hello')
    const r = await regent(['attest', 'verify', join(dir, 'junk'), '--collateral', collateral, '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout).error.code).toBe('quote.invalid')
  })

  test('behavior: tampered signed collateral is a verification failure (exit 1, collateral.*); only a non-JSON file or a missing field is usage', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regent-cli-'))
    const good = JSON.parse(readFileSync(collateral, 'utf8')) as Record<string, string>
    const verifyWith = async (name: string, content: string) => {
      writeFileSync(join(dir, name), content)
      return regent(['attest', 'verify', quote, '--collateral', join(dir, name), '--now', mid, '--json'])
    }
    const flipped = (text: string, at: number) => `${text.slice(0, at)}${text[at] === '{' ? '[' : '{'}${text.slice(at + 1)}`
    const cases: [string, Record<string, string>, string][] = [
      ['tcb-broken.json', { ...good, tcb_info: flipped(good.tcb_info as string, 0) }, 'collateral.tcb_info'],
      ['tcb-changed.json', { ...good, tcb_info: (good.tcb_info as string).replace('"version":3', '"version":3 ') }, 'collateral.tcb_info'],
      ['crl-garbage.json', { ...good, root_ca_crl: 'deadbeef' }, 'collateral.crl'],
      ['pck-crl-garbage.json', { ...good, pck_crl: '00'.repeat(40) }, 'collateral.crl'],
      ['qe-garbage.json', { ...good, qe_identity: '{"enclaveIdentity":' }, 'collateral.qe_identity'],
      ['qe-signature.json', { ...good, qe_identity_signature: 'zz' }, 'collateral.qe_identity'],
    ]
    for (const [name, json, code] of cases) {
      const r = await verifyWith(name, JSON.stringify(json))
      expect([name, r.code, JSON.parse(r.stdout).error.code]).toEqual([name, 1, code])
    }
    const notJson = await verifyWith('not.json', '{"tcb_info": ')
    expect([notJson.code, JSON.parse(notJson.stdout).error.code]).toEqual([2, 'collateral.invalid'])
    const { tcb_info: _, ...lacking } = good
    const missing = await verifyWith('missing.json', JSON.stringify(lacking))
    expect([missing.code, JSON.parse(missing.stdout).error]).toEqual([
      2,
      {
        code: 'collateral.invalid',
        message: `${join(dir, 'missing.json')}: Invalid collateral: tcb_info must be a string`,
        hint: 'expected the QuoteCollateralV3 JSON shape (see docs/attest.md)',
      },
    ])
  })

  test('behavior: usage errors exit 2 with a one-line cause, a hint and a docs pointer', async () => {
    const badNow = await regent(['attest', 'verify', quote, '--collateral', collateral, '--now', 'yesterday'])
    expect(badNow.code).toBe(2)
    expect(badNow.stderr).toBe('error: --now takes unix seconds (digits only), got "yesterday"\ndocs: docs/cli/attest.md\n')

    const missing = await regent(['attest', 'verify', 'no-such-file', '--json'])
    expect(missing.code).toBe(2)
    expect(JSON.parse(missing.stdout)).toEqual({
      ok: false,
      error: { code: 'file.unreadable', message: 'cannot read quote file no-such-file: ENOENT' },
    })

    const badCollateral = await regent(['attest', 'verify', quote, '--collateral', quote])
    expect(badCollateral.code).toBe(2)
    expect(badCollateral.stderr).toMatch(/^error: .*tdx_quote: Invalid collateral/)
    expect(badCollateral.stderr).toContain('hint: expected the QuoteCollateralV3 JSON shape')

    const unknown = await regent(['attest', 'verify', quote, '--bogus'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toBe("error: unknown option '--bogus'\nhint: run with --help for usage and examples\n")

    const noArg = await regent(['attest', 'verify', '--json'])
    expect(noArg.code).toBe(2)
    expect(JSON.parse(noArg.stdout).error.code).toBe('usage')
  })

  test('behavior: --trust devnet without a devnet says how to start one (exit 2)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regent-cli-'))
    const r = await regent(['attest', 'verify', quote, '--collateral', collateral, '--trust', 'devnet'], { env: { REGENT_DIR: dir } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('hint: start the devnet with `regent dev up`')
  })

  test('behavior: --trust <pem file> with the Intel root bytes still anchors as hardware (bytes, not names, decide)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regent-cli-'))
    // The Intel root itself passed as a file is still Intel's bytes: hardware stays "tdx".
    const intelPem = `-----BEGIN CERTIFICATE-----\n${readFileSync(join(vectors, 'automata-dcap-attestation/solana-tests-data/root.der')).toString('base64')}\n-----END CERTIFICATE-----\n`
    writeFileSync(join(dir, 'intel.pem'), intelPem)
    const same = await regent([
      'attest',
      'verify',
      quote,
      '--collateral',
      collateral,
      '--now',
      mid,
      '--trust',
      join(dir, 'intel.pem'),
      '--json',
    ])
    expect(JSON.parse(same.stdout)).toMatchObject({ ok: true, hardware: 'tdx' })
  })

  test('behavior: without --collateral it fetches from the PCCS URL given and says so', async () => {
    const c = JSON.parse(readFileSync(collateral, 'utf8')) as Record<string, string>
    const tcbInfo = Buffer.from(`{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`)
    const qeIdentity = Buffer.from(`{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`)
    const seen: string[] = []
    const server = createServer((req, res) => {
      const url = req.url ?? ''
      seen.push(url.replace(/\?.*/, ''))
      if (url.startsWith('/sgx/certification/v4/pckcrl')) {
        res.writeHead(200, { 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(c.pck_crl_issuer_chain ?? '') })
        res.end(Buffer.from(c.pck_crl ?? '', 'hex'))
      } else if (url.startsWith('/sgx/certification/v4/rootcacrl')) res.end(c.root_ca_crl)
      else if (url.startsWith('/tdx/certification/v4/tcb')) {
        res.writeHead(200, { 'TCB-Info-Issuer-Chain': encodeURIComponent(c.tcb_info_issuer_chain ?? '') })
        res.end(tcbInfo)
      } else if (url.startsWith('/tdx/certification/v4/qe/identity')) {
        res.writeHead(200, { 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(c.qe_identity_issuer_chain ?? '') })
        res.end(qeIdentity)
      } else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const human = await regent(['attest', 'verify', quote, '--now', mid, '--pccs-url', url])
      expect(human.code).toBe(0)
      expect(human.stderr).toMatch(
        /^fetching collateral for FMSPC [0-9A-F]{12} \(tdx, (processor|platform) CA\) from http:\/\/127\.0\.0\.1:\d+\n$/,
      )
      expect(human.stdout).toContain('✓ quote verifies')
      const json = await regent(['attest', 'verify', quote, '--now', mid, '--pccs-url', url, '--json'])
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, collateral: { source: 'fetched', url } })
      expect(new Set(seen)).toEqual(
        new Set([
          '/sgx/certification/v4/pckcrl',
          '/sgx/certification/v4/rootcacrl',
          '/tdx/certification/v4/tcb',
          '/tdx/certification/v4/qe/identity',
        ]),
      )
    } finally {
      server.close()
    }
  })

  test('behavior: --help lists flags, examples and the docs page', async () => {
    const r = await regent(['attest', 'verify', '--help'])
    expect(r.code).toBe(0)
    for (const s of ['--collateral <file>', '--now <unix-seconds>', '--trust <root>', '--json', 'Examples:', 'Docs: docs/cli/attest.md'])
      expect(r.stdout).toContain(s)
  })
})
