/** `regent doctor` through the real binary, before and against a real detached devnet (issue 8). */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

const names = ['node', 'devnet', 'contracts', 'kms', 'clock', 'collateral']
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-doctor-'))
})
afterAll(async () => {
  await regent(['dev', 'down', '--dir', dir])
})

type Check = { check: string; ok: boolean; detail: string; fix?: string }
const byName = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.check, c]))

describe('regent doctor', () => {
  test('behavior: without a devnet: exit 1, the devnet check fails with how to start one', async () => {
    const r = await regent(['doctor', '--devnet-dir', dir, '--json'])
    expect(r.code).toBe(1)
    const checks = JSON.parse(r.stdout) as Check[]
    expect(checks.map((c) => c.check)).toEqual(names)
    const c = byName(checks)
    expect(c.node).toEqual({ check: 'node', ok: true, detail: `Node ${process.versions.node}` })
    expect(c.devnet).toEqual({
      check: 'devnet',
      ok: false,
      detail: `no devnet in ${dir}`,
      fix: 'start one with `regent dev up` (or pass --devnet-dir)',
    })
    for (const name of ['contracts', 'kms', 'clock', 'collateral'])
      expect(c[name]).toMatchObject({ ok: false, detail: 'not checked: no running devnet' })

    const human = await regent(['doctor', '--devnet-dir', dir])
    expect(human.code).toBe(1)
    const lines = human.stdout.split('\n')
    expect(lines[0]).toBe(`✓ node        Node ${process.versions.node}`)
    expect(lines[1]).toBe(`✗ devnet      no devnet in ${dir}`)
    expect(lines[2]).toBe('              fix: start one with `regent dev up` (or pass --devnet-dir)')
    expect(lines.at(-2)).toBe('5 of 6 checks failed') // then the final newline
  })

  test('default: against a running devnet every check passes, exit 0', async () => {
    const up = await regent(['dev', 'up', '--dir', dir, '--json'])
    expect(up.code).toBe(0)
    const file = JSON.parse(up.stdout)
    const r = await regent(['doctor', '--devnet-dir', dir, '--json'])
    const checks = JSON.parse(r.stdout) as Check[]
    expect([r.code, checks.filter((c) => !c.ok)]).toEqual([0, []])
    expect(checks.map((c) => c.check)).toEqual(names)
    const c = byName(checks)
    expect(c.contracts?.detail).toBe(
      '6 contracts have code (identityRegistry, reputationRegistry, validationRegistry, appAuth, succession, treasury)',
    )
    expect(c.kms?.detail).toBe(`1 KMS node(s) healthy (${file.kmsUrls[0]})`)
    expect(c.clock?.detail).toMatch(/^local \S+; host [+-]\d+ s, kms [+-]\d+ s, chain latest block \d+ s old$/)
    expect(c.collateral?.detail).toMatch(/^devnet collateral verifies; next update \S+ \(\d+\.\d days left\)$/)

    const human = await regent(['doctor', '--devnet-dir', dir])
    expect(human.code).toBe(0)
    expect(human.stdout.split('\n').filter((l) => l.startsWith('✓'))).toHaveLength(6)
    expect(human.stdout.trimEnd().split('\n').at(-1)).toBe('all checks pass')
  })

  test('behavior: an unreachable KMS node and a contract without code fail with what to fix', async () => {
    // A second view of the same running devnet whose file names a dead KMS URL and an address without code.
    const broken = await mkdtemp(join(tmpdir(), 'regent-doctor-broken-'))
    const file = JSON.parse(await readFile(join(dir, 'devnet.json'), 'utf8'))
    await writeFile(
      join(broken, 'devnet.json'),
      JSON.stringify({ ...file, kmsUrls: ['http://127.0.0.1:1'], contracts: { ...file.contracts, treasury: `0x${'22'.repeat(20)}` } }),
    )
    const r = await regent(['doctor', '--devnet-dir', broken, '--json'])
    expect(r.code).toBe(1)
    const c = byName(JSON.parse(r.stdout))
    expect(c.devnet?.ok).toBe(true)
    expect(c.contracts).toEqual({
      check: 'contracts',
      ok: false,
      detail: `no code at treasury (0x${'22'.repeat(20)})`,
      fix: 'the chain lost its contracts: `regent dev up --fresh` redeploys them',
    })
    expect(c.kms).toMatchObject({ ok: false, detail: 'no healthy answer from GET /health at http://127.0.0.1:1' })
    expect(c.kms?.fix).toContain('regent dev up --fresh')
    expect(c.collateral?.ok).toBe(true)
  })

  test('behavior: a corrupt devnet file is a failed check, not a crash', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'regent-doctor-bad-'))
    await writeFile(join(bad, 'devnet.json'), '{"version": 7}')
    const r = await regent(['doctor', '--devnet-dir', bad, '--json'])
    expect(r.code).toBe(1)
    const c = byName(JSON.parse(r.stdout))
    expect(c.devnet).toEqual({
      check: 'devnet',
      ok: false,
      detail: `${join(bad, 'devnet.json')} is not a valid devnet file: unsupported version 7.`,
      fix: 'run `regent dev up --fresh`',
    })
    const flag = await regent(['doctor', '--bogus'])
    expect([flag.code, flag.stderr]).toEqual([2, "error: unknown option '--bogus'\nhint: run with --help for usage and examples\n"])
  })
})
