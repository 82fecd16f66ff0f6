/**
 * dstack KMS boot-authorization webhook backed by RegentAppAuth (reference/providers.md §2.5; dstack
 * `kms/auth-eth/src/{server,ethereum,types}.ts`, the KMS side `kms/src/main_service/upgrade_authority.rs`).
 *
 * A dstack KMS configured with `[core.auth_api] type = "webhook"` POSTs the verified boot facts of a CVM (or of a
 * KMS node asking to onboard) before it releases keys, and releases them only on `{"isAllowed": true}`:
 *
 * | route | contract call | reply |
 * |---|---|---|
 * | `POST /bootAuth/app` | `isAppAllowed(bootInfo)`, or `isAppAllowedWithKms(bootInfo, kmsRoot)` when a KMS root is configured | `{isAllowed, reason, gatewayAppId}` |
 * | `POST /bootAuth/kms` | `isKmsAllowed(bootInfo)` | same |
 * | `GET /` | `gatewayAppId()`, `appImplementation()`, chain id | `{status:"ok", kmsContractAddr, ethRpcUrl, gatewayAppId, chainId, appAuthImplementation, appImplementation}` |
 *
 * Same wire contract as dstack's own `auth-eth` (so the KMS cannot tell them apart, and the compatibility check in
 * docs/targets/dstack.md compares both on the same chain): camelCase boot facts, hex with or without `0x`, at most
 * the field's size and left-padded to it; `mrSystem`, `tcbStatus`, `advisoryIds` optional; unknown fields (the KMS's
 * `teeVariant`, `keyProviderInfo`) ignored. The reasons are the contract's own strings.
 *
 * Fail closed: a malformed request is answered 400 with `isAllowed: false` (and `error: {code, message}` naming the
 * field); a chain failure is answered 200 `{isAllowed: false, reason: "authorization backend unavailable"}` as
 * auth-eth does. Nothing the caller sends changes any state (the webhook only reads the chain).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { regentAppAuthAbi } from '@regent-tee/contracts'
import { parseJson, readBody, sendJson } from '@regent-tee/core'
import { type Address, type Hex, isAddress, type PublicClient } from 'viem'
import { BaseError } from './errors.js'

/** Boot facts as the KMS sends them, normalized to the contract's `AppBootInfo` (hex with `0x`, padded). */
export type BootInfo = {
  readonly appId: Address
  readonly composeHash: Hex
  readonly instanceId: Address
  readonly deviceId: Hex
  readonly mrAggregated: Hex
  readonly mrSystem: Hex
  readonly osImageHash: Hex
  readonly tcbStatus: string
  readonly advisoryIds: readonly string[]
}

/** The webhook's answer (dstack `BootResponse`). */
export type BootResponse = { isAllowed: boolean; reason: string; gatewayAppId: string }

/** Which question: may this app boot, or may this KMS node onboard. */
export type BootKind = 'app' | 'kms'

/** The reason given when the chain cannot be read (auth-eth's string). */
export const backendUnavailable = 'authorization backend unavailable'

/** Request bodies above this many bytes are answered 413. */
export const maxBodyBytes = 64 * 1024

const hexFields = [
  ['mrAggregated', 32, true],
  ['osImageHash', 32, true],
  ['appId', 20, true],
  ['composeHash', 32, true],
  ['instanceId', 20, true],
  ['deviceId', 32, true],
  ['mrSystem', 32, false],
] as const

/**
 * Parses a `bootAuth` request body (auth-eth's schema: required hex fields of at most their size, `0x` optional,
 * left-padded; `tcbStatus` ≤ 128 chars; ≤ 128 `advisoryIds` of ≤ 256 chars).
 *
 * @throws {InvalidBootInfoError} naming the first bad field.
 * @example
 * const info = BootAuthWebhook.parseBootInfo(JSON.parse(body))
 */
export function parseBootInfo(body: unknown): BootInfo {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new InvalidBootInfoError({ field: '(body)', reason: 'must be a JSON object' })
  const raw = body as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const [name, size, required] of hexFields) {
    const value = raw[name]
    if (value === undefined && !required) {
      out[name] = pad('', size)
      continue
    }
    if (typeof value !== 'string')
      throw new InvalidBootInfoError({ field: name, reason: required ? 'is required (a hex string)' : 'must be a hex string' })
    const digits = value.startsWith('0x') ? value.slice(2) : value
    if (digits.length > size * 2 || /[^0-9a-fA-F]/.test(digits))
      throw new InvalidBootInfoError({ field: name, reason: `must be hex of at most ${size} bytes` })
    out[name] = pad(digits, size)
  }
  const tcbStatus = raw.tcbStatus ?? ''
  if (typeof tcbStatus !== 'string' || tcbStatus.length > 128)
    throw new InvalidBootInfoError({ field: 'tcbStatus', reason: 'must be a string of at most 128 characters' })
  const advisoryIds = raw.advisoryIds ?? []
  if (!Array.isArray(advisoryIds) || advisoryIds.length > 128 || advisoryIds.some((a) => typeof a !== 'string' || a.length > 256))
    throw new InvalidBootInfoError({ field: 'advisoryIds', reason: 'must be at most 128 strings of at most 256 characters' })
  return { ...(out as Omit<BootInfo, 'tcbStatus' | 'advisoryIds'>), tcbStatus, advisoryIds: advisoryIds as string[] }
}

function pad(digits: string, size: number): Hex {
  return `0x${digits.toLowerCase().padStart(size * 2, '0')}`
}

/** Options of {@link checkBoot}. */
export type CheckOptions = {
  /** A client of the chain RegentAppAuth lives on. */
  client: PublicClient
  /** RegentAppAuth address. */
  appAuth: Address
  /**
   * When set, `/bootAuth/app` also requires this KMS root (the address of the KMS's root k256 key) to be allowed
   * for the app (`isAppAllowedWithKms`). Unset: `isAppAllowed`, exactly what auth-eth asks.
   */
  kmsRoot?: Address | undefined
}

