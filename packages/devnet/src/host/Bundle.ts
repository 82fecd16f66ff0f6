/**
 * An agent bundle: a directory whose files are the agent (the devnet's stand-in for a container
 * image). Its digest is deterministic — the same files give the same digest on any machine:
 * SHA-256 over the sorted list of `path ‖ 0x00 ‖ SHA-256(content) ‖ 0x0a` for every regular file
 * (paths relative, `/`-separated; `node_modules`, `.git` and `.regent` skipped; symlinks refused).
 */
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { BaseError } from '../errors.js'

const skipped = new Set(['node_modules', '.git', '.regent'])

/** Lists the bundle's files (relative paths, sorted). */
export async function files(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      if (skipped.has(entry.name)) continue
      const full = join(d, entry.name)
      if (entry.isSymbolicLink())
        throw new InvalidBundleError({ dir, reason: `symlink ${relative(dir, full)} (bundles hold regular files only)` })
      if (entry.isDirectory()) await walk(full)
      else if (entry.isFile()) out.push(relative(dir, full).split(sep).join('/'))
    }
  }
  await walk(dir)
  return out.sort()
}

/**
 * The bundle digest, `sha256:<hex>`.
 *
 * @throws {InvalidBundleError} not a directory, empty, or contains a symlink.
 */
export async function digest(dir: string): Promise<string> {
  const s = await stat(dir).catch(() => undefined)
  if (!s?.isDirectory()) throw new InvalidBundleError({ dir, reason: 'not a directory' })
  const list = await files(dir)
  if (list.length === 0) throw new InvalidBundleError({ dir, reason: 'no files' })
  const h = createHash('sha256')
  for (const f of list) {
    h.update(f)
    h.update(Buffer.from([0]))
    h.update(
      createHash('sha256')
        .update(await readFile(join(dir, f)))
        .digest(),
    )
    h.update(Buffer.from([0x0a]))
  }
  return `sha256:${h.digest('hex')}`
}

/**
 * The file the CVM runs: package.json `main`, else `index.mjs`, `index.js`, `main.mjs`, `main.js`.
 *
 * @throws {InvalidBundleError} no entry point.
 */
export async function entry(dir: string): Promise<string> {
  const pkg = await readFile(join(dir, 'package.json'), 'utf8').then(
    (t) => JSON.parse(t) as { main?: unknown },
    () => undefined,
  )
  const candidates = [...(typeof pkg?.main === 'string' ? [pkg.main] : []), 'index.mjs', 'index.js', 'main.mjs', 'main.js']
  for (const c of candidates) {
    const s = await stat(join(dir, c)).catch(() => undefined)
    if (s?.isFile()) return c
  }
  throw new InvalidBundleError({ dir, reason: `no entry point (package.json "main", or one of ${candidates.slice(-4).join(', ')})` })
}

/** A directory that cannot be used as an agent bundle. */
export class InvalidBundleError extends BaseError {
  override name = 'Bundle.InvalidBundleError'
  constructor({ dir, reason }: { dir: string; reason: string }) {
    super(`invalid agent bundle ${dir}: ${reason}.`)
  }
}
