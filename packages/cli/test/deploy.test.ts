/**
 * `regent deploy --target local` through the real binary against a real devnet (issue 8): init → deploy →
 * facts checked on-chain → redeploy after an edit (same app id and wallet, new compose hash) → timelock;
 * and the errors: no devnet, bad regent.json, a real target without a Docker engine or an API key.
 */
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { identityRegistryAbi, regentAppAuthAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import { type Address, createPublicClient, type Hex, http } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent, repoRoot } from './cli.js'

let root: string
let project: string
let devnet: string
const deploy = (...extra: string[]) => regent(['deploy', '--dir', project, '--devnet-dir', devnet, ...extra])
const steps = ['build: ', 'contracts: ', 'tee: ', 'wallet: ', 'erc-8004: ']

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-deploy-'))
  project = join(root, 'agent')
  devnet = join(root, 'devnet')
  const init = await regent(['init', project, '--name', 'deploy-test-agent', '--json'])
  expect(init.code).toBe(0)
  // What `npm install` gives a project outside the monorepo: its dependencies next to it.
  await symlink(join(repoRoot, 'node_modules'), join(project, 'node_modules'))
})
afterAll(async () => {
  await regent(['dev', 'down', '--dir', devnet])
  await rm(root, { recursive: true, force: true })
})

