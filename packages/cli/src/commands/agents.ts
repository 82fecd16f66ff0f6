/**
 * `regent ls`, `regent logs [name]`, `regent stop [name]`: the agents of this project and its devnet by name
 * (docs/cli/agents.md). A name is the project name in regent.json (what deploy gives the compose); without one, the
 * project in the current directory or above.
 */
import type { CvmRecord, DevnetFile } from '@regent-tee/devnet'
import { status as devnetStatus } from '@regent-tee/devnet'
import type { Command, CommandInput } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import * as Agents from '../project/Agents.js'
import * as AppAuth from '../project/AppAuth.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'
import * as Host from '../project/Host.js'

const docs = 'docs/cli/agents.md'

/** One row of `regent ls`. */
export type AgentRow = {
  name: string
  /** The project in the current directory (or --dir). */
  project: boolean
  status: 'running' | 'stopped' | 'exited' | 'not on this devnet'
  url: string | null
  cvmId: string | null
  instanceId: string | null
  agentId: string | null
  /** The agent's role from its /health (agent, uplift-target, demoted), null when it does not answer. */
  role: string | null
  /** RegentSuccession's epoch of the agent, and whether this instance is its canonical one. */
  epoch: string | null
  canonical: boolean | null
  /** CVMs of this app on the devnet, and how many run. */
  cvms: number
  running: number
}

type Context = { file: DevnetFile.DevnetFile | undefined; agents: Agents.Agent[]; projectName: string | undefined }

async function context(input: CommandInput, needDevnet: boolean): Promise<Context> {
  const own = await Agents.project(Agents.findProject(input.flags.dir))
  const devnetDir = resolveDevnetDir(input.flags.devnetDir).dir
  const s = await devnetStatus({ dir: devnetDir })
  const file = s.running ? s.file : undefined
  if (!file && needDevnet)
    throw new CliError('devnet.not_running', `no devnet is running in ${devnetDir}`, {
      hint: 'start one with `regent dev up` (or point --devnet-dir at its directory)',
      docs,
    })
  const cvms = file ? await Host.list(file) : []
  return { file, agents: Agents.known(cvms, own), projectName: own?.name }
}

const arg = (input: CommandInput) => (input.args[0] === undefined || input.args[0] === '' ? undefined : input.args[0])

export const ls: Command = {
  async run(input) {
    const { file, agents, projectName } = await context(input, false)
    const rows = await Promise.all(agents.map((a) => row(a, a.name === projectName, file)))
    return { ok: true, data: { devnet: file ? file.hostUrl : null, agents: rows } }
  },
  render(result) {
    const { devnet, agents } = result.data as { devnet: string | null; agents: AgentRow[] }
    const head = devnet ? [] : ['(no devnet running: only the project is listed)']
    if (agents.length === 0) return [...head, 'no agents (create one with `regent init`, deploy it with `regent deploy`)'].join('\n')
    const table = [
      ['NAME', 'STATUS', 'ROLE', 'EPOCH', 'INSTANCE', 'URL'],
      ...agents.map((a) => [
        `${a.name}${a.project ? ' *' : ''}`,
        a.cvms > 1 ? `${a.status} (${a.running}/${a.cvms} CVMs)` : a.status,
        a.role ?? '-',
        a.epoch === null ? '-' : `${a.epoch}${a.canonical ? ' (canonical)' : a.canonical === false ? ' (not canonical)' : ''}`,
        a.instanceId ?? '-',
        a.url ?? '-',
      ]),
    ]
    const widths = table[0]?.map((_, i) => Math.max(...table.map((r) => (r[i] as string).length))) ?? []
    const lines = table.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  '))
    return [...head, ...lines, ...(agents.some((a) => a.project) ? ['* the project here'] : [])].join('\n')
  },
}

