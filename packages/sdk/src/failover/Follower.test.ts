// The standby's endpoints (Follower.ts) served on loopback, attested by a real devnet guest agent, with the lease the
// chain answers set by the test. Every refusal is checked for its status and code, for leaving the standby as it was
// (head, applied records, session, counters) and for the server answering the next request.
import { request as httpRequest } from 'node:http'
import { verifyQuote } from '@regent-tee/attest'
import type { Address, Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import {
  closeServers,
  hex,
  leaseOf,
  memoryState,
  newHello,
  post,
  record,
  records,
  type ServedFollower,
  startFollower,
} from '../../test/failover-fixtures.js'
import { collateral, startTarget, type Target, trustedRoots } from '../../test/uplift-fixtures.js'
import type { BaseTeeClient } from '../createTeeClient.js'
import { parseHello } from './Follower.js'
import * as Wire from './Wire.js'

const agent = privateKeyToAccount(generatePrivateKey())
const stranger = privateKeyToAccount(generatePrivateKey())
const leaderId: Address = '0x00000000000000000000000000000000000000a1'
const nextLeaderId: Address = '0x00000000000000000000000000000000000000a2'
const json = { 'content-type': 'application/json' }
/** The standby's clock (ms); hellos are issued at it unless a test says otherwise. */
const clock = 1_750_000_000_000

let cvm: Target
beforeAll(async () => {
  cvm = await startTarget({ name: 'failover-standby', seed: 31 })
})
afterAll(async () => {
  await cvm.close()
})
afterEach(async () => {
  quotes.length = 0
  await closeServers()
})

/** The guest-agent calls a standby made (the real client, counted). */
const quotes: string[] = []
const counted = (): BaseTeeClient => ({
  transport: cvm.client.transport,
  request: (args) => {
    quotes.push(args.method)
    return cvm.client.request(args)
  },
})

const standby = (options: { tee?: BaseTeeClient | undefined; maxBytes?: number } = {}) =>
  startFollower({
    tee: 'tee' in options ? options.tee : counted(),
    address: agent.address,
    lease: leaseOf({ holder: leaderId, epoch: 3n }),
    now: () => clock,
    ...(options.maxBytes ? { maxBytes: options.maxBytes } : {}),
  })

const hello = (fields: Partial<Omit<Wire.Hello, 'signature'>> = {}, account = agent) =>
  newHello(account, { leaderInstanceId: leaderId, issuedAt: String(clock), ...fields })

const sendHello = (f: ServedFollower, body: unknown, headers: Record<string, string> = json) => sendRaw(f, JSON.stringify(body), headers)
const sendRaw = (f: ServedFollower, body: string | Uint8Array, headers: Record<string, string> = json) =>
  post(`${f.url}/failover/v1/hello`, body, headers)
/** A snapshot of an empty state (frame `n`). */
const empty = (n: number): Wire.Frame => ({ kind: 'snapshot', n, ...memoryState().snapshot(), peers: [] })

/** A leader's session with `f`: the hello it sent, the standby's answer, the session key, and frame senders. */
async function attach(f: ServedFollower, fields: Partial<Omit<Wire.Hello, 'signature'>> = {}) {
  const { hello: h, privateKey } = await hello(fields)
  const r = await sendHello(f, h)
  expect([r.status, r.code]).toEqual([200, undefined])
  const answer = r.json as unknown as Wire.Answer
  const id = Wire.helloDigest(h)
  const key = Wire.sessionKey({ privateKey, peerPublicKey: answer.publicKey, sessionId: id })
  let n = 0
  const send = (path: 'sync' | 'tail', bytes: Uint8Array, session: string = id) =>
    post(`${f.url}/failover/v1/${path}`, bytes, { 'content-type': 'application/octet-stream', 'x-regent-session': session })
  return {
    hello: h,
    answer,
    id,
    key,
    /** The next frame counter. */
    n: () => ++n,
    seal: (frame: Wire.Frame) => Wire.sealFrame(key, id, frame),
    sync: (frame: Wire.Frame) => send('sync', Wire.sealFrame(key, id, frame)),
    tail: (frame: Wire.Frame) => send('tail', Wire.sealFrame(key, id, frame)),
    send,
  }
}
type Session = Awaited<ReturnType<typeof attach>>

/** Everything a refused request must leave as it was. */
const observe = (f: ServedFollower) => ({
  head: f.state.head(),
  log: f.state.log(),
  calls: { ...f.state.calls },
  buffer: f.buffer.last(),
  following: f.follower.following(),
  stats: f.follower.stats(),
})

/** Sends a request that must be refused with `status` and `code`, leaving `f` as it was and answering afterwards. */
async function refused<R extends { status: number; code?: string | undefined }>(
  f: ServedFollower,
  status: number,
  code: string,
  send: () => Promise<R>,
): Promise<R> {
  const before = observe(f)
  const r = await send()
  expect([r.status, r.code]).toEqual([status, code])
  expect(observe(f)).toEqual(before)
  // Still answering: a request without a session is its typed refusal.
  expect((await post(`${f.url}/failover/v1/sync`, new Uint8Array(1))).code).toBe('failover.session')
  return r
}

describe('POST /failover/v1/hello', () => {
  test('default: a hello of the agent key for the lease holder and epoch is answered with a key the quote binds', async () => {
    const f = await standby()
    f.state.write(records(1, 4))
    const { hello: h } = await hello()
    const r = await sendHello(f, h)
    expect(r.status).toBe(200)
    const answer = r.json as unknown as Wire.Answer
    expect(Object.keys(answer).sort()).toEqual(['eventLog', 'head', 'publicKey', 'quote', 'standbyUrl'])
    expect([answer.standbyUrl, answer.head]).toEqual([f.url, 4])
    const verdict = await verifyQuote(Buffer.from(answer.quote.slice(2), 'hex'), {
      collateral,
      trustedRoots,
      now: new Date(),
      policy: { eventLog: answer.eventLog },
    })
    expect(verdict.reasons).toEqual([])
    const expected = Wire.standbyReportData({ sessionId: Wire.helloDigest(h), publicKey: answer.publicKey, standbyUrl: f.url })
    expect(`0x${verdict.measurements?.reportData}`).toBe(hex(expected))
    expect(f.follower.following()).toEqual({
      agentId: 7n,
      epoch: 3n,
      leaderUrl: h.leaderUrl,
      leaderInstanceId: leaderId,
      peers: [],
      synced: false,
    })
    expect(f.reads).toEqual([7n])
  })

  test('bad input: extra, missing or malformed fields are failover.bad_hello, before the chain is read', async () => {
    const f = await standby()
    const { hello: h } = await hello()
    const { signature: _, ...unsigned } = h
    const bodies: unknown[] = [
      { ...h, extra: '1' },
      unsigned,
      ...Object.keys(h).map((k) => Object.fromEntries(Object.entries(h).filter(([key]) => key !== k))),
      { ...h, v: 1 },
      { ...h, v: '2' },
      { ...h, agentId: 7 },
      { ...h, agentId: '-7' },
      { ...h, agentId: '0x07' },
      { ...h, agentId: '1'.repeat(41) },
      { ...h, epoch: '0' },
      { ...h, epoch: '3.0' },
      { ...h, leaderUrl: 'ftp://leader' },
      { ...h, leaderUrl: `http://${'a'.repeat(2048)}` },
      { ...h, leaderUrl: 42 },
      { ...h, leaderInstanceId: leaderId.slice(0, 40) },
      { ...h, leaderInstanceId: `${leaderId}00` },
      { ...h, nonce: '0x1234' },
      { ...h, publicKey: `${h.publicKey}00` },
      { ...h, publicKey: h.publicKey.slice(2) },
      { ...h, issuedAt: '-1' },
      { ...h, issuedAt: '1e12' },
      { ...h, issuedAt: Number(h.issuedAt) },
      { ...h, signature: h.signature.slice(0, 130) },
      { ...h, signature: null },
      [h],
      null,
      'hello',
      42,
    ]
    for (const body of bodies) {
      const r = await refused(f, 400, 'failover.bad_hello', () => sendHello(f, body))
      expect(JSON.stringify(r.json), JSON.stringify(body)).toMatch(/"message":"The hello's .+ is missing or malformed\."/)
    }
    expect(f.reads).toEqual([])
  })

  test('bad input: not JSON, no JSON content type, oversized → request.* refusals', async () => {
    const f = await standby()
    const { hello: h } = await hello()
    await refused(f, 400, 'request.malformed_json', () => sendRaw(f, '{"v":'))
    await refused(f, 400, 'request.malformed_json', () => sendRaw(f, new Uint8Array([0x7b, 0xff, 0x7d])))
    await refused(f, 415, 'request.media_type', () => sendHello(f, h, { 'content-type': 'text/plain' }))
    await refused(f, 415, 'request.media_type', () => sendHello(f, h, {}))
    await refused(f, 413, 'request.too_large', () => sendHello(f, { ...h, pad: 'x'.repeat(16 * 1024) }))
    expect(f.reads).toEqual([])
  })

  test('behavior: a hello not signed by the agent key is failover.signer', async () => {
    const f = await standby()
    const { hello: h } = await hello({}, stranger)
    await refused(f, 403, 'failover.signer', () => sendHello(f, h))
    // Signed by the agent key, then altered: the signer recovered is another address.
    const { hello: signed } = await hello()
    await refused(f, 403, 'failover.signer', () => sendHello(f, { ...signed, epoch: '4' }))
    await refused(f, 403, 'failover.signer', () => sendHello(f, { ...signed, leaderUrl: 'http://127.0.0.1:2' }))
    expect(f.reads).toEqual([])
  })

  test('behavior: a hello issued more than its lifetime ago, or as far ahead, is failover.expired', async () => {
    const f = await standby()
    for (const issuedAt of [clock - Wire.helloLifetimeMs - 1, clock + Wire.helloLifetimeMs + 1, 0])
      await refused(f, 401, 'failover.expired', async () => sendHello(f, (await hello({ issuedAt: String(issuedAt) })).hello))
    expect(f.reads).toEqual([])
    // At the edges it is accepted.
    for (const issuedAt of [clock - Wire.helloLifetimeMs, clock + Wire.helloLifetimeMs])
      expect((await sendHello(f, (await hello({ issuedAt: String(issuedAt) })).hello)).status).toBe(200)
  })

  test('behavior: the chain naming another holder or epoch, or no lease, is failover.not_holder', async () => {
    const f = await standby()
    const { hello: h } = await hello()
    for (const lease of [
      leaseOf({ holder: nextLeaderId, epoch: 3n }),
      leaseOf({ holder: leaderId, epoch: 4n }),
      leaseOf({ holder: leaderId, epoch: 2n }),
      leaseOf({ holder: leaderId, epoch: 3n, period: 0n }),
    ]) {
      f.lease = lease
      await refused(f, 403, 'failover.not_holder', () => sendHello(f, h))
    }
    expect(f.reads.length).toBe(4)
    // The chain agrees again: the same hello is accepted (the refusals did not spend it).
    f.lease = leaseOf({ holder: leaderId, epoch: 3n })
    expect((await sendHello(f, h)).status).toBe(200)
  })

  test('behavior: a standby without a TEE refuses to attest (failover.no_tee) and opens no session', async () => {
    const f = await standby({ tee: undefined })
    await refused(f, 501, 'failover.no_tee', async () => sendHello(f, (await hello()).hello))
  })

  test('behavior: a hello whose key is not a usable X25519 key is failover.bad_hello; no quote is spent on it', async () => {
    const f = await standby()
    const s = await attach(f)
    expect(quotes.splice(0)).toEqual(['GetQuote'])
    await refused(f, 400, 'failover.bad_hello', async () => sendHello(f, (await hello({ publicKey: hex(new Uint8Array(32)) })).hello))
    expect(quotes).toEqual([])
    // The session it had is intact.
    expect((await s.sync(empty(s.n()))).status).toBe(200)
  })

  test('behavior: a hello is accepted once: the same hello again is failover.replayed and leaves the session', async () => {
    const f = await standby()
    const s = await attach(f)
    await refused(f, 409, 'failover.replayed', () => sendHello(f, s.hello))
    expect((await s.sync(empty(s.n()))).status).toBe(200)
    // Replayed again after a newer session of the same epoch: still refused (the newer session stays).
    const newer = await attach(f)
    await refused(f, 409, 'failover.replayed', () => sendHello(f, s.hello))
    expect((await newer.sync(empty(newer.n()))).status).toBe(200)
    // Two copies of one hello at once: one is answered.
    const { hello: h } = await hello()
    const both = await Promise.all([sendHello(f, h), sendHello(f, h)])
    expect(both.map((r) => [r.status, r.code]).sort()).toEqual([
      [200, undefined],
      [409, 'failover.replayed'],
    ])
  })

  test('behavior: an older epoch than the session’s is failover.stale_epoch; a newer one supersedes it', async () => {
    const f = await standby()
    f.lease = leaseOf({ holder: leaderId, epoch: 5n })
    const old = await attach(f, { epoch: '5' })
    expect((await old.sync(empty(old.n()))).status).toBe(200)
    const reads = f.reads.length
    // A zombie of epoch 4 (whatever the chain says): refused before the chain is read.
    await refused(f, 409, 'failover.stale_epoch', async () => sendHello(f, (await hello({ epoch: '4' })).hello))
    expect(f.reads.length).toBe(reads)
    // The chain moves to epoch 6 (another instance claimed): its hello supersedes the session.
    f.lease = leaseOf({ holder: nextLeaderId, epoch: 6n })
    const now = await attach(f, { epoch: '6', leaderInstanceId: nextLeaderId })
    expect(f.follower.following()).toMatchObject({ epoch: 6n, leaderInstanceId: nextLeaderId, synced: false })
    // The old leader's frames are for a session that is gone.
    await refused(f, 410, 'failover.session', () => old.sync({ kind: 'records', n: old.n(), records: [record(1)], peers: [] }))
    await refused(f, 409, 'failover.stale_epoch', async () => sendHello(f, (await hello({ epoch: '5' })).hello))
    expect((await now.sync(empty(now.n()))).status).toBe(200)
  })
})

describe('POST /failover/v1/sync', () => {
  /** A standby attached and synced with a snapshot of records 1–3. */
  async function synced() {
    const f = await standby()
    const s = await attach(f)
    const source = memoryState(records(1, 3))
    const r = await s.sync({ kind: 'snapshot', n: s.n(), ...source.snapshot(), peers: [f.url, 'http://127.0.0.1:3'] })
    expect(r.status).toBe(200)
    return { f, s }
  }
  const ack = (s: Session, r: { status: number; json: Record<string, unknown> }, n: number, head: number) => {
    expect(r.status).toBe(200)
    expect([r.json.n, r.json.head]).toEqual([n, head])
    expect(Wire.checkAck(s.key, s.id, n, head, r.json.mac)).toBe(true)
  }

  test('default: a snapshot, then records, each acknowledged with the session’s MAC of (n, head)', async () => {
    const f = await standby()
    const s = await attach(f)
    const source = memoryState(records(1, 3))
    const n1 = s.n()
    ack(s, await s.sync({ kind: 'snapshot', n: n1, ...source.snapshot(), peers: [f.url, 'http://127.0.0.1:3'] }), n1, 3)
    expect(f.state.log()).toEqual(source.log())
    expect(f.follower.following()).toMatchObject({ synced: true, peers: [f.url, 'http://127.0.0.1:3'] })
    const n2 = s.n()
    ack(s, await s.sync({ kind: 'records', n: n2, records: records(4, 6), peers: [f.url] }), n2, 6)
    expect(f.state.log()).toEqual(records(1, 6))
    expect(f.buffer.since(3)).toEqual(records(4, 6))
    expect(f.follower.stats()).toEqual({ frames: 2, records: 3, snapshots: 1 })
    // An empty records frame is a heartbeat: acknowledged at the head, nothing applied.
    const n3 = s.n()
    ack(s, await s.sync({ kind: 'records', n: n3, records: [], peers: [f.url] }), n3, 6)
    expect(f.state.calls.apply).toBe(1)
  })

  test('behavior: records it holds already are skipped, the rest applied (a leader resending after a lost ack)', async () => {
    const { f, s } = await synced()
    const n = s.n()
    ack(s, await s.sync({ kind: 'records', n, records: records(2, 5), peers: [] }), n, 5)
    expect(f.state.log()).toEqual(records(1, 5))
  })

  test('bad input: another or no session id is failover.session (410)', async () => {
    const { f, s } = await synced()
    const frame = s.seal({ kind: 'records', n: s.n(), records: [record(4)], peers: [] })
    await refused(f, 410, 'failover.session', () => s.send('sync', frame, `0x${'11'.repeat(32)}`))
    await refused(f, 410, 'failover.session', () =>
      post(`${f.url}/failover/v1/sync`, frame, { 'content-type': 'application/octet-stream' }),
    )
    // The id is compared whole (upper case is the same id).
    ack(s, await s.send('sync', frame, s.id.toUpperCase().replace('0X', '0x')), 2, 4)
  })

  test('bad input: a tampered, truncated, foreign or misdirected frame is failover.bad_frame', async () => {
    const { f, s } = await synced()
    const frame = s.seal({ kind: 'records', n: s.n(), records: [record(4)], peers: [] })
    const flipped = Uint8Array.from(frame)
    flipped[frame.length - 1] = (flipped[frame.length - 1] as number) ^ 1
    const bad = [
      flipped,
      frame.subarray(0, frame.length - 1),
      new Uint8Array(),
      Wire.sealFrame(new Uint8Array(32).fill(1), s.id, { kind: 'records', n: 9, records: [record(4)], peers: [] }),
      Wire.sealFrame(s.key, `0x${'22'.repeat(32)}`, { kind: 'records', n: 9, records: [record(4)], peers: [] }),
      Buffer.concat([Buffer.from('snapshot'), frame.subarray(8)]),
    ]
    for (const bytes of bad) await refused(f, 400, 'failover.bad_frame', () => s.send('sync', bytes))
    // A tail frame belongs to /tail.
    await refused(f, 400, 'failover.bad_frame', () => s.sync({ kind: 'tail', n: 50, from: 0 }))
    // None of these consumed a frame number: the authentic frame is still accepted.
    ack(s, await s.send('sync', frame), 2, 4)
  })

  /** POSTs 1 KiB of a body declared `length` long, and resolves with the status of an answer sent before the rest. */
  const declared = (url: string, session: string, length: number) =>
    new Promise<number>((resolve, reject) => {
      const u = new URL(url)
      const req = httpRequest(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          headers: { 'x-regent-session': session, 'content-length': String(length) },
        },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
          req.destroy()
        },
      )
      req.on('error', reject)
      req.write(new Uint8Array(1024))
    })

  test('bad input: a body declared over the limit is 413 before it is read', async () => {
    const { f, s } = await synced()
    const before = observe(f)
    expect(await declared(`${f.url}/failover/v1/sync`, s.id, 600 * 1024 * 1024)).toBe(413)
    expect(observe(f)).toEqual(before)
  })

  test('bad input: a frame of no session here is refused before its body is read', async () => {
    const { f } = await synced()
    const before = observe(f)
    // 400 MiB (under the limit) declared, 1 KiB sent: the answer comes without the rest.
    expect(await declared(`${f.url}/failover/v1/sync`, `0x${'44'.repeat(32)}`, 400 * 1024 * 1024)).toBe(410)
    expect(await declared(`${f.url}/failover/v1/tail`, '', 400 * 1024 * 1024)).toBe(410)
    expect(observe(f)).toEqual(before)
  })

  test('behavior: a replayed or reordered frame is failover.replayed', async () => {
    const { f, s } = await synced()
    const frame = s.seal({ kind: 'records', n: s.n(), records: [record(4)], peers: [] })
    ack(s, await s.send('sync', frame), 2, 4)
    await refused(f, 409, 'failover.replayed', () => s.send('sync', frame))
    const late = s.seal({ kind: 'records', n: 3, records: [record(5)], peers: [] })
    ack(s, await s.sync({ kind: 'records', n: 5, records: [record(5)], peers: [] }), 5, 5)
    await refused(f, 409, 'failover.replayed', () => s.send('sync', late))
    // A replayed snapshot would roll the state back: refused the same way.
    await refused(f, 409, 'failover.replayed', () => s.sync(empty(1)))
  })

  test('behavior: records before any snapshot, or not following the head, are failover.gap with the head', async () => {
    const f = await standby()
    f.state.write(records(1, 2))
    const s = await attach(f)
    // Before a snapshot of this session the standby holds nothing the leader can build on.
    const first = await refused(f, 409, 'failover.gap', () => s.sync({ kind: 'records', n: s.n(), records: [record(3)], peers: [] }))
    expect(first.json.head).toBe(2)
    expect(f.follower.following()?.synced).toBe(false)
    ack(s, await s.sync({ kind: 'snapshot', n: s.n(), ...memoryState(records(1, 3)).snapshot(), peers: [] }), 2, 3)
    for (const rs of [[record(5)], [record(4), record(6)], [record(4), record(4)], [record(5), record(4)]]) {
      const r = await refused(f, 409, 'failover.gap', () => s.sync({ kind: 'records', n: s.n(), records: rs, peers: [] }))
      expect(r.json.head).toBe(3)
    }
    // A gap answer consumed its frame number (the leader sends a snapshot next, with a higher one).
    const n = s.n()
    ack(s, await s.sync({ kind: 'records', n, records: [record(4)], peers: [] }), n, 4)
  })
})

