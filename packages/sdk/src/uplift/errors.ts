/**
 * The refusal of the self-uplift protocol (docs/uplift.md "Refusal codes"): one error class whose `code` is the
 * first refusal code and whose `reasons` list every refusal found, so callers (and tests) switch on exact codes.
 * Messages never contain key material.
 */

/** A reason code and message. */
import type { Reason } from '@regent-tee/core'
import { BaseError } from '../errors.js'

export type { Reason }

/** A protocol step refused: nothing secret left this side (the check runs before any key or state is sealed). */
export class UpliftRefusedError extends BaseError {
  override name = 'Uplift.RefusedError'
  /** The first reason's code, e.g. `target.measurement`, `state.stale_seq`, `handshake.proof`. */
  override readonly code: string
  readonly reasons: readonly Reason[]
  constructor({ step, reasons }: { step: string; reasons: readonly Reason[] }) {
    super(`Uplift ${step} refused: ${reasons.map((r) => r.code).join(', ')}.`, {
      details: reasons.map((r) => `${r.code}: ${r.message}`).join('\n'),
      docsPath: 'docs/uplift.md#refusal-codes',
    })
    this.code = reasons[0]?.code ?? 'uplift.refused'
    this.reasons = reasons
  }
}
