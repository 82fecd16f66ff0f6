/**
 * `regent deploy --target dstack` (docs/targets/dstack.md): the deploy's five steps on a self-hosted dstack host
 * through the dstack provider (providers/dstack.ts), on the devnet chain or a chain of regent.json "networks".
 *
 * 1. build — the deterministic bundle and app-compose.json (as for `local`), then the image the compose pins:
 *    on the devnet's VMM the bundle is pushed to the devnet bundle store (`<devnet dir>/bundles/<hex>/`, the stand-in
 *    for a registry) under the digest the compose already pins; on a real host a Docker image is built with the
 *    project's Dockerfile, pushed to `dstack.registry`, and its digest pinned instead (`docker.unavailable` here).
 * 2. contracts — register the app and approve the compose hash, the host's OS image and (when known) the KMS root in
 *    the chain's RegentAppAuth, with REGENT_DEPLOYER_KEY on a real chain.
 * 3. tee — CreateVm through the VMM with the exact compose, the RegentAppAuth app id and the env encrypted to the
 *    app's env key (REGENT_CHAIN_ID, REGENT_CONTRACTS, REGENT_AGENT_NAME, REGENT_RPC_URL).
 * 4. wallet — wait for the agent's /health at the VM's public URL, read /identity and verify the key provenance.
 * 5. erc-8004 — the agent is canonical in RegentSuccession with this instance; the previous VM of the project (same
 *    chain: chain id, RegentAppAuth and block hash) is stopped.
 */
