/**
 * Webhook signing and delivery against a real HTTP receiver on loopback: the signature cross-checked with an
 * independent node:crypto HMAC, tampering and replays refused by the receiver-side check, retries with backoff on
 * 5xx / 429 / network errors, no retry on other 4xx, delivery order, and the replay window.
 */
import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import * as Webhook from './Webhook.js'

const secret = 'whsec-0123456789abcdef-test'
const now = new Date('2026-12-01T12:00:00Z')
const t = Math.floor(now.getTime() / 1000)

describe('sign / verifySignature', () => {
  test('default: the header is t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>, computed independently the same', () => {
    const body = '{"type":"alert","id":"mon_1:3:raised"}'
    const independent = createHmac('sha256', Buffer.from(secret, 'utf8'))
      .update(Buffer.from(`${t}.${body}`, 'utf8'))
      .digest('hex')
    expect(Webhook.signatureHeaderValue({ secret, timestamp: t, body })).toBe(`t=${t},v1=${independent}`)
    expect(Webhook.verifySignature({ secret, header: `t=${t},v1=${independent}`, body, now })).toEqual({ ok: true, timestamp: t })
  })

  test('behavior: a changed body, timestamp, secret or a stale or malformed header is refused, naming why', () => {
    const body = '{"amount":"5"}'
    const header = Webhook.signatureHeaderValue({ secret, timestamp: t, body })
    const v = (h: string | undefined, b = body, at = now, s = secret) => Webhook.verifySignature({ secret: s, header: h, body: b, now: at })
    expect(v(header, '{"amount":"50"}')).toEqual({ ok: false, reason: 'signature' })
    expect(v(header.replace(`t=${t}`, `t=${t + 1}`))).toEqual({ ok: false, reason: 'signature' })
    expect(v(header, body, now, 'another-secret-of-enough-length')).toEqual({ ok: false, reason: 'signature' })
    expect(v(header, body, new Date(now.getTime() + 301_000))).toEqual({ ok: false, reason: 'stale' })
    expect(v(header, body, new Date(now.getTime() - 301_000))).toEqual({ ok: false, reason: 'stale' })
    expect(v(header, body, new Date(now.getTime() + 299_000))).toMatchObject({ ok: true })
    for (const bad of [undefined, '', 'v1=abc', `t=${t}`, `t=soon,v1=${'0'.repeat(64)}`, `t=${t},v1=zz`])
      expect(v(bad)).toEqual({ ok: false, reason: bad === `t=${t},v1=zz` ? 'signature' : 'header' })
    // Several v1 entries (a receiver rotating secrets): one matching is enough.
    expect(v(`t=${t},v1=${'0'.repeat(64)},${header.split(',')[1]}`)).toMatchObject({ ok: true })
  })
})

describe('createSender', () => {
  type Hit = { headers: IncomingMessage['headers']; body: string; at: number }
  const hits: Hit[] = []
  const plan: number[] = []
  let server: Server
  let url = ''
  const waiters: (() => void)[] = []
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        hits.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() })
        const status = plan.shift() ?? 204
        if (status === 0) return void req.socket.destroy() // a network error
        res.writeHead(status, status === 429 ? { 'retry-after': '0' } : {}).end()
        for (const w of waiters.splice(0)) w()
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  })
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  const results = () => {
    const list: Webhook.DeliveryResult[] = []
    return { list, onResult: (r: Webhook.DeliveryResult) => list.push(r) }
  }

  test('default: a signed JSON POST the receiver verifies, with the delivery id', async () => {
    hits.length = 0
    const r = results()
    const sender = Webhook.createSender({ url, secret, onResult: r.onResult })
    sender.send('mon_1:1:raised', { type: 'alert', state: 'raised', alert: { code: 'tcb.degraded' } })
    await sender.drain()
    expect(r.list).toEqual([{ id: 'mon_1:1:raised', url, attempts: 1, status: 204, error: null, delivered: true }])
    const hit = hits[0] as Hit
    expect(hit.headers['content-type']).toBe('application/json')
    expect(hit.headers['regent-delivery']).toBe('mon_1:1:raised')
    expect(JSON.parse(hit.body)).toEqual({ type: 'alert', state: 'raised', alert: { code: 'tcb.degraded' } })
    expect(
      Webhook.verifySignature({ secret, header: hit.headers['regent-signature'] as string, body: hit.body, now: new Date() }),
    ).toMatchObject({ ok: true })
  })

  test('behavior: 500, a dropped connection and 429 are retried with backoff until delivered; each retry is signed afresh, same id', async () => {
    hits.length = 0
    plan.push(500, 0, 429)
    const r = results()
    const sender = Webhook.createSender({ url, secret, backoffMs: 20, onResult: r.onResult })
    sender.send('mon_1:2:raised', { n: 1 })
    await sender.drain()
    expect(r.list).toEqual([{ id: 'mon_1:2:raised', url, attempts: 4, status: 204, error: null, delivered: true }])
    expect(hits.map((h) => h.headers['regent-delivery'])).toEqual(Array(4).fill('mon_1:2:raised'))
    for (const h of hits)
      expect(Webhook.verifySignature({ secret, header: h.headers['regent-signature'] as string, body: h.body, now: new Date() }).ok).toBe(
        true,
      )
    // Backoff: the second retry waited at least ~2× the first base (20 ms, then 40 ms, ±20 %).
    expect((hits[2] as Hit).at - (hits[1] as Hit).at).toBeGreaterThanOrEqual(30)
  })

  test('behavior: a 4xx other than 408/425/429 is final; retries give up after `retries`', async () => {
    hits.length = 0
    plan.push(403)
    const r = results()
    const sender = Webhook.createSender({ url, secret, backoffMs: 5, retries: 2, onResult: r.onResult })
    sender.send('mon_1:3:raised', {})
    await sender.drain()
    plan.push(503, 503, 503)
    sender.send('mon_1:4:raised', {})
    await sender.drain()
    expect(r.list).toEqual([
      { id: 'mon_1:3:raised', url, attempts: 1, status: 403, error: 'HTTP 403', delivered: false },
      { id: 'mon_1:4:raised', url, attempts: 3, status: 503, error: 'HTTP 503', delivered: false },
    ])
  })

  test('behavior: deliveries keep their order (a raise before its resolution) even when the first is retried', async () => {
    hits.length = 0
    plan.push(502)
    const sender = Webhook.createSender({ url, secret, backoffMs: 5 })
    sender.send('mon_1:5:raised', { state: 'raised' })
    sender.send('mon_1:5:resolved', { state: 'resolved' })
    await sender.drain()
    expect(hits.map((h) => h.headers['regent-delivery'])).toEqual(['mon_1:5:raised', 'mon_1:5:raised', 'mon_1:5:resolved'])
  })

  test('behavior: an unreachable receiver gives up with the network error; a short secret is refused', async () => {
    const r = results()
    const sender = Webhook.createSender({ url: 'http://127.0.0.1:9/hook', secret, backoffMs: 1, retries: 1, onResult: r.onResult })
    sender.send('mon_1:6:raised', {})
    await sender.drain()
    expect(r.list).toEqual([
      { id: 'mon_1:6:raised', url: 'http://127.0.0.1:9/hook', attempts: 2, status: null, error: 'fetch failed', delivered: false },
    ])
    expect(() => Webhook.createSender({ url, secret: 'short' })).toThrowError('the webhook secret must be at least 16 bytes')
  })
})
