/**
 * The monitor (issue 18; DESIGN.md §12, §14 "regent monitor watches all of it and warns before harm"): every
 * interval, for every watched agent, it reads the chain (events since the last block seen, in bounded ranges; the
 * canonical instance, epoch, approvals and state), asks the canonical instance for a fresh identity bundle and
 * verifies it as an outside verifier does (`verifyInstance`: quote, RTMR3 replay, binding, KMS provenance, on-chain
 * facts, identity function and security score), rates its platform under Intel's standard and early TCB info, and
 * turns what it saw into typed alerts — raised once, resolved once (Alert.ts) — stored with every check in SQLite.
 *
 * Listeners receive each check and each alert transition as they happen (stdout, webhooks, the dashboard).
 */
import { randomBytes } from 'node:crypto'
import type { TrustedRoot } from '@regent-tee/attest'
import { identityRegistryAbi, regentAppAuthAbi } from '@regent-tee/contracts'
import { type IdentityBundle, verifyInstance } from '@regent-tee/sdk'
import { agentRegistryOf, readCanonical } from '@regent-tee/sdk/chain'
import { type Address, type Client, getAddress, type Hex } from 'viem'
import { getBlock, getBlockNumber, getCode, readContract } from 'viem/actions'
import { type Alert, type Domain, type Finding, reconcile, type Transition } from './Alert.js'
import * as ChainWatch from './ChainWatch.js'
import { type CollateralWatch, parsePlatformKey, partsOf, platformKey, platformOf, rate } from './CollateralWatch.js'
import {
  type ChainView,
  chainFindings,
  chainResolution,
  collateralFindings,
  eventFindings,
  instanceFindings,
  measurementChanges,
  type TcbStatus,
} from './Findings.js'
import type { AgentRow, CheckRow, EventRow, Store } from './Store.js'

/** An agent to watch: its URL, or its ERC-8004 agentId on the monitor's identity registry. */
export type Target = { url: string; agentId?: undefined } | { agentId: bigint; url?: string | undefined }

export type Settings = {
  /** Warn when collateral reaches its nextUpdate within this many ms. @default 7 days */
  collateralWarnMs: number
  /** state.stale when the last committed state root is older (chain time). @default 86_400 */
  stateMaxAgeSeconds: number
  /** tcb.degraded below this status. @default UpToDate */
  minTcbStatus: TcbStatus
  /** Timeout of one identity request. @default 15_000 */
  fetchTimeoutMs: number
  /** Agents checked at once. @default 8 */
  concurrency: number
  /** Largest eth_getLogs range. @default 10_000n */
  maxRange: bigint
}

export const defaultSettings: Settings = {
  collateralWarnMs: 7 * 86_400_000,
  stateMaxAgeSeconds: 86_400,
  minTcbStatus: 'UpToDate',
  fetchTimeoutMs: 15_000,
  concurrency: 8,
  maxRange: 10_000n,
}

export type MonitorOptions = {
  /** A viem client on the chain of `contracts` (a PublicClient). */
  client: Client
  chainId: number
  contracts: ChainWatch.Contracts
  store: Store
  trustedRoots: readonly TrustedRoot[]
  collateral: CollateralWatch
  /** A KMS root the monitor trusts; without it the root must be allowed on-chain for the agent's app. */
  kmsRootPublicKey?: Hex | undefined
  /** First block of a backfill (default: the block that deployed RegentSuccession, found by bisection). */
  fromBlock?: bigint | undefined
  settings?: Partial<Settings>
  now?: () => Date
}

/** One agent's check, as listeners and `--json` lines see it. */
export type CheckReport = CheckRow & { findings: number }

export type Listener = { check?: (check: CheckReport) => void; transition?: (t: Transition) => void }

export type Monitor = ReturnType<typeof createMonitor>

/**
 * Creates a monitor over a store; `add` the agents, then `tick` (one round) or `run` (every interval).
 *
 * @example
 * const monitor = createMonitor({ client, chainId, contracts, store, trustedRoots, collateral })
 * await monitor.add([{ url: 'http://127.0.0.1:8080' }])
 * monitor.subscribe({ transition: (t) => console.log(t.state, t.alert.code) })
 * await monitor.tick()
 */
