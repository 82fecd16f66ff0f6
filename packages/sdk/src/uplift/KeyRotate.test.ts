// Step 2, option B (rotate): offerSuccession / verifySuccession against real devnet CVMs and a real anvil.
import { regentSuccessionAbi } from '@regent-tee/contracts'
import { chainTest } from '@regent-tee/testing/chain'
import { getAddress, keccak256 } from 'viem'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { collateral, setupAgent, startTarget, type Target, trustedRoots } from '../../test/uplift-fixtures.js'
import { NotCanonicalError } from '../chain/assertCanonical.js'
import { readCanonical } from '../chain/readCanonical.js'
import { quoteId } from '../quoteId.js'
import { createSourceHello, createTargetHello } from './Hello.js'
import { certificateFromJson, offerSuccession, verifySuccession } from './KeyRotate.js'
import * as Messages from './Messages.js'
import { type AttestedTarget, verifyTarget } from './VerifyTarget.js'

let target: Target
let other: Target
const targetUrl = 'http://127.0.0.1:9/uplift'

beforeAll(async () => {
  ;[target, other] = await Promise.all([startTarget(), startTarget({ name: 'other-app', seed: 5 })])
})
afterAll(async () => {
  await Promise.all([target.close(), other.close()])
})

const policy = () => ({ approvedMeasurements: [{ composeHash: target.composeHash }] })
const verify = (sourceHello: Messages.SourceHello, targetHello: Messages.TargetHello, overrides: Record<string, unknown> = {}) =>
  verifyTarget({ sourceHello, targetHello, collateral, trustedRoots, now: new Date(), policy: policy(), ...overrides })
const codes = (v: { reasons: readonly { code: string }[] }) => v.reasons.map((r) => r.code)

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
