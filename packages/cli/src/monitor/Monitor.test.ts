/**
 * The monitor's own edges (the full loop against a devnet is test/e2e/monitor.test.ts): a chain that does not answer
 * raises chain.unreachable and neither raises nor resolves anything else; what an instance answers is classified as
 * unreachable (no answer, 502–504) or as an answer that is not a bundle (reachable, not verified), bounded in size.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createPublicClient, type Hex, http } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { CollateralWatch } from './CollateralWatch.js'
import { AnswerError, createMonitor, fetchBundle, maxBundleBytes } from './Monitor.js'
import { openStore } from './Store.js'

const nonce = `0x${'ab'.repeat(32)}` as Hex
let server: Server
let base = ''
beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/ok/identity')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"regent.identity/v1"}')
    if (path === '/wild/identity') return void res.writeHead(501).end('{"error":{"code":"not_attested"}}')
    if (path === '/down/identity') return void res.writeHead(503).end()
    if (path === '/text/identity') return void res.writeHead(200).end('hello')
    if (path === '/array/identity') return void res.writeHead(200).end('[1]')
    if (path === '/huge/identity') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"pad":"')
      const chunk = 'x'.repeat(64 * 1024)
      for (let i = 0; i < (maxBundleBytes / chunk.length) * 2; i++) res.write(chunk)
      return void res.end('"}')
    }
    if (path === '/redirect/identity') return void res.writeHead(302, { location: '/ok/identity' }).end()
    res.writeHead(404).end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

describe('fetchBundle', () => {
  test('default: the JSON object the instance serves for the nonce', async () => {
    expect(await fetchBundle(`${base}/ok`, nonce, 5000)).toEqual({ version: 'regent.identity/v1' })
  })

  test('behavior: an answer that is not a bundle is an AnswerError (reachable); no answer or 502–504 is unreachable; size is bounded', async () => {
    const outcome = async (path: string) =>
      fetchBundle(`${base}${path}`, nonce, 5000).then(
        () => 'bundle',
        (e: Error) => `${e instanceof AnswerError ? 'answer' : 'unreachable'}: ${e.message}`,
      )
    expect(await outcome('/wild')).toBe('answer: GET /identity answered HTTP 501')
    expect(await outcome('/text')).toBe('answer: the identity answer is not JSON')
    expect(await outcome('/array')).toBe('answer: the identity answer is not a JSON object')
    expect(await outcome('/huge')).toBe(`answer: the identity answer is larger than ${maxBundleBytes} bytes`)
    expect(await outcome('/down')).toBe('unreachable: GET /identity answered HTTP 503')
    expect(await outcome('/redirect')).toBe('unreachable: fetch failed')
    expect(await fetchBundle('http://127.0.0.1:9', nonce, 5000).catch((e: Error) => e instanceof AnswerError)).toBe(false)
  })
})

describe('createMonitor', () => {
  test('behavior: a chain that does not answer raises chain.unreachable once, keeps every other open alert, and resolves nothing', async () => {
    const store = openStore(':memory:', { chainId: 31337, identityRegistry: `0x${'ab'.repeat(20)}` })
    store.addAgent({ agent: '7', url: `${base}/ok`, appId: null, addedAt: new Date().toISOString(), watchFromBlock: 0, cursorBlock: 0 })
    const open = { state: 'raised' as const }
    store.applyAlerts(
      [
        {
          ...open,
          alert: {
            id: 0,
            key: '7/tcb.degraded/',
            agent: '7',
            code: 'tcb.degraded',
            subject: '',
            severity: 'warning',
            message: 'OutOfDate',
            facts: {},
            raisedAt: '2026-12-01T00:00:00Z',
            raisedTick: 1,
            resolvedAt: null,
            resolution: null,
          },
        },
      ],
      [],
    )
    const collateral: CollateralWatch = {
      get: () => {
        throw new Error('no collateral is asked for without the chain')
      },
    }
    const monitor = createMonitor({
      client: createPublicClient({ transport: http('http://127.0.0.1:9', { retryCount: 0 }) }),
      chainId: 31337,
      contracts: { identityRegistry: `0x${'ab'.repeat(20)}`, appAuth: `0x${'cd'.repeat(20)}`, succession: `0x${'ef'.repeat(20)}` },
      store,
      trustedRoots: [],
      collateral,
      fromBlock: 0n,
    })
    const first = await monitor.tick()
    expect(first.transitions.map((t) => [t.state, t.alert.code, t.alert.severity])).toEqual([['raised', 'chain.unreachable', 'critical']])
    expect(first.checks[0]).toMatchObject({ agent: '7', reachable: false, seen: [] })
    expect(String(first.transitions[0]?.alert.message)).toMatch(/^agent 7: the chain did not answer: HTTP request failed/)
    const second = await monitor.tick()
    expect(second.transitions).toEqual([])
    expect(store.openAlerts('7').map((a) => a.code)).toEqual(['tcb.degraded', 'chain.unreachable'])
    store.close()
  })
})
