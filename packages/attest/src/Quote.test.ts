import { readFileSync } from 'node:fs'
import qvl from '@phala/dcap-qvl'
import { vectorsDir } from '@regent-tee/testing/vectors'
import * as fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import type * as CertificationData from './CertificationData.js'
import { BaseError } from './errors.js'
import * as Quote from './Quote.js'

const vectors = vectorsDir
const read = (path: string) => new Uint8Array(readFileSync(vectors + path))
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? new Uint8Array(0)).toString('hex')

/** Every quote in shared/vectors: how it is stored, what it must parse to. */
const cases: {
  path: string
  contents: () => Uint8Array | string
  type: Quote.Quote['type']
  version: 3 | 4 | 5
  bodyType?: 1 | 2 | 3
  trailing: number
  allowTrailingData?: true
}[] = [
  { path: 'dcap-qvl/sample/tdx_quote', contents: () => read('dcap-qvl/sample/tdx_quote'), type: 'td10', version: 4, trailing: 70 },
  { path: 'dcap-qvl/sample/sgx_quote', contents: () => read('dcap-qvl/sample/sgx_quote'), type: 'sgx', version: 3, trailing: 0 },
  {
    path: 'dcap-qvl/sample/tdx_quote_outdated',
    contents: () => read('dcap-qvl/sample/tdx_quote_outdated'),
    type: 'td15',
    version: 5,
    bodyType: 3,
    trailing: 0,
  },
  {
    path: 'dcap-qvl/sample/quote-from-tappd.hex',
    contents: () => read('dcap-qvl/sample/quote-from-tappd.hex'),
    type: 'td10',
    version: 4,
    trailing: 70,
  },
  {
    path: 'dcap-qvl/sample/tdx-quote.hex (0x-prefixed)',
    contents: () => read('dcap-qvl/sample/tdx-quote.hex'),
    type: 'td10',
    version: 4,
    trailing: 70,
  },
  {
    path: 'dcap-qvl/near-gas-test/quote_hex.txt',
    contents: () => read('dcap-qvl/near-gas-test/quote_hex.txt'),
    type: 'td10',
    version: 4,
    trailing: 70,
  },
  {
    path: 'automata-dcap-attestation/evm-assets-quotes/alibaba_quote_5.dat',
    contents: () => read('automata-dcap-attestation/evm-assets-quotes/alibaba_quote_5.dat'),
    type: 'td15',
    version: 5,
    bodyType: 3,
    trailing: 0,
  },
  {
    path: 'automata-dcap-attestation/evm-assets-quotes/tdx_quote_5.dat',
    contents: () => read('automata-dcap-attestation/evm-assets-quotes/tdx_quote_5.dat'),
    type: 'td15',
    version: 5,
    bodyType: 3,
    trailing: 0,
  },
  {
    path: 'automata-dcap-attestation/rust-samples/quotev3.hex',
    contents: () => read('automata-dcap-attestation/rust-samples/quotev3.hex'),
    type: 'sgx',
    version: 3,
    trailing: 0,
  },
  {
    path: 'automata-dcap-attestation/solana-tests-data/quote_sgx.bin',
    contents: () => read('automata-dcap-attestation/solana-tests-data/quote_sgx.bin'),
    type: 'sgx',
    version: 3,
    trailing: 0,
  },
  {
    path: 'automata-dcap-attestation/solana-tests-data/quote_tdx.bin',
    contents: () => read('automata-dcap-attestation/solana-tests-data/quote_tdx.bin'),
    type: 'td10',
    version: 4,
    trailing: 3065,
  },
  {
    path: 'dstack/ra-tls-assets/tdx_quote',
    contents: () => read('dstack/ra-tls-assets/tdx_quote'),
    type: 'td10',
    version: 4,
    trailing: 70,
  },
  {
    path: 'dstack/verifier-fixtures/quote-report.json (field quote)',
    contents: () => JSON.parse(readFileSync(`${vectors}dstack/verifier-fixtures/quote-report.json`, 'utf8')).quote,
    type: 'td10',
    version: 4,
    trailing: 70,
  },
  {
    path: 'dstack/verifier-fixtures/tdx-lite-getquote.json (field quote)',
    contents: () => JSON.parse(readFileSync(`${vectors}dstack/verifier-fixtures/tdx-lite-getquote.json`, 'utf8')).quote,
    type: 'td10',
    version: 4,
    trailing: 70,
  },
  {
    path: 'go-tdx-guest/testdata/ccel/cos-113-tdx-quote.dat',
    contents: () => read('go-tdx-guest/testdata/ccel/cos-113-tdx-quote.dat'),
    type: 'td10',
    version: 4,
    trailing: 3065,
  },
  {
    path: 'go-tdx-guest/testdata/quote_v5_sample.dat',
    contents: () => read('go-tdx-guest/testdata/quote_v5_sample.dat'),
    type: 'td15',
    version: 5,
    bodyType: 3,
    trailing: 0,
  },
  {
    path: 'go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat (allowTrailingData)',
    contents: () => read('go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat'),
    type: 'td10',
    version: 4,
    trailing: 39,
    allowTrailingData: true,
  },
  {
    path: 'teekit/sampleQuotes/tdx-v4-azure (base64)',
    contents: () => read('teekit/sampleQuotes/tdx-v4-azure'),
    type: 'td10',
    version: 4,
    trailing: 70,
  },
  {
    path: 'teekit/sampleQuotes/tdx-v4-gcp.json (field tdx.quote, base64)',
    contents: () => JSON.parse(readFileSync(`${vectors}teekit/sampleQuotes/tdx-v4-gcp.json`, 'utf8')).tdx.quote,
    type: 'td10',
    version: 4,
    trailing: 3065,
  },
  {
    path: 'teekit/sampleQuotes/tdx-v4-edgeless.dat',
    contents: () => read('teekit/sampleQuotes/tdx-v4-edgeless.dat'),
    type: 'td10',
    version: 4,
    trailing: 0,
  },
  {
    path: 'teekit/sampleQuotes/tdx-v4-moemahhouk.dat',
    contents: () => read('teekit/sampleQuotes/tdx-v4-moemahhouk.dat'),
    type: 'td10',
    version: 4,
    trailing: 70,
  },
  {
    path: 'teekit/sampleQuotes/tdx-v4-trustee.dat',
    contents: () => read('teekit/sampleQuotes/tdx-v4-trustee.dat'),
    type: 'td10',
    version: 4,
    trailing: 0,
  },
]

