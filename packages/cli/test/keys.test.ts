/**
 * `regent keys derive` through the real binary against a devnet CVM's guest agent (keys from the devnet's KMS
 * node): address, public key, signature chain, provenance to the devnet's KMS root; the private key only with
 * `--reveal` on a terminal (issue 8).
 */
import { execFile } from 'node:child_process'
import { createECDH } from 'node:crypto'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

const fixtures = fileURLToPath(new URL('../../devnet/test/fixtures/', import.meta.url))
const bin = fileURLToPath(new URL('../bin/regent.mjs', import.meta.url))
let dir: string
let endpoint: string
let kmsRoot: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-keys-'))
  const up = await regent(['dev', 'up', '--dir', dir, '--json'])
  if (up.code !== 0) throw new Error(up.stderr)
  kmsRoot = JSON.parse(up.stdout).kmsRoot
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
    // `regent keys derive` runs inside a CVM on a real host; here the test stands in for a process of the CVM, so the
    // devnet's debug flag lets it reach the CVM's guest agent from outside.
    '--debug-guest-agent',
    '--json',
  ])
  if (launch.code !== 0) throw new Error(launch.stderr)
  endpoint = JSON.parse(launch.stdout).endpoint
})
afterAll(async () => {
  if (dir) await regent(['dev', 'down', '--dir', dir])
})

const derive = (...args: string[]) => regent(['keys', 'derive', '--endpoint', endpoint, '--devnet-dir', dir, ...args])

describe('regent keys derive', () => {
  test('default: address, public key, chain and provenance to the devnet KMS root; never the private key', async () => {
    const r = await derive('--path', 'regent/v1/wallet', '--purpose', 'regent-wallet', '--json')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(Object.keys(out)).toEqual(['endpoint', 'path', 'purpose', 'address', 'publicKey', 'appId', 'signatureChain', 'provenance'])
    expect(out).toMatchObject({
      endpoint,
      path: 'regent/v1/wallet',
      purpose: 'regent-wallet',
      address: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/),
      publicKey: expect.stringMatching(/^0x0[23][0-9a-f]{64}$/),
      appId: expect.stringMatching(/^0x[0-9a-f]{40}$/),
      provenance: { ok: true, kmsRoot, devnet: { kmsRoot, matches: true }, reasons: [] },
    })
    expect(out.signatureChain).toEqual([expect.stringMatching(/^0x[0-9a-f]{130}$/), expect.stringMatching(/^0x[0-9a-f]{130}$/)])
    expect(r.stdout).not.toMatch(/privateKey|redacted/)

    // Deterministic: same path, same key; another path or purpose, another key.
    const same = JSON.parse((await derive('--path', 'regent/v1/wallet', '--name', 'regent-wallet', '--json')).stdout) // --name is --purpose
    expect(same.address).toBe(out.address)
    const other = JSON.parse((await derive('--path', 'my/key', '--json')).stdout)
    expect(other.address).not.toBe(out.address)
    expect(other.purpose).toBe('')

    const human = await derive('--path', 'regent/v1/wallet', '--purpose', 'regent-wallet')
    expect(human.code).toBe(0)
    expect(human.stdout).toContain(`  address        ${out.address}`)
    expect(human.stdout).toContain('✓ provenance: the signature chain verifies to that KMS root for this app and address')
    expect(human.stdout).toContain(`✓ the KMS root is the devnet's (${kmsRoot})`)
    expect(human.stdout).not.toContain('privateKey')
  })

  test('behavior: a KMS root other than the devnet one fails (exit 1)', async () => {
    const other = await mkdtemp(join(tmpdir(), 'regent-keys-other-'))
    const file = JSON.parse(await readFile(join(dir, 'devnet.json'), 'utf8'))
    await writeFile(join(other, 'devnet.json'), JSON.stringify({ ...file, kmsRoot: `0x${'11'.repeat(20)}` }))
    const r = await regent(['keys', 'derive', '--endpoint', endpoint, '--devnet-dir', other, '--path', 'p', '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout).provenance).toMatchObject({ ok: true, kmsRoot, devnet: { matches: false } })
  })

  test('behavior: --reveal is refused with --json and off a terminal (exit 2, nothing derived)', async () => {
    const json = await derive('--path', 'p', '--reveal', '--json')
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toEqual({
      ok: false,
      error: {
        code: 'reveal.refused',
        message: '--reveal is never honoured with --json (a private key must not reach a machine-readable stream)',
        hint: 'drop --json, and run on a terminal',
      },
    })
    const pipe = await derive('--path', 'p', '--reveal')
    expect([pipe.code, pipe.stdout]).toEqual([2, ''])
    expect(pipe.stderr).toBe(
      'error: --reveal needs stdout to be a terminal; refusing to write a private key to a pipe or file\nhint: run it on a terminal without redirecting stdout\ndocs: docs/cli/keys.md\n',
    )
  })

  test('behavior: --reveal on a terminal prints the private key of that address', async () => {
    // util-linux `script` gives the command a pseudo-terminal as stdout.
    const command = [process.execPath, bin, 'keys', 'derive', '--endpoint', endpoint, '--devnet-dir', dir, '--path', 'p', '--reveal']
      .map((a) => `'${a}'`)
      .join(' ')
    const out = await new Promise<string>((resolve, reject) =>
      execFile('script', ['-qec', command, '/dev/null'], { env: { ...process.env, NO_COLOR: '1' } }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    )
    const privateKey = /privateKey\s+0x([0-9a-f]{64})/.exec(out)?.[1]
    const publicKey = /publicKey\s+0x([0-9a-f]{66})/.exec(out)?.[1]
    expect(privateKey).toBeDefined()
    const ecdh = createECDH('secp256k1')
    ecdh.setPrivateKey(privateKey ?? '', 'hex')
    expect(ecdh.getPublicKey('hex', 'compressed')).toBe(publicKey)
  })

  test('behavior: no guest agent, an unreachable one, or no --path: a cause and a hint', async () => {
    const env = { DSTACK_SIMULATOR_ENDPOINT: '' }
    const none = await regent(['keys', 'derive', '--path', 'p', '--json'], { env })
    expect(none.code).toBe(2)
    expect(JSON.parse(none.stdout).error).toMatchObject({
      code: 'endpoint.missing',
      message: 'no guest agent: DSTACK_SIMULATOR_ENDPOINT is unset and no dstack socket exists',
    })
    const gone = await regent(['keys', 'derive', '--path', 'p', '--endpoint', join(dir, 'no.sock')])
    expect(gone.code).toBe(1)
    expect(gone.stderr).toMatch(new RegExp(`^error: no guest agent answers at ${join(dir, 'no.sock')}\nhint: inside a CVM set`))
    const noPath = await derive()
    expect([noPath.code, noPath.stderr]).toEqual([
      2,
      'error: missing --path <path>\nhint: e.g. --path regent/v1/wallet\ndocs: docs/cli/keys.md\n',
    ])
  })
})