export const logs: Command = {
  async run(input) {
    const tail = input.flags.tail
    if (tail !== undefined && (typeof tail !== 'string' || !/^\d{1,6}$/.test(tail)))
      throw new UsageError('usage', '--tail takes a whole number', { docs })
    const { file, agents, projectName } = await context(input, true)
    const agent = Agents.pick(agents, arg(input), projectName)
    const cvm = Agents.current(agent)
    if (!cvm || !file) throw Agents.noCvm(agent)
    const text = await Host.logs(file, cvm.cvmId, tail === undefined ? undefined : Number(tail))
    return { ok: true, data: { name: agent.name, cvmId: cvm.cvmId, logs: text } }
  },
  render(result) {
    return (result.data as { logs: string }).logs.replace(/\n$/, '')
  },
}

export const stop: Command = {
  async run(input) {
    const { file, agents, projectName } = await context(input, true)
    const agent = Agents.pick(agents, arg(input), projectName)
    if (!file || agent.cvms.length === 0) throw Agents.noCvm(agent)
    // The agent is every running CVM of its app (after an uplift, the demoted source forwards to the new one).
    const stopped: string[] = []
    for (const cvm of agent.cvms.filter((c) => c.status === 'running')) {
      await Host.stop(file, cvm.cvmId)
      stopped.push(cvm.cvmId)
    }
    return { ok: true, data: { name: agent.name, stopped } }
  },
  render(result) {
    const { name, stopped } = result.data as { name: string; stopped: string[] }
    return stopped.length === 0 ? `${name} was not running` : `✓ ${name} stopped (${stopped.join(', ')})`
  },
}

async function row(agent: Agents.Agent, project: boolean, file: DevnetFile.DevnetFile | undefined): Promise<AgentRow> {
  const cvm = Agents.current(agent)
  const running = agent.cvms.filter((c) => c.status === 'running').length
  const url = cvm?.appUrl ?? agent.record?.url ?? null
  const health = cvm?.status === 'running' || (!cvm && url) ? await readHealth(url as string) : undefined
  const agentId = health?.agentId ?? agent.record?.agentId ?? null
  const chain = file && agentId ? await readEpoch(file, agentId, cvm) : undefined
  return {
    name: agent.name,
    project,
    status: cvm ? cvm.status : 'not on this devnet',
    url,
    cvmId: cvm?.cvmId ?? null,
    instanceId: cvm ? hex0x(cvm.instanceId) : (agent.record?.instanceId ?? null),
    agentId,
    role: health?.role ?? null,
    epoch: chain?.epoch ?? null,
    canonical: chain?.canonical ?? null,
    cvms: agent.cvms.length,
    running,
  }
}

/** /health within a second: what the agent says it is (cheap; nothing verified). */
async function readHealth(url: string): Promise<{ role: string | null; agentId: string | null } | undefined> {
  const body = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_500) })
    .then((r) => (r.ok ? (r.json() as Promise<{ role?: unknown; agentId?: unknown }>) : undefined))
    .catch(() => undefined)
  if (!body) return undefined
  return {
    role: typeof body.role === 'string' ? body.role : null,
    agentId: typeof body.agentId === 'string' ? body.agentId : null,
  }
}

/** The agent's epoch in RegentSuccession and whether `cvm` is its canonical instance (one chain read). */
async function readEpoch(file: DevnetFile.DevnetFile, agentId: string, cvm: CvmRecord | undefined) {
  if (!/^\d+$/.test(agentId)) return undefined
  const { readCanonical } = await import('@regent-tee/sdk/chain')
  const snapshot = await readCanonical(AppAuth.clients(file).publicClient, { contracts: file.contracts, agentId: BigInt(agentId) }).catch(
    () => undefined,
  )
  if (!snapshot) return undefined
  return {
    epoch: String(snapshot.epoch),
    canonical: cvm ? snapshot.instance.instanceId.toLowerCase() === hex0x(cvm.instanceId).toLowerCase() : null,
  }
}

const hex0x = (hex: string) => (hex.startsWith('0x') ? hex : `0x${hex}`)
