// The failover wire (Wire.ts): the signed hello, the standby's report_data, sealed frames and MAC'd acks, each checked
// against an independent computation (node:crypto, viem) and attacked byte by byte.
import { createHash, randomBytes } from 'node:crypto'
import { Aead, Envelope } from '@regent-tee/core'
import fc from 'fast-check'
import { type Hex, keccak256, toHex as viemToHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { describe, expect, test } from 'vitest'
import * as Wire from './Wire.js'

const account = privateKeyToAccount(generatePrivateKey())
const other = privateKeyToAccount(generatePrivateKey())
const hex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`
const rand = (n: number): Hex => hex(randomBytes(n))

const unsignedHello = (): Omit<Wire.Hello, 'signature'> => ({
  v: '1',
  agentId: '7',
  epoch: '3',
  leaderUrl: 'http://127.0.0.1:8080',
  leaderInstanceId: '0x00000000000000000000000000000000000000a1',
  nonce: rand(32),
  publicKey: hex(Envelope.createKeyPair().publicKey),
  issuedAt: String(Date.now()),
})

/** Another value of the same format for each field of a hello. */
const altered: { [K in keyof Omit<Wire.Hello, 'signature'>]: string } = {
  v: '2',
  agentId: '8',
  epoch: '4',
  leaderUrl: 'http://127.0.0.1:8081',
  leaderInstanceId: '0x00000000000000000000000000000000000000a2',
  nonce: rand(32),
  publicKey: rand(32),
  issuedAt: '1',
}

describe('helloDigest / signHello / helloSigner', () => {
  test('default: the agent key signs keccak256(label ‖ canonical JSON without the signature); the signer recovers', async () => {
    const u = unsignedHello()
    const hello = await Wire.signHello(account, u)
    const sorted = Object.fromEntries(Object.entries(u).sort(([a], [b]) => (a < b ? -1 : 1)))
    const expected = keccak256(new TextEncoder().encode(`regent-failover/hello/v1\n${JSON.stringify(sorted)}`))
    expect(Wire.helloDigest(hello)).toBe(expected)
    expect(Wire.helloDigest(u)).toBe(expected)
    expect(await account.signMessage({ message: { raw: expected } })).toBe(hello.signature)
    expect(await Wire.helloSigner(hello)).toBe(account.address)
  })

  test('behavior: any field changed, the signer is no longer the agent key', async () => {
    const hello = await Wire.signHello(account, unsignedHello())
    for (const [field, value] of Object.entries(altered)) {
      const tampered = { ...hello, [field]: value } as Wire.Hello
      expect(Wire.helloDigest(tampered), field).not.toBe(Wire.helloDigest(hello))
      expect(await Wire.helloSigner(tampered), field).not.toBe(account.address)
    }
    // A field added changes the digest too (the parser refuses extra fields; the digest does not rely on it).
    expect(Wire.helloDigest({ ...hello, extra: '1' } as Wire.Hello)).not.toBe(Wire.helloDigest(hello))
  })

  test('behavior: another key, a flipped signature byte, a malformed signature', async () => {
    const u = unsignedHello()
    expect(await Wire.helloSigner(await Wire.signHello(other, u))).toBe(other.address)
    const hello = await Wire.signHello(account, u)
    const sig = Buffer.from(hello.signature.slice(2), 'hex')
    for (const at of [0, 31, 32, 63]) {
      const flipped = Buffer.from(sig)
      flipped[at] = (flipped[at] as number) ^ 0x01
      expect(await Wire.helloSigner({ ...hello, signature: hex(flipped) })).not.toBe(account.address)
    }
    for (const signature of ['0x', '0x12', 'nothex', `0x${'00'.repeat(65)}`] as Hex[])
      expect(await Wire.helloSigner({ ...hello, signature })).toBeUndefined()
  })
})

describe('standbyReportData', () => {
  const sessionId = rand(32)
  const publicKey = rand(32)
  const standbyUrl = 'http://127.0.0.1:9000'

  test('default: sha256(label ‖ session ‖ key ‖ url) ‖ session, 64 bytes', () => {
    const rd = Wire.standbyReportData({ sessionId, publicKey, standbyUrl })
    const commit = createHash('sha256')
      .update('regent-failover/standby/v1')
      .update(Buffer.from(sessionId.slice(2), 'hex'))
      .update(Buffer.from(publicKey.slice(2), 'hex'))
      .update(standbyUrl)
      .digest()
    expect(hex(rd)).toBe(hex(Buffer.concat([commit, Buffer.from(sessionId.slice(2), 'hex')])))
  })

  test('behavior: another hello, key or URL gives other report_data', () => {
    const base = hex(Wire.standbyReportData({ sessionId, publicKey, standbyUrl }))
    for (const change of [{ sessionId: rand(32) }, { publicKey: rand(32) }, { standbyUrl: 'http://127.0.0.1:9001' }])
      expect(hex(Wire.standbyReportData({ sessionId, publicKey, standbyUrl, ...change }))).not.toBe(base)
  })

  test('behavior: a key of another length is refused (else key ‖ url would be ambiguous: a key byte could move into the URL)', () => {
    // 'h' is 0x68: without a fixed key length, (key ‖ 68, "ttp://…") and (key, "http://…") would commit to the same bytes.
    expect(() => Wire.standbyReportData({ sessionId, publicKey: `${publicKey}68`, standbyUrl: standbyUrl.slice(1) })).toThrow(
      'publicKey must be 32 bytes, got 33.',
    )
    expect(() => Wire.standbyReportData({ sessionId, publicKey: publicKey.slice(0, 64) as Hex, standbyUrl })).toThrow(
      'publicKey must be 32 bytes, got 31.',
    )
    expect(() => Wire.standbyReportData({ sessionId: rand(31), publicKey, standbyUrl })).toThrow('sessionId must be 32 bytes, got 31.')
  })
})

describe('sessionKey', () => {
  test('default: both sides derive one key, bound to the session; a third key derives another', () => {
    const leader = Envelope.createKeyPair()
    const standby = Envelope.createKeyPair()
    const sessionId = rand(32)
    const a = Wire.sessionKey({ privateKey: leader.privateKey, peerPublicKey: hex(standby.publicKey), sessionId })
    const b = Wire.sessionKey({ privateKey: standby.privateKey, peerPublicKey: hex(leader.publicKey), sessionId })
    expect(hex(a)).toBe(hex(b))
    expect(a.length).toBe(32)
    const mitm = Envelope.createKeyPair()
    expect(hex(Wire.sessionKey({ privateKey: mitm.privateKey, peerPublicKey: hex(leader.publicKey), sessionId }))).not.toBe(hex(a))
    expect(hex(Wire.sessionKey({ privateKey: leader.privateKey, peerPublicKey: hex(standby.publicKey), sessionId: rand(32) }))).not.toBe(
      hex(a),
    )
  })
})

const key = new Uint8Array(randomBytes(32))
const sid = rand(32)
const bytes = (...b: number[]) => new Uint8Array(b)
const records: Wire.Frame = {
  kind: 'records',
  n: 4,
  records: [
    { seq: 11, data: bytes(1, 2, 3) },
    { seq: 12, data: bytes() },
    { seq: 13, data: bytes(9) },
  ],
  peers: ['http://a', 'http://b'],
}
const snapshot: Wire.Frame = { kind: 'snapshot', n: 1, seq: 10, data: new Uint8Array(randomBytes(100)), peers: ['http://a'] }
const tail: Wire.Frame = { kind: 'tail', n: 2, from: 5 }
const frames = [records, snapshot, tail]

/** Seals a chosen plaintext as a frame of `kind` (the protocol's AD), as only a holder of the session key can. */
function sealRaw(kind: string, plain: Uint8Array, sessionId: Hex = sid): Uint8Array {
  const ad = Buffer.concat([Buffer.from('regent-failover/frame/v1'), Buffer.from(sessionId.slice(2), 'hex'), Buffer.from(kind)])
  return Buffer.concat([Buffer.from(kind.padEnd(8, ' '), 'latin1'), Aead.sealBytes(key, plain, { ad })])
}
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(n)
  return b
}
/** A plaintext: the header's length as `length` says (default: its true length), the header, then `data`. */
const plainOf = (header: unknown, data: Uint8Array = bytes(), length?: bigint) => {
  const head = Buffer.from(JSON.stringify(header))
  return Buffer.concat([u64(length ?? BigInt(head.length)), head, data])
}

describe('sealFrame / openFrame', () => {
  test('default: records, snapshot and tail frames round-trip', () => {
    for (const frame of frames) expect(Wire.openFrame(key, sid, Wire.sealFrame(key, sid, frame))).toEqual(frame)
    const empty: Wire.Frame = { kind: 'records', n: 0, records: [], peers: [] }
    expect(Wire.openFrame(key, sid, Wire.sealFrame(key, sid, empty))).toEqual(empty)
  })

  test('default: the layout is an 8-byte kind, then AES-256-GCM under the session (a frame sealed by hand opens)', () => {
    const sealed = Wire.sealFrame(key, sid, tail)
    expect(Buffer.from(sealed.subarray(0, 8)).toString('latin1')).toBe('tail    ')
    expect(Buffer.from(Wire.sealFrame(key, sid, snapshot).subarray(0, 8)).toString('latin1')).toBe('snapshot')
    expect(Wire.openFrame(key, sid, sealRaw('tail', plainOf({ n: 2, from: 5 })))).toEqual(tail)
  })

  test('property: any records frame round-trips', () => {
    const record = fc.record({ seq: fc.nat(), data: fc.uint8Array({ maxLength: 64 }) })
    fc.assert(
      fc.property(
        fc.nat(),
        fc.array(record, { maxLength: 8 }),
        fc.array(fc.string({ maxLength: 40 }), { maxLength: 4 }),
        (n, rs, peers) => {
          const frame: Wire.Frame = { kind: 'records', n, records: rs, peers }
          expect(Wire.openFrame(key, sid, Wire.sealFrame(key, sid, frame))).toEqual(frame)
        },
      ),
    )
  })

  test('behavior: another session id or key does not open it', () => {
    for (const frame of frames) {
      const sealed = Wire.sealFrame(key, sid, frame)
      expect(Wire.openFrame(key, rand(32), sealed)).toBeUndefined()
      expect(Wire.openFrame(new Uint8Array(randomBytes(32)), sid, sealed)).toBeUndefined()
    }
  })

  test('behavior: every single-bit flip, anywhere (the kind padding too), does not open', () => {
    for (const frame of frames) {
      const sealed = Wire.sealFrame(key, sid, frame)
      for (let at = 0; at < sealed.length; at++)
        for (let bit = 0; bit < 8; bit++) {
          const flipped = Uint8Array.from(sealed)
          flipped[at] = (flipped[at] as number) ^ (1 << bit)
          expect(Wire.openFrame(key, sid, flipped), `${frame.kind} byte ${at} bit ${bit}`).toBeUndefined()
        }
    }
  })

  test('behavior: a kind prefix swapped for another kind (or an unknown one) does not open', () => {
    for (const frame of frames) {
      const body = Wire.sealFrame(key, sid, frame).subarray(8)
      for (const prefix of ['records ', 'snapshot', 'tail    ', 'records\t', 'tail\u00a0   ', 'RECORDS ', '        '])
        if (prefix !== frame.kind.padEnd(8, ' '))
          expect(
            Wire.openFrame(key, sid, Buffer.concat([Buffer.from(prefix, 'latin1'), body])),
            `${frame.kind} as ${JSON.stringify(prefix)}`,
          ).toBeUndefined()
    }
  })

  test('behavior: truncated or extended frames do not open', () => {
    for (const frame of frames) {
      const sealed = Wire.sealFrame(key, sid, frame)
      for (let length = 0; length < sealed.length; length++)
        expect(Wire.openFrame(key, sid, sealed.subarray(0, length)), `${frame.kind} cut at ${length}`).toBeUndefined()
      expect(Wire.openFrame(key, sid, Buffer.concat([sealed, bytes(0)]))).toBeUndefined()
    }
  })

  test('behavior: authentic frames whose header lies about lengths, or is malformed, do not parse', () => {
    const tailHeader = { n: 2, from: 5 }
    const recordsHeader = { n: 1, peers: [], records: [[1, 2]] }
    const cases: [string, Uint8Array][] = [
      ['header length past the plaintext', sealRaw('tail', plainOf(tailHeader, bytes(), 10_000n))],
      ['header length 2^64 − 1', sealRaw('tail', plainOf(tailHeader, bytes(), 2n ** 64n - 1n))],
      ['header length short of the header', sealRaw('tail', plainOf(tailHeader, bytes(), 3n))],
      ['header length 0', sealRaw('tail', plainOf(tailHeader, bytes(), 0n))],
      ['plaintext shorter than the length field', sealRaw('tail', bytes(0, 0, 1))],
      ['empty plaintext', sealRaw('tail', bytes())],
      ['records longer than the data', sealRaw('records', plainOf(recordsHeader, bytes(1)))],
      ['records shorter than the data', sealRaw('records', plainOf(recordsHeader, bytes(1, 2, 3)))],
      ['a record length past 2^53', sealRaw('records', plainOf({ ...recordsHeader, records: [[1, 2 ** 60]] }, bytes(1, 2)))],
      ['a negative record length', sealRaw('records', plainOf({ ...recordsHeader, records: [[1, -1]] }, bytes(1, 2)))],
      ['a record that is not a pair', sealRaw('records', plainOf({ ...recordsHeader, records: [{ seq: 1, length: 2 }] }, bytes(1, 2)))],
      ['records not a list', sealRaw('records', plainOf({ ...recordsHeader, records: '1,2' }, bytes(1, 2)))],
      ['snapshot length larger than its data', sealRaw('snapshot', plainOf({ n: 1, seq: 1, peers: [], length: 3 }, bytes(1, 2)))],
      ['snapshot length smaller than its data', sealRaw('snapshot', plainOf({ n: 1, seq: 1, peers: [], length: 1 }, bytes(1, 2)))],
      ['a fractional seq', sealRaw('snapshot', plainOf({ n: 1, seq: 1.5, peers: [], length: 0 }))],
      ['a negative n', sealRaw('tail', plainOf({ n: -1, from: 5 }))],
      ['n as a string', sealRaw('tail', plainOf({ n: '1', from: 5 }))],
      ['from missing', sealRaw('tail', plainOf({ n: 1 }))],
      ['peers not a list', sealRaw('records', plainOf({ n: 1, peers: 'http://a', records: [] }))],
      ['65 peers', sealRaw('records', plainOf({ n: 1, peers: Array(65).fill('http://a'), records: [] }))],
      ['a peer that is not a string', sealRaw('records', plainOf({ n: 1, peers: [1], records: [] }))],
      ['a header that is null', sealRaw('tail', plainOf(null))],
      ['a header that is a list', sealRaw('tail', plainOf([2, 5]))],
      ['a header that is not JSON', sealRaw('tail', Buffer.concat([u64(3n), Buffer.from('{n:')]))],
      ['a header that is not UTF-8', sealRaw('tail', Buffer.concat([u64(2n), bytes(0xff, 0xfe)]))],
    ]
    for (const [what, sealed] of cases) expect(Wire.openFrame(key, sid, sealed), what).toBeUndefined()
    // The same construction with honest lengths opens: the cases above fail on what they change.
    expect(Wire.openFrame(key, sid, sealRaw('records', plainOf(recordsHeader, bytes(1, 2))))).toEqual({
      kind: 'records',
      n: 1,
      peers: [],
      records: [{ seq: 1, data: bytes(1, 2) }],
    })
  })
})

describe('ackMac / checkAck', () => {
  test('default: the standby’s MAC of (session, n, head) checks; HMAC-SHA256 as node:crypto computes it', async () => {
    const { createHmac } = await import('node:crypto')
    const mac = Wire.ackMac(key, sid, 7, 42)
    const expected = createHmac('sha256', key)
      .update('regent-failover/ack/v1')
      .update(Buffer.from(sid.slice(2), 'hex'))
      .update(u64(7n))
      .update(u64(42n))
      .digest()
    expect(mac).toBe(viemToHex(expected))
    expect(Wire.checkAck(key, sid, 7, 42, mac)).toBe(true)
  })

  test('behavior: a MAC of another n, head, session or key is refused', () => {
    const mac = Wire.ackMac(key, sid, 7, 42)
    expect(Wire.checkAck(key, sid, 8, 42, mac)).toBe(false)
    expect(Wire.checkAck(key, sid, 7, 43, mac)).toBe(false)
    expect(Wire.checkAck(key, sid, 7, 41, mac)).toBe(false)
    expect(Wire.checkAck(key, rand(32), 7, 42, mac)).toBe(false)
    expect(Wire.checkAck(new Uint8Array(randomBytes(32)), sid, 7, 42, mac)).toBe(false)
  })

  test('bad input: a malformed MAC is refused without throwing', () => {
    const mac = Wire.ackMac(key, sid, 7, 42)
    for (const bad of [
      undefined,
      null,
      42,
      {},
      [mac],
      '',
      '0x',
      mac.slice(0, 64),
      `${mac}00`,
      mac.toUpperCase(),
      mac.slice(2),
      `${mac.slice(0, 65)}g`,
    ])
      expect(Wire.checkAck(key, sid, 7, 42, bad), String(bad)).toBe(false)
  })
})

describe('validateAnswer', () => {
  const answer: Wire.Answer = { standbyUrl: 'http://127.0.0.1:9000', publicKey: rand(32), quote: rand(600), eventLog: '[]', head: 3 }

  test('default: a standby answer in form', () => {
    expect(Wire.validateAnswer(answer)).toBe(true)
    expect(Wire.validateAnswer(JSON.parse(JSON.stringify(answer)))).toBe(true)
  })

  test('bad input: a missing, extra or malformed field', () => {
    const bad: unknown[] = [
      ...Object.keys(answer).map((k) => Object.fromEntries(Object.entries(answer).filter(([key]) => key !== k))),
      { ...answer, extra: 1 },
      { ...answer, standbyUrl: 'ftp://x' },
      { ...answer, standbyUrl: `http://${'a'.repeat(2048)}` },
      { ...answer, publicKey: rand(33) },
      { ...answer, publicKey: 'zz' },
      { ...answer, quote: '0x' },
      { ...answer, quote: '0x123' },
      { ...answer, eventLog: [] },
      { ...answer, head: -1 },
      { ...answer, head: 1.5 },
      { ...answer, head: '3' },
      { ...answer, head: 2 ** 53 },
      [answer],
      null,
      'answer',
    ]
    for (const v of bad) expect(Wire.validateAnswer(v), JSON.stringify(v)?.slice(0, 80)).toBe(false)
  })
})
