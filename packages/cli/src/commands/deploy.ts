/**
 * `regent deploy`: build → approve on-chain → launch the CVM → wallet → ERC-8004 (docs/cli/deploy.md,
 * DESIGN.md §11). The on-chain approval comes before the CVM because the KMS gives keys only to an app
 * whose compose hash is approved and active. A rerun upgrades in place: same app id (salt = project
 * name), same wallet (same app → same KMS keys), the new instance takes over, the old CVM is stopped.
 */
import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { type CvmRecord, type DevnetFile, DevnetTd, status as devnetStatus } from '@regent-tee/devnet'
import type { IdentityBundle } from '@regent-tee/sdk'
import type { ListrTask } from 'listr2'
import type { Hex, LocalAccount } from 'viem'
import type { CommandInput, CommandResult } from '../command.js'
import { CliError, toCliError, UsageError } from '../errors.js'
import { progress } from '../progress.js'
import * as Admin from '../project/Admin.js'
import { findProject } from '../project/Agents.js'
import * as AppAuth from '../project/AppAuth.js'
import * as Build from '../project/Build.js'
import * as Config from '../project/Config.js'
import { agentError } from '../project/CrashOutput.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'
import * as Failover from '../project/Failover.js'
import * as Host from '../project/Host.js'
import * as Preflight from '../project/Preflight.js'
import { keyProvenance } from '../project/Provenance.js'
import * as Record from '../project/Record.js'
import { devnet as devnetProvider } from '../providers/devnet.js'
import { type PhalaDeployOutput, renderPhala } from '../providers/phalaDeploy.js'
import type { ProjectTarget } from './deployDstack.js'
import * as DeployDstack from './deployDstack.js'

const docs = 'docs/cli/deploy.md'
/** How long the agent may take to boot, register and become canonical. */
const bootTimeoutMs = 120_000

export type Change = { field: 'composeHash' | 'bundleDigest' | 'wallet' | 'agentId'; from: string; to: string }

export type DeployOutput = {
  target: 'local'
  name: string
  agentId: string
  agentRegistry: string
  wallet: string
  appId: string
  composeHash: string
  bundleDigest: string
  cvmId: string
  instanceId: string
  url: string
  epoch: string
  owner: string
  timelock: number
  keyProvenance: { path: string; kmsRoot: string | null; verified: boolean }
  /** true when this run replaced a previous deployment of the project on the same chain. */
  upgrade: boolean
  /** What differs from the previous deployment (empty on a first deploy). */
  changed: Change[]
  previous: { cvmId: string; stopped: boolean } | null
  record: string
  /** `--standbys N`: the lease set on the new instance and the standbys attached to it (null without it). */
  failover: DeployFailover | null
}

/** The failover `regent deploy --standbys N` set up. */
export type DeployFailover = {
  lease: Failover.Lease
  epoch: string
  standbys: { url: string; cvmId: string; state: Failover.Standby['state']; instanceId: string | null; acked: number }[]
}

type Context = {
  build?: Build.Build
  approval?: AppAuth.Approval
  cvm?: CvmRecord
  health?: { agentId: string; wallet: string }
  identity?: IdentityBundle
  provenance?: { kmsRoot: string | null; verified: boolean }
  epoch?: bigint
  stopped?: boolean
}

