/**
 * `regent uplift`: the self-uplift protocol from the operator's side (DESIGN.md §10, docs/uplift.md,
 * docs/cli/uplift.md). The running agent is the source and drives the protocol itself; the CLI launches the target
 * through a provider (docs/providers.md), tells the agent to move through its admin API, and follows it step by step.
 *
 * - `regent uplift --agent <url> --target local`: health → app id and measurement approval → launch → move → follow.
 * - `regent uplift resume --agent <url>`: the agent resumes its unfinished session; the CLI follows it.
 * - `regent uplift status --agent <url> | --journal <file>`: the agent's session, or a source journal read offline
 *   (only its `steps` table: sealed secrets are never opened, so no key is needed).
 */
import { createHash, randomBytes } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { regentSuccessionAbi } from '@regent-tee/contracts'
import { type DevnetFile, DevnetTd, status as devnetStatus } from '@regent-tee/devnet'
import { JournalRoleError, openUpliftJournal, readCanonical } from '@regent-tee/sdk'
import { type AdminRefusal, phases, sourceSteps } from '@regent-tee/sdk/uplift'
import type { ListrTask } from 'listr2'
import type { Address, Hex, LocalAccount } from 'viem'
import type { Command, CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import { progress } from '../progress.js'
import * as Admin from '../project/Admin.js'
import * as AgentApp from '../project/AgentApp.js'
import * as AppAuth from '../project/AppAuth.js'
import * as Config from '../project/Config.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'
import * as ExampleAgent from '../project/ExampleAgent.js'
import { dstackOptions } from '../providers/dstack.js'
import { type LaunchedTarget, type Provider, providerFor } from '../providers/Provider.js'
import type { ProjectTarget } from './deployDstack.js'
import * as DeployDstack from './deployDstack.js'

const docs = 'docs/cli/uplift.md'
/** How long a launched target may take to boot (KMS keys) and answer /health as an uplift target. */
const bootTimeoutMs = 120_000
/** How often the agent's uplift status is read while it runs. */
const pollIntervalMs = 100
/** The whole uplift, from the agent accepting it to `done` or `failed`. */
const upliftTimeoutMs = 600_000
/** How long the agent may stop answering while it runs (it keeps serving through the handover). */
const silenceMs = 10_000

/** What the source step means for a human (the journal names are the contract). */
const stepTitles: Record<string, string> = {
  'source-hello': 'session opened (fresh nonce)',
  'target-hello': "the target's hello and quote",
  'key-envelope': 'target attested; the key sealed to it (option A)',
  'key-offer': 'target attested; succession certificate signed (option B)',
  commit: 'state root committed on-chain',
  'state-offer': 'state sent, encrypted to the target',
  challenge: 'handshake challenge (fresh nonce, Merkle leaves)',
  'challenge-answer': "the target's answer (signature, leaves, fresh quote)",
  'handover-tx': 'on-chain handover (epoch + 1)',
  registration: 'ERC-8004 registration file points at the target',
  handover: 'the target is canonical; the source is demoted',
}

/** The outside check of the new canonical instance (only with a devnet to read the chain from). */
export type Verification =
  | { served: true; isAgent: boolean; score: number; failures: string[] }
  | {
      served: false
      note: string
      /** RegentSuccession names the signer and epoch the agent reported. */
      matches: boolean
      canonical: { epoch: string; signer: string; host: string; composeHash: string; quoteHash: string }
    }

/** What `regent uplift --json` and `regent uplift resume --json` print. */
export type UpliftOutput = {
  /** `done`; `failed` (the agent's error, resume it); `refused` (the agent's decision table says no). */
  state: 'done' | 'failed' | 'refused'
  agent: { url: string; agentId: string; wallet: string }
  key: 'import' | 'rotate' | null
  target: { url: string; wallet: string | null; provider: string | null; id: string | null; stopped: boolean } | null
  /** The agent's app in RegentAppAuth and the target's compose hash (launches only). */
  appId: string | null
  composeHash: string | null
  /** What `--approve` added to the app (empty when it was already approved). */
  approved: string[]
  decision: Admin.Decision | null
  /** The agent's last uplift status. */
  status: Admin.UpliftStatus | null
  result: Admin.UpliftStatus['result']
  /** The new signer is the agent's wallet before the uplift (option A); null until done. */
  sameWallet: boolean | null
  verification: Verification | null
  error: { code: string; message: string } | null
  hint: string | null
}

/** What `regent uplift status --journal <file> --json` prints. */
export type JournalStatusOutput = {
  journal: string
  sessionId: string | null
  mode: 'import' | 'rotate' | null
  steps: { step: string; at: string }[]
  /** The next source step to run, or null when the uplift is complete. */
  next: string | null
  complete: boolean
}

/** What `regent uplift status --agent <url> --json` prints: the agent's `GET /admin/uplift`. */
export type AgentStatusOutput = { agent: string } & Admin.UpliftStatus

type Options = { agent: string; operator: () => LocalAccount; json: boolean; devnetDir: string }

/** What {@link upliftAgent} needs: the running agent, the key option, and where its target comes from. */
export type UpliftAgentParameters = {
  /** The running agent's base URL (its /health and admin API). */
  agent: string
  /** The operator's key (read when the first request is signed): it signs each admin request; only signatures leave. */
  operator: () => LocalAccount
  key: 'import' | 'rotate'
  /** Move even when the agent's decision table says no. */
  force?: boolean
  /** The provider to launch the target with (`local` = the devnet); ignored with `targetUrl`. */
  target?: string
  /** A target launched by hand, already answering /health as an uplift target: no launch, no approval. */
  targetUrl?: string
  /** The target bundle (a directory with its app-compose.json); default: the example agent. */
  bundle?: string
  /** Devnet: approve the target's measurement for the agent's app first. */
  approve?: boolean
  /** `--target dstack`: the dstack-vmm URL (default: the devnet's VMM). */
  vmmUrl?: string
  /** `--target dstack --dir <project>`: the target built from the agent's project, on its chain (`--network`). */
  project?: ProjectTarget
  devnetDir: string
  /** Plain progress lines instead of the animated list (stdout keeps the JSON). */
  json: boolean
  /** Where notes for a human go. */
  note: (line: string) => void
  /** Check the new instance as an outside verifier once done (default true; `regent demo` does its own). */
  verify?: boolean
}

/**
 * The operator's side of an uplift, as `regent uplift --agent <url>` runs it: the agent's health and admin API,
 * the target's approval and launch through the provider (or a given target URL), `POST /admin/uplift`, then each
 * source step followed to the end and (with a devnet) the outside check. `regent demo` runs the same function.
 *
 * @throws {CliError} when the agent, the target, the devnet or the chain is not what is needed (the codes of
 *   docs/cli/uplift.md "Errors and exit codes"); a refusal (`decide.negative`) and a failed uplift are returned.
 * @example
 * const r = await upliftAgent({ agent: 'http://127.0.0.1:8080', operator, key: 'import', target: 'local', devnetDir: '.regent', json: false, note })
 * if (r.data.state === 'done') console.log(r.data.result?.transactionHash)
 */
export async function upliftAgent(p: UpliftAgentParameters): Promise<CommandResult<UpliftOutput>> {
  const o: Options = { agent: p.agent, operator: p.operator, json: p.json, devnetDir: p.devnetDir }
  let client: ReturnType<typeof Admin.client> | undefined
  const admin = { get: () => (client ??= Admin.client(o.agent, o.operator())) }
  const { key, targetUrl } = p
  const devnet = devnetReader(o.devnetDir)
  // --target dstack: the dstack-vmm provider (issue 15), the VMM from --vmm-url or the devnet's.
  const dstack = async () => dstackOptions({ vmmUrl: p.vmmUrl, devnet: await devnet().catch(() => undefined), devnetDir: o.devnetDir })
  const provider = targetUrl || p.project ? undefined : providerFor(p.target ?? 'local', { devnet, dstack })
  const bundle = resolve(p.bundle ?? ExampleAgent.dir)

  const out: UpliftOutput = empty(o.agent, key)
  let launched: LaunchedTarget | undefined
  let first: Admin.UpliftStatus | undefined
  const tasks: ListrTask[] = [
    {
      title: `agent: ${o.agent}`,
      task: async (_c, task) => {
        out.agent = await agentHealth(o.agent, { start: true })
        const s = Admin.unwrap(o.agent, await admin.get().status())
        if (s.ok) assertFree(o.agent, s.data, p.note)
        else throw refusalError(o.agent, s.refusal)
        task.title = `agent: ${out.agent.agentId} at ${o.agent} (wallet ${out.agent.wallet}); admin API answers, no uplift in progress`
      },
    },
  ]
  const project = p.project
  if (project) {
    tasks.push(
      {
        title: `contracts: the project's build approved in the agent's app (${project.label})`,
        task: async (_c, task) => {
          const info = Admin.unwrap(o.agent, await admin.get().info())
          if (!info.ok) throw refusalError(o.agent, info.refusal)
          if (info.data.chainId !== project.chainId || info.data.succession.toLowerCase() !== project.contracts.succession.toLowerCase())
            throw new CliError(
              'chain.mismatch',
              `the agent answers to chain ${info.data.chainId} (RegentSuccession ${info.data.succession}), not ${project.label} (chain ${project.chainId}, ${project.contracts.succession})`,
              { hint: 'pass the --network the agent was deployed on', docs },
            )
          const a = await project.approve(info.data.operator)
          const appOf = (await project.publicClient.readContract({
            address: project.contracts.succession,
            abi: regentSuccessionAbi,
            functionName: 'appOf',
            args: [BigInt(out.agent.agentId)],
          })) as Address
          if (appOf.toLowerCase() !== a.appId.toLowerCase())
            throw new CliError('target.other_app', `agent ${out.agent.agentId} belongs to app ${appOf}, the project's app is ${a.appId}`, {
              hint: 'pass the --dir of the project the agent was deployed from',
              docs,
            })
          Object.assign(out, { appId: a.appId, composeHash: a.composeHash, approved: a.added })
          task.title = `contracts: app ${a.appId} approves compose hash ${short(a.composeHash)} on ${project.label}${a.added.length ? ` (added ${a.added.join(', ')})` : ''}`
        },
      },
      {
        title: `tee: launch the target through the ${project.provider.name} provider`,
        task: async (_c, task) => {
          launched = await project.launch(need(out.appId) as Hex)
          out.target = { url: launched.url, wallet: null, provider: launched.provider, id: launched.id, stopped: false }
          out.target.wallet = await waitForTarget(launched.url, { provider: project.provider, id: launched.id })
          task.title = `tee: VM ${launched.id} at ${launched.url} (its own KMS wallet ${out.target.wallet})`
        },
      },
    )
  } else if (provider) {
    let compose: Uint8Array | undefined
    let bundleDir: string | undefined
    tasks.push(
      {
        title: "contracts: the agent's app approves the target's measurement",
        task: async (_c, task) => {
          // The target's measured settings: the same operator, chain and contracts as the agent's, the devnet root.
          const info = Admin.unwrap(o.agent, await admin.get().info())
          if (!info.ok) throw refusalError(o.agent, info.refusal)
          const file = await devnet()
          const app = await AgentApp.build({
            dir: bundle,
            out: resolve(o.devnetDir, 'builds'),
            settings: { v: 1, operator: info.data.operator, chainId: file.chainId, contracts: file.contracts, trustedRoots: [file.rootCa] },
          })
          compose = app.compose
          bundleDir = app.bundleDir
          const a = await approval(await devnet(), { agentId: BigInt(out.agent.agentId), compose, approve: p.approve === true })
          Object.assign(out, { appId: a.appId, composeHash: a.composeHash, approved: a.added })
          task.title = `contracts: app ${a.appId} approves compose hash ${short(a.composeHash)}${a.added.length ? ` (--approve added ${a.added.join(', ')})` : ''}`
        },
      },
      {
        title: `tee: launch the target through the ${provider.name} provider`,
        task: async (_c, task) => {
          const file = await devnet()
          launched = await provider.launch({
            compose: need(compose),
            bundle: need(bundleDir),
            appId: need(out.appId) as Hex,
            // Once it is the agent, the same operator keeps its admin API, and it can verify its own future targets.
            // Host settings only: its security settings (operator, chain, trusted roots) are in the measured compose.
            env: { REGENT_UPLIFT_ROLE: 'target', REGENT_COLLATERAL_URL: file.collateralUrl },
          })
          out.target = { url: launched.url, wallet: null, provider: launched.provider, id: launched.id, stopped: false }
          out.target.wallet = await waitForTarget(launched.url, { provider, id: launched.id })
          task.title = `tee: ${launched.id} at ${launched.url} (its own KMS wallet ${out.target.wallet})`
        },
      },
    )
  } else {
    tasks.push({
      title: `target: ${targetUrl}`,
      task: async (_c, task) => {
        const url = need(targetUrl)
        out.target = { url, wallet: await waitForTarget(url, {}), provider: null, id: null, stopped: false }
        task.title = `target: ${url} answers as an uplift target (wallet ${out.target.wallet})`
      },
    })
  }
  tasks.push({
    title: `step 0 (${phases[0]}) uplift --key ${key}: tell the agent to move`,
    task: async (_c, task) => {
      const target = need(out.target)
      // Option B hands the agent to the target's own key: a CVM of the agent's own app has the agent's key already.
      if (key === 'rotate' && target.wallet?.toLowerCase() === out.agent.wallet.toLowerCase()) {
        const launcher = provider ?? project?.provider
        if (launched && launcher)
          target.stopped = await launcher.stop(launched.id).then(
            () => true,
            () => false,
          )
        throw new CliError(
          'rotate.same_key',
          `the target's own key ${target.wallet} is already the agent's key (a CVM of the same app: the KMS derives one key per app)${launched ? `; ${launched.id} ${target.stopped ? 'stopped' : 'could NOT be stopped'}` : ''}`,
          { hint: `move it with its key: regent uplift --agent ${o.agent} --key import`, docs },
        )
      }
      const r = Admin.unwrap(o.agent, await admin.get().start({ targetUrl: target.url, key, ...(p.force === true ? { force: true } : {}) }))
      if (r.ok) {
        first = r.data
        out.decision = r.data.decision
        task.title = `step 0 (${phases[0]}) uplift --key ${key}: the agent accepted${r.data.decision ? ` (EV = ${r.data.decision.ev.toFixed(2)} → proceed)` : ''}${r.data.sessionId ? ` (session ${short(r.data.sessionId)})` : ''}`
        return
      }
      // The agent did not take the target: a CVM this command launched is of no use, stop it.
      const launcher = provider ?? project?.provider
      if (launched && launcher) {
        target.stopped = await launcher.stop(launched.id).then(
          () => true,
          () => false,
        )
        p.note(`the agent did not take the target: ${launched.id} ${target.stopped ? 'stopped' : 'could NOT be stopped'}`)
      }
      if (r.refusal.code === 'decide.negative') {
        const d = r.refusal.decision ?? undefined
        out.state = 'refused'
        out.decision = d ?? null
        out.error = { code: r.refusal.code, message: r.refusal.message }
        out.hint = `pass --force to move anyway: regent uplift --agent ${o.agent} --force`
        task.title = `step 0 (${phases[0]}) uplift --key ${key}: the agent's decision table says no${d ? ` (EV = ${d.ev})` : ''}`
        return
      }
      throw refusalError(o.agent, r.refusal)
    },
  })
  await progress(tasks, o.json).run()
  if (out.state === 'refused' || !first) return { ok: false, data: out }
  return follow(o, out, first, { verify: p.verify !== false, ...(project ? { chain: project } : {}) })
}

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
    const o = options(input)
    const out: UpliftOutput = empty(o.agent, null)
    let first: Admin.UpliftStatus | undefined
    await progress(
      [
        {
          title: `agent: ${o.agent}`,
          task: async (_c, task) => {
            out.agent = await agentHealth(o.agent, { start: false })
            task.title = `agent: ${out.agent.agentId} at ${o.agent}`
          },
        },
        {
          title: 'resume: tell the agent to resume its session',
          task: async (_c, task) => {
            const admin = Admin.client(o.agent, o.operator())
            const r = Admin.unwrap(o.agent, await admin.resume())
            if (r.ok) first = r.data
            else if (r.refusal.code === 'uplift.busy' || r.refusal.code === 'uplift.none') {
              // Already running (follow it to the end), or already complete (a restarted agent resumes by itself).
              const s = Admin.unwrap(o.agent, await admin.status())
              if (!s.ok) throw refusalError(o.agent, s.refusal)
              if (r.refusal.code === 'uplift.busy' || s.data.state === 'done') first = s.data
              else
                throw new CliError('uplift.none', `the agent at ${o.agent} has no uplift to resume (${r.refusal.message})`, {
                  hint: `start one: regent uplift --agent ${o.agent} --target local`,
                  docs,
                })
            } else throw refusalError(o.agent, r.refusal)
            const s = need(first)
            const how = r.ok ? 'resumed' : s.state === 'done' ? 'already complete' : 'already running, following it'
            task.title = `resume: session ${s.sessionId ? short(s.sessionId) : '?'} ${how}${s.next ? ` at ${s.next}` : ''}`
          },
        },
      ],
      o.json,
    ).run()
    const s = need(first)
    out.key = s.mode
    out.decision = s.decision
    if (s.targetUrl) out.target = { url: s.targetUrl, wallet: null, provider: null, id: null, stopped: false }
    return follow(o, out, s)
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
    if (!r.ok) throw refusalError(o.agent, r.refusal)
    return { ok: true, data: { agent: o.agent, ...r.data } }
  },
  render(result) {
    const d = result.data as AgentStatusOutput | JournalStatusOutput
    return 'journal' in d ? renderJournal(d) : renderAgentStatus(d)
  },
}

