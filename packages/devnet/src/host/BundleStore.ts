/**
 * The host's bundle store: the devnet's stand-in for a container registry. Bundles are kept by digest
 * (`<dir>/<hex>/`, content-addressed, never changed once stored); a CVM runs what the store holds for the digest its
 * compose pins, as docker pulls `image@sha256:…` — the compose hash, and so the quote, covers the code.
 *
 * Pushing a directory copies it in and checks its digest; {@link BundleStore.assemble} builds a bundle straight into
 * the store (what `regent deploy` does on the devnet).
 */
import { existsSync } from 'node:fs'
import { cp, mkdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import * as Bundle from './Bundle.js'

/** A content-addressed store of bundles. */
export type BundleStore = {
  /** The store's directory. */
  readonly dir: string
  /** The directory of the bundle with this digest (`sha256:<hex>`), or `undefined` when the store does not hold it. */
  path(digest: string): string | undefined
  /**
   * Copies a bundle directory into the store (a push) and resolves with its digest.
   *
   * @throws {Bundle.InvalidBundleError} not a bundle (no files, a symlink).
   */
  put(dir: string): Promise<string>
  /** Builds a bundle of a package directly into the store ({@link Bundle.assemble}). */
  assemble(options: Omit<Bundle.AssembleOptions, 'out'>): Promise<Bundle.Assembled>
}

const digestPattern = /^sha256:[0-9a-f]{64}$/

/** Opens (creating) the store in `dir`. */
export function createBundleStore({ dir }: { dir: string }): BundleStore {
  const path = (digest: string) => {
    if (!digestPattern.test(digest)) return undefined
    const p = join(dir, digest.slice('sha256:'.length))
    return existsSync(p) ? p : undefined
  }
  return {
    dir,
    path,
    async put(source) {
      const digest = await Bundle.digest(source)
      if (path(digest)) return digest
      await mkdir(dir, { recursive: true })
      const staging = join(dir, `.push-${process.pid}-${Math.random().toString(36).slice(2)}`)
      try {
        await cp(source, staging, { recursive: true, verbatimSymlinks: true })
        // What was copied is what gets stored: digest the copy (the source may change underneath).
        if ((await Bundle.digest(staging)) !== digest)
          throw new Bundle.InvalidBundleError({ dir: source, reason: 'its files changed while it was pushed' })
        await rename(staging, join(dir, digest.slice('sha256:'.length))).catch((error: unknown) => {
          if (!path(digest)) throw error
        })
        return digest
      } finally {
        await rm(staging, { recursive: true, force: true })
      }
    },
    assemble: (options) => Bundle.assemble({ ...options, out: dir }),
  }
}
