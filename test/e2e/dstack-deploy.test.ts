/**
 * `regent deploy --target dstack` end to end (issue 15), through the real binary, with nothing on the devnet's chain:
 *
 * - a STANDALONE anvil (chain id 84532, 1 s blocks, some history) that the devnet does not own, behind a proxy that
 *   refuses `eth_getLogs` ranges over 100 blocks as public RPCs do;
 * - `regent contracts deploy --rpc-url <proxy>` there (deployments/84532.json), a regent.json network naming it;
 * - the devnet's dstack-vmm API (`vmmUrl`, bearer `vmmToken`) as the host: the bundle is pushed to its store, the
 *   compose pins it by digest, the env (chain, contracts, RPC) is encrypted to the app's env key;
 * - the agent boots in the CVM, registers in ERC-8004 and becomes canonical ON THE STANDALONE CHAIN, its log scans
 *   bounded by the proxy; a second deploy upgrades in place and stops the first VM; a wrong token is refused.
 */
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Anvil, regentAppAuthAbi, startAnvil } from '@regent-tee/contracts'
import { readCanonical } from '@regent-tee/sdk/chain'
import { type RangeLimitedRpc, startRangeLimitedRpc } from '@regent-tee/testing/rpc-proxy'
import { createPublicClient, type Hex, http } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent, repoRoot } from '../../packages/cli/test/cli.js'

// anvil's public test keys (never real funds): 0 deploys the contracts, 1 owns the app.
const governanceKey = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const ownerKey = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
/** The agent's operator (its address goes into the measured compose; it signs the uplift's admin requests). */
const operatorKey = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'
let deployed: { url: string; agentId: string; wallet: string; appId: string } | undefined

let root: string
let project: string
let devnet: string
let chain: Anvil
let proxy: RangeLimitedRpc
let vmm: { vmmUrl: string; vmmToken: string; rpcUrl: string; chainId: number; contracts: { appAuth: Hex } }

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-dstack-e2e-'))
  project = join(root, 'agent')
  devnet = join(root, 'devnet')
  // What `npm install` gives a project: its dependencies beside it (the bundle carries them into the CVM).
  await symlink(join(repoRoot, 'node_modules'), join(root, 'node_modules'))
  chain = await startAnvil({ chainId: 84532, blockTime: 1 })
  await createPublicClient({ transport: http(chain.rpcUrl) }).request({ method: 'anvil_mine' as never, params: ['0x12c'] as never })
  proxy = await startRangeLimitedRpc({ upstream: chain.rpcUrl, maxRange: 100n })
  const init = await regent(['init', project, '--name', 'dstack-e2e-agent', '--json'])
  expect(init.code).toBe(0)
  // The agent reads its chain from REGENT_RPC_URL, which the template's compose allows in the encrypted env.
  const up = await regent(['dev', 'up', '--dir', devnet, '--kms-nodes', '0', '--json'])
  expect(up.code).toBe(0)
  vmm = JSON.parse(up.stdout)
}, 180_000)

afterAll(async () => {
  await regent(['dev', 'down', '--dir', devnet])
  await proxy?.close()
  await chain?.stop()
  await rm(root, { recursive: true, force: true })
})

const deploy = (extra: string[] = [], env: Record<string, string> = {}) =>
  regent(
    [
      'deploy',
      '--target',
      'dstack',
      '--vmm-url',
      vmm.vmmUrl,
      '--network',
      'sepolia-local',
      '--dir',
      project,
      '--devnet-dir',
      devnet,
      '--json',
      ...extra,
    ],
    {
      env: { REGENT_DEPLOYER_KEY: ownerKey, REGENT_OPERATOR_KEY: operatorKey, REGENT_DSTACK_TOKEN: vmm.vmmToken, ...env },
    },
  )

