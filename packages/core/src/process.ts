/**
 * Child processes that cannot outlive their parent. The program runs under a tiny `sh` guard that
 * holds a pipe from us on fd 3: when we call `stop()`, exit, or are killed (even with SIGKILL), the
 * pipe closes, `read` returns, and the guard sends SIGTERM to the program (then SIGKILL after a grace
 * period). Used for anvil, KMS nodes and devnet CVMs.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'

/** Options of {@link spawnGuarded}. */
export type SpawnGuardedOptions = {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Seconds between SIGTERM and SIGKILL when stopping (default 5). */
  graceSeconds?: number
}

/** A guarded child: its stdout/stderr streams, pid, an `exited` promise and `stop()`. */
export type Guarded = {
  pid: number
  child: ChildProcessByStdio<Writable, Readable, Readable>
  /** Resolves with the program's exit code (null when killed by a signal) once the guard has exited. */
  exited: Promise<number | null>
  /** Ends the program (SIGTERM, then SIGKILL after the grace period) and resolves when it is gone. Idempotent. */
  stop(): Promise<number | null>
  /** Kills the program at once (SIGKILL, no chance to clean up: a crash) and resolves when it is gone. */
  kill(): Promise<number | null>
  /** Freezes the program (SIGSTOP to it, not to the guard): it keeps its sockets and memory but runs no code. */
  pause(): void
  /** Thaws a frozen program (SIGCONT). */
  resume(): void
}

const guard = [
  'exec 3<&0',
  '"$0" "$@" </dev/null & a=$!',
  'trap "kill -TERM $a 2>/dev/null" TERM INT',
  'trap "kill -KILL $a 2>/dev/null" USR1',
  'trap "kill -STOP $a 2>/dev/null" USR2',
  'trap "kill -CONT $a 2>/dev/null" HUP',
  '( read -r _ <&3; kill -TERM $a 2>/dev/null; i=0; while [ $i -lt "$REGENT_GUARD_GRACE" ] && kill -0 $a 2>/dev/null; do sleep 1; i=$((i+1)); done; kill -KILL $a 2>/dev/null ) &',
  'w=$!',
  'wait $a; code=$?',
  'while kill -0 $a 2>/dev/null; do wait $a; code=$?; done', // a trapped signal interrupts wait: wait again
  'kill $w 2>/dev/null',
  'exit $code',
].join('\n')

/**
 * Spawns `command args…` under the guard; stdout and stderr are pipes the caller must consume.
 *
 * @example
 * const p = spawnGuarded('node', ['agent.js'], { env })
 * p.child.stdout.pipe(log)
 * await p.stop()
 */
export function spawnGuarded(command: string, args: readonly string[], options: SpawnGuardedOptions = {}): Guarded {
  const env = { ...(options.env ?? process.env), REGENT_GUARD_GRACE: String(options.graceSeconds ?? 5) }
  const child = spawn('sh', ['-c', guard, command, ...args], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin.on('error', () => {}) // the guard may already be gone when we close its pipe
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let stopping: Promise<number | null> | undefined
  return {
    pid: child.pid ?? -1,
    child,
    exited,
    stop() {
      stopping ??= (async () => {
        child.stdin.end()
        return exited
      })()
      return stopping
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGUSR1') // the guard SIGKILLs the program
      return exited
    },
    pause() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGUSR2') // the guard SIGSTOPs the program
    },
    resume() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGHUP') // the guard SIGCONTs the program
    },
  }
}
