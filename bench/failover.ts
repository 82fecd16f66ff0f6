/**
 * Failover figures (issue 19 "Figures"; docs/failover.md), one JSON object, with real processes on a fresh devnet
 * (anvil in automine, one KMS node, the TDX host) in a temp dir. Each run: the example agent as a canonical CVM with
 * two standbys (CVMs of its own app, one of them told to claim 1 s later), the lease set (`--period`, default 4 s,
 * k = 1, margin 1 s); a client writes through the chain's canonical instance (@regent-tee/sdk/failover
 * `createCanonicalClient`), one write after the other, each with its own idempotency key; after 20 acknowledgements
 * the canonical is SIGKILLed (the devnet host kills its program), and the client goes on until 20 writes are
 * acknowledged by the new canonical.
 *
 *   npm run bench:failover                      # full: 5 kills, 4 × 200 writes for the k = 1 / k = 0 comparison
 *   npm run bench:failover -- --profile fast    # 2 kills, 4 × 50 writes
 *
 * - `failoverMs`: SIGKILL → the first write acknowledged by the new canonical (as the client sees it: its retries,
 *   chain reads and the new instance's catch-up included). Goal: ≤ lease period + 2 blocks.
 * - `claimMs`: SIGKILL → the chain names the new canonical (polled every 50 ms).
 * - `lostAcknowledgedWrites`: acknowledged writes the new canonical does not hold (each is sent again with its key
 *   through POST /remember/batch: `applied` counts the ones it did not have). Goal 0 with k = 1.
 * - `splitBrainWrites`: writes acknowledged in an epoch in which more than one instance acknowledged writes. Goal 0.
 * - `writeLatencyMs`: one cluster, blocks of sequential writes interleaved k = 1, k = 0, k = 1, k = 0 (each switch is an
 *   operator-signed POST /admin/failover), p50/p95 per k and the ratio of medians.
 * - `gas`: gasUsed of one `renewLease`, one `claim`, one `setLease` mined during the runs (from their events'
 *   transactions); `leaseGasPerDay` renewing every period / 3.
 */
import { mkdtemp } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { regentSuccessionAbi } from '@regent-tee/contracts'
import { type Devnet, startDevnet } from '@regent-tee/devnet'
import { devnetSettings, exampleAgentApp } from '@regent-tee/testing/example-agent'
import type { AbiEvent, Hex } from 'viem'
import { admin, call, operator } from '../test/e2e/agent-process.js'
import { canonicalMoved, lostWrites, publicClient, splitBrainWrites, startCluster, startWriter } from '../test/e2e/failover-fixture.js'

const arg = (name: string) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : undefined
}
const profileName = arg('--profile') ?? process.env.BENCH_PROFILE ?? 'full'
if (profileName !== 'fast' && profileName !== 'full') throw new Error('--profile must be fast or full')
const profile = profileName === 'full' ? { kills: 5, writes: 200 } : { kills: 2, writes: 50 }
const period = Number(arg('--period') ?? 4)
const marginMs = 1000
const log = (line: string) => process.stderr.write(`${line}\n`)
const round = (n: number) => Math.round(n * 100) / 100
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number)
}
const median = (xs: number[]) => quantile(xs, 0.5)

async function waitFor(cond: () => boolean, what: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function killRun(devnet: Devnet, compose: Uint8Array, i: number) {
  const cluster = await startCluster(devnet, compose, {
    period,
    k: 1,
    marginMs,
    standbys: [{}, { REGENT_FAILOVER_CLAIM_DELAY_MS: '1000' }],
  })
  try {
    const writer = startWriter(devnet, cluster.agentId, `bench-${i}`)
    await waitFor(() => writer.acks.length >= 20, 'acknowledgements before the kill')
    const killedAt = performance.now()
    await devnet.host.kill(cluster.canonical.cvmId)
    const moved = await canonicalMoved(cluster, devnet, cluster.canonical.appUrl)
    const claimMs = performance.now() - killedAt
    const url = moved.instance.host
    await waitFor(() => writer.acks.filter((a) => a.url === url).length >= 20, 'acknowledgements by the new canonical')
    await writer.stop()
    const first = writer.acks.find((a) => a.url === url) as { at: number }
    const lost = await lostWrites(url, writer.acks)
    const run = {
      failoverMs: Math.round(first.at - killedAt),
      claimMs: Math.round(claimMs),
      acknowledged: writer.acks.length,
      refused: writer.refusals.length,
      lostAcknowledgedWrites: lost,
      splitBrainWrites: splitBrainWrites(writer.acks),
      newEpoch: moved.epoch.toString(),
    }
    log(`kill ${i}: ${JSON.stringify(run)}`)
    return run
  } finally {
    await cluster.stop()
  }
}

/** Sequential writes straight to the canonical; latency of each acknowledged one. */
async function writeBlock(url: string, n: number, label: string) {
  const ms: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    const r = await call(url, '/remember', { user: 'latency', text: `${label} ${i}` })
    if (r.status !== 200) throw new Error(`write ${label} ${i}: ${JSON.stringify(r.body)}`)
    ms.push(performance.now() - t)
  }
  return ms
}

