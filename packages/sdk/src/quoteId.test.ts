// quoteId against real devnet quotes: every re-encoding attest still verifies (s → n − s in either ECDSA signature,
// other PEM whitespace) keeps the id; another report changes it.
import { p256 } from '@noble/curves/nist'
import { Quote, verifyQuoteSync } from '@regent-tee/attest'
import { DevnetCollateral, DevnetPki, DevnetQe, DevnetTd } from '@regent-tee/devnet'
import { keccak256 } from 'viem'
import { describe, expect, test } from 'vitest'
import { quoteId } from './quoteId.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const collateral = DevnetCollateral.issue(pki)
const trustedRoots = [DevnetPki.trustedRoot(pki)]
const td = DevnetTd.create()
const quoteOf = (reportData: number) =>
  DevnetQe.quote(qe, { tdReport: DevnetTd.report(td, { reportData: new Uint8Array(64).fill(reportData) }) })

/** The same quote with the 64-byte r‖s at `offset` replaced by r‖(n − s): the other valid ECDSA signature. */
function malleate(quote: Uint8Array, offset: number): Uint8Array {
  const out = Uint8Array.from(quote)
  const s = BigInt(`0x${Buffer.from(out.subarray(offset + 32, offset + 64)).toString('hex')}`)
  out.set(Buffer.from((p256.CURVE.n - s).toString(16).padStart(64, '0'), 'hex'), offset + 32)
  return out
}

describe('quoteId', () => {
  test('default: keccak256 of header ‖ body (what the attestation key signed)', () => {
    const quote = quoteOf(1)
    expect(quoteId(quote)).toBe(keccak256(quote.subarray(0, 632)))
    expect(quoteId(`0x${Buffer.from(quote).toString('hex')}`)).toBe(quoteId(quote))
    expect(quoteId(quoteOf(2))).not.toBe(quoteId(quote))
  })

  test('behavior: s → n − s in the quote signature or the QE report signature verifies and keeps the id', () => {
    const quote = quoteOf(3)
    const parsed = Quote.parse(quote)
    const signature = Quote.signedLength(parsed) + 4 // after the u32 signature-data size
    const qeReportSignature = signature + 64 + 64 + 6 + 384 // signature, attestation key, cert type + size, QE report
    for (const offset of [signature, qeReportSignature]) {
      const other = malleate(quote, offset)
      expect(Buffer.compare(other, quote)).not.toBe(0)
      expect(verifyQuoteSync(other, { collateral, now: new Date(), trustedRoots }).ok).toBe(true)
      expect(keccak256(other)).not.toBe(keccak256(quote)) // a raw hash would name two ids for one attestation
      expect(quoteId(other)).toBe(quoteId(quote))
    }
  })

  test('behavior: another PEM encoding of the same certificate chain keeps the id', () => {
    const quote = quoteOf(4)
    const text = Buffer.from(quote).toString('latin1')
    const other = new Uint8Array(Buffer.from(text.replace('-----END CERTIFICATE-----\n', '-----END CERTIFICATE-----\r'), 'latin1'))
    expect(Buffer.compare(other, quote)).not.toBe(0)
    expect(verifyQuoteSync(other, { collateral, now: new Date(), trustedRoots }).ok).toBe(true)
    expect(quoteId(other)).toBe(quoteId(quote))
  })
})
