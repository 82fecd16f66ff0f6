/**
 * Shared set-up of the failover chaos tests (test/e2e/failover*.test.ts) and `bench/failover.ts`: the example agent as
 * a canonical CVM on the devnet with standbys (CVMs of the same app, `REGENT_UPLIFT_ROLE=standby`), its lease and
 * standbys configured through the operator-signed admin API, and a client that writes through the chain's canonical
 * instance and records every acknowledgement (who acknowledged it, at which epoch and seq).
 */

import { randomBytes } from 'node:crypto'
import type { CvmRecord, Devnet } from '@regent-tee/devnet'
import { readCanonical } from '@regent-tee/sdk/chain'
import { createCanonicalClient } from '@regent-tee/sdk/failover'
import { createPublicClient, type Hex, http, keccak256 } from 'viem'
import { admin, call, randomName } from './agent-process.js'
import { devnetChain } from './uplift-fixture.js'

export type Instance = CvmRecord & { readonly role: 'canonical' | 'standby' }

export type ClusterOptions = {
  /** Lease period in seconds. */
  readonly period: number
  readonly k: number
  /** Self-fence margin, ms. */
  readonly marginMs?: number
  /** One entry per standby: its extra environment (claim delay, failpoint). */
  readonly standbys: readonly Record<string, string>[]
}

export type Cluster = {
  readonly agentId: bigint
  /** The cluster's own app: every instance of an app holds the same key, so clusters must not share one. */
  readonly appId: Hex
  readonly canonical: Instance
  readonly standbys: Instance[]
  readonly client: ReturnType<typeof publicClient>
  /** Every CVM's last log lines (for a failed test). */
  logs(): Promise<string>
  /** Stops every CVM of the cluster (SIGCONT first: a stopped process cannot exit). */
  stop(): Promise<void>
}

export const publicClient = (devnet: Devnet) => createPublicClient({ chain: devnetChain(devnet), transport: http(devnet.file.rpcUrl) })

/** Launches a CVM of the app and waits (bounded polling of its health) until it answers as `role`. */
export async function launchInstance(
  devnet: Devnet,
  { compose, appId, env }: { compose: Uint8Array; appId: Hex; env: Record<string, string> },
  ready: (health: Record<string, unknown>) => boolean,
): Promise<CvmRecord> {
  const cvm = await devnet.host.launch({ compose, appId: Buffer.from(appId.slice(2), 'hex'), env })
  const deadline = Date.now() + 90_000
  for (;;) {
    const health = await call(cvm.appUrl, '/health').then(
      (r) => (r.status === 200 ? r.body : undefined),
      () => undefined,
    )
    if (health && ready(health)) return cvm
    if (devnet.host.get(cvm.cvmId).status !== 'running' || Date.now() > deadline) throw new Error(await devnet.host.logs(cvm.cvmId))
    await new Promise((r) => setTimeout(r, 100)) // still booting (KMS keys, registration)
  }
}

/** A new app for `compose` (its own key), the canonical agent CVM, its standbys attached, the lease set. */
export async function startCluster(devnet: Devnet, compose: Uint8Array, o: ClusterOptions): Promise<Cluster> {
  const { appId } = await devnet.approveApp({ compose, salt: keccak256(randomBytes(32)) })
  const app = { compose, appId }
  const base = { REGENT_COLLATERAL_URL: devnet.file.collateralUrl }
  const canonical = await launchInstance(
    devnet,
    { ...app, env: { ...base, REGENT_AGENT_NAME: randomName('failover') } },
    (h) => typeof h.agentId === 'string' && h.role === 'agent',
  )
  const agentId = BigInt((await call(canonical.appUrl, '/health')).body.agentId as string)
  const standbys = await Promise.all(
    o.standbys.map((env) =>
      launchInstance(devnet, { ...app, env: { ...base, REGENT_UPLIFT_ROLE: 'standby', ...env } }, (h) => h.role === 'standby'),
    ),
  )
  const set = await admin(canonical.appUrl, 'failover', { period: o.period, k: o.k, marginMs: o.marginMs ?? 1000 })
  if (set.status !== 200) throw new Error(`failover: ${JSON.stringify(set.body)}`)
  for (const s of standbys) {
    const added = await admin(canonical.appUrl, 'failover/standbys', { url: s.appUrl })
    if (added.status !== 200) throw new Error(`standby ${s.appUrl}: ${JSON.stringify(added.body)}`)
  }
  const all = [canonical, ...standbys]
  return {
    agentId,
    appId,
    canonical: { ...canonical, role: 'canonical' },
    standbys: standbys.map((s) => ({ ...s, role: 'standby' })),
    client: publicClient(devnet),
    async logs() {
      const parts = await Promise.all(all.map(async (c) => `--- ${c.appUrl}\n${await devnet.host.logs(c.cvmId, { tail: 60 })}`))
      return parts.join('\n')
    },
    async stop() {
      for (const c of all) {
        if (devnet.host.get(c.cvmId).status === 'running') devnet.host.resume(c.cvmId)
        if (devnet.host.get(c.cvmId).status === 'running') await devnet.host.kill(c.cvmId)
      }
    },
  }
}

