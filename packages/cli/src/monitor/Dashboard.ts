/**
 * `regent monitor --ui`: the local dashboard (issue 18 "History and dashboard") and its JSON API, on loopback by
 * default. Read-only: it serves what the store holds and pushes each check and alert transition to open pages over
 * Server-Sent Events, so they update without reloading.
 *
 *   GET /                                  the page (page.ts: one HTML file, one script, one stylesheet; no framework)
 *   GET /api/agents                        every watched agent with its canonical instance, last check, open alerts
 *   GET /api/agents/:id                    one agent: canonical history (epochs), measurement timeline, recent events
 *   GET /api/agents/:id/checks?since&limit its checks (score, identity function (a)–(d), TCB status…), oldest first
 *   GET /api/agents/:id/attestation        its last attestation laid out (AttestationDetail.ts)
 *   GET /api/alerts?state&agent&limit      alerts, newest first (state open | resolved | all)
 *   GET /api/stream                        text/event-stream: `check` and `alert` events
 *
 * Hardening: GET/HEAD only; a Host header other than the bound address or localhost is refused (DNS rebinding),
 * unless bound to every interface (0.0.0.0 / ::);
 * a strict Content-Security-Policy (no inline script, no third-party origin); nothing secret is ever in the store.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { errorBody, HttpError, sendJson } from '@regent-tee/core'
import type { IdentityBundle } from '@regent-tee/sdk'
import type { Transition } from './Alert.js'
import { describeAttestation } from './AttestationDetail.js'
import type { CheckReport, Monitor } from './Monitor.js'
import * as Page from './page.js'
import type { Store } from './Store.js'

export type Dashboard = { url: string; server: Server; close(): Promise<void> }

/** Most pages that may follow the stream at once. */
export const maxStreams = 32

const securityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/**
 * Serves the dashboard for `store` (and the live stream of `monitor`) on `host:port` (127.0.0.1 and a
 * kernel-chosen port by default).
 *
 * @example
 * const ui = await startDashboard({ store, monitor, port: 8787 })
 * console.log(ui.url)
 */