/** The raw bytes of a vector, decoded independently of Quote.fromFileContents. */
function rawBytes(contents: Uint8Array | string): Uint8Array {
  const text = typeof contents === 'string' ? contents : Buffer.from(contents).toString('latin1')
  if (typeof contents !== 'string' && contents[1] === 0 && contents[2] === 2) return contents
  const t = text.trim().replace(/^0x/, '')
  return new Uint8Array(/^[0-9a-fA-F]+$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64'))
}

describe('vectors', () => {
  test.each(cases)('$path', (c) => {
    const contents = c.contents()
    const bytes = rawBytes(contents)
    const quote = Quote.fromFileContents(contents, c.allowTrailingData ? { allowTrailingData: true } : {})
    expect(quote.type).toBe(c.type)
    expect(quote.header.version).toBe(c.version)
    expect(quote.header.teeType).toBe(c.type === 'sgx' ? 0 : 0x81)
    if (c.bodyType) expect(Quote.bodyTypes[quote.type]).toBe(c.bodyType)
    expect(quote.trailing.length).toBe(c.trailing)
    expect(hex(quote.header.qeVendorId)).toBe(hex(Quote.intelQeVendorId))
    expect(Quote.serialize(quote)).toEqual(bytes)
    expect(Quote.pckCertChain(quote)).toHaveLength(3)
    expect(Quote.signedLength(quote)).toBe({ 3: 432, 4: 632, 5: c.type === 'td15' ? 702 : 638 }[c.version])
    expect(Quote.signedRegion(quote)).toEqual(bytes.subarray(0, Quote.signedLength(quote)))
  })

  test('behavior: go-tdx-guest tdx_prod_quote_SPR_E4.dat has non-zero trailing bytes, rejected by default', () => {
    expect(() => Quote.parse(read('go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat'))).toThrowErrorMatchingInlineSnapshot(`
      [Quote.TrailingBytesError: Non-zero trailing byte at offset 4935: the quote ends at 4935 and only zero padding may follow (39 trailing bytes).

      Pass \`allowTrailingData: true\` to keep arbitrary trailing bytes.]
    `)
  })
})

describe('differential: @phala/dcap-qvl 0.3.9 Quote.parse', () => {
  test.each(cases)('$path', (c) => {
    const bytes = rawBytes(c.contents())
    const ours = Quote.parse(bytes, { allowTrailingData: true })
    const theirs = qvl.Quote.parse(bytes)
    expect(ours.header.version).toBe(theirs.header.version)
    expect(ours.header.teeType).toBe(theirs.header.teeType)
    expect(ours.type).toBe(theirs.report.type)
    expect(hex(ours.header.userData)).toBe(hex(theirs.header.userData))
    expect(hex(Quote.reportData(ours))).toBe(
      hex(theirs.report.type === 'sgx' ? theirs.report.asSgx()?.reportData : theirs.report.asTd10()?.reportData),
    )
    if (ours.type !== 'sgx') {
      const td = theirs.report.asTd10()
      expect(hex(Quote.mrTd(ours))).toBe(hex(td?.mrTd))
      expect(Quote.rtmrs(ours)?.map(hex)).toEqual([td?.rtMr0, td?.rtMr1, td?.rtMr2, td?.rtMr3].map(hex))
      expect(hex(Quote.teeTcbSvn(ours))).toBe(hex(td?.teeTcbSvn))
      expect(hex(Quote.tdAttributes(ours))).toBe(hex(td?.tdAttributes))
    } else expect(hex(ours.body.mrEnclave)).toBe(hex(theirs.report.asSgx()?.mrEnclave))
    if (ours.type === 'td15') expect(hex(Quote.mrServiceTd(ours))).toBe(hex(theirs.report.asTd15()?.mrServiceTd))
    const auth = theirs.authData.intoV3()
    expect(hex(Quote.qeReportBytes(ours))).toBe(hex(auth.qeReport))
    expect(hex(ours.signatureData.qeReportSignature)).toBe(hex(auth.qeReportSignature))
    expect(hex(ours.signatureData.qeAuthData)).toBe(hex(auth.qeAuthData))
    expect(hex(ours.signatureData.signature)).toBe(hex(auth.ecdsaSignature))
    expect(hex(ours.signatureData.attestationKey)).toBe(hex(auth.ecdsaAttestationKey))
    const cd = ours.signatureData.certificationData
    expect(cd.type).toBe(5)
    if (cd.type === 5) expect(hex(cd.pem)).toBe(hex(theirs.rawCertChain()))
    expect(Quote.pckCertChainPem(ours)).toBe(Buffer.from(theirs.rawCertChain()).toString('latin1').replace(/\0+$/, ''))
    expect(Quote.signedLength(ours)).toBe(theirs.signedLength())
  })
})

const tdx = () => read('dcap-qvl/sample/tdx_quote')
const sgx = () => read('dcap-qvl/sample/sgx_quote')
const v5 = () => read('dcap-qvl/sample/tdx_quote_outdated')
const patch = (bytes: Uint8Array, offset: number, ...values: number[]) => {
  const out = bytes.slice()
  out.set(values, offset)
  return out
}
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]

