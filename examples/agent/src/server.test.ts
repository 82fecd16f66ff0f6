// The public write routes are rate-limited per client address (issue 13 §3): a token bucket of `perMinute` writes,
// refilled continuously; beyond it 429 `rate_limited`, other clients unaffected.
import type { Socket } from 'node:net'
import { describe, expect, test } from 'vitest'
import { rateLimiter } from './server.js'

const from = (remoteAddress: string) => ({ socket: { remoteAddress } as Socket })
const code = (run: () => void) => {
  try {
    run()
    return 'ok'
  } catch (error) {
    return `${(error as { status: number }).status} ${(error as { code: string }).code}`
  }
}

describe('rateLimiter', () => {
  test('behavior: the fourth write of a minute from one address is 429 rate_limited; another address is not affected; tokens come back with time', () => {
    const clock = { t: 1_000_000 }
    const limiter = rateLimiter(3, () => clock.t)
    const a = from('10.0.0.1')
    expect([1, 2, 3, 4].map(() => code(() => limiter.take(a)))).toEqual(['ok', 'ok', 'ok', '429 rate_limited'])
    expect(code(() => limiter.take(from('10.0.0.2')))).toBe('ok')
    clock.t += 20_000 // a third of a minute: one write back
    expect([1, 2].map(() => code(() => limiter.take(a)))).toEqual(['ok', '429 rate_limited'])
    clock.t += 10 * 60_000 // never more than the bucket holds
    expect([1, 2, 3, 4].map(() => code(() => limiter.take(a)))).toEqual(['ok', 'ok', 'ok', '429 rate_limited'])
  })
})
