/**
 * Wire messages of the self-uplift protocol (DESIGN.md §10; docs/uplift.md "Wire messages"), version
 * `regent.uplift/v1`: JSON objects, canonical JSON on the wire (CanonicalJson: sorted keys, no whitespace, no JSON
 * numbers — every integer is a decimal string), hex lowercase with `0x`, addresses lowercase. Every message carries
 * `version`, `type` and the session's `sessionId`.
 *
 * Also here: the session transcript hash (a hash chain over the canonical encoding of every control message so far,
 * domain-separated; the AEAD associated data of every envelope) and the target's report_data binding
 * (`keyCommitment ‖ freshCommitment`, 64 bytes). Both are permanent contracts (docs/uplift.md "Bindings").
 */
import { createHash } from 'node:crypto'
import * as CanonicalJson from '../CanonicalJson.js'
import { BaseError } from '../errors.js'
import { concat, fromHex, type Hex, u16, u32, utf8 } from '../internal/bytes.js'

/** Protocol version tag. Permanent. */
export const version = 'regent.uplift/v1'

/** Labels (permanent; a change needs a new version). */
export const labels = {
  transcript: 'regent-uplift-transcript/v1',
  targetKey: 'regent-uplift-target-key/v1',
  targetFresh: 'regent-uplift-target-fresh/v1',
} as const

/** Limits enforced by the parsers. */
export const limits = {
  maxQuoteBytes: 64 * 1024,
  maxEventLogChars: 1024 * 1024,
  maxUrlChars: 2048,
  /**
   * A checkpoint chunk: a frame of the state stream, and a leaf of the ChallengeAnswer, which carries up to 8 chunks
   * hex-encoded in one answer (≤ 4 MiB at the source's reader, 2 MiB at the target's JSON bodies).
   */
  maxChunkSize: 512 * 1024,
  maxLeafIndexes: 256,
  maxSiblings: 64,
} as const

export type Address = Hex
/** A decimal string (no sign, no leading zeros). */
export type Decimal = string

type Common<type extends string> = { readonly version: typeof version; readonly type: type; readonly sessionId: Hex }

/** Source → target: opens a session. `nonce` is fresh (32 B); the target's quote must commit to it. */
export type SourceHello = Common<'source-hello'> & {
  readonly agentId: Decimal
  readonly chainId: Decimal
  /** RegentSuccession address of the deployment. */
  readonly succession: Address
  /** Key continuity option (DESIGN.md §10 step 2): A `import` or B `rotate`. */
  readonly mode: 'import' | 'rotate'
  /** The source's wallet (K_agent). */
  readonly source: Address
  readonly nonce: Hex
  /**
   * Unix seconds after which the target no longer takes this hello, and may replace its session with another signed
   * hello as long as no key step happened (docs/uplift.md "Target-side source checks"). Set by `signSourceHello`.
   */
  readonly expiresAt?: Decimal
  /**
   * The source key's EIP-712 signature of the hello (`sourceHelloTypes`): only the canonical signer can open a
   * session. Set by `signSourceHello`; a target refuses a hello without it (`source.signature`).
   */
  readonly signature?: Hex
}

/** Target → source: its attestation. The quote's report_data is {@link targetReportData} of these fields. */
export type TargetHello = Common<'target-hello'> & {
  /** Where the target serves the protocol (and, after handover, the agent). */
  readonly targetUrl: string
  /** The target's own KMS-derived wallet (the new key for `rotate`). */
  readonly wallet: Address
  /** Fresh X25519 public key (32 B) that envelopes are sealed to. */
  readonly ephemeralPublicKey: Hex
  /** Echo of the source's nonce. */
  readonly nonce: Hex
  /** Echo of the transcript hash after SourceHello, as the target computed it. */
  readonly transcript: Hex
  readonly quote: Hex
  /** The guest agent's event log JSON text (replayed against RTMR3). */
  readonly eventLog: string
}

/** Source → target (option A): the wallet key sealed to the target's ephemeral key. */
export type KeyEnvelope = Common<'key-envelope'> & {
  /** The address the sealed key must yield. */
  readonly address: Address
  readonly senderPublicKey: Hex
  readonly iv: Hex
  /** AES-256-GCM ciphertext ‖ tag (32 + 16 bytes). */
  readonly ciphertext: Hex
}

/** The EIP-712 succession certificate in wire form (integers as decimal strings). */
export type CertificateJson = {
  readonly agentId: Decimal
  readonly oldKey: Address
  readonly newKey: Address
  readonly newComposeHash: Hex
  readonly quoteHash: Hex
  readonly nextEpoch: Decimal
  readonly deadline: Decimal
}

