/**
 * The agent's HTTP API (its public endpoint):
 *   GET  /health                        { ok, agentId, wallet }
 *   POST /remember   { user, text }     learns; { remembered, topics }
 *   GET  /topics?user=                  what it learned about a user
 *   POST /checkpoint                    commits the state root on-chain (fenced); { stateRoot, seq, epoch }
 *   GET  /identity?nonce=0x…            the identity bundle attested over the nonce (docs/protocol.md)
 *   GET  /attest?nonce=0x…              a signed attestation over the nonce and the agent's state
 * Bad input → 4xx `{ error: { code, message } }`; nothing changes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Hex } from 'viem'
import type { Agent } from './Agent.js'
import { counts, learn, topics } from './Memory.js'

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

const maxBody = 64 * 1024

export function createAgentServer(agent: Agent): Server {
  return createServer((req, res) => {
    route(agent, req, res).catch((error: unknown) => {
      const e = error instanceof HttpError ? error : new HttpError(500, 'internal', 'internal error')
      if (!(error instanceof HttpError)) process.stderr.write(`request failed: ${(error as Error).message}\n`)
      send(res, e.status, { error: { code: e.code, message: e.message } })
    })
  })
}

async function route(agent: Agent, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent')
  const key = `${req.method} ${url.pathname}`
  switch (key) {
    case 'GET /health':
      return send(res, 200, { ok: true, agentId: agent.agentId.toString(), wallet: agent.account.address, ...counts(agent.state.db) })
    case 'POST /remember': {
      const body = await json(req)
      const user = body.user
      const text = body.text
      if (typeof user !== 'string' || !/^[\w.-]{1,64}$/.test(user))
        throw new HttpError(400, 'bad_request', '"user" must be 1–64 word characters')
      if (typeof text !== 'string' || text.length === 0 || text.length > 4096)
        throw new HttpError(400, 'bad_request', '"text" must be 1–4096 characters')
      const learned = learn(agent.state.db, { user, text })
      agent.state.save()
      return send(res, 200, learned)
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

async function json(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
    throw new HttpError(415, 'unsupported_media_type', 'send application/json')
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req) {
    size += (c as Buffer).length
    if (size > maxBody) throw new HttpError(413, 'too_large', `body over ${maxBody} bytes`)
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

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(`${JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`)
}
