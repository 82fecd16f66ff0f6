/**
 * The KMS node as a TEE app (DESIGN.md §6; docs/kms.md "Running a node"): the entry of a CVM bundle, as dstack runs
 * its KMS inside a CVM. Everything secret comes from the node's own TEE, everything else from the environment and
 * one JSON file:
 *
 * - `DSTACK_SIMULATOR_ENDPOINT` (else dstack's socket paths): the guest agent. The sealing key is its
 *   `GetKey("regent/kms/v1/sealing")` — derived by the key provider for this app's measurement, so the same KMS app on
 *   the same (simulated) hardware unseals its root keys after a restart, and nothing else can; onboarding evidence is
 *   its `GetQuote` over the Onboarding binding, with the event log.
 * - `PORT` (0 = a free port), `REGENT_RPC_URL` (the chain), `REGENT_KMS_CONFIG` (path of the JSON config, no
 *   secrets: {@link Config}), `REGENT_KMS_DATA` (data dir, default `./kms-data`).
 *
 * Prints one JSON line to stdout: `{"ready":true,"url","address","k256PublicKey","origin","nodeId"}` when serving, or
 * `{"ready":false,"error"}` and exits 1. SIGTERM/SIGINT close the server and the log, wipe the keys and exit 0. The
 * sealing key is held only during start and wiped; it and the root keys never reach argv, env, output or disk
 * unencrypted.
 */

import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Collateral, createTrustedRoot, intelSgxRootCa, TcbInfo, type TrustedRoot } from '@regent-tee/attest'
import { createPublicClient, custom, getAddress, isAddress, type PublicClient } from 'viem'
import { BaseError } from './errors.js'
import * as GuestAgent from './internal/guestAgent.js'
import * as JsonRpc from './internal/jsonRpc.js'
import type * as KeyRelease from './KeyRelease.js'
import { startKmsNode } from './KmsNode.js'

/** GetKey path of the sealing key (permanent: changing it orphans every sealed root). */
export const sealingKeyPath = 'regent/kms/v1/sealing'

/** The node's JSON config (`REGENT_KMS_CONFIG`). */
export type Config = {
  /** RegentAppAuth address. */
  appAuth: `0x${string}`
  /** dstack's DstackKms address: apps registered there are decided by it (docs/kms.md "Apps under dstack's on-chain KMS"). */
  dstackKms?: `0x${string}` | undefined
  /** PEM certificates of the quote roots to trust (the Intel SGX Root CA by byte match; on a devnet its root CA). */
  trustedRootsPem: string[]
  /** GET → QuoteCollateralV3 JSON; fetched at start and again when the verified copy passes its nextUpdate. */
  collateralUrl?: string | undefined
  /** Inline collateral (instead of collateralUrl). */
  collateral?: Collateral.Json | undefined
  /** URL of a running node to onboard from when the data dir holds no sealed keys. */
  join?: string | undefined
  /** @default 'UpToDate' */
  minTcbStatus?: TcbInfo.Status | undefined
  nodeId?: string | undefined
  /** `false` re-verifies collateral and re-reads RegentAppAuth on every request (benchmarks only). @default true */
  verificationCache?: boolean | undefined
}

/**
 * Parses and checks the config text.
 *
 * @throws {InvalidConfigError} naming the field.
 * @example
 * const config = parseConfig(readFileSync(process.env.REGENT_KMS_CONFIG, 'utf8'))
 */
