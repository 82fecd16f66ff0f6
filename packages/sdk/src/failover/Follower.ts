/**
 * The standby's side of replication (docs/failover.md "Protocol"): it answers the canonical's hello with an attested
 * session key, applies the sealed frames it is sent (a snapshot, then records) durably before acknowledging them, and
 * hands a new canonical the tail of records it holds. What it follows is decided by the chain: a hello is accepted only
 * from the agent key (the one this instance holds too) for the epoch and instance the lease names right now, and a
 * session of a newer epoch supersedes older ones (a zombie's late frames are refused).
 *
 *   POST /failover/v1/hello  JSON Hello → Answer
 *   POST /failover/v1/sync   sealed records | snapshot frame (header x-regent-session) → { head, n, mac }
 *   POST /failover/v1/tail   sealed tail frame → sealed records frame (the records after `from`), or a snapshot frame
 *                            of its whole state when its buffer no longer holds them
 *
 * Refusals (JSON `{ error: { code, message } }`, nothing applied): 400 `failover.bad_hello` | `failover.bad_frame`,
 * 403 `failover.signer` (not the agent key) | `failover.not_holder` (the chain names another holder or epoch),
 * 401 `failover.expired` (hello too old or from the future), 409 `failover.stale_epoch` (an older epoch than the
 * session) | `failover.gap` (records do not follow what it holds; `head` says where it is) | `failover.replayed` (a
 * frame not after the last one, or a hello answered already),
 * 410 `failover.session` (no such session: superseded or never opened), 501 `failover.no_tee`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Envelope, HttpError, readBody, readJson, sendJson } from '@regent-tee/core'
import type { Address, Hex } from 'viem'
import { getQuote } from '../actions/getQuote.js'
import type { ReadLeaseReturnType } from '../chain/lease.js'
import type { BaseTeeClient } from '../createTeeClient.js'
import { toHex, wipe } from '../internal/bytes.js'
import type { RecordBuffer } from './RecordBuffer.js'
import * as Wire from './Wire.js'

/** The agent's state as replication sees it (docs/failover.md "The agent's part"). */
export type ReplicatedState = {
  /** The seq of the last record applied here. */
  head(): number
  /** The whole state and its seq, taken at once (synchronously, so consistent). */
  snapshot(): { seq: number; data: Uint8Array }
  /** Replaces the whole state durably with a snapshot. */
  restore(snapshot: { seq: number; data: Uint8Array }): void
  /** Applies records durably, in order (seq = head() + 1, …). */
  apply(records: readonly Wire.LogRecord[]): void
}

export type FollowerParameters = {
  readonly tee: BaseTeeClient | undefined
  /** The agent key's address (every instance of the app derives the same key). */
  readonly address: Address
  readonly publicUrl: string
  readonly state: ReplicatedState
  readonly buffer: RecordBuffer
  /** The lease as the chain has it now. */
  readLease(agentId: bigint): Promise<ReadLeaseReturnType>
  readonly now?: () => number
}

/** What this standby follows. */
export type Following = {
  readonly agentId: bigint
  readonly epoch: bigint
  readonly leaderUrl: string
  readonly leaderInstanceId: Address
  /** The other instances the canonical replicates to (this one included). */
  readonly peers: readonly string[]
  /** True once a snapshot of this session was applied (only then may this standby claim the agent). */
  readonly synced: boolean
}

export type Follower = {
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>
  following(): Following | undefined
  /** Ends the current session (this instance became the canonical, or stops). */
  drop(): void
  stats(): { frames: number; records: number; snapshots: number }
}

const syncLimit = 512 * 1024 * 1024
const helloLimit = 16 * 1024

type Session = {
  id: Hex
  key: Uint8Array
  agentId: bigint
  epoch: bigint
  leaderUrl: string
  leaderInstanceId: Address
  peers: string[]
  lastN: number
  synced: boolean
}