// ---------------------------------------------------------------------------------------------------------------
// Following a running uplift
// ---------------------------------------------------------------------------------------------------------------

/** Polls the agent's status and ticks each source step as it completes; then the summary (and the outside check). */
async function follow(
  o: Options,
  out: UpliftOutput,
  first: Admin.UpliftStatus,
  { verify, chain }: { verify: boolean; chain?: Pick<ProjectTarget, 'label' | 'contracts' | 'publicClient'> } = { verify: true },
): Promise<CommandResult<UpliftOutput>> {
  const watch = watcher(o, first)
  const mode = first.mode ?? out.key ?? 'import'
  out.key = mode
  const tasks: ListrTask[] = sourceSteps.map(({ name: s, phase }) => {
    const step = s === 'key' ? (mode === 'import' ? 'key-envelope' : 'key-offer') : s
    return {
      title: `step ${phase} (${phases[phase]}) ${step}: ${stepTitles[step]}`,
      task: async (_c, task) => {
        const at = await watch.until(step)
        // The agent reports `done` just after its last step (it tells the target first).
        if (s === 'handover') await watch.settled()
        task.title = `step ${phase} (${phases[phase]}) ${step}: ${stepTitles[step]}${at ? `  ${at}` : ''}`
      },
    }
  })
  try {
    await progress(tasks, o.json).run()
  } catch (error) {
    if (!(error instanceof UpliftFailed)) throw error
  }
  const s = watch.latest()
  out.status = s
  out.decision = s.decision ?? out.decision
  out.result = s.result
  if (s.state !== 'done' || !s.result) {
    out.state = 'failed'
    out.error = s.error ?? { code: 'uplift.failed', message: `the uplift stopped in state ${s.state}` }
    out.hint = `regent uplift resume --agent ${o.agent}`
    return { ok: false, data: out }
  }
  out.state = 'done'
  out.sameWallet = s.result.signer.toLowerCase() === out.agent.wallet.toLowerCase()
  const targetUrl = s.targetUrl ?? out.target?.url
  if (chain && verify) {
    // Another chain than the devnet's: RegentSuccession there must name what the agent reported.
    const c = await readCanonical(chain.publicClient, { contracts: chain.contracts, agentId: BigInt(out.agent.agentId) })
    out.verification = canonicalRecord(
      c,
      need(s.result),
      `read on ${chain.label}: \`regent identity verify <url> --rpc-url … --contracts …\` runs the identity function there`,
    )
    return { ok: out.verification.served === false && out.verification.matches, data: out }
  }
  const file = verify && targetUrl ? await devnetReader(o.devnetDir)().catch(() => undefined) : undefined
  if (file && targetUrl) {
    await progress(
      [
        {
          title: 'verify: the new canonical instance, as an outside verifier',
          task: async (_c, task) => {
            out.verification = await verifyCanonical(file, o.devnetDir, targetUrl, BigInt(out.agent.agentId), need(s.result))
            const v = out.verification
            task.title = v.served
              ? `verify: identity function ${v.isAgent ? 'holds' : 'FAILS'}, security score ${v.score}`
              : `verify: RegentSuccession names ${v.canonical.signer} at epoch ${v.canonical.epoch}${v.matches ? ', as the agent reported' : ', NOT what the agent reported'}`
          },
        },
      ],
      o.json,
    ).run()
  }
  const v = out.verification
  return { ok: !v || (v.served ? v.isAgent : v.matches), data: out }
}

