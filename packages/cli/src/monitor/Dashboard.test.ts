/**
 * The dashboard's HTTP surface on loopback over a store with history: the page and its headers, the JSON API,
 * the live stream, and what an anonymous caller or a hostile page gets (bad parameters, other methods, another
 * Host header, too many streams).
 */
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Transition } from './Alert.js'
import { type Dashboard, maxStreams, startDashboard } from './Dashboard.js'
import type { CheckReport, Listener } from './Monitor.js'
import { openStore, type Store } from './Store.js'

let store: Store
let ui: Dashboard
const listeners = new Set<Listener>()
const monitor = {
  subscribe(l: Listener) {
    listeners.add(l)
    return () => listeners.delete(l)
  },
}

beforeAll(async () => {
  store = openStore(':memory:', { chainId: 31337, identityRegistry: `0x${'ab'.repeat(20)}` })
  store.addAgent({
    agent: '7',
    url: 'http://127.0.0.1:1',
    appId: '0xApp',
    addedAt: '2026-12-01T00:00:00.000Z',
    watchFromBlock: 3,
    cursorBlock: 9,
  })
  store.insertEvents([
    {
      agent: '7',
      block: 4,
      logIndex: 0,
      tx: '0xt1',
      time: 1_800_000_000,
      contract: 'succession',
      name: 'CanonicalChanged',
      args: { epoch: '1', signer: '0xS', composeHash: '0xc1', host: '<img src=x onerror=alert(1)>' },
    },
  ])
  store.addMeasurement({
    agent: '7',
    kind: 'composeHash',
    value: '0xc1',
    addedBlock: 2,
    addedAt: 1_799_999_000,
    addedTx: '0xa',
    activatesAt: 1_799_999_000,
  })
  for (let i = 1; i <= 3; i++)
    store.insertCheck({
      agent: '7',
      tick: i,
      at: `2026-12-01T00:0${i}:00.000Z`,
      durationMs: 10,
      url: 'http://127.0.0.1:1',
      reachable: true,
      isAgent: true,
      score: 70 + i,
      holds: { a: true, b: true, c: true, d: true },
      epoch: '1',
      signer: '0xS',
      composeHash: '0xc1',
      tcbStatus: 'UpToDate',
      earlyTcbStatus: 'UpToDate',
      advisoryIds: [],
      collateralNextUpdate: null,
      stateSeq: '0',
      reasons: [],
      seen: ['chain'],
    })
  store.updateAgent('7', {
    lastBundle: JSON.stringify({ version: 'regent.identity/v1', agentId: '7', attestation: { quote: '0x00', eventLog: '[' } }),
  })
  ui = await startDashboard({ store, monitor, port: 0 })
})
afterAll(async () => {
  await ui?.close()
  store?.close()
})

const get = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(`${ui.url}${path}`, init)
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) }
}

describe('startDashboard', () => {
  test('default: the page, script and stylesheet under a strict CSP, on loopback', async () => {
    expect(ui.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const page = await get('/')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(page.headers.get('x-content-type-options')).toBe('nosniff')
    expect(page.text).toContain('<script src="/app.js" defer></script>')
    expect(page.text).not.toMatch(/<script>(?!<\/script>)/)
    expect((await get('/app.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect((await get('/app.css')).status).toBe(200)
  })

  test('default: the JSON API serves agents, one agent, its checks, its attestation and alerts', async () => {
    const agents = (await get('/api/agents')).json().agents
    expect(agents).toHaveLength(1)
    expect(agents[0]).toMatchObject({
      agent: '7',
      appId: '0xApp',
      canonical: { epoch: '1', host: '<img src=x onerror=alert(1)>' },
      lastCheck: { tick: 3, score: 73 },
      openAlerts: 0,
    })
    const one = (await get('/api/agents/7')).json()
    expect(one.measurements.map((m: { value: string }) => m.value)).toEqual(['0xc1'])
    expect(one.canonicalHistory.map((e: { name: string }) => e.name)).toEqual(['CanonicalChanged'])
    expect(one).not.toHaveProperty('lastBundle')
    expect((await get('/api/agents/7/checks?limit=2')).json().checks.map((c: { tick: number }) => c.tick)).toEqual([2, 3])
    expect((await get('/api/agents/7/checks?since=2026-12-01T00:02:00Z')).json().checks.map((c: { tick: number }) => c.tick)).toEqual([
      2, 3,
    ])
    // A malformed stored bundle is laid out part by part, each failure named, never a 500.
    const att = (await get('/api/agents/7/attestation')).json()
    expect(att.quote.error).toMatch(/quote/i)
    expect(att.eventLog.error).toMatch(/./)
    expect(att.keyChain).toMatchObject({ imported: true })
    expect((await get('/api/alerts?state=open')).json()).toEqual({ alerts: [] })
  })

  test('behavior: bad parameters are 400, unknown agents and routes 404, writes 405, another Host 421 — each a JSON error', async () => {
    const cases: [string, RequestInit, number, string][] = [
      ['/api/agents/seven', {}, 400, 'invalid_request'],
      ['/api/agents/0x07', {}, 400, 'invalid_request'],
      ['/api/agents/99', {}, 404, 'unknown_agent'],
      ['/api/agents/7/checks?limit=0', {}, 400, 'invalid_request'],
      ['/api/agents/7/checks?since=yesterday', {}, 400, 'invalid_request'],
      ['/api/alerts?state=maybe', {}, 400, 'invalid_request'],
      ['/api/agents/7/secrets', {}, 404, 'not_found'],
      ['/etc/passwd', {}, 404, 'not_found'],
      ['/api/agents', { method: 'POST', body: '{}' }, 405, 'method_not_allowed'],
      ['/api/agents', { method: 'DELETE' }, 405, 'method_not_allowed'],
    ]
    for (const [path, init, status, code] of cases) {
      const r = await get(path, init)
      expect([path, r.status, r.json().error.code]).toEqual([path, status, code])
    }
    // DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends its own Host header.
    const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(`${ui.url}/api/agents`)
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, headers: { host: `evil.example:${u.port}` } }, (res) => {
        let body = ''
        res.on('data', (c) => {
          body += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on('error', reject)
      req.end()
    })
    expect([rebound.status, JSON.parse(rebound.body).error.code]).toEqual([421, 'host_not_allowed'])
    expect((await get('/api/agents', { headers: { host: `localhost:${new URL(ui.url).port}` } })).status).toBe(200)
  })

  test('behavior: the stream pushes each check and alert transition as it happens; streams are bounded', async () => {
    const aborter = new AbortController()
    const res = await fetch(`${ui.url}/api/stream`, { signal: aborter.signal })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    let text = ''
    const until = async (needle: string) => {
      while (!text.includes(needle)) text += new TextDecoder().decode((await reader.read()).value)
    }
    await until('retry: 2000')
    for (const l of listeners) l.check?.({ agent: '7', tick: 4, at: '2026-12-01T00:04:00.000Z' } as CheckReport)
    await until('event: check')
    for (const l of listeners) l.transition?.({ state: 'raised', alert: { id: 9, agent: '7', code: 'tcb.degraded' } } as Transition)
    await until('event: alert')
    expect(text).toContain('data: {"agent":"7","tick":4,"at":"2026-12-01T00:04:00.000Z"}')
    expect(text).toContain('data: {"state":"raised","agent":"7","code":"tcb.degraded","id":9}')

    const more = await Promise.all(Array.from({ length: maxStreams }, () => fetch(`${ui.url}/api/stream`).then((r) => r.status)))
    expect(more.filter((s) => s === 503)).toHaveLength(1)
    aborter.abort()
  })
})