/** Deploys the project in `--dir` (default: the current directory) to `--target`. */
export async function run(input: CommandInput): Promise<CommandResult<DeployOutput | DeployDstack.DstackDeployOutput | PhalaDeployOutput>> {
  // The project: --dir, else the nearest regent.json from the current directory up (as git finds its repository).
  const dir = findProject(input.flags.dir) ?? resolve('.')
  const config = await Config.load(dir)
  const target = (typeof input.flags.target === 'string' ? input.flags.target : config.target) as Config.Target
  const timelockFlag = input.flags.timelock
  if (timelockFlag !== undefined && (typeof timelockFlag !== 'string' || !/^\d{1,10}$/.test(timelockFlag)))
    throw new UsageError('usage', '--timelock takes a whole number of seconds', { docs })
  const timelock = timelockFlag === undefined ? config.local.timelock : Number(timelockFlag)
  const json = input.flags.json === true
  const standbys = standbyFlags(input, target)

  // --target dstack: the dstack-vmm provider (issue 15; commands/deployDstack.ts, providers/dstack.ts).
  if (target === 'dstack') return DeployDstack.run(input, config, dir)
  // --target phala: its own pipeline (providers/phalaDeploy.ts; docs/targets/phala.md)
  if (target === 'phala') return (await import('../providers/phalaDeploy.js')).deployPhala(input, { dir, config, timelock })
  if (target !== 'local') {
    await progress([{ title: `build a linux/amd64 image for ${target}`, task: () => buildImage(dir, config, target) }], json).run()
    throw new CliError('target.unsupported', `deploying to ${target} is not available in this version`, { docs })
  }

  const devnetDir = resolveDevnetDir(input.flags.devnetDir).dir
  const s = await devnetStatus({ dir: devnetDir })
  if (!s.running || !s.file)
    throw new CliError('devnet.not_running', `no devnet is running in ${devnetDir}`, {
      hint: 'start one with `regent dev up` (or point --devnet-dir at its directory)',
      docs,
    })
  const file = s.file
  const clients = AppAuth.clients(file)
  // A chain is its id, its RegentAppAuth and a block hash (genesis on a devnet): two devnets are never one chain.
  const chainBlockHash = (await clients.publicClient.getBlock({ blockNumber: 0n })).hash
  const previousRecord = await Record.read(dir)
  const previous =
    previousRecord &&
    previousRecord.target === 'local' &&
    previousRecord.chainId === file.chainId &&
    previousRecord.appAuth.toLowerCase() === file.contracts.appAuth.toLowerCase() &&
    previousRecord.chainBlockHash === chainBlockHash
      ? previousRecord
      : undefined
  const operator = Admin.operatorAddress()
  if (!operator)
    input.note(
      "no operator: the agent's admin API (uplift, withdraw) stays disabled — set REGENT_OPERATOR_KEY (or REGENT_OPERATOR) to name one",
    )

  const tasks: ListrTask<Context>[] = [
    {
      title: 'build: the bundle (code + dependencies) and app-compose.json',
      task: async (ctx, task) => {
        // The agent's security settings go into its compose (measured): its operator, this chain and its contracts,
        // and the devnet's root of trust (it verifies its own uplift targets with it).
        ctx.build = await Build.build(dir, config, {
          settings: {
            v: 1,
            ...(operator ? { operator } : {}),
            chainId: file.chainId,
            contracts: file.contracts,
            trustedRoots: [file.rootCa],
          },
        })
        const b = ctx.build
        // Before anything is approved on-chain: the entry parses and the bundle's imports resolve.
        const checked = await Preflight.check(b.bundleDir)
        task.title = `build: ${b.script ? 'npm run build, then ' : ''}bundle ${b.bundleDigest} (${b.fileCount} files, ${(b.bytes / 2 ** 20).toFixed(1)} MiB, ${b.packages.length} dependency packages; entry ${checked.entry} parses, imports resolve), compose hash ${b.composeHash}`
      },
    },
    {
      title: 'contracts: register the app and approve its compose hash in RegentAppAuth',
      task: async (ctx, task) => {
        const b = need(ctx.build)
        ctx.approval = await AppAuth.approve(clients, {
          appAuth: file.contracts.appAuth,
          name: config.name,
          composeHash: b.composeHash,
          osImageHash: DevnetTd.published(DevnetTd.defaultImage).osImageHash,
          osImageMeasurements: DevnetTd.published(DevnetTd.defaultImage).measurements,
          kmsRoot: file.kmsRoot,
          timelock,
          setTimelock: timelockFlag !== undefined,
          waitTimelock: input.flags.waitTimelock === true,
        })
        const a = ctx.approval
        task.title = `contracts: app ${a.appId} ${a.registered ? 'registered' : 'found'} (timelock ${a.timelock} s); compose hash ${a.added.includes('composeHash') ? 'approved' : 'already approved'}${a.advanced ? `; chain clock advanced ${a.advanced} s` : ''}`
      },
    },
    {
      title: 'tee: launch a CVM from the generated app-compose.json',
      task: async (ctx, task) => {
        const b = need(ctx.build)
        ctx.cvm = await Host.launch(file, {
          compose: b.compose,
          bundle: b.bundleDir,
          appId: need(ctx.approval).appId,
          // Host settings only (docs/sdk.md "Measured settings"): nothing here can change who the agent answers to.
          env: { REGENT_AGENT_NAME: config.name, REGENT_COLLATERAL_URL: file.collateralUrl },
        })
        task.title = `tee: ${ctx.cvm.cvmId} booted (keys from ${file.keyProvider.name} after attestation), agent at ${ctx.cvm.appUrl}`
      },
    },
    {
      title: 'wallet: wait for the agent and read its key provenance',
      task: async (ctx, task) => {
        const cvm = need(ctx.cvm)
        ctx.health = await waitForHealth(file, cvm)
        const k = await keyProvenance(cvm.appUrl, { appId: need(ctx.approval).appId, wallet: ctx.health.wallet, docs })
        ctx.identity = k.identity
        ctx.provenance = { kmsRoot: k.kmsRoot, verified: k.verified }
        task.title = `wallet: ${ctx.health.wallet} (${k.path}, signed by the KMS root ${short(k.kmsRoot ?? 'unknown')}${k.verified ? '' : ', NOT verified'})`
      },
    },
    {
      title: 'erc-8004: registered and canonical in RegentSuccession',
      task: async (ctx, task) => {
        const health = need(ctx.health)
        const { readCanonical } = await import('@regent-tee/sdk/chain')
        const agentId = BigInt(health.agentId)
        const snapshot = await readCanonical(clients.publicClient, { contracts: file.contracts, agentId })
        if (
          snapshot.epoch === 0n ||
          snapshot.instance.signer.toLowerCase() !== health.wallet.toLowerCase() ||
          snapshot.instance.composeHash.toLowerCase() !== need(ctx.build).composeHash
        )
          throw new CliError('agent.not_canonical', `agent ${agentId} is not canonical with this instance in RegentSuccession`, {
            hint: `see the agent's output: \`regent dev cvm logs ${need(ctx.cvm).cvmId} --dir ${devnetDir}\``,
            docs,
          })
        ctx.epoch = snapshot.epoch
        if (previous && previous.cvmId !== need(ctx.cvm).cvmId) {
          const old = await Host.get(file, previous.cvmId).catch(() => undefined)
          ctx.stopped = old?.status === 'running' ? (await Host.stop(file, previous.cvmId)).status !== 'running' : false
        }
        task.title = `erc-8004: agent ${agentId} in eip155:${file.chainId}:${file.contracts.identityRegistry}, canonical at epoch ${snapshot.epoch}${ctx.stopped ? `; previous ${previous?.cvmId} stopped` : ''}`
      },
    },
  ]
  const ctx: Context = {}
  try {
    await progress(tasks, json).run(ctx)
  } catch (error) {
    throw await undoApproval(error, ctx, { clients, appAuth: file.contracts.appAuth, note: input.note })
  }

  const b = need(ctx.build)
  const a = need(ctx.approval)
  const cvm = need(ctx.cvm)
  const health = need(ctx.health)
  const record: Record.Record = {
    version: 1,
    target: 'local',
    name: config.name,
    chainId: file.chainId,
    chainBlockHash,
    identityRegistry: file.contracts.identityRegistry,
    appAuth: file.contracts.appAuth,
    appId: a.appId,
    agentId: health.agentId,
    agentRegistry: `eip155:${file.chainId}:${file.contracts.identityRegistry}`,
    wallet: health.wallet,
    composeHash: b.composeHash,
    bundleDigest: b.bundleDigest,
    cvmId: cvm.cvmId,
    instanceId: cvm.instanceId.startsWith('0x') ? cvm.instanceId : `0x${cvm.instanceId}`,
    url: cvm.appUrl,
    deployedAt: new Date().toISOString(),
  }
  await Record.write(dir, record)
  const failover = standbys ? await setUpFailover(file, cvm, { ...standbys, json }) : null
  const changed: Change[] = []
  if (previous)
    for (const field of ['composeHash', 'bundleDigest', 'wallet', 'agentId'] as const)
      if (previous[field].toLowerCase() !== record[field].toLowerCase()) changed.push({ field, from: previous[field], to: record[field] })
  return {
    ok: true,
    data: {
      target: 'local',
      name: config.name,
      agentId: record.agentId,
      agentRegistry: record.agentRegistry,
      wallet: record.wallet,
      appId: record.appId,
      composeHash: record.composeHash,
      bundleDigest: record.bundleDigest,
      cvmId: record.cvmId,
      instanceId: record.instanceId,
      url: record.url,
      epoch: String(ctx.epoch ?? 0n),
      owner: a.owner,
      timelock: a.timelock,
      keyProvenance: { path: need(ctx.identity).keyProvenance?.path ?? '', ...need(ctx.provenance) },
      upgrade: previous !== undefined,
      changed,
      previous: previous ? { cvmId: previous.cvmId, stopped: ctx.stopped === true } : null,
      record: relative(process.cwd(), Record.path(dir)).startsWith('..') ? Record.path(dir) : relative(process.cwd(), Record.path(dir)),
      failover,
    },
  }
}