class UpliftFailed extends Error {
  override name = 'UpliftFailed'
}

type Watcher = {
  latest(): Admin.UpliftStatus
  until(step: string): Promise<string | undefined>
  /** Resolves once the agent reports `done` or `failed`. */
  settled(): Promise<Admin.UpliftStatus>
}

/** One poll loop for all step tasks: `until(step)` resolves with the step's time, rejects when the uplift failed. */
function watcher(o: Options, first: Admin.UpliftStatus): Watcher {
  const admin = Admin.client(o.agent, o.operator())
  let latest = first
  let wake: (() => void)[] = []
  const finished = (async () => {
    const deadline = Date.now() + upliftTimeoutMs
    let answered = Date.now()
    while (latest.state === 'running' || latest.state === 'idle') {
      if (Date.now() > deadline)
        throw new CliError(
          'uplift.timeout',
          `the uplift did not finish within ${upliftTimeoutMs / 1000} s (last step ${latest.steps.at(-1)?.step ?? 'none'})`,
          {
            hint: `regent uplift status --agent ${o.agent}`,
            docs,
          },
        )
      await new Promise((r) => setTimeout(r, pollIntervalMs)) // the poll interval, not a synchronization
      try {
        const r = Admin.unwrap(o.agent, await admin.status())
        if (!r.ok) throw refusalError(o.agent, r.refusal)
        latest = r.data
        answered = Date.now()
      } catch (error) {
        if (!(error instanceof CliError && error.code === 'agent.unreachable' && Date.now() - answered < silenceMs)) throw error
      }
      for (const w of wake) w()
      wake = []
    }
    return latest
  })()
  finished.catch(() => {}) // observed through until()
  return {
    latest: () => latest,
    settled: () => finished,
    async until(step) {
      for (;;) {
        const done = latest.steps.find((s) => s.step === step)
        if (done) return done.at
        if (latest.state === 'done') return undefined
        if (latest.state === 'failed') throw new UpliftFailed(`${latest.error?.code ?? 'failed'}: ${latest.error?.message ?? ''}`)
        await Promise.race([new Promise<void>((r) => wake.push(r)), finished])
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------------------------

/** The agent's /health: it must be an agent (`start`: one that still holds its epoch). */
async function agentHealth(url: string, { start }: { start: boolean }): Promise<UpliftOutput['agent']> {
  const h = await Admin.health(url)
  if (h.role === 'uplift-target')
    throw new CliError('agent.uplift_target', `${url} is an uplift target (a CVM waiting for an agent), not the agent`, {
      hint: 'pass the URL of the running agent that should move',
      docs,
    })
  if (start && h.role === 'demoted')
    throw new CliError('agent.demoted', `the agent at ${url} has already handed over: it is a demoted backup`, {
      hint: `its last uplift: regent uplift status --agent ${url}`,
      docs,
    })
  if (typeof h.agentId !== 'string' || !/^\d{1,78}$/.test(h.agentId) || typeof h.wallet !== 'string' || (start && h.role !== 'agent'))
    throw new CliError('agent.not_agent', `${url} is not a Regent agent (GET /health names no agentId, wallet and role "agent")`, {
      hint: "pass the agent's base URL (the one that serves /health)",
      docs,
    })
  return { url, agentId: h.agentId, wallet: h.wallet }
}

/**
 * Before launching anything: the agent has no session running, done, or failed after its key left (that one must be
 * resumed). A session that failed before its key step may be replaced: the agent abandons it on the next start.
 */
function assertFree(url: string, s: Admin.UpliftStatus, note: (line: string) => void): void {
  if (s.state === 'running')
    throw new CliError(
      'uplift.busy',
      `the agent at ${url} is already running an uplift (session ${s.sessionId ?? '?'}, next ${s.next ?? '?'})`,
      {
        hint: `follow it: regent uplift resume --agent ${url}`,
        docs,
      },
    )
  if (s.state === 'done')
    throw new CliError(
      'uplift.done',
      `the agent at ${url} has completed an uplift already (session ${s.sessionId ?? '?'} to ${s.targetUrl ?? '?'})`,
      {
        hint: `regent uplift status --agent ${url}`,
        docs,
      },
    )
  const keySent = s.steps.some((e) => e.step === 'key-envelope' || e.step === 'key-offer')
  if (s.state === 'failed' && !keySent)
    note(`the agent's failed session ${s.sessionId ?? ''} stopped before its key step: the agent abandons it for this one`)
  else if (s.state === 'failed')
    throw new CliError(
      'uplift.unfinished',
      `the agent at ${url} has an unfinished uplift (session ${s.sessionId ?? '?'}, stopped before ${s.next ?? '?'}${s.error ? `: ${s.error.code}: ${s.error.message}` : ''})`,
      { hint: `regent uplift resume --agent ${url}`, docs },
    )
}

/** An admin refusal the command does not handle itself, as a CLI error (the agent's code and message). */
function refusalError(url: string, r: AdminRefusal): CliError {
  if (r.code === 'uplift.busy')
    return new CliError('uplift.busy', `the agent at ${url} has an uplift running or unfinished (${r.message})`, {
      hint: `regent uplift resume --agent ${url}`,
      docs,
    })
  return new CliError(r.code, `the agent at ${url} refused (HTTP ${r.status}): ${r.message}`, { docs })
}

/** The agent's app (RegentSuccession.appOf) approves the target's compose hash, OS image and KMS root, or --approve does it. */
async function approval(file: DevnetFile.DevnetFile, params: { agentId: bigint; compose: Uint8Array; approve: boolean }) {
  const { publicClient } = AppAuth.clients(file)
  const appId = (await publicClient.readContract({
    address: file.contracts.succession,
    abi: regentSuccessionAbi,
    functionName: 'appOf',
    args: [params.agentId],
  })) as Address
  if (/^0x0{40}$/.test(appId))
    throw new CliError('agent.no_app', `agent ${params.agentId} has no app in RegentSuccession on this chain`, {
      hint: 'is the agent enrolled on the devnet this command reads (--devnet-dir)?',
      docs,
    })
  const composeHash = `0x${createHash('sha256').update(params.compose).digest('hex')}` as Hex
  const measured = {
    appAuth: file.contracts.appAuth,
    appId,
    composeHash,
    osImageHash: DevnetTd.published(DevnetTd.defaultImage).osImageHash,
    osImageMeasurements: DevnetTd.published(DevnetTd.defaultImage).measurements,
    kmsRoot: file.kmsRoot,
  }
  const a = await AppAuth.measurement(publicClient, measured)
  const missing = [
    ...(a.composeHash ? [] : [`compose hash ${composeHash}`]),
    ...(a.osImage ? [] : ['the devnet OS image']),
    ...(a.kmsRoot === false ? ['the KMS root'] : []),
  ]
  if (missing.length > 0 && params.approve) {
    const { added } = await AppAuth.approveMeasurement(AppAuth.clients(file), { ...measured, docs })
    return { appId, composeHash, added: added as string[] }
  }
  if (missing.length > 0)
    throw new CliError('target.unapproved', `the agent's app ${appId} does not approve ${missing.join(', ')} (active now)`, {
      hint: 'on the devnet add --approve to approve it as the app owner; elsewhere the app owner approves it in RegentAppAuth',
      docs,
    })
  return { appId, composeHash, added: [] as string[] }
}

/** Polls (bounded) until the target answers /health as an uplift target; returns its own wallet. */
async function waitForTarget(url: string, launched: { provider?: Provider; id?: string }): Promise<string> {
  const deadline = Date.now() + bootTimeoutMs
  for (;;) {
    const h = await fetch(`${url.replace(/\/+$/, '')}/health`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => (r.ok ? (r.json() as Promise<Admin.Health>) : undefined),
      () => undefined,
    )
    if (h?.role === 'uplift-target' && typeof h.wallet === 'string') return h.wallet
    if (h?.role !== undefined && h.role !== 'uplift-target')
      throw new CliError('target.not_target', `the target at ${url} answers as "${h.role}", not as an uplift target`, {
        hint: 'the target must run with REGENT_UPLIFT_ROLE=target',
        docs,
      })
    if (Date.now() > deadline) {
      const id = launched.id
      throw new CliError('target.boot_failed', `the target at ${url} did not answer as an uplift target within ${bootTimeoutMs / 1000} s`, {
        hint: id ? `see its output: \`regent dev cvm logs ${id}\`; stop it: \`regent dev cvm stop ${id}\`` : 'is it running?',
        docs,
      })
    }
    await new Promise((r) => setTimeout(r, 200)) // the target is still booting (KMS keys)
  }
}

/** `/identity` of the new instance through `regent identity verify`, or (when it serves none) RegentSuccession's record. */
async function verifyCanonical(
  file: DevnetFile.DevnetFile,
  devnetDir: string,
  url: string,
  agentId: bigint,
  result: NonNullable<Admin.UpliftStatus['result']>,
): Promise<Verification> {
  const nonce = `0x${randomBytes(32).toString('hex')}`
  const served = await fetch(`${url.replace(/\/+$/, '')}/identity?nonce=${nonce}`, { signal: AbortSignal.timeout(30_000) }).then(
    (r) => r.ok,
    () => false,
  )
  if (served) {
    const { verify } = await import('./identity.js')
    const r = await verify.run({ args: [url], flags: { devnetDir, agentId: String(agentId) }, note: () => {} })
    const d = r.data as { isAgent: boolean; score: number; failures: string[] }
    return { served: true, isAgent: d.isAgent, score: d.score, failures: d.failures }
  }
  const c = await readCanonical(AppAuth.clients(file).publicClient, { contracts: file.contracts, agentId })
  return canonicalRecord(
    c,
    result,
    'the new instance serves no /identity, so the identity function cannot be run on it; RegentSuccession is read instead',
  )
}

/** RegentSuccession's record compared with what the agent reported. */
function canonicalRecord(
  c: Awaited<ReturnType<typeof readCanonical>>,
  result: NonNullable<Admin.UpliftStatus['result']>,
  note: string,
): Verification {
  return {
    served: false,
    note,
    matches: c.instance.signer.toLowerCase() === result.signer.toLowerCase() && String(c.epoch) === result.epoch,
    canonical: {
      epoch: String(c.epoch),
      signer: c.instance.signer,
      host: c.instance.host,
      composeHash: c.instance.composeHash,
      quoteHash: c.instance.quoteHash,
    },
  }
}

async function journalStatus(path: string): Promise<JournalStatusOutput> {
  if (
    !(await stat(path).then(
      (s) => s.isFile(),
      () => false,
    ))
  )
    throw new UsageError('journal.missing', `no journal at ${path}`, { hint: "pass the source's uplift journal (SQLite)", docs })
  let journal: ReturnType<typeof openUpliftJournal>
  try {
    // The key only opens sealed secrets, which status never reads.
    journal = openUpliftJournal({ path, role: 'source', key: new Uint8Array(32) })
  } catch (error) {
    if (error instanceof JournalRoleError)
      throw new UsageError('journal.role', `${path} is not a source journal`, { hint: "the target's journal lives inside its CVM", docs })
    throw new UsageError('journal.invalid', `${path} is not an uplift journal`, { docs })
  }
  try {
    // Only the protocol's steps: an agent's journal also holds its own rows (`session`, `complete`, state chunks).
    const names = new Set<string>([...sourceSteps.map((x) => x.name), 'key-envelope', 'key-offer'])
    const entries = journal.list().filter((e) => names.has(e.step))
    const done = new Set(entries.map((e) => (e.step === 'key-envelope' || e.step === 'key-offer' ? 'key' : e.step)))
    const first = journal.get<{ sessionId?: unknown }>('source-hello')
    const mode = entries.some((e) => e.step === 'key-envelope') ? 'import' : entries.some((e) => e.step === 'key-offer') ? 'rotate' : null
    const next = sourceSteps.find((s) => !done.has(s.name))?.name ?? null
    return {
      journal: path,
      sessionId: typeof first?.sessionId === 'string' ? first.sessionId : null,
      mode,
      steps: entries.map((e) => ({ step: e.step, at: e.at })),
      next: next === 'key' ? 'key-envelope | key-offer' : next,
      complete: next === null,
    }
  } finally {
    journal.close()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Input and output
// ---------------------------------------------------------------------------------------------------------------

function options(input: CommandInput): Options {
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

/** Reads the running devnet once (throws `devnet.not_running`). */
function devnetReader(dir: string): () => Promise<DevnetFile.DevnetFile> {
  let file: Promise<DevnetFile.DevnetFile> | undefined
  return () => {
    file ??= devnetStatus({ dir }).then((s) => {
      if (!s.running || !s.file)
        throw new CliError('devnet.not_running', `no devnet is running in ${dir}`, {
          hint: 'start one with `regent dev up` (or point --devnet-dir at its directory)',
          docs,
        })
      return s.file
    })
    return file
  }
}

function empty(url: string, key: UpliftOutput['key']): UpliftOutput {
  return {
    state: 'failed',
    agent: { url, agentId: '', wallet: '' },
    key,
    target: null,
    appId: null,
    composeHash: null,
    approved: [],
    decision: null,
    status: null,
    result: null,
    sameWallet: null,
    verification: null,
    error: null,
    hint: null,
  }
}

function render(result: CommandResult): string {
  const d = result.data as UpliftOutput
  const t = d.target
  if (d.state === 'refused')
    return [
      `✗ the agent ${d.agent.agentId} decided not to move${d.decision ? ` (EV = ${d.decision.ev})` : ''}: ${d.error?.message ?? ''}`,
      ...(d.decision ? ['', d.decision.table, ''] : []),
      ...(t?.id ? [`target ${t.id} ${t.stopped ? 'stopped' : 'NOT stopped (stop it: regent dev cvm stop)'}`] : []),
      `hint: ${d.hint}`,
    ].join('\n')
  if (d.state === 'failed') {
    const s = d.status
    return [
      `✗ the uplift of agent ${d.agent.agentId} failed${s?.next ? ` before ${s.next}` : ''}: ${d.error?.code}: ${d.error?.message}`,
      ...(s?.sessionId ? [`  session   ${s.sessionId}`] : []),
      ...(s ? [`  done      ${s.steps.map((e) => e.step).join(', ') || 'no step'}`] : []),
      ...(t ? [`  target    ${t.url}`] : []),
      `hint: ${d.hint}`,
    ].join('\n')
  }
  const r = d.result
  const v = d.verification
  return [
    `${result.ok ? '✓' : '✗'} agent ${d.agent.agentId} moved into ${t?.url ?? '?'} (--key ${d.key})`,
    `  signer    ${r?.signer}${d.sameWallet ? ' (same wallet)' : ` (rotated: was ${d.agent.wallet})`}`,
    `  epoch     ${r?.epoch}`,
    `  state     ${r?.stateRoot} (seq ${r?.seq})`,
    `  handover  tx ${r?.transactionHash}`,
    ...(d.status?.heldWrites
      ? [`  writes    ${d.status.heldWrites.held} accepted in the window, ${d.status.heldWrites.replayed} replayed at the target`]
      : []),
    `  target    ${t?.url ?? '?'}${t?.id ? ` (${t.provider} ${t.id})` : ''}${t?.wallet ? `, its own KMS wallet ${t.wallet}` : ''}`,
    ...(d.status?.sessionId ? [`  session   ${d.status.sessionId}`] : []),
    ...(v
      ? [
          v.served
            ? `outside verifier: identity function ${v.isAgent ? 'holds' : 'fails'}, security score ${v.score}${v.failures.length ? ` (${v.failures.join('; ')})` : ''}`
            : `outside verifier: ${v.note}\n  RegentSuccession: signer ${v.canonical.signer}, epoch ${v.canonical.epoch}, host ${v.canonical.host}${v.matches ? '' : ' — NOT what the agent reported'}`,
        ]
      : ['outside verifier: skipped (no devnet to read the chain from; see --devnet-dir)']),
  ].join('\n')
}

function renderAgentStatus(d: AgentStatusOutput): string {
  const head =
    d.state === 'idle'
      ? '– no uplift: the agent is idle'
      : d.state === 'running'
        ? `… uplift running: next step ${d.next ?? '?'}`
        : d.state === 'done'
          ? '✓ uplift done'
          : `✗ uplift failed${d.next ? ` before ${d.next}` : ''}${d.error ? `: ${d.error.code}: ${d.error.message}` : ''}`
  return [
    `${head}${d.mode ? ` (--key ${d.mode})` : ''}`,
    ...(d.sessionId ? [`  session ${d.sessionId}`] : []),
    ...(d.targetUrl ? [`  target  ${d.targetUrl}`] : []),
    ...d.steps.map((s) => `  ✓ ${s.step.padEnd(17)} ${s.at}`),
    ...(d.result
      ? [
          `  result  signer ${d.result.signer}, epoch ${d.result.epoch}, state ${d.result.stateRoot} (seq ${d.result.seq}), tx ${d.result.transactionHash}`,
        ]
      : []),
    ...(d.state === 'failed' ? [`hint: regent uplift resume --agent ${d.agent}`] : []),
  ].join('\n')
}

function renderJournal(d: JournalStatusOutput): string {
  return [
    `${d.complete ? '✓ uplift complete' : `… uplift in progress: next step ${d.next}`}${d.mode ? ` (--key ${d.mode})` : ''}`,
    ...(d.sessionId ? [`  session ${d.sessionId}`] : []),
    ...d.steps.map((s) => `  ✓ ${s.step.padEnd(17)} ${s.at}`),
  ].join('\n')
}

function need<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('an uplift step ran before the step it depends on')
  return value
}

const short = (hex: string) => (hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex)
