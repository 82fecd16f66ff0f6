// Raw HTTP against the guest agent: every endpoint's bad input answered 4xx with {"error"}, the server keeps
// running, and nothing about the CVM changes on a rejected request; GET query form; concurrency.
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Collateral, Quote, ReportData, verifyQuoteSync } from '@regent-tee/attest'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type Cvm, createCvm } from '../cvm/Cvm.js'
import { createLocalKeyProvider } from '../cvm/KeyProvider.js'
import * as DevnetCollateral from '../tdx/DevnetCollateral.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import * as DevnetQe from '../tdx/DevnetQe.js'
import { type GuestAgent, maxBodyBytes, startGuestAgent } from './GuestAgent.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const compose = new TextEncoder().encode('{"manifest_version":2,"name":"raw-app","runner":"docker-compose"}')
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

let dir: string
let cvm: Cvm
let agent: GuestAgent

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'regent-guest-raw-'))
  cvm = await createCvm({ compose, qe, keyProvider })
  agent = await startGuestAgent(cvm, { socketPath: join(dir, 'dstack.sock'), port: 0 })
})

afterAll(async () => {
  await agent.close()
  rmSync(dir, { recursive: true, force: true })
})

type Reply = { status: number; body: unknown; headers: Record<string, string | string[] | undefined> }

function call(
  path: string,
  options: { method?: string; body?: string | Buffer; contentType?: string | null; via?: 'unix' | 'http' } = {},
): Promise<Reply> {
  const via = options.via ?? 'http'
  const body = options.body
  const headers: Record<string, string | number> = {}
  if (options.contentType !== null) headers['Content-Type'] = options.contentType ?? 'application/json'
  if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body)
  const target = via === 'unix' ? { socketPath: agent.socketPath } : { host: '127.0.0.1', port: Number(new URL(agent.url as string).port) }
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path, method: options.method ?? 'POST', headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers })
      })
    })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

const rtmr3 = () => cvm.tcbInfo().rtmr3
const eventCount = () => cvm.tcbInfo().event_log.length