export function render(result: CommandResult): string {
  if ((result.data as { target?: string }).target === 'dstack') return DeployDstack.render(result)
  if ((result.data as { target?: string }).target === 'phala') return renderPhala(result.data as PhalaDeployOutput)
  const d = result.data as DeployOutput
  const rows: [string, string][] = [
    ['agentId', d.agentId],
    ['agentRegistry', d.agentRegistry],
    ['wallet', `${d.wallet}  (${d.keyProvenance.path}, KMS root ${short(d.keyProvenance.kmsRoot ?? 'unknown')})`],
    ['appId', d.appId],
    ['composeHash', d.composeHash],
    ['bundleDigest', d.bundleDigest],
    ['cvmId', d.cvmId],
    ['epoch', d.epoch],
    ['url', d.url],
  ]
  const changes = d.upgrade
    ? [
        '',
        d.changed.length === 0 ? 'upgrade: nothing changed in the code; the instance was replaced' : 'upgrade: changed',
        ...d.changed.map((c) => `  ${c.field.padEnd(13)} ${c.from} → ${c.to}`),
        ...(d.previous ? [`  previous CVM ${d.previous.cvmId} ${d.previous.stopped ? 'stopped' : 'was not running'}`] : []),
      ]
    : []
  const f = d.failover
  if (f) {
    rows.push(['failover', `lease ${f.lease.period} s, k ${f.lease.k}, margin ${f.lease.marginMs} ms (epoch ${f.epoch})`])
    for (const [i, b] of f.standbys.entries())
      rows.push([i === 0 ? 'standbys' : '', `${b.url}  ${b.cvmId}  ${b.state}, acked seq ${b.acked}`])
  }
  return [
    `✓ ${d.name} deployed${d.upgrade ? ' (upgraded in place: same app id, same wallet)' : ''}${f ? `, with ${f.standbys.length} standby${f.standbys.length === 1 ? '' : 's'}` : ''}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(14)} ${v}`),
    ...changes,
    `  recorded in ${d.record}`,
  ].join('\n')
}