/** Source → target (option B): the signed succession certificate for the target's attested key. */
export type KeyOffer = Common<'key-offer'> & { readonly certificate: CertificateJson; readonly signature: Hex }

/** Source → target: the signed {stateRoot, seq} and the layout of the state stream's frames (one per chunk) that follows. */
export type StateOffer = Common<'state-offer'> & {
  readonly agentId: Decimal
  readonly stateRoot: Hex
  readonly seq: Decimal
  readonly chunkSize: Decimal
  readonly byteLength: Decimal
  readonly chunkCount: Decimal
  readonly signer: Address
  /** EIP-712 `UpliftState` signature by `signer` (docs/uplift.md "State signature"). */
  readonly signature: Hex
  /** Fresh X25519 key of this offer's state stream (its key is single-use: StateStream.ts). */
  readonly senderPublicKey: Hex
}

/** Source → target: the self-continuity challenge (DESIGN.md §10 step 4). */
export type Challenge = Common<'challenge'> & {
  readonly nonce: Hex
  /** The epoch the source holds (the target attests with it). */
  readonly epoch: Decimal
  /** Distinct chunk indexes, ascending. */
  readonly leafIndexes: readonly Decimal[]
}

/** One answered leaf: the chunk bytes and its Merkle siblings (layout from the StateOffer). */
export type Leaf = { readonly index: Decimal; readonly chunk: Hex; readonly siblings: readonly Hex[] }

/** Target → source: signature + quote over the challenge (a sign-and-attest statement) and the leaves. */
export type ChallengeAnswer = Common<'challenge-answer'> & {
  readonly signer: Address
  /** EIP-712 RegentStatement signature (docs/protocol.md "Sign-and-attest report_data"). */
  readonly signature: Hex
  readonly quote: Hex
  readonly eventLog: string
  readonly leaves: readonly Leaf[]
}

/** Source → target: the on-chain handover happened (DESIGN.md §10 step 5). */
export type Handover = Common<'handover'> & {
  readonly agentId: Decimal
  /** The new epoch. */
  readonly epoch: Decimal
  /** The new canonical signer. */
  readonly signer: Address
  readonly quoteHash: Hex
  readonly transactionHash: Hex
}

export type Message = SourceHello | TargetHello | KeyEnvelope | KeyOffer | StateOffer | Challenge | ChallengeAnswer | Handover

export type Type = Message['type']
export type ByType<type extends Type> = Extract<Message, { type: type }>

/** Every message type, in protocol order. */
export const types = [
  'source-hello',
  'target-hello',
  'key-envelope',
  'key-offer',
  'state-offer',
  'challenge',
  'challenge-answer',
  'handover',
] as const satisfies readonly Type[]

// ---------------------------------------------------------------------------------------------------------------
// Parsing

type Obj = Record<string, unknown>

class Reader {
  constructor(
    readonly type: string,
    readonly o: Obj,
    readonly prefix = '',
  ) {}
  fail(field: string, reason: string): never {
    throw new InvalidMessageError({ messageType: this.type, field: `${this.prefix}${field}`, reason })
  }
  raw(field: string): unknown {
    if (!Object.hasOwn(this.o, field)) this.fail(field, 'is required')
    return this.o[field]
  }
  string(field: string, max = 1 << 20): string {
    const v = this.raw(field)
    if (typeof v !== 'string') this.fail(field, 'must be a string')
    if (v.length > max) this.fail(field, `must be at most ${max} characters`)
    return v
  }
  hex(field: string, bytes?: number | { min: number; max: number }): Hex {
    const v = this.raw(field)
    return hexValue(v, (reason) => this.fail(field, reason), bytes)
  }
  address(field: string): Address {
    return this.hex(field, 20)
  }
  decimal(field: string, maxBits = 64): Decimal {
    return decimalValue(this.raw(field), (reason) => this.fail(field, reason), maxBits)
  }
  only(fields: readonly string[]): void {
    for (const key of Object.keys(this.o)) if (!fields.includes(key)) this.fail(key, 'is not a field of this message')
  }
}

function hexValue(v: unknown, fail: (reason: string) => never, bytes?: number | { min: number; max: number }): Hex {
  if (typeof v !== 'string' || !/^0x([0-9a-f]{2})*$/.test(v)) fail('must be lowercase 0x hex with an even number of digits')
  const n = (v.length - 2) / 2
  if (typeof bytes === 'number' && n !== bytes) fail(`must be ${bytes} bytes, got ${n}`)
  if (typeof bytes === 'object' && (n < bytes.min || n > bytes.max)) fail(`must be ${bytes.min}–${bytes.max} bytes, got ${n}`)
  return v as Hex
}

