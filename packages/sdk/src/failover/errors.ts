// Failover's refusals (docs/failover.md "Refusal codes"): an HTTP status and a stable code, like every Regent refusal.
import { HttpError } from '@regent-tee/core'

/** Why this instance does not acknowledge (or serve) a request now; `canonical` is where the agent is, when known. */
export class FailoverError extends HttpError {
  override name = 'FailoverError'
  readonly canonical: string | undefined
  constructor(status: number, code: string, message: string, options: { canonical?: string | undefined } = {}) {
    super(status, code, message)
    this.canonical = options.canonical
  }
}
