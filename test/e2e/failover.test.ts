/**
 * Operator-free failover under chaos (issue 19; docs/failover.md): real CVM processes on the devnet, a real chain.
 * Each scenario ends with exactly one canonical instance, no acknowledged write lost (k ≥ 1), no two instances
 * acknowledging in one epoch, the treasury and the identity intact, and the registration file at the new canonical.
 */
import { Collateral } from '@regent-tee/attest'
import { agentTreasuryAbi, identityRegistryAbi } from '@regent-tee/contracts'
import { verifyInstance } from '@regent-tee/sdk'
import { fromAgentUri, readCanonical, readLease } from '@regent-tee/sdk/chain'
import { budget } from '@regent-tee/testing/profile'
import { zeroAddress } from 'viem'
import { afterEach, describe, expect, onTestFailed, test } from 'vitest'
import { admin, call, deposit, useAgentDevnet } from './agent-process.js'
import {
  type Cluster,
  canonicalMoved,
  launchInstance,
  lostWrites,
  splitBrainWrites,
  startCluster,
  startWriter,
} from './failover-fixture.js'

const env = useAgentDevnet('failover')
const running: Cluster[] = []
const writers: ReturnType<typeof startWriter>[] = []
afterEach(async () => {
  for (const w of writers.splice(0)) await w.abandon()
  for (const c of running.splice(0)) await c.stop()
})
/** A writer of this test, abandoned after it. */
const writerFor = (cluster: Cluster, label: string) => {
  const w = startWriter(env.devnet, cluster.agentId, label)
  writers.push(w)
  return w
}

/** A cluster of this test (its own app), stopped after it; its CVMs' logs are printed when the test fails. */
async function newCluster(options: Parameters<typeof startCluster>[2]) {
  const c = await startCluster(env.devnet, env.compose, options)
  running.push(c)
  onTestFailed(async () => {
    process.stdout.write(`${await c.logs()}\n`)
  })
  return c
}

// The lease period grows with REGENT_TEST_TIME_SCALE: a loaded machine must not miss renewals it would make on time.
const period = Math.max(4, Math.round(budget(4000) / 1000))
const contracts = () => env.devnet.file.contracts
const health = async (url: string) => (await call(url, '/health').catch(() => ({ status: 0, body: {} }))).body as Record<string, unknown>

