/**
 * Ctrl-C during `npm start`: the devnet's start steps are shown as they end; SIGINT once the demo's wild agent runs
 * stops it (its process is gone), says "interrupted" and what still runs (the devnet, with how to stop it), and exits
 * 130, from the demo and from npm start alike. The signal goes only after the line that says the step runs.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { down } from '@regent-tee/devnet'
import { budget } from '@regent-tee/testing/profile'
import { afterAll, describe, expect, test } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
let dir: string | undefined

afterAll(async () => {
  if (!dir) return
  await down({ dir })
  await rm(dir, { recursive: true, force: true })
})

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('npm start, interrupted', () => {
  test(
    'behavior: SIGINT while the wild agent runs: the agent is stopped, "interrupted", the devnet named as still running, exit 130',
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'regent-interrupt-'))
      const child = spawn(process.execPath, ['examples/agent/scripts/start.mjs'], {
        cwd: root,
        env: { ...process.env, REGENT_DIR: dir, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString('utf8')
      })
      const wildLine = new Promise<string>((resolve) => {
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString('utf8')
          const line = stderr.split('\n').find((l) => l.startsWith('✔ wild: agent '))
          if (line) resolve(line)
        })
      })
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      const line = await Promise.race([wildLine, exited.then(() => '')])
      expect(line, `${stdout}\n${stderr}`).toMatch(/^✔ wild: agent \d+ at http/)
      const pid = Number(/\(pid (\d+),/.exec(line)?.[1])
      expect(alive(pid)).toBe(true)
      child.kill('SIGINT')
      expect(await exited).toBe(130)

      // The devnet's start steps were shown as they ended, before the demo.
      for (const step of [
        '  ✔ chain: anvil, chain 31337',
        '  ✔ contracts: ',
        '  ✔ host: the simulated TDX host at',
        '  ✔ kms: 1 KMS node in CVMs',
      ])
        expect(stdout).toContain(step)
      expect(stdout.indexOf('  ✔ kms:')).toBeLessThan(stdout.indexOf('✓ devnet up in'))
      // The demo: interrupted, the devnet still running and how to stop it; its wild agent stopped.
      expect(stderr).toContain(
        `\ninterrupted (SIGINT); still running:\n  - the devnet in ${dir} (stop it with \`regent dev down --devnet-dir ${dir}\`)\n`,
      )
      expect(alive(pid)).toBe(false)
      expect(stdout).toContain(`interrupted: the devnet in ${dir} keeps running; \`npx regent dev down --devnet-dir ${dir}\` stops it.`)
      expect(stdout).not.toContain('done in')
    },
    budget(240_000),
  )
})
