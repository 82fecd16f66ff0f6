import { readFileSync } from 'node:fs'
import qvl from '@phala/dcap-qvl'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { describe, expect, test } from 'vitest'
import * as Collateral from './Collateral.js'
import * as Quote from './Quote.js'
import { intelSgxRootCa } from './roots.js'
import type * as TcbInfo from './TcbInfo.js'
import { verifyQuoteSync } from './Verify.js'

// shared/vectors sits beside the repository clone (CI puts it there); resolved from this file.
const vectors = vectorsDir
const bin = (p: string) => new Uint8Array(readFileSync(vectors + p))
const text = (p: string) => readFileSync(vectors + p, 'utf8')
const hex = (p: string) => new Uint8Array(Buffer.from(text(p).trim().replace(/^0x/, ''), 'hex'))

const C = {
  tdxSample: 'dcap-qvl/sample/tdx_quote_collateral.json',
  sgxSample: 'dcap-qvl/sample/sgx_quote_collateral.json',
  near: 'dcap-qvl/near-gas-test/quote_collateral.json',
  outdated: 'dcap-qvl/sample/tdx_quote_outdated_collateral.json',
  solana: '_composed/automata-solana-tdx-00806f050000-2025-07_collateral.json',
  evm1025: '_composed/automata-evm1025-tdx-00806f050000-2025-10_collateral.json',
  evm0825: '_composed/automata-evm0825-sgx-00606a000000-2025-08_collateral.json',
  go2023: '_composed/go-tdx-guest-tdx-50806f000000-2023-06_collateral.json',
}
const sa = (...n: string[]) => n.map((x) => `INTEL-SA-${x}`)

type Expected = { status: TcbInfo.Status | undefined; advisoryIds: string[]; reasons: { code: string; message: string }[] }
type Row = {
  name: string
  quote: () => Uint8Array
  collateral: string
  now: number
  /** shared/vectors/README.md's result column (dcap-qvl 0.3.9 JS): status + advisories, or its error. */
  qvl: { status: string; advisoryIds: string[] } | { error: string }
  ours: Expected
}

const ok = (status: TcbInfo.Status, advisoryIds: string[] = []): Expected => ({ status, advisoryIds, reasons: [] })
const outOfDate3 = sa('00960', '00982', '00986')

