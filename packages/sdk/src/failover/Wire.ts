/**
 * The failover wire (docs/failover.md "Protocol"): the canonical's signed hello to a standby, the standby's attested
 * answer, the session key both derive, and the sealed frames and MAC'd acknowledgements of replication.
 *
 *   hello        leader → standby   JSON, signed by the agent key (EIP-191 over `helloDigest`)
 *   answer       standby → leader   JSON: an X25519 key, a quote whose report_data commits to it, the hello and the URL
 *   session key  HKDF-SHA256(X25519(leader eph., standby eph.), salt = helloDigest, info `regent-failover/session/v1`)
 *   frame        AES-256-GCM under the session key, AD `regent-failover/frame/v1` ‖ sessionId ‖ kind; a counter `n`
 *                inside that only grows (a replayed or reordered frame is refused)
 *   ack          HMAC-SHA256(session key, `regent-failover/ack/v1` ‖ sessionId ‖ n ‖ head): only the attested standby
 *                holds the key, so an impostor cannot acknowledge a write it does not hold
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { Aead, Envelope } from '@regent-tee/core'
import { type Address, type Hex, keccak256, type LocalAccount, recoverMessageAddress } from 'viem'
import * as CanonicalJson from '../CanonicalJson.js'
import { BaseError } from '../errors.js'
import { concat, fromHex, toHex, u64, utf8 } from '../internal/bytes.js'

/** Protocol labels. Permanent. */
const labels = {
  hello: 'regent-failover/hello/v1\n',
  standby: 'regent-failover/standby/v1',
  session: 'regent-failover/session/v1',
  frame: 'regent-failover/frame/v1',
  ack: 'regent-failover/ack/v1',
} as const

/** How long a hello is accepted after it was issued (and before: clock skew). */
export const helloLifetimeMs = 5 * 60_000

/** The leader's hello: who asks (agent, epoch, lease holder), where it is, its session key half. */
export type Hello = {
  readonly v: '1'
  readonly agentId: string
  readonly epoch: string
  readonly leaderUrl: string
  readonly leaderInstanceId: Address
  readonly nonce: Hex
  readonly publicKey: Hex
  /** Milliseconds since the epoch, decimal. */
  readonly issuedAt: string
  readonly signature: Hex
}

/** The standby's answer to a hello. */
export type Answer = {
  readonly standbyUrl: string
  readonly publicKey: Hex
  readonly quote: Hex
  readonly eventLog: string
  /** The seq of the last record it holds. */
  readonly head: number
}

