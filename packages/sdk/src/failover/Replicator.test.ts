// The canonical's replication (Replicator.ts) against real Followers on loopback, attested by a devnet guest agent;
// the standby verification is the test's (VerifyStandby, which needs the chain's app policy, is tested on its own).
// Impostors are small servers in front of a real Follower that forward what they like and forge the rest.
import { budget } from '@regent-tee/testing/profile'
import { keccak256, toHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import {
  closeServers,
  hex,
  leaseOf,
  type MemoryState,
  memoryState,
  records,
  type ServedFollower,
  serve,
  startFollower,
} from '../../test/failover-fixtures.js'
import { startTarget, type Target } from '../../test/uplift-fixtures.js'
import { FailoverError } from './errors.js'
import { createRecordBuffer } from './RecordBuffer.js'
import { createReplicator, type Replicator, type ReplicatorParameters } from './Replicator.js'
import type { StandbyVerdict } from './VerifyStandby.js'
import type * as Wire from './Wire.js'

const agent = privateKeyToAccount(generatePrivateKey())
const leader = { url: 'http://127.0.0.1:1', instanceId: '0x00000000000000000000000000000000000000a1' } as const
const nextLeader = { url: 'http://127.0.0.1:2', instanceId: '0x00000000000000000000000000000000000000a2' } as const

let cvm: Target
beforeAll(async () => {
  cvm = await startTarget({ name: 'failover-replica', seed: 41 })
})
afterAll(async () => {
  await cvm.close()
})
const replicators: Replicator[] = []
afterEach(async () => {
  for (const r of replicators.splice(0)) r.close()
  await closeServers()
})

const follower = (options: { epoch?: bigint; holder?: `0x${string}`; maxBytes?: number } = {}) =>
  startFollower({
    tee: cvm.client,
    address: agent.address,
    lease: leaseOf({ holder: options.holder ?? leader.instanceId, epoch: options.epoch ?? 3n }),
    ...(options.maxBytes ? { maxBytes: options.maxBytes } : {}),
  })

/** A standby's instance id, from the URL it answered with (distinct per standby). */
const instanceOf = (url: string) => `0x${keccak256(toHex(url)).slice(26)}` as const
/** The test's verification: accepts every answer, or what `decide` says; records what it was asked. */
function verifier(decide?: (hello: Wire.Hello, answer: Wire.Answer) => StandbyVerdict) {
  const asked: { hello: Wire.Hello; answer: Wire.Answer }[] = []
  const verify = async (hello: Wire.Hello, answer: Wire.Answer): Promise<StandbyVerdict> => {
    asked.push({ hello, answer })
    return (
      decide?.(hello, answer) ?? {
        ok: true,
        reasons: [],
        standby: { instanceId: instanceOf(answer.standbyUrl), hardware: 'devnet', url: answer.standbyUrl },
      }
    )
  }
  return { verify, asked }
}

/** A canonical's replicator over `state`, on a clock the test moves. */
function replicator(options: Partial<ReplicatorParameters> & { state?: MemoryState } = {}) {
  const clock = { t: 0 }
  const state = options.state ?? memoryState(records(1, 3))
  const buffer = createRecordBuffer({ base: state.head() })
  const { verify, asked } = verifier()
  const r = createReplicator({
    account: agent,
    agentId: 7n,
    epoch: 3n,
    self: leader,
    k: 1,
    state,
    buffer,
    verify,
    ackTimeoutMs: 500,
    requestTimeoutMs: 2000,
    now: () => clock.t,
    ...options,
  })
  replicators.push(r)
  /** Appends records here, as the agent does, and queues them for the standbys. */
  const write = (rs: readonly Wire.LogRecord[]) => {
    state.write(rs)
    r.push(rs)
  }
  return { r, state, buffer, clock, write, asked }
}

/** A promise's outcome so far, without waiting for it. */
function track<T>(promise: Promise<T>) {
  const t = { settled: false as boolean, error: undefined as unknown }
  promise.then(
    () => {
      t.settled = true
    },
    (error: unknown) => {
      t.settled = true
      t.error = error
    },
  )
  return t
}

async function unreplicated(promise: Promise<void>): Promise<FailoverError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(FailoverError)
  expect([(error as FailoverError).status, (error as FailoverError).code]).toEqual([503, 'failover.unreplicated'])
  return error as FailoverError
}

