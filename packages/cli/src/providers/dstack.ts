/**
 * The dstack-vmm provider (`--target dstack`; docs/targets/dstack.md, docs/providers.md): launches CVMs on a
 * self-hosted dstack host through dstack-vmm's real API (reference/providers.md §2; dstack `vmm/rpc/proto/
 * vmm_rpc.proto`, `vmm/src/vmm-cli.py`): `POST {vmm}/prpc/<Method>?json` with a JSON body, `Authorization: Bearer`
 * from `REGENT_DSTACK_TOKEN` (never a flag), logs from `GET {vmm}/logs?id=…&lines=N&ch=stdout`.
 *
 * Launch:
 * 1. `GetAppEnvEncryptPubKey{app_id}` → the app's X25519 env key; its KMS signature (`signature_v1` with its
 *    timestamp, else the legacy one) must recover to the expected KMS root when one is given;
 * 2. the env is encrypted to it exactly as dstack does (@regent-tee/kms `EnvEncryption`: X25519 + AES-256-GCM, no KDF);
 * 3. `GetComposeHash` must equal SHA-256 of our compose bytes (the host hashes the exact string we send);
 * 4. `CreateVm{name, image, compose_file, app_id, encrypted_env, ports, kms_urls, gateway_urls, vcpu, memory,
 *    disk_size}` → the VM id; the app id is the RegentAppAuth app id, so every CVM of the app gets the same keys;
 * 5. `GetInfo` (+ `GetMeta`): the public URL is `https://<instance_id>-<port>.<base_domain>` when the host has a
 *    gateway, else `app_url`, else the port mapping `http://<host_address>:<host_port>`.
 */
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1'
import { createBundleStore } from '@regent-tee/devnet'
import { EnvEncryption } from '@regent-tee/kms'
import { toHex } from 'viem'
import { publicKeyToAddress } from 'viem/accounts'
import { CliError } from '../errors.js'
import type { Provider } from './Provider.js'

const docs = 'docs/targets/dstack.md'

/** Options of {@link dstack}. */
export type DstackOptions = {
  /** Base URL of dstack-vmm, e.g. `https://vmm.example:9080`. */
  vmmUrl: string
  /** Bearer token (from `REGENT_DSTACK_TOKEN`). */
  token?: string | undefined
  /** Guest OS image name (ListImages). @default the first image the VMM lists */
  image?: string | undefined
  vcpu?: number | undefined
  /** MB. @default 2048 */
  memory?: number | undefined
  /** GB. @default 20 */
  diskSize?: number | undefined
  /** The port the agent listens on inside the CVM. @default 8080 */
  vmPort?: number | undefined
  /** Host port to map it to when the host has no gateway (0: the VMM's choice). @default 0 */
  hostPort?: number | undefined
  /** Address of the KMS root key the app's env key must be signed by (RegentAppAuth's kmsRoot); unchecked when absent. */
  kmsRoot?: string | undefined
  /** VM name prefix. @default 'regent' */
  name?: string | undefined
  /** Per-request timeout (ms). @default 120_000 */
  timeoutMs?: number | undefined
  /**
   * Makes the compose's pinned image available to the host before CreateVm (the devnet: copy the bundle into its
   * bundle store, {@link devnetStorePusher}); a real host pulls from a registry the deploy pushed to. @default none
   */
  push?: ((image: { bundle: string; digest: string }) => Promise<void>) | undefined
}

/** dstack-vmm's VmInfo (the fields the provider reads). */
export type VmInfo = {
  id: string
  name: string
  status: string
  app_id: string
  instance_id?: string
  app_url?: string
  configuration?: { ports?: { protocol: string; host_port: number; vm_port: number; host_address: string }[] }
  boot_error?: string
}

/** A minimal client of dstack-vmm's prpc API. */
export type VmmClient = {
  call<T>(method: string, body?: unknown): Promise<T>
  logs(id: string, lines: number, channel?: 'stdout' | 'stderr' | 'serial'): Promise<string>
}

