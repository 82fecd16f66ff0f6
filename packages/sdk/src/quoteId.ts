/**
 * The identifier of an attestation quote (docs/protocol.md "Quote id"): what the uplift records as RegentSuccession's
 * `quoteHash` (the `newRA` of `Uplift`) and what succession certificates sign.
 *
 * A quote's bytes are not unique to the attestation it carries: ECDSA signatures are malleable (s → n − s verifies as
 * well, and Intel's QVL accepts both, as @regent-tee/attest does), the PEM certificate chain tolerates other whitespace
 * and trailing NUL bytes, and none of that is covered by the quote signature. So the id is taken over exactly what the
 * attestation key signed — the header and the report body (Intel DCAP quote v3/v4/v5 layout; attest's
 * `Quote.signedRegion`) — `keccak256(header ‖ [v5 body descriptor ‖] body)`. Two quotes share an id only if they attest
 * the same TD (or enclave) report, report_data included, under the same header.
 */
import { Quote } from '@regent-tee/attest'
import { keccak256 } from 'viem'
import { fromHex, type Hex } from './internal/bytes.js'

/**
 * The quote id: keccak256 of the signed region (header ‖ body) of the quote.
 *
 * @throws attest's Quote parse errors (Quote.InvalidFieldError, …) when the bytes are not a quote.
 * @example
 * const quoteHash = quoteId(hello.quote) // the same for every re-encoding of the same signed report
 */
export function quoteId(quote: Uint8Array | Hex): Hex {
  const bytes = typeof quote === 'string' ? fromHex(quote, 'quote') : quote
  const parsed = Quote.parse(bytes)
  return keccak256(bytes.subarray(0, Quote.signedLength(parsed)))
}