export function createFollower(parameters: FollowerParameters): Follower {
  const p = parameters
  const now = p.now ?? Date.now
  let session: Session | undefined
  /** The hellos answered (or being answered) in their lifetime, digest → issuedAt: a hello is accepted once. */
  const answered = new Map<Hex, number>()
  const counts = { frames: 0, records: 0, snapshots: 0 }

  const drop = () => {
    if (session) wipe(session.key)
    session = undefined
  }

  async function hello(req: IncomingMessage, res: ServerResponse) {
    const h = parseHello(await readJson(req, { limit: helloLimit }))
    const issued = Number(h.issuedAt)
    if (Math.abs(now() - issued) > Wire.helloLifetimeMs)
      throw new HttpError(401, 'failover.expired', 'The hello is too old (or from the future).')
    const signer = await Wire.helloSigner(h)
    if (signer?.toLowerCase() !== p.address.toLowerCase())
      throw new HttpError(403, 'failover.signer', 'The hello is not signed by the agent key this instance holds.')
    const sessionId = Wire.helloDigest(h)
    if (answered.has(sessionId))
      throw new HttpError(409, 'failover.replayed', 'This hello was answered already: a hello opens one session.')
    // Reserved from here (a copy sent alongside is refused), kept once answered, while it could still be accepted.
    for (const [id, at] of answered) if (Math.abs(now() - at) > Wire.helloLifetimeMs) answered.delete(id)
    answered.set(sessionId, issued)
    let accepted = false
    try {
      await attest(h, sessionId, res)
      accepted = true
    } finally {
      if (!accepted) answered.delete(sessionId)
    }
  }

  async function attest(h: Wire.Hello, sessionId: Hex, res: ServerResponse) {
    const agentId = BigInt(h.agentId)
    const epoch = BigInt(h.epoch)
    if (session && session.agentId === agentId && epoch < session.epoch)
      throw new HttpError(409, 'failover.stale_epoch', `This standby follows epoch ${session.epoch}; the hello is for ${epoch}.`)
    const lease = await p.readLease(agentId)
    if (lease.period === 0n || lease.epoch !== epoch || lease.holder.toLowerCase() !== h.leaderInstanceId.toLowerCase())
      throw new HttpError(
        403,
        'failover.not_holder',
        `The chain names instance ${lease.holder} at epoch ${lease.epoch} (lease ${lease.period === 0n ? 'off' : 'on'}), not the hello's.`,
      )
    if (p.tee === undefined) throw new HttpError(501, 'failover.no_tee', 'This instance has no TEE to attest with: it cannot be a standby.')
    const pair = Envelope.createKeyPair()
    try {
      // The key first: a hello whose key is unusable costs no quote.
      let key: Uint8Array
      try {
        key = Wire.sessionKey({ privateKey: pair.privateKey, peerPublicKey: h.publicKey, sessionId })
      } catch {
        throw new HttpError(400, 'failover.bad_hello', "The hello's publicKey is not a usable X25519 key.")
      }
      const publicKey = toHex(pair.publicKey)
      const reportData = Wire.standbyReportData({ sessionId, publicKey, standbyUrl: p.publicUrl })
      const q = await getQuote(p.tee, { reportData }).catch((error: unknown) => {
        wipe(key)
        throw error
      })
      drop()
      session = {
        id: sessionId,
        key,
        agentId,
        epoch,
        leaderUrl: h.leaderUrl,
        leaderInstanceId: h.leaderInstanceId,
        peers: [],
        lastN: -1,
        synced: false,
      }
      const answer: Wire.Answer = { standbyUrl: p.publicUrl, publicKey, quote: toHex(q.quote), eventLog: q.eventLog, head: p.state.head() }
      sendJson(res, 200, answer)
    } finally {
      wipe(pair.privateKey)
    }
  }

  /** Opens a frame of the current session; refuses stale sessions, forgeries and replays. */
  async function frameOf(req: IncomingMessage): Promise<{ s: Session; frame: Wire.Frame }> {
    const id = req.headers['x-regent-session']
    const gone = () => new HttpError(410, 'failover.session', 'No such session here (superseded by a newer canonical, or never opened).')
    // Before the body: a request of no session here is not read (up to the limit) into memory.
    const s = session
    if (s === undefined || typeof id !== 'string' || id.toLowerCase() !== s.id) throw gone()
    const body = await readBody(req, { limit: syncLimit })
    if (session !== s) throw gone()
    const frame = Wire.openFrame(s.key, s.id, body)
    if (frame === undefined)
      throw new HttpError(400, 'failover.bad_frame', 'The frame is not authentic under this session or does not parse.')
    if (frame.n <= s.lastN) throw new HttpError(409, 'failover.replayed', `Frame ${frame.n} is not after frame ${s.lastN}.`)
    return { s, frame }
  }

  async function sync(req: IncomingMessage, res: ServerResponse) {
    const { s, frame } = await frameOf(req)
    if (frame.kind === 'tail') throw new HttpError(400, 'failover.bad_frame', 'A tail frame goes to /failover/v1/tail.')
    if (frame.kind === 'snapshot') {
      p.state.restore({ seq: frame.seq, data: frame.data })
      p.buffer.reset(frame.seq)
      s.synced = true
      counts.snapshots++
    } else {
      const fresh = frame.records.filter((r) => r.seq > p.state.head())
      if (!s.synced || (fresh.length > 0 && fresh[0]?.seq !== p.state.head() + 1) || !contiguous(fresh)) {
        s.lastN = frame.n
        return sendJson(res, 409, {
          error: { code: 'failover.gap', message: `The records do not follow seq ${p.state.head()}.` },
          head: p.state.head(),
        })
      }
      if (fresh.length > 0) {
        p.state.apply(fresh)
        p.buffer.append(fresh)
        counts.records += fresh.length
      }
    }
    s.lastN = frame.n
    s.peers = [...frame.peers]
    counts.frames++
    const head = p.state.head()
    sendJson(res, 200, { head, n: frame.n, mac: Wire.ackMac(s.key, s.id, frame.n, head) })
  }

  async function tail(req: IncomingMessage, res: ServerResponse) {
    const { s, frame } = await frameOf(req)
    if (frame.kind !== 'tail') throw new HttpError(400, 'failover.bad_frame', 'Only a tail frame goes to /failover/v1/tail.')
    s.lastN = frame.n
    const records = p.buffer.since(frame.from) ?? (frame.from >= p.state.head() ? [] : undefined)
    // Records its buffer no longer holds (they fell out, or came before its last snapshot) go as its whole state: a
    // new canonical that got a gap would send this standby its older state and lose what it acknowledged.
    const answer: Wire.Frame =
      records === undefined
        ? { kind: 'snapshot', n: frame.n, ...p.state.snapshot(), peers: [] }
        : { kind: 'records', n: frame.n, records, peers: [] }
    const sealed = Wire.sealFrame(s.key, s.id, answer)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(sealed.length) }).end(sealed)
  }

  return {
    async handle(req, res) {
      const path = new URL(req.url ?? '/', 'http://agent').pathname
      const route = `${req.method} ${path}`
      const serve =
        route === 'POST /failover/v1/hello'
          ? hello
          : route === 'POST /failover/v1/sync'
            ? sync
            : route === 'POST /failover/v1/tail'
              ? tail
              : undefined
      if (serve === undefined) return false
      try {
        await serve(req, res)
      } catch (error) {
        const e = error instanceof HttpError ? error : new HttpError(500, 'internal', 'internal error')
        sendJson(res, e.status, { error: { code: e.code, message: e.shortMessage } })
      }
      return true
    },
    following: () =>
      session && {
        agentId: session.agentId,
        epoch: session.epoch,
        leaderUrl: session.leaderUrl,
        leaderInstanceId: session.leaderInstanceId,
        peers: session.peers,
        synced: session.synced,
      },
    drop,
    stats: () => ({ ...counts }),
  }
}

