/** `regent dev cvm restart` through the real binary against a real detached devnet (docs/devnet.md). */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

const fixtures = fileURLToPath(new URL('../../devnet/test/fixtures/', import.meta.url))
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-dev-restart-'))
  const up = await regent(['dev', 'up', '--dir', dir, '--json'])
  if (up.code !== 0) throw new Error(up.stderr)
})
afterAll(async () => {
  if (dir) await regent(['dev', 'down', '--dir', dir])
})

describe('regent dev cvm restart', () => {
  test('default: a stopped CVM boots again with the same identity, socket and app URL; its guest agent derives the same key', async () => {
    const launch = await regent([
      'dev',
      'cvm',
      'launch',
      '--dir',
      dir,
      '--compose',
      join(fixtures, 'app-compose.json'),
      '--bundle',
      join(fixtures, 'probe-agent'),
      '--approve',
      // The test derives a key through the CVM's guest agent from outside it (as `regent keys derive` would inside):
      // the devnet's debug flag exposes the socket.
      '--debug-guest-agent',
      '--json',
    ])
    expect(launch.code).toBe(0)
    const cvm = JSON.parse(launch.stdout)
    const address = async () => {
      const r = await regent(['keys', 'derive', '--endpoint', cvm.endpoint, '--devnet-dir', dir, '--path', 'regent/test', '--json'])
      expect([r.code, r.stderr]).toEqual([0, ''])
      return JSON.parse(r.stdout).address as string
    }
    const before = await address()

    const running = await regent(['dev', 'cvm', 'restart', cvm.cvmId, '--dir', dir])
    expect([running.code, running.stderr]).toEqual([
      1,
      `error: CVM ${cvm.cvmId} is still running.\nhint: stop it first with \`regent dev cvm stop\`\ndocs: docs/devnet.md\n`,
    ])

    const stop = await regent(['dev', 'cvm', 'stop', cvm.cvmId, '--dir', dir, '--json'])
    expect(JSON.parse(stop.stdout)).toMatchObject({ cvmId: cvm.cvmId, status: 'stopped' })
    const restart = await regent(['dev', 'cvm', 'restart', cvm.cvmId, '--dir', dir, '--json'])
    expect(restart.code).toBe(0)
    const record = JSON.parse(restart.stdout)
    expect(record).toMatchObject({
      cvmId: cvm.cvmId,
      appId: cvm.appId,
      instanceId: cvm.instanceId,
      composeHash: cvm.composeHash,
      endpoint: cvm.endpoint,
      appUrl: cvm.appUrl,
      status: 'running',
      exitCode: null,
    })
    expect(record.pid).not.toBe(cvm.pid)
    expect(await address()).toBe(before)

    await regent(['dev', 'cvm', 'stop', cvm.cvmId, '--dir', dir])
    const human = await regent(['dev', 'cvm', 'restart', cvm.cvmId, '--dir', dir])
    expect([human.code, human.stdout]).toEqual([0, `✓ ${cvm.cvmId} running again (instance ${cvm.instanceId}, app ${cvm.appUrl})\n`])
  })

  test('behavior: an unknown CVM exits 2; a missing id is a usage error', async () => {
    const unknown = await regent(['dev', 'cvm', 'restart', 'cvm-nope', '--dir', dir])
    // The hint names the ids the devnet knows.
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(
      /^error: no CVM "cvm-nope" on this host\.\nhint: the devnet's CVMs: .*\(regent dev cvm list\)\ndocs: docs\/devnet\.md\n$/,
    )
    const missing = await regent(['dev', 'cvm', 'restart', '--dir', dir])
    expect(missing.code).toBe(2)
  })
})