describe('bad input', () => {
  const cases: [string, string, Parameters<typeof call>[1], number, string][] = [
    ['unknown method', '/Nope', { body: '{}' }, 404, 'No such method: /Nope'],
    ['DstackGuest-prefixed route', '/prpc/DstackGuest.GetKey', { body: '{}' }, 404, 'No such method: /prpc/DstackGuest.GetKey'],
    ['other HTTP method', '/GetKey', { method: 'PUT', body: '{}' }, 405, 'Method PUT is not allowed'],
    ['malformed JSON', '/GetKey', { body: '{"path":' }, 400, 'Invalid JSON body'],
    ['JSON that is not an object', '/GetQuote', { body: '["00"]' }, 400, 'The JSON body must be an object'],
    [
      'non-JSON content type',
      '/GetQuote',
      { body: 'report_data=00', contentType: 'text/plain' },
      415,
      'Content-Type must be application/json',
    ],
    ['missing content type', '/Info', { body: '{}', contentType: null }, 415, 'Content-Type must be application/json'],
    ['GetKey path not a string', '/GetKey', { body: '{"path":1}' }, 400, 'Field "path" must be a string'],
    ['GetKey unsupported algorithm', '/GetKey', { body: '{"path":"a","algorithm":"rsa"}' }, 400, 'Unsupported algorithm: "rsa".'],
    ['GetQuote wrong hex', '/GetQuote', { body: '{"report_data":"zz"}' }, 400, 'Field "report_data" must be a hex string'],
    ['GetQuote odd hex', '/GetQuote', { body: '{"report_data":"abc"}' }, 400, 'Field "report_data" must be a hex string'],
    [
      'GetQuote report_data > 64 bytes',
      '/GetQuote',
      { body: JSON.stringify({ report_data: '00'.repeat(65) }) },
      400,
      'Report data is too long',
    ],
    [
      'Attest report_data > 64 bytes',
      '/Attest',
      { body: JSON.stringify({ report_data: `0x${'11'.repeat(65)}` }) },
      400,
      'Report data is too long',
    ],
    ['Attest wrong hex', '/Attest', { body: '{"report_data":"0xg0"}' }, 400, 'Field "report_data" must be a hex string'],
    [
      'EmitEvent reserved name',
      '/EmitEvent',
      { body: '{"event":"compose-hash","payload":"00"}' },
      400,
      'Invalid event: "compose-hash" is reserved for dstack OS.',
    ],
    ['EmitEvent empty name', '/EmitEvent', { body: '{"event":"","payload":"00"}' }, 400, 'Invalid event: the event name is empty.'],
    [
      'EmitEvent name with ":"',
      '/EmitEvent',
      { body: '{"event":"app-id:1","payload":"00"}' },
      400,
      'Invalid event: the event name contains ":" (the digest separator).',
    ],
    [
      'EmitEvent name with NUL',
      '/EmitEvent',
      { body: '{"event":"a\\u0000b","payload":"00"}' },
      400,
      'Invalid event: the event name contains the control character U+0000.',
    ],
    [
      'EmitEvent name with a newline',
      '/EmitEvent',
      { body: '{"event":"a\\nb","payload":"00"}' },
      400,
      'Invalid event: the event name contains the control character U+000A.',
    ],
    ['EmitEvent wrong hex', '/EmitEvent', { body: '{"event":"mine","payload":"xyz"}' }, 400, 'Field "payload" must be a hex string'],
    ['EmitEvent name not a string', '/EmitEvent', { body: '{"event":["a"],"payload":""}' }, 400, 'Field "event" must be a string'],
    ['Sign unsupported algorithm', '/Sign', { body: '{"algorithm":"p256","data":"00"}' }, 400, 'Unsupported algorithm: "p256".'],
    [
      'Sign prehashed not 32 bytes',
      '/Sign',
      { body: '{"algorithm":"secp256k1_prehashed","data":"00"}' },
      400,
      'Invalid signing input: secp256k1_prehashed data must be exactly 32 bytes.',
    ],
    ['Sign wrong hex', '/Sign', { body: '{"algorithm":"ed25519","data":"0"}' }, 400, 'Field "data" must be a hex string'],
    [
      'Verify wrong hex',
      '/Verify',
      { body: '{"algorithm":"ed25519","data":"00","signature":"q","public_key":"00"}' },
      400,
      'Field "signature" must be a hex string',
    ],
    [
      'Verify unsupported algorithm',
      '/Verify',
      { body: '{"algorithm":"rsa","data":"","signature":"","public_key":""}' },
      400,
      'Unsupported algorithm: "rsa".',
    ],
    [
      'GetTlsKey alt_names not an array',
      '/GetTlsKey',
      { body: '{"alt_names":"a.b"}' },
      400,
      'Field "alt_names" must be an array of strings',
    ],
    ['GetTlsKey not_before not a number', '/GetTlsKey', { body: '{"not_before":"soon"}' }, 400, 'Field "not_before" must be unix seconds'],
    ['GetTlsKey usage not a boolean', '/GetTlsKey', { body: '{"usage_ra_tls":"yes"}' }, 400, 'Field "usage_ra_tls" must be a boolean'],
    [
      'GetTlsKey not_after before not_before',
      '/GetTlsKey',
      { body: '{"not_before":2000,"not_after":1000}' },
      400,
      'Invalid TLS key options: not_after must be after not_before.',
    ],
    [
      'Tappd.TdxQuote unknown hash',
      '/prpc/Tappd.TdxQuote',
      { body: '{"report_data":"00","hash_algorithm":"md5"}' },
      400,
      'Unsupported hash algorithm: md5',
    ],
    [
      'Tappd.RawQuote not 64 bytes',
      '/prpc/Tappd.RawQuote',
      { body: '{"report_data":"00"}' },
      400,
      'Report data must be 64 bytes for the raw hash algorithm',
    ],
  ]

  test.each(cases)('%s → %i with {"error"} and no state change', async (_name, path, options, status, message) => {
    const [before, count] = [rtmr3(), eventCount()]
    for (const via of ['http', 'unix'] as const) {
      const reply = await call(path, { ...options, via })
      expect(reply.status).toBe(status)
      expect(reply.body).toEqual({ error: message })
    }
    expect([rtmr3(), eventCount()]).toEqual([before, count])
  })

  test('huge body → 413 and the agent keeps serving', async () => {
    const [before, count] = [rtmr3(), eventCount()]
    const huge = JSON.stringify({ event: 'big', payload: 'ab'.repeat(maxBodyBytes) })
    const reply = await call('/EmitEvent', { body: huge })
    expect(reply.status).toBe(413)
    expect(reply.body).toEqual({ error: `The request body is over ${maxBodyBytes} bytes.` })
    expect([rtmr3(), eventCount()]).toEqual([before, count])
    expect((await call('/Version', { body: '{}' })).status).toBe(200)
  })

  test('no stack traces or key material in any error body', async () => {
    const key = (await call('/GetKey', { body: '{"path":"a"}' })).body as { key: string }
    for (const [, path, options] of cases) {
      const text = JSON.stringify((await call(path, options)).body)
      expect(text).not.toMatch(/ at |\.ts:|node:internal/)
      expect(text).not.toContain(key.key)
    }
  })
})

