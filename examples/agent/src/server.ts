/**
 * The agent's HTTP API (its public endpoint), behind the SDK's uplift (`mountUplift`: `/admin/*` signed by the
 * operator, `/uplift/v1/*` while this instance is an uplift target, forwarding once it handed the agent over):
 *   GET  /health                        { ok, role, runtime, agentId, wallet, memories, … }
 *   POST /remember   { user, text }     learns; { remembered, topics, epoch, seq } (header idempotency-key: applied once);
 *                                      answered once the failover's required standbys hold it
 *   POST /remember/batch { items: [{ user, text, key }] }   many writes, one transaction, each key applied once
 *   GET  /topics?user=                  what it learned about a user
 *   POST /checkpoint                    commits the state root on-chain (operator-signed; fenced)
 *   GET  /identity?nonce=0x…            the identity bundle attested over the nonce (docs/protocol.md)
 *   GET  /attest?nonce=0x…              a signed attestation over the nonce and the agent's state
 * In an uplift's window each write is declared to the SDK (`uplift.hold`) before it is applied, so it is replayed at
 * the target; a commit waits for the switch (`uplift.gate`). Anonymous callers cannot make the agent spend gas: only a
 * request signed by the operator commits; public writes are rate-limited per client. Bad input → 4xx
 * `{ error: { code, message } }`; nothing changes.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { HttpError, readBody, readJson, sendJson } from '@regent-tee/core'
import { type Failover, FailoverError } from '@regent-tee/sdk/failover'
import type { Uplift } from '@regent-tee/sdk/uplift'
import type { Hex } from 'viem'
import type { Agent } from './Agent.js'
import { counts, topics } from './Memory.js'

const maxBody = 64 * 1024
/** A batch of writes (the replay of an uplift window) may be larger than one write. */
const maxBatchBody = 1024 * 1024
/** The request header that makes a write idempotent (the SDK's). */
const idempotencyHeader = 'idempotency-key'

export type AgentServerParameters = {
  /** The agent, once there is one here (an uplift target has none before the chain names it canonical). */
  readonly agent: () => Agent | undefined
  readonly uplift: Uplift
  /** Operator-free failover: which instance may serve, and a write's replication before it is acknowledged. */
  readonly failover: Failover
  readonly runtime: 'cvm' | 'wild'
  /** Writes per client address per minute on the public routes. */
  readonly writesPerMinute?: number
}

export function createAgentServer(parameters: AgentServerParameters): Server {
  const limiter = rateLimiter(parameters.writesPerMinute ?? 6000)
  // A request whose headers (10 s) or whole body (30 s) do not arrive is closed with 408; Node checks every second.
  return createServer({ headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 }, (req, res) => {
    handle(parameters, limiter, req, res).catch((error: unknown) => {
      const e =
        error instanceof HttpError
          ? error
          : (error as { code?: unknown }).code === 'uplift.paused'
            ? new HttpError(503, 'uplift.paused', (error as Error).message)
            : new HttpError(500, 'internal', 'internal error')
      if (!(error instanceof HttpError) && e.status === 500) process.stderr.write(`request failed: ${(error as Error).message}\n`)
      // A standby names the canonical instance, so that a client can follow it (docs/failover.md "Clients follow").
      const canonical = error instanceof FailoverError && error.canonical ? { canonical: error.canonical } : {}
      sendJson(res, e.status, { error: { code: e.code, message: e.shortMessage, ...canonical } })
    })
  })
}

async function handle(p: AgentServerParameters, limiter: RateLimiter, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent')
  if (await p.failover.handle(req, res)) return
  // A standby (or one taking the agent over) that holds no agent yet refuses the agent's routes and names the
  // canonical, where an uplift target would answer 404.
  if (p.uplift.agent() === undefined && !/^\/(health$|uplift\/|admin\/)/.test(url.pathname)) p.failover.gate()
  if (await p.uplift.handle(req, res)) return
  if (req.method === 'GET' && url.pathname === '/health') return sendJson(res, 200, await health(p))
  // Only the canonical instance, inside its lease window, serves the agent (a standby or a fenced one refuses).
  p.failover.gate()
  const agent = p.agent()
  if (agent === undefined) throw new HttpError(404, 'not_found', `no route ${req.method} ${url.pathname}`)
  return route(p, limiter, agent, url, req, res)
}

