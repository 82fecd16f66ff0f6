/**
 * Uplift figures (issue 7 "Figures"), one JSON object, on a fresh devnet (anvil, one KMS node, TDX host): for both
 * key options (import, rotate), an agent in the wild with a memory DB of `--state-mib` MiB uplifts into a devnet CVM
 * running the example agent in target mode, while a client reads the agent's public endpoint (the source's
 * forwarding layer, examples/agent/src/Handover.ts) in a loop.
 *
 *   npm run bench:uplift [-- --state-mib 4]
 *
 * - `endToEndMs`: from the moment the target CVM answers (CVM process start excluded) until `uplift()` returns.
 * - `stepsMs`: from the source journal's step timestamps; each step's time runs from the previous step's record
 *   (or the start) to its own, so it includes the messages sent after the previous step (e.g. `challenge` includes
 *   posting the state offer, every chunk and the load).
 * - `stateTransfer`: checkpoint bytes / (journal `challenge` − `commit`): encrypting, sending, decrypting, root check
 *   and restore of the checkpoint.
 * - `client`: requests during the uplift and for 300 ms after it, failed ones (status ≠ 2xx, an error, or another
 *   answer than before the uplift), the longest latency overall and during the handover (requests started from
 *   the journal's `challenge-answer` on).
 */
import { mkdtemp, readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Collateral } from '@regent/attest'
import { startDevnet } from '@regent/devnet'
import { Checkpoint, commitState, enroll, openUpliftJournal, PrivateKey, registerAgent, uplift } from '@regent/sdk'
import Database from 'better-sqlite3'
import { createPublicClient, createWalletClient, defineChain, getAddress, type Hex, http, keccak256, toBytes } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { createForwarder, serveMemory } from '../examples/agent/src/Handover.js'
import { learn } from '../examples/agent/src/Memory.js'

const flag = process.argv.indexOf('--state-mib')
const stateMib = flag > 0 ? Number(process.argv[flag + 1]) : 4
if (!(stateMib > 0 && stateMib <= 64)) throw new Error('--state-mib must be in (0, 64]')
const chunkSize = 256 * 1024
const agentDir = fileURLToPath(new URL('../examples/agent/', import.meta.url))
const salt = keccak256(toBytes('regent bench uplift'))
const wildCompose = new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'wild-agent', runner: 'none' }))
const dir = await mkdtemp(join(tmpdir(), 'regent-bench-uplift-'))
const log = (line: string) => process.stderr.write(`${line}\n`)
const round = (x: number) => Number(x.toFixed(1))

log('starting the devnet…')
const devnet = await startDevnet({ dir, kmsNodes: 1 })
const compose = new Uint8Array(await readFile(join(agentDir, 'app-compose.json')))
const { appId } = await devnet.approveApp({ compose, salt })
await devnet.approveApp({ compose: wildCompose, salt })
const contracts = devnet.file.contracts
const chain = defineChain({
  id: devnet.file.chainId,
  name: 'devnet',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [devnet.file.rpcUrl] } },
})
const client = createPublicClient({ chain, transport: http(devnet.file.rpcUrl) })

/** An agent in the wild: its own key, self-registered, enrolled, a memory DB of about `stateMib` MiB committed. */
async function wildAgent(name: string) {
  const key = generatePrivateKey()
  const account = privateKeyToAccount(key)
  const faucet = await fetch(`${devnet.file.hostUrl}/v1/faucet`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address: account.address }),
  })
  if (!faucet.ok) throw new Error(`faucet answered ${faucet.status}`)
  const wallet = createWalletClient({ account, chain, transport: http(devnet.file.rpcUrl) })
  const { agentId } = await registerAgent(wallet, {
    contracts,
    registration: {
      name,
      description: 'an agent in the wild',
      services: [{ name: 'web', endpoint: 'https://wild.example', version: '1' }],
    },
  })
  const composeHash = `0x${Buffer.from(new Uint8Array(await crypto.subtle.digest('SHA-256', wildCompose))).toString('hex')}` as Hex
  await enroll(wallet, {
    contracts,
    agentId,
    appId,
    instance: {
      signer: account.address,
      composeHash,
      instanceId: getAddress(`0x${keccak256(toBytes(`wild:${name}`)).slice(26)}`),
      quoteHash: keccak256(toBytes(`no quote: ${name} runs in the wild`)),
      host: 'https://wild.example',
    },
  })
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  for (let i = 0; i < 20; i++) learn(db, { user: 'alice', text: `alice likes tea, trains and tea number ${i}` })
  const insert = db.prepare('INSERT INTO memory (key, value, created_at) VALUES (?, ?, 0)')
  const filler = (i: number) => `${i.toString(36)} ${'memory filler '.repeat(73)}` // ~1 KiB, not all alike
  db.transaction(() => {
    for (let i = 0; i < stateMib * 1024; i++) insert.run(`fact${i}`, filler(i))
  })()
  await commitState(wallet, { contracts, agentId, stateRoot: Checkpoint.exportState(db, { chunkSize }).stateRoot, seq: 1n })
  return { key, wallet, agentId, db }
}