describe('encodings', () => {
  test('GET query form: GetQuote with 0x hex, GetKey with algorithm, Info', async () => {
    const q = await call('/GetQuote?report_data=0xABCD', { method: 'GET', contentType: null })
    expect(q.status).toBe(200)
    const body = q.body as { report_data: string; quote: string }
    expect(body.report_data).toBe(`abcd${'00'.repeat(62)}`)
    expect(hex(Quote.reportData(Quote.parse(new Uint8Array(Buffer.from(body.quote, 'hex')))))).toBe(body.report_data)
    const k = (await call('/GetKey?path=a/b&purpose=p&algorithm=ed25519', { method: 'GET', contentType: null })).body as { key: string }
    expect(k.key).toBe(hex(cvm.getKey({ path: 'a/b', purpose: 'p' }).key))
    expect(((await call('/Info', { method: 'GET', contentType: null })).body as { app_name: string }).app_name).toBe('raw-app')
  })

  test('POST with 0x-prefixed hex; output is lowercase hex without 0x; an empty body means {}', async () => {
    const q = (await call('/GetQuote', { body: '{"report_data":"0xFF"}' })).body as { report_data: string }
    expect(q.report_data).toBe(`ff${'00'.repeat(63)}`)
    const info = await call('/Info', { contentType: null })
    expect(info.status).toBe(200)
    expect((info.body as { app_id: string }).app_id).toBe(hex(cvm.info.appId))
    expect(info.headers['content-length']).toBeDefined()
  })

  test('EmitEvent success answers {} and extends RTMR3 by exactly one event', async () => {
    const count = eventCount()
    const reply = await call('/EmitEvent', { body: '{"event":"raw-event","payload":"0x0102"}' })
    expect([reply.status, reply.body]).toEqual([200, {}])
    expect(eventCount()).toBe(count + 1)
    expect(cvm.tcbInfo().event_log.at(-1)).toMatchObject({ event: 'raw-event', event_payload: '0102', imr: 3 })
  })

  test('Tappd.TdxQuote hashes "app-data:" ‖ content with SHA-512 by default', async () => {
    const reply = (
      await call('/prpc/Tappd.TdxQuote', { body: JSON.stringify({ report_data: hex(new TextEncoder().encode('test content')) }) })
    ).body as { quote: string; hash_algorithm: string; prefix: string }
    const expected = ReportData.fromTappd({ content: new TextEncoder().encode('test content') })
    expect(hex(Quote.reportData(Quote.parse(new Uint8Array(Buffer.from(reply.quote, 'hex')))))).toBe(hex(expected))
    expect([reply.hash_algorithm, reply.prefix]).toEqual(['sha512', 'app-data'])
  })
})

