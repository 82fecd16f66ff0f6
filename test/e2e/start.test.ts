/** The README's main command (`npm start`) runs to completion and prints a working deployment. */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, test } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('npm start', () => {
  test('default: deploys the on-chain layer, takes one agent through it, prints the deployment', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'packages/contracts/scripts/start.ts'], {
      cwd: root,
    })
    expect(stdout).toContain('✓ deployed 6 contracts')
    expect(stdout).toContain('compose hash approved now? false')
    expect(stdout).toContain('after the timelock: compose hash approved? true')
    expect(stdout).toContain('canonical at epoch 1')
    const json = JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
      chainId: number
      contracts: Record<string, string>
      agent: { agentId: number }
    }
    expect(json.chainId).toBe(31337)
    expect(Object.keys(json.contracts)).toEqual([
      'identityRegistry',
      'reputationRegistry',
      'validationRegistry',
      'appAuth',
      'succession',
      'treasury',
    ])
    expect(json.agent.agentId).toBe(0)
  })
})