describe('parse errors', () => {
  test('behavior: wrong version', () => {
    expect(() => Quote.parse(patch(tdx(), 0, 6))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "header.version" at offset 0: unsupported version 6 (expected 3, 4 or 5).]`,
    )
  })
  test('behavior: attestation key type 3', () => {
    expect(() => Quote.parse(patch(tdx(), 2, 3))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "header.attestationKeyType" at offset 2: unsupported attestation key type 3 (expected 2, ECDSA-256-with-P-256).]`,
    )
  })
  test('behavior: non-Intel QE vendor id', () => {
    expect(() => Quote.parse(patch(tdx(), 12, 0))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "header.qeVendorId" at offset 12: not Intel's QE vendor id (expected 939a7233f79c4ca9940a0db3957f0607, got 009a7233f79c4ca9940a0db3957f0607).]`,
    )
  })
  test('behavior: v3 with TDX TEE type', () => {
    expect(() => Quote.parse(patch(sgx(), 4, 0x81))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "header.teeType" at offset 4: version 3 quotes are SGX only (TEE type 0x0), got 0x81.]`,
    )
  })
  test('behavior: unknown TEE type', () => {
    expect(() => Quote.parse(patch(tdx(), 4, 0x82))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "header.teeType" at offset 4: unknown TEE type 0x82 (expected 0x0 or 0x81).]`,
    )
  })
  test('behavior: v5 TEE type does not match body type', () => {
    expect(() => Quote.parse(patch(v5(), 4, 0))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "header.teeType" at offset 4: TEE type 0x0 does not match body type 3.]`,
    )
  })
  test('behavior: v5 unknown body type', () => {
    expect(() => Quote.parse(patch(v5(), 48, 4))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "body.type" at offset 48: unknown body type 4 (expected 1, 2 or 3).]`,
    )
  })
  test('behavior: v5 body size not the type size', () => {
    expect(() => Quote.parse(patch(v5(), 50, ...u32(584)))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "body.size" at offset 50: body type 3 requires 648 bytes, got 584.]`,
    )
  })
  test('behavior: truncated header', () => {
    expect(() => Quote.parse(tdx().subarray(0, 30))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.TruncatedError: Truncated quote: field "header.userData" at offset 28 needs 20 bytes, but only 2 remain.]`,
    )
  })
  test('behavior: truncated body', () => {
    expect(() => Quote.parse(tdx().subarray(0, 100))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.TruncatedError: Truncated quote: field "body" at offset 48 needs 584 bytes, but only 52 remain.]`,
    )
  })
  test('behavior: signature data size overruns', () => {
    expect(() => Quote.parse(tdx().subarray(0, 4000))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "signatureData.size" at offset 632: declares 4300 bytes but only 3364 remain.]`,
    )
  })
  test('behavior: unknown certification data type', () => {
    expect(() => Quote.parse(patch(tdx(), 1252, 8))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid certification data field "certificationData.type" at offset 1252: unknown type 8 (expected 1–7).]`,
    )
  })
  test('behavior: v4 certification data that is not type 6', () => {
    expect(() => Quote.parse(patch(tdx(), 764, 5))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "certificationData.type" at offset 764: version 4 quotes require type 6 (QE report certification data), got 5.]`,
    )
  })
  test('behavior: certification data size that overruns', () => {
    expect(() => Quote.parse(patch(tdx(), 766, ...u32(5000)))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid certification data field "certificationData.size" at offset 766: declares 5000 bytes but only 4166 remain.]`,
    )
  })
  test('behavior: inner certification data size that overruns (v3)', () => {
    // v3: type 5 header at 432 + 4 + 64 + 64 + 384 + 64 + 2 + 32 = 1046; size at 1048.
    expect(() => Quote.parse(patch(sgx(), 1048, ...u32(3549)))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid certification data field "certificationData.size" at offset 1048: declares 3549 bytes but only 3548 remain.]`,
    )
  })
  test('behavior: nested type 6', () => {
    expect(() => Quote.parse(patch(tdx(), 1252, 6))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid certification data field "certificationData.type" at offset 1252: type 6 (QE report certification data) cannot be nested in type 6.]`,
    )
  })
  test('behavior: garbled PEM chain', () => {
    const bytes = tdx()
    const pemAt = 1258
    expect(Buffer.from(bytes.subarray(pemAt, pemAt + 27)).toString()).toBe('-----BEGIN CERTIFICATE-----')
    expect(() => Quote.parse(patch(bytes, pemAt + 100, 0x21))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid certification data field "pckCertChain" at offset 1285: certificate 1: body is not valid base64.]`,
    )
    expect(() => Quote.parse(patch(bytes, pemAt, 0x2b))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid certification data field "pckCertChain" at offset 1258: certificate 1: expected "-----BEGIN CERTIFICATE-----".]`,
    )
  })
  test('behavior: truncated PEM chain (shortened certification data, sizes adjusted)', () => {
    // Drop the last 400 bytes of the PEM chain and fix the three enclosing sizes.
    const bytes = tdx().subarray(0, 5006 - 70)
    const cut = 400
    const out = bytes.slice(0, bytes.length - cut)
    out.set(u32(4300 - cut), 632)
    out.set(u32(4166 - cut), 766)
    out.set(u32(3678 - cut), 1254)
    expect(() => Quote.parse(out)).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid certification data field "pckCertChain" at offset 4014: certificate 3: no "-----END CERTIFICATE-----" line (truncated chain?).]`,
    )
  })
  test('behavior: leftover bytes inside the signature data', () => {
    const bytes = tdx()
    expect(() => Quote.parse(patch(bytes, 632, ...u32(4301)))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid certification data field "certificationData.size" at offset 766: declares 4166 bytes but 4167 follow (1 unexplained bytes).]`,
    )
  })
  test('behavior: non-zero trailing byte', () => {
    expect(() => Quote.parse(patch(tdx(), 5000, 1))).toThrowErrorMatchingInlineSnapshot(`
      [Quote.TrailingBytesError: Non-zero trailing byte at offset 5000: the quote ends at 4936 and only zero padding may follow (70 trailing bytes).

      Pass \`allowTrailingData: true\` to keep arbitrary trailing bytes.]
    `)
  })
})