describe('POST /failover/v1/tail', () => {
  test('default: the records after `from`, sealed for the session; nothing when it holds nothing newer', async () => {
    const f = await standby()
    const s = await attach(f)
    await s.sync(empty(s.n()))
    await s.sync({ kind: 'records', n: s.n(), records: records(1, 6), peers: [] })
    for (const [from, expected] of [
      [3, records(4, 6)],
      [0, records(1, 6)],
      [6, []],
      [9, []],
    ] as const) {
      const n = s.n()
      const r = await s.tail({ kind: 'tail', n, from })
      expect(r.status).toBe(200)
      expect(Wire.openFrame(s.key, s.id, r.bytes)).toEqual({ kind: 'records', n, records: expected, peers: [] })
    }
    expect(f.state.head()).toBe(6)
  })

  test('behavior: records the buffer no longer holds come as its whole state (a snapshot frame)', async () => {
    const f = await standby({ maxBytes: 2 * (16 + 8) })
    const s = await attach(f)
    await s.sync(empty(s.n()))
    await s.sync({ kind: 'records', n: s.n(), records: records(1, 6), peers: [] })
    expect(f.buffer.since(2)).toBeUndefined()
    const n = s.n()
    const r = await s.tail({ kind: 'tail', n, from: 2 })
    expect(r.status).toBe(200)
    expect(Wire.openFrame(s.key, s.id, r.bytes)).toEqual({ kind: 'snapshot', n, ...f.state.snapshot(), peers: [] })
    const m = s.n()
    const kept = await s.tail({ kind: 'tail', n: m, from: 4 })
    expect(Wire.openFrame(s.key, s.id, kept.bytes)).toEqual({ kind: 'records', n: m, records: records(5, 6), peers: [] })
    expect(f.state.head()).toBe(6)
  })

  test('bad input: a replayed tail, a records frame, another session', async () => {
    const f = await standby()
    const s = await attach(f)
    const frame = s.seal({ kind: 'tail', n: s.n(), from: 0 })
    expect((await s.send('tail', frame)).status).toBe(200)
    await refused(f, 409, 'failover.replayed', () => s.send('tail', frame))
    await refused(f, 400, 'failover.bad_frame', () => s.tail({ kind: 'records', n: s.n(), records: [], peers: [] }))
    await refused(f, 410, 'failover.session', () => s.send('tail', s.seal({ kind: 'tail', n: s.n(), from: 0 }), `0x${'33'.repeat(32)}`))
  })
})

