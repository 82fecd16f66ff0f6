/**
 * An agent package as a devnet app (docs/cli/deploy.md "Build"): its bundle — the package's files with its
 * production dependency tree — assembled and digested by `@regent-tee/devnet` `Bundle`, and its `app-compose.json`
 * template with that digest pinned (`image: <name>@sha256:<hex>`), so the compose hash covers every byte the CVM runs.
 * `regent uplift --bundle` and `regent demo` launch targets this way; `regent deploy` builds a project the same way.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Bundle } from '@regent-tee/devnet'
import { MeasuredSettings } from '@regent-tee/sdk'
import { UsageError } from '../errors.js'

/** The compose template with the settings line in its docker_compose_file (unchanged without settings). */
export function withSettings(template: Uint8Array, settings: MeasuredSettings.Settings | undefined): Uint8Array {
  if (!settings) return template
  let compose: Record<string, unknown>
  try {
    compose = JSON.parse(new TextDecoder().decode(template)) as Record<string, unknown>
  } catch {
    throw new UsageError('compose.invalid', 'app-compose.json is not JSON')
  }
  if (typeof compose.docker_compose_file !== 'string')
    throw new UsageError('compose.invalid', 'app-compose.json has no docker_compose_file')
  return new TextEncoder().encode(
    JSON.stringify({ ...compose, docker_compose_file: MeasuredSettings.insert(compose.docker_compose_file, settings) }),
  )
}

/** A built app: the bundle directory and digest, and the exact compose bytes that pin it. */
export type AgentApp = { bundleDir: string; bundleDigest: string; compose: Uint8Array }

/**
 * Builds the agent package in `dir` (package.json, its `files`, its installed dependencies; `app-compose.json` beside
 * them as the template) into `out`.
 *
 * @throws {UsageError} `bundle.invalid` (no package, a dependency not installed, no app-compose.json or one that
 *   does not reference `{{bundleDigest}}`).
 */
export async function build({
  dir,
  out,
  files,
  settings,
}: {
  dir: string
  out: string
  files?: readonly string[]
  /** The agent's security settings, written into the compose (`x-regent`) so that they are measured. */
  settings?: MeasuredSettings.Settings
}): Promise<AgentApp> {
  const hint = 'an agent package directory: package.json (with its dependencies installed) and an app-compose.json template'
  let template: Uint8Array
  try {
    template = new Uint8Array(await readFile(join(dir, 'app-compose.json')))
  } catch {
    throw new UsageError('bundle.invalid', `no app-compose.json in ${dir}`, { hint })
  }
  try {
    const assembled = await Bundle.assemble({ dir, out, ...(files ? { files } : {}) })
    return {
      bundleDir: assembled.dir,
      bundleDigest: assembled.digest,
      compose: Bundle.pin(withSettings(template, settings), assembled.digest),
    }
  } catch (error) {
    if (error instanceof Bundle.InvalidBundleError) throw new UsageError('bundle.invalid', error.shortMessage, { hint })
    throw error
  }
}
