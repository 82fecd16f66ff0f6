/**
 * The state and operations of the Phala Cloud stand-in (docs/targets/phala.md "The stand-in"; the API as read from
 * `@phala/cloud` 0.2.9: reference providers.md §1): apps, two-phase provision → commit, CVMs that are devnet CVMs
 * (real measured boots, quotes under the devnet root), the unified `PATCH /cvms/{id}` update with its 465 →
 * on-chain registration → confirm path, new instances of an app, stop/delete, attestations read from the CVM's own
 * guest agent. Two KMS modes, as Phala has:
 *   phala   the central KMS (CentralKms.ts): the cloud assigns the app id and gates boots itself;
 *   onchain dstack's on-chain KMS: the app id is a contract registered in DstackKms, and the devnet's KMS node decides
 *           by DstackKms (kms DstackKmsAuth) — an update whose compose hash the app contract does not allow answers 465.
 * Operations throw {@link PhalaError} with Phala's status codes and error bodies; the server (PhalaServer.ts) only
 * routes and validates.
 */
import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto'
import type { Address, Hex, PublicClient } from 'viem'
import type { KeyProvider } from '../cvm/KeyProvider.js'
import type { CvmRecord, Host } from '../host/Host.js'
import * as DevnetTd from '../tdx/DevnetTd.js'
import * as AppCompose from './AppCompose.js'
import type { CentralKms } from './CentralKms.js'

/** The API version the stand-in speaks (`X-Phala-Version`). */
export const apiVersion = '2026-01-21'

/** A Phala API error: HTTP status and the FastAPI-style `detail`. */
export class PhalaError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
  ) {
    super(typeof detail === 'string' ? detail : ((detail as { message?: string }).message ?? `HTTP ${status}`))
  }
}

/** A structured error detail (`ResourceError` in the client): `ERR-MM-NNN`, message, details, suggestions. */
export function structured(
  status: number,
  errorCode: string,
  message: string,
  details: { field: string; value: unknown; message?: string }[] = [],
  suggestions: string[] = [],
): PhalaError {
  return new PhalaError(status, { error_code: errorCode, message, details, suggestions, links: [] })
}

export type KmsMode = 'phala' | 'onchain'

/** An on-chain KMS of the devnet: dstack's DstackKms on the devnet chain, served by the devnet's KMS node. */
export type OnchainKms = {
  dstackKms: Address
  k256PublicKey: Uint8Array
  /** The app's env key and the root's legacy signature (the KMS node's `GET /v1/env-pubkey`). */
  envPublicKey(appId: string): Promise<{ publicKey: Uint8Array; signature: Uint8Array }>
}

export type PhalaCloudOptions = {
  host: Host
  /** The devnet state directory: bundles (the devnet's image registry) live under `<dir>/bundles/<hex>/`. */
  dir: string
  central: CentralKms
  /** The devnet chain (chain id of `kms_info`), for on-chain checks. */
  chain: { client: PublicClient; chainId: number; rpcUrl: string }
  onchain?: OnchainKms | undefined
  /** The base URL the API is served at (for `kms_info.url`, log endpoints), known once the server listens. */
  baseUrl: () => string
}

type App = { appId: string; kms: KmsMode; composeHashes: Set<string>; contractAddress?: string; deployer?: string; current?: string }

type Provision = {
  name: string
  kms: KmsMode
  appId: string | null
  compose: Uint8Array
  composeHash: string
  composeFile: AppCompose.ComposeFileInput
  nodeId: number
  createdAt: number
}

/** One Phala CVM (a VM of an app); `hostCvmId` is the devnet CVM of its current boot. */
export type PhalaCvm = {
  id: string
  numericId: number
  name: string
  appId: string
  vmUuid: string
  instanceSeed: Uint8Array
  instanceId: string | null
  kms: KmsMode
  nodeId: number
  compose: Uint8Array
  composeHash: string
  composeFile: AppCompose.ComposeFileInput
  encryptedEnv: Uint8Array | undefined
  status: 'starting' | 'running' | 'stopping' | 'stopped' | 'exited' | 'deleted'
  bootProgress: string
  bootError: string
  hostCvmId: string | undefined
  appUrl: string | null
  createdAt: string
  startedAt: number
  correlationId: string
  /** Resolves when the current boot has finished (running or failed). */
  booting: Promise<void>
}

