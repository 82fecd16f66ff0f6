/**
 * The agent's HTTP API (its public endpoint):
 *   GET  /health                        { ok, role, runtime, agentId, wallet, … }
 *   POST /remember   { user, text }     learns; { remembered, topics } (header idempotency-key: applied once)
 *   POST /remember/batch { items: [{ user, text, key }] }   many writes, one transaction, each key applied once
 *   GET  /topics?user=                  what it learned about a user
 *   POST /checkpoint                    commits the state root on-chain (fenced); { stateRoot, seq, epoch }
 *   GET  /identity?nonce=0x…            the identity bundle attested over the nonce (docs/protocol.md)
 *   GET  /attest?nonce=0x…              a signed attestation over the nonce and the agent's state
 *   /admin/…                            the operator's API (bearer token; `Admin.ts`)
 * During an uplift the source gates these routes (`UpliftSource.ts`): in the window after its checkpoint, writes
 * are journaled for replay and served, commits wait; once switched, every request is forwarded to the target
 * (`Handover.ts`) after the window's writes were replayed there. Bad input → 4xx `{ error: { code, message } }`; nothing changes.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Hex } from 'viem'
import { serveAdmin } from './Admin.js'
import { type Agent, AgentActionError } from './Agent.js'
import { forward, idempotencyHeader } from './Handover.js'
import { topics } from './Memory.js'
import type { UpliftSource } from './UpliftSource.js'

class HttpError extends AgentActionError {}

const maxBody = 64 * 1024
/** A batch of writes (the replay of an uplift window) may be larger than one write. */
const maxBatchBody = 1024 * 1024
/** Read routes a demoted source may still answer during its replay. */
const readable = new Set(['/topics'])

export type AgentServerParameters = {
  /** The agent, once there is one here (an uplift target has none before the chain names it canonical). */
  readonly agent: () => Agent | undefined
  /** The uplift source of this agent, if it has one. */
  readonly source: () => UpliftSource | undefined
  /** What `GET /health` answers. */
  readonly health: () => Promise<Record<string, unknown>>
  /** The admin API's bearer token (undefined: `/admin/*` answers 404). */
  readonly adminToken: string | undefined
  /** Routes served before the agent's (the uplift target's API); resolves true when it answered. */
  readonly before?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>
}

export function createAgentServer(parameters: AgentServerParameters): Server {
  // A request whose headers (10 s) or whole body (30 s) do not arrive is closed with 408; Node checks every second.
  return createServer({ headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 }, (req, res) => {
    handle(parameters, req, res).catch((error: unknown) => {
      const e = error instanceof AgentActionError ? error : new HttpError(500, 'internal', 'internal error')
      if (!(error instanceof AgentActionError)) process.stderr.write(`request failed: ${(error as Error).message}\n`)
      send(res, e.status, { error: { code: e.code, message: e.message } })
    })
  })
}

async function handle(p: AgentServerParameters, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent')
  if (p.before && (await p.before(req, res))) return
  if (req.method === 'GET' && url.pathname === '/health') return send(res, 200, await p.health())
  if (url.pathname === '/admin' || url.pathname.startsWith('/admin/')) return serveAdmin(p, req, res)
  const source = p.source()
  const target = source?.targetUrl()
  const agent = p.agent()
  if (source?.switched() && target) {
    // While the window's writes are replayed at the target, this instance still answers reads from its own state
    // (it holds every acknowledged write); anything else waits for the replay, so it reaches the target after them.
    if (source.replaying() && agent !== undefined && req.method === 'GET' && readable.has(url.pathname)) return route(agent, url, req, res)
    await source.drained()
    return forward(target, req, res)
  }
  if (agent === undefined) throw new HttpError(404, 'not_found', `no route ${req.method} ${url.pathname}`)
  if (source?.frozen() && req.method === 'POST' && url.pathname === '/checkpoint') {
    // A commit would outrun the seq that moves: it waits for the switch (then the target commits) or a failure.
    if ((await source.settled()) && target) {
      await source.drained()
      return forward(target, req, res)
    }
    throw new HttpError(503, 'uplift.paused', 'An uplift is paused after its checkpoint: commit again once it is resumed.')
  }
  return route(agent, url, req, res, source?.frozen() ? source : undefined)
}

/** `window`: the uplift source while its checkpoint is frozen (writes are journaled for replay at the target). */
async function route(agent: Agent, url: URL, req: IncomingMessage, res: ServerResponse, window?: UpliftSource): Promise<void> {
  const key = `${req.method} ${url.pathname}`
  switch (key) {
    case 'POST /remember': {
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
      if (window !== undefined) {
        requestId ??= `uplift-${randomUUID()}`
        window.holdWrite({ path: '/remember', body: { user, text }, key: requestId })
      }
      const [learned] = agent.store.remember([{ user, text, ...(requestId === undefined ? {} : { requestId }) }])
      return send(res, 200, learned)
    }
    case 'POST /remember/batch': {
      // Many writes in one transaction and one log append, each applied once by its key (the replay of an uplift window).
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
      if (window !== undefined)
        for (const w of writes) window.holdWrite({ path: '/remember', body: { user: w.user, text: w.text }, key: w.requestId })
      const results = agent.store.remember(writes)
      const duplicates = results.filter((r) => r.duplicate === true).length
      return send(res, 200, { applied: results.length - duplicates, duplicates })
    }
    case 'GET /topics': {
      const user = url.searchParams.get('user') ?? ''
      if (!/^[\w.-]{1,64}$/.test(user)) throw new HttpError(400, 'bad_request', '"user" must be 1–64 word characters')
      return send(res, 200, { user, topics: topics(agent.state.db, user) })
    }
    case 'POST /checkpoint': {
      const r = await agent.checkpoint()
      return send(res, 200, {
        stateRoot: r.stateRoot,
        seq: r.seq.toString(),
        epoch: r.epoch.toString(),
        transactionHash: r.transactionHash ?? null,
      })
    }
    case 'GET /identity':
      return send(res, 200, await agent.identity(nonceOf(url)))
    case 'GET /attest':
      return send(res, 200, await agent.attest(nonceOf(url), new TextEncoder().encode(`attest:${agent.agentId}`)))
    default:
      throw new HttpError(404, 'not_found', `no route ${key}`)
  }
}

function nonceOf(url: URL): Hex {
  const nonce = url.searchParams.get('nonce') ?? ''
  if (!/^0x(?:[0-9a-f]{2}){1,1024}$/.test(nonce))
    throw new HttpError(400, 'bad_request', '"nonce" must be 0x + 1–1024 bytes of lowercase hex')
  return nonce as Hex
}

/** Reads a JSON object body (application/json, ≤ 64 KiB). */
export async function readJsonObject(req: IncomingMessage, limit = maxBody): Promise<Record<string, unknown>> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
    throw new HttpError(415, 'unsupported_media_type', 'send application/json')
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req) {
    size += (c as Buffer).length
    if (size > limit) throw new HttpError(413, 'too_large', `body over ${limit} bytes`)
    chunks.push(c as Buffer)
  }
  let v: unknown
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new HttpError(400, 'bad_request', 'body is not valid JSON')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'bad_request', 'body must be a JSON object')
  return v as Record<string, unknown>
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(`${JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`)
}