async function launchTarget() {
  const cvm = await devnet.host.launch({
    compose,
    bundle: agentDir,
    appId: Buffer.from(appId.slice(2), 'hex'),
    env: {
      REGENT_CHAIN_ID: String(devnet.file.chainId),
      REGENT_CONTRACTS: JSON.stringify(contracts),
      REGENT_UPLIFT_ROLE: 'target',
    },
  })
  const deadline = Date.now() + 60_000
  for (;;) {
    if (
      await fetch(`${cvm.appUrl}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return cvm
    if (devnet.host.get(cvm.cvmId).status !== 'running' || Date.now() > deadline) throw new Error(await devnet.host.logs(cvm.cvmId))
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function run(mode: 'import' | 'rotate') {
  log(`uplift ${mode}: preparing a wild agent with ${stateMib} MiB of memory…`)
  const w = await wildAgent(`bench-${mode}`)
  const cvm = await launchTarget()
  const journal = openUpliftJournal({
    path: join(await mkdtemp(join(dir, 'src-')), 'uplift-source.db'),
    role: 'source',
    key: new Uint8Array(32).fill(7),
  })
  const switched = () => journal.get('handover-tx') !== undefined
  const endpoint = createServer(
    createForwarder({
      serve: (req, res) => {
        serveMemory(w.db, req, res).then(
          (served) => void (served || res.writeHead(404).end()),
          () => res.writeHead(500).end(),
        )
      },
      switched,
      targetUrl: cvm.appUrl,
    }),
  )
  await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/topics?user=alice`
  const expected = await (await fetch(url)).text()
  let byteLength = 0
  const results: { ok: boolean; end: number; ms: number; forwarded: boolean }[] = []
  let running = true

  const start = performance.now()
  const startedAt = Date.now()
  const loop = (async () => {
    while (running) {
      const t = performance.now()
      const forwarded = switched()
      const ok = await fetch(url).then(
        async (res) => res.ok && (await res.text()) === expected,
        () => false,
      )
      results.push({ ok, end: Date.now(), ms: performance.now() - t, forwarded })
    }
  })()
  await uplift({
    mode,
    agentId: w.agentId,
    chainId: devnet.file.chainId,
    contracts,
    wallet: w.wallet,
    ...(mode === 'import' ? { privateKey: new PrivateKey(Buffer.from(w.key.slice(2), 'hex')) } : {}),
    client,
    targetUrl: cvm.appUrl,
    journal,
    checkpoint: () => {
      const c = Checkpoint.exportState(w.db, { chunkSize })
      byteLength = c.byteLength
      return c
    },
    collateral: Collateral.parse(devnet.host.collateral),
    trustedRoots: [devnet.host.trustedRoot],
  })
  const endToEndMs = performance.now() - start
  await new Promise((r) => setTimeout(r, 300)) // the client keeps reading through the forwarder
  running = false
  await loop
  endpoint.close()

  const entries = journal.entries()
  journal.close()
  const at = (step: string) => Date.parse(entries.find((e) => e.step === step)?.at ?? '')
  const stepsMs: Record<string, number> = {}
  let previous = startedAt
  for (const e of entries) {
    stepsMs[e.step] = Date.parse(e.at) - previous
    previous = Date.parse(e.at)
  }
  const transferMs = at('challenge') - at('commit')
  const handoverFrom = at('challenge-answer')
  const during = results.filter((r) => r.end - r.ms >= handoverFrom)
  const max = (xs: number[]) => round(Math.max(0, ...xs))
  return {
    endToEndMs: round(endToEndMs),
    stepsMs,
    stateTransfer: {
      bytes: byteLength,
      chunks: Math.max(1, Math.ceil(byteLength / chunkSize)),
      ms: transferMs,
      mibPerSecond: Number((byteLength / 1024 / 1024 / (transferMs / 1000)).toFixed(2)),
    },
    client: {
      requests: results.length,
      forwarded: results.filter((r) => r.forwarded).length,
      failed: results.filter((r) => !r.ok).length,
      longestLatencyMs: max(results.map((r) => r.ms)),
      longestHandoverLatencyMs: max(during.map((r) => r.ms)),
    },
  }
}

try {
  const importFigures = await run('import')
  const rotateFigures = await run('rotate')
  process.stdout.write(
    `${JSON.stringify(
      {
        stateMib,
        chunkSize,
        note: 'devnet on one machine; end-to-end starts once the target CVM answers (CVM process start excluded)',
        import: importFigures,
        rotate: rotateFigures,
      },
      null,
      2,
    )}\n`,
  )
} finally {
  await devnet.stop()
}