export async function startDashboard(options: {
  store: Store
  monitor?: Pick<Monitor, 'subscribe'>
  host?: string
  port?: number
}): Promise<Dashboard> {
  const { store } = options
  const host = options.host ?? '127.0.0.1'
  const streams = new Set<ServerResponse>()
  let allowedHosts = new Set<string>()

  const broadcast = (event: string, data: unknown) => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
    for (const res of streams) res.write(frame)
  }
  const unsubscribe = options.monitor?.subscribe({
    check: (c: CheckReport) => broadcast('check', { agent: c.agent, tick: c.tick, at: c.at }),
    transition: (t: Transition) => broadcast('alert', { state: t.state, agent: t.alert.agent, code: t.alert.code, id: t.alert.id }),
  })
  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(': keep-alive\n\n')
  }, 15_000)
  heartbeat.unref()

  const server = createServer((req, res) => {
    try {
      handle(req, res)
    } catch (error) {
      if (error instanceof HttpError) send(res, error.status, errorBody(error.code, error.shortMessage))
      else send(res, 500, { error: { code: 'internal', message: 'internal error' } })
    }
  })

  function handle(req: IncomingMessage, res: ServerResponse): Handled {
    if (allowedHosts.size > 0 && !allowedHosts.has((req.headers.host ?? '').toLowerCase()))
      throw new HttpError(421, 'host_not_allowed', 'this dashboard answers only requests addressed to its own address')
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new HttpError(405, 'method_not_allowed', 'the dashboard is read-only: GET only')
    const url = new URL(req.url ?? '/', 'http://dashboard')
    const parts = url.pathname.split('/').filter(Boolean)
    if (url.pathname === '/' || url.pathname === '/index.html') return asset(res, 'text/html; charset=utf-8', Page.html)
    if (url.pathname === '/app.js') return asset(res, 'text/javascript; charset=utf-8', Page.script)
    if (url.pathname === '/app.css') return asset(res, 'text/css; charset=utf-8', Page.style)
    if (parts[0] !== 'api') throw new HttpError(404, 'not_found', `no page ${url.pathname}`)
    const q = url.searchParams
    if (parts.length === 2 && parts[1] === 'agents') return send(res, 200, { agents: agentsSummary() })
    if (parts.length === 2 && parts[1] === 'alerts') {
      const state = q.get('state') ?? 'all'
      if (state !== 'open' && state !== 'resolved' && state !== 'all')
        throw new HttpError(400, 'invalid_request', '"state" must be open, resolved or all')
      const agent = q.has('agent') ? agentParam(q.get('agent') ?? '') : undefined
      return send(res, 200, { alerts: store.alerts({ state, limit: limitParam(q, 200), ...(agent ? { agent } : {}) }) })
    }
    if (parts.length === 2 && parts[1] === 'stream') return stream(res)
    if (parts[1] === 'agents' && parts[2] !== undefined && parts.length <= 4) {
      const agent = agentParam(decodeURIComponent(parts[2]))
      const row = store.agent(agent)
      if (!row) throw new HttpError(404, 'unknown_agent', `agent ${agent} is not watched here`)
      if (parts.length === 3) {
        const canonical = store.events(agent, { names: ['CanonicalChanged', 'Uplift', 'SuccessionRecorded'] })
        return send(res, 200, {
          agent: row.agent,
          url: row.url,
          appId: row.appId,
          addedAt: row.addedAt,
          lastCheckAt: row.lastCheckAt,
          bestScore: row.bestScore,
          attestedComposeHash: row.attestedComposeHash,
          platform: row.platform,
          canonicalHistory: canonical,
          measurements: store.measurements(agent),
          events: store.events(agent, { limit: 100 }),
        })
      }
      if (parts[3] === 'checks') {
        const since = q.get('since')
        if (since !== null && Number.isNaN(Date.parse(since))) throw new HttpError(400, 'invalid_request', '"since" must be an ISO time')
        return send(res, 200, {
          checks: store.checks(agent, { limit: limitParam(q, 500), ...(since ? { since: new Date(since).toISOString() } : {}) }),
        })
      }
      if (parts[3] === 'attestation') {
        if (!row.lastBundle) throw new HttpError(404, 'no_attestation', `agent ${agent} has not served an attestation yet`)
        return send(res, 200, { agent, at: row.lastCheckAt, ...describeAttestation(JSON.parse(row.lastBundle) as IdentityBundle) })
      }
    }
    throw new HttpError(404, 'not_found', `no route ${url.pathname}`)
  }

  function agentsSummary() {
    return store.agents().map((row) => {
      const last = store.lastCheck(row.agent) ?? null
      const canonical = store.events(row.agent, { names: ['CanonicalChanged'], limit: 1 }).at(-1)
      return {
        agent: row.agent,
        url: row.url,
        appId: row.appId,
        canonical: canonical
          ? {
              epoch: canonical.args.epoch,
              signer: canonical.args.signer,
              composeHash: canonical.args.composeHash,
              host: canonical.args.host,
              since: new Date(canonical.time * 1000).toISOString(),
            }
          : null,
        lastCheck: last,
        openAlerts: store.alerts({ state: 'open', agent: row.agent }).length,
      }
    })
  }

  function stream(res: ServerResponse): Handled {
    if (streams.size >= maxStreams) throw new HttpError(503, 'too_many_streams', `at most ${maxStreams} pages may follow the stream`)
    res.writeHead(200, { ...securityHeaders, 'content-type': 'text/event-stream', connection: 'keep-alive' })
    res.write('retry: 2000\n\n')
    streams.add(res)
    // The response's close (the client left), not the request's: a GET's request stream may close as soon as it is read.
    res.on('close', () => streams.delete(res))
    return true
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, resolve)
  })
  const { port } = server.address() as AddressInfo
  const shown = host.includes(':') ? `[${host}]` : host
  // Bound to every interface (an explicit choice), any Host is accepted; otherwise only the bound address and localhost.
  const wildcard = host === '0.0.0.0' || host === '::'
  allowedHosts = wildcard
    ? new Set()
    : new Set([`${shown}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`].map((h) => h.toLowerCase()))
  return {
    url: `http://${shown}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(heartbeat)
        unsubscribe?.()
        for (const res of streams) res.end()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function agentParam(value: string): string {
  if (!/^(0|[1-9][0-9]{0,76})$/.test(value)) throw new HttpError(400, 'invalid_request', 'an agent is its decimal ERC-8004 agentId')
  return value
}

function limitParam(q: URLSearchParams, fallback: number): number {
  const v = q.get('limit')
  if (v === null) return fallback
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 10_000)
    throw new HttpError(400, 'invalid_request', '"limit" must be a whole number from 1 to 10000')
  return Number(v)
}

/** A request answered. */
type Handled = true

function asset(res: ServerResponse, type: string, body: string): Handled {
  res.writeHead(200, { ...securityHeaders, 'content-type': type }).end(body)
  return true
}

function send(res: ServerResponse, status: number, body: unknown): Handled {
  sendJson(res, status, body, securityHeaders)
  return true
}