type PendingUpdate = {
  token: string
  cvm: string
  compose: Uint8Array
  composeHash: string
  composeFile: AppCompose.ComposeFileInput
  encryptedEnv: Uint8Array | undefined
  expiresAt: number
}

/** The single node of the devnet cloud. */
export const node = {
  teepodId: 1,
  name: 'regent-devnet-node-1',
  region: 'devnet',
  deviceId: createHash('sha256').update('regent-devnet/v1/phala-node-1').digest('hex'),
  fmspc: '00806f050000',
} as const

const image = DevnetTd.defaultImage
export const osImage = {
  name: `dstack-${image.version}`,
  version: image.version.split('.').map(Number) as [number, number, number],
  hash: Buffer.from(DevnetTd.osImageHash(image)).toString('hex'),
} as const

const pendingTtlMs = 10 * 60_000
const dstackAppAbi = [
  {
    type: 'function',
    name: 'allowedComposeHashes',
    stateMutability: 'view',
    inputs: [{ name: 'composeHash', type: 'bytes32' }],
    outputs: [{ name: '', type: 'bool' }],
  },
] as const
const dstackKmsRegisteredAbi = [
  {
    type: 'function',
    name: 'registeredApps',
    stateMutability: 'view',
    inputs: [{ name: 'appId', type: 'address' }],
    outputs: [{ name: '', type: 'bool' }],
  },
] as const

export type PhalaCloud = ReturnType<typeof createPhalaCloud>

/** A hostile cloud, for tests: what the stand-in falsifies when a switch is on. */
export type Faults = {
  /** `GET …/attestation` reports app-compose bytes other than the measured ones (a trailing newline added). */
  alterAttestedCompose: boolean
  /** `GET …/attestation` answers with the quote, registers and event log of this other devnet CVM. */
  attestationFrom: string | undefined
  /** `GET /kms/…/pubkey/…` answers another X25519 key with the KMS's signature over the real one. */
  swapEnvKey: boolean
}

