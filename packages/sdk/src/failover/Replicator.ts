/**
 * The canonical's side of replication (docs/failover.md "Replication"): it attaches each standby (signed hello,
 * attested answer, session key), sends it a snapshot, then every record the agent appends, one sealed frame in flight
 * per standby (records queue up and go in the next frame), and counts MAC'd acknowledgements. A write is acknowledged
 * to its client once `required()` standbys hold it durably: `min(k, standbys configured)`; with `k = 0` nothing is
 * awaited and the loss window is what the standbys have not acknowledged yet (`status().lagRecords`).
 *
 * A standby is `refused` when it refuses the hello (its code is the reason), when its answer is not an answer
 * (`standby.bad_answer`) or when `verify` refuses it (its reasons); `unreachable` (`standby.unreachable`) when no answer
 * came. An acknowledgement counts only when its MAC is the session's for that frame and head.
 */
import { randomBytes } from 'node:crypto'
import { Envelope } from '@regent-tee/core'
import type { Address, Hex, LocalAccount } from 'viem'
import { toHex, wipe } from '../internal/bytes.js'
import { FailoverError } from './errors.js'
import type { ReplicatedState } from './Follower.js'
import type { RecordBuffer } from './RecordBuffer.js'
import type { StandbyVerdict } from './VerifyStandby.js'
import * as Wire from './Wire.js'

export type ReplicatorParameters = {
  readonly account: LocalAccount
  readonly agentId: bigint
  readonly epoch: bigint
  readonly self: { readonly url: string; readonly instanceId: Address }
  /** Acknowledgements a write waits for (capped by the standbys counted). */
  readonly k: number
  /** How long a standby may be unreachable before it stops being counted, in ms. @default 10000 */
  readonly degradeAfterMs?: number
  readonly state: ReplicatedState
  readonly buffer: RecordBuffer
  /** Verifies a standby's answer (VerifyStandby with the agent's app policy). */
  verify(hello: Wire.Hello, answer: Wire.Answer): Promise<StandbyVerdict>
  /** Longest wait for the acknowledgements of one write, in ms. @default 5000 */
  readonly ackTimeoutMs?: number
  /** Longest wait for one HTTP exchange with a standby, in ms. @default 10000 */
  readonly requestTimeoutMs?: number
  /** Monotonic milliseconds, for how long a standby has been down (default `performance.now`). */
  readonly now?: () => number
  readonly log?: (line: string) => void
}

export type StandbyStatus = {
  readonly url: string
  readonly state: 'attaching' | 'syncing' | 'streaming' | 'unreachable' | 'refused'
  readonly instanceId: Hex | undefined
  /** The last seq it acknowledged. */
  readonly acked: number
  readonly reasons?: readonly { code: string; message: string }[]
}

export type Replicator = {
  /** Configures and attaches a standby; resolves with its verdict (refused standbys are not kept). */
  add(url: string): Promise<StandbyStatus>
  remove(url: string): void
  /** Configures standbys without attaching them yet (a new canonical's peers: `catchUp` attaches them). */
  configure(urls: readonly string[]): void
  /** Resolves once `required()` standbys acknowledged `seq`. @throws {FailoverError} `failover.unreplicated`. */
  replicated(seq: number): Promise<void>
  /** New records appended locally (already durable here): queued for every standby. */
  push(records: readonly Wire.LogRecord[]): void
  /**
   * Attaches every configured standby and pulls from each the records it holds beyond this instance's head (its whole
   * state, when its buffer no longer holds them); `pulled` counts the seqs gained.
   */
  catchUp(): Promise<{ pulled: number; from: string[] }>
  required(): number
  urls(): string[]
  status(): { k: number; required: number; degraded: boolean; standbys: StandbyStatus[]; lagRecords: number }
  close(): void
}

type Link = {
  url: string
  state: StandbyStatus['state']
  instanceId: Hex | undefined
  acked: number
  reasons?: StandbyStatus['reasons']
  session: { id: Hex; key: Uint8Array; n: number; hello: Wire.Hello } | undefined
  needsSnapshot: boolean
  pumping: boolean
  retry: NodeJS.Timeout | undefined
  backoffMs: number
  /** Monotonic ms since when it has not been streaming (undefined while it is). */
  downSince: number | undefined
}

