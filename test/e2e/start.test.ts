/**
 * The README's main command (`npm start`) end to end: devnet up (anvil, contracts, KMS, TDX host), then `regent demo`:
 * the example agent in the wild (a real process) uplifts itself into a devnet CVM; the handshake, the on-chain event,
 * the demoted source, the treasury and the outside verifier are printed. Both key options.
 */
import { execFile } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, test } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)

describe('npm start', () => {
  const start = async (args: string[]) => {
    const dir = await mkdtemp(join(tmpdir(), 'regent-start-'))
    const { stdout, stderr } = await run(process.execPath, ['examples/agent/scripts/start.mjs', ...args, '--down'], {
      cwd: root,
      env: { ...process.env, REGENT_DIR: dir },
    })
    return { stdout, stderr }
  }

  test('default: --key import — the wild agent moves into a CVM, the source is demoted, the new instance is the agent', async () => {
    const { stdout, stderr } = await start([])
    for (const line of [
      '  ✔ chain: anvil, chain 31337',
      '  ✔ kms: 1 KMS node in CVMs',
      '✓ devnet up in',
      'uplifted from the wild (http://127.0.0.1:',
      'EV = 16.90 → proceed',
      '✓ (i) signature over the fresh nonce by the new signer',
      'Merkle-leaf challenge',
      '✓ (iii) a fresh RA quote over the nonce',
      '  events        Uplift, CanonicalChanged',
      '(same address)',
      'role demoted, forwarding to http://127.0.0.1:',
      'POST /admin/withdraw → 409 agent.demoted (refused)',
      'Treasury: 1 ETH (intact)',
      '(a) key ✓  (b) latest state ✓  (c) approved code ✓  (d) canonical ✓  → it is the agent',
      'kmsProvenance          0 / 10',
      'note provenance.none:',
      'the key was imported from the wild',
      'was stopped (SIGTERM)',
      '✓ done in',
    ])
      expect(stdout).toContain(line)
    expect(stdout).toMatch(/security score: [1-9]\d*\/100/)
    expect(stdout).not.toContain('✗')
    // Off a terminal each progress step prints once (when it ends); the uplift's steps numbered 0 to 5, in order.
    const steps = stderr.split('\n').filter((l) => l.startsWith('✔ '))
    expect(steps.length).toBeGreaterThan(15)
    expect(new Set(steps).size).toBe(steps.length)
    expect(stderr).not.toContain('❯')
    const numbered = steps.map((l) => /^✔ step (\d) /.exec(l)?.[1]).filter((n) => n !== undefined)
    expect([...new Set(numbered)]).toEqual(['0', '1', '2', '3', '4', '5'])
    expect(stderr).toContain('✔ treasury: 1 ETH for agent')
    expect(`${stdout}${stderr}`).toMatch(/\b(1 leaf|[02-9] leaves)\b/)
    expect(`${stdout}${stderr}`).not.toMatch(/leaves \d|\b1 leaves|\d{19} wei/)
    // --down: the last line says the devnet stopped.
    expect(stdout.trim().split('\n').at(-1)).toMatch(/^✓ devnet stopped \(/)
  }, 180_000)

  test('behavior: npm start -- --key rotate — the succession event and the TEE key, full KMS provenance', async () => {
    const { stdout } = await start(['--key', 'rotate'])
    for (const line of [
      '(--key rotate)',
      '  events        SuccessionRecorded, Uplift, CanonicalChanged',
      '(new key)',
      'POST /admin/withdraw → 409 agent.demoted (refused)',
      '→ it is the agent',
      'kmsProvenance         10 / 10',
      '✓ done in',
    ])
      expect(stdout).toContain(line)
    expect(stdout).not.toContain('provenance.none')
    expect(stdout).not.toContain('✗')
  }, 180_000)

  test('behavior: the on-chain walk-through (npm run contracts:demo) still deploys and enrolls an agent', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'packages/contracts/scripts/start.ts'], { cwd: root })
    expect(stdout).toContain('✓ deployed 6 contracts')
    expect(stdout).toContain('after the timelock: compose hash approved? true')
    const json = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { chainId: number; agent: { agentId: number } }
    expect(json).toMatchObject({ chainId: 31337, agent: { agentId: 0 } })
  })
})