function decimalValue(v: unknown, fail: (reason: string) => never, maxBits: number): Decimal {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]*)$/.test(v)) fail('must be a decimal string')
  if (BigInt(v) >= 2n ** BigInt(maxBits)) fail(`must be below 2^${maxBits}`)
  return v
}

const common = ['version', 'type', 'sessionId']

const parsers: { [T in Type]: (r: Reader) => ByType<T> } = {
  'source-hello': (r) => {
    r.only([...common, 'agentId', 'chainId', 'succession', 'mode', 'source', 'nonce', 'expiresAt', 'signature'])
    const mode = r.raw('mode')
    if (mode !== 'import' && mode !== 'rotate') return r.fail('mode', 'must be "import" or "rotate"')
    if (Object.hasOwn(r.o, 'expiresAt') !== Object.hasOwn(r.o, 'signature'))
      r.fail(Object.hasOwn(r.o, 'signature') ? 'expiresAt' : 'signature', 'comes with expiresAt and signature together')
    return {
      ...head(r, 'source-hello'),
      agentId: r.decimal('agentId', 256),
      chainId: r.decimal('chainId'),
      succession: r.address('succession'),
      mode,
      source: r.address('source'),
      nonce: r.hex('nonce', 32),
      ...(Object.hasOwn(r.o, 'signature') ? { expiresAt: r.decimal('expiresAt'), signature: r.hex('signature', 65) } : {}),
    }
  },
  'target-hello': (r) => {
    r.only([...common, 'targetUrl', 'wallet', 'ephemeralPublicKey', 'nonce', 'transcript', 'quote', 'eventLog'])
    const targetUrl = r.string('targetUrl', limits.maxUrlChars)
    if (!/^https?:\/\/[^\s]+$/.test(targetUrl)) r.fail('targetUrl', 'must be an http(s) URL')
    return {
      ...head(r, 'target-hello'),
      targetUrl,
      wallet: r.address('wallet'),
      ephemeralPublicKey: r.hex('ephemeralPublicKey', 32),
      nonce: r.hex('nonce', 32),
      transcript: r.hex('transcript', 32),
      quote: r.hex('quote', { min: 1, max: limits.maxQuoteBytes }),
      eventLog: r.string('eventLog', limits.maxEventLogChars),
    }
  },
  'key-envelope': (r) => {
    r.only([...common, 'address', 'senderPublicKey', 'iv', 'ciphertext'])
    return {
      ...head(r, 'key-envelope'),
      address: r.address('address'),
      senderPublicKey: r.hex('senderPublicKey', 32),
      iv: r.hex('iv', 12),
      ciphertext: r.hex('ciphertext', 48),
    }
  },
  'key-offer': (r) => {
    r.only([...common, 'certificate', 'signature'])
    const c = r.raw('certificate')
    if (typeof c !== 'object' || c === null || Array.isArray(c)) return r.fail('certificate', 'must be an object')
    const cr = new Reader(r.type, c as Obj, 'certificate.')
    cr.only(['agentId', 'oldKey', 'newKey', 'newComposeHash', 'quoteHash', 'nextEpoch', 'deadline'])
    return {
      ...head(r, 'key-offer'),
      certificate: {
        agentId: cr.decimal('agentId', 256),
        oldKey: cr.address('oldKey'),
        newKey: cr.address('newKey'),
        newComposeHash: cr.hex('newComposeHash', 32),
        quoteHash: cr.hex('quoteHash', 32),
        nextEpoch: cr.decimal('nextEpoch'),
        deadline: cr.decimal('deadline', 256),
      },
      signature: r.hex('signature', 65),
    }
  },
  'state-offer': (r) => {
    r.only([...common, 'agentId', 'stateRoot', 'seq', 'chunkSize', 'byteLength', 'chunkCount', 'signer', 'signature', 'senderPublicKey'])
    const chunkSize = r.decimal('chunkSize', 53)
    if (Number(chunkSize) < 1 || Number(chunkSize) > limits.maxChunkSize) r.fail('chunkSize', `must be 1–${limits.maxChunkSize}`)
    const byteLength = r.decimal('byteLength', 53)
    const chunkCount = r.decimal('chunkCount', 32)
    if (Number(chunkCount) !== Math.max(1, Math.ceil(Number(byteLength) / Number(chunkSize))))
      r.fail('chunkCount', 'does not match byteLength and chunkSize')
    return {
      ...head(r, 'state-offer'),
      agentId: r.decimal('agentId', 256),
      stateRoot: r.hex('stateRoot', 32),
      seq: r.decimal('seq'),
      chunkSize,
      byteLength,
      chunkCount,
      signer: r.address('signer'),
      signature: r.hex('signature', 65),
      senderPublicKey: r.hex('senderPublicKey', 32),
    }
  },
  challenge: (r) => {
    r.only([...common, 'nonce', 'epoch', 'leafIndexes'])
    const list = r.raw('leafIndexes')
    if (!Array.isArray(list) || list.length === 0 || list.length > limits.maxLeafIndexes)
      return r.fail('leafIndexes', `must be an array of 1–${limits.maxLeafIndexes} decimal strings`)
    const leafIndexes = list.map((v, i) => decimalValue(v, (reason) => r.fail(`leafIndexes[${i}]`, reason), 32))
    leafIndexes.forEach((v, i) => {
      if (i > 0 && BigInt(v) <= BigInt(leafIndexes[i - 1] as string)) r.fail(`leafIndexes[${i}]`, 'must be distinct and ascending')
    })
    return { ...head(r, 'challenge'), nonce: r.hex('nonce', 32), epoch: r.decimal('epoch'), leafIndexes }
  },
  'challenge-answer': (r) => {
    r.only([...common, 'signer', 'signature', 'quote', 'eventLog', 'leaves'])
    const list = r.raw('leaves')
    if (!Array.isArray(list) || list.length === 0 || list.length > limits.maxLeafIndexes)
      return r.fail('leaves', `must be an array of 1–${limits.maxLeafIndexes} leaves`)
    const leaves = list.map((l, i): Leaf => {
      if (typeof l !== 'object' || l === null || Array.isArray(l)) return r.fail(`leaves[${i}]`, 'must be an object')
      const lr = new Reader(r.type, l as Obj, `leaves[${i}].`)
      lr.only(['index', 'chunk', 'siblings'])
      const siblings = lr.raw('siblings')
      if (!Array.isArray(siblings) || siblings.length > limits.maxSiblings)
        return lr.fail('siblings', `must be an array of at most ${limits.maxSiblings} hashes`)
      return {
        index: lr.decimal('index', 32),
        chunk: lr.hex('chunk', { min: 0, max: limits.maxChunkSize }),
        siblings: siblings.map((s, j) => hexValue(s, (reason) => lr.fail(`siblings[${j}]`, reason), 32)),
      }
    })
    return {
      ...head(r, 'challenge-answer'),
      signer: r.address('signer'),
      signature: r.hex('signature', 65),
      quote: r.hex('quote', { min: 1, max: limits.maxQuoteBytes }),
      eventLog: r.string('eventLog', limits.maxEventLogChars),
      leaves,
    }
  },
  handover: (r) => {
    r.only([...common, 'agentId', 'epoch', 'signer', 'quoteHash', 'transactionHash'])
    return {
      ...head(r, 'handover'),
      agentId: r.decimal('agentId', 256),
      epoch: r.decimal('epoch'),
      signer: r.address('signer'),
      quoteHash: r.hex('quoteHash', 32),
      transactionHash: r.hex('transactionHash', 32),
    }
  },
}