/**
 * A server in front of `f` that forwards everything, keeps sync requests while `hold` is set (until `release()`), and
 * from the second sync on lets `forge` answer instead: with a body of its own, or `'forward'` to forward and then
 * answer `forge(realAnswer)`. The real answers of forwarded syncs are kept in `answers`.
 */
async function inFront(
  f: ServedFollower,
  forge?: (real?: Record<string, unknown>) => unknown,
  options: { tail?: (bytes: Buffer) => Buffer } = {},
) {
  const held: (() => void)[] = []
  const arrived: (() => void)[] = []
  const state = { hold: false, syncs: 0, answers: [] as Record<string, unknown>[] }
  const forward = async (path: string, headers: Record<string, string>, body: Uint8Array) => {
    const real = await fetch(`${f.url}${path}`, { method: 'POST', headers, body })
    return { status: real.status, bytes: Buffer.from(await real.arrayBuffer()), type: real.headers.get('content-type') ?? '' }
  }
  const proxy = await serve(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    const path = req.url ?? '/'
    const headers = Object.fromEntries(
      ['content-type', 'x-regent-session'].flatMap((h) => (req.headers[h] ? [[h, String(req.headers[h])]] : [])),
    )
    const json = (v: unknown) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v))
    if (path !== '/failover/v1/sync') {
      const real = await forward(path, headers, body)
      const bytes = path === '/failover/v1/tail' && options.tail ? options.tail(real.bytes) : real.bytes
      return void res.writeHead(real.status, { 'content-type': real.type }).end(bytes)
    }
    state.syncs++
    for (const a of arrived.splice(0)) a()
    if (state.hold) await new Promise<void>((r) => held.push(r))
    const forged = forge && state.syncs > 1 ? forge() : 'forward'
    if (forged !== 'forward') return json(forged)
    const real = await forward(path, headers, body)
    const answer = JSON.parse(real.bytes.toString()) as Record<string, unknown>
    state.answers.push(answer)
    if (forge && state.syncs > 1) return json(forge(answer))
    res.writeHead(real.status, { 'content-type': real.type }).end(real.bytes)
  })
  return {
    url: proxy.url,
    state,
    /** Resolves when the next sync request arrives. */
    nextSync: () => new Promise<void>((r) => arrived.push(r)),
    release() {
      state.hold = false
      for (const r of held.splice(0)) r()
    },
  }
}