/**
 * After a failed deploy whose CVM never became healthy: revokes the compose hash approval this deploy made (only if it
 * made it: an approval that was there before is left alone) and says so in the error.
 */
async function undoApproval(
  error: unknown,
  ctx: Context,
  o: { clients: AppAuth.Clients; appAuth: Hex; note: (line: string) => void },
): Promise<unknown> {
  const a = ctx.approval
  const b = ctx.build
  if (!a || !b || ctx.health || !a.added.includes('composeHash')) return error
  const e = toCliError(error)
  const revoked = await AppAuth.revokeComposeHash(o.clients, { appAuth: o.appAuth, appId: a.appId, composeHash: b.composeHash }).then(
    () => true,
    () => false,
  )
  o.note(
    revoked
      ? `✗ the agent never became healthy: the approval of compose hash ${b.composeHash} this deploy made was revoked`
      : `✗ the agent never became healthy, and the approval of compose hash ${b.composeHash} could NOT be revoked`,
  )
  return new CliError(
    e.code,
    `${e.shortMessage}; ${revoked ? `the approval of compose hash ${short(b.composeHash)} this deploy made was revoked` : `its approval of compose hash ${short(b.composeHash)} could NOT be revoked`}`,
    { ...(e.hint ? { hint: e.hint } : {}), ...(e.docsPath ? { docs: e.docsPath } : {}), exitCode: e.exitCode, cause: error },
  )
}

