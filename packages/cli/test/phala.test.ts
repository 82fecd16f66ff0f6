/**
 * `regent deploy --target phala` through the real binary against the devnet's Phala Cloud stand-in (issue 16): the
 * `regent init` agent deployed in both KMS modes and its verified identity printed; a rerun upgrades through the
 * prepared PATCH → 465 → on-chain approval → confirm path (same app id and wallet, new compose hash).
 */
import { appendFile, mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstackKmsAbi, regentAppAuthAbi } from '@regent-tee/contracts'
import { type Address, createPublicClient, http } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent, repoRoot } from './cli.js'

/** The agents' operator (anvil's public key #5: its address goes into the measured compose). */
const operatorKey = '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba'
let root: string
let devnet: string
let env: Record<string, string>
let file: { rpcUrl: string; contracts: { appAuth: Address }; dstackKms: Address; phalaApiUrl: string; phalaApiKey: string }

async function project(name: string): Promise<string> {
  const dir = join(root, name)
  expect((await regent(['init', dir, '--name', name, '--json'])).code).toBe(0)
  await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'))
  return dir
}
const deploy = (dir: string, ...extra: string[]) =>
  regent(['deploy', '--target', 'phala', '--dir', dir, '--devnet-dir', devnet, '--json', ...extra], { env })

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-phala-'))
  devnet = join(root, 'devnet')
  const up = await regent(['dev', 'up', '--dir', devnet, '--json'])
  expect(up.code).toBe(0)
  file = JSON.parse(await readFile(join(devnet, 'devnet.json'), 'utf8'))
  env = { PHALA_CLOUD_API_PREFIX: file.phalaApiUrl, PHALA_CLOUD_API_KEY: file.phalaApiKey, REGENT_OPERATOR_KEY: operatorKey }
}, 180_000)
afterAll(async () => {
  await regent(['dev', 'down', '--dir', devnet])
  await rm(root, { recursive: true, force: true })
})

describe('regent deploy --target phala', () => {
  test('behavior: without PHALA_CLOUD_API_KEY it exits 2 and says what to set', async () => {
    const r = await regent(['deploy', '--target', 'phala', '--dir', root, '--devnet-dir', devnet], { env: { PHALA_CLOUD_API_KEY: '' } })
    expect(r.code).toBe(2)
  })

  test('default: central KMS — deploys, verifies, prints the identity; a rerun upgrades through the 465 path', async () => {
    const dir = await project('phala-central')
    const r = await deploy(dir)
    expect(r.code, r.stderr).toBe(0)
    const d = JSON.parse(r.stdout)
    expect(d).toMatchObject({
      target: 'phala',
      kms: 'phala',
      upgrade: false,
      attestation: { hardware: 'devnet' },
      keyProvenance: { verified: true },
    })
    expect(d.wallet).toMatch(/^0x[0-9a-fA-F]{40}$/)
    const client = createPublicClient({ transport: http(file.rpcUrl) })
    const read = (functionName: string, args: readonly unknown[]) =>
      client.readContract({ address: file.contracts.appAuth, abi: regentAppAuthAbi, functionName, args } as never)
    expect(await read('isComposeHashApproved', [d.appId, d.composeHash])).toBe(true)

    await appendFile(join(dir, 'src', 'main.ts'), '\n// v2\n')
    const again = await deploy(dir)
    expect(again.code, again.stderr).toBe(0)
    const u = JSON.parse(again.stdout)
    expect(u).toMatchObject({ upgrade: true, appId: d.appId, wallet: d.wallet, agentId: d.agentId, cvmId: d.cvmId })
    expect(u.composeHash).not.toBe(d.composeHash)
    expect(await read('isComposeHashApproved', [d.appId, u.composeHash])).toBe(true)

    // regent uplift --target phala: the agent moves to a new instance of its Phala app, with its key (option A).
    const moved = await regent(['uplift', '--agent', u.url, '--target', 'phala', '--dir', dir, '--devnet-dir', devnet, '--json'], { env })
    expect(moved.code, moved.stdout + moved.stderr).toBe(0)
    expect(moved.stdout + moved.stderr).not.toContain(operatorKey.slice(2))
    const m = JSON.parse(moved.stdout)
    expect(m).toMatchObject({ state: 'done', key: 'import', sameWallet: true, appId: d.appId, target: { provider: 'phala' } })
    expect(m.target.id).not.toBe(d.cvmId)
    expect(m.target.url).not.toBe(u.url)
    expect(m.verification).toMatchObject({ served: false, matches: true })
    const { readCanonical } = await import('@regent-tee/sdk/chain')
    const now = await readCanonical(client, { contracts: file.contracts as never, agentId: BigInt(d.agentId) })
    expect([now.instance.host, now.instance.signer.toLowerCase(), String(now.epoch)]).toEqual([
      m.target.url,
      d.wallet.toLowerCase(),
      m.result.epoch,
    ])
  }, 420_000)

  test("default: on-chain KMS — a RegentDstackApp in dstack's DstackKms gates the boot", async () => {
    const dir = await project('phala-onchain')
    const r = await deploy(dir, '--kms', 'onchain')
    expect(r.code, r.stderr).toBe(0)
    const d = JSON.parse(r.stdout)
    expect(d).toMatchObject({ kms: 'onchain', attestation: { hardware: 'devnet' }, keyProvenance: { verified: true } })
    const client = createPublicClient({ transport: http(file.rpcUrl) })
    expect(await client.readContract({ address: file.dstackKms, abi: dstackKmsAbi, functionName: 'registeredApps', args: [d.appId] })).toBe(
      true,
    )
    const human = await regent(['deploy', '--target', 'phala', '--dir', dir, '--devnet-dir', devnet], { env })
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toContain('deployed to Phala Cloud (upgraded in place')
  }, 300_000)
})