export function createMonitor(options: MonitorOptions) {
  const { client, contracts, store } = options
  const settings: Settings = { ...defaultSettings, ...options.settings }
  const clock = options.now ?? (() => new Date())
  const listeners = new Set<Listener>()
  let tickNumber = Number(store.db.prepare<[], { t: number | null }>('SELECT MAX(tick) AS t FROM checks').get()?.t ?? 0)
  let startBlock: bigint | undefined = options.fromBlock
  const registry = agentRegistryOf({ chainId: options.chainId, identityRegistry: contracts.identityRegistry })

  const emit = <k extends keyof Listener>(kind: k, value: Parameters<NonNullable<Listener[k]>>[0]) => {
    for (const l of listeners) {
      try {
        ;(l[kind] as ((v: typeof value) => void) | undefined)?.(value)
      } catch {}
    }
  }

  const deploymentBlock = async (): Promise<bigint> => {
    if (startBlock !== undefined) return startBlock
    const saved = store.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'deploymentBlock'").get()
    startBlock = saved ? BigInt(saved.value) : await findDeploymentBlock(client, contracts.succession)
    if (saved) return startBlock
    store.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('deploymentBlock', ?)").run(startBlock.toString())
    return startBlock
  }

  return {
    settings,
    subscribe(listener: Listener): () => void {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },

    /**
     * Resolves targets to agents and records them (an agent already in the store keeps its history and cursor).
     *
     * @throws {TargetError} for a URL that serves no identity bundle of this registry (and is not known from an
     *   earlier run), or an agentId the registry does not have.
     */
    async add(targets: readonly Target[]): Promise<AgentRow[]> {
      const head = await getBlockNumber(client, { cacheTime: 0 })
      const from = await deploymentBlock()
      const rows: AgentRow[] = []
      for (const target of targets) {
        let agentId: bigint
        if (target.agentId !== undefined) agentId = target.agentId
        else {
          const known = store.agentByUrl(target.url)
          const probed = await probeAgentId(target.url, settings.fetchTimeoutMs).catch((error: Error) => error)
          if (probed instanceof Error) {
            if (!known) throw new TargetError('agent.unresolved', `${target.url} served no identity bundle: ${probed.message}`)
            agentId = BigInt(known.agent)
          } else {
            if (probed.agentRegistry.toLowerCase() !== registry)
              throw new TargetError(
                'agent.registry',
                `${target.url} is agent ${probed.agentId} of ${probed.agentRegistry}, not of ${registry}`,
              )
            agentId = probed.agentId
          }
        }
        const owner = await readContract(client, {
          address: contracts.identityRegistry,
          abi: identityRegistryAbi,
          functionName: 'ownerOf',
          args: [agentId],
        }).catch(() => undefined)
        if (owner === undefined) throw new TargetError('agent.unknown', `agent ${agentId} is not registered in ${registry}`)
        const canonical = await readCanonical(client, { contracts, agentId, blockNumber: head })
        const appId = /^0x0{40}$/.test(canonical.appId) ? null : canonical.appId
        const agent = agentId.toString()
        store.addAgent({
          agent,
          url: target.url ?? null,
          appId,
          addedAt: clock().toISOString(),
          watchFromBlock: Number(head),
          cursorBlock: Number(from) - 1,
        })
        rows.push(store.agent(agent) as AgentRow)
      }
      return rows
    },

    /** One round: the chain once, then every agent; resolves with each agent's check and the alert transitions. */
    async tick(): Promise<{ tick: number; checks: CheckReport[]; transitions: Transition[] }> {
      const tick = ++tickNumber
      const started = clock()
      const agents = store.agents()
      const checks: CheckReport[] = []
      const transitions: Transition[] = []

      // The chain: the head, its clock, and every event since each agent's cursor.
      let head: { number: bigint; time: number } | undefined
      let chainError: string | undefined
      const fresh = new Map<string, EventRow[]>()
      try {
        const number = await getBlockNumber(client, { cacheTime: 0 })
        const block = await getBlock(client, { blockNumber: number })
        head = { number, time: Number(block.timestamp) }
        const scanned = await ChainWatch.scan(client, {
          contracts,
          toBlock: number,
          maxRange: settings.maxRange,
          agents: agents.map((a) => ({ agent: a.agent, appId: a.appId as Address | null, fromBlock: BigInt(a.cursorBlock + 1) })),
        })
        for (const [agent, events] of scanned) {
          store.insertEvents(events)
          for (const change of measurementChanges(events)) {
            if (change.op === 'add') store.addMeasurement(change.row)
            else store.removeMeasurement(change.row)
          }
          store.updateAgent(agent, { cursorBlock: Number(number) })
          fresh.set(agent, events)
        }
      } catch (error) {
        head = undefined
        chainError = messageOf(error)
      }

      await pool(agents, settings.concurrency, async (row) => {
        const result = await checkAgent(row, { tick, started, head, chainError, events: fresh.get(row.agent) ?? [] })
        checks.push(result.report)
        transitions.push(...result.transitions)
      })
      return { tick, checks, transitions }
    },

    /** Ticks every `intervalMs` (start to start) until `signal` aborts; resolves after the last tick. */
    async run({ intervalMs, signal }: { intervalMs: number; signal: AbortSignal }): Promise<void> {
      while (!signal.aborted) {
        const t0 = Date.now()
        await this.tick()
        const wait = Math.max(0, intervalMs - (Date.now() - t0))
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, wait)
          function done() {
            clearTimeout(timer)
            signal.removeEventListener('abort', done)
            resolve()
          }
          signal.addEventListener('abort', done, { once: true })
        })
      }
    },
  }

  async function checkAgent(
    row: AgentRow,
    round: {
      tick: number
      started: Date
      head: { number: bigint; time: number } | undefined
      chainError: string | undefined
      events: EventRow[]
    },
  ): Promise<{ report: CheckReport; transitions: Transition[] }> {
    const t0 = performance.now()
    const now = clock()
    const agent = row.agent
    const agentId = BigInt(agent)
    const seen = new Set<Domain>(['monitor'])
    const findings: Finding[] = []
    const check: Omit<CheckRow, 'id'> = {
      agent,
      tick: round.tick,
      at: now.toISOString(),
      durationMs: 0,
      url: row.url,
      reachable: false,
      isAgent: false,
      score: null,
      holds: null,
      epoch: null,
      signer: null,
      composeHash: null,
      tcbStatus: null,
      earlyTcbStatus: null,
      advisoryIds: [],
      collateralNextUpdate: null,
      stateSeq: null,
      reasons: [],
      seen: [],
    }
    const agentUpdate: Partial<AgentRow> = { lastCheckAt: now.toISOString() }

    // 1. The chain: events since the last tick, the canonical instance, approvals, state.
    let view: ChainView | undefined
    let url = row.url
    if (round.head) {
      try {
        const canonical = await readCanonical(client, { contracts, agentId, blockNumber: round.head.number })
        const appId = /^0x0{40}$/.test(canonical.appId) ? null : getAddress(canonical.appId)
        if (appId && row.appId?.toLowerCase() !== appId.toLowerCase()) {
          // Enrolled (or moved app) since it was added: read the app's events from the start, as history.
          agentUpdate.appId = appId
          agentUpdate.cursorBlock = Number(await deploymentBlock()) - 1
          agentUpdate.watchFromBlock = Math.max(row.watchFromBlock, row.cursorBlock)
        }
        const approved =
          appId !== null && canonical.epoch > 0n
            ? await readContract(client, {
                address: contracts.appAuth,
                abi: regentAppAuthAbi,
                functionName: 'isComposeHashApproved',
                args: [appId, canonical.instance.composeHash],
                blockNumber: round.head.number,
              })
            : true
        const commits = store.events(agent, { names: ['StateCommitted'], limit: 1 })
        view = {
          agent,
          appId: appId ?? '0x',
          epoch: canonical.epoch,
          canonicalComposeHash: canonical.instance.composeHash,
          canonicalApproved: approved,
          stateSeq: canonical.stateSeq,
          stateRoot: canonical.stateRoot,
          chainTime: round.head.time,
          measurements: store.measurements(agent),
          lastCommit: commits.at(-1),
        }
        check.epoch = canonical.epoch.toString()
        check.signer = canonical.instance.signer
        check.stateSeq = canonical.stateSeq.toString()
        if (/^https?:\/\//i.test(canonical.instance.host)) url = canonical.instance.host
        const previous = (e: EventRow) =>
          store
            .events(agent, { names: ['CanonicalChanged'] })
            .filter((x) => x.block < e.block || (x.block === e.block && x.logIndex < e.logIndex))
            .at(-1)
        findings.push(
          ...eventFindings(agent, round.events, { alertAfterBlock: row.watchFromBlock, previous }),
          ...chainFindings(view, { stateMaxAgeSeconds: settings.stateMaxAgeSeconds }),
        )
        seen.add('chain')
      } catch (error) {
        round.chainError ??= messageOf(error)
      }
    }
    if (!seen.has('chain'))
      findings.push({
        code: 'chain.unreachable',
        subject: '',
        message: `agent ${agent}: the chain did not answer: ${round.chainError ?? 'unknown error'}`,
        facts: { error: round.chainError ?? null },
      })
    check.url = url

    // 2. The running instance: a fresh nonce, its bundle, the outside verifier's verdict.
    let bundle: IdentityBundle | undefined
    let quote: Uint8Array | undefined
    let collateral: Awaited<ReturnType<CollateralWatch['get']>> | undefined
    let platform = row.platform ? parsePlatformKey(row.platform) : undefined
    if (url && view) {
      seen.add('probe')
      const nonce = `0x${randomBytes(32).toString('hex')}` as Hex
      let refused: Error | undefined
      try {
        bundle = await fetchBundle(url, nonce, settings.fetchTimeoutMs)
        check.reachable = true
      } catch (error) {
        if (error instanceof AnswerError) {
          // It answers, but not with a bundle (no TEE to attest with, an error): reachable, and not the agent.
          refused = error
          check.reachable = true
        } else
          findings.push({
            code: 'agent.unreachable',
            subject: '',
            message: `agent ${agent}: ${url} does not answer: ${messageOf(error)}`,
            facts: { url, error: messageOf(error), epoch: view.epoch.toString() },
          })
      }
      if (bundle) {
        try {
          quote = new Uint8Array(Buffer.from(String(bundle.attestation?.quote ?? '').replace(/^0x/, ''), 'hex'))
          platform = platformOf(quote)
          agentUpdate.platform = platformKey(platform)
        } catch {
          quote = undefined
        }
        collateral = await collateralOf(platform, round.started, seen, findings, agent)
      }
      if (refused || (bundle && (collateral || !platform))) {
        const result = await verifyInstance({
          fetch: async () => {
            if (refused) throw refused
            return bundle
          },
          nonce,
          agentId,
          id: url,
          contracts,
          client,
          collateral: collateral?.standard.verified ?? collateral?.standard.collateral ?? '{}',
          trustedRoots: options.trustedRoots,
          now,
          ...(options.kmsRootPublicKey ? { kmsRootPublicKey: options.kmsRootPublicKey } : {}),
        })
        const e = result.evaluation
        const attested =
          bundle && result.facts.attestation.verified && !result.reasons.some((r) => r.code === 'bundle.compose_hash')
            ? String(bundle.composeHash).toLowerCase()
            : undefined
        const sameEpoch = row.bestEpoch === view.epoch.toString()
        findings.push(
          ...instanceFindings({
            agent,
            url,
            evaluation: e,
            reasons: result.reasons,
            epoch: view.epoch,
            attestedComposeHash: attested,
            previousComposeHash: row.attestedComposeHash,
            bestScore: sameEpoch ? row.bestScore : null,
          }),
        )
        seen.add('instance')
        check.isAgent = e.isAgent
        check.score = e.score
        check.holds = e.holds
        check.composeHash = attested ?? null
        check.reasons = result.reasons.map((r) => ({ code: r.code, message: r.message }))
        agentUpdate.bestScore = sameEpoch && row.bestScore !== null ? Math.max(row.bestScore, e.score) : e.score
        agentUpdate.bestEpoch = view.epoch.toString()
        if (attested) agentUpdate.attestedComposeHash = attested
        if (bundle) agentUpdate.lastBundle = JSON.stringify(bundle)
      }
    }
    // An unreachable instance: its platform's collateral is still watched, with the last quote it gave.
    if (!bundle && platform && row.lastBundle) {
      try {
        quote = new Uint8Array(
          Buffer.from(String((JSON.parse(row.lastBundle) as IdentityBundle).attestation.quote).replace(/^0x/, ''), 'hex'),
        )
        collateral = await collateralOf(platform, round.started, seen, findings, agent)
      } catch {}
    }

    // 3. Intel collateral: the platform under standard and early TCB info, and when the collateral expires.
    if (collateral && quote && platform) {
      const standard = rate(quote, collateral.standard, { now, trustedRoots: options.trustedRoots })
      const early = rate(quote, collateral.early, { now, trustedRoots: options.trustedRoots })
      const parts = partsOf(collateral.standard.collateral)
      findings.push(
        ...collateralFindings(
          { agent, fmspc: platform.fmspc, standard, early, parts, error: collateral.standard.error, now },
          { minTcbStatus: settings.minTcbStatus, collateralWarnMs: settings.collateralWarnMs },
        ),
      )
      seen.add('collateral')
      check.tcbStatus = standard.status ?? null
      check.earlyTcbStatus = early.status ?? null
      check.advisoryIds = standard.advisoryIds
      check.collateralNextUpdate = new Date(Math.min(...Object.values(parts).map((d) => d.getTime()))).toISOString()
    }

    // 4. Alerts: what holds now against what is open.
    const open = store.openAlerts(agent)
    const { transitions, updated } = reconcile(open, {
      agent,
      tick: round.tick,
      at: now,
      seen,
      verified: check.isAgent,
      findings,
      why: (alert) => resolutionOf(alert, view, check),
    })
    check.durationMs = Math.round((performance.now() - t0) * 10) / 10
    check.seen = [...seen].filter((d) => d !== 'monitor')
    const id = store.transaction(() => {
      store.applyAlerts(transitions, updated)
      store.updateAgent(agent, agentUpdate)
      return store.insertCheck(check)
    })
    const report: CheckReport = { ...check, id, findings: findings.length }
    emit('check', report)
    for (const t of transitions) emit('transition', t)
    return { report, transitions }
  }

  async function collateralOf(
    platform: ReturnType<typeof platformOf> | undefined,
    at: Date,
    seen: Set<Domain>,
    findings: Finding[],
    agent: string,
  ): Promise<Awaited<ReturnType<CollateralWatch['get']>> | undefined> {
    if (!platform) return undefined
    seen.add('pcs')
    try {
      return await options.collateral.get(platform, at)
    } catch (error) {
      findings.push({
        code: 'collateral.unavailable',
        subject: '',
        message: `agent ${agent}: no collateral for platform ${platform.fmspc}: ${messageOf(error)}`,
        facts: { platform: platformKey(platform), error: messageOf(error) },
      })
      return undefined
    }
  }
}

