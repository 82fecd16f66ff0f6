/**
 * `regent standby add | ls | rm --agent <url>` (docs/cli/failover.md): the agent's failover standbys. `add` launches
 * another CVM of the agent's own app on the devnet (the exact compose and app id of the agent's CVM, so the same KMS
 * key and an approved measurement) in the standby role, waits until it answers as a standby, and has the canonical
 * attest and attach it through the operator-signed admin API; `--url` attaches a standby launched some other way.
 * The canonical must hold a lease first (`regent failover enable`).
 */
import type { CvmRecord } from '@regent-tee/devnet'
import type { ListrTask } from 'listr2'
import type { LocalAccount } from 'viem'
import type { Command, CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import { onInterrupt } from '../interrupt.js'
import { progress } from '../progress.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'
import * as Failover from '../project/Failover.js'
import * as Host from '../project/Host.js'
import { devnetReader } from '../providers/devnet.js'

const docs = 'docs/cli/failover.md'

/** What `regent standby add --json` prints. */
export type StandbyAddOutput = {
  agent: string
  agentId: string
  epoch: string
  /** The standby as the canonical sees it once attached; `cvmId` when this command launched it on the devnet. */
  standby: Failover.Standby & { cvmId: string | null; launched: boolean }
  lease: Failover.Status['lease']
  replication: Failover.Status['replication']
}

/** What `regent standby ls --json` prints. */
export type StandbyListOutput = {
  agent: string
  agentId: string | null
  role: Failover.Status['role']
  epoch: string
  lease: Failover.Status['lease']
  replication: Omit<NonNullable<Failover.Status['replication']>, 'standbys'> | null
  standbys: Failover.Standby[]
}

/** What `regent standby rm --json` prints. */
export type StandbyRemoveOutput = { agent: string; removed: string; stopped: string | null; standbys: Failover.Standby[] }

/** What {@link addStandby} needs. */
export type AddStandbyParameters = {
  /** The canonical instance's base URL. */
  agent: string
  operator: () => LocalAccount
  /** A standby launched some other way: attach it, launch nothing. */
  url?: string
  /** Extra wait after the lease expires before this standby claims (it only orders claimants). */
  claimDelayMs?: number
  devnetDir: string
  json: boolean
}

/**
 * The canonical's status → (a standby CVM of its app launched on the devnet, waited for) → attached. A standby this
 * launched that fails to boot or that the agent refuses is stopped.
 *
 * @throws {CliError} `failover.off` (no lease: `regent failover enable`), `failover.not_canonical`, `standby.no_cvm`
 *   (the agent is not a devnet CVM: pass --url), `standby.boot_failed`, `standby.refused` (with the agent's reasons),
 *   the admin and devnet errors.
 */
export async function addStandby(p: AddStandbyParameters): Promise<StandbyAddOutput> {
  const admin = Failover.client(p.agent, p.operator)
  const devnet = devnetReader(p.devnetDir, docs)
  let status: Failover.Status | undefined
  let cvm: CvmRecord | undefined
  let url = p.url
  let attached: { standby: Failover.Standby; status: Failover.Status } | undefined
  const tasks: ListrTask[] = [
    {
      title: `agent: ${p.agent}`,
      task: async (_c, task) => {
        status = assertCanonical(p.agent, await admin.status())
        task.title = `agent: ${status.agentId} at ${p.agent}, canonical at epoch ${status.epoch} (lease ${status.lease?.period} s, k ${status.replication?.k}, ${status.replication?.standbys.length ?? 0} standbys)`
      },
    },
  ]
  if (url === undefined)
    tasks.push(
      {
        title: "tee: launch a standby CVM of the agent's app (its compose and app id)",
        task: async (_c, task) => {
          const file = await devnet()
          const of = await Failover.cvmOf(file, { url: p.agent, instanceId: need(status).instanceId, devnetDir: p.devnetDir })
          // Interrupted from here on: the standby this command launches is stopped, not left half-attached (also when
          // the host's answer to the launch has not arrived yet).
          const before = await Failover.cvmIds(file)
          onInterrupt(async () => {
            for (const c of await Failover.launchedSince(file, of.appId, before)) await Host.stop(file, c.cvmId)
          })
          cvm = await Failover.launchStandby(file, of, p.claimDelayMs ? { claimDelayMs: p.claimDelayMs } : {})
          url = cvm.appUrl
          task.title = `tee: ${cvm.cvmId} at ${cvm.appUrl}, from the compose and app of ${of.cvmId} (app ${hex(of.appId)}, compose hash ${short(hex(of.composeHash))})`
        },
      },
      {
        title: 'standby: wait until it answers /health as a standby',
        task: async (_c, task) => {
          await Failover.waitForRole(await devnet(), need(cvm), 'standby')
          task.title = `standby: ${need(cvm).appUrl} answers role standby`
        },
      },
    )
  tasks.push({
    title: 'attach: the agent attests the standby and streams it its state',
    task: async (_c, task) => {
      const r = await admin.attach(need(url))
      if (!r.ok) throw Failover.standbyRefused(p.agent, r.standby, cvm ? `; its CVM ${cvm.cvmId} is stopped` : '')
      attached = r
      task.title = `attach: ${r.standby.url} ${r.standby.state} (instance ${r.standby.instanceId}, acked seq ${r.standby.acked})`
    },
  })
  try {
    await progress(tasks, p.json).run()
  } catch (error) {
    // A standby this command launched and the agent did not attach is not left running.
    if (cvm && !attached) await Host.stop(await devnet(), cvm.cvmId).catch(() => undefined)
    throw error
  }
  const a = need(attached)
  return {
    agent: p.agent,
    agentId: a.status.agentId ?? '',
    epoch: a.status.epoch,
    standby: { ...a.standby, cvmId: cvm?.cvmId ?? null, launched: cvm !== undefined },
    lease: a.status.lease,
    replication: a.status.replication,
  }
}

/** `regent standby add --agent <url> [--target local | --url <standby>] [--claim-delay-ms <ms>]`. */
export const add: Command = {
  async run(input): Promise<CommandResult<StandbyAddOutput>> {
    const agent = agentFlag(input, 'regent standby add --agent http://127.0.0.1:8080')
    const url = input.flags.url === undefined ? undefined : Failover.urlFlag(input.flags.url, '--url', '')
    const target = input.flags.target
    if (url !== undefined && (target !== undefined || input.flags.claimDelayMs !== undefined))
      throw new UsageError('usage', '--url attaches a standby you launched: drop --target and --claim-delay-ms', { docs })
    if (typeof target === 'string' && target !== 'local' && target !== 'devnet')
      throw new CliError('target.unsupported', `launching standbys on ${target} is not available in this version`, {
        hint: "launch a CVM of the agent's app with REGENT_UPLIFT_ROLE=standby yourself, then: regent standby add --agent <url> --url <standby>",
        docs,
      })
    const claimDelayMs =
      input.flags.claimDelayMs === undefined ? 0 : Failover.intFlag(input.flags.claimDelayMs, '--claim-delay-ms', { min: 0, max: 600_000 })
    const data = await addStandby({
      agent,
      operator: Failover.operatorOnce(),
      ...(url ? { url } : {}),
      claimDelayMs,
      devnetDir: resolveDevnetDir(input.flags.devnetDir).dir,
      json: input.flags.json === true,
    })
    return { ok: true, data }
  },
  render(result) {
    const d = result.data as StandbyAddOutput
    const s = d.standby
    return [
      `✓ standby ${s.url} attached to agent ${d.agentId} (${d.agent}, epoch ${d.epoch})${s.cvmId ? `: CVM ${s.cvmId}` : ''}`,
      `  state        ${s.state}, instance ${s.instanceId}, acked seq ${s.acked}`,
      `  lease        ${d.lease?.period ?? '?'} s; it claims the agent when the lease expires (about one period after the canonical stops renewing)`,
      `  replication  k ${d.replication?.k}, ${d.replication?.required} required, lag ${d.replication?.lagRecords} records`,
      ...Failover.standbyTable(d.replication?.standbys ?? []),
    ].join('\n')
  },
}

/** `regent standby ls --agent <url>`: the canonical's standbys. */
export const ls: Command = {
  async run(input): Promise<CommandResult<StandbyListOutput>> {
    const agent = agentFlag(input, 'regent standby ls --agent http://127.0.0.1:8080')
    const s = await Failover.statusOf(agent, Failover.operatorOnce())
    if (s.role === 'standby' || s.role === 'claiming')
      throw new CliError(
        'failover.not_canonical',
        `${agent} is ${s.role === 'standby' ? 'a standby' : 'a standby taking the agent over'}: the canonical instance keeps the list of standbys`,
        {
          hint: s.canonical ? `regent standby ls --agent ${s.canonical}` : `regent failover status --agent ${agent}`,
          docs,
        },
      )
    const { standbys = [], ...replication } = s.replication ?? {}
    return {
      ok: true,
      data: {
        agent,
        agentId: s.agentId,
        role: s.role,
        epoch: s.epoch,
        lease: s.lease,
        replication: s.replication ? (replication as StandbyListOutput['replication']) : null,
        standbys,
      },
    }
  },
  render(result) {
    const d = result.data as StandbyListOutput
    const head =
      d.role === 'off'
        ? `agent ${d.agentId} at ${d.agent}: failover is off (no lease), so no standbys (regent failover enable --agent ${d.agent} --period 10)`
        : `agent ${d.agentId} at ${d.agent}: ${d.role} at epoch ${d.epoch}, lease ${d.lease?.period} s, k ${d.replication?.k} (${d.replication?.required} required${d.replication?.degraded ? ', DEGRADED' : ''})`
    return [head, ...Failover.standbyTable(d.standbys)].join('\n')
  },
}

/** `regent standby rm --agent <url> --url <standby> [--stop]`. */
export const rm: Command = {
  async run(input): Promise<CommandResult<StandbyRemoveOutput>> {
    const agent = agentFlag(input, 'regent standby rm --agent http://127.0.0.1:8080 --url http://127.0.0.1:8081')
    const url = Failover.urlFlag(input.flags.url, '--url', 'regent standby rm --agent http://127.0.0.1:8080 --url http://127.0.0.1:8081')
    const admin = Failover.client(agent, Failover.operatorOnce())
    const before = assertCanonical(agent, await admin.status())
    const listed = before.replication?.standbys.map((b) => b.url) ?? []
    if (!listed.includes(url))
      throw new CliError('standby.unknown', `${url} is not a standby of the agent at ${agent}`, {
        hint: listed.length ? `its standbys: ${listed.join(', ')}` : 'it has none: regent standby ls --agent <url>',
        docs,
      })
    const after = await admin.detach(url)
    let stopped: string | null = null
    if (input.flags.stop === true) {
      const file = await devnetReader(resolveDevnetDir(input.flags.devnetDir).dir, docs)()
      const cvm = (await Host.list(file)).find((c) => c.status === 'running' && c.appUrl === url)
      if (!cvm)
        throw new CliError('standby.no_cvm', `${url} was detached, but it is not a running CVM of the devnet: nothing was stopped`, {
          docs,
        })
      await Host.stop(file, cvm.cvmId)
      stopped = cvm.cvmId
    }
    return { ok: true, data: { agent, removed: url, stopped, standbys: after.replication?.standbys ?? [] } }
  },
  render(result) {
    const d = result.data as StandbyRemoveOutput
    return [
      `✓ standby ${d.removed} detached from ${d.agent}${d.stopped ? `; its CVM ${d.stopped} stopped` : ' (it keeps running, following nobody: --stop stops a devnet CVM)'}`,
      ...Failover.standbyTable(d.standbys),
    ].join('\n')
  },
}

/**
 * The agent's status, when it is the canonical instance holding a lease.
 *
 * @throws {CliError} `failover.off`, `failover.fenced`, `failover.claiming`, `failover.not_canonical`.
 */
function assertCanonical(agent: string, s: Failover.Status): Failover.Status {
  if (s.role === 'canonical') return s
  if (s.role === 'off') throw Failover.refusalError(agent, { status: 409, code: 'failover.off', message: 'no lease' })
  if (s.role === 'fenced' || s.role === 'claiming')
    throw Failover.refusalError(agent, { status: 503, code: `failover.${s.role}`, message: `the instance is ${s.role}` })
  throw Failover.refusalError(agent, {
    status: 409,
    code: 'failover.standby',
    message: `a standby of ${s.canonical ?? 'another instance'}`,
  })
}

const agentFlag = (input: CommandInput, example: string) => Failover.urlFlag(input.flags.agent, '--agent', example)

function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('a standby step ran before the step it depends on')
  return value
}

const hex = (h: string) => (h.startsWith('0x') ? h : `0x${h}`)
const short = (h: string) => (h.length > 20 ? `${h.slice(0, 10)}…${h.slice(-6)}` : h)
