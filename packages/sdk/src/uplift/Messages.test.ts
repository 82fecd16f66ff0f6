import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import * as Messages from './Messages.js'

const h = (byte: string, n: number) => `0x${byte.repeat(n)}` as const
const sourceHello: Messages.SourceHello = {
  version: 'regent.uplift/v1',
  type: 'source-hello',
  sessionId: h('01', 32),
  agentId: '7',
  chainId: '31337',
  succession: h('aa', 20),
  mode: 'import',
  source: h('bb', 20),
  nonce: h('02', 32),
}

function invalid(json: unknown, expected?: Messages.Type): [string, string, string] {
  try {
    if (expected) Messages.parse(json, expected)
    else Messages.parse(json)
  } catch (error) {
    expect(error).toBeInstanceOf(Messages.InvalidMessageError)
    const e = error as Messages.InvalidMessageError
    return [e.messageType, e.field, e.shortMessage]
  }
  throw new Error('expected InvalidMessageError')
}

describe('Messages.parse', () => {
  test('default: a message round-trips through its canonical encoding', () => {
    const text = Messages.serialize(sourceHello)
    expect(text).toBe(
      `{"agentId":"7","chainId":"31337","mode":"import","nonce":"${h('02', 32)}","sessionId":"${h('01', 32)}","source":"${h('bb', 20)}","succession":"${h('aa', 20)}","type":"source-hello","version":"regent.uplift/v1"}`,
    )
    expect(Messages.parse(text, 'source-hello')).toEqual(sourceHello)
  })

  test('behavior: errors name the message type and the field', () => {
    expect(invalid('{', 'source-hello')).toEqual(['source-hello', '(body)', 'Invalid source-hello message: field "(body)" is not JSON.'])
    expect(invalid({ ...sourceHello, version: 'regent.uplift/v0' })).toEqual([
      'source-hello',
      'version',
      'Invalid source-hello message: field "version" must be "regent.uplift/v1".',
    ])
    expect(invalid(sourceHello, 'target-hello')[1]).toBe('type')
    expect(invalid({ ...sourceHello, type: 'hello' })[1]).toBe('type')
    expect(invalid({ ...sourceHello, nonce: h('02', 31) })).toEqual([
      'source-hello',
      'nonce',
      'Invalid source-hello message: field "nonce" must be 32 bytes, got 31.',
    ])
    expect(invalid({ ...sourceHello, source: h('BB', 20) })[2]).toBe(
      'Invalid source-hello message: field "source" must be lowercase 0x hex with an even number of digits.',
    )
    expect(invalid({ ...sourceHello, agentId: 7 })[1]).toBe('agentId')
    expect(invalid({ ...sourceHello, chainId: '01' })[1]).toBe('chainId')
    expect(invalid({ ...sourceHello, mode: 'copy' })[1]).toBe('mode')
    expect(invalid({ ...sourceHello, extra: '1' })[1]).toBe('extra')
    const { nonce: _, ...noNonce } = sourceHello
    expect(invalid(noNonce)[2]).toBe('Invalid source-hello message: field "nonce" is required.')
  })

  test('behavior: nested fields are named by path', () => {
    const common = { version: Messages.version, sessionId: h('01', 32) }
    const answer = {
      ...common,
      type: 'challenge-answer',
      signer: h('bb', 20),
      signature: h('cc', 65),
      quote: '0x00',
      eventLog: '[]',
      leaves: [{ index: '0', chunk: '0x61', siblings: [h('dd', 32), h('dd', 31)] }],
    }
    expect(invalid(answer)[1]).toBe('leaves[0].siblings[1]')
    const challenge = { ...common, type: 'challenge', nonce: h('02', 32), epoch: '1', leafIndexes: ['3', '3'] }
    expect(invalid(challenge)).toEqual([
      'challenge',
      'leafIndexes[1]',
      'Invalid challenge message: field "leafIndexes[1]" must be distinct and ascending.',
    ])
    const offer = {
      ...common,
      type: 'key-offer',
      certificate: {
        agentId: '1',
        oldKey: h('bb', 20),
        newKey: h('cc', 19),
        newComposeHash: h('dd', 32),
        quoteHash: h('ee', 32),
        nextEpoch: '2',
        deadline: '9',
      },
      signature: h('cc', 65),
    }
    expect(invalid(offer)[1]).toBe('certificate.newKey')
    const state = {
      ...common,
      type: 'state-offer',
      agentId: '1',
      stateRoot: h('11', 32),
      seq: '2',
      chunkSize: '4',
      byteLength: '9',
      chunkCount: '2',
      signer: h('bb', 20),
      signature: h('cc', 65),
      senderPublicKey: h('22', 32),
    }
    expect(invalid(state)[2]).toBe('Invalid state-offer message: field "chunkCount" does not match byteLength and chunkSize.')
    expect(Messages.parse({ ...state, chunkCount: '3' }, 'state-offer').chunkCount).toBe('3')
  })
})

