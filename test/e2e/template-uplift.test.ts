/**
 * Every agent can uplift (issue 14): the `regent init` template, deployed with `regent deploy --target local`, moves
 * to another devnet CVM of its own project with `regent uplift --agent <url> --target local --dir <project>`, keeping
 * its ERC-8004 id, wallet and notes, through the real binary. Key option B (rotate) has nothing to rotate to between
 * CVMs of one app (the KMS derives one key per app): it is refused before anything moves (`rotate.same_key`).
 */
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readCanonical } from '@regent-tee/sdk/chain'
import { type Address, createPublicClient, http } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent, repoRoot } from '../../packages/cli/test/cli.js'

/** The agent's operator (anvil's public key #6: its address goes into the measured compose). */
const operatorKey = '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e'
let root: string
let project: string
let devnet: string
let file: { rpcUrl: string; contracts: { succession: Address; identityRegistry: Address; appAuth: Address; treasury: Address } }
const env = { REGENT_OPERATOR_KEY: operatorKey }

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-template-uplift-'))
  project = join(root, 'agent')
  devnet = join(root, 'devnet')
  expect((await regent(['init', project, '--name', 'template-uplift', '--json'])).code).toBe(0)
  await symlink(join(repoRoot, 'node_modules'), join(project, 'node_modules'))
  expect((await regent(['dev', 'up', '--dir', devnet, '--json'])).code).toBe(0)
  file = JSON.parse(await readFile(join(devnet, 'devnet.json'), 'utf8'))
}, 180_000)
afterAll(async () => {
  await regent(['dev', 'down', '--dir', devnet])
  await rm(root, { recursive: true, force: true })
})

const uplift = (agent: string, key: 'rotate' | 'import') =>
  regent(['uplift', '--agent', agent, '--target', 'local', '--dir', project, '--devnet-dir', devnet, '--key', key, '--json'], { env })

describe('the regent init agent uplifts', () => {
  test('default: deploy, then move twice with its key (import); id, wallet and notes kept; rotate between CVMs of its app is refused first', async () => {
    const deployed = await regent(['deploy', '--dir', project, '--devnet-dir', devnet, '--json'], { env })
    expect(deployed.code, deployed.stderr).toBe(0)
    const d = JSON.parse(deployed.stdout) as { agentId: string; wallet: string; url: string; appId: string }
    const noted = await fetch(`${d.url}/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'remember the harbour' }),
    })
    expect(noted.status).toBe(200)
    const client = createPublicClient({ transport: http(file.rpcUrl) })
    const canonical = () => readCanonical(client, { contracts: file.contracts, agentId: BigInt(d.agentId) })
    const before = await canonical()

    // rotate: the new CVM's own key is the agent's key already — refused before the agent is asked; nothing changes.
    const rotate = await uplift(d.url, 'rotate')
    expect(rotate.code).toBe(1)
    const refusal = JSON.parse(rotate.stdout).error as { code: string; message: string }
    expect(refusal.code).toBe('rotate.same_key')
    expect(refusal.message).toMatch(/stopped$/)
    expect((await canonical()).epoch).toBe(before.epoch)

    const first = await uplift(d.url, 'import')
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(first.stdout + first.stderr).not.toContain(operatorKey.slice(2))
    const f = JSON.parse(first.stdout)
    expect(f).toMatchObject({ state: 'done', key: 'import', sameWallet: true, appId: d.appId, target: { provider: 'devnet' } })
    const afterFirst = await canonical()
    expect([afterFirst.epoch, afterFirst.instance.host, afterFirst.instance.signer.toLowerCase()]).toEqual([
      before.epoch + 1n,
      f.target.url,
      d.wallet.toLowerCase(),
    ])
    expect(((await (await fetch(`${f.target.url}/notes`)).json()) as { notes: string[] }).notes).toContain('remember the harbour')
    expect(((await (await fetch(`${d.url}/health`)).json()) as { role: string }).role).toBe('demoted')

    // TEE → TEE again, from the instance that became the agent.
    const second = await uplift(f.target.url, 'import')
    expect(second.code, second.stdout + second.stderr).toBe(0)
    const g = JSON.parse(second.stdout)
    const afterSecond = await canonical()
    expect([afterSecond.epoch, afterSecond.instance.host]).toEqual([before.epoch + 2n, g.target.url])
    expect(((await (await fetch(`${g.target.url}/notes`)).json()) as { notes: string[] }).notes).toContain('remember the harbour')
  }, 420_000)
})
