/**
 * The devnet's image registry for the Phala stand-in: a compose pins its code as `image: <name>@sha256:<hex>` and the
 * cloud boots the bundle stored under `<devnet dir>/bundles/<hex>` (checked against its digest at every boot). Until
 * the devnet's content-addressed bundle store lands this holds a link to the pushed bundle directory (so the bundle's
 * dependencies resolve where it was built); the stand-in reads only through {@link resolve}-like lookups by digest.
 */
import { mkdir, readlink, rm, symlink } from 'node:fs/promises'
import { join, resolve as resolvePath } from 'node:path'
import * as Bundle from '../host/Bundle.js'

/**
 * Pushes a bundle directory: computes its digest and records it under `<dir>/bundles/<hex>`. Idempotent.
 *
 * @returns The digest `sha256:<hex>` (what the compose pins).
 * @throws {Bundle.InvalidBundleError} for a directory that is not a bundle.
 */
export async function push(options: { dir: string; bundle: string }): Promise<string> {
  const digest = await Bundle.digest(options.bundle)
  const root = join(options.dir, 'bundles')
  await mkdir(root, { recursive: true })
  const path = join(root, digest.slice('sha256:'.length))
  const target = resolvePath(options.bundle)
  const current = await readlink(path).catch(() => undefined)
  if (current !== target) {
    await rm(path, { recursive: true, force: true })
    await symlink(target, path, 'dir')
  }
  return digest
}
