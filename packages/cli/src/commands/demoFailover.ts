/**
 * `regent demo --failover`: operator-free failover on the running devnet (issue 19; docs/cli/demo.md "Failover").
 * The example agent runs as a canonical CVM with two standbys of its app (launched and attached as `regent standby
 * add` does) under a short lease; a client writes through `createCanonicalClient` (@regent-tee/sdk/failover), which
 * follows the instance the chain names. The demo SIGKILLs the canonical CVM, shows the chain naming a standby at the
 * next epoch, the client's writes continuing there, and checks that every write the client saw acknowledged is in the
 * new canonical's state (each one re-sent with its idempotency key applies nothing).
 */
import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { identityRegistryAbi } from '@regent-tee/contracts'
import { type CvmRecord, type DevnetFile, status as devnetStatus } from '@regent-tee/devnet'
import { fromAgentUri, readCanonical } from '@regent-tee/sdk/chain'
import { createCanonicalClient } from '@regent-tee/sdk/failover'
import type { Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { CommandInput, CommandResult } from '../command.js'
import { CliError } from '../errors.js'
import { onInterrupt, stillRunning } from '../interrupt.js'
import { progress } from '../progress.js'
import * as AgentApp from '../project/AgentApp.js'
import * as AppAuth from '../project/AppAuth.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'
import * as ExampleAgent from '../project/ExampleAgent.js'
import * as Failover from '../project/Failover.js'
import * as Host from '../project/Host.js'

const docs = 'docs/cli/demo.md'
/** A short lease: the failover takes about one period. */
const lease: Failover.Lease = { period: 5, k: 1, marginMs: 1000 }
const standbyCount = 2
/** The client writes one note every this many ms (a steady stream, so that the outage shows). */
const writeEveryMs = 200
/** Writes the client must see acknowledged by the canonical before the kill, and by the new one after the claim. */
const acksEachSide = 10
/** The longest the demo waits for the acknowledgements or the claim it expects. */
const waitMs = 60_000
/**
 * How long one write keeps following the chain before the client gives up: several lease periods. Also how long a
 * failed demo may linger: the SDK client keeps following until then, whatever signal its caller passes.
 */
const followMs = 30_000

/** One write the client saw acknowledged: its key, who acknowledged it, at which epoch and seq, when (ms since the first write). */
export type Ack = { key: string; url: string; epoch: string; seq: number; atMs: number }

/** What `regent demo --failover --json` prints (docs/cli/demo.md "Failover"). */
export type FailoverDemoOutput = {
  demo: 'failover'
  chainId: number
  appId: string
  agentId: string
  lease: Failover.Lease
  canonical: { cvmId: string; url: string; instanceId: string }
  standbys: { cvmId: string; url: string; instanceId: string; claimDelayMs: number }[]
  /** The SIGKILL of the canonical CVM (ms since the first write). */
  killed: { cvmId: string; url: string; atMs: number }
  /** The chain's new canonical: its URL, the epochs, and when the chain named it (ms since the first write). */
  claim: { url: string; cvmId: string | null; epochBefore: string; epochAfter: string; atMs: number }
  acks: Ack[]
  /** SIGKILL → first write acknowledged by the new canonical, ms. */
  failoverMs: number
  /** SIGKILL → the chain names the new canonical, ms. */
  claimMs: number
  /** The longest the client waited for one acknowledgement, ms. */
  longestWaitMs: number
  /** Acknowledged writes the new canonical does not hold (re-sent with their keys, each one that applies is lost). */
  lostAcknowledgedWrites: number
  /** Writes acknowledged in an epoch in which another instance acknowledged too (split brain). */
  splitBrainWrites: number
  /** The ERC-8004 registration file's service endpoints after the failover (each URL once). */
  registration: { endpoints: string[]; pointsAtNewCanonical: boolean }
  /** `--keep`: the cluster keeps running; otherwise its CVMs are stopped at the end. */
  kept: boolean
}

type Ctx = Partial<{
  appId: Hex
  compose: Uint8Array
  bundleDir: string
  canonical: CvmRecord
  agentId: bigint
  standbys: CvmRecord[]
  epochBefore: string
  killedAt: number
  claim: FailoverDemoOutput['claim']
  lost: number
  splitBrain: number
  registration: FailoverDemoOutput['registration']
}>

export async function runFailover(input: CommandInput): Promise<CommandResult<FailoverDemoOutput>> {
  const json = input.flags.json === true
  const keep = input.flags.keep === true
  const devnetDir = resolveDevnetDir(input.flags.devnetDir).dir
  const s = await devnetStatus({ dir: devnetDir })
  if (!s.running || !s.file)
    throw new CliError('devnet.not_running', `no devnet is running in ${devnetDir}`, {
      hint: 'start one with `regent dev up` (or point --devnet-dir at its directory)',
      docs,
    })
  const file = s.file
  const { publicClient } = AppAuth.clients(file)
  // The agent's operator: a key made for this demo, kept in this process (only its signatures reach the agent).
  const operator = privateKeyToAccount(generatePrivateKey())
  const ctx: Ctx = {}
  const launched: CvmRecord[] = []
  const stopAll = async () => {
    // The app is this run's own: every CVM of it is the demo's, also one whose launch had not answered yet.
    const strays = ctx.appId ? await Failover.launchedSince(file, ctx.appId, new Set()).catch(() => []) : []
    for (const c of new Set([...launched.map((l) => l.cvmId), ...strays.map((l) => l.cvmId)]))
      await Host.stop(file, c).catch(() => undefined)
  }
  // Interrupted: the cluster is stopped (with --keep, named as still running).
  const forget = keep ? () => {} : onInterrupt(stopAll)
  const track = (cvm: CvmRecord) => {
    launched.push(cvm)
    if (keep) stillRunning(`${cvm.cvmId} at ${cvm.appUrl} (stop it with \`regent dev cvm stop ${cvm.cvmId}\`)`)
    return cvm
  }
  let writer: Writer | undefined
  let client: Failover.Client | undefined
  const admin = () => {
    client ??= Failover.client(need(ctx.canonical).appUrl, () => operator)
    return client
  }

  try {
    await progress<Ctx>(
      [
        {
          title: "contracts: a fresh app approving the example agent's compose hash",
          task: async (_c, task) => {
            // Its own app: every instance of an app holds the same key, so a cluster must not share one with another.
            const app = await AgentApp.build({
              dir: ExampleAgent.dir,
              out: resolve(devnetDir, 'builds'),
              settings: { v: 1, operator: operator.address, chainId: file.chainId, contracts: file.contracts, trustedRoots: [file.rootCa] },
            })
            const salt = `0x${randomBytes(32).toString('hex')}` as Hex
            const a = await Host.call<{ appId: Hex; composeHash: Hex }>(file, '/v1/apps', {
              compose: Buffer.from(app.compose).toString('base64'),
              salt,
            })
            Object.assign(ctx, { appId: a.appId, compose: app.compose, bundleDir: app.bundleDir })
            task.title = `contracts: app ${a.appId} approves the example agent (compose hash ${short(a.composeHash)})`
          },
        },
        {
          title: 'canonical: the example agent in a CVM (it registers in ERC-8004 and becomes canonical)',
          task: async (_c, task) => {
            const cvm = await Host.launch(file, {
              compose: need(ctx.compose),
              bundle: need(ctx.bundleDir),
              appId: need(ctx.appId),
              env: { REGENT_AGENT_NAME: `demo-failover-${randomBytes(4).toString('hex')}`, REGENT_COLLATERAL_URL: file.collateralUrl },
            })
            ctx.canonical = track(cvm)
            ctx.agentId = BigInt(need((await Failover.waitForRole(file, cvm, 'agent')).agentId ?? undefined))
            task.title = `canonical: agent ${ctx.agentId} in ${cvm.cvmId} at ${cvm.appUrl}`
          },
        },
        {
          title: `standbys: ${standbyCount} more CVMs of the app (the same compose and app id) in the standby role`,
          task: async (_c, task) => {
            // The second waits a second longer before it claims: the two do not race for the lease.
            ctx.standbys = await Promise.all(
              Array.from({ length: standbyCount }, async (_, i) => {
                const cvm = track(await Failover.launchStandby(file, need(ctx.canonical), { claimDelayMs: i * 1000 }))
                await Failover.waitForRole(file, cvm, 'standby')
                return cvm
              }),
            )
            task.title = `standbys: ${ctx.standbys.map((c) => `${c.cvmId} at ${c.appUrl}`).join(', ')}`
          },
        },
        {
          title: `lease: ${lease.period} s on RegentSuccession, k ${lease.k}`,
          task: async (_c, task) => {
            const st = await admin().setLease(lease)
            ctx.epochBefore = st.epoch
            task.title = `lease: ${st.lease?.period} s held by ${need(ctx.canonical).cvmId} at epoch ${st.epoch}, k ${lease.k}, self-fence margin ${lease.marginMs} ms`
          },
        },
        {
          title: 'attach: the canonical attests each standby and streams it its state',
          task: async (_c, task) => {
            for (const cvm of need(ctx.standbys)) {
              const r = await admin().attach(cvm.appUrl)
              if (!r.ok) throw Failover.standbyRefused(need(ctx.canonical).appUrl, r.standby)
            }
            const st = await admin().status()
            task.title = `attach: ${(st.replication?.standbys ?? []).map((b) => `${b.url} ${b.state}`).join(', ')}`
          },
        },
        {
          title: `client: writes through createCanonicalClient, one every ${writeEveryMs} ms`,
          task: async (_c, task) => {
            writer = startWriter(file, publicClient, need(ctx.agentId))
            const at = need(ctx.canonical).appUrl
            await writer.until(
              (acks) => acks.filter((a) => a.url === at).length >= acksEachSide,
              `${acksEachSide} acknowledgements by ${at}`,
            )
            const mine = writer.acks.filter((a) => a.url === at)
            task.title = `client: ${mine.length} writes acknowledged by ${at} (epoch ${mine[0]?.epoch}, seq ${mine[0]?.seq}–${mine.at(-1)?.seq}), each held by a standby first`
          },
        },
        {
          title: 'kill: SIGKILL the canonical CVM',
          task: async (_c, task) => {
            const c = need(ctx.canonical)
            ctx.killedAt = need(writer).now()
            await Host.kill(file, c.cvmId)
            task.title = `kill: ${c.cvmId} SIGKILLed at +${seconds(ctx.killedAt)} (no goodbye, its lease simply stops being renewed)`
          },
        },
        {
          title: 'claim: a standby claims the agent once the lease expires',
          task: async (_c, task) => {
            const old = need(ctx.canonical)
            const deadline = Date.now() + waitMs
            for (;;) {
              const now = await readCanonical(publicClient, { contracts: file.contracts, agentId: need(ctx.agentId) })
              if (now.instance.host !== old.appUrl) {
                const at = need(writer).now()
                ctx.claim = {
                  url: now.instance.host,
                  cvmId: need(ctx.standbys).find((c) => c.appUrl === now.instance.host)?.cvmId ?? null,
                  epochBefore: need(ctx.epochBefore),
                  epochAfter: String(now.epoch),
                  atMs: at,
                }
                break
              }
              if (Date.now() > deadline)
                throw new CliError('failover.no_claim', `no standby claimed the agent within ${waitMs / 1000} s of the kill`, {
                  hint: `see the standbys' output: regent dev cvm logs ${need(ctx.standbys)[0]?.cvmId}`,
                  docs,
                })
              await new Promise((r) => setTimeout(r, 50)) // the chain's next block
            }
            const c = ctx.claim
            task.title = `claim: the chain names ${c.url} (${c.cvmId}) canonical at epoch ${c.epochAfter}, ${seconds(c.atMs - need(ctx.killedAt))} after the kill`
          },
        },
        {
          title: 'client: the writes continue at the new canonical',
          task: async (_c, task) => {
            const at = need(ctx.claim).url
            const w = need(writer)
            await w.until((acks) => acks.filter((a) => a.url === at).length >= acksEachSide, `${acksEachSide} acknowledgements by ${at}`)
            await w.stop()
            const first = w.acks.find((a) => a.url === at) as Ack
            task.title = `client: ${w.acks.filter((a) => a.url === at).length} writes acknowledged by ${at} (epoch ${first.epoch}); the first ${seconds(first.atMs - need(ctx.killedAt))} after the kill`
          },
        },
        {
          title: 'verify: every acknowledged write is at the new canonical',
          task: async (_c, task) => {
            const w = need(writer)
            const at = need(ctx.claim).url
            ctx.lost = await lostWrites(at, w.acks)
            ctx.splitBrain = splitBrainWrites(w.acks)
            const uri = await publicClient.readContract({
              address: file.contracts.identityRegistry,
              abi: identityRegistryAbi,
              functionName: 'tokenURI',
              args: [need(ctx.agentId)],
            })
            const endpoints = [...new Set(fromAgentUri(uri).services.map((x) => x.endpoint))]
            ctx.registration = { endpoints, pointsAtNewCanonical: endpoints.length > 0 && endpoints.every((e) => e === at) }
            task.title = `verify: ${w.acks.length} acknowledged writes re-sent with their keys → ${ctx.lost} applied; ${ctx.splitBrain} split-brain writes; ERC-8004 registration → ${endpoints.join(', ')}`
          },
        },
      ],
      json,
    ).run(ctx)
  } catch (error) {
    await writer?.stop()
    throw error
  } finally {
    if (!keep) await stopAll()
    forget()
  }

  const w = need(writer)
  const claim = need(ctx.claim)
  const killedAt = need(ctx.killedAt)
  const first = w.acks.find((a) => a.url === claim.url) as Ack
  const canonical = need(ctx.canonical)
  const registration = need(ctx.registration)
  const lost = need(ctx.lost)
  const splitBrain = need(ctx.splitBrain)
  return {
    ok: lost === 0 && splitBrain === 0 && BigInt(claim.epochAfter) > 1n && registration.pointsAtNewCanonical,
    data: {
      demo: 'failover',
      chainId: file.chainId,
      appId: need(ctx.appId),
      agentId: String(need(ctx.agentId)),
      lease,
      canonical: { cvmId: canonical.cvmId, url: canonical.appUrl, instanceId: hex(canonical.instanceId) },
      standbys: need(ctx.standbys).map((c, i) => ({
        cvmId: c.cvmId,
        url: c.appUrl,
        instanceId: hex(c.instanceId),
        claimDelayMs: i * 1000,
      })),
      killed: { cvmId: canonical.cvmId, url: canonical.appUrl, atMs: Math.round(killedAt) },
      claim: { ...claim, atMs: Math.round(claim.atMs) },
      acks: w.acks.map((a) => ({ ...a, atMs: Math.round(a.atMs) })),
      failoverMs: Math.round(first.atMs - killedAt),
      claimMs: Math.round(claim.atMs - killedAt),
      longestWaitMs: Math.round(w.longestWaitMs()),
      lostAcknowledgedWrites: lost,
      splitBrainWrites: splitBrain,
      registration,
      kept: keep,
    },
  }
}

export function renderFailover(result: CommandResult): string {
  const d = result.data as FailoverDemoOutput
  const killed = d.killed
  const newUrl = d.claim.url
  const line = (a: Ack) => `  +${seconds(a.atMs).padStart(7)}  ${a.key.padEnd(8)} ${a.url}  epoch ${a.epoch}  seq ${a.seq}`
  const before = d.acks.filter((a) => a.atMs < killed.atMs)
  const after = d.acks.filter((a) => a.atMs >= killed.atMs)
  return [
    `${result.ok ? '✓' : '✗'} failover: agent ${d.agentId} lost its canonical CVM to SIGKILL and served again from a standby ${seconds(d.failoverMs)} later; ${d.lostAcknowledgedWrites} acknowledged writes lost`,
    '',
    `Cluster (app ${d.appId}; lease ${d.lease.period} s, k ${d.lease.k}, self-fence margin ${d.lease.marginMs} ms):`,
    `  canonical  ${d.canonical.cvmId}  ${d.canonical.url}  instance ${d.canonical.instanceId}  ← SIGKILLed at +${seconds(killed.atMs)}`,
    ...d.standbys.map(
      (b) =>
        `  standby    ${b.cvmId}  ${b.url}  instance ${b.instanceId}  ${b.url === newUrl ? `← claimed the agent at epoch ${d.claim.epochAfter} (+${seconds(d.claim.atMs)})` : `claim delay ${b.claimDelayMs} ms`}`,
    ),
    '',
    `Client (createCanonicalClient: one write every ${writeEveryMs} ms, each with its idempotency key; what it saw acknowledged):`,
    ...before.map(line),
    `  +${seconds(killed.atMs).padStart(7)}  ── SIGKILL ${killed.cvmId} (the canonical)`,
    `  +${seconds(d.claim.atMs).padStart(7)}  ── the chain names ${newUrl} canonical at epoch ${d.claim.epochAfter}`,
    ...after.map(line),
    '',
    `Failover: ${seconds(d.failoverMs)} from the SIGKILL to the first write acknowledged by the new canonical (the chain named it after ${seconds(d.claimMs)}; lease ${d.lease.period} s). The client's longest wait for one write: ${seconds(d.longestWaitMs)}.`,
    `Verified: ${d.acks.length} acknowledged writes re-sent with their keys to ${newUrl} → ${d.lostAcknowledgedWrites} applied (lostAcknowledgedWrites ${d.lostAcknowledgedWrites}); ${d.splitBrainWrites} writes acknowledged by two instances in one epoch; the ERC-8004 registration points at ${d.registration.endpoints.join(', ')}${d.registration.pointsAtNewCanonical ? ' (the new canonical)' : ' (NOT the new canonical)'}.`,
    d.kept
      ? `The cluster keeps running: ${d.standbys.map((b) => `${b.cvmId} (${b.url === newUrl ? 'canonical' : 'standby'}, ${b.url})`).join(' and ')}; stop each with \`regent dev cvm stop <id>\`.`
      : 'The cluster was stopped.',
  ].join('\n')
}

type Writer = {
  acks: Ack[]
  /** ms since the first write. */
  now(): number
  /** Resolves once `done(acks)` holds (checked on every acknowledgement); rejects when the writer failed or after waitMs. */
  until(done: (acks: readonly Ack[]) => boolean, what: string): Promise<void>
  longestWaitMs(): number
  stop(): Promise<void>
}

/** A client that writes through the chain's canonical instance, one note every writeEveryMs, until stopped. */
function startWriter(file: DevnetFile.DevnetFile, client: AppAuth.Clients['publicClient'], agentId: bigint): Writer {
  const follow = createCanonicalClient({
    client,
    contracts: file.contracts,
    agentId,
    followMs,
    pollMs: 100,
    requestTimeoutMs: 5_000,
  })
  const start = performance.now()
  const acks: Ack[] = []
  const waiters = new Set<() => void>()
  let running = true
  let failure: Error | undefined
  let longest = 0
  const done = (async () => {
    for (let i = 0; running; i++) {
      const key = `demo-${i}`
      const sent = performance.now()
      const { response, url } = await follow.request('/remember', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ user: 'demo', text: `note ${key}` }),
      })
      const body = (await response.json().catch(() => ({}))) as {
        epoch?: string
        seq?: number
        error?: { code?: string; message?: string }
      }
      if (response.status !== 200)
        throw new CliError(
          'demo.write_refused',
          `${url} refused write ${key}: ${response.status} ${body.error?.code ?? ''} ${body.error?.message ?? ''}`,
          {
            docs,
          },
        )
      const at = performance.now()
      longest = Math.max(longest, at - sent)
      acks.push({ key, url, epoch: String(body.epoch), seq: Number(body.seq), atMs: at - start })
      for (const w of waiters) w()
      const rest = writeEveryMs - (performance.now() - sent)
      if (rest > 0) await new Promise((r) => setTimeout(r, rest)) // the client's pace, not a synchronization
    }
  })().catch((error: Error) => {
    failure = error
    for (const w of waiters) w()
  })
  return {
    acks,
    now: () => performance.now() - start,
    longestWaitMs: () => longest,
    until(check, what) {
      return new Promise<void>((resolveWait, reject) => {
        const timer = setTimeout(() => finish(new CliError('demo.no_acks', `no ${what} within ${waitMs / 1000} s`, { docs })), waitMs)
        const finish = (error?: Error) => {
          clearTimeout(timer)
          waiters.delete(onAck)
          if (error) reject(error)
          else resolveWait()
        }
        const onAck = () => {
          if (failure) finish(failure)
          else if (check(acks)) finish()
        }
        waiters.add(onAck)
        onAck()
      })
    },
    async stop() {
      running = false
      await done
    },
  }
}

