/**
 * KMS key-release throughput (issue 5 figures). The node is the real entry (`packages/kms/bin/kms-node.mjs`) in its
 * own process, as it runs inside its CVM: its sealing key comes from a devnet guest agent (GetKey) served by this
 * process, its chain is a real anvil with RegentAppAuth. This process is the client side: devnet CVMs (two
 * simulated hosts) whose quotes bind each request's nonce and ephemeral key. Every release is the full protocol:
 * POST /v1/nonce, a fresh ephemeral key and quote, POST /v1/keys, the envelope opened and parsed. The first figures
 * take the client side (nonce, key, quote) out of the timed window — each nonce still used once — so that they
 * measure the node; `fullProtocol` times everything. Prints one JSON object.
 *
 *   npm run bench:kms                       # BENCH_RELEASES (3000), BENCH_FULL_RELEASES (1000), BENCH_CONCURRENCY (16)
 *   BENCH_PROFILE_DIR=prof npm run bench:kms # also writes the node's CPU profile (node --cpu-prof) there
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { anvilMnemonic, deployRegent, regentAppAuthAbi, startAnvil } from '@regent-tee/contracts'
import { spawnGuarded } from '@regent-tee/core'
import { createCvm, createLocalKeyProvider, DevnetCollateral, DevnetPki, DevnetQe, DevnetTd, startGuestAgent } from '@regent-tee/devnet'
import { createKmsClient, ReleaseRequest } from '@regent-tee/kms'
import { type Address, createPublicClient, createWalletClient, defineChain, type Hex, http } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

const releases = Number(process.env.BENCH_RELEASES ?? 3000)
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16)
const fullReleases = Number(process.env.BENCH_FULL_RELEASES ?? 1000)
const warmup = 200
const profileDir = process.env.BENCH_PROFILE_DIR
// BENCH_KMS_ENTRY: another build of the entry (e.g. a checkout of an earlier commit), for before/after runs.
const entry = process.env.BENCH_KMS_ENTRY ?? fileURLToPath(new URL('../packages/kms/bin/kms-node.mjs', import.meta.url))

const anvil = await startAnvil()
const cleanup: (() => Promise<unknown> | unknown)[] = [() => anvil.stop()]
try {
  const chain = defineChain({
    id: anvil.chainId,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [anvil.rpcUrl] } },
  })
  const client = createPublicClient({ chain, transport: http(anvil.rpcUrl) })
  const gov = createWalletClient({ chain, transport: http(anvil.rpcUrl), account: mnemonicToAccount(anvilMnemonic, { addressIndex: 0 }) })
  const { contracts } = await deployRegent(gov, client)
  const appAuth = contracts.appAuth
  const send = async (functionName: string, args: readonly unknown[]) =>
    client.waitForTransactionReceipt({
      hash: await gov.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args } as never),
    })
  const salt = `0x${'42'.repeat(32)}` as Hex
  const appId = (await client.readContract({
    address: appAuth,
    abi: regentAppAuthAbi,
    functionName: 'computeAppId',
    args: [gov.account.address, salt],
  })) as Address
  await send('registerApp', [salt, 0n])
  const compose = new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'bench-agent', kms_enabled: true }))
  const composeHash = `0x${Buffer.from(await crypto.subtle.digest('SHA-256', compose)).toString('hex')}` as Hex
  await send('addComposeHash', [appId, composeHash])
  const image = DevnetTd.published(DevnetTd.defaultImage)
  await send('addOsImage', [appId, image.osImageHash, image.measurements])

  const pki = DevnetPki.create()
  const qes = [DevnetQe.create({ pki }), DevnetQe.create({ pki })]
  const cvms = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      createCvm({
        compose,
        appId: Buffer.from(appId.slice(2), 'hex'),
        qe: qes[i % 2] as DevnetQe.DevnetQe,
        keyProvider: createLocalKeyProvider({ pki }),
      }),
    ),
  )
  // The KMS app's own CVM and guest agent (its sealing key source).
  const kmsCvm = await createCvm({
    compose: new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'regent-kms', no_instance_id: true })),
    qe: qes[0] as DevnetQe.DevnetQe,
    keyProvider: createLocalKeyProvider({ pki }),
  })
  const work = mkdtempSync(join(tmpdir(), 'regent-bench-kms-'))
  cleanup.push(() => rmSync(work, { recursive: true, force: true }))
  const agent = await startGuestAgent(kmsCvm, { socketPath: join(work, 'dstack.sock') })
  cleanup.push(() => agent.close())

  const run = async (cached: boolean) => {
    const name = cached ? 'cached' : 'uncached'
    const configPath = join(work, `${name}.json`)
    writeFileSync(
      configPath,
      JSON.stringify({
        appAuth,
        trustedRootsPem: [pki.root.certificate.pem],
        collateral: DevnetCollateral.issue(pki),
        verificationCache: cached,
      }),
    )
    const node = spawnGuarded(process.execPath, [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), entry], {
      env: {
        PATH: process.env.PATH,
        DSTACK_SIMULATOR_ENDPOINT: agent.socketPath,
        PORT: '0',
        REGENT_RPC_URL: anvil.rpcUrl,
        REGENT_KMS_CONFIG: configPath,
        REGENT_KMS_DATA: join(work, `${name}-data`),
      },
    })
    node.child.stderr.resume()
    const line = await new Promise<string>((resolve) => {
      const lines = createInterface({ input: node.child.stdout })
      lines.once('line', resolve)
      lines.once('close', () => resolve('{}'))
    })
    const ready = JSON.parse(line) as { ready?: boolean; url: string; address: Address; error?: string }
    if (!ready.ready) throw new Error(`the KMS node did not start: ${ready.error ?? line}`)
    try {
      await send('addKmsRoot', [appId, ready.address])
      const kms = createKmsClient({ url: ready.url })
      const cvmOf = (i: number) => cvms[i % cvms.length] as (typeof cvms)[number]
      const full = (i: number) =>
        kms.releaseKeys({ attest: (reportData) => cvmOf(i).quote({ reportData }), vmConfig: cvmOf(i).info.vmConfig })
      for (let i = 0; i < warmup; i++) await full(i)
      const nodePid = childPid(node.pid)
      // The timed window: `count` releases, `concurrency` at a time; node CPU and load average around it.
      const measure = async (count: number, one: (i: number) => Promise<unknown>) => {
        const load = loadavg()[0] as number
        const cpuBefore = cpuMs(nodePid)
        const statBefore = machineTicks()
        const latencies: number[] = []
        const start = performance.now()
        await pool(count, async (i) => {
          const t = performance.now()
          await one(i)
          latencies.push(performance.now() - t)
        })
        const seconds = (performance.now() - start) / 1000
        const nodeCpu = (cpuMs(nodePid) - cpuBefore) / count
        const statAfter = machineTicks()
        const idle = (statAfter.idle - statBefore.idle) / (statAfter.total - statBefore.total)
        latencies.sort((a, b) => a - b)
        const pct = (p: number) =>
          Number((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] as number).toFixed(2))
        return {
          releasesPerSecond: Math.round(count / seconds),
          p50Ms: pct(0.5),
          p99Ms: pct(0.99),
          nodeCpuMsPerRelease: Number.isFinite(nodeCpu) ? Number(nodeCpu.toFixed(3)) : undefined,
          nodeReleasesPerCoreSecond: Number.isFinite(nodeCpu) && nodeCpu > 0 ? Math.round(1000 / nodeCpu) : undefined,
          loadAverage1m: Number(load.toFixed(2)),
          nodeCoreShare: Number.isFinite(nodeCpu) ? Number(((nodeCpu * count) / (seconds * 1000)).toFixed(2)) : undefined,
          machineIdle: Number.isFinite(idle) ? Number(idle.toFixed(2)) : undefined,
        }
      }
      // Client side done before the window: a nonce from the node, a fresh X25519 key and the quote over the
      // binding, the body serialized. Each nonce is used exactly once, in the window, well within its 60 s.
      const prepareCpu = cpuMs(nodePid)
      const prepared: { request: ReleaseRequest.Request; body: string; privateKey: Uint8Array }[] = []
      await pool(releases, async (i) => {
        const { nonce } = await kms.nonce()
        const keyPair = ReleaseRequest.createKeyPair()
        const reportData = ReleaseRequest.toReportData({ purpose: 'keys', ephemeralPublicKey: keyPair.publicKey, nonce })
        const { quote, eventLog } = cvmOf(i).quote({ reportData })
        const request = { quote, eventLog, ephemeralPublicKey: keyPair.publicKey, nonce, vmConfig: cvmOf(i).info.vmConfig }
        prepared[i] = { request, body: ReleaseRequest.serialize(request), privateKey: keyPair.privateKey }
      })
      const nonceCpu = (cpuMs(nodePid) - prepareCpu) / releases
      const pregenerated = await measure(releases, async (i) => {
        const { request, body, privateKey } = prepared[i] as (typeof prepared)[number]
        const response = await fetch(`${ready.url}/v1/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        const answer = (await response.json()) as {
          kmsRootPublicKey: string
          envelope: Record<'responderPublicKey' | 'iv' | 'ciphertext', string>
        }
        if (!response.ok) throw new Error(`release ${i}: HTTP ${response.status} ${JSON.stringify(answer)}`)
        const kmsRootPublicKey = ReleaseRequest.fromHex(answer.kmsRootPublicKey, 'kmsRootPublicKey')
        const plaintext = ReleaseRequest.open({
          envelope: {
            responderPublicKey: ReleaseRequest.fromHex(answer.envelope.responderPublicKey, 'responderPublicKey'),
            iv: ReleaseRequest.fromHex(answer.envelope.iv, 'iv'),
            ciphertext: ReleaseRequest.fromHex(answer.envelope.ciphertext, 'ciphertext'),
          },
          privateKey,
          transcript: {
            purpose: 'keys',
            quoteHash: new Uint8Array(createHash('sha256').update(request.quote).digest()),
            requesterPublicKey: request.ephemeralPublicKey,
            nonce: request.nonce,
            kmsRootPublicKey,
          },
        })
        ReleaseRequest.parseAppKeys(plaintext)
        privateKey.fill(0)
      })
      const fullProtocol = await measure(fullReleases, full)
      const { head } = await kms.log({ from: 0, limit: 1 })
      const expected = warmup + releases + fullReleases
      if (head.seq + 1 !== expected) throw new Error(`the release log has ${head.seq + 1} entries, expected ${expected}`)
      const cpuWithNonce = (pregenerated.nodeCpuMsPerRelease ?? Number.NaN) + nonceCpu
      return {
        ...pregenerated,
        nodeCpuMsPerNonce: Number.isFinite(nonceCpu) ? Number(nonceCpu.toFixed(3)) : undefined,
        nodeReleasesPerCoreSecondWithNonce: Number.isFinite(cpuWithNonce) ? Math.round(1000 / cpuWithNonce) : undefined,
        fullProtocol,
      }
    } finally {
      await node.stop()
    }
  }

  const loadBefore = loadavg()[0] as number
  const cachedRun = await run(true)
  const uncachedRun = await run(false)
  const loadAfter = loadavg()[0] as number
  console.log(
    JSON.stringify(
      {
        benchmark: 'kms',
        date: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model.trim(),
        cores: cpus().length,
        releases,
        concurrency,
        loadAverage1mBench: { before: Number(loadBefore.toFixed(2)), after: Number(loadAfter.toFixed(2)) },
        ...cachedRun,
        verificationCacheDisabled: uncachedRun,
        notes: [
          'Set-up: the KMS node is packages/kms/bin/kms-node.mjs in its own process (sealing key from a devnet guest agent); this process runs the clients and generates every quote; anvil is a third process; all on one machine (2 cores shared by the three and by whatever else runs).',
          'First figures (pre-generated client side): before the timed window the client fetches one nonce per release from the node (POST /v1/nonce) and makes a fresh X25519 key and the quote over the binding, as a CVM would ahead of asking; in the window each release is POST /v1/keys with that body, the envelope opened and the payload parsed by the client. Every nonce is used exactly once, within its lifetime; the node runs every check below for every request. This measures the node rather than the quote generator (the devnet quote signing of the client side otherwise takes most of the two cores).',
          'fullProtocol: one release = POST /v1/nonce + a fresh X25519 key + a quote over the binding + POST /v1/keys + the envelope opened and parsed, all in the window (BENCH_FULL_RELEASES, 1000); latency is that round trip.',
          'Checked on every request: nonce (issued by this node, unused, unexpired; consumed), quote signature by its attestation key, QE report signature by the PCK leaf key, QE report binding, PCK leaf under the verified PCK CA (signature, validity, revocation, CN), QE identity and TCB level, collateral window at the current time, RTMR3 replay of the event log, report_data binding to the nonce and ephemeral key, boot facts (app id, compose hash, instance id), the OS image found on-chain from MRTD/RTMR0-2 (osImageOfMeasurement), RegentAppAuth isAppAllowedWithKms at the latest block (eth_blockNumber asked per request, concurrent requests share one call), TCB policy; then derivation, the X25519/HKDF/AES-GCM envelope and a hash-chained SQLite log row.',
          'Cached (first figures): the collateral is verified once per validity window (CRL, TCB info and QE identity signatures and chains); the event log is parsed once per exact text (LRU; the RTMR3 replay against each quote still runs per request) and the boot-time RTMR3 prefix is computed once per parsed log; attest memoises by exact bytes what is the same in all of a platform\'s quotes (docs/attest.md "Caching": PCK chain and leaf parsing, attestation key import, successful PCK leaf and QE report signature checks; the quote signature is verified every time); the RegentAppAuth answer is reused for the same boot facts within the same block only; per-app keys (AppKeys.derive) and per-instance disk keys live in bounded LRUs.',
          'verificationCacheDisabled: the collateral is parsed and verified in full for every quote, every event log is parsed for every request, and RegentAppAuth is read for every request (no per-block reuse); everything else as above.',
          'nodeCpuMsPerRelease: CPU time (user + system) of the node process during the timed window, divided by the releases in it (Linux /proc); in the first figures it excludes issuing the nonces (nodeCpuMsPerNonce, measured while preparing), fullProtocol includes them. nodeReleasesPerCoreSecond = 1000 / nodeCpuMsPerRelease: what the node alone would sustain on one otherwise idle core (the node is single-threaded); …WithNonce adds the nonce cost.',
          'loadAverage1m (per window): the 1-minute load average when the window started (it lags: a window can start on a machine that has just quietened or just got busy); the machine is shared, and a load above ~2 means other work competed for the two cores. nodeCoreShare: the fraction of one core the node got during the window (1 = a full core); machineIdle: the fraction of both cores left idle during the window (Linux /proc/stat). A nodeCoreShare well below 1 with machineIdle near 0 means the throughput was set by contention, not by the node.',
        ],
      },
      null,
      2,
    ),
  )
} finally {
  for (const step of cleanup.reverse()) await step()
}

/** Runs `fn(0..count-1)`, `concurrency` at a time. */
async function pool(count: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await fn(next++)
    }),
  )
}

/** The pid of the program a spawnGuarded guard runs (its only child), or undefined off Linux. */
function childPid(guardPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${guardPid}/task/${guardPid}/children`, 'utf8').trim().split(/\s+/).map(Number)
    return children.find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node')
  } catch {
    return undefined
  }
}

/** Idle and total jiffies of all cores (Linux /proc/stat), NaN when unknown. */
function machineTicks(): { idle: number; total: number } {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
    return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) }
  } catch {
    return { idle: Number.NaN, total: Number.NaN }
  }
}

/** User + system CPU milliseconds of a process (Linux /proc), NaN when unknown. */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return Number.NaN
  }
}