async function latency(devnet: Devnet, compose: Uint8Array) {
  const cluster = await startCluster(devnet, compose, { period, k: 1, marginMs, standbys: [{}, {}] })
  try {
    const url = cluster.canonical.appUrl
    const byK: Record<'1' | '0', number[]> = { '1': [], '0': [] }
    for (const k of [1, 0, 1, 0] as const) {
      const set = await admin(url, 'failover', { period, k, marginMs })
      if (set.status !== 200) throw new Error(`k=${k}: ${JSON.stringify(set.body)}`)
      byK[String(k) as '1' | '0'].push(...(await writeBlock(url, profile.writes, `k${k}`)))
    }
    const stat = (xs: number[]) => ({ p50: round(quantile(xs, 0.5)), p95: round(quantile(xs, 0.95)), n: xs.length })
    return { k1: stat(byK['1']), k0: stat(byK['0']), ratioMedianK1ToK0: round(median(byK['1']) / median(byK['0'])) }
  } finally {
    await cluster.stop()
  }
}

/** gasUsed of one transaction that emitted `event` on the succession contract since `fromBlock`. */
async function gasOf(devnet: Devnet, event: string, fromBlock: bigint): Promise<number | null> {
  const client = publicClient(devnet)
  const item = regentSuccessionAbi.find((x) => x.type === 'event' && x.name === event)
  if (!item) throw new Error(`no event ${event}`)
  const logs = await client.getLogs({
    address: devnet.file.contracts.succession,
    event: item as AbiEvent,
    fromBlock,
  })
  const tx = logs.at(-1)?.transactionHash as Hex | undefined
  return tx ? Number((await client.getTransactionReceipt({ hash: tx })).gasUsed) : null
}

const benchStart = performance.now()
const loadBefore = loadavg()
const dir = await mkdtemp(join(tmpdir(), 'regent-bench-failover-'))
const devnet = await startDevnet({ dir, kmsNodes: 1 })
try {
  const compose = (await exampleAgentApp(devnet.host.bundles.dir, devnetSettings(devnet, operator.address))).compose
  const fromBlock = await publicClient(devnet).getBlockNumber()
  const runs = []
  for (let i = 0; i < profile.kills; i++) runs.push(await killRun(devnet, compose, i))
  const writeLatencyMs = await latency(devnet, compose)
  const gas = {
    renewLease: await gasOf(devnet, 'LeaseRenewed', fromBlock),
    claim: await gasOf(devnet, 'Claimed', fromBlock),
    setLease: await gasOf(devnet, 'LeaseSet', fromBlock),
  }
  const perDay = (p: number) => (gas.renewLease === null ? null : Math.round((86_400 / (p / 3)) * gas.renewLease))
  const failover = runs.map((r) => r.failoverMs)
  const goalMs = period * 1000 + 2 * 1000 // two blocks of a 1 s chain (the devnet mines at once)
  const lost = runs.reduce((a, r) => a + r.lostAcknowledgedWrites, 0)
  const split = runs.reduce((a, r) => a + r.splitBrainWrites, 0)
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'failover',
        date: new Date().toISOString(),
        profile: profileName,
        node: process.version,
        cpus: cpus().length,
        loadAverage: { before: loadBefore.map(round), after: loadavg().map(round) },
        wallClockS: Math.round((performance.now() - benchStart) / 1000),
        leasePeriodS: period,
        marginMs,
        k: 1,
        standbys: 2,
        failoverMs: { median: median(failover), max: Math.max(...failover), goalMs, runs: failover },
        claimMs: { median: median(runs.map((r) => r.claimMs)), max: Math.max(...runs.map((r) => r.claimMs)) },
        lostAcknowledgedWrites: lost,
        splitBrainWrites: split,
        writeLatencyMs,
        gas,
        leaseGasPerDay: { [`${period}s`]: perDay(period), '30s': perDay(30), '300s': perDay(300), '3600s': perDay(3600) },
        met: { failoverMs: Math.max(...failover) <= goalMs, lostAcknowledgedWrites: lost === 0, splitBrainWrites: split === 0 },
        runs,
        notes: [
          'one machine runs anvil (automine), the KMS node, three agent CVM processes and this client',
          'failoverMs includes the lease still running at the kill (up to one period: renewals every period / 3), the claim, the catch-up from the other standby, the registration update, the first renewal and the client following the chain',
        ],
      },
      null,
      2,
    )}\n`,
  )
} finally {
  await devnet.stop()
}
