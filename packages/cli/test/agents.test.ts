/**
 * `regent ls`, `regent logs [name]`, `regent stop [name]` through the real binary, run from a subdirectory of a
 * project whose devnet lives one level up: names resolve to the devnet's CVMs without copying any CVM id.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { budget } from '@regent-tee/testing/profile'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

const fixtures = fileURLToPath(new URL('../../devnet/test/fixtures/', import.meta.url))
let root: string
let project: string
let sub: string
const devnet = () => join(root, '.regent')
// No REGENT_DEVNET_DIR from the caller's shell: the devnet is found by walking up.
const here = (args: string[]) => regent(args, { cwd: sub, env: { REGENT_DEVNET_DIR: '' } })

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-agents-'))
  project = join(root, 'probe-agent')
  sub = join(project, 'src', 'deep')
  await mkdir(sub, { recursive: true })
  await writeFile(join(project, 'regent.json'), JSON.stringify({ version: 1, name: 'probe-agent' }))
})
afterAll(async () => {
  await regent(['dev', 'down', '--dir', devnet()])
  await rm(root, { recursive: true, force: true })
})

describe('regent ls / logs / stop', () => {
  test('behavior: without a devnet, ls lists the project (not on this devnet); logs says how to start one', async () => {
    const ls = await here(['ls', '--json'])
    expect(ls.code).toBe(0)
    expect(JSON.parse(ls.stdout)).toMatchObject({
      devnet: null,
      agents: [{ name: 'probe-agent', project: true, status: 'not on this devnet', cvmId: null }],
    })
    const logs = await here(['logs'])
    expect(logs.code).toBe(1)
    expect(logs.stderr).toContain('error: no devnet is running in')
  })

  test(
    'default: agents by name from a subdirectory; unknown names are refused with the known ones',
    async () => {
      expect((await regent(['dev', 'up', '--dir', devnet(), '--json'])).code).toBe(0)
      const launch = await regent([
        'dev',
        'cvm',
        'launch',
        '--dir',
        devnet(),
        '--compose',
        join(fixtures, 'app-compose.json'),
        '--bundle',
        join(fixtures, 'probe-agent'),
        '--approve',
        '--json',
      ])
      expect(launch.code).toBe(0)
      const cvm = JSON.parse(launch.stdout) as { cvmId: string; appUrl: string; instanceId: string }

      const ls = await here(['ls', '--json'])
      expect(ls.code).toBe(0)
      const listed = JSON.parse(ls.stdout) as { agents: { name: string }[] }
      // The devnet's KMS node is a system CVM, not an agent.
      expect(listed.agents.map((a) => a.name)).toEqual(['probe-agent'])
      expect(listed.agents[0]).toMatchObject({
        project: true,
        status: 'running',
        cvmId: cvm.cvmId,
        url: cvm.appUrl,
        instanceId: cvm.instanceId.startsWith('0x') ? cvm.instanceId : `0x${cvm.instanceId}`,
        cvms: 1,
        running: 1,
      })
      const table = (await here(['ls'])).stdout.trim().split('\n')
      expect(table[0]).toMatch(/^NAME\s+STATUS\s+ROLE\s+EPOCH\s+INSTANCE\s+URL$/)
      expect(table[1]).toMatch(/^probe-agent \*\s+running\s/)

      const logs = await here(['logs', '--json'])
      expect(logs.code).toBe(0)
      expect(JSON.parse(logs.stdout)).toMatchObject({ name: 'probe-agent', cvmId: cvm.cvmId })
      expect(JSON.parse(logs.stdout).logs).toContain('probe agent listening on')
      const named = await regent(['logs', 'probe-agent', '--tail', '1', '--devnet-dir', devnet()], { cwd: root })
      expect(named.stdout).toContain('probe agent listening on')

      const unknown = await here(['logs', 'nope', '--json'])
      expect([unknown.code, JSON.parse(unknown.stdout).error]).toEqual([
        2,
        { code: 'agent.unknown', message: 'no agent named "nope" (known: probe-agent)', hint: 'see them with `regent ls`' },
      ])
      const nameless = await regent(['stop', '--devnet-dir', devnet()], { cwd: root })
      expect([nameless.code, nameless.stderr.split('\n')[0]]).toEqual([2, 'error: no agent named and no regent.json here or above'])

      const stop = await here(['stop', '--json'])
      expect([stop.code, JSON.parse(stop.stdout)]).toEqual([0, { name: 'probe-agent', stopped: [cvm.cvmId] }])
      const after = JSON.parse((await here(['ls', '--json'])).stdout) as { agents: { status: string }[] }
      expect(after.agents[0]?.status).toBe('stopped')
      expect((await here(['stop'])).stdout).toBe('probe-agent was not running\n')
    },
    budget(180_000),
  )
})