describe('routes', () => {
  test('behavior: other methods and paths are not the follower’s', async () => {
    const f = await standby()
    expect((await fetch(`${f.url}/failover/v1/hello`)).status).toBe(404)
    expect((await post(`${f.url}/failover/v1/helloo`, '{}', json)).status).toBe(404)
    expect((await post(`${f.url}/failover/v2/sync`, '')).status).toBe(404)
  })

  test('behavior: drop() ends the session: its frames are failover.session', async () => {
    const f = await standby()
    const s = await attach(f)
    f.follower.drop()
    expect(f.follower.following()).toBeUndefined()
    await refused(f, 410, 'failover.session', () => s.sync(empty(s.n())))
  })
})

describe('parseHello', () => {
  test('default: a well-formed hello is returned as it is', async () => {
    const { hello: h } = await hello()
    expect(parseHello(JSON.parse(JSON.stringify(h)))).toEqual(h)
  })

  test('bad input: error text names the field', async () => {
    const { hello: h } = await hello()
    const message = (v: unknown) => {
      try {
        parseHello(v)
      } catch (error) {
        return (error as Error & { shortMessage: string }).shortMessage
      }
      throw new Error('expected a refusal')
    }
    expect(message({ ...h, x: 1 })).toBe('The hello\'s field "x" is missing or malformed.')
    expect(message({ ...h, nonce: '0x' as Hex })).toBe("The hello's nonce is missing or malformed.")
    expect(message([])).toBe("The hello's body is missing or malformed.")
  })
})