/** A dstack-vmm client (JSON prpc + bearer). Errors are CliErrors naming the method and the VMM's message. */
export function vmmClient(options: Pick<DstackOptions, 'vmmUrl' | 'token' | 'timeoutMs'>): VmmClient {
  const base = options.vmmUrl.replace(/\/+$/, '')
  const headers = (json: boolean): Record<string, string> => ({
    ...(json ? { 'content-type': 'application/json' } : {}),
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  })
  const request = async (path: string, init: RequestInit, what: string): Promise<Response> => {
    const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(options.timeoutMs ?? 120_000) }).catch(
      (cause: unknown) => {
        throw new CliError('dstack.unreachable', `the dstack VMM at ${new URL(base).origin} did not answer ${what}`, {
          hint: 'check --vmm-url and that dstack-vmm listens there',
          docs,
          cause,
        })
      },
    )
    if (res.status === 401 || res.status === 403)
      throw new CliError('dstack.unauthorized', `the dstack VMM refused ${what} (HTTP ${res.status})`, {
        hint: "set REGENT_DSTACK_TOKEN to a token of the VMM's [auth] tokens",
        docs,
      })
    return res
  }
  return {
    async call<T>(method: string, body: unknown = {}): Promise<T> {
      const res = await request(`/prpc/${method}?json`, { method: 'POST', headers: headers(true), body: JSON.stringify(body) }, method)
      const text = await res.text()
      let value: unknown
      try {
        value = text ? JSON.parse(text) : {}
      } catch {
        throw new CliError('dstack.request_failed', `${method}: the VMM answered HTTP ${res.status} with a non-JSON body`, { docs })
      }
      if (!res.ok) {
        const message = (value as { error?: unknown }).error
        throw new CliError('dstack.request_failed', `${method}: ${typeof message === 'string' ? message : `HTTP ${res.status}`}`, { docs })
      }
      return value as T
    },
    async logs(id, lines, channel = 'stdout') {
      const q = new URLSearchParams({ id, follow: 'false', ansi: 'false', lines: String(lines), ch: channel })
      const res = await request(`/logs?${q}`, { headers: headers(false) }, 'logs')
      const text = await res.text()
      if (!res.ok) throw new CliError('dstack.request_failed', `logs of ${id}: ${text.trim() || `HTTP ${res.status}`}`, { docs })
      return text
    },
  }
}

/**
 * The public URL of a VM: the gateway form when the host has one, else `app_url`, else the port mapping of `vmPort`.
 *
 * @throws {CliError} `dstack.no_url` when none applies.
 */
export function publicUrl(info: VmInfo, meta: { gateway?: { base_domain?: string; port?: number } }, vmPort: number): string {
  const domain = meta.gateway?.base_domain
  if (domain && info.instance_id) {
    const port = meta.gateway?.port
    return `https://${info.instance_id}-${vmPort}.${domain}${port && port !== 443 ? `:${port}` : ''}`
  }
  if (info.app_url) return info.app_url
  const mapping = info.configuration?.ports?.find((p) => p.vm_port === vmPort && p.host_port > 0)
  if (mapping) return `http://${mapping.host_address || '127.0.0.1'}:${mapping.host_port}`
  throw new CliError('dstack.no_url', `VM ${info.id} has neither a gateway URL nor a port mapping for port ${vmPort}`, {
    hint: 'enable the dstack gateway on the host, or map the agent port',
    docs,
  })
}

/**
 * The dstack provider.
 *
 * @example
 * const provider = dstack({ vmmUrl, token: process.env.REGENT_DSTACK_TOKEN })
 * const { id, url } = await provider.launch({ compose, bundle, appId, env })
 */