/** `--standbys N [--lease-period s] [--k n]`: what to set up after the deploy, or undefined without --standbys. */
type StandbyFlags = { count: number; lease: Failover.Lease; operator: () => LocalAccount }

/**
 * The failover flags, checked before anything is built: standbys on the devnet only, REGENT_OPERATOR_KEY set (its
 * signature sets the lease and attaches them) and naming the operator the agent is deployed with.
 *
 * @throws {UsageError} `usage`, `operator.missing`, `operator.invalid`, `operator.mismatch`.
 */
function standbyFlags(input: CommandInput, target: string): StandbyFlags | undefined {
  const { standbys, leasePeriod, k } = input.flags
  if (standbys === undefined) {
    if (leasePeriod !== undefined || k !== undefined)
      throw new UsageError('usage', '--lease-period and --k go with --standbys <n>', { hint: 'regent deploy --standbys 2', docs })
    return undefined
  }
  if (target !== 'local')
    throw new UsageError(
      'usage',
      `--standbys launches standby CVMs on the devnet: it goes with --target local, not ${target}, in this version`,
      {
        hint: 'deploy, then attach standbys you launch yourself: regent failover enable --agent <url> --period 10 && regent standby add --agent <url> --url <standby>',
        docs,
      },
    )
  const count = Failover.intFlag(standbys, '--standbys', { min: 1, max: 16 })
  const period = Failover.intFlag(leasePeriod, '--lease-period', { min: 2, max: 86_400, default: 10 })
  const lease = { period, k: Failover.intFlag(k, '--k', { min: 0, max: count, default: 1 }), marginMs: Failover.defaultMarginMs(period) }
  const operator = Admin.operatorFromEnv()
  const named = Admin.operatorAddress()
  if (named && named.toLowerCase() !== operator.address.toLowerCase())
    throw new UsageError('operator.mismatch', 'REGENT_OPERATOR names another operator than the key in REGENT_OPERATOR_KEY', {
      hint: "--standbys signs admin requests as the agent operator: unset REGENT_OPERATOR or make it the key's address",
      docs,
    })
  return { count, lease, operator: () => operator }
}

/**
 * After the deploy: the lease on the new instance, then `count` standby CVMs of its app (launched together; standby i
 * waits i seconds longer before it claims, so that they do not race), each attested and attached. Standbys launched
 * here that are not attached in the end are stopped.
 *
 * @throws {CliError} with the code of what failed and a message that says the agent itself is deployed.
 */