describe('Messages.appendTranscript / targetReportData', () => {
  test('vector: transcript after the fixed SourceHello, and the target binding', () => {
    const t1 = Messages.appendTranscript(Messages.emptyTranscript, sourceHello)
    expect(t1).toMatchInlineSnapshot(`"0x0ef6db1249800baf53d9beb26dcdad1dcd41134d997079ad39eae684c280dc0a"`)
    const reportData = Messages.targetReportData({
      ephemeralPublicKey: h('03', 32),
      wallet: h('cc', 20),
      targetUrl: 'https://target.example',
      sessionId: sourceHello.sessionId,
      nonce: sourceHello.nonce,
      transcript: t1,
    })
    // Independently, from the byte layout in docs/uplift.md.
    const sha = (...parts: (string | Buffer)[]) =>
      createHash('sha256')
        .update(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))))
        .digest()
    const b = (hex: string) => Buffer.from(hex.slice(2), 'hex')
    const m = Buffer.from(Messages.serialize(sourceHello))
    const len = Buffer.alloc(4)
    len.writeUInt32BE(m.length)
    expect(`0x${sha('regent-uplift-transcript/v1\0', Buffer.alloc(32), len, m).toString('hex')}`).toBe(t1)
    const url = Buffer.from('https://target.example')
    const key = sha('regent-uplift-target-key/v1\0', b(h('03', 32)), b(h('cc', 20)), Buffer.from([0, url.length]), url)
    const fresh = sha('regent-uplift-target-fresh/v1\0', b(sourceHello.sessionId), b(sourceHello.nonce), b(t1))
    expect(Buffer.from(reportData).toString('hex')).toBe(Buffer.concat([key, fresh]).toString('hex'))
    expect(Buffer.from(reportData).toString('hex')).toMatchInlineSnapshot(
      `"dbface611bca99e72f63c9650de40b219b2f61a8bc9a1c263ed7906ef1fa3d211860a9cc4ec104c58eb5b1e5efcea4b9fb8b63616a795a568ccaac6244cd4d0a"`,
    )
  })

  test('behavior: the transcript depends on every message, in order', () => {
    const other = { ...sourceHello, mode: 'rotate' as const }
    const t = Messages.transcriptOf([sourceHello, other])
    expect(t).not.toBe(Messages.transcriptOf([other, sourceHello]))
    expect(Messages.transcriptOf([sourceHello])).not.toBe(Messages.transcriptOf([other]))
  })
})

describe('Messages.parse ∘ serialize', () => {
  const hexOf = (min: number, max: number) =>
    fc.uint8Array({ minLength: min, maxLength: max }).map((b) => `0x${Buffer.from(b).toString('hex')}` as const)
  const challenge = fc
    .record({
      version: fc.constant(Messages.version),
      type: fc.constant('challenge' as const),
      sessionId: hexOf(32, 32),
      nonce: hexOf(32, 32),
      epoch: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
      leafIndexes: fc
        .uniqueArray(fc.nat({ max: 2 ** 32 - 1 }), { minLength: 1, maxLength: 256 })
        .map((a) => a.sort((x, y) => x - y).map(String)),
    })
    .map((r) => ({ ...r }))

  test('property: every well-formed message round-trips, and its transcript step is deterministic', () => {
    fc.assert(
      fc.property(challenge, (m) => {
        expect(Messages.parse(Messages.serialize(m), 'challenge')).toEqual(m)
        expect(Messages.appendTranscript(Messages.emptyTranscript, m)).toBe(
          Messages.appendTranscript(Messages.emptyTranscript, Messages.parse(Messages.serialize(m))),
        )
      }),
    )
  })

  test('property: any one byte of a canonical message changed either fails to parse or changes the transcript', () => {
    fc.assert(
      fc.property(challenge, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, delta) => {
        const text = Buffer.from(Messages.serialize(m))
        const i = at % text.length
        text[i] = ((text[i] as number) + delta) % 256
        let parsed: Messages.Message | undefined
        try {
          parsed = Messages.parse(text.toString('utf8'))
        } catch (error) {
          expect(error).toBeInstanceOf(Messages.InvalidMessageError)
          return
        }
        expect(Messages.appendTranscript(Messages.emptyTranscript, parsed)).not.toBe(Messages.appendTranscript(Messages.emptyTranscript, m))
      }),
    )
  })
})