describe('fromFileContents', () => {
  test('default: binary, hex (with/without 0x, whitespace) and base64 decode to the same quote', () => {
    const bytes = tdx()
    const h = Buffer.from(bytes).toString('hex')
    const expected = Quote.parse(bytes)
    expect(Quote.fromFileContents(bytes)).toEqual(expected)
    expect(Quote.fromFileContents(h)).toEqual(expected)
    expect(Quote.fromFileContents(`0x${h.slice(0, 100)}\n  ${h.slice(100)}\n`)).toEqual(expected)
    expect(Quote.fromFileContents(new TextEncoder().encode(h.toUpperCase()))).toEqual(expected)
    expect(Quote.fromFileContents(Buffer.from(bytes).toString('base64'))).toEqual(expected)
  })
  test('behavior: says which encodings failed', () => {
    expect(() => Quote.fromFileContents(new TextEncoder().encode('{"quote": 1}'))).toThrowErrorMatchingInlineSnapshot(
      `[Quote.DecodeError: Could not decode quote file contents: not a binary quote (first bytes 7b227175); not hex (invalid character "{" at 0); not base64 (invalid character "{" at 0).]`,
    )
    expect(() => Quote.fromFileContents('abc')).toThrowErrorMatchingInlineSnapshot(
      `[Quote.DecodeError: Could not decode quote file contents: not hex (odd length 3); not base64 (length 3 is not a multiple of 4 or misplaced padding).]`,
    )
  })
})

