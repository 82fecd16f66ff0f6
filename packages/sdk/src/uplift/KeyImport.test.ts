// Step 2, option A (import): sealKey / openKey against a real devnet CVM (an in-process guest agent on loopback).
import type { Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { collateral, startTarget, type Target, trustedRoots } from '../../test/uplift-fixtures.js'
import { PrivateKey } from '../Keys.js'
import { quoteId } from '../quoteId.js'
import { UpliftRefusedError } from './errors.js'
import { createSourceHello, createTargetHello } from './Hello.js'
import { openKey, sealKey } from './KeyImport.js'
import * as Messages from './Messages.js'
import { type AttestedTarget, verifyTarget } from './VerifyTarget.js'

let target: Target
const targetUrl = 'http://127.0.0.1:9/uplift'
const contracts = { succession: '0x00000000000000000000000000000000000000aa' as Hex }
const sourceKeyHex = generatePrivateKey()
const source = privateKeyToAccount(sourceKeyHex)
const sourceKey = () => new PrivateKey(Buffer.from(sourceKeyHex.slice(2), 'hex'))

beforeAll(async () => {
  target = await startTarget()
})
afterAll(async () => {
  await target.close()
})

const newSession = (mode: 'import' | 'rotate' = 'import') =>
  createSourceHello({ agentId: 7n, chainId: 31337, contracts, mode, source: source.address })
const policy = () => ({ approvedMeasurements: [{ composeHash: target.composeHash }] })
const verify = (sourceHello: Messages.SourceHello, targetHello: Messages.TargetHello, overrides: Record<string, unknown> = {}) =>
  verifyTarget({ sourceHello, targetHello, collateral, trustedRoots, now: new Date(), policy: policy(), ...overrides })
function refusal(fn: () => unknown): UpliftRefusedError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(UpliftRefusedError)
    return error as UpliftRefusedError
  }
  throw new Error('expected a refusal')
}

describe('sealKey / openKey (option A, import)', () => {
  test('default: the target opens exactly the source key and address; messages round-trip canonically', async () => {
    const sourceHello = newSession()
    const { hello, ephemeralPrivateKey, transcript } = await createTargetHello(target.client, {
      sourceHello,
      targetUrl,
      wallet: target.wallet.address,
    })
    // Over the wire and back.
    const received = Messages.parse(Messages.serialize(hello), 'target-hello')
    expect(received).toEqual(hello)
    const verdict = await verify(sourceHello, received)
    expect(verdict.reasons).toEqual([])
    expect(verdict.ok).toBe(true)
    expect(verdict.target).toMatchObject({
      mode: 'import',
      source: source.address.toLowerCase() as Hex,
      wallet: target.wallet.address.toLowerCase() as Hex,
      composeHash: target.composeHash,
      appId: target.appId,
      hardware: 'devnet',
      quoteHash: quoteId(hello.quote),
      transcript,
    } satisfies Partial<AttestedTarget>)
    const envelope = Messages.parse(Messages.serialize(sealKey({ verdict, privateKey: sourceKey() })), 'key-envelope')
    expect(envelope.address).toBe(source.address.toLowerCase())
    expect(envelope.ciphertext).not.toContain(sourceKeyHex.slice(2))
    const key = openKey({ envelope, ephemeralPrivateKey, transcript, expectedAddress: sourceHello.source })
    expect(key.toHex()).toBe(sourceKeyHex)
    expect(privateKeyToAccount(key.toHex()).address).toBe(source.address)
  })

  test('behavior: sealKey refuses a rotate session and a key that is not the session source', async () => {
    const rotate = newSession('rotate')
    const { hello } = await createTargetHello(target.client, { sourceHello: rotate, targetUrl, wallet: target.wallet.address })
    const verdict = await verify(rotate, hello)
    expect(verdict.ok).toBe(true)
    expect(refusal(() => sealKey({ verdict, privateKey: sourceKey() })).code).toBe('key.mode')
    const sourceHello = newSession()
    const answer = await createTargetHello(target.client, { sourceHello, targetUrl, wallet: target.wallet.address })
    const ok = await verify(sourceHello, answer.hello)
    const stranger = new PrivateKey(Buffer.from(generatePrivateKey().slice(2), 'hex'))
    expect(refusal(() => sealKey({ verdict: ok, privateKey: stranger })).code).toBe('key.address')
  })

  test('behavior: openKey refuses another transcript, an altered envelope and another address', async () => {
    const sourceHello = newSession()
    const { hello, ephemeralPrivateKey, transcript } = await createTargetHello(target.client, {
      sourceHello,
      targetUrl,
      wallet: target.wallet.address,
    })
    const envelope = sealKey({ verdict: await verify(sourceHello, hello), privateKey: sourceKey() })
    const open = (o: Partial<Parameters<typeof openKey>[0]>) =>
      refusal(() => openKey({ envelope, ephemeralPrivateKey, transcript, expectedAddress: sourceHello.source, ...o })).code
    expect(open({ transcript: Messages.emptyTranscript })).toBe('key.decrypt')
    const flipped = `${envelope.ciphertext.slice(0, -2)}${envelope.ciphertext.endsWith('00') ? '01' : '00'}` as Hex
    expect(open({ envelope: { ...envelope, ciphertext: flipped } })).toBe('key.decrypt')
    expect(open({ ephemeralPrivateKey: new Uint8Array(32).fill(7) })).toBe('key.decrypt')
    expect(open({ expectedAddress: target.wallet.address })).toBe('key.address')
    expect(
      open({ envelope: { ...envelope, address: target.wallet.address.toLowerCase() as Hex }, expectedAddress: target.wallet.address }),
    ).toBe('key.decrypt')
  })
})
