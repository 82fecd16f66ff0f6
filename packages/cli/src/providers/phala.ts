/**
 * Phala Cloud (`--target phala`) through the official client `@phala/cloud` 0.2.9 (docs/targets/phala.md; the API:
 * reference providers.md §1). Auth from the environment only: `PHALA_CLOUD_API_KEY`, base URL `PHALA_CLOUD_API_PREFIX`.
 *
 * The rules this module enforces:
 * - the compose hash is the SERVER's (`POST /cvms/provision` answers it; Phala serializes app-compose itself), and the
 *   caller approves that hash before anything boots;
 * - the app's env key is used only after its signature recovers to the trusted KMS root (`verifyEnvKey`), so no
 *   secret is encrypted to a key a hostile cloud chose;
 * - the attestation is verified here (`verifyAttestation`): the quote under the trusted roots, the event log replayed
 *   to RTMR3, the attested app id, and SHA-256 of `tcb_info.app_compose` equal to the approved hash.
 * Every refusal is a CliError with a stable code (`phala.*`).
 */
import { secp256k1 } from '@noble/curves/secp256k1'
import {
  type Client,
  commitCvmProvision,
  createAppInstance,
  createClient,
  deleteCvm,
  getAppEnvEncryptPubKey,
  getAvailableNodes,
  getCurrentUser,
  getCvmAttestation,
  getCvmContainersStats,
  getCvmInfo,
  PhalaCloudError,
  patchCvm,
  provisionCvm,
  stopCvm,
  verifyEnvEncryptPublicKey,
  watchCvmState,
} from '@phala/cloud'
import { type Collateral, type TrustedRoot, verifyQuote } from '@regent-tee/attest'
import { EnvEncryption } from '@regent-tee/kms'
import { type Address, getAddress, type Hex } from 'viem'
import { publicKeyToAddress } from 'viem/accounts'
import { CliError, UsageError } from '../errors.js'
import type { Provider } from './Provider.js'

const docs = 'docs/targets/phala.md'

/** The Phala API as the environment configures it. */
export type PhalaEnv = { apiKey: string; baseUrl: string }

/**
 * Reads `PHALA_CLOUD_API_KEY` and `PHALA_CLOUD_API_PREFIX` (default Phala's production API).
 *
 * @throws {UsageError} `phala.no_api_key` when the key is unset; `phala.api_prefix` for a prefix that is not http(s).
 */
export function envOf(env: NodeJS.ProcessEnv = process.env): PhalaEnv {
  const apiKey = env.PHALA_CLOUD_API_KEY ?? ''
  if (apiKey.length === 0)
    throw new UsageError('phala.no_api_key', 'PHALA_CLOUD_API_KEY is not set', {
      hint: 'export PHALA_CLOUD_API_KEY=<key> (Phala Cloud dashboard → API keys; on the devnet: phalaApiKey in .regent/devnet.json)',
      docs,
    })
  const baseUrl = env.PHALA_CLOUD_API_PREFIX ?? 'https://cloud-api.phala.com/api/v1'
  if (!/^https?:\/\/[^\s]+$/.test(baseUrl))
    throw new UsageError('phala.api_prefix', `PHALA_CLOUD_API_PREFIX is not an http(s) URL: ${baseUrl}`, { docs })
  return { apiKey, baseUrl: baseUrl.replace(/\/+$/, '') }
}

/** The official client for `env` (API version 2026-01-21). */
export function clientOf(env: PhalaEnv): Client {
  return createClient({ baseURL: env.baseUrl, apiKey: env.apiKey, timeout: 60_000 })
}

/** A Phala API failure as a CliError (`phala.api` with the API's status and message; 401/403 `phala.auth`). */
export function apiError(what: string, error: unknown): CliError {
  if (error instanceof CliError) return error
  const status = (error as { status?: number }).status
  const message = String((error as Error).message ?? error).split('\n')[0] ?? ''
  if (status === 401 || status === 403)
    return new CliError('phala.auth', `Phala Cloud refused the API key (HTTP ${status}) on ${what}`, {
      hint: 'check PHALA_CLOUD_API_KEY (and PHALA_CLOUD_API_PREFIX for the API it belongs to)',
      docs,
      cause: error,
    })
  if (error instanceof PhalaCloudError || status !== undefined)
    return new CliError('phala.api', `Phala Cloud ${what} failed${status ? ` (HTTP ${status})` : ''}: ${message}`, { docs, cause: error })
  return new CliError('phala.unreachable', `Phala Cloud did not answer ${what}: ${message}`, {
    hint: 'check PHALA_CLOUD_API_PREFIX and the network',
    docs,
    cause: error,
  })
}

