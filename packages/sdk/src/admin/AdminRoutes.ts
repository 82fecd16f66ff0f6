/**
 * The agent's admin API (docs/uplift.md "The agent's admin API"), a request handler any Node server mounts: every
 * route but `GET /admin/info` takes a request signed by the agent's operator (AdminRequest.ts), so authority is a
 * key the host never sees. Signing only decides who may *ask*: the agent still verifies a target itself before any
 * key or state leaves, and the chain still fences what it may do.
 *
 *   GET  /admin/info            { agentId, chainId, succession, operator }   (public: what a client signs over)
 *   GET  /admin/uplift          UpliftStatus
 *   POST /admin/uplift          { targetUrl, key: import|rotate, force?, decision?: { inputs?, weights? } }
 *                               → 202 UpliftStatus (runs in the background); 422 decide.negative + decision
 *   POST /admin/uplift/resume   {} → 202 UpliftStatus
 *   POST /admin/withdraw        { to, amount } (wei, decimal string) → { transactionHash, epoch }
 *
 * Refusals: 404 `admin.disabled` (no operator), 401 `admin.unsigned` | `admin.expired` | `admin.expiry` |
 * `admin.signature` | `admin.replayed`, 403 `admin.not_operator`, 400 `bad_request`, 409 `uplift.busy` | `uplift.none` |
 * `agent.demoted` | `withdraw.refused`, 422 `decide.negative`. Nothing changes on a refused request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { errorBody, HttpError, MediaTypeError, parseJson, readBody, sendJson } from '@regent-tee/core'
import type { Address, Hex } from 'viem'
import type { UpliftController } from '../uplift/Controller.js'
import * as AdminRequest from './AdminRequest.js'

/** The admin API's prefix. */
export const basePath = '/admin'

export type AdminRoutesParameters = {
  /** The operator (EIP-712 signer of admin requests); undefined: every route answers 404 `admin.disabled`. */
  readonly operator: Address | undefined
  /** The agent these requests are for (the signed scope). */
  readonly scope: () => AdminRequest.Scope | undefined
  /** The agent's uplift controller (undefined while there is none here: an uplift target before its handover). */
  readonly controller: () => UpliftController | undefined
  /** Pays from the agent's treasury (fenced); undefined while this instance is not the agent. */
  readonly withdraw: (() => ((to: Address, amount: bigint) => Promise<{ transactionHash: Hex; epoch: bigint }>) | undefined) | undefined
  /** Accepted nonces (default: in memory). */
  readonly nonces?: AdminRequest.NonceStore
  readonly now?: () => Date
}

/** The admin handler: resolves false (answering nothing) for paths outside `/admin`. */
export type AdminRoutes = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>

const bodyLimit = 64 * 1024

/**
 * Creates the admin routes.
 *
 * @example
 * const admin = createAdminRoutes({ operator, scope: () => ({ chainId, succession, agentId }), controller: () => controller, withdraw: () => pay })
 * createServer(async (req, res) => { if (!(await admin(req, res))) agentRoutes(req, res) })
 */
export function createAdminRoutes(parameters: AdminRoutesParameters): AdminRoutes {
  const nonces = parameters.nonces ?? AdminRequest.createNonceStore()
  const refuse = (status: number, code: string, message: string): never => {
    throw new HttpError(status, code, message)
  }
  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://agent').pathname
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return false
    const key = `${req.method} ${path}`
    try {
      await serve(key, path, req, res)
    } catch (error) {
      if (error instanceof HttpError) sendJson(res, error.status, errorBody(error.code, error.shortMessage))
      else sendJson(res, 500, { error: { code: 'internal', message: 'internal error' } })
    }
    return true
  }

  async function serve(key: string, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    {
      const operator = parameters.operator ?? refuse(404, 'admin.disabled', 'The admin API is disabled: this agent has no operator.')
      const scope = parameters.scope() ?? refuse(409, 'agent.none', 'No agent is canonical here yet.')
      if (key === 'GET /admin/info')
        return void sendJson(res, 200, {
          agentId: scope.agentId.toString(),
          chainId: scope.chainId,
          succession: scope.succession,
          operator,
        })
      const body = await readBody(req, { limit: bodyLimit })
      const verdict = await AdminRequest.verify(
        { method: req.method ?? 'GET', path: req.url ?? path, body, headers: req.headers },
        { ...scope, operator, nonces, ...(parameters.now ? { now: parameters.now() } : {}) },
      )
      if (!verdict.ok) refuse(verdict.status, verdict.code, verdict.message)
      const json = () => {
        if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new MediaTypeError()
        const v = parseJson(body)
        if (typeof v !== 'object' || v === null || Array.isArray(v)) refuse(400, 'bad_request', 'body must be a JSON object')
        return v as Record<string, unknown>
      }
      if (key === 'POST /admin/withdraw') {
        const controller = parameters.controller()
        // Demoted (fenced): with option A this process still holds the key, so it refuses before the chain would.
        if (controller?.switched()) refuse(409, 'agent.demoted', 'This instance handed the agent over: it no longer acts for it.')
        const pay = parameters.withdraw?.() ?? refuse(409, 'agent.none', 'No agent is canonical here yet.')
        const b = json()
        if (typeof b.to !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(b.to)) refuse(400, 'bad_request', '"to" must be an address')
        if (typeof b.amount !== 'string' || !/^[1-9]\d{0,77}$/.test(b.amount))
          refuse(400, 'bad_request', '"amount" must be wei, a decimal string')
        const sent = await pay(b.to as Address, BigInt(b.amount as string)).catch((e: Error & { shortMessage?: string }) =>
          refuse(409, 'withdraw.refused', e.shortMessage ?? e.message.split('\n')[0] ?? 'refused'),
        )
        return void sendJson(res, 200, { transactionHash: sent.transactionHash, epoch: sent.epoch.toString() })
      }
      const controller = parameters.controller() ?? refuse(409, 'agent.none', 'No agent is canonical here yet: nothing to uplift.')
      switch (key) {
        case 'GET /admin/uplift':
          return void sendJson(res, 200, controller.status())
        case 'POST /admin/uplift': {
          const b = json()
          if (typeof b.targetUrl !== 'string' || !/^https?:\/\/[^\s]{1,2000}$/.test(b.targetUrl))
            refuse(400, 'bad_request', '"targetUrl" must be an http(s) URL')
          if (b.key !== 'import' && b.key !== 'rotate') refuse(400, 'bad_request', '"key" must be "import" or "rotate"')
          if (b.force !== undefined && typeof b.force !== 'boolean') refuse(400, 'bad_request', '"force" must be a boolean')
          const weighing = b.decision ?? {}
          if (typeof weighing !== 'object' || weighing === null || Array.isArray(weighing))
            refuse(400, 'bad_request', '"decision" must be { inputs?, weights? } (Decide.Options)')
          try {
            return void sendJson(
              res,
              202,
              controller.start({
                targetUrl: b.targetUrl as string,
                mode: b.key as 'import' | 'rotate',
                force: b.force === true,
                decision: weighing as object,
              }),
            )
          } catch (e) {
            if (e instanceof HttpError && e.code === 'decide.negative')
              return void sendJson(res, 422, { error: { code: e.code, message: e.message }, decision: controller.status().decision })
            throw e
          }
        }
        case 'POST /admin/uplift/resume':
          json()
          return void sendJson(res, 202, controller.resume())
        default:
          refuse(404, 'not_found', `no route ${key}`)
      }
    }
  }
}
