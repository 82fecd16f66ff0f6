import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { spawnGuarded } from './process.js'

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('spawnGuarded', () => {
  test('default: stop() ends the program and resolves with its exit', async () => {
    const p = spawnGuarded(process.execPath, ['-e', 'process.stdout.write(String(process.pid)); setInterval(() => {}, 1000)'])
    const pid = Number(await new Promise<string>((resolve) => p.child.stdout.once('data', (d: Buffer) => resolve(d.toString()))))
    expect(alive(pid)).toBe(true)
    await p.stop()
    expect(alive(pid)).toBe(false)
  })

  test('behavior: when the parent is SIGKILLed, the guarded program is ended too', async () => {
    // A parent that starts a guarded sleeper, prints its pid, and is then killed with SIGKILL.
    const script = `
      import { spawnGuarded } from ${JSON.stringify(new URL('./process.ts', import.meta.url).href)}
      const p = spawnGuarded(process.execPath, ['-e', 'process.stdout.write(String(process.pid)); setInterval(() => {}, 1000)'])
      p.child.stdout.once('data', (d) => { process.stdout.write(d); process.kill(process.pid, 'SIGKILL') })
    `
    const out = await new Promise<string>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], (_error, stdout) => resolve(stdout))
    })
    const pid = Number(out)
    expect(pid).toBeGreaterThan(0)
    await until(() => !alive(pid))
    expect(alive(pid)).toBe(false)
  })

  test('behavior: pause() freezes the program itself (state T), resume() thaws it; the guard keeps running', async () => {
    const p = spawnGuarded(process.execPath, ['-e', 'process.stdout.write(String(process.pid)); setInterval(() => {}, 1000)'])
    const pid = Number(await new Promise<string>((resolve) => p.child.stdout.once('data', (d: Buffer) => resolve(d.toString()))))
    // /proc/<pid>/stat: "pid (comm) state …"; T = stopped by a signal.
    const state = () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0]
    const guardState = () => readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1]?.[0]
    p.pause()
    await until(() => state() === 'T')
    expect(guardState()).not.toBe('T')
    p.resume()
    await until(() => state() !== 'T')
    await p.stop()
    expect(alive(pid)).toBe(false)
  })

  test('behavior: a program that ignores SIGTERM is SIGKILLed after the grace period', async () => {
    const p = spawnGuarded(
      process.execPath,
      ['-e', "process.on('SIGTERM', () => {}); process.stdout.write('up'); setInterval(() => {}, 1000)"],
      {
        graceSeconds: 1,
      },
    )
    await new Promise((resolve) => p.child.stdout.once('data', resolve))
    const code = await p.stop()
    expect(code).not.toBe(0)
  })

  test('behavior: kill() SIGKILLs the program at once, even one that ignores SIGTERM', async () => {
    const p = spawnGuarded(
      process.execPath,
      ['-e', "process.on('SIGTERM', () => {}); process.stdout.write(String(process.pid)); setInterval(() => {}, 1000)"],
      {
        graceSeconds: 30,
      },
    )
    const pid = Number(await new Promise<string>((resolve) => p.child.stdout.once('data', (d: Buffer) => resolve(d.toString()))))
    await p.kill()
    expect(alive(pid)).toBe(false)
  })
})
