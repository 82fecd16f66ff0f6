/**
 * The devnet's image registry for the Phala stand-in: a compose pins its code as `image: <name>@sha256:<hex>`, and the
 * cloud boots what the devnet host's bundle store (BundleStore.ts, `<devnet dir>/bundles/<hex>/`) holds for that
 * digest. A push copies a bundle in and digests it there.
 */
import { join } from 'node:path'
import { createBundleStore } from '../host/BundleStore.js'

/**
 * Pushes a bundle directory into the devnet's store. Idempotent.
 *
 * @returns The digest `sha256:<hex>` (what the compose pins).
 * @throws {Bundle.InvalidBundleError} for a directory that is not a bundle.
 */
export async function push(options: { dir: string; bundle: string }): Promise<string> {
  return createBundleStore({ dir: join(options.dir, 'bundles') }).put(options.bundle)
}