async function setUpFailover(file: DevnetFile.DevnetFile, cvm: CvmRecord, o: StandbyFlags & { json: boolean }): Promise<DeployFailover> {
  const admin = Failover.client(cvm.appUrl, o.operator)
  const launched: CvmRecord[] = []
  const attached: DeployFailover['standbys'] = []
  let epoch = ''
  const tasks: ListrTask[] = [
    {
      title: `failover: a ${o.lease.period} s lease on RegentSuccession, k ${o.lease.k}`,
      task: async (_c, task) => {
        const s = await admin.setLease(o.lease)
        epoch = s.epoch
        task.title = `failover: lease ${s.lease?.period} s held by ${cvm.cvmId} at epoch ${s.epoch}, k ${o.lease.k}, margin ${o.lease.marginMs} ms`
      },
    },
    {
      title: `standbys: launch ${o.count} CVMs of the app (its compose and app id) in the standby role`,
      task: async (_c, task) => {
        const boots = await Promise.allSettled(
          Array.from({ length: o.count }, async (_, i) => {
            const standby = await Failover.launchStandby(file, cvm, { claimDelayMs: i * 1000 })
            launched.push(standby)
            await Failover.waitForRole(file, standby, 'standby')
            return standby
          }),
        )
        const failed = boots.find((b) => b.status === 'rejected')
        if (failed) throw failed.reason
        task.title = `standbys: ${launched.map((c) => c.cvmId).join(', ')} answer role standby`
      },
    },
    {
      title: 'attach: the agent attests each standby and streams it its state',
      task: async (_c, task) => {
        for (const standby of launched) {
          const r = await admin.attach(standby.appUrl)
          if (!r.ok) throw Failover.standbyRefused(cvm.appUrl, r.standby)
          const b = r.standby
          attached.push({ url: b.url, cvmId: standby.cvmId, state: b.state, instanceId: b.instanceId, acked: b.acked })
          task.title = `attach: ${attached.length}/${o.count} standbys ${attached.map((a) => a.state).join(', ')}`
        }
      },
    },
  ]
  try {
    await progress(tasks, o.json).run()
  } catch (error) {
    const attachedUrls = new Set(attached.map((a) => a.url))
    for (const c of launched) if (!attachedUrls.has(c.appUrl)) await Host.stop(file, c.cvmId).catch(() => undefined)
    const e = toCliError(error)
    throw new CliError(e.code, `the agent is deployed at ${cvm.appUrl}, but its failover is not complete: ${e.shortMessage}`, {
      hint: `finish it by hand: regent failover status --agent ${cvm.appUrl}; regent standby add --agent ${cvm.appUrl}`,
      docs,
      exitCode: e.exitCode,
      cause: error,
    })
  }
  return { lease: o.lease, epoch, standbys: attached }
}