test('concurrency: 64 parallel GetQuote calls each return a valid quote over their own report data', async () => {
  const collateral = Collateral.parse(DevnetCollateral.issue(pki))
  const now = new Date()
  const replies = await Promise.all(
    Array.from({ length: 64 }, (_, i) =>
      call('/GetQuote', {
        body: JSON.stringify({ report_data: i.toString(16).padStart(2, '0').repeat(32) }),
        via: i % 2 ? 'unix' : 'http',
      }),
    ),
  )
  replies.forEach((reply, i) => {
    expect(reply.status).toBe(200)
    const body = reply.body as { quote: string; event_log: string; report_data: string }
    const expected = i.toString(16).padStart(2, '0').repeat(32) + '00'.repeat(32)
    expect(body.report_data).toBe(expected)
    const verdict = verifyQuoteSync(new Uint8Array(Buffer.from(body.quote, 'hex')), {
      collateral,
      now,
      trustedRoots: [DevnetPki.trustedRoot(pki)],
      policy: { expectedReportData: expected, eventLog: body.event_log },
    })
    expect(verdict.reasons).toEqual([])
  })
})

test('startGuestAgent without a listener throws', async () => {
  await expect(startGuestAgent(cvm, {})).rejects.toThrow('The guest agent needs a socketPath, a port, or both.')
})

test('behavior: an unknown route reads the whole body before its 404, and the connection stays usable', async () => {
  const { Agent } = await import('node:http')
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 })
  const port = Number(new URL(agent.url as string).port)
  const send = (path: string, body: string) =>
    new Promise<{ status: number; text: string; connection: string | undefined; socket: unknown }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path, method: 'POST', agent: keepAlive, headers: { 'Content-Type': 'application/json' } },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString(),
              connection: res.headers.connection,
              socket: req.socket,
            }),
          )
        },
      )
      req.on('error', reject)
      // Chunked, in pieces: the server must read them all before it answers.
      for (let i = 0; i < 64; i++) req.write(body.slice(i * (body.length / 64), (i + 1) * (body.length / 64)))
      req.end()
    })
  try {
    const body = JSON.stringify({ payload: 'ab'.repeat(256 * 1024) })
    const unknown = await send('/prpc/Tappd.Nope', body)
    expect([unknown.status, JSON.parse(unknown.text)]).toEqual([404, { error: 'No such method: /prpc/Tappd.Nope' }])
    expect(unknown.connection).not.toBe('close')
    const next = await send('/Version', '{}')
    expect(next.status).toBe(200)
    expect(next.socket).toBe(unknown.socket) // the same connection served both
  } finally {
    keepAlive.destroy()
  }
})

describe('timeouts', () => {
  test('behavior: a request whose body or headers stall is closed (408) within the agent timeouts; the agent keeps serving', async () => {
    const quick = await startGuestAgent(cvm, { port: 0, headersTimeoutMs: 500, requestTimeoutMs: 1000 })
    try {
      const port = Number(new URL(quick.url as string).port)
      const stall = (text: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () => socket.write(text))
          let answer = ''
          socket.on('data', (chunk) => {
            answer += chunk.toString('latin1')
          })
          socket.on('close', () => resolve(answer))
          socket.on('error', reject)
        })
      expect(
        await stall('POST /GetKey HTTP/1.1\r\nhost: dstack\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{'),
      ).toMatch(/^HTTP\/1\.1 408 /)
      expect(await stall('POST /GetKey HTTP/1.1\r\nhost: dstack\r\n')).toMatch(/^(HTTP\/1\.1 408 |$)/)
      const ok = await fetch(`${quick.url}/Version`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      expect(ok.status).toBe(200)
    } finally {
      await quick.close()
    }
  })
})