describe('createReplicator', () => {
  test('default: add() attaches a standby and sends it a snapshot; it streams from the head', async () => {
    const f = await follower()
    const { r, state, asked } = replicator()
    const status = await r.add(f.url)
    expect(status).toEqual({ url: f.url, state: 'streaming', instanceId: instanceOf(f.url), acked: 3 })
    expect(f.state.log()).toEqual(state.log())
    expect(f.follower.following()).toMatchObject({ epoch: 3n, leaderUrl: leader.url, synced: true, peers: [f.url] })
    expect(f.follower.stats()).toEqual({ frames: 1, records: 0, snapshots: 1 })
    // The hello it verified is the one the standby answered.
    expect(asked.map((a) => [a.hello.epoch, a.hello.leaderInstanceId, a.answer.standbyUrl])).toEqual([['3', leader.instanceId, f.url]])
    expect(await r.add(f.url)).toEqual(status)
    expect(r.urls()).toEqual([f.url])
    expect(r.status()).toMatchObject({ k: 1, required: 1, degraded: false, lagRecords: 0 })
  })

  test('behavior: replicated(seq) resolves once k standbys acknowledged seq, not before', async () => {
    const [f1, f2] = await Promise.all([follower(), follower()])
    const gate = await inFront(f2)
    const { r, state, write } = replicator({ k: 2, ackTimeoutMs: 30_000 })
    await r.add(f1.url)
    await r.add(gate.url)
    expect(r.required()).toBe(2)
    gate.state.hold = true
    const arrived = gate.nextSync()
    write(records(4, 6))
    const done = r.replicated(6)
    const t = track(done)
    await arrived
    await vi.waitFor(() => expect(r.status().standbys.find((s) => s.url === f1.url)?.acked).toBe(6))
    expect(t.settled).toBe(false)
    gate.release()
    await done
    expect([f1.state.log(), f2.state.log()]).toEqual([state.log(), state.log()])
    expect(r.status().standbys.map((s) => s.acked)).toEqual([6, 6])
    // An acknowledged seq resolves at once.
    await r.replicated(5)
  })

  test('behavior: with k = 2 and one standby down, a write is unreplicated (503) after ackTimeoutMs', async () => {
    const [f1, f2] = await Promise.all([follower(), follower()])
    const { r, write } = replicator({ k: 2, ackTimeoutMs: 400 })
    await r.add(f1.url)
    await r.add(f2.url)
    await f2.close()
    write(records(4, 4))
    const started = performance.now()
    const error = await unreplicated(r.replicated(4))
    const waited = performance.now() - started
    expect(waited).toBeGreaterThanOrEqual(390)
    expect(waited).toBeLessThan(400 + budget(1500))
    expect(error.shortMessage).toBe('Seq 4 is durable here but only 1 of the 2 standbys required acknowledged it within 400 ms.')
    expect(f1.state.head()).toBe(4)
    // Down, and being retried (each retry attaches first).
    const down = r.status().standbys.find((s) => s.url === f2.url)
    expect(['unreachable', 'attaching']).toContain(down?.state)
    expect(down?.acked).toBe(3)
  })

  test('behavior: a standby down longer than degradeAfterMs stops being counted; writes are acknowledged again', async () => {
    const [f1, f2] = await Promise.all([follower(), follower()])
    const { r, clock, write } = replicator({ k: 2, degradeAfterMs: 10_000, ackTimeoutMs: 30_000 })
    await r.add(f1.url)
    await r.add(f2.url)
    await f2.close()
    write(records(4, 4))
    const waiting = r.replicated(4)
    await vi.waitFor(() => expect(r.status().standbys.find((s) => s.url === f2.url)?.state).toBe('unreachable'))
    clock.t += 9_999
    expect(r.status()).toMatchObject({ required: 2, degraded: false })
    clock.t += 1
    expect(r.status()).toMatchObject({ required: 1, degraded: true })
    // The write that waited is released (by the replicator's own tick), and new ones are acknowledged by f1 alone.
    await waiting
    write(records(5, 5))
    await r.replicated(5)
    expect(f1.state.head()).toBe(5)
  })

  test('behavior: an acknowledgement with a forged MAC never counts (an impostor that dropped the write)', async () => {
    const f = await follower()
    const impostor = await inFront(f, () => ({ head: 4, n: 2, mac: hex(new Uint8Array(32).fill(7)) }))
    const { r, write } = replicator({ k: 1 })
    expect((await r.add(impostor.url)).acked).toBe(3)
    write(records(4, 4))
    await unreplicated(r.replicated(4))
    expect(r.status().standbys[0]).toMatchObject({ acked: 3, state: 'unreachable' })
    expect(f.state.head()).toBe(3)
  })

  test('behavior: the standby’s genuine MAC of an earlier frame, replayed for a later one, does not count', async () => {
    const f = await follower()
    let replay: Awaited<ReturnType<typeof inFront>> | undefined
    replay = await inFront(f, () => ({ ...replay?.state.answers[0], head: 4, n: 2 }))
    const { r, write } = replicator({ k: 1 })
    await r.add(replay.url)
    expect(replay.state.answers).toMatchObject([{ head: 3, n: 1 }])
    write(records(4, 4))
    await unreplicated(r.replicated(4))
    expect(r.status().standbys[0]?.acked).toBe(3)
  })

  test('behavior: a head inflated over the standby’s genuine MAC does not count', async () => {
    const f = await follower()
    const inflate = await inFront(f, (real) => (real ? { ...real, head: (real.head as number) + 1 } : 'forward'))
    const { r, write } = replicator({ k: 1 })
    await r.add(inflate.url)
    write(records(4, 4))
    await unreplicated(r.replicated(4))
    // It holds 4 (forwarded) and claims 5 under the MAC of 4: a claim of a write it does not hold would look the same.
    expect(f.state.head()).toBe(4)
    expect(r.status().standbys[0]?.acked).toBe(3)
  })

  test('behavior: catchUp() pulls the records a standby holds beyond this instance’s head', async () => {
    // Epoch 3: the old canonical replicated records 1–5 to f.
    const f = await follower()
    const old = replicator({ state: memoryState([]) })
    await old.r.add(f.url)
    old.write(records(1, 5))
    await old.r.replicated(5)
    old.r.close()
    // Epoch 4: another instance, which held up to 3, claimed the agent; f follows the chain.
    f.lease = leaseOf({ holder: nextLeader.instanceId, epoch: 4n })
    const next = replicator({ state: memoryState(records(1, 3)), epoch: 4n, self: nextLeader })
    next.r.configure([f.url, nextLeader.url])
    expect(next.r.urls()).toEqual([f.url])
    expect(await next.r.catchUp()).toEqual({ pulled: 2, from: [f.url] })
    expect(next.state.log()).toEqual(records(1, 5))
    expect(next.buffer.since(3)).toEqual(records(4, 5))
    // f is then attached to the new epoch with a snapshot of it.
    await next.r.replicated(5)
    expect(f.follower.following()).toMatchObject({ epoch: 4n, leaderUrl: nextLeader.url, synced: true })
    next.write(records(6, 6))
    await next.r.replicated(6)
    expect(f.state.log()).toEqual(records(1, 6))
  })

  test('behavior: catchUp() takes the whole state of a standby whose buffer no longer holds the records', async () => {
    // f acknowledged 1–5 at epoch 3, but holds them as a snapshot (it was attached again at 5), not as records.
    const f = await follower()
    const old = replicator({ state: memoryState([]) })
    await old.r.add(f.url)
    old.write(records(1, 5))
    await old.r.replicated(5)
    f.follower.drop()
    old.write(records(6, 6))
    await old.r.replicated(6)
    expect([f.follower.stats().snapshots, f.buffer.since(3)]).toEqual([2, undefined])
    old.r.close()
    // Epoch 4: an instance that held up to 3 claimed the agent. Pulling nothing and then sending f its own state would
    // roll f back to 3 and lose the acknowledged 4–6.
    f.lease = leaseOf({ holder: nextLeader.instanceId, epoch: 4n })
    const next = replicator({ state: memoryState(records(1, 3)), epoch: 4n, self: nextLeader })
    next.r.configure([f.url])
    expect(await next.r.catchUp()).toEqual({ pulled: 3, from: [f.url] })
    expect(next.state.log()).toEqual(records(1, 6))
    expect(next.buffer.last()).toBe(6)
    await next.r.replicated(6)
    next.write(records(7, 7))
    await next.r.replicated(7)
    expect(f.state.log()).toEqual(records(1, 7))
  })

  test('bad input: a tail answer altered on the way is not applied', async () => {
    const f = await follower()
    const old = replicator({ state: memoryState([]) })
    await old.r.add(f.url)
    old.write(records(1, 5))
    await old.r.replicated(5)
    old.r.close()
    f.lease = leaseOf({ holder: nextLeader.instanceId, epoch: 4n })
    const alterations: ((b: Buffer) => Buffer)[] = [
      (b) => Buffer.concat([b.subarray(0, b.length - 1), Buffer.from([(b.at(-1) as number) ^ 1])]),
      (b) => b.subarray(0, b.length - 10),
      () => Buffer.from('{"records":[]}'),
    ]
    for (const tail of alterations) {
      const proxy = await inFront(f, undefined, { tail })
      const next = replicator({ state: memoryState(records(1, 3)), epoch: 4n, self: nextLeader })
      next.r.configure([proxy.url])
      expect(await next.r.catchUp()).toEqual({ pulled: 0, from: [] })
      expect(next.state.log()).toEqual(records(1, 3))
      next.r.close()
    }
  })

  test('behavior: a standby the verification refuses is kept out, with its reasons', async () => {
    const f = await follower()
    const reasons = [{ code: 'standby.measurement', message: 'compose hash 0x… is not approved' }]
    const { r, write } = replicator({ verify: async () => ({ ok: false, reasons, standby: undefined }) })
    expect(await r.add(f.url)).toEqual({ url: f.url, state: 'refused', instanceId: undefined, acked: -1, reasons })
    expect([r.urls(), r.status().standbys, r.required()]).toEqual([[], [], 0])
    // Nothing was sent to it beyond the hello.
    expect(f.follower.stats()).toEqual({ frames: 0, records: 0, snapshots: 0 })
    expect(f.state.head()).toBe(0)
    write(records(4, 4))
    await r.replicated(4)
    expect(f.state.head()).toBe(0)
  })

  test('behavior: a standby that refuses the hello is kept out with its refusal as the reason', async () => {
    const f = await follower({ holder: nextLeader.instanceId })
    const { r } = replicator()
    const status = await r.add(f.url)
    expect(status).toMatchObject({ state: 'refused', acked: -1 })
    expect(status.reasons?.map((x) => x.code)).toEqual(['failover.not_holder'])
    expect(r.urls()).toEqual([])
  })

  test('bad input: a hello answered with something that is not an answer is refused (standby.bad_answer)', async () => {
    const answers: [string, string][] = [
      ['application/json', '[]'],
      ['application/json', '{}'],
      ['application/json', JSON.stringify({ standbyUrl: 'http://x', publicKey: '0xzz', quote: '0x00', eventLog: '[]', head: 0 })],
      [
        'application/json',
        JSON.stringify({ standbyUrl: 'http://x', publicKey: hex(new Uint8Array(32)), quote: '0x00', eventLog: '[]', head: -1 }),
      ],
      ['text/html', '<html>bad gateway</html>'],
    ]
    for (const [type, body] of answers) {
      const bogus = await serve((_req, res) => void res.writeHead(200, { 'content-type': type }).end(body))
      const { r, asked } = replicator()
      const status = await r.add(bogus.url)
      expect(status.state, body).toBe('refused')
      expect(status.reasons?.map((x) => x.code)).toEqual(['standby.bad_answer'])
      expect(asked).toEqual([])
      expect(r.urls()).toEqual([])
    }
  })

  test('behavior: an unreachable standby is reported, not kept', async () => {
    const gone = await serve(() => {})
    await gone.close()
    const { r } = replicator()
    const status = await r.add(gone.url)
    expect(status).toMatchObject({ state: 'unreachable', acked: -1 })
    expect(status.reasons?.map((x) => x.code)).toEqual(['standby.unreachable'])
    expect(r.urls()).toEqual([])
  })

  test('behavior: a standby that lost its session (restarted, or superseded) is attached again and sent a snapshot', async () => {
    const f = await follower()
    const { r, state, write, asked } = replicator({ ackTimeoutMs: 30_000 })
    await r.add(f.url)
    f.follower.drop()
    write(records(4, 5))
    await r.replicated(5)
    expect(asked.length).toBe(2)
    expect(f.follower.stats()).toEqual({ frames: 2, records: 0, snapshots: 2 })
    expect(f.state.log()).toEqual(state.log())
  })

  test('behavior: lagRecords is what the k-th standby has not acknowledged yet', async () => {
    const f = await follower()
    const { r, write } = replicator({ k: 1, ackTimeoutMs: 100 })
    await r.add(f.url)
    expect(r.status().lagRecords).toBe(0)
    await f.close()
    write(records(4, 7))
    await unreplicated(r.replicated(7))
    expect(r.status().lagRecords).toBe(4)
  })

  test('behavior: remove() stops waiting for a standby; k is capped by the standbys there are', async () => {
    const [f1, f2] = await Promise.all([follower(), follower()])
    const { r, write } = replicator({ k: 3, ackTimeoutMs: 30_000 })
    await r.add(f1.url)
    await r.add(f2.url)
    expect(r.required()).toBe(2)
    await f2.close()
    write(records(4, 4))
    const waiting = r.replicated(4)
    r.remove(f2.url)
    await waiting
    expect([r.required(), r.urls()]).toEqual([1, [f1.url]])
  })
})
