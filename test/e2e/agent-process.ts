/**
 * The example agent as a real process in the wild (REGENT_RUNTIME=wild: its key in an encrypted keystore in its
 * data directory, no TEE), for the process-level uplift tests: spawn, read its stdout line by line, SIGKILL it,
 * start it again on the same data directory and port. Also the devnet target CVM and the admin API calls.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { agentTreasuryAbi } from '@regent-tee/contracts'
import { type Guarded, spawnGuarded } from '@regent-tee/core'
import { type Devnet, startDevnet } from '@regent-tee/devnet'
import { createAdminClient } from '@regent-tee/sdk/uplift'
import { agentDir, agentEntry, devnetSettings, exampleAgentApp, wildComposeBytes } from '@regent-tee/testing/example-agent'
import { createPublicClient, createWalletClient, type Hex, http, keccak256, toBytes } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll } from 'vitest'
import { devnetChain } from './uplift-fixture.js'

/** The agents' operator in these tests: its key signs their admin requests (only signatures reach them). */
export const operatorKey = generatePrivateKey()
export const operator = privateKeyToAccount(operatorKey)

export type WildProcess = {
  readonly url: string
  readonly dataDir: string
  readonly process: Guarded
  /** Resolves with the first stdout line (already written or to come) that satisfies `match`; rejects on exit. */
  line(match: (line: string) => boolean, timeoutMs?: number): Promise<string>
  /** Every stdout line so far. */
  readonly lines: string[]
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  await new Promise((r) => server.close(r))
  return port
}

export type WildOptions = { name: string; appId: Hex; dataDir?: string; port?: number; env?: Record<string, string> }

/** Spawns the example agent in the wild and waits for its `ready` line. */
export async function startWild(devnet: Devnet, root: string, options: WildOptions): Promise<WildProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(root, 'wild-')))
  const port = options.port ?? (await freePort())
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: String(port),
    REGENT_RUNTIME: 'wild',
    REGENT_AGENT_NAME: options.name,
    REGENT_APP_ID: options.appId,
    REGENT_KEYSTORE_PASSWORD: 'e2e keystore password',
    REGENT_RPC_URL: devnet.file.rpcUrl,
    REGENT_CHAIN_ID: String(devnet.file.chainId),
    REGENT_CONTRACTS: JSON.stringify(devnet.file.contracts),
    REGENT_FAUCET_URL: `${devnet.file.hostUrl}/v1/faucet`,
    REGENT_DATA_DIR: dataDir,
    REGENT_OPERATOR: operator.address,
    REGENT_COLLATERAL_URL: devnet.file.collateralUrl,
    REGENT_TRUSTED_ROOT_PEM: devnet.file.rootCa,
    ...options.env,
  }
  const p = spawnGuarded(process.execPath, [agentEntry], { cwd: agentDir, env })
  const lines: string[] = []
  const listeners = new Set<(line: string) => void>()
  let partial = ''
  let stderr = ''
  p.child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8')
  })
  p.child.stdout.on('data', (c: Buffer) => {
    const parts = (partial + c.toString('utf8')).split('\n')
    partial = parts.pop() ?? ''
    for (const l of parts) {
      lines.push(l)
      for (const f of listeners) f(l)
    }
  })
  const wild: WildProcess = {
    url: `http://127.0.0.1:${port}`,
    dataDir,
    process: p,
    lines,
    line(match, timeoutMs = 60_000) {
      return new Promise<string>((resolve, reject) => {
        const earlier = lines.find(match)
        if (earlier !== undefined) return resolve(earlier)
        const done = () => {
          clearTimeout(timer)
          listeners.delete(on)
        }
        const on = (l: string) => {
          if (!match(l)) return
          done()
          resolve(l)
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`no such line within ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`))
        }, timeoutMs)
        listeners.add(on)
        void p.exited.then((code) => {
          if (!listeners.has(on)) return
          done()
          reject(new Error(`the agent exited (${code}) first; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`))
        })
      })
    },
  }
  await wild.line((l) => l.startsWith('ready '))
  return wild
}

/** An `uplift {…}` status line in a given state. */
export const upliftLine = (state: 'running' | 'failed' | 'done') => (l: string) => l.startsWith(`uplift {"state":"${state}"`)

/** Calls the agent's admin API (`/admin/<path>`), signed by the operator. */
export async function admin(url: string, path: string, body?: unknown) {
  return signed(url, `/admin/${path}`, body)
}

/** A request to one of the agent's routes, signed by the operator (the admin scheme). */
export async function signed(url: string, path: string, body?: unknown) {
  const r = await createAdminClient({ url, operator }).request<Record<string, unknown>>(body === undefined ? 'GET' : 'POST', path, body)
  if (r.ok) return { status: r.status, body: r.data as Record<string, unknown> & { error?: { code: string; message: string } } }
  const { status, code, message, decision } = r.refusal
  return {
    status,
    body: { error: { code, message }, ...(decision ? { decision } : {}) } as Record<string, unknown> & {
      error?: { code: string; message: string }
    },
  }
}

/** JSON GET/POST on the agent's public API. */
export async function call(url: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

/** The example agent's compose bytes (the target's measured app). */
export { wildComposeBytes }
export const randomName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`

/** Deposits `wei` into the agent's treasury from a fresh account the devnet faucet funds. */
export async function deposit(devnet: Devnet, agentId: bigint, wei: bigint): Promise<void> {
  const chain = devnetChain(devnet)
  const transport = http(devnet.file.rpcUrl)
  const funder = createWalletClient({ account: privateKeyToAccount(generatePrivateKey()), chain, transport })
  await devnet.host.fund(funder.account.address, wei + 10n ** 17n)
  const hash = await funder.writeContract({
    address: devnet.file.contracts.treasury,
    abi: agentTreasuryAbi,
    functionName: 'deposit',
    args: [agentId],
    value: wei,
  })
  await createPublicClient({ chain, transport }).waitForTransactionReceipt({ hash })
}

/** What {@link useAgentDevnet} sets up (filled in by its beforeAll). */
export type AgentDevnet = { devnet: Devnet; dir: string; appId: Hex; compose: Uint8Array; wilds: WildProcess[] }

/**
 * A test file's devnet (one KMS node, in a temp dir) with the example agent's compose and the wild agent's approved
 * under one app; afterwards every wild process in `wilds` and the devnet are stopped.
 */
export function useAgentDevnet(label: string): AgentDevnet {
  const env = { wilds: [] } as unknown as AgentDevnet
  beforeAll(async () => {
    env.dir = await mkdtemp(join(tmpdir(), `regent-${label}-`))
    env.devnet = await startDevnet({ dir: env.dir, kmsNodes: 1 })
    env.compose = (await exampleAgentApp(env.devnet.host.bundles.dir, devnetSettings(env.devnet, operator.address))).compose
    const salt = keccak256(toBytes(`regent e2e: ${label}`))
    env.appId = (await env.devnet.approveApp({ compose: env.compose, salt })).appId
    const wild = await env.devnet.approveApp({ compose: await wildComposeBytes(), salt })
    if (wild.appId !== env.appId) throw new Error('the two approvals landed in different apps')
  })
  afterAll(async () => {
    await Promise.all(env.wilds.map((w) => w.process.stop()))
    await env.devnet?.stop()
  })
  return env
}