/** Creates the cloud over a devnet host. */
export function createPhalaCloud(options: PhalaCloudOptions) {
  const apps = new Map<string, App>()
  const provisions = new Map<string, Provision>()
  const cvms = new Map<string, PhalaCvm>()
  const pending = new Map<string, PendingUpdate>()
  let nextId = 1
  const faults: Faults = { alterAttestedCompose: false, attestationFrom: undefined, swapEnvKey: false }

  const kmsInfo = (mode: KmsMode) => {
    const base = options.baseUrl()
    if (mode === 'phala')
      return {
        id: 'kms_phala_devnet',
        slug: 'phala-devnet',
        url: `${base}/kms/phala-devnet`,
        version: 'v0.5.8',
        chain_id: null,
        kms_contract_address: null,
        gateway_app_id: null,
        k256_pubkey: Buffer.from(options.central.k256PublicKey).toString('hex'),
      }
    const onchain = needOnchain()
    return {
      id: 'kms_base_devnet',
      slug: 'base-devnet',
      url: `${base}/kms/base-devnet`,
      version: 'v0.5.8',
      chain_id: options.chain.chainId,
      kms_contract_address: onchain.dstackKms,
      gateway_app_id: null,
      k256_pubkey: Buffer.from(onchain.k256PublicKey).toString('hex'),
    }
  }
  const kmsList = () => [kmsInfo('phala'), ...(options.onchain ? [kmsInfo('onchain')] : [])]
  const needOnchain = (): OnchainKms => {
    if (!options.onchain) throw structured(404, 'ERR-02-011', 'No on-chain KMS is available on this cloud')
    return options.onchain
  }
  const kmsOf = (idOrSlug: string): KmsMode => {
    const found = kmsList().find((k) => k.id === idOrSlug || k.slug === idOrSlug)
    if (!found) throw structured(404, 'ERR-02-011', `KMS ${idOrSlug} not found`)
    return found.id === 'kms_phala_devnet' ? 'phala' : 'onchain'
  }

  /** The CVM `{id}` names: its hashed id, vm uuid (dashes optional), name, or `app_<hex>` (the app's newest live CVM). */
  const find = (ref: string): PhalaCvm => {
    const key = ref.replace(/-/g, '').toLowerCase()
    for (const cvm of cvms.values()) {
      if (cvm.status === 'deleted') continue
      if (cvm.id === ref || cvm.vmUuid.replace(/-/g, '') === key || cvm.name === ref || `app_${cvm.appId}` === ref) return cvm
      if (cvm.instanceId && (key === cvm.instanceId || key === `instance_${cvm.instanceId}`)) return cvm
    }
    throw structured(404, 'ERR-03-001', `CVM ${ref} not found`)
  }

  /** The bundle a compose pins must be in the host's bundle store (the devnet's registry: pushed, and digested then). */
  const bundleFor = async (dockerCompose: string): Promise<void> => {
    const pinned = AppCompose.pinnedImage(dockerCompose)
    if (!pinned) throw new Error('the docker-compose file must pin exactly one image by digest (image: <name>@sha256:<hex>)')
    if (options.host.bundles.path(`sha256:${pinned.digest}`) === undefined)
      throw new Error(`image ${pinned.name}@sha256:${pinned.digest} not found in the registry`)
  }

  /** Boots the CVM's current compose on the devnet host (stopping the previous boot). */
  const boot = (cvm: PhalaCvm): void => {
    cvm.status = 'starting'
    cvm.bootProgress = 'booting'
    cvm.bootError = ''
    cvm.startedAt = Date.now()
    const previous = cvm.hostCvmId
    cvm.booting = (async () => {
      try {
        if (previous) await options.host.stop(previous).catch(() => undefined)
        await bundleFor(cvm.composeFile.docker_compose_file)
        const keyProvider: KeyProvider | undefined = cvm.kms === 'phala' ? options.central.provider : undefined
        const record: CvmRecord = await options.host.launch({
          compose: cvm.compose,
          appId: new Uint8Array(Buffer.from(cvm.appId, 'hex')),
          instanceIdSeed: cvm.instanceSeed,
          ...(keyProvider ? { keyProvider } : {}),
          ...(cvm.encryptedEnv ? { encryptedEnv: cvm.encryptedEnv } : {}),
        })
        if (cvm.status === 'deleted' || cvm.status === 'stopped') {
          await options.host.stop(record.cvmId).catch(() => undefined)
          return
        }
        cvm.hostCvmId = record.cvmId
        cvm.instanceId = record.instanceId
        cvm.appUrl = record.appUrl
        cvm.status = 'running'
        cvm.bootProgress = 'done'
      } catch (error) {
        cvm.status = 'exited'
        cvm.bootProgress = 'failed'
        cvm.bootError = oneLine(error)
      }
    })()
  }

  /** The live status of a CVM (a running boot whose program exited is `exited`). */
  const refresh = (cvm: PhalaCvm): PhalaCvm => {
    if (cvm.status === 'running' && cvm.hostCvmId) {
      const record = options.host.get(cvm.hostCvmId)
      if (record.status !== 'running') {
        cvm.status = 'exited'
        cvm.bootError = `the app exited (code ${record.exitCode})`
      }
    }
    return cvm
  }

  /** Whether the app contract allows `composeHash` on-chain (DstackApp's `allowedComposeHashes`). */
  const allowedOnChain = async (appId: string, composeHash: string): Promise<boolean> =>
    options.chain.client
      .readContract({ address: `0x${appId}`, abi: dstackAppAbi, functionName: 'allowedComposeHashes', args: [`0x${composeHash}`] })
      .catch(() => false)

  const correlation = () => randomUUID()

  return {
    faults,
    kmsList,
    kmsInfo,
    find: (ref: string) => refresh(find(ref)),
    list: () => [...cvms.values()].filter((c) => c.status !== 'deleted').map(refresh),
    app: (appId: string) => apps.get(appId),

    /** `POST /cvms/provision`: builds and hashes the app-compose; assigns the app id (central KMS). */
    provision(input: { name: string; nodeId?: number | undefined; kms: KmsMode; composeFile: AppCompose.ComposeFileInput }) {
      if (input.nodeId !== undefined && input.nodeId !== node.teepodId)
        throw structured(404, 'ERR-01-001', `Node ${input.nodeId} not found`, [{ field: 'node_id', value: input.nodeId }])
      if ([...cvms.values()].some((c) => c.name === input.name && c.status !== 'deleted'))
        throw structured(409, 'ERR-01-004', `A CVM named ${input.name} already exists`, [{ field: 'name', value: input.name }])
      if (input.kms === 'onchain') needOnchain()
      const doc = AppCompose.build(input.composeFile, { name: input.name })
      const compose = AppCompose.serialize(doc)
      const composeHash = AppCompose.hash(compose)
      const appId = input.kms === 'phala' ? randomBytes(20).toString('hex') : null
      provisions.set(`${appId ?? 'onchain'}:${composeHash}`, {
        name: input.name,
        kms: input.kms,
        appId,
        compose,
        composeHash,
        composeFile: input.composeFile,
        nodeId: node.teepodId,
        createdAt: Date.now(),
      })
      const kms = kmsInfo(input.kms)
      return {
        app_id: appId,
        app_env_encrypt_pubkey: appId
          ? Buffer.from(options.central.envPublicKey(Buffer.from(appId, 'hex')).publicKey).toString('hex')
          : null,
        compose_hash: composeHash,
        kms_info: kms,
        fmspc: node.fmspc,
        device_id: node.deviceId,
        os_image_hash: osImage.hash,
        instance_type: 'tdx.small',
        teepod_id: node.teepodId,
        kms_id: kms.id,
      }
    },

    /** `POST /cvms`: commits a provision (on-chain KMS: the app contract must be registered and allow the hash). */
    async commit(input: {
      appId: string
      composeHash: string
      encryptedEnv?: Uint8Array | undefined
      contractAddress?: string
      deployer?: string
    }) {
      const appId = input.appId.replace(/^0x/, '').toLowerCase()
      const hash = input.composeHash.replace(/^0x/, '').toLowerCase()
      const p = provisions.get(`${appId}:${hash}`) ?? provisions.get(`onchain:${hash}`)
      if (!p || (p.appId !== null && p.appId !== appId))
        throw structured(400, 'ERR-01-006', 'Compose hash is invalid or expired: provision again', [{ field: 'compose_hash', value: hash }])
      if (p.kms === 'onchain') {
        const registered = await options.chain.client
          .readContract({
            address: needOnchain().dstackKms,
            abi: dstackKmsRegisteredAbi,
            functionName: 'registeredApps',
            args: [`0x${appId}`],
          })
          .catch(() => false)
        if (!registered)
          throw structured(400, 'ERR-01-005', `App ${appId} is not registered in the KMS contract`, [{ field: 'app_id', value: appId }])
        if (!(await allowedOnChain(appId, hash)))
          throw structured(400, 'ERR-01-008', `Compose hash ${hash} is not allowed by app ${appId} on-chain`, [
            { field: 'compose_hash', value: hash },
          ])
      }
      if ([...cvms.values()].some((c) => c.appId === appId && c.status !== 'deleted'))
        throw structured(409, 'ERR-03-007', `App ${appId} already has a CVM; add an instance instead`, [{ field: 'app_id', value: appId }])
      provisions.delete(`${p.appId ?? 'onchain'}:${hash}`)
      const app: App = apps.get(appId) ?? {
        appId,
        kms: p.kms,
        composeHashes: new Set(),
        ...(input.contractAddress ? { contractAddress: input.contractAddress } : {}),
        ...(input.deployer ? { deployer: input.deployer } : {}),
      }
      app.composeHashes.add(hash)
      app.current = hash
      apps.set(appId, app)
      return launch({
        app,
        name: p.name,
        compose: p.compose,
        composeHash: hash,
        composeFile: p.composeFile,
        encryptedEnv: input.encryptedEnv,
      })
    },

    /** `POST /apps/{appId}/instances`: a new CVM of an existing app (new instance id, same app keys). */
    async addInstance(appId: string, input: { dockerComposeFile?: string | undefined; encryptedEnv?: Uint8Array | undefined }) {
      const app = apps.get(appId.replace(/^(app_|0x)/, '').toLowerCase())
      if (!app) throw structured(404, 'ERR-03-001', `App ${appId} not found`)
      const model = [...cvms.values()].filter((c) => c.appId === app.appId).at(-1)
      if (!model) throw structured(404, 'ERR-03-001', `App ${appId} has no CVM to copy`)
      const composeFile = { ...model.composeFile, ...(input.dockerComposeFile ? { docker_compose_file: input.dockerComposeFile } : {}) }
      const compose = AppCompose.serialize(AppCompose.build(composeFile, { name: model.name }))
      const composeHash = AppCompose.hash(compose)
      if (app.kms === 'onchain' && !(await allowedOnChain(app.appId, composeHash)))
        throw hashRequired({ appId: app.appId, composeHash, kms: app.kms, token: undefined })
      app.composeHashes.add(composeHash)
      const name = `${model.name.slice(0, 50)}-${randomBytes(3).toString('hex')}`
      return launch({ app, name, compose, composeHash, composeFile, encryptedEnv: input.encryptedEnv ?? model.encryptedEnv })
    },

    /**
     * `PATCH /cvms/{id}`: a new compose (and/or env). A new compose hash under the on-chain KMS that the app contract
     * does not allow yet answers 465 with a commit token; the client registers it on-chain and confirms.
     */
    async patch(
      ref: string,
      input: { composeFile: Partial<AppCompose.ComposeFileInput>; encryptedEnv?: Uint8Array | undefined; prepareOnly: boolean },
    ) {
      const cvm = find(ref)
      const composeFile = { ...cvm.composeFile, ...input.composeFile }
      const compose = AppCompose.serialize(AppCompose.build(composeFile, { name: cvm.name }))
      const composeHash = AppCompose.hash(compose)
      const encryptedEnv = input.encryptedEnv ?? cvm.encryptedEnv
      const update: PendingUpdate = {
        token: randomBytes(16).toString('hex'),
        cvm: cvm.id,
        compose,
        composeHash,
        composeFile,
        encryptedEnv,
        expiresAt: Date.now() + pendingTtlMs,
      }
      const changed = composeHash !== cvm.composeHash
      if (input.prepareOnly || (changed && cvm.kms === 'onchain' && !(await allowedOnChain(cvm.appId, composeHash)))) {
        pending.set(composeHash, update)
        throw hashRequired({ appId: cvm.appId, composeHash, kms: cvm.kms, token: update.token, cvm: cvm.id })
      }
      return apply(cvm, update)
    },

    /** The confirm of a 465 (`PATCH` with `X-Compose-Hash`/`X-Transaction-Hash`, or `POST …/commit-update`). */
    async confirm(ref: string, input: { composeHash: string; transactionHash: string; token?: string | undefined }) {
      const cvm = find(ref)
      const hash = input.composeHash.replace(/^0x/, '').toLowerCase()
      const update = pending.get(hash)
      if (!update || update.cvm !== cvm.id || update.expiresAt < Date.now() || (input.token !== undefined && input.token !== update.token))
        throw structured(466, 'ERR-01-006', `Compose hash ${hash} has no pending update or it expired: update again`)
      if (!/^0x[0-9a-fA-F]{64}$/.test(input.transactionHash))
        throw structured(467, 'ERR-01-007', 'Transaction verification failed: not a transaction hash')
      const receipt = await options.chain.client.getTransactionReceipt({ hash: input.transactionHash as Hex }).catch(() => undefined)
      if (receipt?.status !== 'success')
        throw structured(
          467,
          'ERR-01-007',
          `Transaction ${input.transactionHash} is not a successful transaction on chain ${options.chain.chainId}`,
        )
      if (cvm.kms === 'onchain' && !(await allowedOnChain(cvm.appId, hash)))
        throw structured(468, 'ERR-01-008', `Compose hash ${hash} is not allowed on-chain for app ${cvm.appId}`)
      pending.delete(hash)
      return apply(cvm, update)
    },

    async stop(ref: string) {
      const cvm = find(ref)
      cvm.status = 'stopping'
      await cvm.booting
      if (cvm.hostCvmId) await options.host.stop(cvm.hostCvmId).catch(() => undefined)
      cvm.status = 'stopped'
      return cvm
    },

    async start(ref: string) {
      const cvm = find(ref)
      if (cvm.status === 'running' || cvm.status === 'starting') return cvm
      boot(cvm)
      return cvm
    },

    async remove(ref: string) {
      const cvm = find(ref)
      cvm.status = 'deleted'
      await cvm.booting
      if (cvm.hostCvmId) await options.host.stop(cvm.hostCvmId).catch(() => undefined)
    },

    /** The app's env key under its KMS (`GET /kms/{kms}/pubkey/{app_id}`). */
    async envPublicKey(kms: string, appId: string) {
      const id = appId.replace(/^0x/, '').toLowerCase()
      const mode = kmsOf(kms)
      const key = mode === 'phala' ? options.central.envPublicKey(Buffer.from(id, 'hex')) : await needOnchain().envPublicKey(id)
      const publicKey = faults.swapEnvKey ? new Uint8Array(randomBytes(32)) : key.publicKey
      return { public_key: Buffer.from(publicKey).toString('hex'), signature: Buffer.from(key.signature).toString('hex') }
    },

    /** `GET /cvms/{id}/attestation`: the CVM's own tcb_info (Info) and an RA-TLS quote of its app certificate. */
    async attestation(ref: string) {
      const cvm = refresh(find(ref))
      const own = cvm.hostCvmId ? options.host.get(cvm.hostCvmId) : undefined
      const record = own && faults.attestationFrom ? options.host.get(faults.attestationFrom) : own
      if (!record || cvm.status !== 'running')
        return {
          name: cvm.name,
          is_online: false,
          is_public: true,
          error: cvm.bootError || 'CVM is not running',
          app_certificates: null,
          tcb_info: null,
          compose_file: null,
        }
      const info = (await options.host.publicGuestCall(record.cvmId, 'Info', {})) as { tcb_info: string; app_cert: string }
      const tcb = JSON.parse(info.tcb_info) as Record<string, unknown> & { event_log: Record<string, unknown>[]; app_compose: string }
      const pems = info.app_cert.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
      const certificates = await Promise.all(
        pems.map(async (pem, i) => {
          const x = new X509Certificate(pem)
          let quote: string | null = null
          if (i === 0) {
            // RA-TLS binding (dstack ra-tls): report_data = SHA-512("ratls-cert:" ‖ SPKI DER) of the certificate key
            const spki = x.publicKey.export({ type: 'spki', format: 'der' })
            const reportData = createHash('sha512').update('ratls-cert:').update(spki).digest('hex')
            quote = ((await options.host.publicGuestCall(record.cvmId, 'GetQuote', { report_data: reportData })) as { quote: string }).quote
          }
          const name = (dn: string, key: string) => new RegExp(`(?:^|\\n)${key}=([^\\n]*)`).exec(dn)?.[1] ?? null
          return {
            subject: { common_name: name(x.subject, 'CN'), organization: name(x.subject, 'O'), country: null, state: null, locality: null },
            issuer: { common_name: name(x.issuer, 'CN'), organization: name(x.issuer, 'O'), country: null },
            serial_number: x.serialNumber,
            not_before: new Date(x.validFrom).toISOString(),
            not_after: new Date(x.validTo).toISOString(),
            version: 'v3',
            fingerprint: x.fingerprint256.replace(/:/g, '').toLowerCase(),
            signature_algorithm: 'ecdsa-with-SHA256',
            sans: null,
            is_ca: x.ca,
            position_in_chain: i,
            quote,
            app_id: i === 0 ? cvm.appId : null,
            cert_usage: i === 0 ? 'app' : null,
          }
        }),
      )
      return {
        name: cvm.name,
        is_online: true,
        is_public: true,
        error: null,
        app_certificates: certificates,
        tcb_info: {
          mrtd: tcb.mrtd,
          rootfs_hash: null,
          rtmr0: tcb.rtmr0,
          rtmr1: tcb.rtmr1,
          rtmr2: tcb.rtmr2,
          rtmr3: tcb.rtmr3,
          event_log: tcb.event_log.map((e) => ({
            imr: e.imr,
            event_type: e.event_type,
            digest: e.digest,
            event: e.event ?? '',
            event_payload: e.event_payload ?? '',
          })),
          app_compose: faults.alterAttestedCompose ? `${tcb.app_compose}\n` : tcb.app_compose,
        },
        compose_file: tcb.app_compose,
      }
    },

    /** The devnet CVM output of a CVM's current boot (`containers[].log_endpoint`). */
    async logs(ref: string, tail: number | undefined) {
      const cvm = find(ref)
      if (!cvm.hostCvmId) return cvm.bootError ? `${cvm.bootError}\n` : ''
      return options.host.logs(cvm.hostCvmId, tail === undefined ? {} : { tail })
    },

    /** Stops every CVM's boot (the devnet is closing). */
    async close() {
      await Promise.all([...cvms.values()].map((c) => c.booting.catch(() => undefined)))
    },
  }

  function hashRequired(o: { appId: string; composeHash: string; kms: KmsMode; token: string | undefined; cvm?: string }) {
    const base = options.baseUrl()
    return structured(
      465,
      'ERR-01-005',
      'Compose hash must be registered on-chain before this update',
      [
        { field: 'compose_hash', value: o.composeHash },
        { field: 'app_id', value: o.appId },
        { field: 'device_id', value: node.deviceId },
        { field: 'kms_info', value: kmsInfo(o.kms) },
        ...(o.token ? [{ field: 'commit_token', value: o.token }] : []),
        ...(o.cvm ? [{ field: 'commit_url', value: `${base}/cvms/${o.cvm}/commit-update` }] : []),
        ...(o.cvm ? [{ field: 'api_commit_url', value: `${base}/cvms/${o.cvm}/commit-update` }] : []),
        { field: 'onchain_status', value: { compose_hash_allowed: false, device_id_allowed: true, is_allowed: false } },
      ],
      ['Call addComposeHash on the app contract (for Regent: RegentAppAuth.addComposeHash), then confirm with the transaction hash'],
    )
  }

  async function apply(cvm: PhalaCvm, update: PendingUpdate) {
    const app = apps.get(cvm.appId)
    app?.composeHashes.add(update.composeHash)
    if (app) app.current = update.composeHash
    cvm.compose = update.compose
    cvm.composeHash = update.composeHash
    cvm.composeFile = update.composeFile
    cvm.encryptedEnv = update.encryptedEnv
    cvm.correlationId = correlation()
    boot(cvm)
    return { correlation_id: cvm.correlationId, status: 'in_progress' }
  }

  function launch(o: {
    app: App
    name: string
    compose: Uint8Array
    composeHash: string
    composeFile: AppCompose.ComposeFileInput
    encryptedEnv: Uint8Array | undefined
  }): PhalaCvm {
    const vmUuid = randomUUID()
    const cvm: PhalaCvm = {
      id: vmUuid.replace(/-/g, ''),
      numericId: nextId++,
      name: o.name,
      appId: o.app.appId,
      vmUuid,
      instanceSeed: new Uint8Array(randomBytes(20)),
      instanceId: null,
      kms: o.app.kms,
      nodeId: node.teepodId,
      compose: o.compose,
      composeHash: o.composeHash,
      composeFile: o.composeFile,
      encryptedEnv: o.encryptedEnv,
      status: 'starting',
      bootProgress: '',
      bootError: '',
      hostCvmId: undefined,
      appUrl: null,
      createdAt: new Date().toISOString(),
      startedAt: Date.now(),
      correlationId: correlation(),
      booting: Promise.resolve(),
    }
    cvms.set(cvm.id, cvm)
    boot(cvm)
    return cvm
  }
}

function oneLine(error: unknown): string {
  const short = (error as { shortMessage?: unknown }).shortMessage
  return (typeof short === 'string' ? short : error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''
}
