// State transfer against a real devnet CVM (the target's attested ephemeral key) and a real anvil (RegentSuccession).

import { type Chain_, chainTest, testAccounts } from '@regent-tee/testing/chain'
import Database from 'better-sqlite3'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { collateral, setupAgent, startTarget, type Target, trustedRoots } from '../../test/uplift-fixtures.js'
import * as Checkpoint from '../Checkpoint.js'
import { commitState } from '../chain/commitState.js'
import { UpliftRefusedError } from './errors.js'
import { createSourceHello, createTargetHello } from './Hello.js'
import * as Messages from './Messages.js'
import { offerState, openState } from './StateTransfer.js'
import { verifyTarget } from './VerifyTarget.js'

let target: Target
let other: Target
beforeAll(async () => {
  ;[target, other] = await Promise.all([startTarget(), startTarget({ name: 'other-app', seed: 5 })])
})
afterAll(async () => {
  await Promise.all([target.close(), other.close()])
})

/** A state database with `n` memory rows whose values are `fill` repeated (same layout for the same n). */
function state(n: number, fill: string): Database.Database {
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  const insert = db.prepare('INSERT INTO memory (id, key, value, created_at) VALUES (?, ?, ?, ?)')
  for (let i = 1; i <= n; i++) insert.run(i, `k${i}`, fill.repeat(40), 1_700_000_000 + i)
  db.prepare('INSERT INTO preferences (key, value) VALUES (?, ?)').run('tone', 'dry')
  return db
}
const rows = (db: Database.Database) => db.prepare('SELECT * FROM memory ORDER BY id').all()

/** An enrolled agent (key 3), a verified target session, and the transcript both sides hold before the offer. */
async function session(chain: Chain_, options: { targetOf?: Target } = {}) {
  const t = options.targetOf ?? target
  const source = chain.wallets[3] as Chain_['wallets'][number]
  const { contracts, agentId } = await setupAgent(chain, { composeHashes: [target.composeHash] })
  const sourceHello = createSourceHello({ agentId, chainId: chain.chain.id, contracts, mode: 'import', source: source.account.address })
  const answer = await createTargetHello(t.client, { sourceHello, targetUrl: 'http://127.0.0.1:9', wallet: t.wallet.address })
  const verdict = await verifyTarget({
    sourceHello,
    targetHello: answer.hello,
    collateral,
    trustedRoots,
    now: new Date(),
    policy: { approvedMeasurements: [{ composeHash: target.composeHash }] },
  })
  const base = { agentId, chainId: chain.chain.id, contracts }
  // `sent` from offerState carries the transcript *after* the offer: only its offer and envelopes travel.
  const open = ({
    transcript: _after,
    ...o
  }: { offer: Messages.StateOffer; envelopes: readonly Messages.StateEnvelope[]; transcript?: Hex } & Partial<
    Parameters<typeof openState>[0]
  >) => openState({ ephemeralPrivateKey: answer.ephemeralPrivateKey, transcript: answer.transcript, client: chain.client, ...base, ...o })
  const offer = (o: Partial<Parameters<typeof offerState>[0]> & { checkpoint: Checkpoint.Checkpoint; seq: bigint }) =>
    offerState({
      verdict,
      account: testAccounts[3] as (typeof testAccounts)[number],
      transcript: verdict.target?.transcript as Hex,
      ...base,
      ...o,
    })
  return { source, contracts, agentId, verdict, answer, open, offer }
}

async function refusal(call: Promise<unknown>): Promise<UpliftRefusedError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(UpliftRefusedError)
  return error as UpliftRefusedError
}

