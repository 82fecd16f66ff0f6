/**
 * The README's main command (`npm start`) end to end: devnet up (anvil, contracts, KMS, TDX host),
 * the example agent in a CVM registering itself and becoming canonical, verified from the outside.
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
  test('default: the example agent boots in a devnet CVM, is the agent by the identity function, and scores 80 (devnet root)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regent-start-'))
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/agent/scripts/start.ts', '--down'], {
      cwd: root,
      env: { ...process.env, REGENT_DIR: dir },
    })
    for (const line of [
      '✓ devnet up in',
      'registered in RegentAppAuth; compose hash',
      'booted: keys from the KMS after attestation',
      'registered in ERC-8004, wallet 0x',
      'committed state root 0x',
      'Identity function: (a) key ✓  (b) latest state ✓  (c) approved code ✓  (d) canonical ✓',
      'Security score: 80/100',
      'hardware               10 / 30  devnet root of trust',
    ])
      expect(stdout).toContain(line)
    expect(stdout).not.toContain('✗')
  })

  test('behavior: the on-chain walk-through (npm run contracts:demo) still deploys and enrolls an agent', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'packages/contracts/scripts/start.ts'], { cwd: root })
    expect(stdout).toContain('✓ deployed 6 contracts')
    expect(stdout).toContain('after the timelock: compose hash approved? true')
    const json = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { chainId: number; agent: { agentId: number } }
    expect(json).toMatchObject({ chainId: 31337, agent: { agentId: 0 } })
  })
})
