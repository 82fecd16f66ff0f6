/**
 * The agents a project and its devnet know, by name: the devnet's CVMs grouped by app name (the project name a
 * deploy gives its compose) and the project's own `.regent/deploy.json`. `regent ls`, `regent logs [name]` and
 * `regent stop [name]` resolve names here, so nobody copies CVM ids out of deploy.json.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { CvmRecord } from '@regent-tee/devnet'
import { CliError, UsageError } from '../errors.js'
import * as Config from './Config.js'
import * as Record from './Record.js'

const docs = 'docs/cli/agents.md'
/** The devnet's own CVMs (its KMS nodes): never an agent of the user. */
const systemApps = new Set(['regent-kms'])

/** One agent by name: its CVMs on the devnet (newest first) and the project's deploy record when it names it. */
export type Agent = { name: string; cvms: CvmRecord[]; record: Record.Record | undefined }

/** The project directory: `explicit` when given, else the nearest directory with a regent.json walking up from `cwd`. */
export function findProject(explicit: unknown, cwd: string = process.cwd()): string | undefined {
  if (typeof explicit === 'string' && explicit !== '') return resolve(cwd, explicit)
  for (let d = resolve(cwd); ; d = dirname(d)) {
    if (existsSync(join(d, Config.fileName))) return d
    if (dirname(d) === d) return undefined
  }
}

/** The project's name and deploy record, when there is a project. */
export async function project(dir: string | undefined): Promise<{ name: string; record: Record.Record | undefined } | undefined> {
  if (dir === undefined) return undefined
  const config = await Config.load(dir)
  return { name: config.name, record: await Record.read(dir) }
}

/** Every agent known: the devnet's CVMs by app name, and the project's (even with no CVM on this devnet). */
export function known(cvms: readonly CvmRecord[], own: { name: string; record: Record.Record | undefined } | undefined): Agent[] {
  const byName = new Map<string, Agent>()
  const newestFirst = [...cvms].sort((a, b) => b.startedAt.localeCompare(a.startedAt))
  for (const cvm of newestFirst) {
    if (systemApps.has(cvm.appName) || cvm.appName === '') continue
    const agent = byName.get(cvm.appName) ?? { name: cvm.appName, cvms: [], record: undefined }
    agent.cvms.push(cvm)
    byName.set(cvm.appName, agent)
  }
  if (own) {
    const agent = byName.get(own.name) ?? { name: own.name, cvms: [], record: undefined }
    agent.record = own.record
    byName.set(own.name, agent)
  }
  return [...byName.values()].sort((a, b) => (a.name === own?.name ? -1 : b.name === own?.name ? 1 : a.name.localeCompare(b.name)))
}

/**
 * The agent a command names: `name`, else the project's.
 *
 * @throws {UsageError} `agent.none` (no name and no project), `agent.unknown` (listing the known names).
 */
export function pick(agents: readonly Agent[], name: string | undefined, projectName: string | undefined): Agent {
  const wanted = name ?? projectName
  if (wanted === undefined)
    throw new UsageError('agent.none', 'no agent named and no regent.json here or above', {
      hint: `name one (${names(agents)}), or run inside a project (or pass --dir <project>)`,
      docs,
    })
  const agent = agents.find((a) => a.name === wanted)
  if (!agent)
    throw new UsageError('agent.unknown', `no agent named "${wanted}" (known: ${names(agents)})`, {
      hint: 'see them with `regent ls`',
      docs,
    })
  return agent
}

/** The CVM that is the agent now: the deploy record's when it runs, else the newest running one, else the newest. */
export function current(agent: Agent): CvmRecord | undefined {
  const running = agent.cvms.filter((c) => c.status === 'running')
  return running.find((c) => c.cvmId === agent.record?.cvmId) ?? running[0] ?? agent.cvms[0]
}

const names = (agents: readonly Agent[]) => (agents.length ? agents.map((a) => a.name).join(', ') : 'none')

/** For `logs` / `stop` of an agent with nothing on the devnet. */
export function noCvm(agent: Agent): CliError {
  const where = agent.record?.target === 'dstack' ? ` (deployed on the dstack VMM ${agent.record.vmmUrl ?? ''}: use its console)` : ''
  return new CliError('agent.no_cvm', `${agent.name} has no CVM on this devnet${where}`, {
    hint: 'deploy it with `regent deploy`, or see what runs with `regent ls`',
    docs,
  })
}