/** Every quote/collateral/time row of shared/vectors/README.md. */
const rows: Row[] = [
  {
    name: 'dcap-qvl tdx_quote (v4)',
    quote: () => bin('dcap-qvl/sample/tdx_quote'),
    collateral: C.tdxSample,
    now: 1751624191,
    qvl: { status: 'UpToDate', advisoryIds: [] },
    ours: ok('UpToDate'),
  },
  {
    name: 'dcap-qvl sgx_quote (v3)',
    quote: () => bin('dcap-qvl/sample/sgx_quote'),
    collateral: C.sgxSample,
    now: 1751624924,
    qvl: { status: 'ConfigurationAndSWHardeningNeeded', advisoryIds: sa('00289', '00615') },
    ours: ok('ConfigurationAndSWHardeningNeeded', sa('00289', '00615')),
  },
  {
    name: 'dcap-qvl near-gas-test quote_hex.txt (v4)',
    quote: () => hex('dcap-qvl/near-gas-test/quote_hex.txt'),
    collateral: C.near,
    now: 1758093775,
    qvl: { status: 'UpToDate', advisoryIds: [] },
    ours: ok('UpToDate'),
  },
  {
    name: 'dcap-qvl tdx_quote_outdated (v5 TD1.5)',
    quote: () => bin('dcap-qvl/sample/tdx_quote_outdated'),
    collateral: C.outdated,
    now: 1772707803,
    qvl: { error: 'No matching TCB level found' },
    ours: {
      status: undefined,
      advisoryIds: [],
      reasons: [
        {
          code: 'tcb.level_not_found',
          message: 'TCB level not found: SGX TCB component 8 (PCK) is 3, below 5 in the lowest of 3 TCB levels.',
        },
      ],
    },
  },
  {
    name: 'automata quote_tdx.bin + solana 2025-07',
    quote: () => bin('automata-dcap-attestation/solana-tests-data/quote_tdx.bin'),
    collateral: C.solana,
    now: 1753175614,
    qvl: { status: 'OutOfDate', advisoryIds: outOfDate3 },
    ours: ok('OutOfDate', outOfDate3),
  },
  {
    name: 'automata quote_tdx.bin + evm 2025-10',
    quote: () => bin('automata-dcap-attestation/solana-tests-data/quote_tdx.bin'),
    collateral: C.evm1025,
    now: 1761920231,
    qvl: { status: 'OutOfDate', advisoryIds: outOfDate3 },
    ours: ok('OutOfDate', outOfDate3),
  },
  {
    name: 'automata quotev3.hex (SGX v3)',
    quote: () => hex('automata-dcap-attestation/rust-samples/quotev3.hex'),
    collateral: C.evm0825,
    now: 1756530546,
    qvl: { status: 'SWHardeningNeeded', advisoryIds: sa('00615') },
    ours: ok('SWHardeningNeeded', sa('00615')),
  },
  {
    name: 'go-tdx-guest quote_v5_sample.dat',
    quote: () => bin('go-tdx-guest/testdata/quote_v5_sample.dat'),
    collateral: C.outdated,
    now: 1772707803,
    qvl: { status: 'UpToDate', advisoryIds: [] },
    ours: ok('UpToDate'),
  },
  {
    // DIVERGENCE (TCB rule): TEE_TCB_SVN 04 01 07 …, top level tdxtcbcomponents 05 00 07 …. Intel QVL / go-tdx-guest
    // skip bytes 0–1 when TEE_TCB_SVN[1] > 0 (the module is judged by TDX_01: isvsvn 4 → UpToDate), so the top level
    // matches; dcap-qvl compares byte 0 (4 < 5) and falls to the OutOfDate level.
    name: 'go-tdx-guest cos-113-tdx-quote.dat (GCP)',
    quote: () => bin('go-tdx-guest/testdata/ccel/cos-113-tdx-quote.dat'),
    collateral: C.evm1025,
    now: 1761920231,
    qvl: { status: 'OutOfDate', advisoryIds: outOfDate3 },
    ours: ok('UpToDate'),
  },
  {
    name: 'dstack verifier-fixtures quote-report.json',
    quote: () => hex0x(JSON.parse(text('dstack/verifier-fixtures/quote-report.json')).quote),
    collateral: C.outdated,
    now: 1772707803,
    qvl: { status: 'UpToDate', advisoryIds: [] },
    ours: ok('UpToDate'),
  },
  {
    name: 'teekit tdx-v4-gcp.json',
    quote: () => new Uint8Array(Buffer.from(JSON.parse(text('teekit/sampleQuotes/tdx-v4-gcp.json')).tdx.quote, 'base64')),
    collateral: C.evm1025,
    now: 1761920231,
    qvl: { status: 'UpToDate', advisoryIds: [] },
    ours: ok('UpToDate'),
  },
  {
    name: 'teekit tdx-v4-edgeless.dat',
    quote: () => bin('teekit/sampleQuotes/tdx-v4-edgeless.dat'),
    collateral: C.evm1025,
    now: 1761920231,
    qvl: { status: 'OutOfDate', advisoryIds: sa('00837', '00960', '00982', '00986') },
    ours: ok('OutOfDate', sa('00837', '00960', '00982', '00986')),
  },
  {
    // DIVERGENCE (policy + TCB rule): dcap-qvl hard-codes SEPT_VE_DISABLE; ours reports it as a policy reason with the
    // TCB status still established — UpToDate under Intel's rule (same TEE_TCB_SVN 04 01 07 as cos-113).
    name: 'teekit tdx-v4-azure',
    quote: () => new Uint8Array(Buffer.from(text('teekit/sampleQuotes/tdx-v4-azure').trim(), 'base64')),
    collateral: C.evm1025,
    now: 1761920231,
    qvl: { error: 'SEPT_VE_DISABLE is not enabled' },
    ours: {
      status: 'UpToDate',
      advisoryIds: [],
      reasons: [{ code: 'policy.sept_ve_disable', message: 'TD attribute SEPT_VE_DISABLE (bit 28) is not set.' }],
    },
  },
  {
    // Policy: non-zero MRSERVICETD (TD 1.5) is a policy reason; the TCB status is OutOfDate as the README says.
    name: 'automata alibaba_quote_5.dat (v5)',
    quote: () => bin('automata-dcap-attestation/evm-assets-quotes/alibaba_quote_5.dat'),
    collateral: C.outdated,
    now: 1772707803,
    qvl: { error: 'Invalid mr service td' },
    ours: {
      status: 'OutOfDate',
      advisoryIds: sa('01036', '01079', '01099', '01103', '01111'),
      reasons: [
        {
          code: 'policy.mr_service_td',
          message:
            'MRSERVICETD is not zero (383c87d3bbb047b2d171eaca95312ede99f258088dc788f6ae2ccf8b6dd848fe8d47629e08b3f6cbd4a00dd47a5a033d).',
        },
      ],
    },
  },
  {
    name: 'automata tdx_quote_5.dat (v5)',
    quote: () => bin('automata-dcap-attestation/evm-assets-quotes/tdx_quote_5.dat'),
    collateral: C.outdated,
    now: 1772707803,
    qvl: { error: 'No matching TCB level found' },
    ours: {
      status: undefined,
      advisoryIds: [],
      reasons: [
        {
          code: 'tcb.level_not_found',
          message: 'TCB level not found: SGX TCB component 1 (PCK) is 1, below 2 in the lowest of 3 TCB levels.',
        },
        {
          code: 'policy.mr_service_td',
          message:
            'MRSERVICETD is not zero (383c87d3bbb047b2d171eaca95312ede99f258088dc788f6ae2ccf8b6dd848fe8d47629e08b3f6cbd4a00dd47a5a033d).',
        },
      ],
    },
  },
  {
    name: 'go-tdx-guest tdx_prod_quote_SPR_E4.dat (pre-production CPU)',
    quote: () => bin('go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat'),
    collateral: C.go2023,
    now: 1687939438,
    qvl: { error: 'No matching TCB level found' },
    ours: {
      status: undefined,
      advisoryIds: [],
      reasons: [
        {
          code: 'tcb.level_not_found',
          message: 'TCB level not found: SGX TCB component 1 (PCK) is 3, below 5 in the lowest of 2 TCB levels.',
        },
        { code: 'policy.sept_ve_disable', message: 'TD attribute SEPT_VE_DISABLE (bit 28) is not set.' },
      ],
    },
  },
  {
    name: 'dstack ra-tls-assets tdx_quote',
    quote: () => bin('dstack/ra-tls-assets/tdx_quote'),
    collateral: C.tdxSample,
    now: 1751624191,
    qvl: { error: 'No matching TCB level found' },
    ours: {
      status: undefined,
      advisoryIds: [],
      reasons: [
        {
          code: 'tcb.level_not_found',
          message: 'TCB level not found: SGX TCB component 8 (PCK) is 3, below 5 in the lowest of 2 TCB levels.',
        },
      ],
    },
  },
  {
    name: 'dcap-qvl quote-from-tappd.hex',
    quote: () => hex('dcap-qvl/sample/quote-from-tappd.hex'),
    collateral: C.tdxSample,
    now: 1751624191,
    qvl: { error: 'No matching TCB level found' },
    ours: {
      status: undefined,
      advisoryIds: [],
      reasons: [
        {
          code: 'tcb.level_not_found',
          message: 'TCB level not found: SGX TCB component 8 (PCK) is 3, below 5 in the lowest of 2 TCB levels.',
        },
      ],
    },
  },
]

