// One whole session through the public surface of @regent-tee/sdk, both sides keeping their own transcript: option A
// (import) from an agent in the wild into a devnet CVM, against a real anvil, up to the on-chain uplift the
// orchestration will post (same key, epoch + 1). Shows that the pieces compose; each refusal is tested beside its module.
import { regentSuccessionAbi } from '@regent-tee/contracts'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import Database from 'better-sqlite3'
import { createWalletClient, getAddress, type Hex, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { collateral, setupAgent, startTarget, type Target, trustedRoots } from '../../test/uplift-fixtures.js'
import * as Checkpoint from '../Checkpoint.js'
import { commitState } from '../chain/commitState.js'
import { readCanonical } from '../chain/readCanonical.js'
import { PrivateKey } from '../Keys.js'
import * as Decide from './Decide.js'
import { answerChallenge, createChallenge, verifyHandshake } from './Handshake.js'
import { createSourceHello, createTargetHello } from './Hello.js'
import { openKey, sealKey } from './KeyImport.js'
import * as Messages from './Messages.js'
import { offerState, openState, sealState } from './StateTransfer.js'
import { verifyTarget } from './VerifyTarget.js'

let target: Target
beforeAll(async () => {
  target = await startTarget()
})
afterAll(() => target.close())

/** The wire: every message is serialized by its sender and strictly parsed by its receiver. */
const wire = <T extends Messages.Type>(message: Messages.ByType<T>, type: T) => Messages.parse(Messages.serialize(message), type)

describe('an import session, end to end', () => {
  chainTest(
    'default: same address, same state root, handshake ok, transcripts equal on both sides; uplift accepted on-chain',
    async ({ chain }) => {
      expect(Decide.evaluate().proceed).toBe(true)

      // The agent in the wild: its own key, enrolled, one state commit.
      const sourceKeyHex = generatePrivateKey()
      const sourceAccount = privateKeyToAccount(sourceKeyHex)
      const funder = chain.wallets[0] as Chain_['wallets'][number]
      await chain.client.waitForTransactionReceipt({ hash: await funder.sendTransaction({ to: sourceAccount.address, value: 10n ** 18n }) })
      const wild = `0x${'ab'.repeat(32)}` as Hex
      const { contracts, agentId } = await setupAgent(chain, { composeHashes: [wild, target.composeHash], signer: sourceAccount.address })
      const sourceWallet = createWalletClient({ account: sourceAccount, chain: chain.chain, transport: http(chain.anvil.rpcUrl) })
      const db = new Database(':memory:')
      Checkpoint.createSchema(db)
      for (let i = 1; i <= 40; i++)
        db.prepare('INSERT INTO memory (id, key, value) VALUES (?, ?, ?)').run(i, `fact${i}`, `value ${i} `.repeat(20))
      const checkpoint = Checkpoint.exportState(db, { chunkSize: 512 })
      await commitState(sourceWallet, { contracts, agentId, stateRoot: checkpoint.stateRoot, seq: 1n })
      const policy = { approvedMeasurements: [{ composeHash: target.composeHash }] }
      const base = { agentId, chainId: chain.chain.id, contracts }

      // Step 1–2: hello, attestation, key.
      const sourceHello = createSourceHello({ ...base, mode: 'import', source: sourceAccount.address })
      let sourceT = Messages.appendTranscript(Messages.emptyTranscript, sourceHello)
      const t = await createTargetHello(target.client, {
        sourceHello: wire(sourceHello, 'source-hello'),
        targetUrl: 'http://127.0.0.1:9/agent',
        wallet: target.wallet.address,
      })
      let targetT = t.transcript
      const verdict = await verifyTarget({
        sourceHello,
        targetHello: wire(t.hello, 'target-hello'),
        collateral,
        trustedRoots,
        now: new Date(),
        policy,
      })
      expect(verdict.reasons).toEqual([])
      sourceT = Messages.appendTranscript(sourceT, t.hello)
      expect(sourceT).toBe(targetT)
      const envelope = sealKey({ verdict, privateKey: new PrivateKey(Buffer.from(sourceKeyHex.slice(2), 'hex')) })
      const imported = openKey({
        envelope: wire(envelope, 'key-envelope'),
        ephemeralPrivateKey: t.ephemeralPrivateKey,
        transcript: targetT,
        expectedAddress: sourceHello.source,
      })
      const targetAccount = privateKeyToAccount(imported.toHex())
      expect(targetAccount.address).toBe(sourceAccount.address)
      sourceT = Messages.appendTranscript(sourceT, envelope)
      targetT = Messages.appendTranscript(targetT, envelope)

      // Step 3: state.
      const sent = await offerState({ verdict, account: sourceAccount, checkpoint, seq: 1n, transcript: sourceT, ...base })
      const loaded = await openState({
        offer: wire(sent.offer, 'state-offer'),
        stream: sealState({ offer: sent.offer, checkpoint, key: sent.key, transcript: sourceT }),
        ephemeralPrivateKey: t.ephemeralPrivateKey,
        transcript: targetT,
        client: chain.client,
        ...base,
      })
      expect(loaded.checkpoint.stateRoot).toBe(checkpoint.stateRoot)
      sourceT = sent.transcript
      targetT = loaded.transcript
      expect(sourceT).toBe(targetT)

      // Step 4: handshake.
      const { epoch } = await readCanonical(chain.client, { contracts, agentId })
      const challenge = createChallenge({ sessionId: sourceHello.sessionId, leafCount: checkpoint.chunks.length, epoch })
      sourceT = Messages.appendTranscript(sourceT, challenge)
      targetT = Messages.appendTranscript(targetT, wire(challenge, 'challenge'))
      const answer = await answerChallenge(target.client, {
        challenge,
        account: targetAccount,
        checkpoint: loaded.checkpoint,
        transcript: targetT,
      })
      const handshake = await verifyHandshake({
        challenge,
        answer: wire(answer, 'challenge-answer'),
        checkpoint,
        transcript: sourceT,
        expectedSigner: sourceAccount.address,
        collateral,
        trustedRoots,
        now: new Date(),
        policy,
      })
      expect(handshake.reasons).toEqual([])

      // Step 5 (here by hand; Source.ts does it in the orchestration): the source posts uplift with the same key; epoch + 1.
      const a = verdict.target as NonNullable<typeof verdict.target>
      const hash = await sourceWallet.writeContract({
        address: contracts.succession,
        abi: regentSuccessionAbi,
        functionName: 'uplift',
        args: [
          agentId,
          epoch,
          {
            signer: sourceAccount.address,
            composeHash: a.composeHash,
            instanceId: getAddress(a.instanceId),
            quoteHash: a.quoteHash,
            host: a.targetUrl,
          },
        ],
      })
      const receipt = await chain.client.waitForTransactionReceipt({ hash })
      expect(receipt.status).toBe('success')
      const after = await readCanonical(chain.client, { contracts, agentId })
      expect([after.epoch, after.instance.signer, after.instance.composeHash, after.stateRoot]).toEqual([
        epoch + 1n,
        sourceAccount.address,
        target.composeHash,
        checkpoint.stateRoot,
      ])
      const handover = wire(
        {
          version: Messages.version,
          type: 'handover',
          sessionId: sourceHello.sessionId,
          agentId: agentId.toString(),
          epoch: after.epoch.toString(),
          signer: sourceAccount.address.toLowerCase() as Hex,
          quoteHash: a.quoteHash,
          transactionHash: hash,
        },
        'handover',
      )
      expect(Messages.transcriptOf([sourceHello, t.hello, envelope, sent.offer, challenge, answer, handover])).toBe(
        Messages.appendTranscript(Messages.appendTranscript(sourceT, answer), handover),
      )
    },
  )
})
