/**
 * The source's session controller (DESIGN.md §10 steps 0–5; docs/uplift.md "The agent's admin API"): what an agent
 * runs so that it can move itself. Step 0 weighs the move (Decide); steps 1–5 are the SDK's source driver (`uplift`,
 * Source.ts) against the target its operator named. Every step is journaled in `<dataDir>/uplift-source.db` (sealed
 * with the agent's sealing key); an unfinished session resumes by itself when the agent boots again.
 *
 * It also keeps the agent serving through the move (docs/uplift.md "Zero downtime"):
 *
 *   before the checkpoint   the agent serves everything itself
 *   checkpoint → switch     the window: the checkpoint that moves is frozen, the agent keeps serving; each write it
 *                           declares (`hold`) is journaled with its idempotency key, applied locally and answered;
 *                           a state commit waits for the switch (`gate`)
 *   the switch              the journaled `handover-tx` (RegentSuccession names the target): the window's writes are
 *                           replayed at the target in order before anything else reaches it
 *   after the switch        demoted: every request is forwarded to the target
 */
import { existsSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import type { Collateral, TrustedRoot } from '@regent-tee/attest'
import { HttpError } from '@regent-tee/core'
import type { Client, LocalAccount } from 'viem'
import type * as Checkpoint from '../Checkpoint.js'
import type { RegentContracts, WriteClient } from '../chain/transact.js'
import type { PrivateKey } from '../Keys.js'
import * as Decide from './Decide.js'
import { UpliftRefusedError } from './errors.js'
import * as Journal from './Journal.js'
import { type UpliftReturnType, uplift } from './Source.js'
import { type SourceStep, sourceSteps, stepOf } from './Steps.js'
import { type HeldWrite, type Replay, replayEach } from './Window.js'

export type UpliftState = 'idle' | 'running' | 'failed' | 'done'

/** What `GET /admin/uplift` answers (docs/uplift.md "The agent's admin API"). */
export type UpliftStatus = {
  state: UpliftState
  sessionId: string | null
  mode: 'import' | 'rotate' | null
  targetUrl: string | null
  /** Journaled protocol steps, with the DESIGN.md §10 step number each belongs to. */
  steps: { step: string; phase: number; at: string }[]
  /** The next protocol step (`key-envelope` / `key-offer` for the key). */
  next: string | null
  decision: { ev: number; proceed: boolean; table: string } | null
  error: { code: string; message: string } | null
  result: { signer: string; epoch: string; stateRoot: string; seq: string; transactionHash: string } | null
  /** The self-continuity challenge the source sent (step 4), once journaled. */
  handshake: { epoch: string; nonce: string; leafIndexes: string[] } | null
  /** Writes accepted in the window, and how many the target has applied. */
  heldWrites: { held: number; replayed: number }
}

/** What the agent is, for its uplift as the source. */
export type SourceAgent = {
  readonly agentId: bigint
  readonly chainId: number
  readonly contracts: RegentContracts
  readonly client: Client
  /** K_agent's wallet client: commits, signs, posts the handover. */
  readonly wallet: WriteClient & { account: LocalAccount }
  /** Option A: the key's bytes (the controller wipes them). */
  privateKey(): Promise<PrivateKey>
}

export type CreateControllerParameters = {
  readonly agent: SourceAgent
  /** The agent's data directory (journals). */
  readonly dataDir: string
  /** Seals the journal. */
  readonly sealingKey: PrivateKey
  /**
   * The frozen state that moves, chunks ≤ 512 KiB. Called once, when the window opens: from then on the agent's
   * declared writes are held for replay, so the copy must be taken before this resolves.
   */
  readonly checkpoint: () => Promise<Checkpoint.Checkpoint>
  /** How targets are verified: the roots accepted (Intel's plus measured ones) and where collateral comes from. */
  readonly trust: { readonly trustedRoots: readonly TrustedRoot[]; collateral(): Promise<Collateral.Collateral> }
  /** How held writes reach the target (default: each sent again as the request it was). */
  readonly replay?: Replay
  /** Journal fault injection (docs/uplift.md "Crash safety"). */
  readonly failpoint?: ((point: string) => void) | undefined
  /** Where state changes are announced, one `uplift {…}` line each (default: stdout). */
  readonly log?: (line: string) => void
}

export type UpliftController = {
  status(): UpliftStatus
  /** Step 0 then 1–5 in the background: opens a new session (refused when EV ≤ 0 unless forced). */
  start(request: { targetUrl: string; mode: 'import' | 'rotate'; force?: boolean; decision?: Omit<Decide.Options, 'force'> }): UpliftStatus
  /** Runs the journaled session again from where it stopped. */
  resume(): UpliftStatus
  /** The window: checkpoint taken, switch not yet on-chain. */
  frozen(): boolean
  /** Journals a write the agent accepts now (before it applies and answers it) when the window is open; else no-op. */
  hold(write: HeldWrite): void
  /** Resolves once every held write has been replayed at the target. */
  drained(): Promise<void>
  replaying(): boolean
  /** The chain names the target: this instance forwards everything. */
  switched(): boolean
  targetUrl(): string | undefined
  /** Resolves when a frozen source switches (true) or its session fails (false). */
  settled(): Promise<boolean>
  close(): void
}

type Session = { mode: 'import' | 'rotate'; targetUrl: string }

/** The journal of the source role in `dataDir`. */
export const sourceJournalFile = 'uplift-source.db'

/**
 * Opens the controller over the agent's journal (resuming an unfinished session in the background).
 *
 * @example
 * const controller = createController({ agent, dataDir, sealingKey, checkpoint: () => exportState(), trust })
 * controller.start({ targetUrl, mode: 'import' })
 */
export function createController(parameters: CreateControllerParameters): UpliftController {
  const { agent, dataDir } = parameters
  const path = join(dataDir, sourceJournalFile)
  const replay = parameters.replay ?? replayEach
  const log = parameters.log ?? ((line: string) => process.stdout.write(`${line}\n`))
  // The switch is the journaled handover transaction: writes held since the checkpoint go to the target from here.
  const onPoint = (point: string) => {
    if (point === 'after:handover-tx') {
      settle(true)
      void drain()
    }
    parameters.failpoint?.(point)
  }
  const open = () => Journal.open({ path, role: 'source', key: parameters.sealingKey, failpoint: onPoint })
  let journal: Journal.Journal = open()
  let state: UpliftState = 'idle'
  let error: UpliftStatus['error'] = null
  let result: UpliftStatus['result'] = null
  let decision: UpliftStatus['decision'] = null
  let waiters: ((switched: boolean) => void)[] = []

  const session = (): Session | undefined => journal.get<Session>('session')
  /** The driver returned: every step, the Handover message included, is done. */
  const done = () => journal.get('complete') !== undefined
  const announce = () => {
    const s = status()
    log(`uplift ${JSON.stringify({ state: s.state, next: s.next, error: s.error })}`)
  }
  const settle = (switched: boolean) => {
    const w = waiters
    waiters = []
    for (const resolve of w) resolve(switched)
  }

  function status(): UpliftStatus {
    const entries = journal.list().filter((e) => stepOf(e.step) !== undefined)
    const names = new Set(entries.map((e) => stepOf(e.step)?.name))
    const s = session()
    const hello = journal.get<{ sessionId: string }>('source-hello')
    const challenge = journal.get<{ epoch: string; nonce: string; leafIndexes: string[] }>('challenge')
    const next: SourceStep | undefined = s === undefined ? undefined : sourceSteps.find((x) => !names.has(x.name))
    return {
      state,
      sessionId: hello?.sessionId ?? null,
      mode: s?.mode ?? null,
      targetUrl: s?.targetUrl ?? null,
      steps: entries.map((e) => ({ step: e.step, phase: stepOf(e.step)?.phase ?? 0, at: e.at })),
      next: next === undefined ? null : next.name === 'key' ? (s?.mode === 'rotate' ? 'key-offer' : 'key-envelope') : next.name,
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
      const collateral = await parameters.trust.collateral()
      if (s.mode === 'import') privateKey = await agent.privateKey()
      const r: UpliftReturnType = await uplift({
        mode: s.mode,
        agentId: agent.agentId,
        chainId: agent.chainId,
        contracts: agent.contracts,
        wallet: agent.wallet,
        ...(privateKey ? { privateKey } : {}),
        client: agent.client,
        targetUrl: s.targetUrl,
        journal,
        checkpoint: async () => {
          frozen = true
          return parameters.checkpoint()
        },
        collateral,
        trustedRoots: parameters.trust.trustedRoots,
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
          log(`uplift held writes ${writes.replayed}–${writes.replayed + batch.length - 1} refused by the target (HTTP ${r.status})`)
        // One transaction per batch: a row per write, one disk sync (a sync per write made a 700-write replay take seconds).
        journal.putAll(batch.map((_, i) => [`replayed:${writes.replayed + i}`, { status: r.status }] as const))
        writes.replayed += batch.length
      }
    })().finally(() => {
      draining = undefined
    })
    return draining
  }

  const controller: UpliftController = {
    status,
    start({ targetUrl, mode, force = false, decision: weighing }) {
      if (state === 'running') throw new HttpError(409, 'uplift.busy', 'An uplift is running.')
      if (session() !== undefined) {
        // A session whose key never left may be abandoned (its journal is kept beside); any later one must finish.
        const keySent = journal.get('key-envelope') !== undefined || journal.get('key-offer') !== undefined
        if (keySent || done()) throw new HttpError(409, 'uplift.busy', `Session ${status().sessionId} is unfinished or done: resume it.`)
        journal.close()
        renameSync(path, join(dataDir, `uplift-source.${Date.now()}.abandoned.db`))
        journal = open()
        frozen = false
      }
      let d: Decide.Result
      try {
        d = Decide.evaluate({ ...weighing, force })
      } catch (e) {
        throw new HttpError(400, 'bad_request', (e as Error & { shortMessage?: string }).shortMessage ?? (e as Error).message)
      }
      decision = { ev: d.ev, proceed: d.proceed, table: Decide.toTable(d) }
      if (!d.proceed) throw new HttpError(422, 'decide.negative', 'The expected value of the uplift is not positive (force to override).')
      journal.put('session', { mode, targetUrl })
      error = null
      result = null
      void run()
      return status()
    },
    resume() {
      if (state === 'running') throw new HttpError(409, 'uplift.busy', 'The uplift is already running.')
      if (session() === undefined) throw new HttpError(409, 'uplift.none', 'No uplift session to resume.')
      if (done()) throw new HttpError(409, 'uplift.none', 'The uplift is complete.')
      void run()
      return status()
    },
    frozen: () => frozen && journal.get('handover-tx') === undefined,
    hold(write) {
      if (!controller.frozen() && journal.get('handover-tx') === undefined) return
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
  return controller
}

function describe(e: unknown): { code: string; message: string } {
  if (e instanceof UpliftRefusedError) return { code: e.code, message: e.reasons[0]?.message ?? e.shortMessage }
  if (e instanceof HttpError) return { code: e.code, message: e.shortMessage }
  if (e instanceof TypeError && /fetch failed/.test(e.message))
    return { code: 'target.unreachable', message: `The target did not answer: ${(e.cause as Error | undefined)?.message ?? e.message}` }
  if ((e as { name?: string }).name === 'TimeoutError') return { code: 'target.unreachable', message: 'The target did not answer in time.' }
  const m = (e as { shortMessage?: string }).shortMessage ?? (e as Error).message ?? String(e)
  return {
    code:
      (e as { code?: unknown }).code && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : 'uplift.error',
    message: m.split('\n')[0] as string,
  }
}

/** The agent id of a journaled session (a source that crashed mid-uplift boots without registering again). */
export function journaledAgentId({ dataDir, sealingKey }: { dataDir: string; sealingKey: PrivateKey }): bigint | undefined {
  const path = join(dataDir, sourceJournalFile)
  if (!existsSync(path)) return undefined
  const journal = Journal.open({ path, role: 'source', key: sealingKey })
  try {
    const hello = journal.get<{ agentId: string }>('source-hello')
    return hello === undefined ? undefined : BigInt(hello.agentId)
  } finally {
    journal.close()
  }
}
