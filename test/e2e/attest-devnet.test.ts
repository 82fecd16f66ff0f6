/**
 * `regent attest verify q.hex --trust devnet` without --collateral: the collateral comes from the running devnet (found
 * as every command finds it), through the PCS v4 paths its host serves; `--pccs-url <devnet host>` works the same. A
 * devnet quote never verifies as hardware: under the Intel root it fails.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Devnet, DevnetQe, DevnetTd, startDevnet } from '@regent-tee/devnet'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from '../../packages/cli/test/cli.js'

let root: string
let devnet: Devnet
let quoteFile: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-attest-devnet-'))
  devnet = await startDevnet({ dir: join(root, '.regent'), kmsNodes: 0 })
  const td = DevnetTd.create()
  const quote = DevnetQe.quote(devnet.host.qe, { tdReport: DevnetTd.report(td, { reportData: new Uint8Array(64).fill(7) }) })
  await mkdir(join(root, 'sub'), { recursive: true })
  quoteFile = join(root, 'q.hex')
  await writeFile(quoteFile, Buffer.from(quote).toString('hex'))
})
afterAll(async () => {
  await devnet?.stop()
  await rm(root, { recursive: true, force: true })
})

describe('regent attest verify against the devnet', () => {
  test('default: --trust devnet without --collateral fetches from the running devnet found above the cwd', async () => {
    const r = await regent(['attest', 'verify', quoteFile, '--trust', 'devnet', '--json'], {
      cwd: join(root, 'sub'),
      env: { REGENT_DEVNET_DIR: '', REGENT_DIR: '' },
    })
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: true,
      hardware: 'devnet',
      status: 'UpToDate',
      collateral: { source: 'fetched', url: devnet.file.hostUrl, nextUpdate: expect.any(String) },
    })
    const human = await regent(['attest', 'verify', quoteFile, '--trust', 'devnet'], { cwd: join(root, 'sub') })
    expect(human.stderr).toContain(`from ${devnet.file.hostUrl}`)
    expect(human.stdout).toContain('✓ quote verifies')
  })

  test('behavior: --pccs-url <devnet host> serves the PCS v4 paths; under the Intel root the devnet quote fails', async () => {
    const devnetTrusted = await regent([
      'attest',
      'verify',
      quoteFile,
      '--trust',
      'devnet',
      '--devnet-dir',
      join(root, '.regent'),
      '--pccs-url',
      devnet.file.hostUrl,
      '--json',
    ])
    expect([devnetTrusted.code, JSON.parse(devnetTrusted.stdout).hardware]).toEqual([0, 'devnet'])
    const intel = await regent(['attest', 'verify', quoteFile, '--pccs-url', devnet.file.hostUrl, '--json'])
    expect(intel.code).toBe(1)
    const out = JSON.parse(intel.stdout) as { ok: boolean; hardware?: string }
    expect(out.ok).toBe(false)
    expect(out.hardware).not.toBe('tdx')
  })

  test('behavior: --trust devnet with no devnet running: devnet.not_running, how to start one or what to pass instead', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'regent-attest-none-'))
    await mkdir(join(empty, '.regent'))
    await writeFile(join(empty, '.regent', 'devnet.json'), JSON.stringify({ ...devnet.file, pid: 2 ** 22 + 1 }))
    const r = await regent(['attest', 'verify', quoteFile, '--trust', 'devnet', '--devnet-dir', join(empty, '.regent'), '--json'])
    expect([r.code, JSON.parse(r.stdout).error.code]).toEqual([1, 'devnet.not_running'])
    await rm(empty, { recursive: true, force: true })
  })
})