/** `GET /auth/me`: who the key belongs to. */
export async function whoami(client: Client): Promise<{ username: string; workspace: string }> {
  const me = await getCurrentUser(client).catch((e: unknown) => {
    throw apiError('GET /auth/me', e)
  })
  const m = me as { user: { username: string }; workspace: { slug: string | null; name: string } }
  return { username: m.user.username, workspace: m.workspace.slug ?? m.workspace.name }
}

/** The node and OS image to deploy on: `--node` / `--os-image`, else the listed node with the most room and its newest release image. */
export async function pickNode(
  client: Client,
  options: { node?: number | undefined; image?: string | undefined; kms: 'phala' | 'onchain' },
) {
  const available = await getAvailableNodes(client).catch((e: unknown) => {
    throw apiError('GET /teepods/available', e)
  })
  const nodes = available.nodes.filter((n) => (options.kms === 'onchain' ? n.support_onchain_kms === true : true))
  const node =
    options.node === undefined
      ? [...nodes].sort((a, b) => b.remaining_cvm_slots - a.remaining_cvm_slots || b.resource_score - a.resource_score)[0]
      : nodes.find((n) => n.teepod_id === options.node)
  if (!node)
    throw new CliError(
      'phala.no_node',
      options.node === undefined
        ? `no node offers ${options.kms === 'onchain' ? 'on-chain KMS' : 'a CVM'}`
        : `node ${options.node} is not available`,
      { hint: `nodes: ${available.nodes.map((n) => `${n.teepod_id} (${n.name})`).join(', ') || 'none'}`, docs },
    )
  const images = node.images.filter((i) => (options.image ? i.name === options.image : !i.is_dev))
  const image = [...images].sort((a, b) => compareVersions(b.version, a.version))[0]
  if (!image)
    throw new CliError(
      'phala.no_image',
      options.image ? `node ${node.teepod_id} has no OS image ${options.image}` : `node ${node.teepod_id} has no release OS image`,
      {
        hint: `images: ${node.images.map((i) => i.name).join(', ')}`,
        docs,
      },
    )
  return {
    nodeId: node.teepod_id,
    nodeName: node.name,
    image: image.name,
    osImageHash: image.os_image_hash ?? null,
    kmsList: available.kms_list,
  }
}

/** The compressed KMS root public key (33 bytes hex, no 0x) → its Ethereum address (what RegentAppAuth's addKmsRoot takes). */
export function kmsRootAddress(k256PublicKey: string): Address {
  const point = secp256k1.ProjectivePoint.fromHex(k256PublicKey.replace(/^0x/, '')).toRawBytes(false)
  return getAddress(publicKeyToAddress(`0x${Buffer.from(point).toString('hex')}`))
}

/**
 * Fetches the app's env key (`GET /kms/{kms}/pubkey/{app_id}`) and checks its KMS signature with the client's dstack
 * helper: it must recover to `kmsRoot` (compressed hex).
 *
 * @throws {CliError} `phala.env_key` when the signature does not recover to the trusted root.
 */
export async function verifiedEnvKey(client: Client, params: { kms: string; appId: string; kmsRoot: string }): Promise<string> {
  const key = await getAppEnvEncryptPubKey(client, { kms: params.kms, app_id: params.appId }).catch((e: unknown) => {
    throw apiError(`GET /kms/${params.kms}/pubkey/${params.appId}`, e)
  })
  let signer: string | null = null
  try {
    signer = verifyEnvEncryptPublicKey(Buffer.from(key.public_key, 'hex'), Buffer.from(key.signature, 'hex'), params.appId)
  } catch {
    signer = null
  }
  const expected = `0x${params.kmsRoot.replace(/^0x/, '').toLowerCase()}`
  if (!signer || signer.toLowerCase() !== expected)
    throw new CliError(
      'phala.env_key',
      `the env key Phala Cloud gave for app ${params.appId} is not signed by the KMS root ${short(expected)} (signer ${signer ? short(signer) : 'unrecoverable'}): nothing was encrypted to it`,
      { hint: 'a cloud that swaps the env key could read the environment; do not deploy through it', docs },
    )
  return key.public_key
}

