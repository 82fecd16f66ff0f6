// verifyStandby against real devnet quotes (in-process CVMs and guest agents on loopback, as the uplift's
// VerifyTarget tests use): a standby is trusted only when its quote is anchored, approved by the app's policy, bound to
// this hello, key and URL, and not the canonical itself. Every refusal is a reason, never a throw.
import { Envelope } from '@regent-tee/core'
import type { Address, Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { hex, newHello } from '../../test/failover-fixtures.js'
import { collateral, startTarget, type Target, trustedRoots } from '../../test/uplift-fixtures.js'
import type { AppPolicy } from '../AppPolicy.js'
import { getQuote } from '../actions/getQuote.js'
import { verifyStandby } from './VerifyStandby.js'
import * as Wire from './Wire.js'

const agent = privateKeyToAccount(generatePrivateKey())
const leaderId: Address = '0x00000000000000000000000000000000000000a1'
const standbyUrl = 'http://127.0.0.1:9100'

let standby: Target
let other: Target
beforeAll(async () => {
  ;[standby, other] = await Promise.all([
    startTarget({ name: 'failover-verify', seed: 51 }),
    startTarget({ name: 'failover-other-app', seed: 52 }),
  ])
})
afterAll(async () => {
  await Promise.all([standby.close(), other.close()])
})

/** What a Follower on `cvm` answers to `hello`: a fresh key and a quote over this hello, the key and `url`. */
async function answerOf(cvm: Target, hello: Wire.Hello, url = standbyUrl): Promise<Wire.Answer> {
  const publicKey = hex(Envelope.createKeyPair().publicKey)
  const reportData = Wire.standbyReportData({ sessionId: Wire.helloDigest(hello), publicKey, standbyUrl: url })
  const q = await getQuote(cvm.client, { reportData })
  return { standbyUrl: url, publicKey, quote: hex(q.quote), eventLog: q.eventLog, head: 0 }
}

/** The app's policy: the standby's compose hash approved, its OS image accepted, unless a test says otherwise. */
const app = (overrides: Partial<AppPolicy> = {}): AppPolicy => ({
  approvedMeasurements: [{ composeHash: standby.composeHash }],
  osImage: async () => [],
  ...overrides,
})
const verify = (hello: Wire.Hello, answer: Wire.Answer, overrides: Partial<Parameters<typeof verifyStandby>[0]> = {}) =>
  verifyStandby({ hello, answer, collateral, trustedRoots, now: new Date(), app: app(), ...overrides })
const codes = (v: { reasons: readonly { code: string }[] }) => v.reasons.map((r) => r.code)
const hello = async (fields: Partial<Omit<Wire.Hello, 'signature'>> = {}) =>
  (await newHello(agent, { leaderInstanceId: leaderId, ...fields })).hello

describe('verifyStandby', () => {
  test('default: an approved instance whose quote binds this hello, its key and URL is accepted', async () => {
    const h = await hello()
    const verdict = await verify(h, await answerOf(standby, h))
    expect(verdict).toEqual({
      ok: true,
      reasons: [],
      standby: { instanceId: standby.instanceId, hardware: 'devnet', url: standbyUrl },
    })
  })

  test('behavior: a devnet quote when only Intel’s root is trusted is standby.untrusted_root', async () => {
    const h = await hello()
    const verdict = await verify(h, await answerOf(standby, h), { trustedRoots: undefined })
    expect([verdict.ok, codes(verdict), verdict.standby]).toEqual([false, ['standby.untrusted_root'], undefined])
    // The default (no roots given) is Intel's alone too.
    const { trustedRoots: _, ...rest } = {
      hello: h,
      answer: await answerOf(standby, h),
      collateral,
      trustedRoots,
      now: new Date(),
      app: app(),
    }
    expect(codes(await verifyStandby(rest))).toEqual(['standby.untrusted_root'])
  })

  test('behavior: another key, URL or hello than the quote binds is standby.key_binding', async () => {
    const h = await hello()
    const answer = await answerOf(standby, h)
    const swaps: [string, Wire.Hello, Wire.Answer][] = [
      ['key', h, { ...answer, publicKey: hex(Envelope.createKeyPair().publicKey) }],
      ['url', h, { ...answer, standbyUrl: 'http://127.0.0.1:9101' }],
      ['hello', await hello(), answer],
      ['hello field', { ...h, leaderUrl: 'http://127.0.0.1:7' }, answer],
    ]
    for (const [what, hh, aa] of swaps) {
      const verdict = await verify(hh, aa)
      expect([what, verdict.ok, codes(verdict)]).toEqual([what, false, ['standby.key_binding']])
    }
    // A genuine quote of an earlier session, replayed with its own key and URL, is bound to that session only.
    const earlier = await hello()
    expect(codes(await verify(h, await answerOf(standby, earlier)))).toEqual(['standby.key_binding'])
  })

  test('behavior: the app policy refusing the compose hash or the OS image is standby.measurement', async () => {
    const h = await hello()
    const answer = await answerOf(standby, h)
    const callback = await verify(h, answer, { app: app({ approvedMeasurements: () => 'compose hash pending timelock' }) })
    expect(codes(callback)).toEqual(['standby.measurement'])
    const otherApp = await hello()
    expect(codes(await verify(otherApp, await answerOf(other, otherApp)))).toEqual(['standby.measurement'])
    const osImage = await verify(h, answer, {
      app: app({ osImage: async () => [{ code: 'os_image.measurement', message: 'MRTD is not an approved OS image' }] }),
    })
    expect([osImage.ok, osImage.reasons]).toEqual([
      false,
      [{ code: 'standby.measurement', message: 'os_image.measurement: MRTD is not an approved OS image' }],
    ])
  })

  test('behavior: the canonical’s own instance is standby.self', async () => {
    const h = await hello({ leaderInstanceId: standby.instanceId as Address })
    const verdict = await verify(h, await answerOf(standby, h))
    expect([verdict.ok, codes(verdict), verdict.standby]).toEqual([false, ['standby.self'], undefined])
    // Compared whatever the case of the hex.
    const upper = await hello({ leaderInstanceId: `0x${standby.instanceId.slice(2).toUpperCase()}` as Address })
    expect(codes(await verify(upper, await answerOf(standby, upper)))).toEqual(['standby.self'])
  })

  test('behavior: an event log that does not replay to the quote is standby.event_log', async () => {
    const h = await hello()
    const answer = await answerOf(standby, h)
    const otherLog = (await answerOf(other, h)).eventLog
    const verdict = await verify(h, { ...answer, eventLog: otherLog })
    expect(verdict.ok).toBe(false)
    expect(codes(verdict)).toContain('standby.event_log')
  })

  test('bad input: a malformed answer is refused (standby.bad_answer, standby.quote), never thrown', async () => {
    const h = await hello()
    const answer = await answerOf(standby, h)
    const malformed: [Wire.Answer, string][] = [
      [{ ...answer, publicKey: 'zz' as Hex }, 'standby.bad_answer'],
      [{ ...answer, publicKey: `${answer.publicKey}00` }, 'standby.bad_answer'],
      [{ ...answer, quote: 'not hex' as Hex }, 'standby.bad_answer'],
      [{ ...answer, standbyUrl: 42 as unknown as string }, 'standby.bad_answer'],
      [{ ...answer, eventLog: undefined as unknown as string }, 'standby.bad_answer'],
      [null as unknown as Wire.Answer, 'standby.bad_answer'],
    ]
    for (const [a, code] of malformed) {
      const verdict = await verify(h, a)
      expect([verdict.ok, codes(verdict), verdict.standby]).toEqual([false, [code], undefined])
    }
    // Bytes that are not a quote: refused, never ok.
    const garbage = await verify(h, { ...answer, quote: hex(new Uint8Array(700).fill(3)) })
    expect(garbage.ok).toBe(false)
    expect(garbage.reasons.length).toBeGreaterThan(0)
    const cut = await verify(h, { ...answer, quote: answer.quote.slice(0, 200) as Hex })
    expect(cut.ok).toBe(false)
  })
})
