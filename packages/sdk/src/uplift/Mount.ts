/**
 * Everything an agent needs to uplift, mounted in front of its own routes (docs/sdk.md "Uplift in an agent"): the
 * operator's signed admin API, the target role of a fresh CVM and its becoming the agent, the source controller, the
 * write window and forwarding once the chain names a successor. An agent supplies only what is its own: its state
 * (a SealedState, or how to export a frozen checkpoint), which of its requests are writes (`hold`), and its routes.
 *
 *   const uplift = await mountUplift({ dataDir, sealingKey, publicUrl, tee, ownWallet, chain, state, agent, operator, trust })
 *   createServer(async (req, res) => { if (!(await uplift.handle(req, res))) myRoutes(req, res) })
 *
 * Roles: an instance started with `agent` is the agent (it can move: `/admin/uplift`); one started without is an uplift
 * target (a fresh CVM serving `/uplift/v1/*`) until RegentSuccession names it canonical, when it becomes the agent on
 * the state it loaded (`onAgent`); after a move, the old instance is demoted and forwards every request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { Collateral, createTrustedRoot, type TrustedRoot } from '@regent-tee/attest'
import { sendJson } from '@regent-tee/core'
import type { Address, Client, Hex, LocalAccount } from 'viem'
import * as AdminRequest from '../admin/AdminRequest.js'
import { createAdminRoutes } from '../admin/AdminRoutes.js'
import type * as Checkpoint from '../Checkpoint.js'
import { readCanonical } from '../chain/readCanonical.js'
import type { RegentContracts, WriteClient } from '../chain/transact.js'
import { withdraw } from '../chain/withdraw.js'
import type { BaseTeeClient } from '../createTeeClient.js'
import { type DerivedKey, PrivateKey, toAccount } from '../Keys.js'
import type * as MeasuredSettings from '../MeasuredSettings.js'
import type { SealedState } from '../SealedState.js'
import { createController, type UpliftController } from './Controller.js'
import * as Journal from './Journal.js'
import { createTarget, type Target } from './Target.js'
import { forward, type HeldWrite, type Replay } from './Window.js'

/** The agent an instance holds: its id and the key that signs for it here. */
export type AgentIdentity = {
  readonly agentId: bigint
  readonly account: LocalAccount
  /** A copy of the key's bytes (option A of a later move; the caller wipes it). Default: this CVM's own wallet key. */
  privateKey?: (() => Promise<PrivateKey>) | undefined
}

/** A target that became the agent: the key it holds and what it loaded. */
export type BecameAgent = AgentIdentity & {
  /** The key was imported (option A); false: this CVM's own KMS key (option B). */
  readonly imported: boolean
  readonly epoch: bigint
  readonly stateRoot: Hex
  readonly seq: bigint
}

