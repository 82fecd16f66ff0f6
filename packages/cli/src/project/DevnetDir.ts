/**
 * Which devnet a command uses, found the way git finds its repository: `--devnet-dir` (or `--dir` for `regent dev …`)
 * when given, else `$REGENT_DEVNET_DIR`, else the nearest `.regent/devnet.json` walking up from the current
 * directory, else `./.regent` (where `regent dev up` starts one). So `cd my-agent && regent deploy` finds the devnet
 * started one directory up.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/** The devnet directory and how it was chosen. */
export type DevnetDir = { dir: string; source: 'flag' | 'env' | 'found' | 'default' }

/** Resolves the devnet directory from an explicit value (a flag), the environment, or the current directory. */
export function resolveDevnetDir(explicit: unknown, cwd: string = process.cwd()): DevnetDir {
  if (typeof explicit === 'string' && explicit !== '') return { dir: resolve(cwd, explicit), source: 'flag' }
  const env = process.env.REGENT_DEVNET_DIR
  if (env) return { dir: resolve(cwd, env), source: 'env' }
  for (let d = resolve(cwd); ; d = dirname(d)) {
    if (existsSync(join(d, '.regent', 'devnet.json'))) return { dir: join(d, '.regent'), source: 'found' }
    if (dirname(d) === d) break
  }
  return { dir: resolve(cwd, '.regent'), source: 'default' }
}
