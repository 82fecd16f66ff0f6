/**
 * Uplift figures (issue 7 "Figures"), one JSON object, with real processes as an operator runs them: a fresh devnet
 * (anvil, one KMS node, the TDX host) in a temp dir; for each state size and each key option (import, rotate,
 * interleaved run by run) the example agent runs in the wild (its own process, REGENT_RUNTIME=wild,
 * test/e2e/agent-process.ts), is filled through POST /remember/batch, commits (POST /checkpoint), and is asked over
 * its admin API to uplift into a devnet CVM running the example agent as target, while a client reads and writes
 * through the SOURCE's public URL.
 *
 *   npm run bench:uplift                       # full: 4, 16 and 64 MiB, 2 runs per option, medians
 *   npm run bench:uplift -- --profile fast     # 256 KiB, 1 run per option (BENCH_PROFILE=fast also works)
 *   npm run bench:uplift -- --state-kib 256,768 # other state sizes, with the profile's runs
 *
 * Per run:
 * - `fillMs`: filling the memory (POST /remember/batch, one transaction and one log append per request) and the commit
 *   (POST /checkpoint); reported apart, it is part of no uplift figure.
 * - `endToEndMs`: from sending POST /admin/uplift to reading the agent's `uplift {"state":"done"…}` stdout line. The
 *   target CVM is launched and answering before (CVM process start and KMS boot excluded).
 * - `stepsMs`: differences of consecutive `at` timestamps of GET /admin/uplift `steps` (the source journal; each
 *   step's record is written when the step is done, so a step's time includes what the source sent after the
 *   previous record); `source-hello` counts from the POST.
 * - `sealedStateBytes`: the source's sealed state file (SQLite page count × page size + 52 bytes of header and tag)
 *   after the fill and POST /checkpoint, before the client starts (its writes until the checkpoint add a few KiB);
 *   no public route tells the checkpoint's byte length. `logicalBytesWritten`: the text the bench remembered.
 * - `transferMiBps`: sealedStateBytes / (`challenge` − `commit`): signing the offer, posting it, streaming every frame
 *   (sealed for the target as the connection takes it), the target's decryption as frames arrive, root check and
 *   restore into its sealed state, and the chain reads of the offer check and the challenge.
 * - `plainPassMiBps`: in this process, right after the run, one pass over the same number of bytes (the source's
 *   sealed state file): AES-256-GCM encryption in 64 KiB pieces plus SHA-256 of the ciphertext — what the transfer
 *   would cost with no I/O, no process boundary and no SQLite. `transferRatioToPlainPass` = transferMiBps / it.
 * - the client: two lanes run side by side, one reading (GET /topics?user=alice) and one writing (POST /remember),
 *   each sequential, from just before the POST until 50 requests after the done line (one alternating lane would
 *   stop reading while a write is held by the freeze). A request fails on a non-200 answer, a network error or a
 *   read answering another topics list than before the uplift. The handover window runs from the `challenge-answer`
 *   record to the `handover` record; a request is in it when its [start, end] intersects it. Writes wait from the
 *   checkpoint to the switch by design (docs/uplift.md), so write latencies are reported apart from reads.
 * - `heldWrites`: GET /admin/uplift `heldWrites.held`, the writes the source served between its checkpoint and the
 *   switch and replayed at the target (requests through the demoted source wait for that replay).
 * - `lostWrites`: source /health `memories` before the client started + acknowledged writes − target /health
 *   `memories` afterwards.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDevnet } from '@regent-tee/devnet'
import { devnetSettings, exampleAgentApp } from '@regent-tee/testing/example-agent'
import { keccak256, toBytes } from 'viem'
import { admin, call, operator, randomName, signed, startWild, upliftLine, wildComposeBytes } from '../test/e2e/agent-process.js'
import { launchTarget } from '../test/e2e/uplift-fixture.js'

const modes = ['import', 'rotate'] as const
type Mode = (typeof modes)[number]
const profiles = {
  fast: { sizes: [256 * 1024], runs: 1 },
  full: { sizes: [4 * 1024 * 1024, 16 * 1024 * 1024, 64 * 1024 * 1024], runs: 2 },
} as const
const arg = (name: string) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : undefined
}
const profileName = arg('--profile') ?? process.env.BENCH_PROFILE ?? 'full'
if (profileName !== 'fast' && profileName !== 'full') throw new Error('--profile must be fast or full')
// --state-kib 768,1024: other state sizes with the profile's runs.
const sizes =
  arg('--state-kib')
    ?.split(',')
    .map((k) => Number(k) * 1024) ?? profiles[profileName].sizes
if (!sizes.every((x) => x > 0 && x <= 64 * 1024 * 1024)) throw new Error('--state-kib takes sizes in (0, 65536] KiB')
const profile = { sizes, runs: profiles[profileName].runs }
const textChars = 4000 // ≤ 4096 (the agent's limit); 4000 keeps one memory row per 4 KiB SQLite page
const fillItemsPerRequest = 200 // × ~4 KiB of JSON each: ~0.8 MiB, under the route's 1 MiB body and 1000 items
const afterDone = 50 // client requests after the done line (through the demoted source's forwarding)
const targets = { failedRequests: 0, longestHandoverLatencyMs: 250, transferMiBps: 100 }
const salt = keccak256(toBytes('regent bench uplift'))
const log = (line: string) => process.stderr.write(`${line}\n`)
const round = (x: number) => Number(x.toFixed(1))
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return round(s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2)
}
const now = () => performance.timeOrigin + performance.now() // epoch ms with sub-ms resolution, as the journal's clock

const vocabulary = 'tea trains mountains rivers music jazz coffee morning evening weather garden books chess cooking travel sailing'.split(
  ' ',
)
/** A memory text of `textChars` characters from a small vocabulary (the learned word weights stay few rows). */
const fillerText = (i: number) => {
  let s = `note ${i}:`
  for (let j = i; s.length < textChars; j++) s += ` ${vocabulary[j % vocabulary.length]}`
  return s.slice(0, textChars)
}

