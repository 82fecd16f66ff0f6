/**
 * Ctrl-C (SIGINT) or SIGTERM during a command that is not long-running: the progress list stops drawing and the
 * cursor comes back, the command's cleanups run (bounded), then "interrupted" and what is still running (the devnet,
 * a kept agent) with how to stop it; exit 130 (SIGINT) or 143 (SIGTERM), as a shell reports a signalled process.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** A progress list drawing now (progress.ts registers them; kept here so that main.ts never loads listr2 for --help). */
export type Drawing = { renderer?: { end(error?: Error): void } }
const drawing = new Set<Drawing>()
const cleanups = new Set<() => Promise<unknown>>()
const notes = new Set<string>()
/** How long cleanups may take before the process exits anyway. */
const cleanupMs = 10_000

/** Registers a list while it draws; the returned function forgets it. */
export function whileDrawing(list: Drawing): () => void {
  drawing.add(list)
  return () => drawing.delete(list)
}

/** Stops every list drawing now: the spinner stops, its last frame stays, the cursor is shown. */
function endDrawing(): void {
  for (const list of drawing) {
    try {
      list.renderer?.end(new Error('interrupted'))
    } catch {}
  }
  drawing.clear()
}

/** Runs `cleanup` when the command is interrupted (stop what it started); the returned function forgets it. */
export function onInterrupt(cleanup: () => Promise<unknown>): () => void {
  cleanups.add(cleanup)
  return () => cleanups.delete(cleanup)
}

/** A line for "still running" when the command is interrupted (something it leaves running on purpose). */
export function stillRunning(line: string): () => void {
  notes.add(line)
  return () => notes.delete(line)
}

/** The devnet in `dir` when its supervisor is alive, as a "still running" line. */
export function runningDevnet(dir: string): string | undefined {
  try {
    const file = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as { pid?: number }
    if (typeof file.pid !== 'number') return undefined
    process.kill(file.pid, 0)
    return `the devnet in ${dir} (stop it with \`regent dev down --devnet-dir ${dir}\`)`
  } catch {
    return undefined
  }
}

/**
 * Handles SIGINT / SIGTERM until the returned function is called. `write` goes to stderr; `devnetDir` names the
 * devnet the command uses (checked when the signal arrives).
 */
export function handleInterrupts(options: { write: (text: string) => void; tty: boolean; devnetDir: () => string }): () => void {
  let interrupted = false
  const handler = (signal: NodeJS.Signals) => {
    // A repeat (a terminal's Ctrl-C and the same signal passed on by a parent) changes nothing: cleanups are bounded.
    if (interrupted) return
    interrupted = true
    endDrawing()
    if (options.tty) options.write('\u001b[?25h')
    void (async () => {
      const timer = new Promise((r) => setTimeout(r, cleanupMs).unref())
      await Promise.race([Promise.allSettled([...cleanups].map((c) => c())), timer])
      const devnet = runningDevnet(options.devnetDir())
      const running = [...notes, ...(devnet ? [devnet] : [])]
      options.write(`\ninterrupted (${signal})${running.length ? `; still running:\n${running.map((l) => `  - ${l}`).join('\n')}` : ''}\n`)
      process.exit(signal === 'SIGINT' ? 130 : 143)
    })()
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
}