function head<T extends Type>(r: Reader, type: T): Common<T> {
  return { version, type, sessionId: r.hex('sessionId', 32) }
}

/**
 * Parses a message strictly: a JSON text or an already-decoded value; unknown fields, missing fields, wrong
 * lengths, uppercase hex and JSON numbers are refused. With `expected`, the message must be of that type.
 *
 * @throws {InvalidMessageError} naming the message type and the field (e.g. `leaves[2].siblings[0]`).
 * @example
 * const hello = Messages.parse(await response.text(), 'target-hello')
 */
export function parse<T extends Type>(json: unknown, expected: T): ByType<T>
export function parse(json: unknown): Message
export function parse(json: unknown, expected?: Type): Message {
  let value = json
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json)
    } catch {
      throw new InvalidMessageError({ messageType: expected ?? '(unknown)', field: '(body)', reason: 'is not JSON' })
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidMessageError({ messageType: expected ?? '(unknown)', field: '(body)', reason: 'must be a JSON object' })
  const o = value as Obj
  const type = o.type
  if (typeof type !== 'string' || !(types as readonly string[]).includes(type))
    throw new InvalidMessageError({ messageType: expected ?? '(unknown)', field: 'type', reason: `must be one of ${types.join(', ')}` })
  if (expected !== undefined && type !== expected)
    throw new InvalidMessageError({ messageType: expected, field: 'type', reason: `must be "${expected}", got "${type}"` })
  if (o.version !== version) throw new InvalidMessageError({ messageType: type, field: 'version', reason: `must be "${version}"` })
  return parsers[type as Type](new Reader(type, o))
}

