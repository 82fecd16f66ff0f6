/**
 * The canonical's side of the lease (docs/failover.md "Lease and self-fencing"). It renews the on-chain lease every
 * third of its period and answers one question before every acknowledgement: may this instance still acknowledge a
 * write? Yes only until `sentAt + period − margin`, where `sentAt` is the local monotonic time at which the last
 * renewal that was mined had been *sent* (so a stuck or slow transaction only shortens the window), and `margin` is
 * the stated clock-skew allowance. The lease on-chain lasts `period` from the renewal's block, and no standby can
 * claim before a block at or past that time: so the old canonical has stopped acknowledging before anyone else can
 * start. The monotonic clock keeps running while the process is stopped (SIGSTOP), so a zombie that wakes up finds its
 * window closed. A renewal refused because the agent moved on (`LeaseLostError`) ends the keeper for good.
 */
import { LeaseLostError } from '../chain/lease.js'

export type LeaseKeeperParameters = {
  /** Sends one renewal and waits until it is mined; throws `LeaseLostError` when the lease is no longer ours. */
  renew(): Promise<void>
  /** The on-chain lease period, in ms. */
  readonly periodMs: number
  /** The clock-skew allowance, in ms (< periodMs / 2). */
  readonly marginMs: number
  /** Called once when the lease is lost to another instance (or the agent moved). */
  onLost?(error: LeaseLostError): void
  /** Monotonic milliseconds (default `performance.now`). */
  readonly now?: () => number
  readonly log?: (line: string) => void
}

export type LeaseState = 'holding' | 'fenced' | 'lost' | 'stopped'

export type LeaseKeeper = {
  /** True while this instance may acknowledge a write (holding the lease, inside its window). */
  canAck(): boolean
  state(): LeaseState
  /** Monotonic ms left in the window (negative once fenced). */
  remainingMs(): number
  /** Sends one renewal now and waits for it (the first act of a new canonical). */
  renewNow(): Promise<void>
  /** Counts for status and benches. */
  stats(): { renewals: number; failures: number }
  stop(): void
}

/**
 * Starts renewing. `grantedAt` is the monotonic time at which the transaction that granted the current lease was sent
 * (a claim, or the last renewal before a restart); omit it to start fenced until the first renewal is mined.
 */
export function createLeaseKeeper(parameters: LeaseKeeperParameters & { grantedAt?: number }): LeaseKeeper {
  const p = parameters
  if (!(p.marginMs >= 0 && p.marginMs < p.periodMs / 2)) throw new RangeError('the margin must be in [0, period / 2)')
  const now = p.now ?? (() => performance.now())
  let deadline = p.grantedAt === undefined ? Number.NEGATIVE_INFINITY : p.grantedAt + p.periodMs - p.marginMs
  let state: LeaseState = 'holding'
  let renewals = 0
  let failures = 0
  let inFlight: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined

  const renewOnce = (): Promise<void> => {
    inFlight ??= (async () => {
      const sentAt = now()
      try {
        await p.renew()
        if (state === 'lost' || state === 'stopped') return
        deadline = Math.max(deadline, sentAt + p.periodMs - p.marginMs)
        renewals++
      } catch (error) {
        failures++
        if (error instanceof LeaseLostError) {
          if (state !== 'lost' && state !== 'stopped') {
            state = 'lost'
            stopTimer()
            p.log?.(`failover: lease lost (${error.shortMessage})`)
            p.onLost?.(error)
          }
        } else
          p.log?.(
            `failover: renewal failed (${(error as Error).message.split('\n')[0]}); the window closes in ${Math.round(deadline - now())} ms`,
          )
        throw error
      }
    })().finally(() => {
      inFlight = undefined
    })
    return inFlight
  }
  const stopTimer = () => {
    if (timer) clearInterval(timer)
    timer = undefined
  }
  timer = setInterval(() => void renewOnce().catch(() => undefined), Math.max(100, Math.floor(p.periodMs / 3)))
  timer.unref()

  return {
    canAck: () => state === 'holding' && now() < deadline,
    state: () => (state === 'holding' && now() >= deadline ? 'fenced' : state),
    remainingMs: () => deadline - now(),
    renewNow: renewOnce,
    stats: () => ({ renewals, failures }),
    stop() {
      if (state === 'holding') state = 'stopped'
      stopTimer()
    },
  }
}