export function parseConfig(text: string): Config & { trustedRoots: TrustedRoot[] } {
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new InvalidConfigError({ field: '(file)', reason: 'is not JSON' })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new InvalidConfigError({ field: '(file)', reason: 'is not an object' })
  if (typeof raw.appAuth !== 'string' || !isAddress(raw.appAuth, { strict: false }))
    throw new InvalidConfigError({ field: 'appAuth', reason: 'must be an address' })
  if (!Array.isArray(raw.trustedRootsPem) || raw.trustedRootsPem.length === 0 || raw.trustedRootsPem.some((p) => typeof p !== 'string'))
    throw new InvalidConfigError({ field: 'trustedRootsPem', reason: 'must be a non-empty array of PEM strings' })
  if (raw.dstackKms !== undefined && (typeof raw.dstackKms !== 'string' || !isAddress(raw.dstackKms, { strict: false })))
    throw new InvalidConfigError({ field: 'dstackKms', reason: 'must be an address' })
  const trustedRoots = (raw.trustedRootsPem as string[]).map((pem, i) => trustedRootOf(pem, i))
  const url = (field: string, value: unknown) => {
    if (value === undefined) return undefined
    if (typeof value !== 'string' || !/^https?:\/\//.test(value)) throw new InvalidConfigError({ field, reason: 'must be an http(s) URL' })
    return value
  }
  const collateralUrl = url('collateralUrl', raw.collateralUrl)
  if ((collateralUrl === undefined) === (raw.collateral === undefined))
    throw new InvalidConfigError({ field: 'collateralUrl', reason: 'exactly one of collateralUrl and collateral is required' })
  let collateral: Collateral.Json | undefined
  if (raw.collateral !== undefined) {
    try {
      Collateral.parse(raw.collateral as Collateral.Json)
    } catch (error) {
      throw new InvalidConfigError({ field: 'collateral', reason: (error as BaseError).shortMessage ?? 'does not parse' })
    }
    collateral = raw.collateral as Collateral.Json
  }
  const statuses: readonly string[] = TcbInfo.statuses
  if (raw.minTcbStatus !== undefined && (typeof raw.minTcbStatus !== 'string' || !statuses.includes(raw.minTcbStatus)))
    throw new InvalidConfigError({ field: 'minTcbStatus', reason: `must be one of ${statuses.join(', ')}` })
  if (raw.nodeId !== undefined && (typeof raw.nodeId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(raw.nodeId)))
    throw new InvalidConfigError({ field: 'nodeId', reason: 'must be 1..64 characters of A-Z a-z 0-9 . _ -' })
  if (raw.verificationCache !== undefined && typeof raw.verificationCache !== 'boolean')
    throw new InvalidConfigError({ field: 'verificationCache', reason: 'must be a boolean' })
  return {
    appAuth: getAddress(raw.appAuth),
    dstackKms: raw.dstackKms === undefined ? undefined : getAddress(raw.dstackKms as string),
    trustedRootsPem: raw.trustedRootsPem as string[],
    trustedRoots,
    collateralUrl,
    collateral,
    join: url('join', raw.join),
    minTcbStatus: raw.minTcbStatus as TcbInfo.Status | undefined,
    nodeId: raw.nodeId as string | undefined,
    verificationCache: raw.verificationCache as boolean | undefined,
  }
}

function trustedRootOf(pem: string, index: number): TrustedRoot {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(pem)
  } catch {
    throw new InvalidConfigError({ field: `trustedRootsPem[${index}]`, reason: 'is not a PEM certificate' })
  }
  if (certificate.raw.equals(new X509Certificate(intelSgxRootCa.pem).raw)) return intelSgxRootCa
  const commonName = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1]
  try {
    return createTrustedRoot({ name: commonName ?? `root-${index}`, pem })
  } catch (error) {
    throw new InvalidConfigError({ field: `trustedRootsPem[${index}]`, reason: (error as BaseError).shortMessage })
  }
}

/**
 * A collateral source fed by `load`: verified once and reused until its nextUpdate, then loaded and verified again
 * (concurrent callers share one load). When verification fails the parsed collateral is returned, so the quote's
 * verdict names the failure. With `cache: false`, every call returns a freshly parsed copy of the last document, so
 * attest verifies it in full (CRLs, TCB info, QE identity signatures and chains) for every quote.
 */
async function loadedCollateral(options: {
  load: () => Promise<Collateral.Json>
  trustedRoots: readonly TrustedRoot[]
  now: () => Date
  cache: boolean
}): Promise<KeyRelease.CollateralSource> {
  let json = await options.load()
  let parsed = Collateral.parse(json)
  let verified: Collateral.Verified | undefined
  let pending: Promise<Collateral.Verified | Collateral.Collateral> | undefined
  const verify = () => {
    try {
      verified = Collateral.verify(parsed, { now: options.now(), trustedRoots: options.trustedRoots })
      return verified
    } catch {
      verified = undefined
      return parsed
    }
  }
  verify()
  if (!options.cache) return async () => Collateral.parse(json)
  return async () => {
    if (verified && options.now().getTime() <= verified.nextUpdate.getTime()) return verified
    pending ??= (async () => {
      try {
        json = await options.load()
        parsed = Collateral.parse(json)
      } catch {
        // keep the previous document: the verdict will say it is expired
      }
      return verify()
    })().finally(() => {
      pending = undefined
    })
    return pending
  }
}

async function fetchCollateral(url: string): Promise<Collateral.Json> {
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000) })
  if (!response.ok) throw new StartError({ reason: `GET ${url} answered HTTP ${response.status}` })
  return (await response.json()) as Collateral.Json
}