describe('accessors', () => {
  test('default: SGX quotes have no TD fields; QE report fields', () => {
    const q = Quote.parse(sgx())
    expect(Quote.mrTd(q)).toBeUndefined()
    expect(Quote.rtmrs(q)).toBeUndefined()
    expect(Quote.qeReport(q).isvProdId).toBe(1)
    expect(Quote.qeReport(q).isvSvn).toBe(q.header.qeSvn)
    expect(Quote.mrServiceTd(Quote.parse(v5()))).toEqual(new Uint8Array(48))
    const td = Quote.parse(tdx())
    expect(Quote.qeReport(td).isvProdId).toBe(2)
    expect(hex(Quote.qeReport(td).mrSigner)).toBe('dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5')
  })
  test('behavior: encrypted-PPID certification data has no PEM chain', () => {
    const q = Quote.parse(tdx())
    const other: Quote.Quote = { ...q, signatureData: { ...q.signatureData, certificationData: { type: 3, data: new Uint8Array(404) } } }
    expect(Quote.parse(Quote.serialize(other))).toEqual(other)
    expect(() => Quote.pckCertChainPem(other)).toThrowErrorMatchingInlineSnapshot(`
      [Quote.UnsupportedCertificationDataError: The quote carries certification data type 3, not a PCK certificate chain (type 5).

      Types 2/3 (encrypted PPID) need the PCK certificate fetched from a PCCS.]
    `)
  })
})

