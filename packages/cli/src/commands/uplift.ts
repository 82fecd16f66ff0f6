/**
 * `regent uplift`: the self-uplift protocol from the operator's side (DESIGN.md §10, docs/uplift.md,
 * docs/cli/uplift.md). The running agent is the source and drives the protocol itself; the CLI launches the target
 * through a provider (docs/providers.md), tells the agent to move through its admin API, and follows it step by step.
 *
 * - `regent uplift --agent <url> --target local`: health → app id and measurement approval → launch → move → follow.
 * - `regent uplift resume --agent <url>`: the agent resumes its unfinished session; the CLI follows it.
 * - `regent uplift status --agent <url> | --journal <file>`: the agent's session, or a source journal read offline
 *   (only its `steps` table: sealed secrets are never opened, so no key is needed).
 *
 * This file turns flags into the run (`../uplift/Run.ts`) and its output into lines (`../uplift/Render.ts`).
 */
import { resolve } from 'node:path'
import type { LocalAccount } from 'viem'
import type { Command, CommandInput, CommandResult } from '../command.js'
import { UsageError } from '../errors.js'
import * as Admin from '../project/Admin.js'
import * as Config from '../project/Config.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'
import { journalStatus } from '../uplift/JournalStatus.js'
import type { AgentStatusOutput, JournalStatusOutput } from '../uplift/Output.js'
import { render, renderAgentStatus, renderJournal } from '../uplift/Render.js'
import { type AgentOptions, resumeAgent, upliftAgent } from '../uplift/Run.js'
import * as DeployDstack from './deployDstack.js'

export type { AgentStatusOutput, JournalStatusOutput, UpliftOutput, Verification } from '../uplift/Output.js'
export { type UpliftAgentParameters, upliftAgent } from '../uplift/Run.js'

const docs = 'docs/cli/uplift.md'

/** `regent uplift --agent <url> --target local`. */
export const start: Command = {
  async run(input) {
    const o = options(input)
    const keyFlag = input.flags.key ?? 'import'
    if (keyFlag !== 'import' && keyFlag !== 'rotate')
      throw new UsageError('usage', '--key takes "import" or "rotate"', { hint: `regent uplift --agent ${o.agent} --key import`, docs })
    const targetUrl = typeof input.flags.targetUrl === 'string' ? httpUrl(input.flags.targetUrl, '--target-url') : undefined
    if (targetUrl && input.flags.target !== undefined)
      throw new UsageError('usage', 'pass either --target (launch a target) or --target-url (one you launched), not both', { docs })
    if (targetUrl && (input.flags.bundle !== undefined || input.flags.approve === true))
      throw new UsageError('usage', '--bundle and --approve are for a target the CLI launches: drop them with --target-url', { docs })
    const projectDir = typeof input.flags.dir === 'string' ? resolve(input.flags.dir) : undefined
    const targetName = typeof input.flags.target === 'string' ? input.flags.target : 'local'
    const onProject = targetName === 'local' || targetName === 'dstack' || targetName === 'phala'
    if (projectDir && (!onProject || targetUrl || input.flags.bundle !== undefined))
      throw new UsageError(
        'usage',
        '--dir (a project to launch the target from) goes with --target local|dstack|phala, without --bundle or --target-url',
        {
          docs,
        },
      )
    if (input.flags.network !== undefined && (!projectDir || input.flags.target !== 'dstack'))
      throw new UsageError('usage', '--network goes with --target dstack --dir <project>', { docs })
    if (input.flags.target === 'phala' && !projectDir)
      throw new UsageError('usage', '--target phala moves the agent to a new instance of its Phala app: pass --dir <project>', { docs })
    const config = projectDir ? await Config.load(projectDir) : undefined
    const project =
      projectDir && config
        ? input.flags.target === 'phala'
          ? await (await import('../providers/phalaDeploy.js')).phalaProjectTarget(input, config, projectDir)
          : input.flags.target === 'local'
            ? await (await import('./deploy.js')).localProjectTarget(input, config, projectDir)
            : await DeployDstack.projectTarget(input, config, projectDir)
        : undefined
    return upliftAgent({
      ...o,
      ...(project ? { project } : {}),
      key: keyFlag,
      force: input.flags.force === true,
      ...(typeof input.flags.target === 'string' ? { target: input.flags.target } : {}),
      ...(targetUrl ? { targetUrl } : {}),
      ...(typeof input.flags.bundle === 'string' ? { bundle: input.flags.bundle } : {}),
      ...(typeof input.flags.vmmUrl === 'string' ? { vmmUrl: input.flags.vmmUrl } : {}),
      approve: input.flags.approve === true,
      note: input.note,
    })
  },
  render,
}

/** `regent uplift resume --agent <url>`. */
export const resume: Command = {
  async run(input) {
    return resumeAgent(options(input))
  },
  render,
}

/** `regent uplift status --agent <url> | --journal <file>`. */
export const status: Command = {
  async run(input): Promise<CommandResult<AgentStatusOutput | JournalStatusOutput>> {
    const agent = input.flags.agent
    const journal = input.flags.journal
    if (agent !== undefined && journal !== undefined)
      throw new UsageError('usage', 'pass either --agent or --journal, not both', { hint: 'regent uplift status --agent <url>', docs })
    if (typeof journal === 'string') return { ok: true, data: await journalStatus(journal) }
    if (agent === undefined)
      throw new UsageError('usage', '--agent <url> or --journal <file> is required', {
        hint: 'regent uplift status --agent http://127.0.0.1:8080',
        docs,
      })
    const o = options(input)
    const r = Admin.unwrap(o.agent, await Admin.client(o.agent, o.operator()).status())
    if (!r.ok) throw Admin.refusalError(o.agent, r.refusal)
    return { ok: true, data: { agent: o.agent, ...r.data } }
  },
  render(result) {
    const d = result.data as AgentStatusOutput | JournalStatusOutput
    return 'journal' in d ? renderJournal(d) : renderAgentStatus(d)
  },
}

function options(input: CommandInput): AgentOptions {
  if (typeof input.flags.agent !== 'string')
    throw new UsageError('usage', '--agent <url> is required', { hint: 'regent uplift --agent http://127.0.0.1:8080 --target local', docs })
  let operator: LocalAccount | undefined
  return {
    agent: httpUrl(input.flags.agent, '--agent'),
    // Read when the first admin request is signed: usage errors come first, and commands that sign nothing need no key.
    operator: () => {
      operator ??= Admin.operatorFromEnv()
      return operator
    },
    json: input.flags.json === true,
    devnetDir: resolveDevnetDir(input.flags.devnetDir).dir,
  }
}

function httpUrl(value: string, flag: string): string {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new UsageError('usage', `${flag} takes a base URL (http or https), not "${value}"`, { docs })
  return value.replace(/\/+$/, '')
}
