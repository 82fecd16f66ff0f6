/** Runs the real `regent` binary as a child process (what a user runs), for CLI tests. */

import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { vectorsDir } from '@regent-tee/testing/vectors'

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url))
export const vectors = vectorsDir
const bin = fileURLToPath(new URL('../bin/regent.mjs', import.meta.url))

export type Run = { code: number; stdout: string; stderr: string }

/** `regent …args`, resolving (never rejecting) with the exit code and both streams. */
export function regent(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: options.cwd ?? repoRoot, env: { ...process.env, NO_COLOR: '1', ...options.env }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}