export function dstack(
  options: DstackOptions,
): Provider & { client: VmmClient; lastEnvKey?: { publicKey: string; signer: string | null } } {
  const client = vmmClient(options)
  const vmPort = options.vmPort ?? 8080
  const provider: Provider & { client: VmmClient; lastEnvKey?: { publicKey: string; signer: string | null } } = {
    name: 'dstack',
    client,
    async launch(parameters) {
      const appId = parameters.appId.replace(/^0x/, '').toLowerCase()
      // 1–2: the app's env key, checked, and the env encrypted to it.
      const key = await client.call<{ public_key?: string; signature?: string; timestamp?: number | string; signature_v1?: string }>(
        'GetAppEnvEncryptPubKey',
        { app_id: appId },
      )
      const bytes = (h: unknown, field: string) => {
        if (typeof h !== 'string' || !/^(0x)?([0-9a-fA-F]{2})*$/.test(h))
          throw new CliError('dstack.request_failed', `GetAppEnvEncryptPubKey: ${field} is not hex`, { docs })
        return new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))
      }
      const publicKey = bytes(key.public_key, 'public_key')
      if (publicKey.length !== 32)
        throw new CliError('dstack.request_failed', 'GetAppEnvEncryptPubKey: public_key is not 32 bytes', { docs })
      const appIdBytes = new Uint8Array(Buffer.from(appId, 'hex'))
      let signer: Uint8Array | null = null
      try {
        const v1 = key.signature_v1 ? bytes(key.signature_v1, 'signature_v1') : undefined
        signer = v1?.length
          ? EnvEncryption.verifyPublicKey({ publicKey, signature: v1, appId: appIdBytes, timestamp: BigInt(key.timestamp ?? 0) })
          : EnvEncryption.verifyPublicKey({ publicKey, signature: bytes(key.signature, 'signature'), appId: appIdBytes })
      } catch (cause) {
        if (options.kmsRoot)
          throw new CliError('dstack.env_key', 'the app env key from the VMM carries no valid KMS signature', { docs, cause })
      }
      if (
        options.kmsRoot &&
        (!signer ||
          publicKeyToAddress(toHex(secp256k1.ProjectivePoint.fromHex(signer).toRawBytes(false))).toLowerCase() !==
            options.kmsRoot.toLowerCase())
      )
        throw new CliError('dstack.env_key', 'the app env key from the VMM is not signed by the expected KMS root', {
          hint: 'the VMM (or its KMS) is not the one this app trusts: check --vmm-url',
          docs,
        })
      provider.lastEnvKey = {
        publicKey: Buffer.from(publicKey).toString('hex'),
        signer: signer ? `0x${Buffer.from(signer).toString('hex')}` : null,
      }
      const envs = Object.entries(parameters.env).map(([k, value]) => ({ key: k, value }))
      const encryptedEnv = envs.length ? Buffer.from(EnvEncryption.encrypt({ envs, publicKey })).toString('hex') : ''

      // 3: the exact compose string, and the host's hash of it.
      const composeFile = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(parameters.compose)
      const ours = createHash('sha256').update(parameters.compose).digest('hex')
      const theirs = await client.call<{ hash?: string }>('GetComposeHash', { name: 'probe', compose_file: composeFile })
      if (theirs.hash?.replace(/^0x/, '').toLowerCase() !== ours)
        throw new CliError('dstack.compose_hash', `the VMM hashes the compose to ${theirs.hash}, not ${ours}`, { docs })

      // 4: the image the compose pins, then the VM.
      if (options.push) await options.push({ bundle: parameters.bundle, digest: pinnedDigest(composeFile) })
      const images = await client.call<{ images?: { name: string }[] }>('ListImages')
      const image = options.image ?? images.images?.[0]?.name
      if (!image) throw new CliError('dstack.no_image', 'the VMM lists no guest image', { hint: 'pass an image name', docs })
      const name = `${options.name ?? 'regent'}-${appId.slice(0, 8)}-${Date.now().toString(36)}`
      const { id } = await client.call<{ id: string }>('CreateVm', {
        name,
        image,
        compose_file: composeFile,
        app_id: appId,
        encrypted_env: encryptedEnv,
        vcpu: options.vcpu ?? 2,
        memory: options.memory ?? 2048,
        disk_size: options.diskSize ?? 20,
        ports: [{ protocol: 'tcp', host_port: options.hostPort ?? 0, vm_port: vmPort, host_address: '127.0.0.1' }],
        kms_urls: [],
        gateway_urls: [],
        user_config: '',
        stopped: false,
      })
      // 5: where it answers.
      const [got, meta] = await Promise.all([
        client.call<{ found: boolean; info?: VmInfo }>('GetInfo', { id }),
        client.call<{ gateway?: { base_domain?: string; port?: number } }>('GetMeta'),
      ])
      if (!got.found || !got.info) throw new CliError('dstack.request_failed', `GetInfo: VM ${id} not found right after CreateVm`, { docs })
      if (got.info.app_id.replace(/^0x/, '').toLowerCase() !== appId)
        throw new CliError('dstack.request_failed', `the VMM booted VM ${id} as app ${got.info.app_id}, not ${appId}`, { docs })
      return { id, url: publicUrl(got.info, meta, vmPort), provider: 'dstack' }
    },
    async stop(id) {
      await client.call('StopVm', { id })
    },
    async logs(id, tail) {
      return client.logs(id, tail, 'stdout')
    },
  }
  return provider
}