export type MountUpliftParameters = {
  /** Journals (`uplift-source.db`, `uplift-target.db`) live here. */
  readonly dataDir: string
  /** Seals the journals (in a CVM: `deriveSealingKey(tee)`). */
  readonly sealingKey: PrivateKey
  /** Where clients reach this instance; bound in its quote as a target. */
  readonly publicUrl: string
  /** The guest agent (a CVM); without it this instance cannot be an uplift target. */
  readonly tee?: BaseTeeClient | undefined
  /** This CVM's own KMS wallet (`deriveWallet(tee)`): a target's key for option B. */
  readonly ownWallet?: DerivedKey | undefined
  readonly chain: {
    readonly chainId: number
    readonly contracts: RegentContracts
    readonly client: Client
    /** A wallet client for an account on this chain. */
    walletFor(account: LocalAccount): WriteClient & { account: LocalAccount }
  }
  /** The agent's state: a target restores the moved checkpoint into it; a source checkpoints it. */
  readonly state: SealedState
  /** The frozen checkpoint a source moves (default: `state.checkpoint({ chunkSize: 64 KiB })`). Chunks ≤ 512 KiB. */
  readonly checkpoint?: () => Promise<Checkpoint.Checkpoint>
  /** The agent this instance is now; omit on a fresh uplift target. */
  readonly agent?: AgentIdentity | undefined
  /** Called once when an uplift target becomes the agent (before it answers any agent route). */
  readonly onAgent?: (agent: BecameAgent) => void | Promise<void>
  /**
   * The agent's measured settings (MeasuredSettings.read): the operator of its admin API and the roots of trust its
   * targets may attest under besides Intel's. `operator` and `trust` override them.
   */
  readonly settings?: MeasuredSettings.Settings | undefined
  /** Where quote collateral comes from (a PCCS-style JSON endpoint; signed, so the host may choose it). */
  readonly collateralUrl?: string | undefined
  /** The operator (EIP-712 signer of admin requests); undefined: the admin API answers 404. */
  readonly operator?: Address | undefined
  /** How targets are verified: the roots accepted besides Intel's, and the collateral. */
  readonly trust?: { readonly trustedRoots: readonly TrustedRoot[]; collateral(): Promise<Collateral.Collateral> } | undefined
  /** How held writes reach the target (default: each sent again as it was). */
  readonly replay?: Replay
  /** GET paths a demoted source still answers from its own state while its held writes are replayed. */
  readonly localReads?: (path: string) => boolean
  /** Accepted admin nonces (default: in memory). */
  readonly nonces?: AdminRequest.NonceStore
  readonly failpoint?: ((point: string) => void) | undefined
  readonly log?: (line: string) => void
}

export type Uplift = {
  /**
   * Serves `/admin/*`, `/uplift/v1/*` (a target), and — once demoted — forwards every request but `/health` to the
   * agent's new instance. Resolves false when the agent's own routes should answer.
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>
  /** Declares a write the agent is about to apply and answer (journaled for replay while the window is open). */
  hold(write: HeldWrite): void
  /**
   * Call before an on-chain state commit: resolves `commit` (go ahead) or `forward` (the agent moved: forward the
   * request, `forwardTo`); waits while the window is open; throws `uplift.paused` when a frozen session failed.
   */
  gate(): Promise<'commit' | 'forward'>
  /** Forwards a request to the agent's new instance (after `gate` said `forward`). */
  forwardTo(req: IncomingMessage, res: ServerResponse): Promise<void>
  /** `agent` (it acts), `target` (waiting to be handed the agent), `demoted` (it handed the agent over). */
  role(): 'agent' | 'target' | 'demoted'
  /** The agent held here (undefined on a target before its handover). */
  agent(): AgentIdentity | undefined
  /** The source controller (undefined on a target before its handover). */
  controller(): UpliftController | undefined
  /**
   * Checks that a request to one of the agent's own privileged routes is signed by its operator (the admin scheme:
   * AdminRequest.ts); pass the exact body bytes. Shares the admin API's nonces.
   */
  authorize(
    req: IncomingMessage,
    body: Uint8Array,
  ): Promise<{ ok: true } | AdminRequest.Refusal | { ok: false; status: 404 | 409; code: string; message: string }>
  /** The target role's facts (undefined when this instance was not started as a target). */
  targetStatus(): ReturnType<Target['status']> | undefined
  /**
   * This instance became the agent another way (a failover standby that claimed it, docs/failover.md): it can move
   * from now on. Does nothing when it already holds an agent.
   */
  adopt(agent: AgentIdentity): void
  close(): void
}

/** The journal of the target role in `dataDir`. */
export const targetJournalFile = 'uplift-target.db'

/**
 * Mounts the uplift for an agent (or a fresh uplift target).
 *
 * @throws when started as a target without a guest agent or an own wallet (a target runs in a CVM).
 */