/**
 * The canonical encoding of a message (what travels, and what the transcript hashes).
 *
 * @example
 * await fetch(url, { method: 'POST', body: Messages.serialize(hello) })
 */
export function serialize(message: Message): string {
  return CanonicalJson.stringify(message)
}

// ---------------------------------------------------------------------------------------------------------------
// Transcript

/** The transcript hash before any message: 32 zero bytes. */
export const emptyTranscript: Hex = `0x${'00'.repeat(32)}`

/**
 * T_n = SHA-256("regent-uplift-transcript/v1" ‖ 0x00 ‖ T_{n-1} ‖ u32 len(m) ‖ m), m = UTF-8 canonical JSON of the
 * message. Both sides append every control message they send or accept, in protocol order (the state stream's
 * frames are no messages: their AD binds the offer).
 * @example
 * let t = Messages.emptyTranscript
 * t = Messages.appendTranscript(t, sourceHello)
 */
export function appendTranscript(previous: Hex, message: Message): Hex {
  const m = utf8(serialize(message))
  return `0x${createHash('sha256')
    .update(utf8(labels.transcript))
    .update(Uint8Array.of(0))
    .update(fromHex(previous, 'transcript'))
    .update(u32(m.length))
    .update(m)
    .digest('hex')}`
}

/** The transcript hash of a whole sequence of messages. */
export function transcriptOf(messages: readonly Message[]): Hex {
  return messages.reduce(appendTranscript, emptyTranscript)
}

// ---------------------------------------------------------------------------------------------------------------
// The target's report_data binding

export type TargetBinding = {
  readonly ephemeralPublicKey: Hex
  readonly wallet: Address
  readonly targetUrl: string
  readonly sessionId: Hex
  readonly nonce: Hex
  /** Transcript hash after SourceHello. */
  readonly transcript: Hex
}

/**
 * keyCommitment = SHA-256("regent-uplift-target-key/v1" ‖ 0x00 ‖ ephemeralPublicKey(32) ‖ wallet(20) ‖
 * u16 len(url) ‖ url): which keys (and which endpoint) the attested TD speaks for.
 */
export function keyCommitment(binding: Pick<TargetBinding, 'ephemeralPublicKey' | 'wallet' | 'targetUrl'>): Uint8Array {
  const url = utf8(binding.targetUrl)
  return sha256(
    concat([
      utf8(labels.targetKey),
      Uint8Array.of(0),
      fromHex(binding.ephemeralPublicKey, 'ephemeralPublicKey'),
      fromHex(binding.wallet, 'wallet'),
      u16(url.length),
      url,
    ]),
  )
}

/**
 * freshCommitment = SHA-256("regent-uplift-target-fresh/v1" ‖ 0x00 ‖ sessionId(32) ‖ nonce(32) ‖ transcript(32)):
 * which session, challenge and transcript the quote was made for.
 */
export function freshCommitment(binding: Pick<TargetBinding, 'sessionId' | 'nonce' | 'transcript'>): Uint8Array {
  return sha256(
    concat([
      utf8(labels.targetFresh),
      Uint8Array.of(0),
      fromHex(binding.sessionId, 'sessionId'),
      fromHex(binding.nonce, 'nonce'),
      fromHex(binding.transcript, 'transcript'),
    ]),
  )
}

/**
 * The 64-byte report_data of the target's quote: keyCommitment(32) ‖ freshCommitment(32). Split in two halves so
 * that a verifier tells "bound to another key" (`target.key_binding`) from "made for another session"
 * (`target.stale_quote`).
 *
 * @example
 * const reportData = Messages.targetReportData({ ephemeralPublicKey, wallet, targetUrl, sessionId, nonce, transcript })
 */
export function targetReportData(binding: TargetBinding): Uint8Array {
  return concat([keyCommitment(binding), freshCommitment(binding)])
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

// ---------------------------------------------------------------------------------------------------------------

/** A message failed strict parsing. `field` is the path inside the message (`certificate.newKey`, `leaves[0].chunk`). */
export class InvalidMessageError extends BaseError {
  override name = 'Messages.InvalidMessageError'
  /** Always `message.format`. */
  override readonly code = 'message.format'
  readonly messageType: string
  readonly field: string
  constructor({ messageType, field, reason }: { messageType: string; field: string; reason: string }) {
    super(`Invalid ${messageType} message: field "${field}" ${reason}.`)
    this.messageType = messageType
    this.field = field
  }
}
