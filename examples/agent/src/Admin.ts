/**
 * The operator's API (docs/uplift.md "The agent's admin API"), behind `authorization: Bearer <REGENT_ADMIN_TOKEN>`:
 *   POST /admin/uplift          { targetUrl, key: import|rotate, force?, decision?: { inputs?, weights? } }
 *                               → 202 UpliftStatus (runs in the background); 422 decide.negative with the table
 *   GET  /admin/uplift          UpliftStatus
 *   POST /admin/uplift/resume   {} → 202 UpliftStatus
 *   POST /admin/withdraw        { to, amount } → { transactionHash, epoch }   (amount: wei, decimal string)
 * No token configured → 404 `admin.disabled`; a missing or wrong token → 401 `admin.unauthorized`. The token only
 * decides who may ask: the agent still verifies the target (attestation, measurements approved on-chain) itself.
 */
import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Address } from 'viem'
import { AgentActionError } from './Agent.js'
import { type AgentServerParameters, readJsonObject, send } from './server.js'

const fail = (status: number, code: string, message: string): never => {
  throw new AgentActionError(status, code, message)
}

function authorized(token: string, header: string | undefined): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '')
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

export async function serveAdmin(p: AgentServerParameters, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (p.adminToken === undefined) fail(404, 'admin.disabled', 'The admin API is disabled (no REGENT_ADMIN_TOKEN).')
  if (!authorized(p.adminToken as string, req.headers.authorization)) fail(401, 'admin.unauthorized', 'Missing or wrong bearer token.')
  const path = new URL(req.url ?? '/', 'http://agent').pathname
  const key = `${req.method} ${path}`
  if (key === 'POST /admin/withdraw') {
    const agent = p.agent() ?? fail(409, 'agent.none', 'No agent is canonical here yet.')
    // Demoted (fenced): with option A this process still holds the key, so it refuses before the chain would not.
    if (p.source()?.switched()) fail(409, 'agent.demoted', 'This instance handed the agent over: it no longer acts for it.')
    const body = await readJsonObject(req)
    if (typeof body.to !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(body.to)) fail(400, 'bad_request', '"to" must be an address')
    if (typeof body.amount !== 'string' || !/^[1-9]\d{0,77}$/.test(body.amount))
      fail(400, 'bad_request', '"amount" must be wei, a decimal string')
    const sent = await agent
      .withdraw(body.to as Address, BigInt(body.amount as string))
      .catch((e: Error & { shortMessage?: string }) =>
        fail(409, 'withdraw.refused', e.shortMessage ?? e.message.split('\n')[0] ?? 'refused'),
      )
    return send(res, 200, { transactionHash: sent.transactionHash, epoch: sent.epoch.toString() })
  }
  const source = p.source() ?? fail(409, 'agent.none', 'No agent is canonical here yet: nothing to uplift.')
  switch (key) {
    case 'GET /admin/uplift':
      return send(res, 200, source.status())
    case 'POST /admin/uplift': {
      const body = await readJsonObject(req)
      if (typeof body.targetUrl !== 'string' || !/^https?:\/\/[^\s]{1,2000}$/.test(body.targetUrl))
        fail(400, 'bad_request', '"targetUrl" must be an http(s) URL')
      if (body.key !== 'import' && body.key !== 'rotate') fail(400, 'bad_request', '"key" must be "import" or "rotate"')
      if (body.force !== undefined && typeof body.force !== 'boolean') fail(400, 'bad_request', '"force" must be a boolean')
      const weighing = body.decision ?? {}
      if (typeof weighing !== 'object' || weighing === null || Array.isArray(weighing))
        fail(400, 'bad_request', '"decision" must be { inputs?, weights? } (Decide.Options)')
      try {
        return send(
          res,
          202,
          source.start({
            targetUrl: body.targetUrl as string,
            mode: body.key as 'import' | 'rotate',
            force: body.force === true,
            decision: weighing as object,
          }),
        )
      } catch (e) {
        if (e instanceof AgentActionError && e.code === 'decide.negative')
          return send(res, 422, { error: { code: e.code, message: e.message }, decision: source.status().decision })
        throw e
      }
    }
    case 'POST /admin/uplift/resume':
      await readJsonObject(req)
      return send(res, 202, source.resume())
    default:
      fail(404, 'not_found', `no route ${key}`)
  }
}