async function health(p: AgentServerParameters): Promise<Record<string, unknown>> {
  const agent = p.agent()
  const role = p.uplift.role()
  const controller = p.uplift.controller()
  // A target that is not the agent yet: its own KMS wallet and the uplift session it serves.
  const failover = p.failover.role()
  if (failover === 'standby' || failover === 'claiming')
    return { ok: true, role: failover, runtime: p.runtime, agentId: agent?.agentId.toString() ?? null, failover: p.failover.status() }
  if (agent === undefined) return { ok: true, role: 'uplift-target', runtime: p.runtime, agentId: null, ...(await p.uplift.targetStatus()) }
  return {
    ok: true,
    role: role === 'target' ? 'uplift-target' : role,
    ...(failover === 'canonical' ? { failover: 'canonical' } : {}),
    runtime: p.runtime,
    agentId: agent?.agentId.toString() ?? null,
    wallet: agent?.account.address ?? null,
    ...(controller?.switched() ? { forwardingTo: controller.targetUrl() } : {}),
    ...(controller ? { uplift: controller.status().state } : {}),
    ...(agent ? counts(agent.state.db) : {}),
  }
}

async function route(
  p: AgentServerParameters,
  limiter: RateLimiter,
  agent: Agent,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const key = `${req.method} ${url.pathname}`
  switch (key) {
    case 'POST /remember': {
      limiter.take(req)
      const body = await readJsonObject(req)
      const user = body.user
      const text = body.text
      if (typeof user !== 'string' || !/^[\w.-]{1,64}$/.test(user))
        throw new HttpError(400, 'bad_request', '"user" must be 1–64 word characters')
      if (typeof text !== 'string' || text.length === 0 || text.length > 4096)
        throw new HttpError(400, 'bad_request', '"text" must be 1–4096 characters')
      let requestId = req.headers[idempotencyHeader]
      if (requestId !== undefined && (typeof requestId !== 'string' || !/^[\w.:-]{1,128}$/.test(requestId)))
        throw new HttpError(400, 'bad_request', `"${idempotencyHeader}" must be 1–128 characters of [A-Za-z0-9_.:-]`)
      if (p.uplift.controller()?.frozen()) {
        requestId ??= `uplift-${randomUUID()}`
        p.uplift.hold({ method: 'POST', path: '/remember', body: { user, text }, key: requestId })
      }
      const written = agent.store.remember([{ user, text, ...(requestId === undefined ? {} : { requestId }) }])
      // Acknowledged only once the standbys required hold it (and inside the lease window): epoch and seq say where.
      const at = await p.failover.commit(written.records)
      return sendJson(res, 200, { ...written.results[0], epoch: at.epoch.toString(), seq: at.seq })
    }
    case 'POST /remember/batch': {
      // Many writes in one transaction and one log append, each applied once by its key (the replay of an uplift window).
      limiter.take(req)
      const body = await readJsonObject(req, maxBatchBody)
      const items = body.items
      if (!Array.isArray(items) || items.length === 0 || items.length > 1000)
        throw new HttpError(400, 'bad_request', '"items" must be 1–1000 writes')
      const writes = items.map((item: unknown, i) => {
        const { user, text, key } = (item ?? {}) as Record<string, unknown>
        if (typeof user !== 'string' || !/^[\w.-]{1,64}$/.test(user))
          throw new HttpError(400, 'bad_request', `items[${i}].user must be 1–64 word characters`)
        if (typeof text !== 'string' || text.length === 0 || text.length > 4096)
          throw new HttpError(400, 'bad_request', `items[${i}].text must be 1–4096 characters`)
        if (typeof key !== 'string' || !/^[\w.:-]{1,128}$/.test(key))
          throw new HttpError(400, 'bad_request', `items[${i}].key must be 1–128 characters of [A-Za-z0-9_.:-]`)
        return { user, text, requestId: key }
      })
      if (p.uplift.controller()?.frozen())
        for (const w of writes) p.uplift.hold({ method: 'POST', path: '/remember', body: { user: w.user, text: w.text }, key: w.requestId })
      const { results, records } = agent.store.remember(writes)
      const at = await p.failover.commit(records)
      const duplicates = results.filter((r) => r.duplicate === true).length
      return sendJson(res, 200, { applied: results.length - duplicates, duplicates, epoch: at.epoch.toString(), seq: at.seq })
    }
    case 'GET /topics': {
      const user = url.searchParams.get('user') ?? ''
      if (!/^[\w.-]{1,64}$/.test(user)) throw new HttpError(400, 'bad_request', '"user" must be 1–64 word characters')
      return sendJson(res, 200, { user, topics: topics(agent.state.db, user) })
    }
    case 'POST /checkpoint': {
      // An on-chain commit spends the agent's gas: only its operator may ask (a signed request, like /admin/*).
      const body = await readBody(req, { limit: maxBody })
      await operatorOnly(p, req, body)
      if ((await p.uplift.gate()) === 'forward') throw new HttpError(409, 'agent.moved', 'The agent moved: commit at its new instance.')
      const r = await agent.checkpoint()
      return sendJson(res, 200, {
        stateRoot: r.stateRoot,
        seq: r.seq.toString(),
        epoch: r.epoch.toString(),
        transactionHash: r.transactionHash ?? null,
      })
    }
    case 'GET /identity':
      return sendJson(res, 200, await agent.identity(nonceOf(url)))
    case 'GET /attest':
      return sendJson(res, 200, await agent.attest(nonceOf(url), new TextEncoder().encode(`attest:${agent.agentId}`)))
    default:
      throw new HttpError(404, 'not_found', `no route ${key}`)
  }
}

