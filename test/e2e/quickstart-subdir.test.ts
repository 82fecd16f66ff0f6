/**
 * The quick start (docs/quickstart.md) with every command after `regent init` run from a subdirectory of the project,
 * with no --dir, --devnet-dir or environment naming either: deploy finds the project and the devnet walking up, ls /
 * logs / identity verify / stop name the agent by its project, and `dev down` stops the devnet found above.
 */
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { budget } from '@regent-tee/testing/profile'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent, repoRoot } from '../../packages/cli/test/cli.js'

let root: string
const env = { REGENT_DEVNET_DIR: '', REGENT_DIR: '' }
const at = (cwd: string, args: string[]) => regent(args, { cwd, env })

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-quickstart-'))
})
afterAll(async () => {
  await regent(['dev', 'down', '--dir', join(root, '.regent')])
  await rm(root, { recursive: true, force: true })
})

describe('quick start from a subdirectory of the project', () => {
  test(
    'default: dev up here; init; then deploy, ls, logs, identity verify, stop and dev down from my-agent/src',
    async () => {
      expect((await at(root, ['dev', 'up'])).code).toBe(0)
      expect((await at(root, ['init', 'my-agent'])).code).toBe(0)
      // What `npm install` gives a project outside the monorepo: its dependencies next to it.
      await symlink(join(repoRoot, 'node_modules'), join(root, 'my-agent', 'node_modules'))
      const sub = join(root, 'my-agent', 'src')

      const deploy = await at(sub, ['deploy', '--json'])
      expect(deploy.code, deploy.stderr).toBe(0)
      const d = JSON.parse(deploy.stdout) as { name: string; url: string; cvmId: string; agentId: string }
      expect(d).toMatchObject({ name: 'my-agent', record: join(root, 'my-agent', '.regent', 'deploy.json') })

      const ls = JSON.parse((await at(sub, ['ls', '--json'])).stdout) as { agents: Record<string, unknown>[] }
      expect(ls.agents[0]).toMatchObject({
        name: 'my-agent',
        project: true,
        status: 'running',
        cvmId: d.cvmId,
        agentId: d.agentId,
        role: 'agent',
        epoch: '1',
        canonical: true,
      })

      const logs = await at(sub, ['logs', '--tail', '20', '--json'])
      expect([logs.code, JSON.parse(logs.stdout).cvmId]).toEqual([0, d.cvmId])

      const verify = await at(sub, ['identity', 'verify', d.url, '--json'])
      expect(verify.code, verify.stdout).toBe(0)
      expect(JSON.parse(verify.stdout)).toMatchObject({ isAgent: true })

      const stop = await at(sub, ['stop', '--json'])
      expect(JSON.parse(stop.stdout)).toEqual({ name: 'my-agent', stopped: [d.cvmId] })

      const down = await at(sub, ['dev', 'down', '--json'])
      expect(JSON.parse(down.stdout)).toEqual({ stopped: true })
    },
    budget(600_000),
  )
})