/** MiB/s of one in-process pass over `bytes`: AES-256-GCM in 64 KiB pieces, SHA-256 over the ciphertext. */
function plainPass(bytes: Uint8Array): number {
  const key = randomBytes(32)
  const t0 = performance.now()
  const hash = createHash('sha256')
  for (let at = 0, i = 0; at < bytes.length; at += 64 * 1024, i++) {
    const iv = Buffer.alloc(12)
    iv.writeUInt32BE(i, 8)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    hash.update(cipher.update(bytes.subarray(at, at + 64 * 1024)))
    cipher.final()
    hash.update(cipher.getAuthTag())
  }
  hash.digest()
  return bytes.length / 1024 / 1024 / ((performance.now() - t0) / 1000)
}

type Request = { kind: 'read' | 'write'; start: number; end: number; ok: boolean }

const dir = await mkdtemp(join(tmpdir(), 'regent-bench-uplift-'))
const cleanup: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })]
const loadBefore = loadavg()
const benchStart = performance.now()
try {
  log('starting the devnet…')
  const devnet = await startDevnet({ dir, kmsNodes: 1 })
  cleanup.unshift(() => devnet.stop())
  const { compose } = await exampleAgentApp(devnet.host.bundles.dir, devnetSettings(devnet, operator.address))
  const { appId } = await devnet.approveApp({ compose, salt })
  if ((await devnet.approveApp({ compose: await wildComposeBytes(), salt })).appId !== appId)
    throw new Error('the two composes got two apps')
  const targetEnv = { REGENT_COLLATERAL_URL: devnet.file.collateralUrl }

  /**
   * Remembers `bytes` of text as `alice` through POST /remember/batch, `fillItemsPerRequest` writes per request, one
   * request at a time (each is one transaction and one log append; more in flight would only queue).
   */
  async function fill(url: string, bytes: number): Promise<number> {
    const count = Math.ceil(bytes / textChars)
    for (let from = 0; from < count; from += fillItemsPerRequest) {
      const items = Array.from({ length: Math.min(fillItemsPerRequest, count - from) }, (_, j) => ({
        user: 'alice',
        text: fillerText(from + j),
        key: `bench-fill-${from + j}`,
      }))
      const r = await call(url, '/remember/batch', { items })
      if (r.status !== 200 || r.body.applied !== items.length)
        throw new Error(`POST /remember/batch answered ${r.status}: ${JSON.stringify(r.body)}`)
    }
    return count * textChars
  }

  async function run(mode: Mode, size: number) {
    const w = await startWild(devnet, dir, { name: randomName(`bench-${mode}`), appId })
    const stops: (() => Promise<unknown>)[] = [() => w.process.stop()]
    try {
      const fillStart = performance.now()
      const logicalBytesWritten = await fill(w.url, size)
      const committed = await signed(w.url, '/checkpoint', {})
      if (committed.status !== 200) throw new Error(`POST /checkpoint answered ${committed.status}`)
      const fillMs = round(performance.now() - fillStart)
      const cvm = await launchTarget(devnet, { compose, appId, env: targetEnv })
      stops.unshift(() => devnet.host.stop(cvm.cvmId))
      const memoriesBefore = ((await call(w.url, '/health')).body as { memories: number }).memories
      const sealedStateBytes = (await stat(join(w.dataDir, 'agent.sealed'))).size // current: POST /checkpoint renewed the snapshot
      const expectedTopics = JSON.stringify((await call(w.url, '/topics?user=alice')).body)

      const requests: Request[] = []
      let writesAcknowledged = 0
      let stopAt = Number.POSITIVE_INFINITY
      const lane = async (kind: Request['kind']) => {
        for (let i = 0; requests.length < stopAt; i++) {
          const start = now()
          const ok = await (kind === 'write'
            ? call(w.url, '/remember', { user: 'bob', text: `bob note ${i}` }).then((r) => r.status === 200)
            : call(w.url, '/topics?user=alice').then((r) => r.status === 200 && JSON.stringify(r.body) === expectedTopics)
          ).catch(() => false)
          requests.push({ kind, start, end: now(), ok })
          if (kind === 'write' && ok) writesAcknowledged++
        }
      }
      const client = Promise.all([lane('read'), lane('write')])
      stops.unshift(() => {
        stopAt = 0 // on an error too: the lanes end
        return client
      })

      const postedAt = now()
      const t0 = performance.now()
      const started = await admin(w.url, 'uplift', { targetUrl: cvm.appUrl, key: mode })
      if (started.status !== 202) throw new Error(`POST /admin/uplift answered ${started.status}: ${JSON.stringify(started.body)}`)
      // The line that does not come rejects once the agent stops; that is ignored.
      const done = w.line(upliftLine('done'), 600_000).then(() => undefined)
      const failed = w.line(upliftLine('failed'), 600_000)
      for (const p of [done, failed]) p.catch(() => undefined)
      const failure = await Promise.race([done, failed])
      const endToEndMs = performance.now() - t0
      stopAt = requests.length + afterDone
      if (failure !== undefined) {
        stopAt = 0
        await client
        const { next, error } = JSON.parse(failure.slice('uplift '.length)) as { next: string; error: unknown }
        log(`  the uplift failed at ${next}: ${JSON.stringify(error)}`)
        return { failed: { next, error }, fillMs } as const
      }
      await client

      const status = (await admin(w.url, 'uplift')).body as {
        steps: { step: string; at: string }[]
        heldWrites?: { held: number; replayed: number }
      }
      const at = (step: string) => {
        const s = status.steps.find((x) => x.step === step)
        if (s === undefined) throw new Error(`no journaled ${step} step`)
        return Date.parse(s.at)
      }
      const stepsMs: Record<string, number> = {}
      let previous = postedAt
      for (const s of status.steps) {
        stepsMs[s.step] = round(Date.parse(s.at) - previous)
        previous = Date.parse(s.at)
      }
      const memoriesAfter = ((await call(cvm.appUrl, '/health')).body as { memories: number }).memories
      const transferMs = at('challenge') - at('commit')
      const transferMiBps = sealedStateBytes / 1024 / 1024 / (transferMs / 1000)
      // The same number of bytes, on this machine, at this moment (the source still runs; its state file is those bytes).
      const plainPassMiBps = plainPass(await readFile(join(w.dataDir, 'agent.sealed')))
      const window = { from: at('challenge-answer'), to: at('handover') }
      const inWindow = (r: Request) => r.start <= window.to && r.end >= window.from
      const longest = (rs: Request[], kind: Request['kind']) =>
        round(Math.max(0, ...rs.filter((r) => r.kind === kind).map((r) => r.end - r.start)))
      const slowestRead = requests.filter((r) => r.kind === 'read').sort((a, b) => b.end - b.start - (a.end - a.start))[0]
      const keyStep = mode === 'import' ? 'key-envelope' : 'key-offer'
      return {
        fillMs,
        endToEndMs: round(endToEndMs),
        stepsMs,
        checkpointToSwitchMs: at('handover-tx') - at(keyStep),
        handoverWindowMs: window.to - window.from,
        sealedStateBytes,
        logicalBytesWritten,
        transferMiBps: round(transferMiBps),
        plainPassMiBps: round(plainPassMiBps),
        transferRatioToPlainPass: Number((transferMiBps / plainPassMiBps).toFixed(3)),
        requests: requests.length,
        failedRequests: requests.filter((r) => !r.ok).length,
        longestReadMs: longest(requests, 'read'),
        longestWriteMs: longest(requests, 'write'),
        handoverReads: requests.filter((r) => r.kind === 'read' && inWindow(r)).length,
        longestHandoverReadMs: longest(requests.filter(inWindow), 'read'),
        longestHandoverWriteMs: longest(requests.filter(inWindow), 'write'),
        // Where the slowest read sat: its start and end relative to the `handover-tx` record (the switch).
        slowestReadFromSwitchMs: slowestRead
          ? { start: round(slowestRead.start - at('handover-tx')), end: round(slowestRead.end - at('handover-tx')) }
          : null,
        writesAcknowledged,
        heldWrites: status.heldWrites?.held ?? 0,
        lostWrites: memoriesBefore + writesAcknowledged - memoriesAfter,
      }
    } finally {
      for (const stop of stops) await stop().catch(() => undefined)
    }
  }

  type Outcome = Awaited<ReturnType<typeof run>>
  type Run = Exclude<Outcome, { failed: unknown }>
  const summarize = (outcomes: Outcome[]) => {
    const rs = outcomes.filter((r): r is Run => !('failed' in r))
    const failedUplifts = outcomes.flatMap((r) => ('failed' in r ? [r.failed] : []))
    // Filling and committing before the uplift, apart from every uplift figure (failed runs too).
    const fillMs = { median: median(outcomes.map((r) => r.fillMs)), all: outcomes.map((r) => r.fillMs) }
    if (rs.length === 0) return { runs: 0, failedUplifts, fillMs }
    const pick = (f: (r: Run) => number) => rs.map(f)
    const max = (f: (r: Run) => number) => Math.max(...pick(f))
    const sum = (f: (r: Run) => number) => pick(f).reduce((a, b) => a + b, 0)
    return {
      runs: rs.length,
      failedUplifts,
      fillMs,
      endToEndMs: { median: median(pick((r) => r.endToEndMs)), all: pick((r) => r.endToEndMs) },
      stepsMs: Object.fromEntries(Object.keys(rs[0]?.stepsMs ?? {}).map((s) => [s, median(pick((r) => r.stepsMs[s] ?? 0))])),
      checkpointToSwitchMs: median(pick((r) => r.checkpointToSwitchMs)),
      handoverWindowMs: median(pick((r) => r.handoverWindowMs)),
      sealedStateBytes: median(pick((r) => r.sealedStateBytes)),
      logicalBytesWritten: median(pick((r) => r.logicalBytesWritten)),
      transferMiBps: median(pick((r) => r.transferMiBps)),
      transferMiBpsAll: pick((r) => r.transferMiBps),
      plainPassMiBps: median(pick((r) => r.plainPassMiBps)),
      transferRatioToPlainPass: Number(median(pick((r) => r.transferRatioToPlainPass * 1000)) / 1000),
      requests: sum((r) => r.requests),
      failedRequests: sum((r) => r.failedRequests),
      longestReadMs: { median: median(pick((r) => r.longestReadMs)), max: max((r) => r.longestReadMs) },
      longestWriteMs: { median: median(pick((r) => r.longestWriteMs)), max: max((r) => r.longestWriteMs) },
      handoverReads: sum((r) => r.handoverReads),
      longestHandoverReadMs: { median: median(pick((r) => r.longestHandoverReadMs)), max: max((r) => r.longestHandoverReadMs) },
      longestHandoverWriteMs: { median: median(pick((r) => r.longestHandoverWriteMs)), max: max((r) => r.longestHandoverWriteMs) },
      slowestReadFromSwitchMs: rs.map((r) => r.slowestReadFromSwitchMs),
      writesAcknowledged: sum((r) => r.writesAcknowledged),
      heldWrites: sum((r) => r.heldWrites),
      lostWrites: sum((r) => r.lostWrites),
    }
  }

  const results: Record<string, Record<string, unknown>> = {}
  let failedUplifts = 0
  let doneUplifts = 0
  let failedRequests = 0
  let lostWrites = 0
  let longestHandoverReadMs = 0
  let longestHandoverWriteMs = 0
  let slowestTransferMiBps = Number.POSITIVE_INFINITY
  for (const size of profile.sizes) {
    const runs: Record<Mode, Outcome[]> = { import: [], rotate: [] }
    for (let i = 0; i < profile.runs; i++)
      for (const mode of modes) {
        log(`${size / 1024} KiB, ${mode}, run ${i + 1}/${profile.runs}…`)
        runs[mode].push(await run(mode, size))
      }
    for (const r of [...runs.import, ...runs.rotate]) {
      if ('failed' in r) {
        failedUplifts++
        continue
      }
      doneUplifts++
      failedRequests += r.failedRequests
      lostWrites += r.lostWrites
      longestHandoverReadMs = Math.max(longestHandoverReadMs, r.longestHandoverReadMs)
      longestHandoverWriteMs = Math.max(longestHandoverWriteMs, r.longestHandoverWriteMs)
      slowestTransferMiBps = Math.min(slowestTransferMiBps, r.transferMiBps)
    }
    const [imp, rot] = [summarize(runs.import), summarize(runs.rotate)]
    results[`${size / 1024}KiB`] = {
      import: imp,
      rotate: rot,
      endToEndRatioRotateImport:
        imp.endToEndMs && rot.endToEndMs ? Number((rot.endToEndMs.median / imp.endToEndMs.median).toFixed(2)) : null,
    }
  }

  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'uplift',
        date: new Date().toISOString(),
        profile: profileName,
        node: process.version,
        cpus: cpus().length,
        loadAverage: { before: loadBefore.map(round), after: loadavg().map(round) },
        wallClockS: Math.round((performance.now() - benchStart) / 1000),
        targets,
        // Over the uplifts that finished (false when none did).
        met: {
          everyUpliftDone: failedUplifts === 0,
          failedRequests: doneUplifts > 0 && failedRequests === targets.failedRequests,
          longestHandoverReadLatencyMs: doneUplifts > 0 && longestHandoverReadMs <= targets.longestHandoverLatencyMs,
          longestHandoverWriteLatencyMs: doneUplifts > 0 && longestHandoverWriteMs <= targets.longestHandoverLatencyMs,
          lostWrites: doneUplifts > 0 && lostWrites === 0,
          transferMiBps: doneUplifts > 0 && slowestTransferMiBps >= targets.transferMiBps,
        },
        slowestTransferMiBps: doneUplifts > 0 ? slowestTransferMiBps : null,
        sizes: results,
        notes: [
          'one machine runs anvil, the KMS node, the target CVM process, the source agent process and this client',
          'endToEndMs: POST /admin/uplift → the `uplift {"state":"done"` stdout line; the target CVM was answering before',
          'a write between the checkpoint and the switch (at most checkpointToSwitchMs) is served by the source and replayed at the target after the switch; writes are reported apart from reads',
          'fillMs: POST /remember/batch until the memory holds the size, then POST /checkpoint; before and apart from the uplift',
          'per size and option: medians of the runs; requests, failedRequests, writesAcknowledged, lostWrites are sums; longest latencies also give the max over runs',
        ],
      },
      null,
      2,
    )}\n`,
  )
} finally {
  for (const c of cleanup) await c().catch((e: unknown) => log(`cleanup: ${(e as Error).message}`))
}
