/**
 * Operator-free failover mounted in an agent (docs/failover.md): the canonical holds a lease on RegentSuccession,
 * replicates its write-ahead log to attested standbys and acknowledges a write only once `k` of them hold it; a standby
 * that sees the lease expire claims the agent at epoch + 1, pulls what its peers hold beyond its own head, points the
 * registration file at itself, renews, and serves. The chain decides who is canonical; nothing the host sets does.
 *
 *   const failover = await mountFailover({ dataDir, publicUrl, tee, account, instance, chain, trust, state, agentId, authorize, onCanonical })
 *   createServer(async (req, res) => { if (await failover.handle(req, res)) return; failover.gate(); … apply …; await failover.commit(records) })
 *
 * Roles: `off` (the agent has no lease: nothing changes), `canonical` (holds the lease; acknowledges inside its
 * window), `fenced` (holds it on-chain as far as it knows, but its window closed: it could not renew in time),
 * `claiming` (won the claim, catching up), `standby` (follows a canonical, or waits to be attached; refuses the agent's
 * routes and names the canonical).
 *
 * Admin (operator-signed, like `/admin/*` of the uplift): `GET /admin/failover` status; `POST /admin/failover
 * { period, k?, marginMs? }` sets (period 0: clears) the lease; `POST /admin/failover/standbys { url }` attaches a
 * standby (422 `standby.refused` with its reasons); `POST /admin/failover/standbys/remove { url }`.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { Collateral, TrustedRoot } from '@regent-tee/attest'
import { HttpError, parseJson, readBody, sendJson } from '@regent-tee/core'
import type { Address, Client, Hex, LocalAccount } from 'viem'
import { appPolicy } from '../AppPolicy.js'
import {
  claimCanonical,
  LeaseHeldError,
  LeaseLostError,
  type ReadLeaseReturnType,
  readLease,
  renewLease,
  setLease,
} from '../chain/lease.js'
import { pointRegistration } from '../chain/pointRegistration.js'
import type { RegentContracts, WriteClient } from '../chain/transact.js'
import type { BaseTeeClient } from '../createTeeClient.js'
import { FailoverError } from './errors.js'
import { createFollower, type ReplicatedState } from './Follower.js'
import { createLeaseKeeper, type LeaseKeeper } from './LeaseKeeper.js'
import { createRecordBuffer } from './RecordBuffer.js'
import { createReplicator, type Replicator } from './Replicator.js'
import { verifyStandby } from './VerifyStandby.js'
import type { LogRecord } from './Wire.js'

export type FailoverRole = 'off' | 'canonical' | 'fenced' | 'claiming' | 'standby'

export type MountFailoverParameters = {
  /** `failover.json` (k, margin, standby URLs: nothing secret) lives here. */
  readonly dataDir: string
  readonly publicUrl: string
  /** The guest agent (a standby attests with it). */
  readonly tee: BaseTeeClient | undefined
  /** The agent key: the app's KMS wallet, the same in every instance of the app. */
  readonly account: LocalAccount
  /** This instance's id (from its attestation's Info): what the lease names. */
  readonly instanceId: Address
  /** This instance as RegentSuccession records it (asked only when it claims). */
  instance(): Promise<{ readonly composeHash: Hex; readonly instanceId: Address; readonly quoteHash: Hex }>
  readonly chain: { readonly contracts: RegentContracts; readonly client: Client; walletFor(account: LocalAccount): WriteClient }
  /** How standbys are verified: the roots accepted besides Intel's, and the collateral. */
  readonly trust: { readonly trustedRoots: readonly TrustedRoot[]; collateral(): Promise<Collateral.Collateral> }
  readonly state: ReplicatedState
  /** The agent this instance holds (it was booted as the agent); omit on a fresh standby. */
  readonly agentId?: bigint | undefined
  /** Booted as a standby (waits for a canonical's hello). Otherwise, without `agentId`, failover is `off` here. */
  readonly standby?: boolean
  /** Checks an operator-signed admin request (the uplift's `authorize`); pass the exact body bytes. */
  authorize(req: IncomingMessage, body: Uint8Array): Promise<{ ok: true } | { ok: false; status: number; code: string; message: string }>
  /** A standby became the canonical: create the agent here (called before it serves). */
  onCanonical?(event: { agentId: bigint; epoch: bigint; pulled: number }): void | Promise<void>
  /** Defaults of a new lease. */
  readonly k?: number
  readonly marginMs?: number
  /** How often a standby reads the lease, in ms. @default 250 */
  readonly pollMs?: number
  /** Extra wait after expiry before this standby claims (a host setting: it only orders claimants). @default 0 */
  readonly claimDelayMs?: number
  /** Longest wait for a write's acknowledgements. @default 5000 */
  readonly ackTimeoutMs?: number
  readonly failpoint?: ((point: string) => void) | undefined
  readonly log?: (line: string) => void
}

