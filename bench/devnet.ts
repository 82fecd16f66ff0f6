/**
 * Devnet figures (issue 4), one JSON object: `regent dev up` from cold (detached supervisor: anvil,
 * contract deployment, host), CVM launch until its agent answers, and GetQuote / GetKey latency
 * (p50/p99) and throughput on one CVM through the official dstack SDK over the CVM's unix socket.
 *
 *   npm run bench:devnet [-- --calls 500]
 */

import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DstackClient } from '@phala/dstack-sdk'
import { type CvmRecord, down, up } from '@regent-tee/devnet'
import { probeApp } from '../packages/devnet/test/probe.js'

const callsFlag = process.argv.indexOf('--calls')
const calls = callsFlag > 0 ? Number(process.argv[callsFlag + 1]) : 400
const dir = await mkdtemp(join(tmpdir(), 'regent-bench-devnet-'))

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return Number((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0).toFixed(3))
}

async function waitForHttp(url: string): Promise<void> {
  for (;;) {
    if (
      await fetch(url).then(
        () => true,
        () => false,
      )
    )
      return
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now()
  const r = await fn()
  return [r, performance.now() - t]
}

try {
  const [started, upMs] = await timed(() => up({ dir, fresh: true }))
  // The probe agent's bundle (with its dependencies), its digest pinned in its compose; pushed with the first launch.
  const probe = await probeApp(join(dir, 'probe-bundles'))
  const compose = Buffer.from(probe.compose).toString('base64')
  // The KMS releases keys only to apps approved on-chain: approve the probe agent's app first.
  const approved = await fetch(`${started.file.hostUrl}/v1/apps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ compose }),
  })
  if (!approved.ok) throw new Error(`app approval failed: ${await approved.text()}`)
  const { appId } = (await approved.json()) as { appId: string }
  const launchMs: number[] = []
  let cvm: CvmRecord | undefined
  for (let i = 0; i < 5; i++) {
    const [record, ms] = await timed(async () => {
      const res = await fetch(`${started.file.hostUrl}/v1/cvms`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // The bench times guest-agent calls from outside the CVM: the devnet's debug flag exposes its socket.
        body: JSON.stringify({ compose, bundle: probe.bundle, appId, debugGuestAgent: true }),
      })
      if (!res.ok) throw new Error(`launch failed: ${await res.text()}`)
      const r = (await res.json()) as CvmRecord
      await waitForHttp(`${r.appUrl}/`)
      return r
    })
    launchMs.push(ms)
    cvm = record
  }
  if (!cvm) throw new Error('no CVM')

  const client = new DstackClient(cvm.endpoint as string)
  const latency = async (fn: (i: number) => Promise<unknown>) => {
    const xs: number[] = []
    for (let i = 0; i < 20; i++) await fn(i) // warm-up
    for (let i = 0; i < calls; i++) xs.push((await timed(() => fn(i)))[1])
    return { p50: pct(xs, 50), p99: pct(xs, 99) }
  }
  const throughput = async (fn: (i: number) => Promise<unknown>, concurrency = 8) => {
    let next = 0
    const t = performance.now()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < calls) await fn(next++)
      }),
    )
    return Math.round(calls / ((performance.now() - t) / 1000))
  }
  const quote = (i: number) => client.getQuote(Buffer.from(i.toString(16).padStart(64, '0'), 'hex'))
  const key = (i: number) => client.getKey(`bench/${i}`, 'bench')

  const out = {
    bench: 'devnet',
    date: new Date().toISOString(),
    node: process.version,
    cores: (await import('node:os')).cpus().length,
    devUpColdMs: Math.round(upMs),
    devUpPhasesMs: Object.fromEntries(Object.entries(started.timings ?? {}).map(([k, v]) => [k, Math.round(v)])),
    cvmLaunchToReadyMs: { p50: pct(launchMs, 50), max: pct(launchMs, 100), runs: launchMs.length },
    getQuoteMs: await latency(quote),
    getKeyMs: await latency(key),
    getQuotePerSecond: await throughput(quote),
    getKeyPerSecond: await throughput(key),
    calls,
    notes: ['latency: sequential calls through @phala/dstack-sdk over the CVM unix socket; throughput: 8 concurrent callers'],
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
} finally {
  await down({ dir })
}