/** The VM's current info. */
export async function vmInfo(client: VmmClient, id: string): Promise<VmInfo | undefined> {
  const got = await client.call<{ found: boolean; info?: VmInfo }>('GetInfo', { id })
  return got.found ? got.info : undefined
}

/**
 * The dstack provider options of a command: the VMM URL (`--vmm-url`, else the devnet's `vmmUrl`), the bearer token
 * (`REGENT_DSTACK_TOKEN`, else — for the devnet's own VMM only — its `vmmToken`), and on the devnet its KMS root.
 *
 * @throws {CliError} `usage` (exit 2) when no VMM URL is known.
 */
export function dstackOptions(params: {
  vmmUrl?: string | undefined
  devnet?: { vmmUrl?: string | undefined; vmmToken?: string | undefined; kmsRoot?: string | undefined } | undefined
  /** The devnet's state directory: with the devnet's own VMM, bundles are pushed to its store. */
  devnetDir?: string | undefined
  env?: NodeJS.ProcessEnv
}): DstackOptions {
  const env = params.env ?? process.env
  const vmmUrl = params.vmmUrl ?? params.devnet?.vmmUrl
  if (!vmmUrl || !/^https?:\/\/\S+$/.test(vmmUrl))
    throw new CliError('usage', '--target dstack needs the dstack-vmm URL: --vmm-url <url> (or a devnet with a vmmUrl)', {
      docs,
      exitCode: 2,
    })
  const onDevnet = params.devnet?.vmmUrl !== undefined && new URL(params.devnet.vmmUrl).origin === new URL(vmmUrl).origin
  return {
    vmmUrl,
    token: env.REGENT_DSTACK_TOKEN || (onDevnet ? params.devnet?.vmmToken : undefined),
    kmsRoot: onDevnet ? params.devnet?.kmsRoot : undefined,
    push: onDevnet && params.devnetDir ? devnetStorePusher(params.devnetDir) : undefined,
  }
}

/** The image digest the compose pins (`image: <name>@sha256:<hex>` in its docker_compose_file). @throws {CliError} */
export function pinnedDigest(composeFile: string): string {
  let docker: unknown
  try {
    docker = (JSON.parse(composeFile) as { docker_compose_file?: unknown }).docker_compose_file
  } catch {
    docker = undefined
  }
  const images =
    typeof docker === 'string' ? [...docker.matchAll(/^\s*image:\s*["']?([^"'\s]+)["']?\s*$/gm)].map((m) => m[1] as string) : []
  const digest = images.length === 1 ? /@(sha256:[0-9a-f]{64})$/.exec(images[0] as string)?.[1] : undefined
  if (!digest)
    throw new CliError('compose.unpinned', 'the compose must name exactly one image, pinned by digest (image: <name>@sha256:<64 hex>)', {
      docs,
    })
  return digest
}

/**
 * The devnet's "registry push": the bundle goes into the devnet host's bundle store (`<devnet dir>/bundles/`,
 * BundleStore.put: copied and digested), and its digest must be the one the compose pins — the devnet's VMM launches
 * only what the store holds for that digest.
 *
 * @throws {CliError} `bundle.digest_mismatch` when the bundle is not the pinned one.
 */
export function devnetStorePusher(devnetDir: string): (image: { bundle: string; digest: string }) => Promise<void> {
  return async ({ bundle, digest }) => {
    const pushed = await createBundleStore({ dir: join(resolve(devnetDir), 'bundles') }).put(bundle)
    if (pushed !== digest)
      throw new CliError('bundle.digest_mismatch', `the bundle digests to ${pushed}, not the pinned ${digest}`, { docs })
  }
}