export type Failover = {
  /** Serves `/failover/v1/*` and `/admin/failover*`; resolves false for the agent's own routes. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>
  /** Throws a {@link FailoverError} when this instance must not serve the agent's routes now. */
  gate(): void
  /**
   * After records were appended durably here: waits until the required standbys hold them, then checks the lease
   * window once more. Resolves with what the client may be told (epoch and seq).
   *
   * @throws {FailoverError} `failover.unreplicated` | `failover.fenced` | `failover.standby`.
   */
  commit(records: readonly LogRecord[]): Promise<{ epoch: bigint; seq: number }>
  role(): FailoverRole
  /** This instance became the agent another way (an uplift target the chain named canonical): read the lease now. */
  adopt(agentId: bigint): Promise<void>
  status(): Record<string, unknown>
  close(): void
}

type Config = { k: number; marginMs: number; standbys: string[] }
const configFile = 'failover.json'

export async function mountFailover(parameters: MountFailoverParameters): Promise<Failover> {
  const p = parameters
  const log = p.log ?? ((line: string) => process.stdout.write(`${line}\n`))
  const { contracts, client } = p.chain
  const wallet = p.chain.walletFor(p.account)
  const me = { instanceId: p.instanceId }
  const buffer = createRecordBuffer({ base: p.state.head() })
  const path = join(p.dataDir, configFile)
  let config: Config = existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8')) as Config)
    : { k: p.k ?? 1, marginMs: p.marginMs ?? 1000, standbys: [] }
  const save = () => {
    writeFileSync(`${path}.tmp`, JSON.stringify(config), { mode: 0o600 })
    renameSync(`${path}.tmp`, path)
  }

  let role: FailoverRole = p.standby ? 'standby' : 'off'
  let agentId = p.agentId
  let epoch = 0n
  let lease: ReadLeaseReturnType | undefined
  let keeper: LeaseKeeper | undefined
  let replicator: Replicator | undefined
  let closed = false
  const claims = { attempts: 0, won: 0 }

  const follower = createFollower({
    tee: p.tee,
    address: p.account.address,
    publicUrl: p.publicUrl,
    state: p.state,
    buffer,
    readLease: (id) => readLease(client, { contracts, agentId: id }),
  })
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  const canonicalUrl = () => lease?.instance.host

  const verify = async (hello: Parameters<typeof verifyStandby>[0]['hello'], answer: Parameters<typeof verifyStandby>[0]['answer']) =>
    verifyStandby({
      hello,
      answer,
      collateral: await p.trust.collateral(),
      trustedRoots: p.trust.trustedRoots,
      now: new Date(),
      app: appPolicy(client, { appAuth: contracts.appAuth, appId: (lease as ReadLeaseReturnType).appId }),
    })

  /** This instance holds the lease at `e`: replicate, catch up from peers, renew, serve. */
  async function lead(e: bigint, grantedAt: number | undefined, peers: readonly string[]) {
    role = 'claiming'
    epoch = e
    const id = agentId as bigint
    replicator?.close()
    replicator = createReplicator({
      account: p.account,
      agentId: id,
      epoch: e,
      self: { url: p.publicUrl, instanceId: me.instanceId },
      k: config.k,
      degradeAfterMs: Number((lease as ReadLeaseReturnType).period) * 1000,
      state: p.state,
      buffer,
      verify,
      ...(p.ackTimeoutMs ? { ackTimeoutMs: p.ackTimeoutMs } : {}),
      log,
    })
    replicator.configure([...new Set([...config.standbys, ...peers])].filter((u) => u !== p.publicUrl))
    follower.drop()
    const caught = await replicator.catchUp()
    config = { ...config, standbys: replicator.urls() }
    save()
    if (caught.pulled > 0) log(`failover: pulled ${caught.pulled} records from ${caught.from.join(', ')}`)
    await pointRegistration(wallet, { contracts, agentId: id, url: p.publicUrl }).catch((error: Error) =>
      log(`failover: the registration file still points elsewhere (${error.message.split('\n')[0]})`),
    )
    await p.onCanonical?.({ agentId: id, epoch: e, pulled: caught.pulled })
    keeper?.stop()
    keeper = createLeaseKeeper({
      periodMs: Number((lease as ReadLeaseReturnType).period) * 1000,
      marginMs: config.marginMs,
      ...(grantedAt === undefined ? {} : { grantedAt }),
      renew: async () => {
        const renewed = await renewLease(wallet, { contracts, agentId: id, epoch: e, instanceId: me.instanceId })
        // The status shows the lease as the chain has it now, not as it was last read.
        if (lease) lease = { ...lease, expiresAt: renewed.expiresAt, renewed: true }
      },
      onLost: () => demote(),
      log,
    })
    // The first renewal says "I serve" on-chain (a standby of the epoch before may claim only a lease never renewed).
    await keeper.renewNow().catch(() => undefined)
    if (keeper.state() !== 'lost') role = 'canonical'
    log(
      `failover: canonical ${JSON.stringify({ agentId: id.toString(), epoch: e.toString(), standbys: replicator.urls().length, k: config.k })}`,
    )
  }

  function demote() {
    keeper?.stop()
    keeper = undefined
    replicator?.close()
    replicator = undefined
    role = 'standby'
    log('failover: this instance is no longer canonical; it refuses the agent routes')
    // Where the agent is now (what a refusal names); the standby's watch keeps it fresh from here on.
    if (agentId !== undefined)
      void readLease(client, { contracts, agentId }).then(
        (now) => {
          lease = now
        },
        () => undefined,
      )
  }

  /** A standby's watch: claim once the lease it follows has expired. */
  async function watch() {
    const f = follower.following()
    const id = f?.agentId ?? agentId
    if (id === undefined) return
    const now = await readLease(client, { contracts, agentId: id })
    lease = now
    if (now.period === 0n || role !== 'standby') return
    if (same(now.holder, me.instanceId)) {
      agentId = id
      return lead(now.epoch, undefined, f?.peers ?? [])
    }
    if (f === undefined || !f.synced) return
    const eligible = f.epoch === now.epoch || (f.epoch === now.epoch - 1n && !now.renewed)
    if (!eligible || Date.now() < Number(now.expiresAt) * 1000 + (p.claimDelayMs ?? 0)) return
    claims.attempts++
    p.failpoint?.('failover.claiming')
    const sentAt = performance.now()
    try {
      const won = await claimCanonical(wallet, {
        contracts,
        agentId: id,
        epoch: now.epoch,
        instance: { signer: p.account.address, ...(await p.instance()), host: p.publicUrl },
      })
      p.failpoint?.('failover.claimed')
      agentId = id
      lease = await readLease(client, { contracts, agentId: id })
      // The chain, not the receipt, says who won (a receipt can be another instance's that took the nonce).
      if (lease.epoch !== won.epoch || !same(lease.holder, me.instanceId)) return
      claims.won++
      log(`failover: claimed agent ${id} at epoch ${won.epoch}`)
      await lead(won.epoch, sentAt, f.peers)
    } catch (error) {
      if (error instanceof LeaseHeldError || error instanceof LeaseLostError) return
      throw error
    }
  }

  // Boot: the chain says what this instance is.
  if (agentId !== undefined) {
    lease = await readLease(client, { contracts, agentId })
    epoch = lease.epoch
    if (lease.period === 0n) role = 'off'
    else if (same(lease.holder, me.instanceId)) await lead(lease.epoch, undefined, [])
    else role = 'standby'
  }
  let watching = false
  const timer = setInterval(() => {
    if (watching || closed || role !== 'standby') return
    watching = true
    watch()
      .catch((error: Error) => log(`failover: watch failed (${error.message.split('\n')[0]})`))
      .finally(() => {
        watching = false
      })
  }, p.pollMs ?? 250)
  timer.unref()

  const refuse = (): never => {
    if (role === 'claiming') throw new FailoverError(503, 'failover.claiming', 'This instance is taking over the agent: retry shortly.')
    if (role === 'standby')
      throw new FailoverError(
        409,
        'failover.standby',
        `This instance is a standby, not the agent's canonical instance${canonicalUrl() ? `: ${canonicalUrl()}` : ''}.`,
        {
          canonical: canonicalUrl(),
        },
      )
    throw new FailoverError(
      503,
      'failover.fenced',
      'This instance could not renew its lease in time: it acknowledges nothing until it does.',
    )
  }

  async function admin(req: IncomingMessage, res: ServerResponse, route: string) {
    const body = await readBody(req, { limit: 16 * 1024 })
    const verdict = await p.authorize(req, body)
    if (!verdict.ok) throw new HttpError(verdict.status, verdict.code, verdict.message)
    if (route === 'GET /admin/failover') return sendJson(res, 200, status())
    const input = (body.length ? parseJson(body) : {}) as Record<string, unknown>
    if (role !== 'canonical' && role !== 'off') refuse()
    if (route === 'POST /admin/failover') {
      const period = input.period
      if (!Number.isInteger(period) || (period as number) < 0 || (period as number) > 86_400)
        throw new HttpError(400, 'bad_request', '"period" must be whole seconds, 0 (off) to 86400')
      const k = input.k ?? config.k
      if (!Number.isInteger(k) || (k as number) < 0 || (k as number) > 16) throw new HttpError(400, 'bad_request', '"k" must be 0–16')
      const marginMs = input.marginMs ?? config.marginMs
      if (!Number.isInteger(marginMs) || (marginMs as number) < 0 || (marginMs as number) * 2 >= (period as number) * 1000)
        if ((period as number) > 0) throw new HttpError(400, 'bad_request', '"marginMs" must be a whole number below half the period')
      config = { ...config, k: k as number, marginMs: marginMs as number }
      save()
      const sentAt = performance.now()
      await setLease(wallet, { contracts, agentId: agentId as bigint, period: period as number })
      lease = await readLease(client, { contracts, agentId: agentId as bigint })
      if (period === 0) {
        demote()
        role = 'off'
      } else await lead(lease.epoch, sentAt, [])
      return sendJson(res, 200, status())
    }
    const url = input.url
    if (typeof url !== 'string' || !/^https?:\/\/[^\s]{1,2040}$/.test(url))
      throw new HttpError(400, 'bad_request', '"url" must be an http(s) URL')
    if (role !== 'canonical' || replicator === undefined)
      throw new HttpError(409, 'failover.off', 'Set a lease first (POST /admin/failover { period }).')
    if (route === 'POST /admin/failover/standbys') {
      const added = await replicator.add(url)
      if (added.state === 'refused' || added.state === 'unreachable')
        return sendJson(res, 422, { error: { code: 'standby.refused', message: `The standby ${url} was not attached.` }, standby: added })
      config = { ...config, standbys: replicator.urls() }
      save()
      return sendJson(res, 200, { standby: added, ...status() })
    }
    replicator.remove(url)
    config = { ...config, standbys: replicator.urls() }
    save()
    return sendJson(res, 200, status())
  }

  function status(): Record<string, unknown> {
    return {
      role: role === 'canonical' && !keeper?.canAck() ? 'fenced' : role,
      agentId: agentId?.toString() ?? null,
      epoch: epoch.toString(),
      instanceId: me.instanceId,
      canonical: canonicalUrl() ?? null,
      lease: lease
        ? { holder: lease.holder, expiresAt: lease.expiresAt.toString(), period: lease.period.toString(), renewed: lease.renewed }
        : null,
      window: keeper ? { state: keeper.state(), remainingMs: Math.round(keeper.remainingMs()), ...keeper.stats() } : null,
      replication: replicator?.status() ?? null,
      following: follower.following()
        ? { ...follower.following(), agentId: follower.following()?.agentId.toString(), epoch: follower.following()?.epoch.toString() }
        : null,
      claims,
      head: p.state.head(),
    }
  }

  const adminRoutes = new Set([
    'GET /admin/failover',
    'POST /admin/failover',
    'POST /admin/failover/standbys',
    'POST /admin/failover/standbys/remove',
  ])
  return {
    async handle(req, res) {
      const path = new URL(req.url ?? '/', 'http://agent').pathname
      const route = `${req.method} ${path}`
      if (path.startsWith('/failover/')) {
        if (role !== 'standby') {
          sendJson(res, 409, {
            error: { code: 'failover.not_standby', message: `This instance is not a standby (${role}): it follows nobody.` },
          })
          return true
        }
        if (await follower.handle(req, res)) return true
      }
      if (!adminRoutes.has(route)) return false
      try {
        await admin(req, res, route)
      } catch (error) {
        const e =
          error instanceof HttpError ? error : new HttpError(500, 'internal', (error as Error).message.split('\n')[0] ?? 'internal error')
        sendJson(res, e.status, { error: { code: e.code, message: e.shortMessage } })
      }
      return true
    },
    gate() {
      if (role === 'off') return
      if (role === 'canonical' && keeper?.canAck()) return
      refuse()
    },
    async commit(records) {
      const seq = records.at(-1)?.seq ?? p.state.head()
      if (role === 'off') return { epoch, seq }
      if (role !== 'canonical' || replicator === undefined || keeper === undefined) refuse()
      const r = replicator as Replicator
      r.push(records)
      await r.replicated(seq)
      // The self-fence: past the window nothing is acknowledged, even a write the standbys hold.
      if (role !== 'canonical' || !keeper?.canAck()) refuse()
      return { epoch, seq }
    },
    role: () => (role === 'canonical' && !keeper?.canAck() ? 'fenced' : role),
    async adopt(id) {
      agentId = id
      lease = await readLease(client, { contracts, agentId: id })
      epoch = lease.epoch
      if (lease.period === 0n) role = 'off'
      else if (same(lease.holder, me.instanceId)) await lead(lease.epoch, undefined, [])
    },
    status,
    close() {
      closed = true
      clearInterval(timer)
      keeper?.stop()
      replicator?.close()
      follower.drop()
    },
  }
}