function hex0x(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/^0x/, ''), 'hex'))
}

// go-tdx-guest's SPR_E4 quote carries 39 non-zero trailing bytes added by its authors (Quote.ts module doc).
const parse = (bytes: Uint8Array) => Quote.parse(bytes, { allowTrailingData: true })

function ours(row: Row, options: { tcbRule?: 'intel' | 'dcap-qvl' } = {}) {
  const collateral = Collateral.parse(text(row.collateral))
  return verifyQuoteSync(parse(row.quote()), { collateral, now: new Date(row.now * 1000), ...options })
}

function theirs(row: Row): { status: string; advisoryIds: string[] } | { error: string } {
  try {
    const r = qvl.verify(row.quote(), JSON.parse(text(row.collateral)), row.now)
    return { status: r.status, advisoryIds: r.advisory_ids }
  } catch (error) {
    return { error: (error as Error).message }
  }
}

describe('vectors: shared/vectors/README.md matrix', () => {
  for (const row of rows)
    test(row.name, () => {
      const verdict = ours(row)
      expect({ status: verdict.status, advisoryIds: verdict.advisoryIds, reasons: verdict.reasons }).toEqual(row.ours)
      expect(verdict.ok).toBe(row.ours.reasons.length === 0)
      // Every vector is a genuine Intel quote: no cryptographic reason, anchored at the Intel root.
      expect(verdict.reasons.filter((r) => !r.code.startsWith('policy.') && r.code !== 'tcb.level_not_found')).toEqual([])
      expect(verdict.root).toBe('intel')
      expect(verdict.hardware).toBe(verdict.tee)
    })
})