describe('regent deploy', () => {
  test('behavior: without a running devnet it exits 1 with a hint', async () => {
    const r = await deploy()
    expect([r.code, r.stdout]).toEqual([1, ''])
    expect(r.stderr).toBe(
      `error: no devnet is running in ${devnet}\nhint: start one with \`regent dev up\` (or point --devnet-dir at its directory)\ndocs: docs/cli/deploy.md\n`,
    )
  })

  test('behavior: the failover flags are checked before anything is built: --standbys goes with local, its key and its own flags', async () => {
    const key = { REGENT_OPERATOR_KEY: `0x${'11'.repeat(32)}` }
    const cases: [string[], Record<string, string>, string][] = [
      [['--k', '1'], key, '--lease-period and --k go with --standbys <n>'],
      [['--standbys', '0'], key, '--standbys takes a whole number from 1 to 16, not "0"'],
      [['--standbys', '1', '--k', '2'], key, '--k takes a whole number from 0 to 1, not "2"'],
      [['--standbys', '1', '--lease-period', '1'], key, '--lease-period takes a whole number from 2 to 86400, not "1"'],
      [
        ['--standbys', '1', '--target', 'dstack'],
        key,
        '--standbys launches standby CVMs on the devnet: it goes with --target local, not dstack, in this version',
      ],
      [
        ['--standbys', '1'],
        { REGENT_OPERATOR_KEY: '' },
        "the agent's admin API needs its operator's signature: REGENT_OPERATOR_KEY is not set",
      ],
    ]
    for (const [flags, env, message] of cases) {
      const r = await regent(['deploy', '--dir', project, '--devnet-dir', devnet, ...flags, '--json'], { env })
      expect([flags.join(' '), r.code, JSON.parse(r.stdout).error.message]).toEqual([flags.join(' '), 2, message])
    }
    expect(await readFile(join(project, '.regent', 'deploy.json')).catch(() => undefined)).toBeUndefined()
  })

  test('behavior: a bad regent.json exits 2 naming the field', async () => {
    const bad = join(root, 'bad')
    await cp(join(project, 'regent.json'), join(bad, 'regent.json'))
    const config = JSON.parse(await readFile(join(bad, 'regent.json'), 'utf8'))
    await writeFile(join(bad, 'regent.json'), JSON.stringify({ ...config, local: { timelock: -5 } }))
    const r = await regent(['deploy', '--dir', bad, '--devnet-dir', devnet, '--json'])
    expect([r.code, JSON.parse(r.stdout)]).toEqual([
      2,
      {
        ok: false,
        error: {
          code: 'config.invalid',
          message: 'invalid regent.json: "local.timelock" must be a whole number of seconds (0 or more)',
          hint: 'fix the field (docs/config.md lists them), or create a project with `regent init`',
        },
      },
    ])
    await writeFile(join(bad, 'regent.json'), JSON.stringify({ ...config, name: 'Bad Name' }))
    const name = await regent(['deploy', '--dir', bad, '--devnet-dir', devnet])
    expect([name.code, name.stderr.split('\n')[0]]).toEqual([
      2,
      'error: invalid regent.json: "name" must be 1–63 lowercase letters, digits and dashes, starting with a letter or digit',
    ])
    const missing = await regent(['deploy', '--dir', root])
    expect([missing.code, missing.stderr.split('\n')[0]]).toEqual([2, `error: no regent.json in ${root}`])
    const flag = await deploy('--timelock', 'soon')
    expect([flag.code, flag.stderr]).toEqual([2, 'error: --timelock takes a whole number of seconds\ndocs: docs/cli/deploy.md\n'])
  })

  test('behavior: --target eigenx without a Docker engine exits 1 with the docker hint; --target phala without an API key exits 2', async () => {
    const env = { DOCKER_HOST: `unix://${join(root, 'no-docker.sock')}`, PHALA_CLOUD_API_KEY: '' }
    const r = await regent(['deploy', '--dir', project, '--target', 'eigenx', '--json'], { env })
    expect([r.code, JSON.parse(r.stdout)]).toEqual([
      1,
      {
        ok: false,
        error: {
          code: 'docker.unavailable',
          message: '--target eigenx builds a linux/amd64 image with Docker, but no Docker engine answers (`docker info` failed)',
          hint: 'install and start Docker with buildx (Docker Desktop or docker-ce), or deploy to the local devnet with `--target local`',
        },
      },
    ])
    const phala = await regent(['deploy', '--dir', project, '--target', 'phala', '--json'], { env })
    expect([phala.code, (JSON.parse(phala.stdout) as { error: { code: string } }).error.code]).toEqual([2, 'phala.no_api_key'])
    const unknown = await regent(['deploy', '--dir', project, '--target', 'mars'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("error: option '--target <target>' argument 'mars' is invalid")
  })

  test('default: deploy, then redeploy after an edit upgrades in place', async () => {
    const up = await regent(['dev', 'up', '--dir', devnet, '--json'])
    expect(up.code).toBe(0)
    const file = JSON.parse(up.stdout) as {
      rpcUrl: string
      contracts: { identityRegistry: Address; appAuth: Address; succession: Address }
    }
    const client = createPublicClient({ transport: http(file.rpcUrl) })

    const first = await deploy('--json')
    expect([first.code, first.stderr.split('\n').filter((l) => l.startsWith('✔')).length]).toEqual([0, 5])
    const done = first.stderr.split('\n').filter((l) => l.startsWith('✔ '))
    expect(done.map((l, i) => l.startsWith(`✔ ${steps[i]}`))).toEqual([true, true, true, true, true])
    const d = JSON.parse(first.stdout)
    expect(Object.keys(d)).toEqual([
      'target',
      'name',
      'agentId',
      'agentRegistry',
      'wallet',
      'appId',
      'composeHash',
      'bundleDigest',
      'cvmId',
      'instanceId',
      'url',
      'epoch',
      'owner',
      'timelock',
      'keyProvenance',
      'upgrade',
      'changed',
      'previous',
      'record',
      'failover',
    ])
    expect(d).toMatchObject({
      failover: null,
      target: 'local',
      name: 'deploy-test-agent',
      agentId: expect.stringMatching(/^\d+$/),
      agentRegistry: `eip155:31337:${file.contracts.identityRegistry}`,
      wallet: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/),
      appId: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/),
      composeHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
      bundleDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      cvmId: expect.stringMatching(/^cvm-/),
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      epoch: '1',
      timelock: 0,
      keyProvenance: { path: 'regent/v1/wallet', kmsRoot: expect.stringMatching(/^0x0[23][0-9a-f]{64}$/), verified: true },
      upgrade: false,
      changed: [],
      previous: null,
      record: join(project, '.regent', 'deploy.json'),
    })
    expect(JSON.parse(await readFile(join(project, '.regent', 'deploy.json'), 'utf8'))).toMatchObject({
      appId: d.appId,
      cvmId: d.cvmId,
      composeHash: d.composeHash,
    })

    // The facts, on-chain: the app's compose hash is approved, the wallet owns the ERC-8004 agent and is canonical.
    const agentId = BigInt(d.agentId)
    const approved = await client.readContract({
      address: file.contracts.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'isComposeHashApproved',
      args: [d.appId, d.composeHash],
    })
    const owner = await client.readContract({
      address: file.contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'ownerOf',
      args: [agentId],
    })
    const [canonical, epoch] = await client.readContract({
      address: file.contracts.succession,
      abi: regentSuccessionAbi,
      functionName: 'canonicalOf',
      args: [agentId],
    })
    const appOf = await client.readContract({
      address: file.contracts.succession,
      abi: regentSuccessionAbi,
      functionName: 'appOf',
      args: [agentId],
    })
    expect({ approved, owner, signer: canonical.signer, composeHash: canonical.composeHash, epoch: BigInt(epoch), appOf }).toEqual({
      approved: true,
      owner: d.wallet,
      signer: d.wallet,
      composeHash: d.composeHash,
      epoch: 1n,
      appOf: d.appId,
    })
    const health = await (await fetch(`${d.url}/health`)).json()
    expect(health).toMatchObject({ ok: true, agentId: d.agentId, wallet: d.wallet })

    // Same inputs → same digest and compose hash; the instance is replaced, nothing else changes.
    const again = JSON.parse((await deploy('--json')).stdout)
    expect(again).toMatchObject({
      appId: d.appId,
      wallet: d.wallet,
      agentId: d.agentId,
      composeHash: d.composeHash,
      bundleDigest: d.bundleDigest,
      epoch: '2',
      upgrade: true,
      changed: [],
      previous: { cvmId: d.cvmId, stopped: true },
    })

    // Edit the agent: same app id and wallet, new bundle digest and compose hash, the old CVM stopped.
    await appendFile(join(project, 'src', 'main.ts'), '// v2\n')
    const second = await deploy('--json')
    expect(second.code).toBe(0)
    const e = JSON.parse(second.stdout)
    expect(e).toMatchObject({ appId: d.appId, wallet: d.wallet, agentId: d.agentId, epoch: '3', upgrade: true })
    expect(e.composeHash).not.toBe(d.composeHash)
    expect(e.changed).toEqual([
      { field: 'composeHash', from: d.composeHash, to: e.composeHash },
      { field: 'bundleDigest', from: d.bundleDigest, to: e.bundleDigest },
    ])
    expect(e.previous).toEqual({ cvmId: again.cvmId, stopped: true })
    const { cvms } = JSON.parse((await regent(['dev', 'cvm', 'list', '--dir', devnet, '--json'])).stdout) as {
      cvms: { cvmId: string; status: string; appId: string }[]
    }
    const ours = cvms.filter((c) => c.appId.replace(/^0x/, '').toLowerCase() === d.appId.slice(2).toLowerCase())
    expect(ours.filter((c) => c.status === 'running').map((c) => c.cvmId)).toEqual([e.cvmId])
    expect(ours.map((c) => c.cvmId)).toEqual([d.cvmId, again.cvmId, e.cvmId])
    const [now] = await client.readContract({
      address: file.contracts.succession,
      abi: regentSuccessionAbi,
      functionName: 'canonicalOf',
      args: [agentId],
    })
    expect(now.composeHash).toBe(e.composeHash as Hex)

    const human = await deploy()
    expect(human.code).toBe(0)
    expect(human.stdout).toContain('✓ deploy-test-agent deployed (upgraded in place: same app id, same wallet)\n')
    expect(human.stdout).toContain('upgrade: nothing changed in the code; the instance was replaced\n')
  }, 240_000)

  test("behavior: an agent that crashes at boot: exit 1 agent.boot_failed with the agent's own error and first frame", async () => {
    expect((await regent(['dev', 'up', '--dir', devnet])).code).toBe(0) // reused when the tests above started it
    const broken = join(root, 'broken')
    await cp(project, broken, { recursive: true, filter: (src) => !/[/\\](node_modules|\.regent|dist)$/.test(src) })
    await symlink(join(repoRoot, 'node_modules'), join(broken, 'node_modules'))
    const config = JSON.parse(await readFile(join(broken, 'regent.json'), 'utf8'))
    await writeFile(join(broken, 'regent.json'), JSON.stringify({ ...config, name: 'broken-agent' }))
    await writeFile(join(broken, 'src', 'main.ts'), "throw new TypeError('deliberately broken at boot')\nexport {}\n")
    const r = await regent(['deploy', '--dir', broken, '--devnet-dir', devnet, '--json'])
    expect(r.code).toBe(1)
    const error = JSON.parse(r.stdout).error as { code: string; message: string }
    expect(error.code).toBe('agent.boot_failed')
    expect(error.message).toMatch(/exited \(exit code 1\) before serving: TypeError: deliberately broken at boot \(at .*main\.js:1/)
    expect(error.message).not.toContain('Node.js v')
    // The approval this deploy made of the broken code is revoked, and the output says so.
    expect(error.message).toMatch(/; the approval of compose hash 0x[0-9a-f]{8}…[0-9a-f]{6} this deploy made was revoked$/)
    const appId = /contracts: app (0x[0-9a-fA-F]{40}) registered/.exec(r.stderr)?.[1] as Address
    const composeHash = /compose hash (0x[0-9a-f]{64})$/m.exec(r.stderr)?.[1] as Hex
    const file = JSON.parse(await readFile(join(devnet, 'devnet.json'), 'utf8')) as { rpcUrl: string; contracts: { appAuth: Address } }
    const client = createPublicClient({ transport: http(file.rpcUrl) })
    const approved = await client.readContract({
      address: file.contracts.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'isComposeHashApproved',
      args: [appId, composeHash],
    })
    expect([appId, composeHash, approved]).toEqual([expect.stringMatching(/^0x/), expect.stringMatching(/^0x/), false])
  })

  test('behavior: an entry that does not parse, or an import the bundle lacks, fails the build before anything is approved', async () => {
    expect((await regent(['dev', 'up', '--dir', devnet])).code).toBe(0)
    const bare = join(root, 'bare')
    await mkdir(bare, { recursive: true })
    await cp(join(project, 'app-compose.json'), join(bare, 'app-compose.json'))
    await writeFile(
      join(bare, 'regent.json'),
      JSON.stringify({ version: 1, name: 'bare-agent', paths: { bundle: ['package.json', 'index.mjs', 'lib'] } }),
    )
    await writeFile(join(bare, 'package.json'), JSON.stringify({ name: 'bare-agent', version: '0.0.0', type: 'module', main: 'index.mjs' }))
    await mkdir(join(bare, 'lib'), { recursive: true })
    await writeFile(join(bare, 'lib', 'util.mjs'), "import { helper } from './helper.mjs'\nexport const x = helper\n")
    const cases: [string, string, RegExp][] = [
      ['const = 1\n', 'build.entry_invalid', /^the entry index\.mjs does not parse: SyntaxError/],
      [
        "import pad from 'left-pad-that-is-not-installed'\nexport default pad\n",
        'build.unresolved_import',
        /^index\.mjs imports "left-pad-that-is-not-installed", which is not in the bundle$/,
      ],
      [
        "import { x } from './lib/util.mjs'\nexport default x\n",
        'build.unresolved_import',
        /^lib\/util\.mjs imports "\.\/helper\.mjs", which is not in the bundle$/,
      ],
    ]
    for (const [code, expected, message] of cases) {
      await writeFile(join(bare, 'index.mjs'), code)
      const r = await regent(['deploy', '--dir', bare, '--devnet-dir', devnet, '--json'])
      const error = JSON.parse(r.stdout).error as { code: string; message: string; hint: string }
      expect([r.code, error.code]).toEqual([1, expected])
      expect(error.message).toMatch(message)
      expect(error.hint).toContain('nothing was approved on-chain')
      expect(r.stderr).not.toContain('contracts: app')
    }
  })

  test('behavior: a timelocked approval is pending until it activates; --wait-timelock advances the devnet clock', async () => {
    await appendFile(join(project, 'src', 'main.ts'), '// v3\n')
    const pending = await deploy('--timelock', '600', '--json')
    expect(pending.code).toBe(1)
    const error = JSON.parse(pending.stdout).error
    expect(error.code).toBe('timelock.pending')
    expect(error.message).toMatch(
      /^compose hash 0x[0-9a-f]{64} is approved for app 0x[0-9a-fA-F]{40} but pending: it activates at \S+Z \(in \d+ s; app timelock 600 s\)$/,
    )
    expect(error.hint).toBe(
      'run `regent deploy` again after that time (the approval is recorded), or on the devnet add --wait-timelock to advance the chain clock',
    )
    const waited = await deploy('--wait-timelock', '--json')
    expect(waited.code).toBe(0)
    expect(JSON.parse(waited.stdout)).toMatchObject({ timelock: 600, upgrade: true })
    expect(waited.stderr).toMatch(/✔ contracts: .*; chain clock advanced \d+ s\n/)
  }, 120_000)
})