describe('serialize', () => {
  test('behavior: inconsistent type and header are rejected', () => {
    const q = Quote.parse(tdx())
    expect(() => Quote.serialize({ ...q, header: { ...q.header, teeType: 0 } } as Quote.Quote)).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "header.teeType" at offset 4: TEE type 0x0 does not match a td10 body.]`,
    )
    expect(() =>
      Quote.serialize({ ...q, body: { ...q.body, mrTd: new Uint8Array(47) } } as Quote.Quote),
    ).toThrowErrorMatchingInlineSnapshot(
      `[Quote.InvalidFieldError: Invalid quote field "tdReport.mrTd" at offset 136: expected 48 bytes, got 47.]`,
    )
  })
})

// ---------- property tests ----------

const bytesOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const u16 = fc.integer({ min: 0, max: 0xffff })
const enclaveReport = fc.record({
  cpuSvn: bytesOf(16),
  miscSelect: fc.integer({ min: 0, max: 0xffffffff }),
  reserved1: bytesOf(28),
  attributes: bytesOf(16),
  mrEnclave: bytesOf(32),
  reserved2: bytesOf(32),
  mrSigner: bytesOf(32),
  reserved3: bytesOf(96),
  isvProdId: u16,
  isvSvn: u16,
  reserved4: bytesOf(60),
  reportData: bytesOf(64),
})
const td10Fields = {
  teeTcbSvn: bytesOf(16),
  mrSeam: bytesOf(48),
  mrSignerSeam: bytesOf(48),
  seamAttributes: bytesOf(8),
  tdAttributes: bytesOf(8),
  xfam: bytesOf(8),
  mrTd: bytesOf(48),
  mrConfigId: bytesOf(48),
  mrOwner: bytesOf(48),
  mrOwnerConfig: bytesOf(48),
  rtmr0: bytesOf(48),
  rtmr1: bytesOf(48),
  rtmr2: bytesOf(48),
  rtmr3: bytesOf(48),
  reportData: bytesOf(64),
}
/** A PEM chain of 1–3 well-formed DER SEQUENCEs (random content), optionally NUL-terminated. */
const pem = fc
  .tuple(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([contents, nul]) => {
    const blocks = contents.map((c) => {
      const der = Buffer.concat([Buffer.from([0x30, 0x82, c.length >> 8, c.length & 0xff]), Buffer.from(c)])
      const lines = der.toString('base64').match(/.{1,64}/g) ?? []
      return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
    })
    return new Uint8Array(Buffer.from(blocks.join('') + (nul ? '\0' : ''), 'latin1'))
  })
const inner: fc.Arbitrary<CertificationData.CertificationData> = fc.oneof(
  pem.map((p) => ({ type: 5 as const, pem: p })),
  fc.record({ type: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const, 7 as const), data: fc.uint8Array({ maxLength: 64 }) }),
)
const signatureData = fc.record({
  signature: bytesOf(64),
  attestationKey: bytesOf(64),
  qeReport: enclaveReport,
  qeReportSignature: bytesOf(64),
  qeAuthData: fc.uint8Array({ maxLength: 64 }),
  certificationData: inner,
})
const header = (version: 3 | 4 | 5, teeType: number) =>
  fc.record({
    version: fc.constant(version),
    attestationKeyType: fc.constant(2 as const),
    teeType: fc.constant(teeType),
    qeSvn: u16,
    pceSvn: u16,
    qeVendorId: fc.constant(Quote.intelQeVendorId.slice()),
    userData: bytesOf(20),
  })
const trailing = fc.nat({ max: 80 }).map((n) => new Uint8Array(n))
const quote: fc.Arbitrary<Quote.Quote> = fc.oneof(
  fc.record({
    type: fc.constant('sgx' as const),
    header: fc.constantFrom(3 as const, 4 as const, 5 as const).chain((v) => header(v, 0)),
    body: enclaveReport,
    signatureData,
    trailing,
  }),
  fc.record({
    type: fc.constant('td10' as const),
    header: fc.constantFrom(4 as const, 5 as const).chain((v) => header(v, 0x81)),
    body: fc.record({ type: fc.constant('td10' as const), ...td10Fields }),
    signatureData,
    trailing,
  }),
  fc.record({
    type: fc.constant('td15' as const),
    header: header(5, 0x81),
    body: fc.record({ type: fc.constant('td15' as const), ...td10Fields, teeTcbSvn2: bytesOf(16), mrServiceTd: bytesOf(48) }),
    signatureData,
    trailing,
  }),
) as fc.Arbitrary<Quote.Quote>

describe('properties', () => {
  test('behavior: parse(serialize(q)) deep-equals q for generated quotes', () => {
    fc.assert(
      fc.property(quote, (q) => {
        expect(Quote.parse(Quote.serialize(q))).toEqual(q)
      }),
      { numRuns: 300 },
    )
  })

  const originals = [tdx(), sgx(), v5()]
  const parsesOrTypedError = (input: Uint8Array) => {
    let parsed: Quote.Quote
    try {
      parsed = Quote.parse(input)
    } catch (error) {
      expect(error).toBeInstanceOf(BaseError)
      expect((error as Error).name).toMatch(/^Quote\.(TruncatedError|InvalidFieldError|TrailingBytesError)$/)
      return
    }
    expect(Quote.serialize(parsed)).toEqual(input)
  }

  test('behavior: single-byte corruptions either throw a typed error or round-trip', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, at, xor) => {
        const input = (originals[which] as Uint8Array).slice()
        const i = at % input.length
        input[i] = (input[i] as number) ^ xor
        parsesOrTypedError(input)
      }),
      { numRuns: 1000 },
    )
  })

  test('behavior: truncations either throw a typed error or round-trip', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 }), fc.nat(), (which, at) => {
        const original = originals[which] as Uint8Array
        parsesOrTypedError(original.subarray(0, at % original.length))
      }),
      { numRuns: 1000 },
    )
  })
})
