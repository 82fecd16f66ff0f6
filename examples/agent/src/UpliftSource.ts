/**
 * The agent as an uplift source (DESIGN.md §10; docs/uplift.md "The agent's admin API"): it runs the SDK's source
 * driver (`uplift`) against a target its operator names, journals every step in `uplift-source.db` (sealed with
 * the agent's sealing key), resumes an unfinished session when it boots again, and gates the agent's writes:
 *
 *   before the checkpoint   the agent serves everything itself
 *   checkpoint → switch     the window: the checkpoint that moves is frozen, but the agent keeps serving: a write
 *                           is journaled (with its idempotency key), applied locally and answered at once; a
 *                           state commit (POST /checkpoint) waits for the switch (it would outrun the moved seq)
 *   the switch              the journaled `handover-tx` (RegentSuccession names the target): the window's writes
 *                           are replayed at the target in order, each once (idempotency keys), before anything else
 *   after the switch        demoted: every request is forwarded to the target
 */
import { existsSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { Collateral, createTrustedRoot } from '@regent-tee/attest'
import {
  Checkpoint,
  Decide,
  openUpliftJournal,
  type PrivateKey,
  type UpliftJournal,
  UpliftRefusedError,
  type UpliftReturnType,
  uplift,
  upliftSourceSteps,
} from '@regent-tee/sdk'
import Database from 'better-sqlite3'
import { type Agent, AgentActionError, stateChunkSize } from './Agent.js'
import { type Config, failpointHook } from './config.js'
import { type HeldWrite, replay } from './Handover.js'

export type UpliftState = 'idle' | 'running' | 'failed' | 'done'

/** What `GET /admin/uplift` answers (docs/uplift.md "The agent's admin API"). */
export type UpliftStatus = {
  state: UpliftState
  sessionId: string | null
  mode: 'import' | 'rotate' | null
  targetUrl: string | null
  steps: { step: string; at: string }[]
  next: string | null
  decision: { ev: number; proceed: boolean; table: string } | null
  error: { code: string; message: string } | null
  result: { signer: string; epoch: string; stateRoot: string; seq: string; transactionHash: string } | null
  /** The self-continuity challenge the source sent (step 4), once journaled; the answer passed when `handover-tx` is done. */
  handshake: { epoch: string; nonce: string; leafIndexes: string[] } | null
  /** Writes accepted in the window, and how many the target has applied. */
  heldWrites: { held: number; replayed: number }
}

export type UpliftSource = {
  status(): UpliftStatus
  /** Opens a new session (EV check unless forced) and runs it in the background. */
  start(request: { targetUrl: string; mode: 'import' | 'rotate'; force: boolean; decision?: Omit<Decide.Options, 'force'> }): UpliftStatus
  /** Runs the journaled session again from where it stopped. */
  resume(): UpliftStatus
  /** The window: checkpoint taken, switch not yet on-chain (writes are held for replay, commits wait). */
  frozen(): boolean
  /** Journals a write accepted in the window (before it is applied and answered), for replay at the target. */
  holdWrite(write: HeldWrite): void
  /** Resolves once every held write has been replayed at the target (at once when there is none). */
  drained(): Promise<void>
  /** Held writes are not all replayed yet. */
  replaying(): boolean
  /** The chain names the target: forward everything. */
  switched(): boolean
  /** The journaled target URL (forwarding destination). */
  targetUrl(): string | undefined
  /** Resolves when a frozen source switches (true) or its session fails (false). */
  settled(): Promise<boolean>
  close(): void
}

type Session = { mode: 'import' | 'rotate'; targetUrl: string }

export function createUpliftSource(parameters: { config: Config; agent: Agent }): UpliftSource {
  const { config, agent } = parameters
  const path = join(config.dataDir, 'uplift-source.db')
  const failpoint = failpointHook(config)
  // The switch is the journaled handover transaction: writes held since the checkpoint go to the target from here.
  const onPoint = (point: string) => {
    if (point === 'after:handover-tx') {
      settle(true)
      void drain()
    }
    failpoint?.(point)
  }
  const open = () => openUpliftJournal({ path, role: 'source', key: agent.runtime.sealingKey, failpoint: onPoint })
  let journal: UpliftJournal = open()
  let state: UpliftState = 'idle'
  let error: UpliftStatus['error'] = null
  let result: UpliftStatus['result'] = null
  let decision: UpliftStatus['decision'] = null
  let waiters: ((switched: boolean) => void)[] = []

  const session = (): Session | undefined => journal.get<Session>('session')
  /** The driver returned: every step, the Handover message included, is done (the controller's own row). */
  const done = () => journal.get('complete') !== undefined
  const announce = () => {
    const s = status()
    process.stdout.write(`uplift ${JSON.stringify({ state: s.state, next: s.next, error: s.error })}\n`)
  }
  const settle = (switched: boolean) => {
    const w = waiters
    waiters = []
    for (const resolve of w) resolve(switched)
  }

  function status(): UpliftStatus {
    const internal = /^(session|complete|write:|replayed:|state-envelope:)/
    const entries = journal.list().filter((e) => !internal.test(e.step))
    const names = new Set(entries.map((e) => (e.step === 'key-envelope' || e.step === 'key-offer' ? 'key' : e.step)))
    const s = session()
    const hello = journal.get<{ sessionId: string }>('source-hello')
    const challenge = journal.get<{ epoch: string; nonce: string; leafIndexes: string[] }>('challenge')
    const next = s === undefined ? null : (upliftSourceSteps.find((x) => !names.has(x)) ?? null)
    return {
      state,
      sessionId: hello?.sessionId ?? null,
      mode: s?.mode ?? null,
      targetUrl: s?.targetUrl ?? null,
      steps: entries.filter((e) => !e.step.startsWith('state-chunk')).map((e) => ({ step: e.step, at: e.at })),
      next: next === 'key' ? (s?.mode === 'rotate' ? 'key-offer' : 'key-envelope') : next,
      decision,
      error,
      result,
      heldWrites: { held: writes.held, replayed: writes.replayed },
      handshake: challenge ? { epoch: challenge.epoch, nonce: challenge.nonce, leafIndexes: [...challenge.leafIndexes] } : null,
    }
  }

  async function run(): Promise<void> {
    const s = session() as Session
    state = 'running'
    error = null
    announce()
    let privateKey: PrivateKey | undefined
    try {
      const trustedRoots = config.trustedRootPem ? [createTrustedRoot({ name: 'configured', pem: config.trustedRootPem })] : []
      if (config.collateralUrl === undefined)
        throw new AgentActionError(500, 'uplift.config', 'REGENT_COLLATERAL_URL is not set: the target cannot be verified.')
      const collateral = Collateral.parse(await (await fetch(config.collateralUrl, { signal: AbortSignal.timeout(30_000) })).text())
      if (s.mode === 'import') privateKey = await agent.privateKey()
      const r: UpliftReturnType = await uplift({
        mode: s.mode,
        agentId: agent.agentId,
        chainId: config.chainId,
        contracts: config.contracts,
        wallet: agent.chainWallet as never,
        ...(privateKey ? { privateKey } : {}),
        client: agent.publicClient,
        targetUrl: s.targetUrl,
        journal,
        // The window opens here: writes from now on are journaled for replay. The state that moves is a copy taken in
        // the same tick, exported while the agent keeps serving (its writes are durable in the write-ahead log).
        checkpoint: async () => {
          frozen = true
          const copy = new Database(agent.state.db.serialize())
          try {
            return await Checkpoint.exportStateAsync(copy, { chunkSize: stateChunkSize })
          } finally {
            copy.close()
          }
        },
        collateral,
        ...(trustedRoots.length > 0 ? { trustedRoots } : {}),
      })
      result = {
        signer: r.signer,
        epoch: r.epoch.toString(),
        stateRoot: r.stateRoot,
        seq: r.seq.toString(),
        transactionHash: r.transactionHash,
      }
      journal.put('complete', result)
      state = 'done'
    } catch (e) {
      state = 'failed'
      error = describe(e)
      if (journal.get('handover-tx') === undefined) settle(false)
    } finally {
      privateKey?.wipe()
    }
    if (journal.get('handover-tx') !== undefined) settle(true)
    announce()
  }

  // Frozen from the journaled checkpoint until the switch (also after a restart mid-session).
  let frozen = journal.getSecret('checkpoint') !== undefined
  const countOf = (prefix: string) => journal.list().filter((e) => e.step.startsWith(prefix)).length
  const writes = { held: countOf('write:'), replayed: countOf('replayed:') }
  let draining: Promise<void> | undefined

  /** Replays the held writes at the target, in order, in batches; retries a target that does not answer (it is the agent now). */
  function drain(): Promise<void> {
    draining ??= (async () => {
      const target = session()?.targetUrl as string
      for (let delay = 50; writes.replayed < writes.held; ) {
        const batch: HeldWrite[] = []
        let bytes = 0
        for (let n = writes.replayed; n < writes.held && batch.length < 500 && bytes < 512 * 1024; n++) {
          const w = journal.get<HeldWrite>(`write:${n}`) as HeldWrite
          batch.push(w)
          bytes += JSON.stringify(w).length
        }
        const r = await replay(target, batch)
        if (!r.answered) {
          await new Promise((done) => setTimeout(done, delay)) // back off: the target did not answer
          delay = Math.min(delay * 2, 2_000)
          continue
        }
        if (r.status >= 400)
          process.stderr.write(
            `held writes ${writes.replayed}–${writes.replayed + batch.length - 1} refused by the target (HTTP ${r.status})\n`,
          )
        for (const _ of batch) journal.put(`replayed:${writes.replayed++}`, { status: r.status })
      }
    })().finally(() => {
      draining = undefined
    })
    return draining
  }

  const source: UpliftSource = {
    status,
    start({ targetUrl, mode, force, decision: weighing }) {
      if (state === 'running') throw new AgentActionError(409, 'uplift.busy', 'An uplift is running.')
      if (session() !== undefined) {
        // A session whose key never left may be abandoned (its journal is kept beside); any later one must finish.
        const keySent = journal.get('key-envelope') !== undefined || journal.get('key-offer') !== undefined
        if (keySent || done())
          throw new AgentActionError(409, 'uplift.busy', `Session ${status().sessionId} is unfinished or done: resume it.`)
        journal.close()
        renameSync(path, join(config.dataDir, `uplift-source.${Date.now()}.abandoned.db`))
        journal = open()
        frozen = false
      }
      let d: Decide.Result
      try {
        d = Decide.evaluate({ ...weighing, force })
      } catch (e) {
        throw new AgentActionError(400, 'bad_request', (e as Error & { shortMessage?: string }).shortMessage ?? (e as Error).message)
      }
      decision = { ev: d.ev, proceed: d.proceed, table: Decide.toTable(d) }
      if (!d.proceed)
        throw new AgentActionError(422, 'decide.negative', 'The expected value of the uplift is not positive (force to override).')
      journal.put('session', { mode, targetUrl })
      error = null
      result = null
      void run()
      return status()
    },
    resume() {
      if (state === 'running') throw new AgentActionError(409, 'uplift.busy', 'The uplift is already running.')
      if (session() === undefined) throw new AgentActionError(409, 'uplift.none', 'No uplift session to resume.')
      if (done()) throw new AgentActionError(409, 'uplift.none', 'The uplift is complete.')
      void run()
      return status()
    },
    frozen: () => frozen && journal.get('handover-tx') === undefined,
    holdWrite(write) {
      journal.put(`write:${writes.held}`, write)
      writes.held++
      if (journal.get('handover-tx') !== undefined) void drain() // accepted just as the switch landed
    },
    drained: () => (writes.replayed < writes.held ? drain() : Promise.resolve()),
    replaying: () => writes.replayed < writes.held,
    switched: () => journal.get('handover-tx') !== undefined,
    targetUrl: () => session()?.targetUrl,
    settled: () =>
      new Promise<boolean>((resolve) => {
        if (journal.get('handover-tx') !== undefined) resolve(true)
        else if (state !== 'running') resolve(false)
        else waiters.push(resolve)
      }),
    close: () => journal.close(),
  }
  if (done()) {
    state = 'done'
    result = journal.get<NonNullable<UpliftStatus['result']>>('complete') ?? null
    announce()
  } else if (session() !== undefined) void run() // crash recovery: an unfinished session resumes at boot
  if (journal.get('handover-tx') !== undefined && writes.replayed < writes.held) void drain()
  return source
}

function describe(e: unknown): { code: string; message: string } {
  if (e instanceof UpliftRefusedError) return { code: e.code, message: e.reasons[0]?.message ?? e.shortMessage }
  if (e instanceof AgentActionError) return { code: e.code, message: e.message }
  if (e instanceof TypeError && /fetch failed/.test(e.message))
    return { code: 'target.unreachable', message: `The target did not answer: ${(e.cause as Error | undefined)?.message ?? e.message}` }
  const m = (e as { shortMessage?: string }).shortMessage ?? (e as Error).message ?? String(e)
  return { code: 'uplift.error', message: m.split('\n')[0] as string }
}

/** The agent id of a journaled session (a source that crashed mid-uplift boots without re-registering). */
export function journaledAgentId(config: Config, sealingKey: PrivateKey): bigint | undefined {
  const path = join(config.dataDir, 'uplift-source.db')
  if (!existsSync(path)) return undefined
  const journal = openUpliftJournal({ path, role: 'source', key: sealingKey })
  try {
    const hello = journal.get<{ agentId: string }>('source-hello')
    return hello === undefined ? undefined : BigInt(hello.agentId)
  } finally {
    journal.close()
  }
}
