// Key continuity against real devnet CVMs (in-process guest agents on loopback) and, for rotate, a real anvil.
import { regentSuccessionAbi } from '@regent-tee/contracts'
import { chainTest } from '@regent-tee/testing/chain'
import { getAddress, type Hex, keccak256 } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { collateral, setupAgent, startTarget, type Target, trustedRoots } from '../../test/uplift-fixtures.js'
import { NotCanonicalError } from '../chain/assertCanonical.js'
import { readCanonical } from '../chain/readCanonical.js'
import { PrivateKey } from '../Keys.js'
import { quoteId } from '../quoteId.js'
import { UpliftRefusedError } from './errors.js'
import {
  type AttestedTarget,
  certificateFromJson,
  createSourceHello,
  createTargetHello,
  offerSuccession,
  openKey,
  sealKey,
  verifySuccession,
  verifyTarget,
} from './KeyTransfer.js'
import * as Messages from './Messages.js'

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

describe('verifyTarget / sealKey / openKey (option A, import)', () => {
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

describe('offerSuccession / verifySuccession (option B, rotate)', () => {
  chainTest(
    'default: the certificate names the attested key, compose hash and quote, and RegentSuccession accepts it',
    async ({ chain }) => {
      const oldKey = chain.wallets[3] as (typeof chain.wallets)[number]
      const { contracts: deployed, agentId } = await setupAgent(chain, { composeHashes: [target.composeHash] })
      const sourceHello = createSourceHello({
        agentId,
        chainId: chain.chain.id,
        contracts: deployed,
        mode: 'rotate',
        source: oldKey.account.address,
      })
      const { hello } = await createTargetHello(target.client, { sourceHello, targetUrl, wallet: target.wallet.address })
      const verdict = await verify(sourceHello, hello)
      const deadline = (await chain.client.getBlock()).timestamp + 600n
      const offer = Messages.parse(
        Messages.serialize(await offerSuccession(oldKey, { verdict, contracts: deployed, agentId, deadline })),
        'key-offer',
      )
      const attested = verdict.target as AttestedTarget
      expect(offer.certificate).toEqual({
        agentId: agentId.toString(),
        oldKey: oldKey.account.address.toLowerCase(),
        newKey: target.wallet.address.toLowerCase(),
        newComposeHash: target.composeHash,
        quoteHash: quoteId(hello.quote),
        nextEpoch: '2',
        deadline: deadline.toString(),
      })
      const check = (o: Partial<Parameters<typeof verifySuccession>[0]>) =>
        verifySuccession({
          offer,
          target: attested,
          agentId,
          chainId: chain.chain.id,
          contracts: deployed,
          oldKey: sourceHello.source,
          ...o,
        })
      expect(await check({})).toEqual({ ok: true, reasons: [] })
      expect(codes(await check({ target: { ...attested, wallet: other.wallet.address } }))).toEqual(['rotate.new_key'])
      expect(codes(await check({ target: { ...attested, composeHash: other.composeHash } }))).toEqual(['rotate.compose_hash'])
      expect(codes(await check({ target: { ...attested, quoteHash: keccak256('0x00') } }))).toEqual(['rotate.quote_hash'])
      expect(codes(await check({ chainId: chain.chain.id + 1 }))).toEqual(['rotate.signature'])
      expect(codes(await check({ oldKey: target.wallet.address }))).toEqual(['rotate.old_key', 'rotate.signature'])

      // On-chain: anyone relays it; the target's attested key is canonical at epoch 2.
      const next = {
        signer: getAddress(attested.wallet),
        composeHash: attested.composeHash,
        instanceId: getAddress(attested.instanceId),
        quoteHash: attested.quoteHash,
        host: attested.targetUrl,
      }
      const relayer = chain.wallets[9] as (typeof chain.wallets)[number]
      const tx = await relayer.writeContract({
        address: deployed.succession,
        abi: regentSuccessionAbi,
        functionName: 'rotate',
        args: [agentId, certificateFromJson(offer.certificate), offer.signature, next],
      })
      expect((await chain.client.waitForTransactionReceipt({ hash: tx })).status).toBe('success')
      const now = await readCanonical(chain.client, { contracts: deployed, agentId })
      expect([now.epoch, now.instance.signer]).toEqual([2n, target.wallet.address])
    },
  )

  chainTest('behavior: an import session, a refused target and a non-canonical key sign nothing', async ({ chain }) => {
    const { contracts: deployed, agentId } = await setupAgent(chain, { composeHashes: [target.composeHash] })
    const deadline = (await chain.client.getBlock()).timestamp + 600n
    const oldKey = chain.wallets[3] as (typeof chain.wallets)[number]
    const importHello = createSourceHello({
      agentId,
      chainId: chain.chain.id,
      contracts: deployed,
      mode: 'import',
      source: oldKey.account.address,
    })
    const a = await createTargetHello(target.client, { sourceHello: importHello, targetUrl, wallet: target.wallet.address })
    const importVerdict = await verify(importHello, a.hello)
    await expect(offerSuccession(oldKey, { verdict: importVerdict, contracts: deployed, agentId, deadline })).rejects.toMatchObject({
      code: 'key.mode',
    })
    const rotateHello = createSourceHello({
      agentId,
      chainId: chain.chain.id,
      contracts: deployed,
      mode: 'rotate',
      source: oldKey.account.address,
    })
    const b = await createTargetHello(other.client, { sourceHello: rotateHello, targetUrl, wallet: other.wallet.address })
    const refused = await verify(rotateHello, b.hello)
    await expect(offerSuccession(oldKey, { verdict: refused, contracts: deployed, agentId, deadline })).rejects.toMatchObject({
      code: 'target.measurement',
    })
    const c = await createTargetHello(target.client, { sourceHello: rotateHello, targetUrl, wallet: target.wallet.address })
    const ok = await verify(rotateHello, c.hello)
    await expect(
      offerSuccession(chain.wallets[4] as typeof oldKey, { verdict: ok, contracts: deployed, agentId, deadline }),
    ).rejects.toBeInstanceOf(NotCanonicalError)
  })
})