/** Polls (bounded) until the agent answers /health; fails early when its CVM exits. */
async function waitForHealth(file: DevnetFile.DevnetFile, cvm: CvmRecord): Promise<{ agentId: string; wallet: string }> {
  const deadline = Date.now() + bootTimeoutMs
  for (;;) {
    const health = await fetch(`${cvm.appUrl}/health`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => (r.ok ? (r.json() as Promise<{ agentId?: unknown; wallet?: unknown }>) : undefined),
      () => undefined,
    )
    if (health && typeof health.agentId === 'string' && typeof health.wallet === 'string')
      return { agentId: health.agentId, wallet: health.wallet }
    const now = await Host.get(file, cvm.cvmId)
    if (now.status !== 'running' || Date.now() > deadline) {
      const tail = agentError(await Host.logs(file, cvm.cvmId, 40).catch(() => ''))
      throw new CliError(
        'agent.boot_failed',
        now.status === 'running'
          ? `the agent in ${cvm.cvmId} did not answer /health within ${bootTimeoutMs / 1000} s`
          : `the agent in ${cvm.cvmId} ${now.status} (exit code ${now.exitCode}) before serving${tail ? `: ${tail}` : ''}`,
        { hint: `see its output: \`regent dev cvm logs ${cvm.cvmId}\``, docs },
      )
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** `docker buildx build --platform linux/amd64` of the bundle, when a Docker engine answers. */
async function buildImage(dir: string, config: Config.Config, target: string): Promise<void> {
  const docker = (args: string[], timeout: number) =>
    new Promise<{ ok: boolean; stderr: string }>((done) =>
      execFile('docker', args, { timeout, maxBuffer: 16 << 20 }, (error, _stdout, stderr) => done({ ok: !error, stderr: String(stderr) })),
    )
  if (!(await docker(['info', '--format', '{{.ServerVersion}}'], 15_000)).ok)
    throw new CliError(
      'docker.unavailable',
      `--target ${target} builds a linux/amd64 image with Docker, but no Docker engine answers (\`docker info\` failed)`,
      {
        hint: 'install and start Docker with buildx (Docker Desktop or docker-ce), or deploy to the local devnet with `--target local`',
        docs,
      },
    )
  const dockerfile = join(dir, 'Dockerfile')
  if (!(await stat(dockerfile).catch(() => undefined)))
    throw new UsageError('build.no_dockerfile', `--target ${target} needs a Dockerfile in the project`, { docs })
  const b = await Build.build(dir, config)
  const tag = `${config.name}:${b.bundleDigest.slice(7, 23)}`
  const built = await docker(['buildx', 'build', '--platform', 'linux/amd64', '--tag', tag, '--file', dockerfile, b.bundleDir], 30 * 60_000)
  if (!built.ok)
    throw new CliError('docker.build_failed', `docker buildx build failed: ${built.stderr.trim().split('\n').at(-1) ?? ''}`, { docs })
}

function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('a deploy step ran before the step it depends on')
  return value
}

const short = (hex: string) => (hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex)

/**
 * The target of `regent uplift --agent <url> --target local --dir <project>`: the project's agent built with the
 * running agent's measured settings (the compose hash `regent deploy` gives it), approved in the project's app as the
 * deploy does (idempotent), and launched on the devnet's host in the target role.
 *
 * @throws {CliError} `devnet.not_running`.
 */
export async function localProjectTarget(input: CommandInput, config: Config.Config, dir: string): Promise<ProjectTarget> {
  const devnetDir = resolveDevnetDir(input.flags.devnetDir).dir
  const s = await devnetStatus({ dir: devnetDir })
  if (!s.running || !s.file)
    throw new CliError('devnet.not_running', `no devnet is running in ${devnetDir}`, { hint: 'start one with `regent dev up`', docs })
  const file = s.file
  const clients = AppAuth.clients(file)
  const provider = devnetProvider({ devnet: async () => file })
  let built: Build.Build | undefined
  return {
    label: 'devnet',
    chainId: file.chainId,
    contracts: file.contracts,
    publicClient: clients.publicClient,
    provider,
    async approve(operator) {
      built = await Build.build(dir, config, {
        settings: { v: 1, operator, chainId: file.chainId, contracts: file.contracts, trustedRoots: [file.rootCa] },
      })
      const a = await AppAuth.approve(clients, {
        appAuth: file.contracts.appAuth,
        name: config.name,
        composeHash: built.composeHash,
        osImageHash: DevnetTd.published(DevnetTd.defaultImage).osImageHash,
        osImageMeasurements: DevnetTd.published(DevnetTd.defaultImage).measurements,
        kmsRoot: file.kmsRoot,
        timelock: config.local.timelock,
        setTimelock: false,
        waitTimelock: false,
      })
      return { appId: a.appId, composeHash: built.composeHash as Hex, added: [...a.added] }
    },
    async launch(appId) {
      if (!built) throw new CliError('internal', 'launch before approve', { docs })
      return provider.launch({
        compose: built.compose,
        bundle: built.bundleDir,
        appId,
        env: { REGENT_AGENT_NAME: config.name, REGENT_COLLATERAL_URL: file.collateralUrl, REGENT_UPLIFT_ROLE: 'target' },
      })
    },
  }
}
