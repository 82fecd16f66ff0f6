/**
 * The embedded devnet in one supervisor process (DESIGN.md §3, §5, §6): a real anvil with every
 * Regent contract, KMS node(s) that run in their own devnet CVMs (the dstack model: the KMS is itself
 * a TEE app, its sealing key comes from its TEE, its measurement is approved on-chain by governance),
 * and the simulated TDX host whose app CVMs get their keys from the KMS by attested request.
 * `regent dev up` runs this inside a detached supervisor (supervisor.ts); tests may run it in-process.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { type TdxMeasurements, verifyQuote } from '@regent-tee/attest'
import { type Anvil, deployRegent, identityRegistryAbi, regentAppAuthAbi, startAnvil } from '@regent-tee/contracts'
import { KeyRelease } from '@regent-tee/kms'
import { type Address, createPublicClient, createWalletClient, defineChain, type Hex, http, keccak256, toHex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { createCvm } from './cvm/Cvm.js'
import { type AppKeysRequest, type CertificateRequest, createLocalKeyProvider, type KeyProvider } from './cvm/KeyProvider.js'
import { createKmsKeyProvider } from './cvm/KmsKeyProvider.js'
import * as DevnetFile from './DevnetFile.js'
import * as Hardware from './Hardware.js'
import { createHost, type Host, wipe } from './host/Host.js'
import { type HostServer, startHostServer } from './host/HostServer.js'
import { bundleStoreResolver, startVmmApi } from './host/VmmApi.js'
import * as Phala from './phala/Setup.js'
import * as DevnetPki from './tdx/DevnetPki.js'
import * as DevnetTd from './tdx/DevnetTd.js'

/** Options of {@link startDevnet}. */
export type StartDevnetOptions = {
  /** State directory (default `.regent`). */
  dir?: string
  /** Wipe chain state, KMS data and CVMs of a previous run first. */
  fresh?: boolean
  /** Chain id of the devnet chain (default 31337). */
  chainId?: number
  /**
   * KMS nodes to run (default 1): node 0 generates (or unseals) the root keys, the others onboard
   * from it by attestation. 0 = no KMS: app CVMs use the `local-devnet` key provider.
   */
  kmsNodes?: number
  /** Told as each start-up phase ends (what `npm start` and `regent dev up` show while the devnet starts). */
  onStep?: (step: StartStep) => void
}

/** A start-up phase that ended: its name, a line for a human, and how long it took. */
export type StartStep = { name: 'chain' | 'contracts' | 'host' | 'kms'; detail: string; ms: number }

/** A KMS node of the devnet: a `kms-node` process in its own CVM. */
export type DevnetKmsNode = {
  cvmId: string
  url: string
  /** Ethereum address of the root key (what RegentAppAuth's `addKmsRoot` takes). */
  address: Address
  k256PublicKey: string
  /** `generated`, `unsealed` (restart) or `onboarded` (joined another node by attestation). */
  origin: 'generated' | 'unsealed' | 'onboarded'
}

/** A running devnet. */
export type Devnet = {
  file: DevnetFile.DevnetFile
  host: Host
  anvil: Anvil
  server: HostServer
  kms: DevnetKmsNode[]
  /** The Phala Cloud stand-in (docs/targets/phala.md). */
  phala: Phala.Phala
  /**
   * Devnet convenience for app developers: registers the app of `compose` in RegentAppAuth (owner:
   * anvil account 1, timelock 0), approves its compose hash, the devnet OS image with its published
   * measurements (DevnetTd.published) and the KMS root, and opens enrollment (any agent running the
   * app may enroll in RegentSuccession: the developer's consent, given here for the devnet's flows).
   * Idempotent. Resolves with the app id to launch CVMs with.
   */
  approveApp(params: { compose: Uint8Array; salt?: Hex }): Promise<{ appId: Address; composeHash: Hex }>
  /** Milliseconds spent in each start-up phase. */
  timings: Record<'anvil' | 'contracts' | 'kms' | 'host', number>
  stop(): Promise<void>
}

/** anvil's public test mnemonic: account 0 is governance (deploys, approves KMS), account 1 the app developer. */
const mnemonic = 'test test test test test test test test test test test junk'

/**
 * The compose of a devnet KMS node, pinning the KMS bundle (`no_instance_id`: every node of the KMS app measures the
 * same).
 */