/**
 * Starts the node from `env` (see the module header) and returns a stop function.
 *
 * @throws {InvalidConfigError}, {StartError}, guest agent and KmsNode errors (RootKeys.UnsealError for another
 *   machine's or app's sealing key, KmsClient.RequestRefusedError when onboarding is refused).
 */
export async function run(env: NodeJS.ProcessEnv): Promise<{ ready: Record<string, unknown>; stop: () => Promise<void> }> {
  const configPath = env.REGENT_KMS_CONFIG
  if (!configPath) throw new StartError({ reason: 'REGENT_KMS_CONFIG (path of the JSON config) is not set' })
  let text: string
  try {
    text = readFileSync(configPath, 'utf8')
  } catch {
    throw new StartError({ reason: `cannot read the config file REGENT_KMS_CONFIG=${configPath}` })
  }
  const config = parseConfig(text)
  const rpcUrl = env.REGENT_RPC_URL
  if (!rpcUrl || !/^https?:\/\//.test(rpcUrl)) throw new StartError({ reason: 'REGENT_RPC_URL must be the http(s) URL of the chain' })
  const port = Number(env.PORT ?? '')
  if (env.PORT === undefined || !/^\d{1,5}$/.test(env.PORT) || port > 65_535)
    throw new StartError({ reason: 'PORT must be the port to serve on (0..65535; 0 = a free port)' })
  const dataDir = env.REGENT_KMS_DATA || 'kms-data'
  const cache = config.verificationCache !== false
  const now = () => new Date()

  const agent = GuestAgent.fromEnv({ env })
  // JSON-RPC on kept-alive node:http sockets (internal/jsonRpc.ts): the block number is asked per key request.
  const rpc = JsonRpc.fromUrl({ url: rpcUrl })
  const client = createPublicClient({ transport: custom(rpc) }) as PublicClient
  const collateral = await loadedCollateral({
    load: config.collateralUrl ? () => fetchCollateral(config.collateralUrl as string) : async () => config.collateral as Collateral.Json,
    trustedRoots: config.trustedRoots,
    now,
    cache,
  })
  const sealingKey = await agent.getKey({ path: sealingKeyPath, purpose: 'sealing' })
  let node: Awaited<ReturnType<typeof startKmsNode>>
  try {
    node = await startKmsNode({
      dataDir,
      sealingKey,
      chain: { client, appAuth: config.appAuth, cache, dstackKms: config.dstackKms },
      collateral,
      trustedRoots: config.trustedRoots,
      minTcbStatus: config.minTcbStatus,
      nodeId: config.nodeId,
      host: '127.0.0.1',
      port,
      join: config.join
        ? {
            url: config.join,
            attest: async (reportData) => {
              const { quote, eventLog, vmConfig } = await agent.getQuote({ reportData })
              return { quote, eventLog, vmConfig }
            },
          }
        : undefined,
    })
  } catch (error) {
    rpc.close()
    throw error
  } finally {
    sealingKey.fill(0)
  }
  return {
    ready: {
      ready: true,
      url: node.url,
      address: node.identity.address,
      k256PublicKey: Buffer.from(node.identity.k256PublicKey).toString('hex'),
      origin: node.origin,
      nodeId: node.nodeId,
    },
    stop: async () => {
      await node.close()
      rpc.close()
    },
  }
}

/**
 * The process contract (docs/kms.md "Running a node"): {@link run} with `process.env`, one JSON line on stdout —
 * ready or the reason it failed (exit 1) — and a clean close on SIGTERM/SIGINT (exit 0). The only place that prints.
 */
export async function runProcess(): Promise<void> {
  const line = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)
  let started: Awaited<ReturnType<typeof run>>
  try {
    started = await run(process.env)
  } catch (error) {
    line({ ready: false, error: oneLine(error) })
    process.exit(1)
  }
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    started.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  line(started.ready)
}

/** An error's one-line public message (BaseError shortMessage; never a stack or key material). */
function oneLine(error: unknown): string {
  const short = (error as { shortMessage?: unknown } | undefined)?.shortMessage
  const message =
    typeof short === 'string' ? short : error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error)
  return message.replace(/\s+/g, ' ').trim()
}

/** The config file is unusable. */
export class InvalidConfigError extends BaseError {
  override name = 'KmsMain.InvalidConfigError'
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid KMS config: ${field} ${reason}.`, { docsPath: 'docs/kms.md#running-a-node' })
  }
}

/** The environment does not allow the node to start. */
export class StartError extends BaseError {
  override name = 'KmsMain.StartError'
  constructor({ reason }: { reason: string }) {
    super(`The KMS node cannot start: ${reason}.`, { docsPath: 'docs/kms.md#running-a-node' })
  }
}