const hexOf = (v: unknown, bytes?: number): v is Hex =>
  typeof v === 'string' && (bytes === undefined ? /^0x(?:[0-9a-fA-F]{2})+$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`)).test(v)

/** True when `v` is a standby's answer in form (the exact fields, each well-formed); what it attests is verified apart. */
export function validateAnswer(v: unknown): v is Answer {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const o = v as Record<string, unknown>
  const fields = ['standbyUrl', 'publicKey', 'quote', 'eventLog', 'head']
  return (
    Object.keys(o).every((k) => fields.includes(k)) &&
    typeof o.standbyUrl === 'string' &&
    o.standbyUrl.length <= 2048 &&
    /^https?:\/\//.test(o.standbyUrl) &&
    hexOf(o.publicKey, 32) &&
    hexOf(o.quote) &&
    typeof o.eventLog === 'string' &&
    Number.isSafeInteger(o.head) &&
    (o.head as number) >= 0
  )
}

/** A record of the agent's write-ahead log, as the agent serialized it. */
export type LogRecord = { readonly seq: number; readonly data: Uint8Array }

/** What a frame carries. */
export type Frame =
  | { readonly kind: 'records'; readonly n: number; readonly records: readonly LogRecord[]; readonly peers: readonly string[] }
  | { readonly kind: 'snapshot'; readonly n: number; readonly seq: number; readonly data: Uint8Array; readonly peers: readonly string[] }
  | { readonly kind: 'tail'; readonly n: number; readonly from: number }

const unsigned = (h: Omit<Hello, 'signature'> | Hello) => {
  const { signature: _, ...rest } = h as Hello
  return rest
}

/** keccak256 of the hello's label and canonical JSON (without its signature): what the agent key signs, the session id. */
export function helloDigest(hello: Omit<Hello, 'signature'> | Hello): Hex {
  return keccak256(utf8(labels.hello + CanonicalJson.stringify(unsigned(hello))))
}

/** Signs a hello with the agent key. */
export async function signHello(account: LocalAccount, hello: Omit<Hello, 'signature'>): Promise<Hello> {
  const signature = await account.signMessage({ message: { raw: helloDigest(hello) } })
  return { ...hello, signature }
}

/** The address that signed the hello (undefined when the signature does not parse). */
export async function helloSigner(hello: Hello): Promise<Address | undefined> {
  try {
    return await recoverMessageAddress({ message: { raw: helloDigest(hello) }, signature: hello.signature })
  } catch {
    return undefined
  }
}

/**
 * report_data of a standby's quote: sha256(label ‖ hello digest ‖ its X25519 key ‖ its URL) ‖ hello digest. The
 * digest and the key are 32 bytes each, so the URL is what remains (a key of another length would let bytes move
 * between the key and the URL under one commitment).
 *
 * @throws {InvalidLengthError} `sessionId` or `publicKey` is not 32 bytes.
 * @throws {InvalidHexError} either is not hex.
 */
export function standbyReportData(parameters: { sessionId: Hex; publicKey: Hex; standbyUrl: string }): Uint8Array {
  const sid = fixed(parameters.sessionId, 'sessionId', 32)
  const commit = createHash('sha256')
    .update(utf8(labels.standby))
    .update(sid)
    .update(fixed(parameters.publicKey, 'publicKey', 32))
    .update(utf8(parameters.standbyUrl))
    .digest()
  return concat([new Uint8Array(commit), sid])
}

const fixed = (hex: Hex, field: string, length: number) => {
  const bytes = fromHex(hex, field)
  if (bytes.length !== length) throw new InvalidLengthError({ field, expected: length, got: bytes.length })
  return bytes
}

/** The session key from one side's X25519 private key and the other's public key. The caller wipes it. */
export function sessionKey(parameters: { privateKey: Uint8Array; peerPublicKey: Hex; sessionId: Hex }): Uint8Array {
  return Envelope.deriveKey({
    privateKey: parameters.privateKey,
    peerPublicKey: fromHex(parameters.peerPublicKey, 'peerPublicKey'),
    salt: fromHex(parameters.sessionId, 'sessionId'),
    info: labels.session,
  })
}

const frameAd = (sessionId: Hex, kind: string) => concat([utf8(labels.frame), fromHex(sessionId, 'sessionId'), utf8(kind)])
const kinds = ['records', 'snapshot', 'tail'] as const
const prefixOf = (kind: string) => kind.padEnd(8, ' ')

/** Seals a frame (its kind travels in the AD, its body as length-prefixed JSON header then raw bytes). */
export function sealFrame(key: Uint8Array, sessionId: Hex, frame: Frame): Uint8Array {
  const { header, data } = encode(frame)
  const head = utf8(JSON.stringify(header))
  const plain = concat([u64(head.length), head, ...data])
  return concat([utf8(prefixOf(frame.kind)), Aead.sealBytes(key, plain, { ad: frameAd(sessionId, frame.kind) })])
}

/**
 * Opens a frame; undefined when it is not authentic under this session or does not parse. The kind prefix must be
 * exactly one `sealFrame` writes (the AD carries the kind, not its padding), and the header's length must lie inside
 * the plaintext.
 */
export function openFrame(key: Uint8Array, sessionId: Hex, bytes: Uint8Array): Frame | undefined {
  if (bytes.length < 8) return undefined
  const prefix = Buffer.from(bytes.subarray(0, 8)).toString('latin1')
  const kind = kinds.find((k) => prefixOf(k) === prefix)
  if (kind === undefined) return undefined
  const plain = Aead.openBytes(key, bytes.subarray(8), { ad: frameAd(sessionId, kind) })
  if (!plain || plain.length < 8) return undefined
  try {
    const view = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength)
    const headLength = view.readBigUInt64BE(0)
    if (headLength > BigInt(plain.length - 8)) return undefined
    const header = JSON.parse(view.subarray(8, 8 + Number(headLength)).toString('utf8')) as Record<string, unknown>
    return decode(kind, header, plain.subarray(8 + Number(headLength)))
  } catch {
    return undefined
  }
}

function encode(frame: Frame): { header: Record<string, unknown>; data: Uint8Array[] } {
  if (frame.kind === 'tail') return { header: { n: frame.n, from: frame.from }, data: [] }
  if (frame.kind === 'snapshot')
    return { header: { n: frame.n, seq: frame.seq, peers: frame.peers, length: frame.data.length }, data: [frame.data] }
  return {
    header: { n: frame.n, peers: frame.peers, records: frame.records.map((r) => [r.seq, r.data.length]) },
    data: frame.records.map((r) => r.data),
  }
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const isPeers = (v: unknown): v is string[] =>
  Array.isArray(v) && v.length <= 64 && v.every((p) => typeof p === 'string' && p.length <= 2048)

function decode(kind: string, h: Record<string, unknown>, data: Uint8Array): Frame | undefined {
  if (!isCount(h.n)) return undefined
  if (kind === 'tail') return isCount(h.from) ? { kind, n: h.n, from: h.from } : undefined
  if (!isPeers(h.peers)) return undefined
  if (kind === 'snapshot')
    return isCount(h.seq) && h.length === data.length ? { kind, n: h.n, seq: h.seq, data: new Uint8Array(data), peers: h.peers } : undefined
  if (!Array.isArray(h.records)) return undefined
  const records: LogRecord[] = []
  let at = 0
  for (const entry of h.records) {
    if (!Array.isArray(entry) || !isCount(entry[0]) || !isCount(entry[1]) || at + entry[1] > data.length) return undefined
    records.push({ seq: entry[0], data: new Uint8Array(data.subarray(at, at + entry[1])) })
    at += entry[1]
  }
  return at === data.length ? { kind: 'records', n: h.n, records, peers: h.peers } : undefined
}

/** The MAC that makes an acknowledgement the standby's. */
export function ackMac(key: Uint8Array, sessionId: Hex, n: number, head: number): Hex {
  const mac = createHmac('sha256', key)
    .update(utf8(labels.ack))
    .update(fromHex(sessionId, 'sessionId'))
    .update(u64(n))
    .update(u64(head))
    .digest()
  return toHex(new Uint8Array(mac))
}

/** True when `mac` is the standby's acknowledgement of frame `n` at `head`. */
export function checkAck(key: Uint8Array, sessionId: Hex, n: number, head: number, mac: unknown): boolean {
  if (typeof mac !== 'string' || !/^0x[0-9a-f]{64}$/.test(mac)) return false
  return timingSafeEqual(fromHex(ackMac(key, sessionId, n, head), 'mac'), fromHex(mac, 'mac'))
}

/** A fixed-length protocol field of another length. */
export class InvalidLengthError extends BaseError {
  override name = 'Wire.InvalidLengthError'
  readonly field: string
  constructor({ field, expected, got }: { field: string; expected: number; got: number }) {
    super(`${field} must be ${expected} bytes, got ${got}.`)
    this.field = field
  }
}
