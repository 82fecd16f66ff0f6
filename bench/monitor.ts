/**
 * `regent monitor` figures (issue 18 "Figures"): prints ONE JSON object.
 *
 * - checks per second per core: full checks (chain scan, RegentSuccession and RegentAppAuth reads, a fresh identity
 *   bundle, verifyInstance — quote, RTMR3 replay, binding, KMS provenance, identity function, score — collateral
 *   rating under standard and early TCB info, SQLite writes) of devnet agents, divided by the CPU time of this
 *   process (the monitor alone: the agents, anvil and the KMS run in other processes);
 * - memory with `--agents` (100) watched agents: RSS and heap after several rounds, against the same process before
 *   the monitor existed;
 * - the delay from an on-chain approval (addComposeHash with a timelock, mined) to the monitor's measurement.pending
 *   alert, with the monitor running every `--interval` ms: goal ≤ one interval + one block (anvil mines at once).
 *
 *   npm run bench:monitor                                # --agents 100 --rounds 5 --interval 5000 --approvals 6
 *   npm run bench:monitor -- --agents 20 --interval 2000
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createTrustedRoot } from '@regent-tee/attest'
import { regentAppAuthAbi } from '@regent-tee/contracts'
import { spawnGuarded } from '@regent-tee/core'
import { DevnetFile } from '@regent-tee/devnet'
import { createPublicClient, createWalletClient, defineChain, type Hex, http } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import type { Transition } from '../packages/cli/src/monitor/Alert.js'
import { createCollateralWatch } from '../packages/cli/src/monitor/CollateralWatch.js'
import { createMonitor } from '../packages/cli/src/monitor/Monitor.js'
import { openStore } from '../packages/cli/src/monitor/Store.js'

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '5' },
    interval: { type: 'string', default: '5000' },
    approvals: { type: 'string', default: '6' },
  },
})
const agentsWanted = Number(values.agents)
const rounds = Number(values.rounds)
const intervalMs = Number(values.interval)
const approvals = Number(values.approvals)
const mib = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10
const memory = () => {
  const m = process.memoryUsage()
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed) }
}
const before = memory()
const load0 = loadavg()[0] as number

// The agents, in their own process.
const root = await mkdtemp(join(tmpdir(), 'regent-bench-monitor-'))
const script = fileURLToPath(new URL('./monitor-agents.ts', import.meta.url))
const child = spawnGuarded(process.execPath, ['--import', 'tsx', script, '--dir', join(root, 'devnet'), '--agents', String(agentsWanted)])
let childErr = ''
child.child.stderr.on('data', (c: Buffer) => {
  childErr += c.toString('utf8')
})
const ready = await new Promise<{ appId: Hex; agents: { agentId: string; url: string }[] }>((resolve, reject) => {
  let out = ''
  child.child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8')
    const line = out.split('\n').find((l) => l.startsWith('ready '))
    if (line) resolve(JSON.parse(line.slice(6)))
  })
  void child.exited.then((code) => reject(new Error(`the agents process exited (${code}): ${childErr}`)))
})

try {
  const file = (await DevnetFile.read(join(root, 'devnet'))) as DevnetFile.DevnetFile
  const chain = defineChain({
    id: file.chainId,
    name: 'devnet',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [file.rpcUrl] } },
  })
  const client = createPublicClient({ chain, transport: http(file.rpcUrl, { batch: { wait: 0 } }) })
  const trustedRoots = [createTrustedRoot({ name: 'devnet', pem: file.rootCa })]
  const store = openStore(join(root, 'monitor.db'), { chainId: file.chainId, identityRegistry: file.contracts.identityRegistry })
  const monitor = createMonitor({
    client,
    chainId: file.chainId,
    contracts: file.contracts,
    store,
    trustedRoots,
    collateral: createCollateralWatch({ pccsUrl: file.hostUrl, trustedRoots, refreshMs: 60_000 }),
  })
  await monitor.add(ready.agents.map((a) => ({ agentId: BigInt(a.agentId) })))
  await monitor.tick() // backfill from the deployment block, first collateral fetch

  // 1. Throughput: whole rounds of every agent, CPU time of this process.
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let checks = 0
  let verified = 0
  const durations: number[] = []
  for (let r = 0; r < rounds; r++) {
    const round = await monitor.tick()
    checks += round.checks.length
    verified += round.checks.filter((c) => c.isAgent).length
    durations.push(...round.checks.map((c) => c.durationMs))
  }
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  durations.sort((x, y) => x - y)
  const after = memory()

  // 2. Approval → alert, with the monitor running every intervalMs.
  const owner = createWalletClient({
    account: mnemonicToAccount('test test test test test test test test test test test junk', { addressIndex: 1 }),
    chain,
    transport: http(file.rpcUrl),
  })
  const send = async (functionName: 'setTimelock' | 'addComposeHash', args: readonly unknown[]) => {
    const hash = await owner.writeContract({ address: file.contracts.appAuth, abi: regentAppAuthAbi, functionName, args } as never)
    return client.waitForTransactionReceipt({ hash })
  }
  await send('setTimelock', [ready.appId, 3600n])
  const seen = new Map<string, { first: number; last: number; count: number }>()
  monitor.subscribe({
    transition: (t: Transition) => {
      if (t.state !== 'raised' || t.alert.code !== 'measurement.pending') return
      const s = seen.get(t.alert.subject) ?? { first: Date.now(), last: 0, count: 0 }
      s.last = Date.now()
      s.count++
      seen.set(t.alert.subject, s)
    },
  })
  const stop = new AbortController()
  const running = monitor.run({ intervalMs, signal: stop.signal })
  const delays: { firstMs: number; allMs: number }[] = []
  for (let i = 0; i < approvals; i++) {
    // Land the approval at a random phase of the interval (this spreads the samples; it synchronises nothing).
    await new Promise((r) => setTimeout(r, Math.random() * intervalMs))
    const hash = `0x${randomBytes(32).toString('hex')}` as Hex
    await send('addComposeHash', [ready.appId, hash])
    const mined = Date.now()
    const subject = `composeHash:${hash}`
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        const s = seen.get(subject)
        if (s && s.count >= ready.agents.length) {
          clearInterval(poll)
          resolve()
        }
      }, 20)
    })
    const s = seen.get(subject) as { first: number; last: number }
    delays.push({ firstMs: s.first - mined, allMs: s.last - mined })
  }
  stop.abort()
  await running
  store.close()

  const firsts = delays.map((d) => d.firstMs).sort((x, y) => x - y)
  const alls = delays.map((d) => d.allMs).sort((x, y) => x - y)
  const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)] as number
  console.log(
    JSON.stringify(
      {
        bench: 'monitor',
        node: process.version,
        cpu: cpus()[0]?.model.trim(),
        cores: cpus().length,
        agents: ready.agents.length,
        throughput: {
          rounds,
          checks,
          verified,
          checksPerCpuSecond: Math.round((checks / cpuSeconds) * 10) / 10,
          checksPerWallSecond: Math.round((checks / (wallMs / 1000)) * 10) / 10,
          cpuMsPerCheck: Math.round((cpuSeconds * 1000 * 100) / checks) / 100,
          checkMs: { p50: pct(durations, 50), p99: pct(durations, 99) },
          concurrency: monitor.settings.concurrency,
        },
        memory: { before, after, rssPerAgentKiB: Math.round(((after.rssMiB - before.rssMiB) * 1024) / ready.agents.length) },
        approvalToAlert: {
          intervalMs,
          blockTimeMs: 0,
          goalMs: intervalMs,
          samples: delays.length,
          firstAgentMs: { p50: pct(firsts, 50), max: firsts.at(-1) },
          allAgentsMs: { p50: pct(alls, 50), max: alls.at(-1) },
          withinGoal: (firsts.at(-1) ?? Number.POSITIVE_INFINITY) <= intervalMs,
        },
        loadAverage1m: { before: Math.round(load0 * 100) / 100, after: Math.round((loadavg()[0] as number) * 100) / 100 },
        notes: [
          'A check = the chain scan share, RegentSuccession + RegentAppAuth reads at the head, GET /identity with a fresh nonce, verifyInstance (DCAP quote verification, RTMR3 replay, report-data binding, wallet signature, KMS provenance, on-chain approval, canonical and state checks, identity function and score), the quote rated under standard and early TCB info, alerts reconciled and the check stored in SQLite.',
          'checksPerCpuSecond = checks / CPU seconds (user + system) of this process, which runs only the monitor: agents, KMS and anvil run in other processes, so this is checks per second per core of the monitor itself. Collateral is reused for 60 s (--collateral-refresh 60); each fetch adds two collateral requests per platform.',
          `memory: RSS and V8 heap of this process before the monitor existed and after ${rounds + 1} rounds over every agent.`,
          'approvalToAlert: wall time from the receipt of addComposeHash (app timelock 3600 s) to the measurement.pending alert of the first and of the last watched agent (all agents share the app). Anvil mines at once (block time 0), so the goal is one interval.',
          'The machine is shared (2 cores); loadAverage1m above ~1 means other work competed.',
        ],
      },
      null,
      2,
    ),
  )
} finally {
  await child.stop()
  await rm(root, { recursive: true, force: true })
}