/**
 * Asks RegentAppAuth whether the boot may proceed. The contract decides; chain errors propagate (the server turns
 * them into `backendUnavailable`).
 *
 * @example
 * const r = await checkBoot({ client, appAuth }, 'app', bootInfo)  // { isAllowed, reason, gatewayAppId }
 */
export async function checkBoot(options: CheckOptions, kind: BootKind, bootInfo: BootInfo): Promise<BootResponse> {
  const contract = { address: options.appAuth, abi: regentAppAuthAbi } as const
  const info = { ...bootInfo, advisoryIds: [...bootInfo.advisoryIds] }
  const decision =
    kind === 'kms'
      ? options.client.readContract({ ...contract, functionName: 'isKmsAllowed', args: [info] })
      : options.kmsRoot
        ? options.client.readContract({ ...contract, functionName: 'isAppAllowedWithKms', args: [info, options.kmsRoot] })
        : options.client.readContract({ ...contract, functionName: 'isAppAllowed', args: [info] })
  const [[isAllowed, reason], gatewayAppId] = await Promise.all([
    decision,
    options.client.readContract({ ...contract, functionName: 'gatewayAppId' }),
  ])
  return { isAllowed, reason, gatewayAppId }
}

/** Options of {@link startBootAuthWebhook}. */
export type StartOptions = CheckOptions & {
  /** Public form of the RPC URL for `GET /` (origin only; never a path or credentials). */
  rpcUrl?: string | undefined
  /** @default '127.0.0.1' */
  host?: string | undefined
  /** @default 0 (a free port) */
  port?: number | undefined
}

/** A running webhook. */
export type BootAuthWebhook = {
  /** `http://<host>:<port>` — the KMS's `[core.auth_api.webhook] url`. */
  readonly url: string
  close(): Promise<void>
}

/**
 * Starts the webhook (see the module header).
 *
 * @example
 * const hook = await startBootAuthWebhook({ client, appAuth, port: 8001 })
 * // dstack kms.toml: [core.auth_api] type = "webhook"; [core.auth_api.webhook] url = hook.url
 */
export async function startBootAuthWebhook(options: StartOptions): Promise<BootAuthWebhook> {
  const server: Server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => void handle(options, req, res))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { address, port } = server.address() as AddressInfo
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

const denied = (reason: string): BootResponse => ({ isAllowed: false, reason, gatewayAppId: '' })

async function handle(options: StartOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://webhook').pathname
  const kind: BootKind | undefined = path === '/bootAuth/app' ? 'app' : path === '/bootAuth/kms' ? 'kms' : undefined
  let body: Uint8Array
  try {
    body = await readBody(req, { limit: maxBodyBytes })
  } catch {
    return send(
      res,
      413,
      {
        ...denied('invalid authorization request'),
        error: { code: 'boot_auth.too_large', message: `Request body exceeds ${maxBodyBytes} bytes` },
      },
      true,
    )
  }
  if (path === '/' && req.method === 'GET') return info(options, res)
  if (kind === undefined) return send(res, 404, { error: { code: 'boot_auth.not_found', message: `No route ${req.method} ${path}` } })
  if (req.method !== 'POST') return send(res, 405, { error: { code: 'boot_auth.method', message: `Use POST for ${path}` } })
  let bootInfo: BootInfo
  try {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/json') throw new InvalidBootInfoError({ field: '(body)', reason: 'must be sent as application/json' })
    bootInfo = parseBootInfo(parseJson(body))
  } catch (error) {
    const message = error instanceof BaseError ? error.shortMessage : 'invalid request'
    return send(res, 400, { ...denied('invalid authorization request'), error: { code: 'boot_auth.invalid_request', message } })
  }
  try {
    send(res, 200, await checkBoot(options, kind, bootInfo))
  } catch {
    send(res, 200, denied(backendUnavailable))
  }
}

async function info(options: StartOptions, res: ServerResponse): Promise<void> {
  try {
    const contract = { address: options.appAuth, abi: regentAppAuthAbi } as const
    const [gatewayAppId, chainId, appImplementation] = await Promise.all([
      options.client.readContract({ ...contract, functionName: 'gatewayAppId' }),
      options.client.getChainId(),
      options.client.readContract({ ...contract, functionName: 'appImplementation' }),
    ])
    send(res, 200, {
      status: 'ok',
      kmsContractAddr: options.appAuth,
      ethRpcUrl: publicRpc(options.rpcUrl),
      gatewayAppId,
      chainId,
      appAuthImplementation: appImplementation,
      appImplementation,
    })
  } catch {
    send(res, 500, { status: 'error', message: backendUnavailable })
  }
}

/** The RPC URL's origin only (a provider key in its path or credentials must not leak), as auth-eth reports it. */
function publicRpc(url: string | undefined): string {
  if (!url) return 'configured'
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}`
  } catch {
    return 'configured'
  }
}

function send(res: ServerResponse, status: number, body: unknown, close = false): void {
  sendJson(res, status, body, close ? { connection: 'close' } : {})
}

/** Validates an address option. @throws {InvalidBootInfoError} */
export function assertAddress(value: string, field: string): Address {
  if (!isAddress(value, { strict: false })) throw new InvalidBootInfoError({ field, reason: 'must be a 20-byte hex address' })
  return value as Address
}

/** A boot-auth request (or option) is malformed. */
export class InvalidBootInfoError extends BaseError {
  override name = 'BootAuthWebhook.InvalidBootInfoError'
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid boot info: ${field} ${reason}.`)
  }
}
