// Step 1: verifyTarget against real devnet CVMs (in-process guest agents on loopback); every refusal stops the key.
import type { Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { collateral, startTarget, type Target, trustedRoots } from '../../test/uplift-fixtures.js'
import { PrivateKey } from '../Keys.js'
import { UpliftRefusedError } from './errors.js'
import { createSourceHello, createTargetHello } from './Hello.js'
import { sealKey } from './KeyImport.js'
import * as Messages from './Messages.js'
import { verifyTarget } from './VerifyTarget.js'

let target: Target
let other: Target
const targetUrl = 'http://127.0.0.1:9/uplift'
const contracts = { succession: '0x00000000000000000000000000000000000000aa' as Hex }
const sourceKeyHex = generatePrivateKey()
const source = privateKeyToAccount(sourceKeyHex)
const sourceKey = () => new PrivateKey(Buffer.from(sourceKeyHex.slice(2), 'hex'))

beforeAll(async () => {
  ;[target, other] = await Promise.all([startTarget(), startTarget({ name: 'other-app', seed: 5 })])
})
afterAll(async () => {
  await Promise.all([target.close(), other.close()])
})

const newSession = (mode: 'import' | 'rotate' = 'import') =>
  createSourceHello({ agentId: 7n, chainId: 31337, contracts, mode, source: source.address })
const policy = () => ({ approvedMeasurements: [{ composeHash: target.composeHash }] })
const verify = (sourceHello: Messages.SourceHello, targetHello: Messages.TargetHello, overrides: Record<string, unknown> = {}) =>
  verifyTarget({ sourceHello, targetHello, collateral, trustedRoots, now: new Date(), policy: policy(), ...overrides })
const codes = (v: { reasons: readonly { code: string }[] }) => v.reasons.map((r) => r.code)
function refusal(fn: () => unknown): UpliftRefusedError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(UpliftRefusedError)
    return error as UpliftRefusedError
  }
  throw new Error('expected a refusal')
}

describe('verifyTarget: a refused target gets no key', () => {
  test('behavior: a devnet quote when only hardware (Intel) is trusted is refused before the key leaves', async () => {
    const sourceHello = newSession()
    const { hello } = await createTargetHello(target.client, { sourceHello, targetUrl, wallet: target.wallet.address })
    const verdict = await verifyTarget({ sourceHello, targetHello: hello, collateral, now: new Date(), policy: policy() })
    expect(codes(verdict)).toEqual(['target.untrusted_root'])
    const error = refusal(() => sealKey({ verdict, privateKey: sourceKey() }))
    expect([error.code, error.shortMessage]).toEqual(['target.untrusted_root', 'Uplift key transfer refused: target.untrusted_root.'])
  })

  test('behavior: an unapproved measurement is target.measurement (an approval callback decides, e.g. a timelock)', async () => {
    const sourceHello = newSession()
    const { hello } = await createTargetHello(other.client, { sourceHello, targetUrl, wallet: other.wallet.address })
    expect(codes(await verify(sourceHello, hello))).toEqual(['target.measurement'])
    const pending = await verify(sourceHello, hello, {
      policy: { approvedMeasurements: () => 'compose hash pending timelock' },
    })
    expect(codes(pending)).toEqual(['target.measurement'])
    expect(refusal(() => sealKey({ verdict: pending, privateKey: sourceKey() })).code).toBe('target.measurement')
  })

  test('behavior: a hello replayed into a new session fails the session, nonce and transcript echoes', async () => {
    const old = newSession()
    const { hello } = await createTargetHello(target.client, { sourceHello: old, targetUrl, wallet: target.wallet.address })
    expect(codes(await verify(newSession(), hello))).toEqual(['target.session', 'target.nonce', 'target.transcript'])
  })

  test('behavior: an old quote with the echoes rewritten to the new session is target.stale_quote', async () => {
    const old = newSession()
    const { hello } = await createTargetHello(target.client, { sourceHello: old, targetUrl, wallet: target.wallet.address })
    const fresh = newSession()
    const forged = {
      ...hello,
      sessionId: fresh.sessionId,
      nonce: fresh.nonce,
      transcript: Messages.appendTranscript(Messages.emptyTranscript, fresh),
    }
    const verdict = await verify(fresh, forged)
    expect(codes(verdict)).toEqual(['target.stale_quote'])
    expect(refusal(() => sealKey({ verdict, privateKey: sourceKey() })).code).toBe('target.stale_quote')
  })

  test('behavior: a host serving the CVM’s first quote again is refused on both report_data halves', async () => {
    const sourceHello = newSession()
    target.faults.staleQuote = true
    try {
      const { hello } = await createTargetHello(target.client, { sourceHello, targetUrl, wallet: target.wallet.address })
      expect(codes(await verify(sourceHello, hello))).toEqual(['target.key_binding', 'target.stale_quote'])
    } finally {
      target.faults.staleQuote = false
    }
  })

  test('behavior: a host that swaps the ephemeral key (or the wallet, or the URL) is target.key_binding', async () => {
    const sourceHello = newSession()
    const { hello } = await createTargetHello(target.client, { sourceHello, targetUrl, wallet: target.wallet.address })
    const host = await createTargetHello(other.client, { sourceHello, targetUrl, wallet: other.wallet.address })
    const swapped = { ...hello, ephemeralPublicKey: host.hello.ephemeralPublicKey }
    const verdict = await verify(sourceHello, swapped)
    expect(codes(verdict)).toEqual(['target.key_binding'])
    expect(refusal(() => sealKey({ verdict, privateKey: sourceKey() })).code).toBe('target.key_binding')
    expect(codes(await verify(sourceHello, { ...hello, wallet: other.wallet.address.toLowerCase() as Hex }))).toEqual([
      'target.key_binding',
    ])
    expect(codes(await verify(sourceHello, { ...hello, targetUrl: 'http://evil.example' }))).toEqual(['target.key_binding'])
  })

  test('behavior: a target that saw an altered SourceHello is target.transcript', async () => {
    const sourceHello = newSession()
    const altered = { ...sourceHello, mode: 'rotate' as const }
    const { hello } = await createTargetHello(target.client, { sourceHello: altered, targetUrl, wallet: target.wallet.address })
    expect(codes(await verify(sourceHello, hello))).toEqual(['target.transcript'])
  })
})