export type Ack = { readonly key: string; readonly url: string; readonly epoch: string; readonly seq: number; readonly at: number }

/**
 * A client that writes through the chain's canonical instance, one write after the other, each with its own
 * idempotency key, until `stop()`; it keeps every acknowledgement.
 */
export function startWriter(devnet: Devnet, agentId: bigint, label: string) {
  const follow = createCanonicalClient({
    client: publicClient(devnet),
    contracts: devnet.file.contracts,
    agentId,
    followMs: 120_000,
    pollMs: 100,
  })
  const acks: Ack[] = []
  const refusals: { url: string; status: number; code: string }[] = []
  let running = true
  const abort = new AbortController()
  const done = (async () => {
    for (let i = 0; running; i++) {
      const key = `${label}-${i}`
      const sent = await follow
        .request('/remember', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ user: 'writer', text: `note ${key}` }),
          signal: abort.signal,
        })
        .catch((error: Error) => {
          refusals.push({ url: '', status: 0, code: error.message })
          return undefined
        })
      if (sent === undefined) continue
      const { response, url } = sent
      const body = (await response.json()) as { epoch?: string; seq?: number; error?: { code: string } }
      if (response.status === 200) acks.push({ key, url, epoch: body.epoch as string, seq: body.seq as number, at: performance.now() })
      else refusals.push({ url, status: response.status, code: body.error?.code ?? '' })
    }
  })()
  return {
    acks,
    refusals,
    async stop() {
      running = false
      await done
    },
    /** Stops at once, abandoning the write in flight (a failed test's clean-up). */
    async abandon() {
      running = false
      abort.abort()
      await done
    },
  }
}

/** Resolves once the chain names an instance other than `url` canonical (bounded polling of the chain). */
export async function canonicalMoved(cluster: Cluster, devnet: Devnet, url: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const now = await readCanonical(cluster.client, { contracts: devnet.file.contracts, agentId: cluster.agentId })
    if (now.instance.host !== url) return now
    if (Date.now() > deadline) throw new Error(`the chain still names ${url} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Every acknowledged write is in `url`'s state: sent again with its key, each is a duplicate (nothing applied). */
export async function lostWrites(url: string, acks: readonly Ack[]): Promise<number> {
  let lost = 0
  for (let i = 0; i < acks.length; i += 500) {
    const items = acks.slice(i, i + 500).map((a) => ({ user: 'writer', text: `note ${a.key}`, key: a.key }))
    const r = await call(url, '/remember/batch', { items })
    if (r.status !== 200) throw new Error(`batch check at ${url}: ${JSON.stringify(r.body)}`)
    lost += (r.body as { applied: number }).applied
  }
  return lost
}

/** Writes acknowledged by two instances in one epoch (split brain): epochs with more than one acknowledging URL. */
export function splitBrainWrites(acks: readonly Ack[]): number {
  const byEpoch = new Map<string, Set<string>>()
  for (const a of acks) byEpoch.set(a.epoch, (byEpoch.get(a.epoch) ?? new Set()).add(a.url))
  let n = 0
  for (const [epoch, urls] of byEpoch) if (urls.size > 1) n += acks.filter((a) => a.epoch === epoch).length
  return n
}