describe('offerState / openState', () => {
  chainTest('default: the target loads exactly the source state under the signed root, above the on-chain seq', async ({ chain }) => {
    const s = await session(chain)
    await commitState(s.source, { contracts: s.contracts, agentId: s.agentId, stateRoot: `0x${'11'.repeat(32)}`, seq: 1n })
    const db = state(20, 'a')
    const checkpoint = Checkpoint.exportState(db, { chunkSize: 256 })
    expect(checkpoint.chunks.length).toBeGreaterThan(3)
    const sent = await s.offer({ checkpoint, seq: 2n })
    // Over the wire: canonical text and back.
    const offer = Messages.parse(Messages.serialize(sent.offer), 'state-offer')
    const envelopes = sent.envelopes.map((e) => Messages.parse(Messages.serialize(e), 'state-envelope'))
    envelopes.forEach((e, i) => {
      expect(e.ciphertext).not.toContain(
        Buffer.from(checkpoint.chunks[i] as Uint8Array)
          .toString('hex')
          .slice(0, 32),
      )
    })
    const got = await s.open({ offer, envelopes })
    expect(got.checkpoint.stateRoot).toBe(checkpoint.stateRoot)
    expect(got.seq).toBe(2n)
    expect(rows(got.db)).toEqual(rows(db))
    expect(got.transcript).toBe(sent.transcript)
    // Envelopes may arrive in any order.
    expect(rows((await s.open({ offer, envelopes: [...envelopes].reverse() })).db)).toEqual(rows(db))
  })

  chainTest('behavior: the root already committed at the on-chain seq is accepted (source committed, then crashed)', async ({ chain }) => {
    const s = await session(chain)
    const checkpoint = Checkpoint.exportState(state(3, 'a'), { chunkSize: 128 })
    await commitState(s.source, { contracts: s.contracts, agentId: s.agentId, stateRoot: checkpoint.stateRoot, seq: 5n })
    const sent = await s.offer({ checkpoint, seq: 5n })
    expect((await s.open(sent)).seq).toBe(5n)
  })

  chainTest('behavior: a seq below the on-chain seq, or equal with another root, is state.stale_seq (anti-rollback)', async ({ chain }) => {
    const s = await session(chain)
    await commitState(s.source, { contracts: s.contracts, agentId: s.agentId, stateRoot: `0x${'11'.repeat(32)}`, seq: 5n })
    const checkpoint = Checkpoint.exportState(state(3, 'a'), { chunkSize: 128 })
    for (const seq of [4n, 5n, 0n]) {
      const error = await refusal(s.open(await s.offer({ checkpoint, seq })))
      expect([error.code, error.reasons.length]).toEqual(['state.stale_seq', 1])
    }
  })

  chainTest('behavior: a signature by a non-canonical key, or over other fields, is state.signer', async ({ chain }) => {
    const s = await session(chain)
    const checkpoint = Checkpoint.exportState(state(3, 'a'), { chunkSize: 128 })
    const stranger = await s.offer({ checkpoint, seq: 1n, account: testAccounts[4] as (typeof testAccounts)[number] })
    expect((await refusal(s.open(stranger))).code).toBe('state.signer')
    const honest = await s.offer({ checkpoint, seq: 1n })
    expect((await refusal(s.open({ ...honest, offer: { ...honest.offer, seq: '9' } }))).code).toBe('state.signer')
    expect((await refusal(s.open({ ...honest, chainId: chain.chain.id + 1 }))).code).toBe('state.signer')
    // An explicit expected signer overrides the on-chain one.
    expect(
      (await refusal(s.open({ ...honest, expectedSigner: (chain.wallets[4] as Chain_['wallets'][number]).account.address }))).code,
    ).toBe('state.signer')
  })

  chainTest('behavior: chunks that do not hash to the signed root are state.root_mismatch; nothing is loaded', async ({ chain }) => {
    const s = await session(chain)
    const a = Checkpoint.exportState(state(10, 'a'), { chunkSize: 128 })
    const b = Checkpoint.exportState(state(10, 'b'), { chunkSize: 128 })
    expect([a.byteLength, a.chunks.length]).toEqual([b.byteLength, b.chunks.length])
    expect(a.stateRoot).not.toBe(b.stateRoot)
    const forged = await s.offer({ checkpoint: { ...b, stateRoot: a.stateRoot }, seq: 1n })
    const error = await refusal(s.open(forged))
    expect(error.code).toBe('state.root_mismatch')
    expect(error.reasons[0]?.message).toBe(
      `The checkpoint hashes to ${b.stateRoot}, not the expected state root ${a.stateRoot}; nothing was loaded.`,
    )
  })

  chainTest('behavior: missing, repeated, altered or foreign chunks are state.chunks / state.decrypt', async ({ chain }) => {
    const s = await session(chain)
    const checkpoint = Checkpoint.exportState(state(10, 'a'), { chunkSize: 128 })
    const sent = await s.offer({ checkpoint, seq: 1n })
    const [first, ...rest] = sent.envelopes as [Messages.StateEnvelope, ...Messages.StateEnvelope[]]
    expect((await refusal(s.open({ ...sent, envelopes: rest }))).code).toBe('state.chunks')
    expect((await refusal(s.open({ ...sent, envelopes: [first, first, ...rest] }))).code).toBe('state.chunks')
    const flipped = { ...first, ciphertext: `${first.ciphertext.slice(0, -2)}${first.ciphertext.endsWith('00') ? '01' : '00'}` as Hex }
    expect((await refusal(s.open({ ...sent, envelopes: [flipped, ...rest] }))).code).toBe('state.decrypt')
    const swapped = { ...first, index: '1' }
    const second = { ...(rest[0] as Messages.StateEnvelope), index: '0' }
    expect((await refusal(s.open({ ...sent, envelopes: [swapped, second, ...rest.slice(1)] }))).code).toBe('state.decrypt')
    const wrongTranscript = openState({
      ...sent,
      ephemeralPrivateKey: s.answer.ephemeralPrivateKey,
      transcript: Messages.emptyTranscript,
      client: chain.client,
      contracts: s.contracts,
      agentId: s.agentId,
      chainId: chain.chain.id,
    })
    expect((await refusal(wrongTranscript)).code).toBe('state.signer')
  })

  chainTest('behavior: nothing is signed or encrypted for a refused target', async ({ chain }) => {
    const s = await session(chain, { targetOf: other })
    expect(s.verdict.reasons.map((r) => r.code)).toEqual(['target.measurement'])
    const checkpoint = Checkpoint.exportState(state(3, 'a'), { chunkSize: 128 })
    expect((await refusal(s.offer({ checkpoint, seq: 1n }))).code).toBe('target.measurement')
  })
})