/**
 * Differential against @phala/dcap-qvl 0.3.9 (same quote bytes, collateral JSON and time). Every divergence:
 *
 * | vector | dcap-qvl | ours | why |
 * |---|---|---|---|
 * | go-tdx-guest cos-113 (GCP) | OutOfDate + SA-00960/00982/00986 | UpToDate | TCB rule: Intel QVL skips TEE_TCB_SVN[0..1] when [1] > 0 (module judged by TDX_01); dcap-qvl compares all 16 bytes |
 * | teekit tdx-v4-azure | error "SEPT_VE_DISABLE is not enabled" | UpToDate + policy.sept_ve_disable | dcap-qvl hard-codes the TD attribute policy; ours reports it as policy with the TCB status (Intel rule, as cos-113) |
 * | automata alibaba_quote_5 | error "Invalid mr service td" | OutOfDate + policy.mr_service_td | dcap-qvl hard-codes MRSERVICETD = 0; ours reports it as policy |
 * | automata tdx_quote_5, go-tdx-guest SPR_E4 | error "No matching TCB level found" | tcb.level_not_found + policy reasons | both reject; ours also lists the policy reasons (every reason, not the first) |
 */
const divergences: Record<string, string> = {
  'go-tdx-guest cos-113-tdx-quote.dat (GCP)': 'tcb-rule',
  'teekit tdx-v4-azure': 'policy',
  'automata alibaba_quote_5.dat (v5)': 'policy',
}

describe('differential: @phala/dcap-qvl 0.3.9', () => {
  for (const row of rows)
    test(row.name, () => {
      const them = theirs(row)
      // The README's column is what dcap-qvl does today.
      expect(them).toEqual(row.qvl)
      const verdict = ours(row)
      if ('error' in them) {
        if (divergences[row.name]) expect(verdict.reasons.every((r) => r.code.startsWith('policy.'))).toBe(true)
        else expect(verdict.reasons.map((r) => r.code)).toContain('tcb.level_not_found')
      } else if (divergences[row.name] === 'tcb-rule') expect(verdict.status).not.toBe(them.status)
      else expect({ status: verdict.status, advisoryIds: verdict.advisoryIds }).toEqual(them)
    })

  test("behavior: with dcap-qvl's TCB rule the two divergence vectors give dcap-qvl's status (the rule is the only cause)", () => {
    for (const name of ['go-tdx-guest cos-113-tdx-quote.dat (GCP)', 'teekit tdx-v4-azure']) {
      const row = rows.find((r) => r.name === name) as Row
      const verdict = ours(row, { tcbRule: 'dcap-qvl' })
      expect([name, verdict.status, verdict.advisoryIds]).toEqual([name, 'OutOfDate', outOfDate3])
    }
  })
})

