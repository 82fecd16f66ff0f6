/**
 * KMS key-release throughput (issue 5 figures). The node is the real entry (`packages/kms/bin/kms-node.mjs`) in its
 * own process, as it runs inside its CVM: its sealing key comes from a devnet guest agent (GetKey) served by this
 * process, its chain is a real anvil with RegentAppAuth. This process is the client side: devnet CVMs (two
 * simulated hosts) whose quotes bind each request's nonce and ephemeral key. Every release is the full protocol:
 * POST /v1/nonce, a fresh ephemeral key and quote, POST /v1/keys, the envelope opened and parsed; nothing is
 * pre-generated (a quote needs its nonce first). Prints one JSON object.
 *
 *   npm run bench:kms                       # BENCH_RELEASES (3000), BENCH_CONCURRENCY (16)
 *   BENCH_PROFILE_DIR=prof npm run bench:kms # also writes the node's CPU profile (node --cpu-prof) there
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { anvilMnemonic, deployRegent, regentAppAuthAbi, spawnGuarded, startAnvil } from '@regent/contracts'
import { createCvm, createLocalKeyProvider, DevnetCollateral, DevnetPki, DevnetQe, DevnetTd, startGuestAgent } from '@regent/devnet'
import { createKmsClient } from '@regent/kms'
import { type Address, createPublicClient, createWalletClient, defineChain, type Hex, http } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

const releases = Number(process.env.BENCH_RELEASES ?? 3000)
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16)
const warmup = 200
const profileDir = process.env.BENCH_PROFILE_DIR
const entry = fileURLToPath(new URL('../packages/kms/bin/kms-node.mjs', import.meta.url))

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
  await send('addOsImage', [appId, `0x${Buffer.from(DevnetTd.osImageHash(DevnetTd.defaultImage)).toString('hex')}`])

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
      const one = (i: number) => {
        const cvm = cvms[i % cvms.length] as (typeof cvms)[number]
        return kms.releaseKeys({ attest: (reportData) => cvm.quote({ reportData }), vmConfig: cvm.info.vmConfig })
      }
      for (let i = 0; i < warmup; i++) await one(i)
      const nodePid = childPid(node.pid)
      const cpuBefore = cpuMs(nodePid)
      const latencies: number[] = []
      let next = 0
      const start = performance.now()
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < releases) {
            const i = next++
            const t = performance.now()
            await one(i)
            latencies.push(performance.now() - t)
          }
        }),
      )
      const seconds = (performance.now() - start) / 1000
      const nodeCpu = cpuMs(nodePid) - cpuBefore
      const { head } = await kms.log({ from: 0, limit: 1 })
      if (head.seq + 1 !== warmup + releases) throw new Error(`the release log has ${head.seq + 1} entries, expected ${warmup + releases}`)
      latencies.sort((a, b) => a - b)
      const pct = (p: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] as number).toFixed(2))
      return {
        releasesPerSecond: Math.round(releases / seconds),
        p50Ms: pct(0.5),
        p99Ms: pct(0.99),
        nodeCpuMsPerRelease: Number.isFinite(nodeCpu) ? Number((nodeCpu / releases).toFixed(3)) : undefined,
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
        loadAverage1m: { before: Number(loadBefore.toFixed(2)), after: Number(loadAfter.toFixed(2)) },
        ...cachedRun,
        verificationCacheDisabled: uncachedRun,
        notes: [
          'Set-up: the KMS node is packages/kms/bin/kms-node.mjs in its own process (sealing key from a devnet guest agent); this process runs the clients and generates every quote; anvil is a third process; all on one machine.',
          'One release = POST /v1/nonce + a fresh X25519 key + a quote over the binding + POST /v1/keys + the envelope opened and parsed by the client; latency is that round trip. Nonces are single-use and fetched per request; nothing is pre-generated.',
          'Checked on every request: nonce (issued by this node, unused, unexpired; consumed), quote signature by its attestation key, QE report signature by the PCK leaf key, QE report binding, PCK leaf under the verified PCK CA (signature, validity, revocation, CN), QE identity and TCB level, collateral window at the current time, RTMR3 replay of the event log, report_data binding to the nonce and ephemeral key, boot facts (app id, compose hash, instance id, OS image), RegentAppAuth isAppAllowedWithKms at the latest block (eth_blockNumber asked per request, concurrent requests share one call), TCB policy; then derivation, the X25519/HKDF/AES-GCM envelope and a hash-chained SQLite log row.',
          'Cached (first figures): the collateral is verified once per validity window (CRL, TCB info and QE identity signatures and chains); the event log is parsed once per exact text (LRU; the RTMR3 replay against each quote still runs per request) and the boot-time RTMR3 prefix is computed once per parsed log; attest reuses parsed PCK leaf certificates and the imported PCK CA key; the RegentAppAuth answer is reused for the same boot facts within the same block only; per-app keys (AppKeys.derive) and per-instance disk keys live in bounded LRUs.',
          'verificationCacheDisabled: the collateral is parsed and verified in full for every quote, every event log is parsed for every request, and RegentAppAuth is read for every request (no per-block reuse); everything else as above.',
          'loadAverage1m: the machine is shared; a load above ~1 before the run means other work competed for the two cores.',
          'nodeCpuMsPerRelease: CPU time (user + system) of the node process during the measured releases, divided by the number of releases (Linux /proc).',
        ],
      },
      null,
      2,
    ),
  )
} finally {
  for (const step of cleanup.reverse()) await step()
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