export function createReplicator(parameters: ReplicatorParameters): Replicator {
  const p = parameters
  const ackTimeoutMs = p.ackTimeoutMs ?? 5000
  const requestTimeoutMs = p.requestTimeoutMs ?? 10_000
  const links = new Map<string, Link>()
  const waiters = new Set<{ seq: number; resolve: () => void }>()
  let closed = false

  const degradeAfterMs = p.degradeAfterMs ?? 10_000
  const now = p.now ?? (() => performance.now())
  const counted = () => [...links.values()].filter((l) => l.downSince === undefined || now() - l.downSince < degradeAfterMs)
  const required = () => Math.min(p.k, counted().length)
  const ackedBy = (seq: number) => [...links.values()].filter((l) => l.acked >= seq).length
  const settle = () => {
    for (const w of waiters)
      if (ackedBy(w.seq) >= required()) {
        waiters.delete(w)
        w.resolve()
      }
  }
  // A standby that stops being counted may release the writes waiting for it.
  const ticker = setInterval(() => settle(), 200)
  ticker.unref()
  const post = async (url: string, path: string, body: Uint8Array | string, headers: Record<string, string>) => {
    const res = await fetch(`${url.replace(/\/$/, '')}${path}`, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(requestTimeoutMs),
    })
    const bytes = new Uint8Array(await res.arrayBuffer())
    return { status: res.status, bytes, json: () => JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown> }
  }

  /** Hello → attested answer → session. */
  async function attach(link: Link): Promise<Wire.Answer | undefined> {
    link.state = 'attaching'
    link.downSince ??= now()
    const pair = Envelope.createKeyPair()
    try {
      const hello = await Wire.signHello(p.account, {
        v: '1',
        agentId: p.agentId.toString(),
        epoch: p.epoch.toString(),
        leaderUrl: p.self.url,
        leaderInstanceId: p.self.instanceId,
        nonce: toHex(new Uint8Array(randomBytes(32))),
        publicKey: toHex(pair.publicKey),
        issuedAt: String(Date.now()),
      })
      const r = await post(link.url, '/failover/v1/hello', JSON.stringify(hello), { 'content-type': 'application/json' })
      if (r.status !== 200) {
        const e = (r.json().error ?? {}) as { code?: string; message?: string }
        link.state = 'refused'
        link.reasons = [{ code: e.code ?? `http.${r.status}`, message: e.message ?? `HTTP ${r.status}` }]
        return undefined
      }
      const answer = (() => {
        try {
          return r.json()
        } catch {
          return undefined
        }
      })()
      if (!Wire.validateAnswer(answer)) {
        link.state = 'refused'
        link.reasons = [{ code: 'standby.bad_answer', message: 'The answer to the hello is not a standby answer.' }]
        return undefined
      }
      const verdict = await p.verify(hello, answer)
      if (!verdict.ok || !verdict.standby) {
        link.state = 'refused'
        link.reasons = verdict.reasons
        return undefined
      }
      const id = Wire.helloDigest(hello)
      if (link.session) wipe(link.session.key)
      link.session = {
        id,
        key: Wire.sessionKey({ privateKey: pair.privateKey, peerPublicKey: answer.publicKey, sessionId: id }),
        n: 0,
        hello,
      }
      link.instanceId = verdict.standby.instanceId
      link.state = 'syncing'
      link.needsSnapshot = true
      link.reasons = undefined
      return answer
    } finally {
      wipe(pair.privateKey)
    }
  }

  const schedule = (link: Link) => {
    if (closed || link.retry || !links.has(link.url)) return
    link.retry = setTimeout(() => {
      link.retry = undefined
      void pump(link)
    }, link.backoffMs)
    link.retry.unref()
    link.backoffMs = Math.min(2000, link.backoffMs * 2)
  }

  /** Sends the standby what it lacks, one frame at a time, until it holds the head. */
  async function pump(link: Link): Promise<void> {
    if (link.pumping || closed) return
    link.pumping = true
    try {
      for (;;) {
        if (closed || !links.has(link.url)) return
        if (link.session === undefined && (await attach(link)) === undefined) return void (link.state === 'refused' || schedule(link))
        const s = link.session as NonNullable<Link['session']>
        const peers = [...links.keys()]
        let frame: Wire.Frame
        if (link.needsSnapshot) {
          const snap = p.state.snapshot()
          frame = { kind: 'snapshot', n: ++s.n, seq: snap.seq, data: snap.data, peers }
        } else {
          const records = p.buffer.since(link.acked)
          if (records === undefined) {
            link.needsSnapshot = true
            continue
          }
          if (records.length === 0) return
          frame = { kind: 'records', n: ++s.n, records: records.slice(0, 4096), peers }
        }
        const r = await post(link.url, '/failover/v1/sync', Wire.sealFrame(s.key, s.id, frame), {
          'content-type': 'application/octet-stream',
          'x-regent-session': s.id,
        })
        const body = r.json()
        if (r.status === 200 && Number.isSafeInteger(body.head) && Wire.checkAck(s.key, s.id, frame.n, body.head as number, body.mac)) {
          link.acked = body.head as number
          link.needsSnapshot = false
          link.state = 'streaming'
          link.downSince = undefined
          link.backoffMs = 100
          settle()
          continue
        }
        const code = (body.error as { code?: string } | undefined)?.code
        if (code === 'failover.gap') link.needsSnapshot = true
        else if (code === 'failover.session' || code === 'failover.replayed') link.session = undefined
        else {
          link.state = 'unreachable'
          link.downSince ??= now()
          p.log?.(`failover: standby ${link.url} answered ${r.status} ${code ?? ''}`)
          return schedule(link)
        }
      }
    } catch (error) {
      link.state = 'unreachable'
      link.downSince ??= now()
      link.session = undefined
      p.log?.(`failover: standby ${link.url} unreachable (${(error as Error).message})`)
      schedule(link)
    } finally {
      link.pumping = false
    }
  }

  const newLink = (url: string): Link => ({
    url,
    state: 'attaching',
    instanceId: undefined,
    acked: -1,
    session: undefined,
    needsSnapshot: true,
    pumping: false,
    retry: undefined,
    backoffMs: 100,
    downSince: now(),
  })
  const statusOf = (l: Link): StandbyStatus => ({
    url: l.url,
    state: l.state,
    instanceId: l.instanceId,
    acked: l.acked,
    ...(l.reasons ? { reasons: l.reasons } : {}),
  })

  return {
    async add(url) {
      const existing = links.get(url)
      if (existing) return statusOf(existing)
      const link = newLink(url)
      try {
        if ((await attach(link)) === undefined) return statusOf(link)
      } catch (error) {
        return { ...statusOf(link), state: 'unreachable', reasons: [{ code: 'standby.unreachable', message: (error as Error).message }] }
      }
      if ([...links.values()].some((l) => l.instanceId?.toLowerCase() === link.instanceId?.toLowerCase()))
        return {
          ...statusOf(link),
          state: 'refused',
          reasons: [{ code: 'standby.duplicate', message: 'This instance is a standby already.' }],
        }
      links.set(url, link)
      await pump(link)
      return statusOf(link)
    },
    remove(url) {
      const link = links.get(url)
      if (!link) return
      links.delete(url)
      if (link.retry) clearTimeout(link.retry)
      if (link.session) wipe(link.session.key)
      settle()
    },
    configure(urls) {
      for (const url of urls) if (url !== p.self.url && !links.has(url)) links.set(url, newLink(url))
    },
    replicated(seq) {
      if (ackedBy(seq) >= required()) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const w = {
          seq,
          resolve: () => {
            clearTimeout(timer)
            resolve()
          },
        }
        const timer = setTimeout(() => {
          waiters.delete(w)
          reject(
            new FailoverError(
              503,
              'failover.unreplicated',
              `Seq ${seq} is durable here but only ${ackedBy(seq)} of the ${required()} standbys required acknowledged it within ${ackTimeoutMs} ms.`,
            ),
          )
        }, ackTimeoutMs)
        waiters.add(w)
      })
    },
    push(records) {
      p.buffer.append(records)
      for (const link of links.values()) void pump(link)
    },
    async catchUp() {
      const from: string[] = []
      let pulled = 0
      const attached = await Promise.all(
        [...links.values()].map(async (link) => ({ link, answer: await attach(link).catch(() => undefined) })),
      )
      for (const { link, answer } of attached) {
        const s = link.session
        if (answer === undefined || s === undefined || answer.head <= p.state.head()) continue
        const n = ++s.n
        const r = await post(link.url, '/failover/v1/tail', Wire.sealFrame(s.key, s.id, { kind: 'tail', n, from: p.state.head() }), {
          'content-type': 'application/octet-stream',
          'x-regent-session': s.id,
        }).catch(() => undefined)
        const frame = r?.status === 200 ? Wire.openFrame(s.key, s.id, r.bytes) : undefined
        if (frame === undefined || frame.n !== n) continue
        if (frame.kind === 'snapshot') {
          // It no longer holds the records as records: its whole state, when it is ahead.
          const head = p.state.head()
          if (frame.seq <= head) continue
          p.state.restore({ seq: frame.seq, data: frame.data })
          p.buffer.reset(frame.seq)
          pulled += frame.seq - head
          from.push(link.url)
          continue
        }
        if (frame.kind !== 'records') continue
        const fresh = frame.records.filter((x) => x.seq > p.state.head())
        if (fresh.length === 0 || fresh[0]?.seq !== p.state.head() + 1) continue
        p.state.apply(fresh)
        p.buffer.append(fresh)
        pulled += fresh.length
        from.push(link.url)
      }
      for (const link of links.values()) {
        link.needsSnapshot = true
        void pump(link)
      }
      return { pulled, from }
    },
    required,
    urls: () => [...links.keys()],
    status() {
      const head = p.state.head()
      const standbys = [...links.values()].map(statusOf)
      const best = standbys.map((s) => s.acked).sort((a, b) => b - a)[Math.max(0, required() - 1)] ?? head
      return {
        k: p.k,
        required: required(),
        degraded: required() < Math.min(p.k, links.size),
        standbys,
        lagRecords: Math.max(0, head - best),
      }
    },
    close() {
      closed = true
      clearInterval(ticker)
      for (const url of [...links.keys()]) this.remove(url)
    },
  }
}