export async function mountUplift(parameters: MountUpliftParameters): Promise<Uplift> {
  const p = parameters
  const checkpoint = p.checkpoint ?? (async () => p.state.checkpoint({ chunkSize: 64 * 1024 }))
  const operator = p.operator ?? p.settings?.operator
  const trust = p.trust ?? {
    trustedRoots: (p.settings?.trustedRoots ?? []).map((pem, i) => createTrustedRoot({ name: `measured-${i}`, pem })),
    async collateral() {
      if (!p.collateralUrl) throw new Error('no collateral source: targets cannot be verified (set REGENT_COLLATERAL_URL)')
      const res = await fetch(p.collateralUrl, { signal: AbortSignal.timeout(30_000) })
      if (!res.ok) throw new Error(`the collateral source answered HTTP ${res.status}`)
      return Collateral.parse(await res.text())
    },
  }
  /** A copy of this CVM's own wallet key (the caller wipes it). */
  const ownKey = async (): Promise<PrivateKey> => {
    if (p.ownWallet === undefined) throw new Error('no key for option A: give agent.privateKey')
    return p.ownWallet.privateKey.use((b) => new PrivateKey(new Uint8Array(b)))
  }
  let agent: AgentIdentity | undefined = p.agent
  let controller: UpliftController | undefined
  let target: Target | undefined
  let journal: Journal.Journal | undefined

  const startController = (a: AgentIdentity) => {
    controller = createController({
      agent: {
        agentId: a.agentId,
        chainId: p.chain.chainId,
        contracts: p.chain.contracts,
        client: p.chain.client,
        wallet: p.chain.walletFor(a.account),
        privateKey: a.privateKey ?? ownKey,
      },
      dataDir: p.dataDir,
      sealingKey: p.sealingKey,
      checkpoint,
      trust,
      ...(p.replay ? { replay: p.replay } : {}),
      ...(p.failpoint ? { failpoint: p.failpoint } : {}),
      ...(p.log ? { log: p.log } : {}),
    })
  }

  let becoming: Promise<AgentIdentity | undefined> | undefined
  /** A target is the agent once the chain names it (host = its URL, signer = the key it holds) after the state loaded. */
  const becomeAgent = (): Promise<AgentIdentity | undefined> => {
    if (agent !== undefined || target === undefined || journal === undefined) return Promise.resolve(agent)
    becoming ??= (async () => {
      const j = journal as Journal.Journal
      const hello = j.get<{ agentId: string }>('source-hello')
      const account = (target as Target).account()
      const loaded = j.get<{ stateRoot: Hex; seq: string }>('state-loaded')
      if (hello === undefined || account === undefined || loaded === undefined) return undefined
      const agentId = BigInt(hello.agentId)
      const now = await readCanonical(p.chain.client, { contracts: p.chain.contracts, agentId })
      if (now.instance.host !== p.publicUrl || now.instance.signer.toLowerCase() !== account.address.toLowerCase()) return undefined
      const imported = j.get('key-envelope') !== undefined
      const privateKey = async (): Promise<PrivateKey> => {
        if (!imported) return ownKey()
        const key = j.getSecret('wallet')
        if (key === undefined) throw new Error('no imported key in the uplift journal')
        try {
          return new PrivateKey(key)
        } finally {
          key.fill(0)
        }
      }
      const became: BecameAgent = {
        agentId,
        account,
        privateKey,
        imported,
        epoch: now.epoch,
        stateRoot: loaded.stateRoot,
        seq: BigInt(loaded.seq),
      }
      await p.onAgent?.(became)
      agent = became
      startController(became)
      ;(p.log ?? ((l: string) => process.stdout.write(`${l}\n`)))(
        `canonical ${JSON.stringify({ agentId: agentId.toString(), epoch: now.epoch.toString(), wallet: account.address })}`,
      )
      return became
    })().finally(() => {
      becoming = undefined
    })
    return becoming
  }

  if (agent !== undefined) startController(agent)
  else {
    if (p.tee === undefined || p.ownWallet === undefined) throw new Error('an uplift target runs in a CVM: give tee and ownWallet')
    journal = Journal.open({
      path: join(p.dataDir, targetJournalFile),
      role: 'target',
      key: p.sealingKey,
      ...(p.failpoint ? { failpoint: p.failpoint } : {}),
    })
    target = createTarget({
      tee: p.tee,
      wallet: p.ownWallet,
      walletClient: p.chain.walletFor(toAccount(p.ownWallet)),
      client: p.chain.client,
      contracts: p.chain.contracts,
      chainId: p.chain.chainId,
      targetUrl: p.publicUrl,
      journal,
      state: p.state,
    })
    await becomeAgent() // a restarted target that was already handed the agent serves it at once
  }

  const nonces = p.nonces ?? AdminRequest.createNonceStore()
  const admin = createAdminRoutes({
    operator,
    scope: () => (agent ? { chainId: p.chain.chainId, succession: p.chain.contracts.succession, agentId: agent.agentId } : undefined),
    controller: () => controller,
    withdraw: () =>
      agent === undefined
        ? undefined
        : async (to, amount) => {
            const sent = await withdraw(p.chain.walletFor((agent as AgentIdentity).account), {
              contracts: p.chain.contracts,
              agentId: (agent as AgentIdentity).agentId,
              to,
              amount,
            })
            return { transactionHash: sent.transactionHash, epoch: sent.epoch }
          },
    nonces,
  })

  const uplift: Uplift = {
    async handle(req, res) {
      const path = new URL(req.url ?? '/', 'http://agent').pathname
      if (target !== undefined && (await target.handle(req, res))) return true
      await becomeAgent()
      if (await admin(req, res)) return true
      const c = controller
      const to = c?.targetUrl()
      if (c?.switched() && to && path !== '/health') {
        // While the window's writes are replayed at the target, reads the agent names are still answered here (this
        // instance holds every acknowledged write); anything else waits for the replay, so it arrives after them.
        if (c.replaying() && req.method === 'GET' && p.localReads?.(path)) return false
        await c.drained()
        await forward(to, req, res)
        return true
      }
      if (agent === undefined && path !== '/health') {
        sendJson(res, 404, {
          error: { code: 'not_found', message: `no route ${req.method} ${path} (an uplift target until it is handed the agent)` },
        })
        return true
      }
      return false
    },
    hold: (write) => controller?.hold(write),
    async gate() {
      const c = controller
      if (c === undefined || !c.frozen()) return c?.switched() ? 'forward' : 'commit'
      if (await c.settled()) {
        await c.drained()
        return 'forward'
      }
      throw Object.assign(new Error('An uplift is paused after its checkpoint: commit again once it is resumed.'), {
        code: 'uplift.paused',
        status: 503,
      })
    },
    forwardTo: (req, res) => forward(controller?.targetUrl() as string, req, res),
    role: () => (controller?.switched() ? 'demoted' : agent === undefined ? 'target' : 'agent'),
    agent: () => agent,
    controller: () => controller,
    async authorize(req, body) {
      if (operator === undefined) return { ok: false, status: 404, code: 'admin.disabled', message: 'This agent has no operator.' }
      if (agent === undefined) return { ok: false, status: 409, code: 'agent.none', message: 'No agent is canonical here yet.' }
      const url = new URL(req.url ?? '/', 'http://agent')
      const verdict = await AdminRequest.verify(
        { method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, body, headers: req.headers },
        { chainId: p.chain.chainId, succession: p.chain.contracts.succession, agentId: agent.agentId, operator, nonces },
      )
      return verdict.ok ? { ok: true } : verdict
    },
    targetStatus: () => target?.status(),
    adopt(a) {
      if (agent !== undefined) return
      agent = a
      startController(a)
    },
    close() {
      controller?.close()
      journal?.close()
    },
  }
  return uplift
}