function resolutionOf(alert: Alert, view: ChainView | undefined, check: Omit<CheckRow, 'id'>): string {
  const fromChain = chainResolution(alert, view)
  if (fromChain) return fromChain
  switch (alert.code) {
    case 'agent.unreachable':
      return `${check.url} answers again`
    case 'chain.unreachable':
      return 'the chain answers again'
    case 'attestation.failed':
      return `the identity function holds again (score ${check.score})`
    case 'score.dropped':
      return `the score is back to ${check.score}`
    case 'tcb.degraded':
      return `the platform is ${check.tcbStatus}`
    case 'tcb.recovery_pending':
      return `early and standard TCB info agree (${check.earlyTcbStatus})`
    case 'collateral.expiring':
      return `fresh collateral, valid until ${check.collateralNextUpdate}`
    case 'collateral.unavailable':
      return 'collateral fetched again'
    default:
      return 'no longer holds'
  }
}

/** Largest identity bundle accepted (a real one is 10–30 KB). */
export const maxBundleBytes = 1 << 20

/** GET `<url>/identity?nonce=…`, bounded in time and size; the parsed JSON object. */
export async function fetchBundle(url: string, nonce: Hex, timeoutMs: number): Promise<IdentityBundle> {
  const target = new URL('identity', url.endsWith('/') ? url : `${url}/`)
  target.searchParams.set('nonce', nonce)
  const response = await fetch(target, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
    redirect: 'error',
  })
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined)
    // 502/503/504: nothing behind the address answers for the agent; any other status is the agent answering.
    if (response.status === 502 || response.status === 503 || response.status === 504)
      throw new Error(`GET /identity answered HTTP ${response.status}`)
    throw new AnswerError(`GET /identity answered HTTP ${response.status}`)
  }
  const reader = response.body?.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const part = reader ? await reader.read() : { done: true, value: undefined }
    if (part.done) break
    size += part.value.length
    if (size > maxBundleBytes) {
      await reader?.cancel().catch(() => undefined)
      throw new AnswerError(`the identity answer is larger than ${maxBundleBytes} bytes`)
    }
    chunks.push(part.value)
  }
  let value: unknown
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new AnswerError('the identity answer is not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AnswerError('the identity answer is not a JSON object')
  return value as IdentityBundle
}

