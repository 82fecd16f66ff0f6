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
import { offerState, openState, sealState } from './StateTransfer.js'
import { verifyTarget } from './VerifyTarget.js'

/** The whole stream of an offer, as bytes. */
async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of stream) parts.push(p)
  return Buffer.concat(parts)
}
/** Bytes as a stream that arrives in pieces of `piece` bytes (frames split across pieces). */
async function* pieces(bytes: Uint8Array, piece = 100): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += piece) yield bytes.subarray(at, at + piece)
}

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
  const before = verdict.target?.transcript as Hex
  /** The stream of an offer (the source's bytes, as they travel). */
  const bytesOf = (sent: { offer: Messages.StateOffer; key: Uint8Array }, checkpoint: Checkpoint.Checkpoint) =>
    collect(sealState({ offer: sent.offer, checkpoint, key: sent.key, transcript: before }))
  // `sent` from offerState carries the key and the transcript *after* the offer: only its offer and the stream travel.
  const open = ({
    transcript: _after,
    key: _key,
    ...o
  }: { offer: Messages.StateOffer; stream: AsyncIterable<Uint8Array>; transcript?: Hex; key?: Uint8Array } & Partial<
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
  /** Offers `checkpoint` and opens its stream as the target (with `change` applied to the stream's bytes). */
  const roundTrip = async (
    sent: { offer: Messages.StateOffer; key: Uint8Array },
    checkpoint: Checkpoint.Checkpoint,
    o: Partial<Parameters<typeof openState>[0]> = {},
  ) => open({ offer: sent.offer, stream: pieces(await bytesOf(sent, checkpoint)), ...o })
  return { source, contracts, agentId, verdict, answer, open, offer, bytesOf, roundTrip }
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
    // Over the wire: canonical text and back; the stream in pieces that cut frames anywhere.
    const offer = Messages.parse(Messages.serialize(sent.offer), 'state-offer')
    const bytes = await s.bytesOf(sent, checkpoint)
    for (const chunk of checkpoint.chunks) expect(bytes.includes(Buffer.from(chunk).subarray(0, 32))).toBe(false)
    const got = await s.open({ offer, stream: pieces(bytes, 77) })
    expect(got.checkpoint.stateRoot).toBe(checkpoint.stateRoot)
    expect(got.seq).toBe(2n)
    expect(rows(got.db)).toEqual(rows(db))
    expect(got.transcript).toBe(sent.transcript)
    // Deterministic: a resumed source re-creates the same bytes from the offer, the checkpoint and the journaled key.
    expect((await s.bytesOf(sent, checkpoint)).equals(bytes)).toBe(true)
    expect(rows((await s.open({ offer, stream: pieces(bytes, bytes.length) })).db)).toEqual(rows(db))
  })

  chainTest('behavior: the root already committed at the on-chain seq is accepted (source committed, then crashed)', async ({ chain }) => {
    const s = await session(chain)
    const checkpoint = Checkpoint.exportState(state(3, 'a'), { chunkSize: 128 })
    await commitState(s.source, { contracts: s.contracts, agentId: s.agentId, stateRoot: checkpoint.stateRoot, seq: 5n })
    const sent = await s.offer({ checkpoint, seq: 5n })
    expect((await s.roundTrip(sent, checkpoint)).seq).toBe(5n)
  })

  chainTest('behavior: a seq below the on-chain seq, or equal with another root, is state.stale_seq (anti-rollback)', async ({ chain }) => {
    const s = await session(chain)
    await commitState(s.source, { contracts: s.contracts, agentId: s.agentId, stateRoot: `0x${'11'.repeat(32)}`, seq: 5n })
    const checkpoint = Checkpoint.exportState(state(3, 'a'), { chunkSize: 128 })
    for (const seq of [4n, 5n, 0n]) {
      const error = await refusal(s.roundTrip(await s.offer({ checkpoint, seq }), checkpoint))
      expect([error.code, error.reasons.length]).toEqual(['state.stale_seq', 1])
    }
  })

  chainTest('behavior: a signature by a non-canonical key, or over other fields, is state.signer', async ({ chain }) => {
    const s = await session(chain)
    const checkpoint = Checkpoint.exportState(state(3, 'a'), { chunkSize: 128 })
    const stranger = await s.offer({ checkpoint, seq: 1n, account: testAccounts[4] as (typeof testAccounts)[number] })
    expect((await refusal(s.roundTrip(stranger, checkpoint))).code).toBe('state.signer')
    const honest = await s.offer({ checkpoint, seq: 1n })
    const stream = await s.bytesOf(honest, checkpoint)
    expect((await refusal(s.open({ offer: { ...honest.offer, seq: '9' }, stream: pieces(stream) }))).code).toBe('state.signer')
    expect((await refusal(s.roundTrip(honest, checkpoint, { chainId: chain.chain.id + 1 }))).code).toBe('state.signer')
    // An explicit expected signer overrides the on-chain one.
    const other = (chain.wallets[4] as Chain_['wallets'][number]).account.address
    expect((await refusal(s.roundTrip(honest, checkpoint, { expectedSigner: other }))).code).toBe('state.signer')
  })

  chainTest('behavior: chunks that do not hash to the signed root are state.root_mismatch; nothing is loaded', async ({ chain }) => {
    const s = await session(chain)
    const a = Checkpoint.exportState(state(10, 'a'), { chunkSize: 128 })
    const b = Checkpoint.exportState(state(10, 'b'), { chunkSize: 128 })
    expect([a.byteLength, a.chunks.length]).toEqual([b.byteLength, b.chunks.length])
    expect(a.stateRoot).not.toBe(b.stateRoot)
    const forgedCheckpoint = { ...b, stateRoot: a.stateRoot }
    const forged = await s.offer({ checkpoint: forgedCheckpoint, seq: 1n })
    const error = await refusal(s.roundTrip(forged, forgedCheckpoint))
    expect(error.code).toBe('state.root_mismatch')
    expect(error.reasons[0]?.message).toBe(
      `The checkpoint hashes to ${b.stateRoot}, not the expected state root ${a.stateRoot}; nothing was loaded.`,
    )
  })

  chainTest('behavior: hostile streams are refused with their code and nothing is loaded', async ({ chain }) => {
    const s = await session(chain)
    const checkpoint = Checkpoint.exportState(state(10, 'a'), { chunkSize: 128 })
    const sent = await s.offer({ checkpoint, seq: 1n })
    const good = await s.bytesOf(sent, checkpoint)
    const code = async (bytes: Uint8Array, o: Partial<Parameters<typeof openState>[0]> = {}) =>
      (await refusal(s.open({ offer: sent.offer, stream: pieces(bytes), ...o }))).code
    const frame = (i: number) => 72 + i * (8 + 128 + 16) // preamble, then full frames of 128-byte chunks
    const spliced = (...parts: Uint8Array[]) => Buffer.concat(parts)
    // Truncated: mid-frame, at a frame boundary, or only the preamble.
    expect(await code(good.subarray(0, good.length - 5))).toBe('state.chunks')
    expect(await code(good.subarray(0, frame(3)))).toBe('state.chunks')
    expect(await code(good.subarray(0, 72))).toBe('state.chunks')
    expect(await code(new Uint8Array(0))).toBe('state.chunks')
    // Out of order, repeated: frame 1 where frame 0 belongs; frame 0 twice.
    expect(await code(spliced(good.subarray(0, 72), good.subarray(frame(1), frame(2)), good.subarray(frame(0))))).toBe('state.chunks')
    expect(await code(spliced(good.subarray(0, frame(1)), good.subarray(frame(0))))).toBe('state.chunks')
    // A frame header that claims more bytes than the layout gives (an oversized frame): refused before it is read.
    const oversized = Buffer.from(good)
    oversized.writeUInt32BE(0xffff_ff00, frame(2) + 4)
    expect(await code(oversized)).toBe('state.frame')
    // More bytes than the offer's byteLength allows, after the last frame.
    expect(await code(spliced(good, Buffer.from('more')))).toBe('state.stream')
    // Not a state stream; a stream of another session or offer.
    expect(await code(Buffer.from('{"hello":"json"}'.repeat(10)))).toBe('state.stream')
    const foreign = Buffer.from(good)
    foreign[8] = (foreign[8] as number) ^ 1 // sessionId
    expect(await code(foreign)).toBe('state.chunks')
    // One byte altered in a frame's ciphertext, or its tag.
    for (const at of [frame(4) + 8 + 3, frame(5) - 1]) {
      const tampered = Buffer.from(good)
      tampered[at] = (tampered[at] as number) ^ 0x40
      expect(await code(tampered)).toBe('state.decrypt')
    }
    // Frames of another offer (its own key) relabelled as this offer's: they do not open.
    const second = await s.offer({ checkpoint, seq: 1n })
    const relabelled = spliced(good.subarray(0, 72), (await s.bytesOf(second, checkpoint)).subarray(72))
    expect(await code(relabelled)).toBe('state.decrypt')
    // The transcript the target holds is not the source's: the offer's signature fails first.
    const wrongTranscript = openState({
      offer: sent.offer,
      stream: pieces(good),
      ephemeralPrivateKey: s.answer.ephemeralPrivateKey,
      transcript: Messages.emptyTranscript,
      client: chain.client,
      contracts: s.contracts,
      agentId: s.agentId,
      chainId: chain.chain.id,
    })
    expect((await refusal(wrongTranscript)).code).toBe('state.signer')
    // The good stream still loads.
    expect((await s.open({ offer: sent.offer, stream: pieces(good) })).checkpoint.stateRoot).toBe(checkpoint.stateRoot)
  })

  chainTest('behavior: nothing is signed or encrypted for a refused target', async ({ chain }) => {
    const s = await session(chain, { targetOf: other })
    expect(s.verdict.reasons.map((r) => r.code)).toEqual(['target.measurement'])
    const checkpoint = Checkpoint.exportState(state(3, 'a'), { chunkSize: 128 })
    expect((await refusal(s.offer({ checkpoint, seq: 1n }))).code).toBe('target.measurement')
  })
})
