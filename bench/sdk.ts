/**
 * @regent-tee/sdk figures (issue 6): prints ONE JSON object.
 *
 * - signAndAttest and verifySignedAttestation latency (p50/p99) on an in-process devnet CVM and guest agent (HTTP
 *   transport on loopback, the same code path as dstack); sequential calls, each with a fresh nonce and payload.
 * - stateRoot throughput over a real exported checkpoint (`Checkpoint.exportState` of a sealed-state database filled
 *   with `--size-mib` MiB of memory rows), against plain node:crypto SHA-256 over the same chunks in the same run
 *   (interleaved, alternating which goes first, best of `--rounds`); target ratio >= 0.8.
 * - checkpoint export and import time for that same size (import = root verification + parse + load).
 *
 *   npm run bench:sdk                          # --size-mib 1024 --attests 200 --rounds 4
 *   npm run bench:sdk -- --size-mib 256
 */
import { createHash, randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { createCvm, createLocalKeyProvider, DevnetCollateral, DevnetPki, DevnetQe, startGuestAgent } from '@regent-tee/devnet'
import { Checkpoint, createTeeClient, deriveWallet, http, signAndAttest, toAccount, verifySignedAttestation } from '@regent-tee/sdk'
import Database from 'better-sqlite3'

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    attests: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '4' },
  },
})
const sizeMib = Number(values['size-mib'])
const attests = Number(values.attests)
const rounds = Number(values.rounds)

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
const ms = (x: number) => Math.round(x * 100) / 100
const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { n: sorted.length, p50Ms: ms(percentile(sorted, 50)), p99Ms: ms(percentile(sorted, 99)) }
}

// --- sign-and-attest on the devnet ---------------------------------------------------------------------------
const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const collateral = DevnetCollateral.issue(pki)
const trustedRoots = [DevnetPki.trustedRoot(pki)]
const compose = new TextEncoder().encode('{"kms_enabled":true,"manifest_version":2,"name":"bench-sdk","runner":"docker-compose"}')
const cvm = await createCvm({ compose, appId: new Uint8Array(20).fill(0x5d), qe, keyProvider })
const agent = await startGuestAgent(cvm, { port: 0 })
let attest: Record<string, unknown>
try {
  const client = createTeeClient({ transport: http({ url: agent.url as string }) })
  const account = toAccount(await deriveWallet(client))
  const composeHash = Buffer.from(cvm.info.composeHash).toString('hex')
  const signTimes: number[] = []
  const verifyTimes: number[] = []
  let failures = 0
  for (let i = 0; i < attests + 10; i++) {
    const nonce = new Uint8Array(randomBytes(32))
    const payload = new Uint8Array(randomBytes(256))
    const stateRoot = `0x${randomBytes(32).toString('hex')}` as const
    const t0 = performance.now()
    const attestation = await signAndAttest(client, { account, payload, nonce, purpose: 'bench', stateRoot, epoch: 1n })
    const t1 = performance.now()
    const verdict = await verifySignedAttestation({
      attestation,
      nonce,
      payload,
      expected: { signer: account.address, stateRoot, epoch: 1n, purpose: 'bench' },
      collateral,
      trustedRoots,
      now: new Date(),
      policy: { approvedMeasurements: [{ composeHash }] },
    })
    const t2 = performance.now()
    if (!verdict.ok) failures++
    if (i >= 10) {
      signTimes.push(t1 - t0)
      verifyTimes.push(t2 - t1)
    }
  }
  attest = {
    setup: 'in-process devnet CVM + guest agent over HTTP on loopback; sequential; 10 warm-up calls not counted',
    signAndAttest: summary(signTimes),
    verifySignedAttestation: { ...summary(verifyTimes), failures },
  }
} finally {
  await agent.close()
}

// --- a real checkpoint of sizeMib MiB ------------------------------------------------------------------------
const rowBytes = 64 * 1024
const rows = Math.ceil((sizeMib * 1024 * 1024) / (rowBytes + 32))
const db = new Database(':memory:')
Checkpoint.createSchema(db)
const base = randomBytes(rowBytes / 2).toString('hex')
const insert = db.prepare('INSERT INTO memory (id, key, value, created_at) VALUES (?, ?, ?, ?)')
db.transaction(() => {
  for (let i = 0; i < rows; i++) insert.run(i + 1, `k${i}`, `${i.toString(16).padStart(8, '0')}${base.slice(8)}`, i)
})()

const e0 = performance.now()
const checkpoint = Checkpoint.exportState(db)
const exportMs = performance.now() - e0
db.close()
const bytes = checkpoint.byteLength
const { chunks, chunkSize } = checkpoint

// stateRoot vs plain SHA-256 over the same chunks, interleaved; best of `rounds` each.
let rootBest = Number.POSITIVE_INFINITY
let shaBest = Number.POSITIVE_INFINITY
let root = ''
const plain = () => {
  const s0 = performance.now()
  const h = createHash('sha256')
  for (const c of chunks) h.update(c)
  h.digest()
  shaBest = Math.min(shaBest, performance.now() - s0)
}
const merkle = () => {
  const r0 = performance.now()
  root = Checkpoint.computeRoot(chunks, chunkSize)
  rootBest = Math.min(rootBest, performance.now() - r0)
}
// Alternate which one goes first so that neither always pays for a cold cache.
for (let r = 0; r < rounds; r++) for (const run of r % 2 === 0 ? [plain, merkle] : [merkle, plain]) run()
if (root !== checkpoint.stateRoot) throw new Error('stateRoot is not deterministic')

const i0 = performance.now()
const imported = Checkpoint.importState(checkpoint)
const importMs = performance.now() - i0
const importedRows = (imported.prepare('SELECT count(*) AS n FROM memory').get() as { n: number }).n
imported.close()
if (importedRows !== rows) throw new Error(`imported ${importedRows} rows, exported ${rows}`)

const mibPerS = (t: number) => Math.round((bytes / (1024 * 1024) / (t / 1000)) * 10) / 10
console.log(
  JSON.stringify(
    {
      bench: 'sdk',
      node: process.version,
      ...attest,
      checkpoint: {
        source: `real Checkpoint.exportState stream of a sealed-state database (${rows} memory rows of ${rowBytes / 1024} KiB text)`,
        bytes,
        mib: Math.round((bytes / 1024 / 1024) * 10) / 10,
        chunkSize,
        chunks: chunks.length,
        exportMs: Math.round(exportMs),
        importMs: Math.round(importMs),
      },
      stateRoot: {
        rounds,
        stateRootMs: Math.round(rootBest),
        stateRootMiBps: mibPerS(rootBest),
        sha256Ms: Math.round(shaBest),
        sha256MiBps: mibPerS(shaBest),
        ratio: Math.round((shaBest / rootBest) * 1000) / 1000,
        target: 0.8,
      },
    },
    null,
    2,
  ),
)