/** The agentId and registry an agent's URL claims (unverified: used to find the agent on-chain, which the checks then verify). */
async function probeAgentId(url: string, timeoutMs: number): Promise<{ agentId: bigint; agentRegistry: string }> {
  const bundle = await fetchBundle(url, `0x${randomBytes(32).toString('hex')}`, timeoutMs)
  if (!/^(0|[1-9][0-9]{0,76})$/.test(String(bundle.agentId))) throw new Error('the bundle has no decimal agentId')
  return { agentId: BigInt(bundle.agentId), agentRegistry: String(bundle.agentRegistry) }
}

/** The block that created `address` (bisection on eth_getCode; 0 when the node cannot answer for old blocks). */
export async function findDeploymentBlock(client: Client, address: Address): Promise<bigint> {
  let hi = await getBlockNumber(client, { cacheTime: 0 })
  let lo = 0n
  const has = (blockNumber: bigint) =>
    getCode(client, { address, blockNumber }).then(
      (code) => code !== undefined && code !== '0x',
      () => undefined,
    )
  if ((await has(hi)) !== true) return 0n
  if ((await has(0n)) === undefined) return 0n
  while (lo < hi) {
    const mid = (lo + hi) / 2n
    const at = await has(mid)
    if (at === undefined) return 0n
    if (at) hi = mid
    else lo = mid + 1n
  }
  return lo
}

async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const runners = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T
      await work(item)
    }
  })
  await Promise.all(runners)
}

function messageOf(error: unknown): string {
  const e = error as { shortMessage?: string; message?: string; cause?: { code?: string; message?: string } }
  const base = (e?.shortMessage ?? e?.message ?? String(error)).split('\n')[0] ?? 'error'
  const cause = e?.cause?.code ?? e?.cause?.message
  return cause && base === 'fetch failed' ? `${base} (${cause})` : base
}

/** The instance answered, but not with an identity bundle (an HTTP error, not JSON, too large): reachable, not verified. */
export class AnswerError extends Error {
  override name = 'Monitor.AnswerError'
}

/** A target the monitor cannot watch: `code` names why. */
export class TargetError extends Error {
  override name = 'Monitor.TargetError'
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}
