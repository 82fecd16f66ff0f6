// The self-continuity handshake against real devnet CVMs (in-process guest agents on loopback).
import Database from 'better-sqlite3'
import type { Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { collateral, startTarget, type Target, trustedRoots } from '../../test/uplift-fixtures.js'
import * as Checkpoint from '../Checkpoint.js'
import { toAccount } from '../Keys.js'
import { answerChallenge, createChallenge, verifyHandshake } from './Handshake.js'
import * as Messages from './Messages.js'

let target: Target
let other: Target
beforeAll(async () => {
  ;[target, other] = await Promise.all([startTarget(), startTarget({ name: 'other-app', seed: 5 })])
})
afterAll(async () => {
  await Promise.all([target.close(), other.close()])
})

const sessionId = `0x${'5a'.repeat(32)}` as Hex
const wallet = privateKeyToAccount(generatePrivateKey()) // the source key, imported by the target
const before = `0x${'77'.repeat(32)}` as Hex // transcript hash before the challenge

function checkpointOf(fill: string, rows = 30): Checkpoint.Checkpoint {
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  const insert = db.prepare('INSERT INTO memory (id, key, value, created_at) VALUES (?, ?, ?, ?)')
  for (let i = 1; i <= rows; i++) insert.run(i, `k${i}`, fill.repeat(50), i)
  const cp = Checkpoint.exportState(db, { chunkSize: 200 })
  db.close()
  return cp
}
const source = checkpointOf('a')

async function round(
  options: { client?: Target; account?: Parameters<typeof answerChallenge>[1]['account']; checkpoint?: Checkpoint.Checkpoint } = {},
) {
  const challenge = Messages.parse(
    Messages.serialize(createChallenge({ sessionId, leafCount: source.chunks.length, epoch: 3n, k: 4 })),
    'challenge',
  )
  const transcript = Messages.appendTranscript(before, challenge)
  const answer = await answerChallenge((options.client ?? target).client, {
    challenge,
    account: options.account ?? wallet,
    checkpoint: options.checkpoint ?? source,
    transcript,
  })
  return { challenge, transcript, answer: Messages.parse(Messages.serialize(answer), 'challenge-answer') }
}

const verify = (r: Awaited<ReturnType<typeof round>>, overrides: Partial<Parameters<typeof verifyHandshake>[0]> = {}) =>
  verifyHandshake({
    ...r,
    checkpoint: source,
    expectedSigner: wallet.address,
    collateral,
    trustedRoots,
    now: new Date(),
    policy: { approvedMeasurements: [{ composeHash: target.composeHash }] },
    ...overrides,
  })
const codes = async (p: ReturnType<typeof verify>) => (await p).reasons.map((r) => r.code)

describe('createChallenge', () => {
  test('default: a fresh nonce and k distinct ascending indexes in range', () => {
    const a = createChallenge({ sessionId, leafCount: 100, epoch: 1n })
    const b = createChallenge({ sessionId, leafCount: 100, epoch: 1n })
    expect(a.nonce).not.toBe(b.nonce)
    const indexes = a.leafIndexes.map(Number)
    expect(indexes.length).toBe(8)
    expect(new Set(indexes).size).toBe(8)
    expect(indexes).toEqual([...indexes].sort((x, y) => x - y))
    expect(indexes.every((i) => i >= 0 && i < 100)).toBe(true)
  })

  test('behavior: a checkpoint with fewer chunks than k is asked for all of them', () => {
    expect(createChallenge({ sessionId, leafCount: 3, epoch: 1n }).leafIndexes).toEqual(['0', '1', '2'])
  })
})

describe('answerChallenge / verifyHandshake', () => {
  test('default: the signature, the leaves and the fresh quote all verify against the source’s own facts', async () => {
    const r = await round()
    const v = await verify(r)
    expect(v.reasons).toEqual([])
    expect([v.ok, v.attestation?.signer, v.attestation?.quote?.hardware]).toEqual([true, wallet.address, 'devnet'])
  })

  test('behavior: another wallet is handshake.signer; a signature by another key under the claimed one is handshake.signature', async () => {
    const stranger = toAccount(target.wallet)
    expect(await codes(verify(await round({ account: stranger })))).toEqual(['handshake.signer'])
    const r = await round({ account: stranger })
    expect(await codes(verify({ ...r, answer: { ...r.answer, signer: wallet.address.toLowerCase() as Hex } }))).toEqual([
      'handshake.signature',
      'handshake.stale_quote',
    ])
  })

  test('behavior: an answer replayed for a new challenge fails the signature and the quote binding', async () => {
    const old = await round()
    const fresh = await round()
    expect(await codes(verify({ ...fresh, answer: { ...old.answer, leaves: fresh.answer.leaves } }))).toEqual([
      'handshake.signature',
      'handshake.stale_quote',
    ])
  })

  test('behavior: a host serving a stale quote is handshake.stale_quote', async () => {
    other.faults.staleQuote = true
    try {
      await round({ client: other }) // the first quote of this CVM
      const r = await round({ client: other })
      expect(await codes(verify(r, { policy: { approvedMeasurements: [{ composeHash: other.composeHash }] } }))).toEqual([
        'handshake.stale_quote',
      ])
    } finally {
      other.faults.staleQuote = false
    }
  })

  test('behavior: a target that loaded another state fails the statement, the leaves and the proofs', async () => {
    const r = await round({ checkpoint: checkpointOf('b') })
    const reasons = (await verify(r)).reasons.map((x) => x.code)
    expect(new Set(reasons)).toEqual(new Set(['handshake.signature', 'handshake.stale_quote', 'handshake.leaf']))
  })

  test('behavior: a wrong leaf is handshake.leaf, a wrong proof handshake.proof, other indexes handshake.leaves', async () => {
    const r = await round()
    const [first, ...rest] = r.answer.leaves as [Messages.Leaf, ...Messages.Leaf[]]
    const wrongChunk = { ...first, chunk: toHexOf(checkpointOf('b').chunks[Number(first.index)] as Uint8Array) }
    expect(await codes(verify({ ...r, answer: { ...r.answer, leaves: [wrongChunk, ...rest] } }))).toEqual(['handshake.leaf'])
    const wrongProof = { ...first, siblings: first.siblings.map((s, i) => (i === 0 ? (`0x${'00'.repeat(32)}` as Hex) : s)) }
    expect(await codes(verify({ ...r, answer: { ...r.answer, leaves: [wrongProof, ...rest] } }))).toEqual(['handshake.proof'])
    const shortProof = { ...first, siblings: first.siblings.slice(1) }
    expect(await codes(verify({ ...r, answer: { ...r.answer, leaves: [shortProof, ...rest] } }))).toEqual(['handshake.proof'])
    expect(await codes(verify({ ...r, answer: { ...r.answer, leaves: rest } }))).toEqual(['handshake.leaves'])
  })

  test('behavior: an unapproved measurement and an untrusted root are refused like the first quote', async () => {
    const r = await round({ client: other })
    expect(await codes(verify(r))).toEqual(['handshake.measurement'])
    expect(await codes(verify(await round(), { trustedRoots: undefined }))).toEqual(['handshake.untrusted_root'])
  })
})

function toHexOf(b: Uint8Array): Hex {
  return `0x${Buffer.from(b).toString('hex')}`
}
