/**
 * The example agent that `regent demo` runs and `regent uplift` launches as a target by default: the compiled
 * `@regent-tee/example-agent` package, a dependency of the CLI (found through Node's resolution, so it is the same
 * in this repository and in an installed CLI).
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

/** The example agent's package directory (absolute). */
export const dir: string = dirname(createRequire(import.meta.url).resolve('@regent-tee/example-agent/package.json'))

/** The file a plain process runs to start it (its package.json `main`). */
export const entry: string = join(dir, 'dist', 'main.js')