/** Writes until `n` are acknowledged by the instance at `url` (waits on acknowledgements, not on time). */
async function acknowledgedBy(writer: ReturnType<typeof startWriter>, url: string, n: number) {
  const deadline = Date.now() + budget(90_000)
  while (writer.acks.filter((a) => a.url === url).length < n) {
    if (Date.now() > deadline)
      throw new Error(`fewer than ${n} writes acknowledged by ${url}: ${JSON.stringify(writer.refusals.slice(-5))}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The end state every scenario must reach. */
async function assertOneCanonical(cluster: Cluster, acks: Parameters<typeof lostWrites>[1], treasury: bigint) {
  const now = await readCanonical(cluster.client, { contracts: contracts(), agentId: cluster.agentId })
  const lease = await readLease(cluster.client, { contracts: contracts(), agentId: cluster.agentId })
  expect(lease.holder.toLowerCase()).toBe(now.instance.instanceId.toLowerCase())
  const all = [cluster.canonical, ...cluster.standbys]
  const serving = []
  for (const i of all) if ((await health(i.appUrl)).failover === 'canonical') serving.push(i.appUrl)
  expect(serving).toEqual([now.instance.host])
  expect(await lostWrites(now.instance.host, acks)).toBe(0)
  expect(splitBrainWrites(acks)).toBe(0)
  const balance = await cluster.client.readContract({
    address: contracts().treasury,
    abi: agentTreasuryAbi,
    functionName: 'balanceOf',
    args: [cluster.agentId, zeroAddress],
  })
  expect(balance).toBe(treasury)
  const uri = await cluster.client.readContract({
    address: contracts().identityRegistry,
    abi: identityRegistryAbi,
    functionName: 'tokenURI',
    args: [cluster.agentId],
  })
  expect(fromAgentUri(uri).services.map((s) => s.endpoint)).toEqual(fromAgentUri(uri).services.map(() => now.instance.host))
  return now
}

describe('failover chaos (devnet CVMs, real chain)', { timeout: budget(240_000) }, () => {
  test('SIGKILL the canonical: a standby claims after the lease, the client follows, nothing acknowledged is lost', async () => {
    const cluster = await newCluster({ period, k: 1, standbys: [{}, { REGENT_FAILOVER_CLAIM_DELAY_MS: '1000' }] })
    await deposit(env.devnet, cluster.agentId, 10n ** 17n)
    const writer = writerFor(cluster, 'kill')
    await acknowledgedBy(writer, cluster.canonical.appUrl, 20)
    const killedAt = performance.now()
    await env.devnet.host.kill(cluster.canonical.cvmId)
    const moved = await canonicalMoved(cluster, env.devnet, cluster.canonical.appUrl)
    await acknowledgedBy(writer, moved.instance.host, 20)
    await writer.stop()
    const first = writer.acks.find((a) => a.url === moved.instance.host) as { at: number }
    process.stdout.write(
      `failover after SIGKILL: ${Math.round(first.at - killedAt)} ms to the first write acknowledged by the new canonical\n`,
    )
    expect(moved.epoch).toBeGreaterThan(1n)
    await assertOneCanonical(cluster, writer.acks, 10n ** 17n)

    // The old canonical comes back (a reboot on its disk): the chain names another instance, so it touches nothing
    // and refuses the agent's routes, naming the canonical; it never serves its stale state as the agent.
    await env.devnet.host.restart(cluster.canonical.cvmId)
    await env.devnet.host.waitForLine(cluster.canonical.cvmId, (l) => l.startsWith('ready '))
    const back = await call(cluster.canonical.appUrl, '/remember', { user: 'writer', text: 'to the old canonical' })
    expect([back.status, back.body.error]).toEqual([
      409,
      expect.objectContaining({ code: 'failover.standby', canonical: moved.instance.host }),
    ])
    expect((await call(cluster.canonical.appUrl, '/topics?user=writer')).status).toBe(409)
    await assertOneCanonical(cluster, [], 10n ** 17n)

    // An outside verifier given only the agent id asks the instance the chain names, and accepts it as the agent.
    const verdict = await verifyInstance({
      agentId: cluster.agentId,
      client: cluster.client,
      contracts: contracts(),
      collateral: Collateral.parse(env.devnet.host.collateral),
      trustedRoots: [env.devnet.host.trustedRoot],
      now: new Date(),
    })
    expect(verdict.facts.id).toBe(moved.instance.host)
    expect(verdict.evaluation.isAgent).toBe(true)
    expect(verdict.bundle?.epoch).toBe(moved.epoch.toString())
  })

  test('SIGSTOP the canonical, SIGCONT it after the claim: the zombie acknowledges nothing and refuses as a standby', async () => {
    const cluster = await newCluster({ period, k: 1, standbys: [{}] })
    const writer = writerFor(cluster, 'zombie')
    await acknowledgedBy(writer, cluster.canonical.appUrl, 10)
    env.devnet.host.pause(cluster.canonical.cvmId)
    // A write sent to the zombie while it is stopped waits in its socket; it must not be acknowledged after it wakes.
    const late = call(cluster.canonical.appUrl, '/remember', { user: 'writer', text: 'sent to a stopped canonical' })
    const moved = await canonicalMoved(cluster, env.devnet, cluster.canonical.appUrl)
    await acknowledgedBy(writer, moved.instance.host, 10)
    env.devnet.host.resume(cluster.canonical.cvmId)
    // Not acknowledged: refused (fenced, then a standby), or the connection dropped (it waited past the server's timeouts).
    const answer = await late.catch(() => ({ status: 0, body: { error: { code: 'connection.dropped' } } }))
    expect(answer.status).not.toBe(200)
    expect(['failover.fenced', 'failover.standby', 'connection.dropped']).toContain((answer.body.error as { code: string }).code)
    const again = await call(cluster.canonical.appUrl, '/remember', { user: 'writer', text: 'after waking up' })
    expect(again.status).not.toBe(200)
    await writer.stop()
    await assertOneCanonical(cluster, writer.acks, 0n)
  })

  test('cut the canonical from the chain (not from clients): it fences itself before a standby may claim', async () => {
    const cluster = await newCluster({ period, k: 1, standbys: [{}] })
    const writer = writerFor(cluster, 'cut')
    await acknowledgedBy(writer, cluster.canonical.appUrl, 10)
    env.devnet.host.setFaults(cluster.canonical.cvmId, { partitionChain: true })
    const moved = await canonicalMoved(cluster, env.devnet, cluster.canonical.appUrl)
    // Every write the cut-off canonical acknowledged was before the lease it last renewed could expire.
    const lease = await readLease(cluster.client, { contracts: contracts(), agentId: cluster.agentId })
    await acknowledgedBy(writer, moved.instance.host, 10)
    const direct = await call(cluster.canonical.appUrl, '/remember', { user: 'writer', text: 'to the cut-off canonical' })
    expect([direct.status, (direct.body.error as { code: string }).code]).toEqual([503, 'failover.fenced'])
    await writer.stop()
    expect(lease.epoch).toBe(moved.epoch)
    await assertOneCanonical(cluster, writer.acks, 0n)
    env.devnet.host.setFaults(cluster.canonical.cvmId, { partitionChain: false })
  })

  test('a standby dies right after winning its claim: the next one claims the lease it never renewed (k = 2)', async () => {
    const cluster = await newCluster({
      period,
      k: 2,
      standbys: [{ REGENT_FAILPOINT: 'failover.claimed' }, { REGENT_FAILOVER_CLAIM_DELAY_MS: String(budget(3000)) }],
    })
    const [dying, next] = cluster.standbys as [Cluster['standbys'][0], Cluster['standbys'][0]]
    const writer = writerFor(cluster, 'claim-crash')
    await acknowledgedBy(writer, cluster.canonical.appUrl, 15)
    await env.devnet.host.kill(cluster.canonical.cvmId)
    const first = await canonicalMoved(cluster, env.devnet, cluster.canonical.appUrl)
    expect(first.instance.host).toBe(dying.appUrl)
    const second = await canonicalMoved(cluster, env.devnet, dying.appUrl)
    expect(second.instance.host).toBe(next.appUrl)
    expect(second.epoch).toBe(first.epoch + 1n)
    await acknowledgedBy(writer, next.appUrl, 10)
    await writer.stop()
    await assertOneCanonical({ ...cluster, standbys: [next] }, writer.acks, 0n)
  })

  test('two standbys claim at once: exactly one wins, the other follows it', async () => {
    const cluster = await newCluster({ period, k: 1, standbys: [{}, {}] })
    const writer = writerFor(cluster, 'race')
    await acknowledgedBy(writer, cluster.canonical.appUrl, 15)
    await env.devnet.host.kill(cluster.canonical.cvmId)
    const moved = await canonicalMoved(cluster, env.devnet, cluster.canonical.appUrl)
    await acknowledgedBy(writer, moved.instance.host, 15)
    await writer.stop()
    const loser = cluster.standbys.find((s) => s.appUrl !== moved.instance.host) as Cluster['standbys'][0]
    const status = (await health(loser.appUrl)).failover as { role: string; following: { leaderUrl: string } | null }
    expect(status.role).toBe('standby')
    await assertOneCanonical(cluster, writer.acks, 0n)
    // The loser follows the winner (it was attached again and holds every acknowledged write).
    expect(status.following?.leaderUrl).toBe(moved.instance.host)
  })

  test("the canonical's host disappears during an uplift: a standby takes over, the half-done target stays a target", async () => {
    const cluster = await newCluster({ period, k: 1, standbys: [{}] })
    const target = await launchInstance(
      env.devnet,
      {
        compose: env.compose,
        appId: cluster.appId,
        env: { REGENT_COLLATERAL_URL: env.devnet.file.collateralUrl, REGENT_UPLIFT_ROLE: 'target' },
      },
      (h) => h.role === 'uplift-target',
    )
    onTestFailed(async () => {
      process.stdout.write(`--- target\n${await env.devnet.host.logs(target.cvmId, { tail: 60 })}\n`)
    })
    const writer = writerFor(cluster, 'uplift')
    await acknowledgedBy(writer, cluster.canonical.appUrl, 10)
    // Kill the source once the uplift is under way (its status says a step ran), before the handover.
    const started = await admin(cluster.canonical.appUrl, 'uplift', { targetUrl: target.appUrl, key: 'import' })
    expect(started.status).toBe(202)
    await env.devnet.host.waitForLine(cluster.canonical.cvmId, (l) => l.startsWith('uplift {'))
    await env.devnet.host.kill(cluster.canonical.cvmId)
    const moved = await canonicalMoved(cluster, env.devnet, cluster.canonical.appUrl)
    await acknowledgedBy(writer, moved.instance.host, 10)
    await writer.stop()
    if (moved.instance.host === target.appUrl) {
      // The handover was mined before the host went: the target is the agent (and the lease moved with it).
      expect((await health(target.appUrl)).role).toBe('agent')
    } else {
      expect(moved.instance.host).toBe(cluster.standbys[0]?.appUrl)
      expect((await health(target.appUrl)).role).toBe('uplift-target')
    }
    await assertOneCanonical({ ...cluster, standbys: [...cluster.standbys, { ...target, role: 'standby' }] }, writer.acks, 0n)
  })
})
