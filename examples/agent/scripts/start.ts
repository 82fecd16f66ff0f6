/**
 * `npm start`: the main job on the embedded devnet. Brings up the devnet (anvil + contracts, a KMS
 * node, the simulated TDX host), approves the example agent's app on-chain, launches the agent in a
 * CVM — it derives its wallet from the KMS, registers itself in ERC-8004 and becomes canonical — then
 * verifies it from the outside as any counterparty would and prints its identity bundle and score.
 *
 *   npm start               leaves the devnet running (`npx regent dev down` stops it)
 *   npm start -- --down     stops it at the end
 * Environment: REGENT_DIR (default .regent).
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Collateral, createTrustedRoot } from '@regent/attest'
import { type CvmRecord, down, up } from '@regent/devnet'
import { verifyInstance } from '@regent/sdk'
import { createPublicClient, defineChain, http } from 'viem'

const dir = process.env.REGENT_DIR ?? '.regent'
const stopAtEnd = process.argv.includes('--down')
const bundle = fileURLToPath(new URL('..', import.meta.url))
const say = (line: string) => process.stdout.write(`${line}\n`)
const call = async <T>(url: string, init?: RequestInit): Promise<T> => {
  const res = await fetch(url, init)
  const body = (await res.json()) as T & { error?: { message: string } }
  if (!res.ok) throw new Error(`${url}: ${body.error?.message ?? res.status}`)
  return body
}
const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
})

try {
  const t0 = performance.now()
  const { file, reused } = await up({ dir })
  say(
    `✓ devnet ${reused ? 'reused' : 'up'} in ${dir}: chain ${file.rpcUrl}, KMS ${file.kmsUrls.join(', ') || '(none)'}, host ${file.hostUrl}`,
  )

  const compose = await readFile(new URL('../app-compose.json', import.meta.url))
  const { appId, composeHash } = await call<{ appId: string; composeHash: string }>(
    `${file.hostUrl}/v1/apps`,
    post({ compose: compose.toString('base64') }),
  )
  say(`✓ app ${appId} registered in RegentAppAuth; compose hash ${composeHash.slice(0, 18)}… approved`)

  const cvm = await call<CvmRecord>(
    `${file.hostUrl}/v1/cvms`,
    post({
      compose: compose.toString('base64'),
      bundle,
      appId,
      env: {
        REGENT_CHAIN_ID: String(file.chainId),
        REGENT_CONTRACTS: JSON.stringify(file.contracts),
        REGENT_AGENT_NAME: 'regent-example-agent',
      },
    }),
  )
  say(`✓ CVM ${cvm.cvmId} booted: keys from the KMS after attestation; agent at ${cvm.appUrl}`)

  // The agent registers itself and becomes canonical as it boots; wait (bounded) for it to serve.
  const deadline = Date.now() + 60_000
  let health: { agentId: string; wallet: string } | undefined
  while (!health) {
    health = await fetch(`${cvm.appUrl}/health`).then(
      (r) => (r.ok ? (r.json() as Promise<{ agentId: string; wallet: string }>) : undefined),
      () => undefined,
    )
    if (health) break
    const status = await call<CvmRecord>(`${file.hostUrl}/v1/cvms/${cvm.cvmId}`)
    if (status.status !== 'running' || Date.now() > deadline) {
      const logs = await fetch(`${file.hostUrl}/v1/cvms/${cvm.cvmId}/logs?tail=20`).then((r) => r.text())
      throw new Error(`the agent did not start (${status.status}):\n${logs}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  say(`✓ agent ${health.agentId} registered in ERC-8004, wallet ${health.wallet}, canonical in RegentSuccession`)

  await call(`${cvm.appUrl}/remember`, post({ user: 'ana', text: 'I sail on Sundays and love old wooden boats' }))
  const cp = await call<{ stateRoot: string; seq: string }>(`${cvm.appUrl}/checkpoint`, post({}))
  say(`✓ agent learned from a request and committed state root ${cp.stateRoot.slice(0, 18)}… (seq ${cp.seq}) on-chain`)

  const chain = defineChain({
    id: file.chainId,
    name: 'devnet',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [file.rpcUrl] } },
  })
  const client = createPublicClient({ chain, transport: http(file.rpcUrl) })
  const collateral = Collateral.parse(await (await fetch(file.collateralUrl)).text())
  const result = await verifyInstance({
    url: cvm.appUrl,
    contracts: file.contracts,
    client,
    collateral,
    trustedRoots: [createTrustedRoot({ name: 'devnet', pem: file.rootCa })],
    now: new Date(),
    id: cvm.cvmId,
  })
  const b = result.bundle
  say('\nIdentity bundle (verified from the outside with a fresh nonce):')
  if (b) {
    for (const [k, v] of Object.entries({
      agentRegistry: b.agentRegistry,
      agentId: b.agentId,
      wallet: b.wallet,
      appId: b.appId,
      instanceId: b.instanceId,
      composeHash: b.composeHash,
      osImageHash: b.osImageHash,
      stateRoot: `${b.stateRoot} (seq ${b.stateSeq})`,
      epoch: b.epoch,
    }))
      say(`  ${k.padEnd(14)} ${v}`)
  }
  const e = result.evaluation
  say(
    `\nIdentity function: (a) key ${mark(e.holds.a)}  (b) latest state ${mark(e.holds.b)}  (c) approved code ${mark(e.holds.c)}  (d) canonical ${mark(e.holds.d)}`,
  )
  say(`Security score: ${e.score}/100`)
  for (const item of e.breakdown)
    say(`  ${item.factor.padEnd(20)} ${String(item.points).padStart(4)} / ${String(item.max).padEnd(3)} ${item.why}`)
  for (const f of e.failures) say(`  ✗ ${f}`)
  for (const r of result.reasons) say(`  ✗ ${r.code}: ${r.message}`)
  say(
    `\n${e.isAgent ? '✓' : '✗'} done in ${((performance.now() - t0) / 1000).toFixed(1)} s. ${stopAtEnd ? '' : `The devnet keeps running: \`npx regent dev down --dir ${dir}\` stops it.`}`,
  )
  if (!e.isAgent) process.exitCode = 1
} catch (error) {
  process.stderr.write(`npm start failed: ${(error as Error).message}\n`)
  process.exitCode = 1
} finally {
  if (stopAtEnd) await down({ dir })
}

function mark(ok: boolean): string {
  return ok ? '✓' : '✗'
}