/** Acknowledged writes `url` does not hold: re-sent with their keys (POST /remember/batch), each one applied is lost. */
async function lostWrites(url: string, acks: readonly Ack[]): Promise<number> {
  let lost = 0
  for (let i = 0; i < acks.length; i += 500) {
    const items = acks.slice(i, i + 500).map((a) => ({ user: 'demo', text: `note ${a.key}`, key: a.key }))
    const res = await fetch(`${url}/remember/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items }),
      signal: AbortSignal.timeout(30_000),
    })
    const body = (await res.json().catch(() => ({}))) as { applied?: number; error?: { code?: string; message?: string } }
    if (res.status !== 200 || typeof body.applied !== 'number')
      throw new CliError(
        'demo.check_failed',
        `${url}/remember/batch answered ${res.status} ${body.error?.code ?? ''} ${body.error?.message ?? ''}`,
        {
          docs,
        },
      )
    lost += body.applied
  }
  return lost
}

/** Writes acknowledged in an epoch that more than one instance acknowledged in. */
function splitBrainWrites(acks: readonly Ack[]): number {
  const urls = new Map<string, Set<string>>()
  for (const a of acks) urls.set(a.epoch, (urls.get(a.epoch) ?? new Set()).add(a.url))
  return acks.filter((a) => (urls.get(a.epoch)?.size ?? 0) > 1).length
}

function need<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('a demo step ran before the step it depends on')
  return value
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const hex = (h: string) => (h.startsWith('0x') ? h : `0x${h}`)
const short = (h: string) => (h.length > 20 ? `${h.slice(0, 10)}…${h.slice(-6)}` : h)
