/**
 * The operator's side of a running uplift (DESIGN.md §10; docs/cli/uplift.md): the agent's health and admin API, the
 * target's approval and launch (step 1) through a provider, the agent told to move, then each source step followed
 * to `done` or `failed` (steps 1–5, polled from the agent's status) and the outside check.
 */
import { resolve } from 'node:path'
import { regentSuccessionAbi } from '@regent-tee/contracts'
import { readCanonical } from '@regent-tee/sdk/chain'
import { phases, sourceSteps } from '@regent-tee/sdk/uplift'
import type { ListrTask } from 'listr2'
import type { Address, Hex, LocalAccount } from 'viem'
import type { CommandResult } from '../command.js'
import type { ProjectTarget } from '../commands/deployDstack.js'
import { CliError } from '../errors.js'
import { progress } from '../progress.js'
import * as Admin from '../project/Admin.js'
import * as AgentApp from '../project/AgentApp.js'
import * as AppAuth from '../project/AppAuth.js'
import * as ExampleAgent from '../project/ExampleAgent.js'
import { devnetReader } from '../providers/devnet.js'
import { dstackOptions } from '../providers/dstack.js'
import { type LaunchedTarget, type Provider, providerFor } from '../providers/Provider.js'
import type { UpliftOutput } from './Output.js'
import { short, stepTitles } from './Render.js'
import { canonicalRecord, verifyCanonical } from './VerifyCanonical.js'

const docs = 'docs/cli/uplift.md'
/** How long a launched target may take to boot (KMS keys) and answer /health as an uplift target. */
const bootTimeoutMs = 120_000
/** How often the agent's uplift status is read while it runs. */
const pollIntervalMs = 100
/** The whole uplift, from the agent accepting it to `done` or `failed`. */
const upliftTimeoutMs = 600_000
/** How long the agent may stop answering while it runs (it keeps serving through the handover). */
const silenceMs = 10_000

/** The agent a command talks to, its operator's key (read on first use), the output mode and the devnet. */
export type AgentOptions = { agent: string; operator: () => LocalAccount; json: boolean; devnetDir: string }

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
  const o: AgentOptions = { agent: p.agent, operator: p.operator, json: p.json, devnetDir: p.devnetDir }
  let client: ReturnType<typeof Admin.client> | undefined
  const admin = { get: () => (client ??= Admin.client(o.agent, o.operator())) }
  const { key, targetUrl } = p
  const devnet = devnetReader(o.devnetDir, docs)
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
        out.agent = await Admin.agentHealth(o.agent, { start: true })
        const s = Admin.unwrap(o.agent, await admin.get().status())
        if (s.ok) Admin.assertFree(o.agent, s.data, p.note)
        else throw Admin.refusalError(o.agent, s.refusal)
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
          if (!info.ok) throw Admin.refusalError(o.agent, info.refusal)
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
          if (!info.ok) throw Admin.refusalError(o.agent, info.refusal)
          const file = await devnet()
          const app = await AgentApp.build({
            dir: bundle,
            out: resolve(o.devnetDir, 'builds'),
            settings: { v: 1, operator: info.data.operator, chainId: file.chainId, contracts: file.contracts, trustedRoots: [file.rootCa] },
          })
          compose = app.compose
          bundleDir = app.bundleDir
          const a = await AppAuth.agentAppApproval(await devnet(), {
            agentId: BigInt(out.agent.agentId),
            compose,
            approve: p.approve === true,
            docs,
          })
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
      throw Admin.refusalError(o.agent, r.refusal)
    },
  })
  await progress(tasks, o.json).run()
  if (out.state === 'refused' || !first) return { ok: false, data: out }
  return follow(o, out, first, { verify: p.verify !== false, ...(project ? { chain: project } : {}) })
}

/**
 * `regent uplift resume`: the agent resumes its unfinished session (or is already running it, or has completed it);
 * the CLI follows it to the end.
 */
export async function resumeAgent(o: AgentOptions): Promise<CommandResult<UpliftOutput>> {
  const out: UpliftOutput = empty(o.agent, null)
  let first: Admin.UpliftStatus | undefined
  await progress(
    [
      {
        title: `agent: ${o.agent}`,
        task: async (_c, task) => {
          out.agent = await Admin.agentHealth(o.agent, { start: false })
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
            if (!s.ok) throw Admin.refusalError(o.agent, s.refusal)
            if (r.refusal.code === 'uplift.busy' || s.data.state === 'done') first = s.data
            else
              throw new CliError('uplift.none', `the agent at ${o.agent} has no uplift to resume (${r.refusal.message})`, {
                hint: `start one: regent uplift --agent ${o.agent} --target local`,
                docs,
              })
          } else throw Admin.refusalError(o.agent, r.refusal)
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
}

// ---------------------------------------------------------------------------------------------------------------
// Following a running uplift
// ---------------------------------------------------------------------------------------------------------------

/** Polls the agent's status and ticks each source step as it completes; then the summary (and the outside check). */
async function follow(
  o: AgentOptions,
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
  const file = verify && targetUrl ? await devnetReader(o.devnetDir, docs)().catch(() => undefined) : undefined
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
function watcher(o: AgentOptions, first: Admin.UpliftStatus): Watcher {
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
        if (!r.ok) throw Admin.refusalError(o.agent, r.refusal)
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

function need<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('an uplift step ran before the step it depends on')
  return value
}