/** A request signed by the agent's operator (the admin scheme), or its refusal. */
async function operatorOnly(p: AgentServerParameters, req: IncomingMessage, body: Buffer): Promise<void> {
  const verdict = await p.uplift.authorize(req, body)
  if (!verdict.ok) throw new HttpError(verdict.status, verdict.code, verdict.message)
}

function nonceOf(url: URL): Hex {
  const nonce = url.searchParams.get('nonce') ?? ''
  if (!/^0x(?:[0-9a-f]{2}){1,1024}$/.test(nonce))
    throw new HttpError(400, 'bad_request', '"nonce" must be 0x + 1–1024 bytes of lowercase hex')
  return nonce as Hex
}

export type RateLimiter = { take(req: Pick<IncomingMessage, 'socket'>): void }

/** A token bucket per client address: `perMinute` writes, refilled continuously; beyond it 429 `rate_limited`. */
export function rateLimiter(perMinute: number, now: () => number = Date.now): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>()
  return {
    take(req) {
      const who = req.socket.remoteAddress ?? 'unknown'
      const t = now()
      const b = buckets.get(who) ?? { tokens: perMinute, at: t }
      b.tokens = Math.min(perMinute, b.tokens + ((t - b.at) / 60_000) * perMinute)
      b.at = t
      if (b.tokens < 1) throw new HttpError(429, 'rate_limited', `More than ${perMinute} writes a minute from ${who}.`)
      b.tokens -= 1
      buckets.set(who, b)
      if (buckets.size > 10_000) buckets.delete(buckets.keys().next().value as string)
    },
  }
}

/** Reads a JSON object body (application/json, ≤ 64 KiB; core's policy and codes for size, type and syntax). */
async function readJsonObject(req: IncomingMessage, limit = maxBody): Promise<Record<string, unknown>> {
  const v = await readJson(req, { limit })
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'bad_request', 'body must be a JSON object')
  return v as Record<string, unknown>
}
