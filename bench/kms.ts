/**
 * KMS key-release throughput (issue 5 figures): a real @regent/kms node on loopback, a real anvil with RegentAppAuth,
 * devnet CVMs whose quotes bind each request's nonce and ephemeral key. Every release does the full path: nonce,
 * quote verification (DCAP under the devnet root, RTMR3 replay, report_data binding), the on-chain
 * isAppAllowedWithKms read at the latest block, the TCB policy, derivation, the X25519/AES-GCM envelope and a
 * release-log row. Client and node share this process (the client also produces each quote). Prints one JSON object.
 *
 *   npm run bench:kms
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { anvilMnemonic, deployRegent, regentAppAuthAbi, startAnvil } from '@regent/contracts'
import { createCvm, createLocalKeyProvider, DevnetCollateral, DevnetPki, DevnetQe, DevnetTd } from '@regent/devnet'
import { createKmsClient, startKmsNode } from '@regent/kms'
import { type Address, createPublicClient, createWalletClient, defineChain, type Hex, http } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

const releases = Number(process.env.BENCH_RELEASES ?? 3000)
const concurrency = 16

const anvil = await startAnvil()
const dirs: string[] = []
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

  const run = async (cached: boolean) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'regent-bench-kms-'))
    dirs.push(dataDir)
    const node = await startKmsNode({
      dataDir,
      sealingKey: new Uint8Array(32).fill(1),
      chain: { client, appAuth, cache: cached },
      collateral: DevnetCollateral.issue(pki),
      cacheCollateral: cached,
      trustedRoots: [DevnetPki.trustedRoot(pki)],
    })
    await send('addKmsRoot', [appId, node.identity.address])
    const kms = createKmsClient({ url: node.url })
    const one = (i: number) => {
      const cvm = cvms[i % cvms.length] as (typeof cvms)[number]
      return kms.releaseKeys({ attest: (reportData) => cvm.quote({ reportData }), vmConfig: cvm.info.vmConfig })
    }
    for (let i = 0; i < 100; i++) await one(i) // warm-up
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
    const released = node.log.read({ from: 0, limit: 1 }).length
    await node.close()
    latencies.sort((a, b) => a - b)
    const pct = (p: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] as number).toFixed(2))
    if (released !== 1) throw new Error('the release log is empty')
    return { releasesPerSecond: Math.round(releases / seconds), p50Ms: pct(0.5), p99Ms: pct(0.99) }
  }

  const cachedRun = await run(true)
  const uncachedRun = await run(false)
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
        ...cachedRun,
        verificationCacheDisabled: uncachedRun,
        notes: [
          'One release = POST /v1/nonce + quote over the binding + POST /v1/keys + envelope opened by the client; latency is that round trip.',
          'Per release the node verifies the quote (PCK leaf, QE report, quote signature, TCB, RTMR3 replay, report_data binding), reads isAppAllowedWithKms at the latest block (eth_blockNumber shared by concurrent requests; the answer cached for that block only), checks the TCB policy, derives (app part cached per app, disk key per instance), seals the envelope and appends a hash-chained SQLite row.',
          'verificationCacheDisabled: collateral re-verified in full on every quote (CRLs, TCB info, QE identity) and RegentAppAuth read on every request.',
          'Client and node share one process: the client-side quote generation and envelope opening count against the figure.',
        ],
      },
      null,
      2,
    ),
  )
} finally {
  await anvil.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
}