const contiguous = (records: readonly Wire.LogRecord[]) =>
  records.every((r, i) => i === 0 || r.seq === (records[i - 1] as Wire.LogRecord).seq + 1)

const hex = (v: unknown, bytes: number): v is Hex => typeof v === 'string' && new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(v)
const decimal = (v: unknown): v is string => typeof v === 'string' && /^\d{1,40}$/.test(v)

/** Parses a hello strictly (exact fields, formats). */
export function parseHello(v: unknown): Wire.Hello {
  const bad = (what: string): never => {
    throw new HttpError(400, 'failover.bad_hello', `The hello's ${what} is missing or malformed.`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('body')
  const o = v as Record<string, unknown>
  const fields = ['v', 'agentId', 'epoch', 'leaderUrl', 'leaderInstanceId', 'nonce', 'publicKey', 'issuedAt', 'signature']
  for (const k of Object.keys(o)) if (!fields.includes(k)) bad(`field "${k}"`)
  if (o.v !== '1') bad('version')
  if (!decimal(o.agentId)) bad('agentId')
  if (!decimal(o.epoch) || o.epoch === '0') bad('epoch')
  if (typeof o.leaderUrl !== 'string' || o.leaderUrl.length > 2048 || !/^https?:\/\//.test(o.leaderUrl)) bad('leaderUrl')
  if (!hex(o.leaderInstanceId, 20)) bad('leaderInstanceId')
  if (!hex(o.nonce, 32)) bad('nonce')
  if (!hex(o.publicKey, 32)) bad('publicKey')
  if (!decimal(o.issuedAt)) bad('issuedAt')
  if (!hex(o.signature, 65)) bad('signature')
  return o as unknown as Wire.Hello
}
