/**
 * The KMS under anonymous load (issue 13 §4): the real `kms-node` entry in its own process, flooded with requests
 * anyone can send — a free nonce each, a garbage quote and a unique 240 KiB event log — and what the node kept
 * afterwards: its resident memory (Linux /proc VmRSS, before, peak while flooding, after) and its release log. Prints
 * one JSON object. Memory figures are measurements, not test assertions (the test asserts the counts:
 * packages/kms/src/KmsNode.test.ts "anonymous callers").
 *
 *   npm run bench:kms-flood                      # BENCH_FLOOD_REQUESTS (300), BENCH_FLOOD_LOG_KIB (240)
 *   BENCH_KMS_ENTRY=<other build>/packages/kms/bin/kms-node.mjs npm run bench:kms-flood   # before/after runs
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { anvilMnemonic, deployRegent, startAnvil } from '@regent-tee/contracts'
import { spawnGuarded } from '@regent-tee/core'
import { createCvm, createLocalKeyProvider, DevnetCollateral, DevnetPki, DevnetQe, startGuestAgent } from '@regent-tee/devnet'
import { createKmsClient, ReleaseRequest } from '@regent-tee/kms'
import { createPublicClient, createWalletClient, defineChain, http } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

const requests = Number(process.env.BENCH_FLOOD_REQUESTS ?? 300)
const logKib = Number(process.env.BENCH_FLOOD_LOG_KIB ?? 240)
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
  const pki = DevnetPki.create()
  const kmsCvm = await createCvm({
    compose: new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'regent-kms', no_instance_id: true })),
    qe: DevnetQe.create({ pki }),
    keyProvider: createLocalKeyProvider({ pki }),
  })
  const work = mkdtempSync(join(tmpdir(), 'regent-bench-flood-'))
  cleanup.push(() => rmSync(work, { recursive: true, force: true }))
  const agent = await startGuestAgent(kmsCvm, { socketPath: join(work, 'dstack.sock') })
  cleanup.push(() => agent.close())
  const configPath = join(work, 'config.json')
  writeFileSync(
    configPath,
    JSON.stringify({ appAuth: contracts.appAuth, trustedRootsPem: [pki.root.certificate.pem], collateral: DevnetCollateral.issue(pki) }),
  )
  const node = spawnGuarded(process.execPath, [entry], {
    env: {
      PATH: process.env.PATH,
      DSTACK_SIMULATOR_ENDPOINT: agent.socketPath,
      PORT: '0',
      REGENT_RPC_URL: anvil.rpcUrl,
      REGENT_KMS_CONFIG: configPath,
      REGENT_KMS_DATA: join(work, 'data'),
    },
  })
  cleanup.push(() => node.stop())
  node.child.stderr.resume()
  const line = await new Promise<string>((resolve) => {
    const lines = createInterface({ input: node.child.stdout })
    lines.once('line', resolve)
    lines.once('close', () => resolve('{}'))
  })
  const ready = JSON.parse(line) as { ready?: boolean; url: string; error?: string }
  if (!ready.ready) throw new Error(`the KMS node did not start: ${ready.error ?? line}`)
  const pid = childPid(node.pid)
  const kms = createKmsClient({ url: ready.url })

  const garbage = ReleaseRequest.toHex(new Uint8Array(4096).fill(0x5a))
  const codes: Record<string, number> = {}
  const before = { rssMiB: rssMiB(pid), logEntries: (await kms.log({ from: 0, limit: 1 })).head.seq + 1 }
  let peak = before.rssMiB
  for (let i = 0; i < requests; i++) {
    const { nonce } = await kms.nonce()
    const eventLog = JSON.stringify([
      { imr: 3, event_type: 134217729, digest: '', event: `junk-${i}`, event_payload: 'ab'.repeat((logKib * 1024) / 2) },
    ])
    const body = JSON.stringify({
      quote: garbage,
      eventLog,
      ephemeralPublicKey: ReleaseRequest.toHex(ReleaseRequest.createKeyPair().publicKey),
      nonce: ReleaseRequest.toHex(nonce),
      vmConfig: JSON.stringify({ os_image_hash: '00'.repeat(32) }),
    })
    const response = await fetch(`${ready.url}/v1/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const answer = (await response.json()) as { error?: { code?: string } }
    const code = `${response.status} ${answer.error?.code ?? ''}`
    codes[code] = (codes[code] ?? 0) + 1
    peak = Math.max(peak, rssMiB(pid))
  }
  const after = { rssMiB: rssMiB(pid), logEntries: (await kms.log({ from: 0, limit: 1 })).head.seq + 1 }
  console.log(
    JSON.stringify(
      {
        benchmark: 'kms-flood',
        date: new Date().toISOString(),
        node: process.version,
        entry: process.env.BENCH_KMS_ENTRY ? 'BENCH_KMS_ENTRY' : 'this checkout',
        requests,
        eventLogKiB: logKib,
        answers: codes,
        rssMiB: { before: before.rssMiB, peak, after: after.rssMiB, growth: after.rssMiB - before.rssMiB },
        releaseLogEntries: { before: before.logEntries, after: after.logEntries },
        notes: [
          'Each request: a fresh nonce from POST /v1/nonce (no authentication), a 4 KiB garbage quote, a unique event log of eventLogKiB (valid JSON), a fresh X25519 key; sent one after the other.',
          'rssMiB: VmRSS of the kms-node process (Linux /proc), before the flood, the highest seen after each answer, and after the last one. The node does not force a garbage collection: RSS includes what V8 has not collected or returned yet.',
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

/** Resident set size of a process in MiB (Linux /proc), NaN when unknown. */
function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN
  try {
    const kib = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
    return Math.round(kib / 1024)
  } catch {
    return Number.NaN
  }
}