/** Encrypts `env` to the verified env key (dstack format, `@regent-tee/kms` EnvEncryption = the SDK's encryptEnvVars). */
export function encryptEnv(env: Record<string, string>, publicKey: string): string {
  const ciphertext = EnvEncryption.encrypt({
    envs: Object.entries(env).map(([key, value]) => ({ key, value })),
    publicKey: new Uint8Array(Buffer.from(publicKey, 'hex')),
  })
  return Buffer.from(ciphertext).toString('hex')
}

/**
 * Follows the CVM's state stream until `running` (bounded by `timeoutSeconds`), reporting each state.
 *
 * @throws {CliError} `phala.boot_failed` (the boot ended in another state) or `phala.boot_timeout`.
 */
export async function waitRunning(
  client: Client,
  id: string,
  options: { timeoutSeconds: number; onState?: (s: string) => void },
): Promise<void> {
  let last: { status?: string; boot_error?: string } | undefined
  const final = await watchCvmState(
    client,
    { id, target: 'running', interval: 5, timeout: Math.min(600, Math.max(10, options.timeoutSeconds)), maxRetries: 1 },
    {
      onEvent: (e) => {
        if (e.type === 'state' || e.type === 'error') last = e.data as typeof last
        if (e.type === 'state')
          options.onState?.(`${(e.data as { status: string }).status} ${(e.data as { boot_progress?: string }).boot_progress ?? ''}`.trim())
      },
    },
  ).catch((e: unknown) => {
    throw apiError(`GET /cvms/${id}/state (stream)`, e)
  })
  if ((final as { status?: string } | null)?.status === 'running') return
  const info = await getCvmInfo(client, { id }).catch(() => undefined)
  const error = last?.boot_error ?? (last as { error?: string } | undefined)?.error
  if (info && info.status !== 'running' && info.status !== 'starting')
    throw new CliError('phala.boot_failed', `CVM ${id} did not boot: ${info.status}${error ? ` (${error})` : ''}`, {
      hint: `see its logs: \`regent phala logs ${id}\``,
      docs,
    })
  throw new CliError('phala.boot_timeout', `CVM ${id} was not running within ${options.timeoutSeconds} s${error ? ` (${error})` : ''}`, {
    docs,
  })
}

/** What {@link verifyAttestation} accepted. */
export type AttestationVerdict = { hardware: string; appId: string; composeHash: string; tcbStatus: string }

/**
 * `GET /cvms/{id}/attestation`, verified here: quote (DCAP under `trustedRoots`), event log replayed to RTMR3, the
 * event log's app id and compose hash, and SHA-256 of `tcb_info.app_compose` equal to the approved compose hash.
 *
 * @throws {CliError} `phala.attestation_offline`, `phala.attestation_quote`, `phala.attestation_app`,
 *   `phala.attestation_compose`, `phala.attestation_app_compose`.
 */
export async function verifyAttestation(
  client: Client,
  params: { id: string; appId: string; composeHash: string; trustedRoots: readonly TrustedRoot[]; collateral: Collateral.Json; now?: Date },
): Promise<AttestationVerdict> {
  const a = await getCvmAttestation(client, { id: params.id }).catch((e: unknown) => {
    throw apiError(`GET /cvms/${params.id}/attestation`, e)
  })
  const quote = a.app_certificates?.find((c) => c.quote)?.quote
  if (!a.is_online || !a.tcb_info || !quote)
    throw new CliError('phala.attestation_offline', `CVM ${params.id} has no attestation${a.error ? `: ${a.error}` : ''}`, { docs })
  const verdict = await verifyQuote(new Uint8Array(Buffer.from(quote, 'hex')), {
    collateral: params.collateral,
    now: params.now ?? new Date(),
    trustedRoots: params.trustedRoots,
    policy: { eventLog: JSON.stringify(a.tcb_info.event_log) },
  })
  if (!verdict.ok)
    throw new CliError(
      'phala.attestation_quote',
      `the attestation of ${params.id} does not verify: ${verdict.reasons.map((r) => r.code).join(', ')}`,
      {
        hint: verdict.reasons[0]?.message ?? '',
        docs,
      },
    )
  const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : '(none)')
  const want = { appId: params.appId.replace(/^0x/, '').toLowerCase(), composeHash: params.composeHash.replace(/^0x/, '').toLowerCase() }
  if (hex(verdict.app?.appId) !== want.appId)
    throw new CliError('phala.attestation_app', `the attested CVM runs app ${hex(verdict.app?.appId)}, not ${want.appId}`, { docs })
  if (hex(verdict.app?.composeHash) !== want.composeHash)
    throw new CliError(
      'phala.attestation_compose',
      `the attested compose hash ${hex(verdict.app?.composeHash)} is not the approved ${want.composeHash}`,
      {
        docs,
      },
    )
  const { createHash } = await import('node:crypto')
  const served = createHash('sha256').update(a.tcb_info.app_compose, 'utf8').digest('hex')
  if (served !== want.composeHash)
    throw new CliError(
      'phala.attestation_app_compose',
      `SHA-256 of the attested app_compose is ${served}, not the approved compose hash ${want.composeHash}`,
      { hint: 'the cloud reports other app-compose bytes than the CVM measured', docs },
    )
  return { hardware: String(verdict.hardware), appId: want.appId, composeHash: want.composeHash, tcbStatus: verdict.status ?? 'unknown' }
}

