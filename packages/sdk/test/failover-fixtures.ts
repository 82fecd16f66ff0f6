// Test-only fixtures of the failover tests (never imported by library code): an in-memory replicated state, loopback
// HTTP servers that the tests close, a lease as the chain would answer it, and a real Follower served on loopback with
// a devnet guest agent to attest with.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Envelope } from '@regent-tee/core'
import { type Address, type Hex, type LocalAccount, zeroAddress, zeroHash } from 'viem'
import type { ReadLeaseReturnType } from '../src/chain/lease.js'
import type { BaseTeeClient } from '../src/createTeeClient.js'
import { createFollower, type Follower, type ReplicatedState } from '../src/failover/Follower.js'
import { createRecordBuffer, type RecordBuffer } from '../src/failover/RecordBuffer.js'
import * as Wire from '../src/failover/Wire.js'

export const hex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`
export const record = (seq: number, text = `record ${seq}`): Wire.LogRecord => ({ seq, data: new TextEncoder().encode(text) })
export const records = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => record(from + i))

/** A replicated state in memory: the log of every record applied, and how often it was restored and applied to. */
export type MemoryState = ReplicatedState & {
  /** Every record the state holds, in order. */
  log(): Wire.LogRecord[]
  /** Appends records here, as the agent does before it replicates them. */
  write(records: readonly Wire.LogRecord[]): void
  readonly calls: { restore: number; apply: number }
}

const encode = (log: readonly Wire.LogRecord[]) => new TextEncoder().encode(JSON.stringify(log.map((r) => [r.seq, hex(r.data)])))
const decode = (data: Uint8Array): Wire.LogRecord[] =>
  (JSON.parse(new TextDecoder().decode(data)) as [number, Hex][]).map(([seq, h]) => ({
    seq,
    data: new Uint8Array(Buffer.from(h.slice(2), 'hex')),
  }))

export function memoryState(initial: readonly Wire.LogRecord[] = []): MemoryState {
  let log = [...initial]
  let seq = log.at(-1)?.seq ?? 0
  const calls = { restore: 0, apply: 0 }
  const apply = (more: readonly Wire.LogRecord[]) => {
    for (const r of more) {
      // The Follower must apply in order: a state that accepted anything else would hide its bugs.
      if (r.seq !== seq + 1) throw new Error(`record ${r.seq} applied at head ${seq}`)
      log.push({ seq: r.seq, data: new Uint8Array(r.data) })
      seq = r.seq
    }
  }
  return {
    head: () => seq,
    snapshot: () => ({ seq, data: encode(log) }),
    restore(snapshot) {
      calls.restore++
      log = decode(snapshot.data)
      seq = snapshot.seq
    },
    apply(more) {
      calls.apply++
      apply(more)
    },
    write: apply,
    log: () => [...log],
    calls,
  }
}

const servers = new Set<Server>()

/** Serves `handler` on 127.0.0.1 (a random port) until {@link closeServers} or `close()`. */
export async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>) {
  const server = createServer((req, res) => {
    void Promise.resolve(handler(req, res)).catch(() => {
      if (!res.headersSent) res.writeHead(500).end()
    })
  })
  servers.add(server)
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    server,
    async close() {
      servers.delete(server)
      server.closeAllConnections()
      await new Promise<void>((done) => server.close(() => done()))
    },
  }
}

/** Closes every server {@link serve} started and the test did not close (call it in afterEach). */
export async function closeServers() {
  await Promise.all(
    [...servers].map(async (server) => {
      servers.delete(server)
      server.closeAllConnections()
      await new Promise<void>((done) => server.close(() => done()))
    }),
  )
}

/** A lease as `readLease` answers it. */
export function leaseOf(p: { holder: Address; epoch: bigint; period?: bigint; host?: string }): ReadLeaseReturnType {
  return {
    holder: p.holder,
    expiresAt: 2_000_000_000n,
    period: p.period ?? 30n,
    renewed: true,
    epoch: p.epoch,
    instance: { signer: zeroAddress, composeHash: zeroHash, instanceId: p.holder, quoteHash: zeroHash, host: p.host ?? 'http://leader' },
    appId: zeroAddress,
    blockNumber: 1n,
    blockTimestamp: 1_000_000_000n,
  }
}

/** POSTs to `url` and reads the whole answer. */
export async function post(url: string, body: Uint8Array | string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers, body })
  const bytes = new Uint8Array(await res.arrayBuffer())
  const text = Buffer.from(bytes).toString('utf8')
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {}
  return { status: res.status, bytes, json, code: (json.error as { code?: string } | undefined)?.code }
}

export type ServedFollower = {
  readonly url: string
  readonly follower: Follower
  readonly state: MemoryState
  readonly buffer: RecordBuffer
  /** What `readLease` answers now (set it to move the chain). */
  lease: ReadLeaseReturnType
  /** The agent ids `readLease` was asked for. */
  readonly reads: bigint[]
  close(): Promise<void>
}

/** A Follower served on loopback; its public URL is the one it is served at (its quote binds it). */
export async function startFollower(p: {
  tee: BaseTeeClient | undefined
  address: Address
  lease: ReadLeaseReturnType
  state?: MemoryState
  maxBytes?: number
  now?: () => number
}): Promise<ServedFollower> {
  let follower: Follower | undefined
  const served = await serve(async (req, res) => {
    if (!(await (follower as Follower).handle(req, res))) res.writeHead(404).end()
  })
  const state = p.state ?? memoryState()
  const buffer = createRecordBuffer({ base: state.head(), ...(p.maxBytes ? { maxBytes: p.maxBytes } : {}) })
  const reads: bigint[] = []
  follower = createFollower({
    tee: p.tee,
    address: p.address,
    publicUrl: served.url,
    state,
    buffer,
    readLease: async (agentId) => {
      reads.push(agentId)
      return out.lease
    },
    ...(p.now ? { now: p.now } : {}),
  })
  const out: ServedFollower = { url: served.url, follower, state, buffer, lease: p.lease, reads, close: served.close }
  return out
}

/** A leader's hello (signed by `account`) and the X25519 key pair it offers. */
export async function newHello(
  account: LocalAccount,
  fields: Partial<Omit<Wire.Hello, 'signature'>> & { leaderInstanceId: Address },
): Promise<{ hello: Wire.Hello; privateKey: Uint8Array }> {
  const pair = Envelope.createKeyPair()
  const hello = await Wire.signHello(account, {
    v: '1',
    agentId: '7',
    epoch: '3',
    leaderUrl: 'http://127.0.0.1:1',
    nonce: hex(Envelope.createKeyPair().publicKey),
    publicKey: hex(pair.publicKey),
    issuedAt: String(Date.now()),
    ...fields,
  })
  return { hello, privateKey: pair.privateKey }
}
