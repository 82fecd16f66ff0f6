// How a quote verdict's reasons read for an instance another one verifies (an uplift target, a failover standby):
// one mapping, the role as the code's prefix (docs/uplift.md and docs/failover.md "Refusal codes").
import type { Verdict } from '@regent-tee/attest'

/**
 * Adds `<role>.measurement` (app, compose hash not approved), `<role>.event_log` (RTMR3 does not replay),
 * `<role>.policy` (TCB status, debug, …), `<role>.untrusted_root` (no trusted root anchors the quote: a devnet quote
 * where only Intel is trusted) and `<role>.quote` (any other DCAP failure).
 */
export function addQuoteReasons(quote: Verdict, role: 'target' | 'standby', add: (code: string, message: string) => void): void {
  const anchored = quote.root !== undefined
  for (const r of quote.reasons) {
    if (r.code === 'policy.measurement') add(`${role}.measurement`, r.message)
    else if (r.code === 'policy.event_log') add(`${role}.event_log`, r.message)
    else if (r.code.startsWith('policy.')) add(`${role}.policy`, `${r.code}: ${r.message}`)
    else if (!anchored) add(`${role}.untrusted_root`, `No trusted root anchors the quote (${r.code}: ${r.message}).`)
    else add(`${role}.quote`, `${r.code}: ${r.message}`)
  }
  if (!anchored) add(`${role}.untrusted_root`, 'No trusted root anchors the quote.')
}