/** A CVM's public app URL (`endpoints[0].app`), once it runs. */
export async function appUrlOf(client: Client, id: string): Promise<string> {
  const info = await getCvmInfo(client, { id }).catch((e: unknown) => {
    throw apiError(`GET /cvms/${id}`, e)
  })
  const url = (info as { endpoints?: { app: string }[] | null }).endpoints?.[0]?.app
  if (!url) throw new CliError('phala.no_endpoint', `CVM ${id} has no public endpoint`, { docs })
  return url
}

/** The last `tail` lines of a CVM's output (its container's public log endpoint). */
export async function logs(client: Client, id: string, tail: number): Promise<string> {
  const composition = await getCvmContainersStats(client, { id }).catch((e: unknown) => {
    throw apiError(`GET /cvms/${id}/composition`, e)
  })
  const endpoint = composition.containers?.find((c) => c.log_endpoint)?.log_endpoint
  if (!endpoint) return ''
  const url = new URL(endpoint)
  url.searchParams.set('tail', String(tail))
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) })
  if (!res.ok) throw new CliError('phala.logs', `the log endpoint of ${id} answered HTTP ${res.status}`, { docs })
  return res.text()
}

export { commitCvmProvision, createAppInstance, deleteCvm, getCvmInfo, patchCvm, provisionCvm, stopCvm }

/**
 * The Phala provider for `regent uplift --target phala` (a new instance of the agent's app: `POST /apps/{id}/instances`).
 * The target's env goes encrypted to the app's verified env key; an instance whose compose the app contract does not
 * allow yet (on-chain KMS) is refused with `phala.hash_required` (approve the server's compose hash, then retry).
 */
export function phala(ctx: { env?: NodeJS.ProcessEnv; kmsRoot: () => Promise<string>; kms: () => Promise<string> }): Provider {
  const name = 'phala'
  const client = () => clientOf(envOf(ctx.env))
  return {
    name,
    async launch(parameters) {
      const c = client()
      const appId = parameters.appId.replace(/^0x/, '').toLowerCase()
      const compose = JSON.parse(new TextDecoder().decode(parameters.compose)) as { docker_compose_file?: string }
      const key = await verifiedEnvKey(c, { kms: await ctx.kms(), appId, kmsRoot: await ctx.kmsRoot() })
      const vm = await createAppInstance(c, {
        appId,
        ...(compose.docker_compose_file ? { docker_compose_file: compose.docker_compose_file } : {}),
        encrypted_env: encryptEnv(parameters.env, key),
      }).catch((e: unknown) => {
        if ((e as { status?: number }).status === 465)
          throw new CliError('phala.hash_required', `the app contract of ${appId} does not allow the instance's compose hash yet`, {
            hint: 'approve the compose hash Phala reports (RegentAppAuth.addComposeHash), then launch again',
            docs,
            cause: e,
          })
        throw apiError(`POST /apps/${appId}/instances`, e)
      })
      const id = vm.vm_uuid ?? String(vm.id)
      await waitRunning(c, id, { timeoutSeconds: 300 })
      return { id, url: await appUrlOf(c, id), provider: name }
    },
    async stop(id) {
      await stopCvm(client(), { id }).catch((e: unknown) => {
        throw apiError(`POST /cvms/${id}/stop`, e)
      })
    },
    logs: (id, tail) => logs(client(), id, tail),
  }
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0)
  return 0
}

const short = (hex: string) => (hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex)

export type { Hex }
