import { readFileSync } from 'node:fs'
import { vectorsDir } from '@regent-tee/testing/vectors'
import * as fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import * as Collateral from './Collateral.js'
import { BaseError } from './errors.js'
import * as Quote from './Quote.js'
import { intelSgxRootCa } from './roots.js'
import { verifyQuoteSync } from './Verify.js'

const vectors = vectorsDir
const bin = (p: string) => new Uint8Array(readFileSync(vectors + p))
const text = (p: string) => readFileSync(vectors + p, 'utf8')
const hex = (s: string) => new Uint8Array(Buffer.from(s.trim().replace(/^0x/, ''), 'hex'))

/** The real vector quotes that verify ok (UpToDate or otherwise) with their collateral and time. */
const cases = [
  { name: 'tdx v4', quote: bin('dcap-qvl/sample/tdx_quote'), collateral: 'dcap-qvl/sample/tdx_quote_collateral.json', now: 1751624191 },
  { name: 'sgx v3', quote: bin('dcap-qvl/sample/sgx_quote'), collateral: 'dcap-qvl/sample/sgx_quote_collateral.json', now: 1751624924 },
  {
    name: 'tdx v5 (go-tdx-guest)',
    quote: bin('go-tdx-guest/testdata/quote_v5_sample.dat'),
    collateral: 'dcap-qvl/sample/tdx_quote_outdated_collateral.json',
    now: 1772707803,
  },
  {
    name: 'tdx v4 OutOfDate (automata)',
    quote: bin('automata-dcap-attestation/solana-tests-data/quote_tdx.bin'),
    collateral: '_composed/automata-solana-tdx-00806f050000-2025-07_collateral.json',
    now: 1753175614,
  },
  {
    name: 'sgx v3 (automata)',
    quote: hex(text('automata-dcap-attestation/rust-samples/quotev3.hex')),
    collateral: '_composed/automata-evm0825-sgx-00606a000000-2025-08_collateral.json',
    now: 1756530546,
  },
].map((c) => {
  const now = new Date(c.now * 1000)
  const verified = Collateral.verify(Collateral.parse(text(c.collateral)), { now, trustedRoots: [intelSgxRootCa] })
  return { ...c, date: now, verified, signed: signedRanges(c.quote) }
})

/**
 * Byte ranges covered by a signature or the QE binding: header+body (quote signature), the quote signature itself,
 * the attestation key and QE auth data (QE binding), the QE report and its signature (PCK signature).
 */
function signedRanges(bytes: Uint8Array): [number, number][] {
  const quote = Quote.parse(bytes)
  const body = Quote.signedLength(quote)
  const sigData = body + 4
  const qeReport = sigData + 128 + (quote.header.version === 3 ? 0 : 6)
  const authSize = qeReport + 384 + 64
  return [
    [0, body],
    [sigData, sigData + 128],
    [qeReport, authSize],
    [authSize + 2, authSize + 2 + quote.signatureData.qeAuthData.length],
  ]
}

function run(c: (typeof cases)[number], bytes: Uint8Array) {
  return verifyQuoteSync(bytes, { collateral: c.verified, now: c.date })
}

describe('property: signed regions', () => {
  test('default: every unmodified vector verifies', () => {
    for (const c of cases) expect([c.name, run(c, c.quote).verified]).toEqual([c.name, true])
  })

  test('behavior: flipping any single byte inside a signed region never verifies', () => {
    for (const c of cases) {
      const positions = c.signed.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i))
      fc.assert(
        fc.property(fc.constantFrom(...positions), fc.integer({ min: 1, max: 255 }), (at, mask) => {
          const bytes = c.quote.slice()
          bytes[at] = (bytes[at] as number) ^ mask
          const verdict = run(c, bytes)
          expect(verdict.ok).toBe(false)
          expect(verdict.verified).toBe(false)
        }),
        { numRuns: 300 },
      )
    }
  })

  test('behavior: exhaustive single-bit flips of the header, QE report and both signatures of the TDX v4 vector', () => {
    const c = cases[0] as (typeof cases)[number]
    const [[, body] = [0, 0], [sig] = [0, 0], [qe] = [0, 0]] = c.signed
    const ranges: [number, number][] = [
      [0, 48],
      [48 + 520, body],
      [sig, sig + 64],
      [qe, qe + 384 + 64],
    ]
    for (const [a, b] of ranges)
      for (let at = a; at < b; at++) {
        const bytes = c.quote.slice()
        bytes[at] = (bytes[at] as number) ^ 0x01
        expect([at, run(c, bytes).verified]).toEqual([at, false])
      }
  })
})

describe('property: arbitrary corruption', () => {
  test('behavior: random mutations, truncations and extensions give a verdict (never a foreign exception); a mutated signed byte never verifies', () => {
    for (const c of cases) {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat({ max: c.quote.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
          fc.oneof(fc.constant(undefined), fc.nat({ max: c.quote.length })),
          fc.uint8Array({ maxLength: 64 }),
          (edits, cut, extension) => {
            let bytes = c.quote.slice()
            for (const [at, value] of edits) bytes[at] = value
            if (cut !== undefined) bytes = bytes.slice(0, cut)
            bytes = Uint8Array.from([...bytes, ...extension])
            let verdict: ReturnType<typeof run>
            try {
              verdict = run(c, bytes)
            } catch (error) {
              // verifyQuote turns every failure into a reason; only our typed errors could ever escape.
              expect(error).toBeInstanceOf(BaseError)
              return
            }
            const touched = edits.some(
              ([at, value]) => value !== c.quote[at] && c.signed.some(([a, b]) => at >= a && at < b && (cut === undefined || at < cut)),
            )
            if (touched) expect(verdict.ok).toBe(false)
            if (!verdict.ok) expect(verdict.reasons.length).toBeGreaterThan(0)
          },
        ),
        { numRuns: 300 },
      )
    }
  })
})
