/** `regent dev …` through the real binary against a real detached devnet (issue 4). */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { budget } from '@regent-tee/testing/profile'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

const fixtures = fileURLToPath(new URL('../../devnet/test/fixtures/', import.meta.url))
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-dev-'))
})
afterAll(async () => {
  await regent(['dev', 'down', '--devnet-dir', dir])
})

describe('regent dev', () => {
  test('behavior: before `up`, status says so (exit 1) and CVM commands explain how to start a devnet', async () => {
    const status = await regent(['dev', 'status', '--devnet-dir', dir, '--json'])
    expect(status.code).toBe(1)
    expect(JSON.parse(status.stdout)).toMatchObject({ running: false, devnet: null })
    const launch = await regent(['dev', 'cvm', 'list', '--devnet-dir', dir])
    expect(launch.code).toBe(1)
    expect(launch.stderr).toBe(`error: no devnet is running in ${dir}\nhint: start one with \`regent dev up\`\ndocs: docs/devnet.md\n`)
  })

  test(
    'default: up → status → reuse → cvm launch/list/logs/stop → down',
    async () => {
      const up = await regent(['dev', 'up', '--devnet-dir', dir, '--json'])
      expect(up.code).toBe(0)
      const file = JSON.parse(up.stdout)
      expect(file).toMatchObject({ reused: false, version: 1, chainId: 31337, keyProvider: { name: 'kms' } })
      expect(file.kmsUrls).toHaveLength(1)
      expect(Object.keys(file.contracts)).toEqual([
        'identityRegistry',
        'reputationRegistry',
        'validationRegistry',
        'appAuth',
        'succession',
        'treasury',
      ])

      const again = await regent(['dev', 'up', '--devnet-dir', dir, '--json'])
      expect(JSON.parse(again.stdout)).toMatchObject({ reused: true, pid: file.pid, hostUrl: file.hostUrl })

      const status = JSON.parse((await regent(['dev', 'status', '--devnet-dir', dir, '--json'])).stdout)
      expect(status).toMatchObject({ running: true, checks: { supervisor: true, host: true, chain: true } })

      const args = [
        'dev',
        'cvm',
        'launch',
        '--devnet-dir',
        dir,
        '--compose',
        join(fixtures, 'app-compose.json'),
        '--bundle',
        join(fixtures, 'probe-agent'),
      ]
      const refused = await regent(args)
      expect(refused.code).toBe(2)
      expect(refused.stderr).toContain('app.not_registered')
      expect(refused.stderr).toContain('hint: approve the app on-chain first (`--approve` on the devnet, `regent deploy` otherwise)')
      const launch = await regent([...args, '--approve', '--json'])
      expect([launch.code, launch.stdout.slice(0, 300)]).toEqual([0, expect.stringContaining('cvmId')])
      const cvm = JSON.parse(launch.stdout)
      expect(Object.keys(cvm)).toEqual(expect.arrayContaining(['cvmId', 'appId', 'instanceId', 'composeHash', 'appUrl']))
      // The guest agent is the CVM's own: nothing in the record lets another process reach it.
      expect(cvm.debugGuestAgent).toBe(false)
      expect(Object.keys(cvm)).not.toEqual(expect.arrayContaining(['endpoint']))
      expect(cvm).not.toHaveProperty('guestAgentUrl')
      expect(JSON.stringify(cvm)).not.toMatch(/\.sock/)
      expect(cvm.bundleDigest).toMatch(/^sha256:[0-9a-f]{64}$/)

      const list = JSON.parse((await regent(['dev', 'cvm', 'list', '--devnet-dir', dir, '--json'])).stdout)
      expect(list.cvms.map((c: { cvmId: string }) => c.cvmId)).toContain(cvm.cvmId)
      // The human table: headers, the user's CVM first, the devnet's KMS node marked system and last.
      const table = (await regent(['dev', 'cvm', 'list', '--devnet-dir', dir])).stdout.trim().split('\n')
      expect(table[0]).toMatch(/^CVM\s+STATUS\s+APP\s+APP ID\s+COMPOSE HASH\s+URL$/)
      expect(table[1]?.startsWith(cvm.cvmId)).toBe(true)
      expect(table.at(-1)).toContain('regent-kms (system)')

      const stop = await regent(['dev', 'cvm', 'stop', cvm.cvmId, '--devnet-dir', dir, '--json'])
      expect(JSON.parse(stop.stdout)).toMatchObject({ cvmId: cvm.cvmId, status: 'stopped' })
      const logs = await regent(['dev', 'cvm', 'logs', cvm.cvmId, '--devnet-dir', dir, '--json'])
      expect(logs.code).toBe(0)
      expect(JSON.parse(logs.stdout).cvmId).toBe(cvm.cvmId)

      const unknown = await regent(['dev', 'cvm', 'stop', 'cvm-nope', '--devnet-dir', dir])
      expect(unknown.code).toBe(2)
      // The hint lists the ids this devnet knows (the stopped CVM too).
      expect(unknown.stderr).toMatch(
        new RegExp(
          `^error: no CVM "cvm-nope" on this host\\.\nhint: the devnet's CVMs: .*${cvm.cvmId} \\(.*\\(regent dev cvm list\\)\ndocs: docs/devnet.md\n$`,
        ),
      )

      const down = await regent(['dev', 'down', '--devnet-dir', dir, '--json'])
      expect(JSON.parse(down.stdout)).toEqual({ stopped: true })
      const stopped = await regent(['dev', 'status', '--devnet-dir', dir, '--json'])
      expect(stopped.code).toBe(1)
      const after = JSON.parse(stopped.stdout)
      expect(after).toMatchObject({ running: false, checks: { supervisor: false } })
      expect(() => process.kill(file.pid, 0)).toThrow()
    },
    budget(180_000),
  )

  test('behavior: bad flags exit 2 with a clear cause', async () => {
    const noCompose = await regent(['dev', 'cvm', 'launch', '--devnet-dir', dir, '--bundle', '.'])
    expect([noCompose.code, noCompose.stderr]).toEqual([2, 'error: missing --compose <file>\ndocs: docs/devnet.md\n'])
    const noFile = await regent(['dev', 'cvm', 'launch', '--devnet-dir', dir, '--compose', 'no-such.json', '--bundle', '.'])
    expect([noFile.code, noFile.stderr]).toEqual([2, 'error: cannot read compose file no-such.json\ndocs: docs/devnet.md\n'])
    const badAppId = await regent([
      'dev',
      'cvm',
      'launch',
      '--devnet-dir',
      dir,
      '--compose',
      join(fixtures, 'app-compose.json'),
      '--bundle',
      '.',
      '--app-id',
      'xyz',
    ])
    expect([badAppId.code, badAppId.stderr]).toEqual([2, 'error: --app-id takes 20 bytes of hex\ndocs: docs/devnet.md\n'])
    const badTail = await regent(['dev', 'cvm', 'logs', 'cvm-1', '--tail', 'many', '--devnet-dir', dir])
    expect([badTail.code, badTail.stderr]).toEqual([2, 'error: --tail takes a whole number\ndocs: docs/devnet.md\n'])
  })
})