describe('stricter than dcap-qvl: collateral it accepts and we reject', () => {
  const row = rows[0] as Row
  const json = () => JSON.parse(text(row.collateral)) as Collateral.Json
  const theirsWith = (collateral: Collateral.Json, now = row.now) => {
    try {
      return qvl.verify(row.quote(), collateral, now).status
    } catch (error) {
      return `error: ${(error as Error).message}`
    }
  }

  test('behavior: PCK CRL with a flipped signature byte', () => {
    const c = json()
    const der = Buffer.from(c.pck_crl, 'hex')
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0x01
    const collateral = { ...c, pck_crl: der.toString('hex') }
    expect(theirsWith(collateral)).toBe('UpToDate')
    const verdict = verifyQuoteSync(row.quote(), { collateral, now: new Date(row.now * 1000) })
    expect(verdict.ok).toBe(false)
    expect(verdict.reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "collateral.crl",
          "message": "pckCrl: CRL signature of "CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is invalid.",
        },
      ]
    `)
  })

  test('behavior: root CA CRL with a flipped signature byte', () => {
    const c = json()
    const der = Buffer.from(c.root_ca_crl, 'hex')
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0x01
    const collateral = { ...c, root_ca_crl: der.toString('hex') }
    expect(theirsWith(collateral)).toBe('UpToDate')
    expect(verifyQuoteSync(row.quote(), { collateral, now: new Date(row.now * 1000) }).reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "collateral.crl",
          "message": "rootCaCrl: CRL signature of "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is invalid.",
        },
        {
          "code": "collateral.crl",
          "message": "pckCrl: CRL signature of "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is invalid.",
        },
        {
          "code": "collateral.tcb_info",
          "message": "tcbInfo: CRL signature of "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is invalid.",
        },
        {
          "code": "collateral.qe_identity",
          "message": "qeIdentity: CRL signature of "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is invalid.",
        },
      ]
    `)
  })

  test('behavior: garbage CRL', () => {
    const collateral = { ...json(), pck_crl: '00' }
    expect(theirsWith(collateral)).toBe('UpToDate')
    expect(verifyQuoteSync(row.quote(), { collateral, now: new Date(row.now * 1000) }).reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "collateral.invalid",
          "message": "Invalid collateral: pck_crl Invalid CRL.",
        },
      ]
    `)
  })

  test('behavior: expired PCK CRL (65 s after its nextUpdate; every other part still valid)', () => {
    const collateral = json()
    expect(theirsWith(collateral, 1752919300)).toBe('UpToDate')
    expect(verifyQuoteSync(row.quote(), { collateral, now: new Date(1752919300_000) }).reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "collateral.expired",
          "message": "pckCrl: CRL of "CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" expired: nextUpdate 2025-07-19T10:00:35.000Z is before 2025-07-19T10:01:40.000Z.",
        },
      ]
    `)
  })

  test('behavior: TCB info with a flipped byte', () => {
    const c = json()
    const collateral = { ...c, tcb_info: c.tcb_info.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18') }
    expect(collateral.tcb_info).not.toBe(c.tcb_info)
    expect(verifyQuoteSync(row.quote(), { collateral, now: new Date(row.now * 1000) }).reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "collateral.tcb_info",
          "message": "tcbInfo: TCB info signature is invalid.",
        },
      ]
    `)
  })

  test('behavior: collateral outside its window (before and after), also when passed already verified', () => {
    const collateral = json()
    expect(verifyQuoteSync(row.quote(), { collateral, now: new Date('2025-06-19T10:32:26Z') }).reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "collateral.not_yet_valid",
          "message": "qeIdentity: QE identity is not yet valid: issueDate 2025-06-19T10:32:27.000Z is after 2025-06-19T10:32:26.000Z.",
        },
      ]
    `)
    expect(verifyQuoteSync(row.quote(), { collateral, now: new Date('2025-07-19T10:00:36Z') }).reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "collateral.expired",
          "message": "pckCrl: CRL of "CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" expired: nextUpdate 2025-07-19T10:00:35.000Z is before 2025-07-19T10:00:36.000Z.",
        },
      ]
    `)
    const verified = Collateral.verify(Collateral.parse(collateral), { now: new Date(row.now * 1000), trustedRoots: [intelSgxRootCa] })
    expect(verifyQuoteSync(row.quote(), { collateral: verified, now: new Date(row.now * 1000) }).ok).toBe(true)
    expect(verifyQuoteSync(row.quote(), { collateral: verified, now: new Date('2025-07-19T10:00:36Z') }).reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "collateral.expired",
          "message": "Collateral expired at 2025-07-19T10:00:35.000Z (now 2025-07-19T10:00:36.000Z).",
        },
      ]
    `)
  })
})