describe('regent deploy --target dstack (devnet VMM, standalone chain 84532)', () => {
  test('default: contracts on the standalone chain, then the agent deployed through the VMM API and canonical there', async () => {
    expect(vmm.chainId).toBe(31337)
    const contracts = await regent(['contracts', 'deploy', '--rpc-url', proxy.url, '--dir', project, '--kms-timelock', '0', '--json'], {
      env: { REGENT_DEPLOYER_KEY: governanceKey },
    })
    expect(contracts.code).toBe(0)
    const deployment = JSON.parse(await readFile(join(project, 'deployments', '84532.json'), 'utf8'))
    expect(BigInt(deployment.deploymentBlock)).toBeGreaterThan(300n)
    const config = JSON.parse(await readFile(join(project, 'regent.json'), 'utf8'))
    config.networks = { 'sepolia-local': { chainId: 84532, rpcUrl: proxy.url, deployment: 'deployments/84532.json' } }
    await writeFile(join(project, 'regent.json'), `${JSON.stringify(config, null, 2)}\n`)

    const first = await deploy()
    expect(first.code, first.stderr).toBe(0)
    const steps = first.stderr.split('\n').filter((l) => l.startsWith('✔ '))
    expect(steps.map((l) => l.split(':')[0])).toEqual(['✔ build', '✔ contracts', '✔ tee', '✔ wallet', '✔ erc-8004'])
    const d = JSON.parse(first.stdout)
    expect([d.target, d.chainId, d.network, d.upgrade]).toEqual(['dstack', 84532, 'sepolia-local', false])
    expect(d.image).toMatch(/^dstack-e2e-agent@sha256:[0-9a-f]{64}$/)
    expect(d.keyProvenance.verified).toBe(true)

    // On the standalone chain: the compose hash approved for the app, the agent canonical with this instance.
    const client = createPublicClient({ transport: http(chain.rpcUrl) })
    expect(
      await client.readContract({
        address: deployment.contracts.appAuth,
        abi: regentAppAuthAbi,
        functionName: 'isComposeHashApproved',
        args: [d.appId, d.composeHash],
      }),
    ).toBe(true)
    const canonical = await readCanonical(client, { contracts: deployment.contracts, agentId: BigInt(d.agentId) })
    expect(canonical.epoch).toBeGreaterThan(0n)
    expect(canonical.instance.signer.toLowerCase()).toBe(d.wallet.toLowerCase())
    // Not on the devnet's chain: its RegentAppAuth does not know this app.
    const devnetClient = createPublicClient({ transport: http(vmm.rpcUrl) })
    expect(
      await devnetClient.readContract({
        address: vmm.contracts.appAuth,
        abi: regentAppAuthAbi,
        functionName: 'isRegistered',
        args: [d.appId],
      }),
    ).toBe(false)

    // The VM through the VMM API: its app id is the RegentAppAuth app id, its compose hash ours.
    const info = await fetch(`${vmm.vmmUrl}/prpc/GetInfo?json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${vmm.vmmToken}` },
      body: JSON.stringify({ id: d.vmId }),
    }).then(
      (r) => r.json() as Promise<{ found: boolean; info: { app_id: string; status: string; configuration: { compose_file: string } } }>,
    )
    expect([info.found, info.info.status, `0x${info.info.app_id}`]).toEqual([true, 'running', d.appId.toLowerCase()])
    const { createHash } = await import('node:crypto')
    expect(`0x${createHash('sha256').update(info.info.configuration.compose_file).digest('hex')}`).toBe(d.composeHash)

    // Every eth_getLogs that reached the chain was bounded (the agent's own scans included); wide ones were refused.
    expect(proxy.getLogs.filter((g) => !g.refused).every((g) => g.to - g.from + 1n <= 100n)).toBe(true)
    expect(proxy.getLogs.some((g) => g.refused)).toBe(true)

    // A second deploy of the same project on the same chain upgrades in place and stops the first VM.
    const second = await deploy()
    expect(second.code, second.stderr).toBe(0)
    const e = JSON.parse(second.stdout)
    expect([e.upgrade, e.appId, e.wallet, e.previous]).toEqual([true, d.appId, d.wallet, { vmId: d.vmId, stopped: true }])
    deployed = e
  }, 300_000)

  test('default: regent uplift --target dstack --dir --network moves the agent to a new VM of its project on the standalone chain', async () => {
    const e = deployed
    if (!e) throw new Error('the deploy test did not leave an agent')
    const r = await regent(
      [
        'uplift',
        '--agent',
        e.url,
        '--target',
        'dstack',
        '--vmm-url',
        vmm.vmmUrl,
        '--dir',
        project,
        '--network',
        'sepolia-local',
        '--devnet-dir',
        devnet,
        '--key',
        'import',
        '--json',
      ],
      { env: { REGENT_OPERATOR_KEY: operatorKey, REGENT_DEPLOYER_KEY: ownerKey, REGENT_DSTACK_TOKEN: vmm.vmmToken } },
    )
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout + r.stderr).not.toContain(operatorKey.slice(2))
    const u = JSON.parse(r.stdout)
    expect(u).toMatchObject({ state: 'done', key: 'import', sameWallet: true, appId: e.appId, target: { provider: 'dstack' } })
    expect(u.verification).toMatchObject({ served: false, matches: true })
    // RegentSuccession on the standalone chain names the new VM, one epoch on, with the same wallet.
    const client = createPublicClient({ transport: http(chain.rpcUrl) })
    const deployment = JSON.parse(await readFile(join(project, 'deployments', '84532.json'), 'utf8'))
    const now = await readCanonical(client, { contracts: deployment.contracts, agentId: BigInt(e.agentId) })
    expect([now.instance.host, now.instance.signer.toLowerCase(), String(now.epoch)]).toEqual([
      u.target.url,
      e.wallet.toLowerCase(),
      u.result.epoch,
    ])
    expect(((await (await fetch(`${e.url}/health`)).json()) as { role: string }).role).toBe('demoted')
  }, 300_000)

  test('bad input: a wrong VMM token is refused (exit 1) and nothing is launched', async () => {
    const before = await fetch(`${vmm.vmmUrl}/prpc/Status?json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${vmm.vmmToken}` },
      body: '{}',
    }).then((r) => r.json() as Promise<{ total: number }>)
    const r = await deploy([], { REGENT_DSTACK_TOKEN: 'not-the-token' })
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout).error.code).toBe('dstack.unauthorized')
    expect(r.stdout + r.stderr).not.toContain(ownerKey.slice(2))
    const after = await fetch(`${vmm.vmmUrl}/prpc/Status?json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${vmm.vmmToken}` },
      body: '{}',
    }).then((r) => r.json() as Promise<{ total: number }>)
    expect(after.total).toBe(before.total)
  }, 120_000)
})
