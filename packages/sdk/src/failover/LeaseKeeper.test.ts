// The canonical's self-fence (LeaseKeeper.ts) on an injected monotonic clock, with renewals the test mines or refuses.
import { afterEach, describe, expect, test, vi } from 'vitest'
import { LeaseLostError } from '../chain/lease.js'
import { createLeaseKeeper, type LeaseKeeper, type LeaseKeeperParameters } from './LeaseKeeper.js'

const periodMs = 3000
const marginMs = 500

/** A promise the test settles. */
function deferred() {
  let resolve = () => {}
  let reject: (error: unknown) => void = () => {}
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

const lost = () =>
  new LeaseLostError({ agentId: 7n, functionName: 'renewLease', reason: 'StaleEpoch', args: [4n, 3n], cause: new Error('reverted') })

const keepers: LeaseKeeper[] = []
afterEach(() => {
  for (const k of keepers.splice(0)) k.stop()
  vi.useRealTimers()
})

/** A keeper on a clock the test moves, whose renewals wait until the test mines (or refuses) them. */
function setup(overrides: Partial<LeaseKeeperParameters> & { grantedAt?: number } = {}) {
  const clock = { t: 1000 }
  const sent: ReturnType<typeof deferred>[] = []
  const losses: LeaseLostError[] = []
  const keeper = createLeaseKeeper({
    periodMs,
    marginMs,
    now: () => clock.t,
    renew: () => {
      const d = deferred()
      sent.push(d)
      return d.promise
    },
    onLost: (e) => losses.push(e),
    ...overrides,
  })
  keepers.push(keeper)
  /** The renewal sent last. */
  const last = () => sent.at(-1) as ReturnType<typeof deferred>
  return { clock, sent, last, losses, keeper }
}

describe('createLeaseKeeper', () => {
  test('default: granted at t, it may acknowledge until t + period − margin, then it is fenced', () => {
    const { clock, keeper } = setup({ grantedAt: 1000 })
    expect([keeper.canAck(), keeper.state(), keeper.remainingMs()]).toEqual([true, 'holding', periodMs - marginMs])
    clock.t = 1000 + periodMs - marginMs - 1
    expect([keeper.canAck(), keeper.state(), keeper.remainingMs()]).toEqual([true, 'holding', 1])
    clock.t = 1000 + periodMs - marginMs
    expect([keeper.canAck(), keeper.state(), keeper.remainingMs()]).toEqual([false, 'fenced', 0])
  })

  test('default: without grantedAt it is fenced until its first renewal is mined', async () => {
    const { clock, last, keeper } = setup()
    expect([keeper.canAck(), keeper.state()]).toEqual([false, 'fenced'])
    const renewal = keeper.renewNow()
    clock.t = 1200
    expect(keeper.canAck()).toBe(false) // sent, not mined yet
    last().resolve()
    await renewal
    expect([keeper.canAck(), keeper.state(), keeper.remainingMs()]).toEqual([true, 'holding', 1000 + periodMs - marginMs - 1200])
    expect(keeper.stats()).toEqual({ renewals: 1, failures: 0 })
  })

  test('behavior: a slow renewal counts from when it was sent, not from when it was mined', async () => {
    const { clock, last, keeper } = setup({ grantedAt: 0 })
    clock.t = 2000
    const renewal = keeper.renewNow()
    clock.t = 4400 // mined 2.4 s later: the chain's lease may run from any block in between
    last().resolve()
    await renewal
    expect(keeper.remainingMs()).toBe(2000 + periodMs - marginMs - 4400)
    clock.t = 2000 + periodMs - marginMs - 1
    expect(keeper.canAck()).toBe(true)
    clock.t = 2000 + periodMs - marginMs
    expect([keeper.canAck(), keeper.state()]).toEqual([false, 'fenced'])
  })

  test('behavior: no renewal mined, fenced after the window; a later renewal that is mined opens it again', async () => {
    const { clock, last, keeper } = setup({ grantedAt: 1000 })
    const stuck = keeper.renewNow()
    clock.t = 1000 + periodMs // still not mined
    expect([keeper.canAck(), keeper.state()]).toEqual([false, 'fenced'])
    last().reject(new Error('nonce too low'))
    await expect(stuck).rejects.toThrow('nonce too low')
    expect([keeper.canAck(), keeper.state(), keeper.stats()]).toEqual([false, 'fenced', { renewals: 0, failures: 1 }])
    clock.t = 10_000
    const next = keeper.renewNow()
    last().resolve()
    await next
    expect([keeper.canAck(), keeper.state(), keeper.remainingMs()]).toEqual([true, 'holding', periodMs - marginMs])
  })

  test('behavior: a failed renewal does not move the window; a mined older renewal never shortens it', async () => {
    const { clock, last, keeper } = setup({ grantedAt: 1000 })
    const failed = keeper.renewNow()
    clock.t = 1500
    last().reject(new Error('rpc down'))
    await expect(failed).rejects.toThrow('rpc down')
    expect(keeper.remainingMs()).toBe(1000 + periodMs - marginMs - 1500)
    // Granted at 1000, the window ends at 3500; a renewal stamped 900 (sent before the grant) ends at 3400: the later end stays.
    clock.t = 900
    const older = keeper.renewNow()
    last().resolve()
    await older
    expect(keeper.remainingMs()).toBe(1000 + periodMs - marginMs - 900)
  })

  test('behavior: renewals do not overlap; a renewNow during one waits for that one', async () => {
    const { sent, last, keeper } = setup({ grantedAt: 1000 })
    const a = keeper.renewNow()
    const b = keeper.renewNow()
    expect(sent.length).toBe(1)
    last().resolve()
    await Promise.all([a, b])
    expect(keeper.stats().renewals).toBe(1)
    void keeper.renewNow()
    expect(sent.length).toBe(2)
  })

  test('behavior: LeaseLostError ends it for good: state lost, onLost once, nothing reopens the window', async () => {
    const { clock, last, losses, keeper } = setup({ grantedAt: 1000 })
    const refused = keeper.renewNow()
    const error = lost()
    last().reject(error)
    await expect(refused).rejects.toBe(error)
    expect([keeper.canAck(), keeper.state(), losses]).toEqual([false, 'lost', [error]])
    // Inside what would have been the window, and after a renewal that somehow gets mined: still lost.
    clock.t = 1100
    const late = keeper.renewNow()
    last().resolve()
    await late
    expect([keeper.canAck(), keeper.state()]).toEqual([false, 'lost'])
    const again = keeper.renewNow()
    last().reject(lost())
    await expect(again).rejects.toBeInstanceOf(LeaseLostError)
    expect(losses).toEqual([error])
    keeper.stop()
    expect(keeper.state()).toBe('lost')
  })

  test('behavior: stop() fences; a renewal mined after it changes nothing', async () => {
    const { last, keeper } = setup({ grantedAt: 1000 })
    const inFlight = keeper.renewNow()
    keeper.stop()
    expect([keeper.canAck(), keeper.state()]).toEqual([false, 'stopped'])
    last().resolve()
    await inFlight
    expect([keeper.canAck(), keeper.state(), keeper.stats().renewals]).toEqual([false, 'stopped', 0])
  })

  test('behavior: it renews every third of the period by itself, and stops renewing once lost or stopped', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const a = setup({ grantedAt: 1000 })
    expect(a.sent.length).toBe(0)
    vi.advanceTimersByTime(periodMs / 3)
    expect(a.sent.length).toBe(1)
    vi.advanceTimersByTime(periodMs / 3) // the first is still in flight: no second one
    expect(a.sent.length).toBe(1)
    a.last().resolve()
    await vi.waitFor(() => expect(a.keeper.stats().renewals).toBe(1))
    vi.advanceTimersByTime(periodMs / 3)
    expect(a.sent.length).toBe(2)
    a.last().reject(lost())
    await vi.waitFor(() => expect(a.keeper.state()).toBe('lost'))
    vi.advanceTimersByTime(periodMs * 10)
    expect(a.sent.length).toBe(2)

    const b = setup({ grantedAt: 1000 })
    b.keeper.stop()
    vi.advanceTimersByTime(periodMs * 10)
    expect(b.sent.length).toBe(0)
  })

  test('bad input: the margin must be in [0, period / 2)', () => {
    const renew = async () => {}
    for (const [p, m] of [
      [3000, 1500],
      [3000, 2000],
      [3000, -1],
      [3000, Number.NaN],
      [Number.NaN, 0],
      [0, 0],
      [-10, 0],
    ] as const)
      expect(() => createLeaseKeeper({ periodMs: p, marginMs: m, renew }), `${p}/${m}`).toThrow(
        new RangeError('the margin must be in [0, period / 2)'),
      )
    const ok = createLeaseKeeper({ periodMs: 3000, marginMs: 0, renew, grantedAt: 0, now: () => 0 })
    keepers.push(ok)
    expect(ok.remainingMs()).toBe(3000)
  })
})
