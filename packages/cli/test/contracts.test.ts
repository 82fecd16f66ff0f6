/**
 * `regent contracts deploy --rpc-url` through the real binary against two standalone anvils that share chain id 84532
 * (not the devnet's): deploy once and record deployments/84532.json, a rerun sends nothing, the other chain with the
 * same id is refused (block hash) until --replace; the deployer key comes only from the environment.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Anvil, regentAppAuthAbi, startAnvil } from '@regent-tee/contracts'
import { createPublicClient, http } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

// anvil's first public test key (never real funds).
const deployerKey = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
let root: string
let a: Anvil
let b: Anvil

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-contracts-'))
  ;[a, b] = await Promise.all([startAnvil({ chainId: 84532 }), startAnvil({ chainId: 84532 })])
})
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  await rm(root, { recursive: true, force: true })
})

const deploy = (rpcUrl: string, extra: string[] = [], env: Record<string, string> = { REGENT_DEPLOYER_KEY: deployerKey }) =>
  regent(['contracts', 'deploy', '--rpc-url', rpcUrl, '--dir', root, '--kms-timelock', '60', '--json', ...extra], { env })

describe('regent contracts deploy', () => {
  test('default: deploys once, records addresses + deployment block + its hash; a rerun sends nothing', async () => {
    await createPublicClient({ transport: http(a.rpcUrl) }).request({ method: 'anvil_mine' as never, params: ['0x20'] as never })
    const first = await deploy(a.rpcUrl)
    expect(first.code).toBe(0)
    const out = JSON.parse(first.stdout) as {
      deployed: boolean
      chainId: number
      contracts: Record<string, string>
      deploymentBlock: string
    }
    expect([out.deployed, out.chainId]).toEqual([true, 84532])
    expect(BigInt(out.deploymentBlock)).toBeGreaterThan(32n) // not block 0: the chain had history
    const file = JSON.parse(await readFile(join(root, 'deployments', '84532.json'), 'utf8'))
    const client = createPublicClient({ transport: http(a.rpcUrl) })
    expect(file.deploymentBlockHash).toBe((await client.getBlock({ blockNumber: BigInt(file.deploymentBlock) })).hash)
    expect(await client.readContract({ address: file.contracts.appAuth, abi: regentAppAuthAbi, functionName: 'kmsTimelock' })).toBe(60n)
    expect(JSON.stringify(file)).not.toContain(deployerKey.slice(2))
    const again = await deploy(a.rpcUrl)
    expect([again.code, JSON.parse(again.stdout).deployed]).toEqual([0, false])
  })

  test('behavior: another chain with the same id is refused by block hash, then --replace deploys there', async () => {
    // b has as many blocks as a: the recorded block exists there, with another hash.
    await createPublicClient({ transport: http(b.rpcUrl) }).request({ method: 'anvil_mine' as never, params: ['0x40'] as never })
    const refused = await deploy(b.rpcUrl)
    expect(refused.code).toBe(1)
    const error = JSON.parse(refused.stdout).error as { code: string; message: string }
    expect(error.code).toBe('chain.mismatch')
    expect(error.message).toMatch(
      /^chain 84532 at http:\/\/127\.0\.0\.1:\d+ is not the chain the deployment was made on: block \d+ is 0x[0-9a-f]{64}, recorded 0x[0-9a-f]{64}$/,
    )
    const replaced = await deploy(b.rpcUrl, ['--replace'])
    expect([replaced.code, JSON.parse(replaced.stdout).deployed]).toEqual([0, true])
  })

  test('bad input: no key, a malformed key (never echoed), no --rpc-url; exit 2 and nothing written', async () => {
    const empty = join(root, 'empty')
    const run = (key: string) =>
      regent(['contracts', 'deploy', '--rpc-url', a.rpcUrl, '--dir', empty, '--json'], { env: { REGENT_DEPLOYER_KEY: key } })
    const missing = await run('')
    expect([missing.code, JSON.parse(missing.stdout).error.code]).toEqual([2, 'deployer.missing'])
    const secretish = '0x1234abcd'
    const malformed = await run(secretish)
    expect([malformed.code, JSON.parse(malformed.stdout).error.code]).toEqual([2, 'deployer.invalid'])
    expect(malformed.stdout + malformed.stderr).not.toContain(secretish)
    await expect(readFile(join(empty, 'deployments', '84532.json'))).rejects.toThrow()
    const noUrl = await regent(['contracts', 'deploy', '--dir', empty, '--json'])
    expect([noUrl.code, JSON.parse(noUrl.stdout).error.message]).toEqual([2, '--rpc-url <http(s) URL of the chain> is required'])
  })
})
