// The target role's first door (docs/uplift.md "Target-side source checks"; issue 13 §3): an anonymous caller must
// not be able to lock a waiting target. Each case posts to a real createTarget (devnet CVM guest agent, anvil) over
// HTTP and asserts the answer and what the journal holds afterwards.
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import Database from 'better-sqlite3'
import { createWalletClient, type Hex, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { type Target as Cvm, collateral, setupAgent, startTarget, trustedRoots } from '../../test/uplift-fixtures.js'
import * as Checkpoint from '../Checkpoint.js'
import { PrivateKey, toAccount } from '../Keys.js'
import { openSealedState } from '../SealedState.js'
import { createSourceHello, signSourceHello } from './Hello.js'
import * as Journal from './Journal.js'
import { sealKey } from './KeyImport.js'
import * as Messages from './Messages.js'
import { offerState, sealState } from './StateTransfer.js'
import { createTarget } from './Target.js'
import { verifyTarget } from './VerifyTarget.js'

let cvm: Cvm
let dir: string
beforeAll(async () => {
  cvm = await startTarget({ name: 'target-door', seed: 21 })
  dir = await mkdtemp(join(tmpdir(), 'regent-target-door-'))
})
afterAll(async () => {
  cvm.close()
  await rm(dir, { recursive: true, force: true })
})

/** A target for a fresh agent whose canonical signer is `source`, served on loopback, with a settable clock. */
async function serve(chain: Chain_, name: string) {
  const sourceKey = generatePrivateKey()
  const source = privateKeyToAccount(sourceKey)
  const { contracts, agentId } = await setupAgent(chain, {
    composeHashes: [`0x${'ab'.repeat(32)}`, cvm.composeHash],
    signer: source.address,
  })
  const clock = { now: new Date() }
  const journal = Journal.open({ path: join(dir, `${name}.journal`), role: 'target', key: new Uint8Array(32).fill(7) })
  const state = openSealedState({ path: join(dir, `${name}.state`), key: new Uint8Array(32).fill(8) })
  const target = createTarget({
    tee: cvm.client,
    wallet: cvm.wallet,
    walletClient: createWalletClient({ account: toAccount(cvm.wallet), chain: chain.chain, transport: http(chain.anvil.rpcUrl) }),
    client: chain.client,
    contracts,
    chainId: chain.chain.id,
    targetUrl: 'http://127.0.0.1:1/',
    journal,
    state,
    now: () => clock.now,
  })
  const server: Server = createServer((req, res) => {
    void target.handle(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end()
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/uplift/v1`
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as { error?: { code: string }; type?: string; sessionId?: Hex } }
  }
  const hello = (mode: 'import' | 'rotate' = 'import') =>
    createSourceHello({ agentId, chainId: chain.chain.id, contracts, mode, source: source.address })
  /** POSTs raw bytes to the state stream route. */
  const stream = async (body: Uint8Array, contentType = 'application/octet-stream') => {
    const res = await fetch(`${url}/state/stream`, { method: 'POST', headers: { 'content-type': contentType }, body })
    return { status: res.status, body: (await res.json()) as { error?: { code: string }; stateRoot?: Hex; seq?: string } }
  }
  return { source, sourceKey, contracts, agentId, state, url, clock, journal, post, stream, hello, close: () => server.close() }
}

describe('the uplift target refuses hellos the canonical signer did not sign', () => {
  chainTest(
    'behavior: an unsigned hello naming the canonical signer is 403 source.signature; the real source then opens its session',
    async ({ chain }) => {
      const t = await serve(chain, 'unsigned')
      const stranger = await t.post('hello', t.hello())
      expect([stranger.status, stranger.body.error?.code]).toEqual([403, 'source.signature'])
      expect(t.journal.list()).toEqual([]) // nothing journaled: the target still waits
      const real = await signSourceHello(t.hello(), { account: t.source })
      const answer = await t.post('hello', real)
      expect([answer.status, answer.body.type, answer.body.sessionId]).toEqual([200, 'target-hello', real.sessionId])
      t.close()
    },
  )

  chainTest('behavior: a hello signed by another key, or re-signed fields (mode flipped), is 403 source.signature', async ({ chain }) => {
    const t = await serve(chain, 'forged')
    const other = privateKeyToAccount(generatePrivateKey())
    const byOther = await signSourceHello({ ...t.hello(), source: other.address.toLowerCase() as Hex }, { account: other })
    const forged = { ...byOther, source: t.source.address.toLowerCase() as Hex }
    expect((await t.post('hello', forged)).body.error?.code).toBe('source.signature')
    const signed = await signSourceHello(t.hello('import'), { account: t.source })
    const flipped: Messages.SourceHello = { ...signed, mode: 'rotate' }
    expect((await t.post('hello', flipped)).body.error?.code).toBe('source.signature')
    const malformed = { ...signed, signature: `0x${'00'.repeat(65)}` }
    expect((await t.post('hello', malformed)).body.error?.code).toBe('source.signature')
    expect(t.journal.list()).toEqual([])
    t.close()
  })

  chainTest('behavior: an expired hello, or one valid for more than an hour, is 422 source.expired', async ({ chain }) => {
    const t = await serve(chain, 'expired')
    const old = await signSourceHello(t.hello(), { account: t.source, now: new Date(Date.now() - 601_000) })
    expect([(await t.post('hello', old)).status, (await t.post('hello', old)).body.error?.code]).toEqual([422, 'source.expired'])
    const forever = await signSourceHello(t.hello(), { account: t.source, ttlSeconds: 7 * 24 * 3600 })
    expect((await t.post('hello', forever)).body.error?.code).toBe('source.expired')
    expect(t.journal.list()).toEqual([])
    t.close()
  })

  chainTest(
    'behavior: an open session is busy until its hello expires; then a new signed hello replaces it (no key step had happened)',
    async ({ chain }) => {
      const t = await serve(chain, 'stalled')
      const first = await signSourceHello(t.hello(), { account: t.source, ttlSeconds: 60 })
      expect((await t.post('hello', first)).status).toBe(200)
      // The same hello again: the same answer (a resumed source). Another one while it is valid: busy.
      expect((await t.post('hello', first)).body.sessionId).toBe(first.sessionId)
      const second = await signSourceHello(t.hello('rotate'), { account: t.source, ttlSeconds: 600 })
      expect((await t.post('hello', second)).body.error?.code).toBe('session.busy')
      // 61 s later the first session has expired without a key step: the second opens in its place.
      t.clock.now = new Date(t.clock.now.getTime() + 61_000)
      const third = await signSourceHello(t.hello('rotate'), { account: t.source, now: t.clock.now })
      const answer = await t.post('hello', third)
      expect([answer.status, answer.body.sessionId]).toEqual([200, third.sessionId])
      expect(t.journal.get<Messages.SourceHello>('source-hello')?.sessionId).toBe(third.sessionId)
      expect(t.journal.list().map((e) => e.step)).toEqual(['source-hello', 'target-hello'])
      t.close()
    },
  )

  chainTest('behavior: route names are own properties only (constructor, hasOwnProperty, __proto__ are 404)', async ({ chain }) => {
    const t = await serve(chain, 'routes')
    for (const name of ['constructor', 'hasOwnProperty', '__proto__', 'toString'])
      expect([name, (await t.post(name, {})).status, (await t.post(name, {})).body.error?.code]).toEqual([name, 404, 'not_found'])
    t.close()
  })
})

describe('the uplift target refuses hostile state streams (POST /uplift/v1/state/stream)', () => {
  chainTest(
    'behavior: before the offer, truncated, oversized, out of order, repeated, foreign, tampered, too long, not binary, after the load: each a typed refusal; the journal and the state stay as they were',
    async ({ chain }) => {
      const t = await serve(chain, 'stream')
      const sourceHello = await signSourceHello(t.hello('import'), { account: t.source })
      const targetHello = await t.post('hello', sourceHello)
      const verdict = await verifyTarget({
        sourceHello,
        targetHello: Messages.parse(targetHello.body, 'target-hello'),
        collateral,
        trustedRoots,
        now: new Date(),
        policy: { approvedMeasurements: [{ composeHash: cvm.composeHash }] },
      })
      expect(verdict.reasons).toEqual([])
      const envelope = sealKey({ verdict, privateKey: new PrivateKey(Buffer.from(t.sourceKey.slice(2), 'hex')) })
      expect((await t.post('key', envelope)).status).toBe(200)
      const before = Messages.appendTranscript(verdict.target?.transcript as Hex, envelope)
      const db = new Database(':memory:')
      Checkpoint.createSchema(db)
      for (let i = 1; i <= 40; i++) db.prepare('INSERT INTO memory (id, key, value) VALUES (?, ?, ?)').run(i, `k${i}`, 'x'.repeat(100))
      const checkpoint = Checkpoint.exportState(db, { chunkSize: 512 })
      const base = { agentId: t.agentId, chainId: chain.chain.id, contracts: t.contracts }
      const sent = await offerState({ verdict, account: t.source, checkpoint, seq: 1n, transcript: before, ...base })
      const parts: Uint8Array[] = []
      for await (const p of sealState({ offer: sent.offer, checkpoint, key: sent.key, transcript: before })) parts.push(p)
      const good = Buffer.concat(parts)
      const frame = (i: number) => 72 + i * (8 + 512 + 16)
      const emptyRoot = t.state.checkpoint({ chunkSize: 512 }).stateRoot
      const refused = async (body: Uint8Array, status: number, code: string, contentType?: string) => {
        const steps = t.journal.list().map((e) => e.step)
        const answer = await t.stream(body, contentType)
        expect([answer.status, answer.body.error?.code]).toEqual([status, code])
        expect(t.journal.list().map((e) => e.step)).toEqual(steps)
        expect(t.state.checkpoint({ chunkSize: 512 }).stateRoot).toBe(emptyRoot)
      }

      await refused(good, 409, 'session.order') // before the offer
      // An offer signed by another key does not take the session's one offer slot.
      const stranger = privateKeyToAccount(generatePrivateKey())
      const forged = await offerState({ verdict, account: stranger, checkpoint, seq: 1n, transcript: before, ...base })
      forged.key.fill(0)
      const forgedAnswer = await t.post('state/offer', forged.offer)
      expect([forgedAnswer.status, forgedAnswer.body.error?.code]).toEqual([422, 'state.signer'])
      expect(t.journal.list().map((e) => e.step)).toEqual(['source-hello', 'target-hello', 'key-envelope'])
      const offered = await t.post('state/offer', sent.offer)
      expect([offered.status, offered.body]).toEqual([200, { chunkCount: sent.offer.chunkCount, loaded: false }])
      await refused(good.subarray(0, good.length - 7), 422, 'state.chunks') // truncated mid-frame
      await refused(good.subarray(0, frame(2)), 422, 'state.chunks') // truncated at a frame boundary
      const oversized = Buffer.from(good)
      oversized.writeUInt32BE(64 * 1024 * 1024, frame(1) + 4)
      await refused(oversized, 422, 'state.frame')
      await refused(Buffer.concat([good.subarray(0, 72), good.subarray(frame(1))]), 422, 'state.chunks') // frame 0 missing: out of order
      const repeated = Buffer.concat([good.subarray(0, frame(2)), good.subarray(frame(1), frame(2)), good.subarray(frame(3))])
      await refused(repeated, 422, 'state.chunks') // frame 1 twice, in frame 2's place
      const foreign = Buffer.from(good)
      foreign[8 + 31] = (foreign[8 + 31] as number) ^ 1 // another session
      await refused(foreign, 422, 'state.chunks')
      const tampered = Buffer.from(good)
      tampered[frame(3) + 20] = (tampered[frame(3) + 20] as number) ^ 1
      await refused(tampered, 422, 'state.decrypt')
      // More than the offer's byteLength allows: refused on its declared length, or, without one, after the last frame.
      await refused(Buffer.concat([good, Buffer.alloc(1024)]), 413, 'state.stream')
      const chunked = await fetch(`${t.url}/state/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Blob([good, Buffer.alloc(9)]).stream(),
        duplex: 'half',
      } as RequestInit)
      expect([chunked.status, ((await chunked.json()) as { error: { code: string } }).error.code]).toEqual([422, 'state.stream'])
      await refused(good, 415, 'request.media_type', 'application/json')

      // The server still runs: the honest stream loads, once.
      const loaded = await t.stream(good)
      expect([loaded.status, loaded.body]).toEqual([200, { stateRoot: checkpoint.stateRoot, seq: '1' }])
      expect(t.state.checkpoint({ chunkSize: 512 }).stateRoot).toBe(checkpoint.stateRoot)
      expect((await t.post('state/offer', sent.offer)).body).toEqual({ chunkCount: sent.offer.chunkCount, loaded: true })
      const steps = t.journal.list().map((e) => e.step)
      expect(steps).toEqual(['source-hello', 'target-hello', 'key-envelope', 'state-offer', 'state-loaded'])
      const again = await t.stream(good)
      expect([again.status, again.body.error?.code]).toEqual([409, 'state.loaded'])
      expect(t.journal.list().map((e) => e.step)).toEqual(steps)
      t.close()
    },
  )
})