import { execFile } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { type DevnetFile, DevnetTd, status as devnetStatus } from '@regent-tee/devnet'
import type { IdentityBundle } from '@regent-tee/sdk'
import type { RegentContracts } from '@regent-tee/sdk/chain'
import type { ListrTask } from 'listr2'
import type { Address, Hex } from 'viem'
import type { CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import { progress } from '../progress.js'
import * as Admin from '../project/Admin.js'
import * as AppAuth from '../project/AppAuth.js'
import * as Build from '../project/Build.js'
import type * as Config from '../project/Config.js'
import { agentError } from '../project/CrashOutput.js'
import * as Network from '../project/Network.js'
import { keyProvenance } from '../project/Provenance.js'
import * as Record from '../project/Record.js'
import { devnetStorePusher, dstack, vmInfo } from '../providers/dstack.js'
import type { Provider } from '../providers/Provider.js'

const docs = 'docs/targets/dstack.md'
const bootTimeoutMs = 120_000

/** `regent.json` "dstack" (all optional): the host's facts the deploy cannot learn from the VMM safely. */
export type DstackSettings = {
  vmmUrl?: string
  /** The dstack guest OS image hash the host boots (approved in RegentAppAuth). */
  osImageHash?: Hex
  /**
   * That image's expected measurements, one per VM shape: MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 (192 bytes hex each), as
   * dstack-mr computes them from the image release; approved with it, compared with every quote (docs/kms.md).
   */
  osImageMeasurements?: Hex[]
  /** Address of the dstack KMS root key the app trusts (approved in RegentAppAuth; the env key must be signed by it). */
  kmsRoot?: Address
  /** Registry the real-host image is pushed to, e.g. `ghcr.io/me`. */
  registry?: string
  /** Guest image name (ListImages). */
  image?: string
  vcpu?: number
  memory?: number
  diskSize?: number
  vmPort?: number
}

/** The chain a deploy writes to: a regent.json network, or the devnet's chain. */
type ChainTarget = {
  label: string
  chainId: number
  rpcUrl: string
  contracts: Record<string, Address>
  appAuth: Address
  /** Identifies the chain with chainId and appAuth (deployment block hash; genesis hash on a devnet). */
  blockHash: Hex
  clients: AppAuth.Clients
  devnet: boolean
}

export type DstackDeployOutput = {
  target: 'dstack'
  name: string
  network: string
  chainId: number
  agentId: string
  agentRegistry: string
  wallet: string
  appId: string
  composeHash: string
  image: string
  vmId: string
  instanceId: string
  url: string
  epoch: string
  keyProvenance: { path: string; kmsRoot: string | null; verified: boolean }
  upgrade: boolean
  previous: { vmId: string; stopped: boolean } | null
  record: string
}

type Ctx = {
  build?: Build.Build
  image?: string
  approval?: AppAuth.Approval
  vm?: { id: string; url: string; instanceId: string }
  health?: { agentId: string; wallet: string }
  identity?: IdentityBundle
  provenance?: { kmsRoot: string | null; verified: boolean }
  epoch?: bigint
  stopped?: boolean
}

/** Reads `regent.json` "dstack". @throws {UsageError} `config.invalid` naming the field. */
export async function settings(dir: string): Promise<DstackSettings> {
  const text = await readFile(join(dir, 'regent.json'), 'utf8').catch(() => '{}')
  let raw: unknown
  try {
    raw = (JSON.parse(text) as { dstack?: unknown }).dstack ?? {}
  } catch {
    return {}
  }
  const invalid = (field: string, message: string) =>
    new UsageError('config.invalid', `invalid regent.json: "dstack.${field}" ${message}`, { docs })
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UsageError('config.invalid', 'invalid regent.json: "dstack" must be an object', { docs })
  const o = raw as Record<string, unknown>
  if (o.vmmUrl !== undefined && (typeof o.vmmUrl !== 'string' || !/^https?:\/\//.test(o.vmmUrl)))
    throw invalid('vmmUrl', 'must be an http(s) URL')
  if (o.osImageHash !== undefined && (typeof o.osImageHash !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(o.osImageHash)))
    throw invalid('osImageHash', 'must be 0x + 32 bytes hex')
  if (
    o.osImageMeasurements !== undefined &&
    (!Array.isArray(o.osImageMeasurements) ||
      o.osImageMeasurements.length === 0 ||
      o.osImageMeasurements.some((m) => typeof m !== 'string' || !/^0x[0-9a-fA-F]{384}$/.test(m)))
  )
    throw invalid('osImageMeasurements', 'must be a non-empty list of 0x + 192 bytes hex (MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 per VM shape)')
  if (o.kmsRoot !== undefined && (typeof o.kmsRoot !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(o.kmsRoot)))
    throw invalid('kmsRoot', 'must be an address')
  for (const k of ['vcpu', 'memory', 'diskSize', 'vmPort'] as const)
    if (o[k] !== undefined && (typeof o[k] !== 'number' || !Number.isSafeInteger(o[k]) || (o[k] as number) < 1))
      throw invalid(k, 'must be a positive whole number')
  for (const k of ['registry', 'image'] as const) if (o[k] !== undefined && typeof o[k] !== 'string') throw invalid(k, 'must be a string')
  return o as DstackSettings
}

/** Where a dstack deploy or uplift goes: the VMM, the chain, the OS image the host boots, the KMS root. */
type HostContext = {
  host: DstackSettings
  devnetDir: string
  devnetFile: DevnetFile.DevnetFile | undefined
  vmmUrl: string
  onDevnetVmm: boolean
  target: ChainTarget
  osImageHash: Hex
  osImageMeasurements: readonly Hex[]
  kmsRoot: Address | undefined
  /** The dstack provider for this VMM (token from REGENT_DSTACK_TOKEN, else the devnet's own VMM's). */
  provider: ReturnType<typeof dstack>
}

/**
 * Resolves the flags, regent.json "dstack" and the devnet into a HostContext.
 *
 * @throws {UsageError} no VMM URL; no OS image measurements for a real host; no chain.
 */
async function hostContext(input: CommandInput, config: Config.Config, dir: string): Promise<HostContext> {
  const host = await settings(dir)
  const devnetDir = typeof input.flags.devnetDir === 'string' ? input.flags.devnetDir : '.regent'
  const devnetFile = await devnetStatus({ dir: devnetDir }).then(
    (s) => (s.running ? s.file : undefined),
    () => undefined,
  )
  const vmmUrl = (typeof input.flags.vmmUrl === 'string' ? input.flags.vmmUrl : undefined) ?? host.vmmUrl ?? devnetFile?.vmmUrl
  if (!vmmUrl || !/^https?:\/\/\S+$/.test(vmmUrl))
    throw new UsageError(
      'usage',
      '--target dstack needs --vmm-url <dstack-vmm URL> (or regent.json "dstack.vmmUrl", or a running devnet)',
      { docs },
    )
  const onDevnetVmm = devnetFile?.vmmUrl !== undefined && new URL(devnetFile.vmmUrl).origin === new URL(vmmUrl).origin
  const target = await chainTarget(input, dir, devnetFile)
  // The OS image the host boots, as expected measurements: the devnet's publishes them; a real host's come from its
  // dstack OS release (dstack-mr), never from the host itself.
  const devnetImage = onDevnetVmm ? DevnetTd.published(DevnetTd.defaultImage) : undefined
  const osImageHash = host.osImageHash ?? devnetImage?.osImageHash
  const osImageMeasurements = host.osImageMeasurements ?? devnetImage?.measurements
  if (!osImageHash || !osImageMeasurements)
    throw new UsageError(
      'config.invalid',
      'regent.json "dstack.osImageHash" and "dstack.osImageMeasurements" are required for a real dstack host: the guest OS image it boots',
      {
        hint: 'read them from your dstack OS release (its os_image_hash, and dstack-mr for MRTD/RTMR0–2 per VM shape) — never from the host itself',
        docs,
      },
    )
  const kmsRoot = host.kmsRoot ?? (onDevnetVmm && target.devnet ? devnetFile?.kmsRoot : undefined)
  const provider = dstack({
    vmmUrl,
    token: process.env.REGENT_DSTACK_TOKEN || (onDevnetVmm ? devnetFile?.vmmToken : undefined),
    image: host.image,
    vcpu: host.vcpu,
    memory: host.memory,
    diskSize: host.diskSize,
    vmPort: host.vmPort,
    kmsRoot,
    name: config.name,
  })
  return { host, devnetDir, devnetFile, vmmUrl, onDevnetVmm, target, osImageHash, osImageMeasurements, kmsRoot, provider }
}

/** Deploys the project in `dir` to a dstack host. */
export async function run(input: CommandInput, config: Config.Config, dir: string): Promise<CommandResult<DstackDeployOutput>> {
  const json = input.flags.json === true
  const { host, devnetDir, devnetFile, vmmUrl, onDevnetVmm, target, osImageHash, osImageMeasurements, kmsRoot, provider } =
    await hostContext(input, config, dir)
  const timelockFlag = input.flags.timelock
  if (timelockFlag !== undefined && (typeof timelockFlag !== 'string' || !/^\d{1,10}$/.test(timelockFlag)))
    throw new UsageError('usage', '--timelock takes a whole number of seconds', { docs })
  const timelock = timelockFlag === undefined ? config.local.timelock : Number(timelockFlag)
  const previousRecord = await Record.read(dir)
  const previous =
    previousRecord &&
    previousRecord.target === 'dstack' &&
    previousRecord.chainId === target.chainId &&
    previousRecord.appAuth.toLowerCase() === target.appAuth.toLowerCase() &&
    previousRecord.chainBlockHash === target.blockHash
      ? previousRecord
      : undefined

  const tasks: ListrTask<Ctx>[] = [
    {
      title: 'build: deterministic bundle and app-compose.json, image pinned by digest',
      task: async (ctx, task) => {
        // The agent's security settings are measured in its compose: its operator, this chain and its contracts, and
        // (on the devnet's VMM only) the devnet's root of trust. Nothing of that travels in the host-set environment.
        const operator = Admin.operatorAddress()
        ctx.build = await Build.build(dir, config, {
          settings: {
            v: 1,
            ...(operator ? { operator } : {}),
            chainId: target.chainId,
            contracts: target.contracts as unknown as RegentContracts,
            ...(onDevnetVmm && devnetFile ? { trustedRoots: [devnetFile.rootCa] } : {}),
          },
        })
        const b = ctx.build
        if (onDevnetVmm && devnetFile) {
          await devnetStorePusher(devnetDir)({ bundle: b.bundleDir, digest: b.bundleDigest })
          ctx.image = `${config.name}@${b.bundleDigest}`
        } else ctx.image = await buildAndPushImage(dir, config, host, b)
        task.title = `build: bundle ${b.bundleDigest} pushed to ${onDevnetVmm ? 'the devnet bundle store' : host.registry}, compose hash ${b.composeHash}`
      },
    },
    {
      title: `contracts: register the app and approve its compose hash in RegentAppAuth (${target.label})`,
      task: async (ctx, task) => {
        const b = need(ctx.build)
        ctx.approval = await AppAuth.approve(target.clients, {
          appAuth: target.appAuth,
          name: config.name,
          composeHash: b.composeHash,
          osImageHash,
          osImageMeasurements,
          kmsRoot,
          timelock,
          setTimelock: timelockFlag !== undefined,
          waitTimelock: input.flags.waitTimelock === true,
        })
        const a = ctx.approval
        task.title = `contracts: app ${a.appId} ${a.registered ? 'registered' : 'found'} on chain ${target.chainId} (timelock ${a.timelock} s); compose hash ${a.added.includes('composeHash') ? 'approved' : 'already approved'}`
      },
    },
    {
      title: `tee: CreateVm on the dstack VMM at ${new URL(vmmUrl).origin}`,
      task: async (ctx, task) => {
        const b = need(ctx.build)
        const launched = await provider.launch({
          compose: b.compose,
          bundle: b.bundleDir,
          appId: need(ctx.approval).appId,
          // Host settings (encrypted to the app's env key, kept only when the compose allows them).
          env: {
            REGENT_AGENT_NAME: config.name,
            REGENT_RPC_URL: target.rpcUrl,
            ...(devnetFile ? { REGENT_COLLATERAL_URL: devnetFile.collateralUrl } : {}),
          },
        })
        const info = await vmInfo(provider.client, launched.id)
        ctx.vm = { id: launched.id, url: launched.url, instanceId: info?.instance_id ?? '' }
        task.title = `tee: VM ${launched.id} booted (env encrypted to the app key ${provider.lastEnvKey?.publicKey.slice(0, 16)}…), agent at ${launched.url}`
      },
    },
    {
      title: 'wallet: wait for the agent and read its key provenance',
      task: async (ctx, task) => {
        const vm = need(ctx.vm)
        ctx.health = await waitForHealth(provider, vm.id, vm.url)
        const k = await keyProvenance(vm.url, { appId: need(ctx.approval).appId, wallet: ctx.health.wallet, docs })
        ctx.identity = k.identity
        ctx.provenance = { kmsRoot: k.kmsRoot, verified: k.verified }
        task.title = `wallet: ${ctx.health.wallet} (${k.path}${k.verified ? '' : ', NOT verified'})`
      },
    },
    {
      title: 'erc-8004: registered and canonical in RegentSuccession',
      task: async (ctx, task) => {
        const health = need(ctx.health)
        const { readCanonical } = await import('@regent-tee/sdk/chain')
        const agentId = BigInt(health.agentId)
        const snapshot = await readCanonical(target.clients.publicClient, { contracts: target.contracts as never, agentId })
        if (
          snapshot.epoch === 0n ||
          snapshot.instance.signer.toLowerCase() !== health.wallet.toLowerCase() ||
          snapshot.instance.composeHash.toLowerCase() !== need(ctx.build).composeHash
        )
          throw new CliError('agent.not_canonical', `agent ${agentId} is not canonical with this instance in RegentSuccession`, {
            hint: `see the agent's output (dstack-vmm logs of VM ${need(ctx.vm).id})`,
            docs,
          })
        ctx.epoch = snapshot.epoch
        const old = previous?.vmId
        if (old && old !== need(ctx.vm).id) {
          const info = await vmInfo(provider.client, old).catch(() => undefined)
          if (info?.status === 'running') {
            await provider.stop(old)
            ctx.stopped = true
          } else ctx.stopped = false
        }
        task.title = `erc-8004: agent ${agentId} in eip155:${target.chainId}:${target.contracts.identityRegistry}, canonical at epoch ${snapshot.epoch}${ctx.stopped ? `; previous VM ${old} stopped` : ''}`
      },
    },
  ]
  const ctx = await progress(tasks, json).run({})

  const b = need(ctx.build)
  const a = need(ctx.approval)
  const vm = need(ctx.vm)
  const health = need(ctx.health)
  const record = {
    version: 1 as const,
    target: 'dstack' as const,
    name: config.name,
    chainId: target.chainId,
    chainBlockHash: target.blockHash,
    identityRegistry: target.contracts.identityRegistry as string,
    appAuth: target.appAuth,
    appId: a.appId,
    agentId: health.agentId,
    agentRegistry: `eip155:${target.chainId}:${target.contracts.identityRegistry}`,
    wallet: health.wallet,
    composeHash: b.composeHash,
    bundleDigest: b.bundleDigest,
    cvmId: vm.id,
    vmId: vm.id,
    vmmUrl: new URL(vmmUrl).origin,
    instanceId: vm.instanceId,
    url: vm.url,
    deployedAt: new Date().toISOString(),
  }
  await Record.write(dir, record)
  const shown = relative(process.cwd(), Record.path(dir))
  return {
    ok: true,
    data: {
      target: 'dstack',
      name: config.name,
      network: target.label,
      chainId: target.chainId,
      agentId: record.agentId,
      agentRegistry: record.agentRegistry,
      wallet: record.wallet,
      appId: record.appId,
      composeHash: record.composeHash,
      image: need(ctx.image),
      vmId: vm.id,
      instanceId: vm.instanceId,
      url: vm.url,
      epoch: String(ctx.epoch ?? 0n),
      keyProvenance: { path: need(ctx.identity).keyProvenance?.path ?? '', ...need(ctx.provenance) },
      upgrade: previous !== undefined,
      previous: previous ? { vmId: previous.vmId ?? previous.cvmId, stopped: ctx.stopped === true } : null,
      record: shown.startsWith('..') ? Record.path(dir) : shown,
    },
  }
}

export function render(result: CommandResult): string {
  const d = result.data as DstackDeployOutput
  const rows: [string, string][] = [
    ['agentId', d.agentId],
    ['agentRegistry', d.agentRegistry],
    ['wallet', `${d.wallet}  (${d.keyProvenance.path})`],
    ['appId', d.appId],
    ['composeHash', d.composeHash],
    ['image', d.image],
    ['vmId', d.vmId],
    ['epoch', d.epoch],
    ['url', d.url],
  ]
  return [
    `✓ ${d.name} deployed to dstack on ${d.network} (chain ${d.chainId})${d.upgrade ? ' (upgraded in place: same app id, same wallet)' : ''}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(14)} ${v}`),
    ...(d.previous ? [`  previous VM ${d.previous.vmId} ${d.previous.stopped ? 'stopped' : 'was not running'}`] : []),
    `  recorded in ${d.record}`,
  ].join('\n')
}

/** The chain of `--network <name>`, else the running devnet's. */
async function chainTarget(input: CommandInput, dir: string, devnetFile: DevnetFile.DevnetFile | undefined): Promise<ChainTarget> {
  const name = typeof input.flags.network === 'string' ? input.flags.network : undefined
  if (name) {
    const connected = await Network.connect(dir, name)
    const wallet = Network.deployer(connected.chain, connected.network.rpcUrl)
    return {
      label: name,
      chainId: connected.network.chainId,
      rpcUrl: connected.network.rpcUrl,
      contracts: Network.contractsOf(connected.deployment),
      appAuth: connected.deployment.contracts.appAuth,
      blockHash: connected.deployment.deploymentBlockHash,
      clients: { publicClient: connected.publicClient, wallet },
      devnet: false,
    }
  }
  if (!devnetFile)
    throw new UsageError('usage', '--target dstack needs --network <name> (regent.json "networks"), or a running devnet for its chain', {
      docs,
    })
  const clients = AppAuth.clients(devnetFile)
  const genesis = await clients.publicClient.getBlock({ blockNumber: 0n })
  return {
    label: 'devnet',
    chainId: devnetFile.chainId,
    rpcUrl: devnetFile.rpcUrl,
    contracts: devnetFile.contracts,
    appAuth: devnetFile.contracts.appAuth,
    blockHash: genesis.hash,
    clients,
    devnet: true,
  }
}

/** A real host pulls from a registry: build with the project's Dockerfile, push, and pin the pushed digest. */
async function buildAndPushImage(dir: string, config: Config.Config, host: DstackSettings, build: Build.Build): Promise<string> {
  const docker = (args: string[], timeout: number) =>
    new Promise<{ ok: boolean; stdout: string; stderr: string }>((done) =>
      execFile('docker', args, { timeout, maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
        done({ ok: !error, stdout: String(stdout), stderr: String(stderr) }),
      ),
    )
  if (!host.registry)
    throw new UsageError('config.invalid', 'regent.json "dstack.registry" is required to push the image a real dstack host pulls', { docs })
  if (!(await docker(['info', '--format', '{{.ServerVersion}}'], 15_000)).ok)
    throw new CliError(
      'docker.unavailable',
      '--target dstack builds and pushes a linux/amd64 image with Docker, but no Docker engine answers (`docker info` failed)',
      {
        hint: 'install and start Docker with buildx, log in to the registry, and run the deploy again',
        docs,
      },
    )
  const dockerfile = join(dir, 'Dockerfile')
  if (!(await stat(dockerfile).catch(() => undefined)))
    throw new UsageError('build.no_dockerfile', '--target dstack needs a Dockerfile in the project', { docs })
  const ref = `${host.registry.replace(/\/+$/, '')}/${config.name}`
  const tag = `${ref}:${build.bundleDigest.slice(7, 23)}`
  const built = await docker(
    ['buildx', 'build', '--platform', 'linux/amd64', '--push', '--tag', tag, '--file', dockerfile, build.bundleDir],
    30 * 60_000,
  )
  if (!built.ok)
    throw new CliError('docker.build_failed', `docker buildx build --push failed: ${built.stderr.trim().split('\n').at(-1) ?? ''}`, {
      docs,
    })
  const inspected = await docker(['buildx', 'imagetools', 'inspect', tag, '--format', '{{json .Manifest.Digest}}'], 120_000)
  const digest = /sha256:[0-9a-f]{64}/.exec(inspected.stdout)?.[0]
  if (!digest) throw new CliError('docker.push_failed', `cannot read the pushed digest of ${tag}`, { docs })
  // The compose pins the pushed image instead of the bundle digest.
  const text = new TextDecoder().decode(build.compose).replace(`${config.name}@${build.bundleDigest}`, `${ref}@${digest}`)
  build.compose = new TextEncoder().encode(text)
  const { createHash } = await import('node:crypto')
  build.composeHash = `0x${createHash('sha256').update(build.compose).digest('hex')}`
  return `${ref}@${digest}`
}

/** Polls (bounded) until the agent answers /health; fails early when its VM stops. */
async function waitForHealth(provider: ReturnType<typeof dstack>, vmId: string, url: string): Promise<{ agentId: string; wallet: string }> {
  const deadline = Date.now() + bootTimeoutMs
  for (;;) {
    const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => (r.ok ? (r.json() as Promise<{ agentId?: unknown; wallet?: unknown }>) : undefined),
      () => undefined,
    )
    if (health && typeof health.agentId === 'string' && typeof health.wallet === 'string')
      return { agentId: health.agentId, wallet: health.wallet }
    const info = await vmInfo(provider.client, vmId)
    if (info?.status !== 'running' || Date.now() > deadline) {
      const tail = agentError(await provider.logs(vmId, 40).catch(() => ''))
      throw new CliError(
        'agent.boot_failed',
        info?.status === 'running'
          ? `the agent in VM ${vmId} did not answer /health within ${bootTimeoutMs / 1000} s`
          : `the agent in VM ${vmId} is ${info?.status ?? 'gone'} before serving${tail ? `: ${tail}` : ''}`,
        { hint: `see its output: dstack-vmm logs of VM ${vmId}`, docs },
      )
    }
    await new Promise((r) => setTimeout(r, 250))
  }
}

function _toHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes).toString('hex')}`
}

function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('a deploy step ran before the step it depends on')
  return value
}

/**
 * The target of `regent uplift --agent <url> --target dstack --dir <project> [--network <name>]`: the project's agent,
 * built with the running agent's measured settings (so the same compose hash as a deploy), approved in the app's
 * RegentAppAuth entry (idempotent), and launched on the dstack VMM in the target role.
 */
export type ProjectTarget = {
  readonly label: string
  readonly chainId: number
  readonly contracts: RegentContracts
  readonly publicClient: AppAuth.Clients['publicClient']
  readonly provider: Provider
  /** Builds the target with `operator` in its settings and approves its compose hash (and OS image, KMS root). */
  approve(operator: Address): Promise<{ appId: Hex; composeHash: Hex; added: string[] }>
  /** Launches the approved build in the target role. */
  launch(appId: Hex): Promise<{ id: string; url: string; provider: string }>
}

/**
 * The project target of an uplift to dstack.
 *
 * @throws {UsageError} as `regent deploy --target dstack` (no VMM URL, no OS image measurements for a real host, no
 *   chain); {CliError} `chain.mismatch` for a network whose deployment is not on its chain.
 */
export async function projectTarget(input: CommandInput, config: Config.Config, dir: string): Promise<ProjectTarget> {
  const { host, devnetDir, devnetFile, onDevnetVmm, target, osImageHash, osImageMeasurements, kmsRoot, provider } = await hostContext(
    input,
    config,
    dir,
  )
  let built: Build.Build | undefined
  return {
    label: target.label,
    chainId: target.chainId,
    contracts: target.contracts as unknown as RegentContracts,
    publicClient: target.clients.publicClient,
    provider,
    async approve(operator) {
      built = await Build.build(dir, config, {
        settings: {
          v: 1,
          operator,
          chainId: target.chainId,
          contracts: target.contracts as unknown as RegentContracts,
          ...(onDevnetVmm && devnetFile ? { trustedRoots: [devnetFile.rootCa] } : {}),
        },
      })
      // The host pulls what the compose pins: the devnet's VMM from its bundle store, a real host from the registry.
      if (onDevnetVmm && devnetFile) await devnetStorePusher(devnetDir)({ bundle: built.bundleDir, digest: built.bundleDigest })
      else await buildAndPushImage(dir, config, host, built)
      const a = await AppAuth.approve(target.clients, {
        appAuth: target.appAuth,
        name: config.name,
        composeHash: built.composeHash,
        osImageHash,
        osImageMeasurements,
        kmsRoot,
        timelock: config.local.timelock,
        setTimelock: false,
        waitTimelock: false,
      })
      return { appId: a.appId, composeHash: built.composeHash as Hex, added: [...a.added] }
    },
    async launch(appId) {
      const b = need(built)
      return provider.launch({
        compose: b.compose,
        bundle: b.bundleDir,
        appId,
        env: {
          REGENT_AGENT_NAME: config.name,
          REGENT_RPC_URL: target.rpcUrl,
          REGENT_UPLIFT_ROLE: 'target',
          ...(devnetFile ? { REGENT_COLLATERAL_URL: devnetFile.collateralUrl } : {}),
        },
      })
    },
  }
}