export function kmsCompose(bundleDigest: string): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      manifest_version: 2,
      name: 'regent-kms',
      runner: 'docker-compose',
      docker_compose_file: `services:\n  kms:\n    image: regent-kms@${bundleDigest}\n`,
      no_instance_id: true,
      key_provider: 'local',
    }),
  )
}

/**
 * Starts anvil (state persisted in `<dir>/anvil-state.json`), deploys the contracts (or reuses a
 * previous deployment whose code is still on the chain), starts the KMS node(s) and the host, writes
 * `<dir>/devnet.json`.
 */
export async function startDevnet(options: StartDevnetOptions = {}): Promise<Devnet> {
  const dir = resolve(options.dir ?? '.regent') // CVMs run elsewhere: every path we hand out is absolute
  const kmsNodes = options.kmsNodes ?? 1
  await mkdir(dir, { recursive: true })
  const previous = options.fresh ? undefined : await DevnetFile.read(dir).catch(() => undefined)
  if (options.fresh) {
    for (const f of ['anvil-state.json', 'kms', 'host']) await rm(join(dir, f), { recursive: true, force: true })
    await rm(DevnetFile.path(dir), { force: true })
    await wipe(dir)
  }
  const seed = await Hardware.loadSeed(dir)

  let hostRef: Host | undefined
  let phalaRef: Phala.Phala | undefined
  const t0 = performance.now()
  const anvil = await startAnvil({ chainId: options.chainId ?? 31337, statePath: join(dir, 'anvil-state.json') })
  const t1 = performance.now()
  options.onStep?.({ name: 'chain', detail: `anvil, chain ${anvil.chainId}`, ms: t1 - t0 })
  try {
    const chain = defineChain({
      id: anvil.chainId,
      name: 'regent-devnet',
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [anvil.rpcUrl] } },
    })
    const transport = http(anvil.rpcUrl)
    const client = createPublicClient({ chain, transport })
    const governance = createWalletClient({ chain, transport, account: mnemonicToAccount(mnemonic, { addressIndex: 0 }) })
    const developer = createWalletClient({ chain, transport, account: mnemonicToAccount(mnemonic, { addressIndex: 1 }) })
    let contracts = previous?.chainId === anvil.chainId ? previous.contracts : undefined
    if (contracts) {
      const alive = await client
        .readContract({ address: contracts.identityRegistry, abi: identityRegistryAbi, functionName: 'getVersion' })
        .then(
          () => true,
          () => false,
        )
      if (!alive) contracts = undefined
    }
    contracts ??= (await deployRegent(governance, client)).contracts
    const appAuth = contracts.appAuth
    // dstack's on-chain KMS contract, consulted by the KMS nodes for apps registered there (Phala stand-in).
    const dstackKms = await Phala.ensureDstackKms({
      client,
      governance,
      previous: previous?.chainId === anvil.chainId ? previous.dstackKms : undefined,
    })
    const t2 = performance.now()
    options.onStep?.({ name: 'contracts', detail: 'the Regent contracts on the chain', ms: t2 - t1 })
    const send = async (hash: Promise<Hex>) => {
      const receipt = await client.waitForTransactionReceipt({ hash: await hash })
      if (receipt.status !== 'success') throw new Error(`transaction ${receipt.transactionHash} reverted`)
    }

    // The simulated machine, and the provider app CVMs use (switched to the KMS once it runs).
    const pki = DevnetPki.create()
    const local = createLocalKeyProvider({ pki, ...Hardware.localProviderRoots(seed) })
    let appProvider: KeyProvider = local
    const provider: KeyProvider = {
      get info() {
        return appProvider.info
      },
      appKeys: (request: AppKeysRequest) => appProvider.appKeys(request),
      signCertificate: (request: CertificateRequest) => appProvider.signCertificate(request),
      envPublicKey: async (appId: Uint8Array) => {
        if (!appProvider.envPublicKey) throw new Error('the key provider publishes no env keys')
        return appProvider.envPublicKey(appId)
      },
    }
    let hostUrl = ''
    let kmsRoot: Address | undefined
    const host = createHost({ dir, rpcUrl: anvil.rpcUrl, keyProvider: provider, pki, hostUrl: () => hostUrl })
    hostRef = host

    const server = await startHostServer(host, {
      info: () => ({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, contracts, kmsUrls: kms.map((n) => n.url) }),
      approveApp: async (compose, salt) => approveApp({ compose, ...(salt ? { salt } : {}) }),
    })
    hostUrl = server.url
    const tHost = performance.now()
    options.onStep?.({ name: 'host', detail: `the simulated TDX host at ${server.url}`, ms: tHost - t2 })

    // KMS nodes: `kms-node` processes, each in its own CVM with the local key provider (as dstack runs
    // its KMS); the sealing key comes from that CVM's TEE. Node 0 generates (or unseals) the roots;
    // governance approves the KMS measurement on-chain, then the others onboard from node 0.
    const kms: DevnetKmsNode[] = []
    // The KMS's code is the @regent-tee/kms package with its dependencies, pinned in the KMS compose by digest: its
    // measurement (and the sealing key the local key provider derives from it) covers every byte the node runs.
    const kmsPackage = dirname(createRequire(import.meta.url).resolve('@regent-tee/kms/package.json'))
    const kmsBundle = await host.bundles.assemble({ dir: kmsPackage, files: ['package.json', 'dist', 'bin'] })
    const kmsComposeBytes = kmsCompose(kmsBundle.digest)
    await mkdir(join(dir, 'kms'), { recursive: true, mode: 0o700 })
    for (let i = 0; i < kmsNodes; i++) {
      if (i === 1) {
        const probe = await createCvm({ compose: kmsComposeBytes, qe: host.qe, keyProvider: local })
        await approveKmsMeasurement({ attest: (reportData) => probe.quote({ reportData }) })
      }
      const configPath = join(dir, 'kms', `node-${i}.json`)
      const config = {
        appAuth,
        dstackKms,
        trustedRootsPem: [host.pki.root.certificate.pem],
        collateralUrl: `${server.url}/v1/collateral`,
        nodeId: `node-${i}`,
        ...(i > 0 && kms[0] ? { join: kms[0].url } : {}),
      }
      await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`)
      const record = await host.launch({
        compose: kmsComposeBytes,
        entry: 'bin/kms-node.mjs',
        keyProvider: local,
        env: { REGENT_KMS_CONFIG: configPath, REGENT_KMS_DATA: join(dir, 'kms', `node-${i}`) },
      })
      const line = await host.waitForLine(record.cvmId, (l) => l.startsWith('{'), { timeoutMs: 60_000 })
      const ready = JSON.parse(line) as { ready: boolean; error?: string } & Omit<DevnetKmsNode, 'cvmId'>
      if (!ready.ready) throw new Error(`KMS node ${i} did not start: ${ready.error ?? 'unknown'}`)
      kms.push({ cvmId: record.cvmId, url: ready.url, address: ready.address, k256PublicKey: ready.k256PublicKey, origin: ready.origin })
    }
    kmsRoot = kms[0]?.address
    if (kms[0]) appProvider = await createKmsKeyProvider({ url: kms[0].url, certificates: local })
    const phala = await Phala.startPhala({
      dir,
      host,
      seed,
      pki,
      client,
      chainId: anvil.chainId,
      rpcUrl: anvil.rpcUrl,
      governance,
      dstackKms,
      kmsNode: kms[0],
    })
    phalaRef = phala
    const t3 = performance.now()
    options.onStep?.({
      name: 'kms',
      detail: kmsNodes === 0 ? 'no KMS (the local-devnet key provider)' : `${kmsNodes} KMS node${kmsNodes === 1 ? '' : 's'} in CVMs`,
      ms: t3 - tHost,
    })
    // dstack-vmm's API on its own port (VmmApi.ts): what `regent deploy --target dstack` drives.
    const vmmToken = randomBytes(24).toString('hex')
    const vmm = await startVmmApi({
      host,
      keyProvider: provider,
      resolveImage: bundleStoreResolver(host.bundles),
      token: vmmToken,
      kmsUrls: kms.map((n) => n.url),
    })

    async function approveKmsMeasurement({ attest }: { attest: (rd: Uint8Array) => { quote: Uint8Array; eventLog: string } }) {
      const sample = attest(new Uint8Array(64))
      const verdict = await verifyQuote(sample.quote, { collateral: host.collateral, now: new Date(), trustedRoots: [host.trustedRoot] })
      const { mrAggregated } = KeyRelease.bootMeasurements({
        measurements: verdict.measurements as TdxMeasurements,
        eventLog: sample.eventLog,
      })
      const mr = `0x${mrAggregated}` as Hex
      const { osImageHash: image, measurements } = DevnetTd.published(DevnetTd.defaultImage)
      const read = (functionName: 'isKmsMeasurementApproved' | 'isKmsOsImageApproved', arg: Hex) =>
        client.readContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args: [arg] })
      if (!(await read('isKmsMeasurementApproved', mr)))
        await send(governance.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'addKmsMeasurement', args: [mr] }))
      if (!(await read('isKmsOsImageApproved', image)))
        await send(
          governance.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'addKmsOsImage', args: [image, measurements] }),
        )
    }

    async function approveApp({ compose, salt }: { compose: Uint8Array; salt?: Hex }) {
      const composeHash = toHex(createHash('sha256').update(compose).digest())
      const appSalt = salt ?? keccak256(composeNameOf(compose))
      const owner = developer.account.address
      const appId = await client.readContract({
        address: appAuth,
        abi: regentAppAuthAbi,
        functionName: 'computeAppId',
        args: [owner, appSalt],
      })
      const read = <
        const F extends 'isRegistered' | 'isComposeHashApproved' | 'isOsImageApproved' | 'isKmsRootAllowed' | 'isEnrollmentOpen',
      >(
        functionName: F,
        args: readonly unknown[],
      ) => client.readContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args } as never) as Promise<boolean>
      const write = (functionName: string, args: readonly unknown[]) =>
        send(developer.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args } as never))
      if (!(await read('isRegistered', [appId]))) await write('registerApp', [appSalt, 0n])
      const composeActive = await read('isComposeHashApproved', [appId, composeHash])
      if (!composeActive) await write('addComposeHash', [appId, composeHash]).catch(() => undefined) // pending → already listed
      const { osImageHash: image, measurements } = DevnetTd.published(DevnetTd.defaultImage)
      if (!(await read('isOsImageApproved', [appId, image]))) await write('addOsImage', [appId, image, measurements]).catch(() => undefined)
      if (!(await read('isEnrollmentOpen', [appId]))) await write('setOpenEnrollment', [appId, true])
      if (kmsRoot && !(await read('isKmsRootAllowed', [appId, kmsRoot]))) await write('addKmsRoot', [appId, kmsRoot]).catch(() => undefined)
      return { appId, composeHash }
    }

    const file: DevnetFile.DevnetFile = {
      version: 1,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      contracts,
      kmsUrls: kms.map((n) => n.url),
      keyProvider: { name: provider.info.name, id: Buffer.from(provider.info.id).toString('hex') },
      ...(kmsRoot ? { kmsRoot } : {}),
      hostUrl: server.url,
      rootCa: host.pki.root.certificate.pem,
      collateralUrl: `${server.url}/v1/collateral`,
      vmmUrl: vmm.url,
      vmmToken,
      phalaApiUrl: phala.server.url,
      phalaApiKey: phala.server.apiKey,
      dstackKms,
    }
    await DevnetFile.write(dir, file)
    let stopping: Promise<void> | undefined
    return {
      file,
      host,
      anvil,
      server,
      kms,
      phala,
      approveApp,
      timings: { anvil: t1 - t0, contracts: t2 - t1, host: tHost - t2, kms: t3 - tHost },
      stop() {
        stopping ??= (async () => {
          await phala.close()
          await host.close()
          await vmm.close()
          await server.close()
          await anvil.stop()
        })()
        return stopping
      },
    }
  } catch (error) {
    await phalaRef?.close().catch(() => undefined)
    await hostRef?.close().catch(() => undefined)
    await anvil.stop()
    throw error
  }
}

/** The `name` of an app-compose.json (the default app salt: one app per name per developer). */
function composeNameOf(compose: Uint8Array): Hex {
  let name = 'app'
  try {
    const parsed = JSON.parse(new TextDecoder().decode(compose)) as { name?: unknown }
    if (typeof parsed.name === 'string' && parsed.name.length > 0) name = parsed.name
  } catch {}
  return toHex(new TextEncoder().encode(`regent-devnet/v1/app/${name}`))
}
