/**
 * `npm run check:auth-eth -- --auth-eth <dir>`: dstack's own KMS auth webhook (`kms/auth-eth` of Dstack-TEE/dstack,
 * TypeScript, unmodified) and Regent's (`@regent-tee/kms` BootAuthWebhook) side by side against ONE RegentAppAuth on
 * a fresh local anvil; every step of `bootAuthScenario.ts` (timelocks, removal, TCB, KMS onboarding, hex forms,
 * malformed bodies) is asked of both, and every answer (HTTP status, isAllowed, reason, gatewayAppId) must agree,
 * as must `GET /` (chain id, gateway app id, app implementation). Prints a table and one JSON summary line; exit 0
 * when they agree, 1 when they do not, 2 for usage errors.
 *
 * `<dir>` is a local copy of `dstack/kms/auth-eth` (from a dstack checkout) whose dependencies are installed
 * (`npm ci --omit=dev` there). It is run as shipped (`src/main.ts` under tsx, loopback only, env `ETH_RPC_URL`,
 * `KMS_CONTRACT_ADDR`, `HOST`, `PORT`); nothing of it lives in this repository. docs/targets/dstack.md records the
 * dstack commit last checked.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { anvilMnemonic, deployContract, regentAppAuthAbi, regentAppAuthBytecode, startAnvil } from '@regent-tee/contracts'
import { spawnGuarded } from '@regent-tee/core'
import { createPublicClient, createTestClient, createWalletClient, defineChain, http, type PublicClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { startBootAuthWebhook } from '../src/BootAuthWebhook.js'
import { type Ask, disagreements, kmsTimelock, runBootAuthScenario } from './bootAuthScenario.js'

const args = process.argv.slice(2)
const flag = args.indexOf('--auth-eth')
const dir = resolve(flag >= 0 ? (args[flag + 1] ?? '') : (process.env.DSTACK_AUTH_ETH_DIR ?? ''))
if (!existsSync(join(dir, 'src', 'server.ts')) || !existsSync(join(dir, 'node_modules', 'fastify'))) {
  console.error('usage: npm run check:auth-eth -- --auth-eth <dstack/kms/auth-eth with its dependencies installed (npm ci --omit=dev)>')
  process.exit(2)
}

const freePort = () =>
  new Promise<number>((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => res(port))
    })
  })

const anvil = await startAnvil()
const chain = defineChain({
  id: anvil.chainId,
  name: 'anvil',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [anvil.rpcUrl] } },
})
const transport = http(anvil.rpcUrl)
const client = createPublicClient({ chain, transport }) as PublicClient
const [governance, appOwner] = [0, 1].map((i) =>
  createWalletClient({ account: mnemonicToAccount(anvilMnemonic, { addressIndex: i }), chain, transport }),
) as unknown as [ReturnType<typeof createWalletClient>, ReturnType<typeof createWalletClient>]
const { address: appAuth } = await deployContract(governance as never, client, {
  name: 'RegentAppAuth',
  abi: regentAppAuthAbi,
  bytecode: regentAppAuthBytecode,
  args: [kmsTimelock],
})

const ours = await startBootAuthWebhook({ client, appAuth, rpcUrl: anvil.rpcUrl })
const port = await freePort()
const tsx = join(createRequire(import.meta.url).resolve('tsx/package.json'), '..', 'dist', 'cli.mjs')
const authEth = spawnGuarded(process.execPath, [tsx, 'src/main.ts'], {
  cwd: dir,
  env: { PATH: process.env.PATH ?? '', ETH_RPC_URL: anvil.rpcUrl, KMS_CONTRACT_ADDR: appAuth, HOST: '127.0.0.1', PORT: String(port) },
})
const theirsUrl = `http://127.0.0.1:${port}`
await new Promise<void>((res, rej) => {
  let seen = ''
  const timer = setTimeout(() => rej(new Error(`auth-eth did not listen within 60 s:\n${seen}`)), 60_000)
  authEth.child.stdout.on('data', (c: Buffer) => {
    seen += c.toString()
    if (seen.includes('Server listening on')) {
      clearTimeout(timer)
      res()
    }
  })
  authEth.child.stderr.on('data', (c: Buffer) => {
    seen += c.toString()
  })
  void authEth.exited.then((code) => rej(new Error(`auth-eth exited (${code}) before listening:\n${seen}`)))
})

const asker =
  (url: string): Ask =>
  async (kind, body) => {
    const res = await fetch(`${url}/bootAuth/${kind}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: await res.json().catch(() => undefined) }
  }

let code = 0
try {
  const rows = await runBootAuthScenario(
    {
      client,
      testClient: createTestClient({ chain, transport, mode: 'anvil' }) as never,
      appAuth,
      governance: governance as never,
      appOwner: appOwner as never,
    },
    { 'dstack auth-eth': asker(theirsUrl), regent: asker(ours.url) },
  )
  for (const row of rows) {
    const a = Object.values(row.answers)
    const same = a.every((x) => JSON.stringify(x) === JSON.stringify(a[0]))
    const shown = a[0] as { status: number; isAllowed: unknown; reason: unknown }
    console.log(`${same ? '=' : '≠'} ${row.step} | ${row.kind} | ${row.facts} | ${shown.status} ${shown.isAllowed} "${shown.reason}"`)
    if (!same) console.log(`    ${JSON.stringify(row.answers)}`)
  }
  const [theirInfo, ourInfo] = (await Promise.all(
    [fetch(`${theirsUrl}/`), fetch(`${ours.url}/`)].map(async (r) => (await r).json()),
  )) as Record<string, unknown>[]
  const keys = ['status', 'kmsContractAddr', 'gatewayAppId', 'chainId', 'appImplementation', 'appAuthImplementation', 'ethRpcUrl'] as const
  const infoDiff = keys.filter((k) => String(theirInfo?.[k]).toLowerCase() !== String(ourInfo?.[k]).toLowerCase())
  const differ = disagreements(rows)
  console.log(
    `${infoDiff.length === 0 ? '=' : '≠'} GET / | ${JSON.stringify(ourInfo)}${infoDiff.length ? ` vs ${JSON.stringify(theirInfo)}` : ''}`,
  )
  code = differ.length === 0 && infoDiff.length === 0 ? 0 : 1
  console.log(
    JSON.stringify({
      ok: code === 0,
      questions: rows.length,
      disagreements: differ.length,
      infoDifferences: infoDiff,
      chainId: anvil.chainId,
      appAuth,
    }),
  )
} finally {
  await authEth.stop()
  await ours.close()
  await anvil.stop()
}
process.exit(code)
