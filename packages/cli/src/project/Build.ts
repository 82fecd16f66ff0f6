/**
 * The local build (docs/cli/deploy.md "Build"): the files listed in `regent.json` `paths.bundle` are
 * copied into a content-addressed bundle directory, digested with the devnet's rule
 * (`@regent-tee/devnet` `Bundle.digest`: SHA-256 over the sorted `path ‖ 0x00 ‖ SHA-256(content) ‖ 0x0a`),
 * and the digest is pinned into the app-compose.json template (`{{bundleDigest}}`), so the compose
 * hash — SHA-256 of the exact compose bytes — covers the code. Same inputs → same digest, same bytes.
 */
import { createHash } from 'node:crypto'
import { cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Bundle } from '@regent-tee/devnet'
import { UsageError } from '../errors.js'
import type { Config } from './Config.js'

export const placeholder = '{{bundleDigest}}'
const docs = 'docs/cli/deploy.md'

export type Build = {
  /** The bundle directory (absolute), `<project>/.regent/builds/<first 16 hex of the digest>`. */
  bundleDir: string
  /** `sha256:<hex>`. */
  bundleDigest: string
  /** The generated app-compose.json bytes (digest pinned) and where they were written. */
  compose: Uint8Array
  composeFile: string
  /** `0x` SHA-256 of the compose bytes (dstack's compose hash). */
  composeHash: `0x${string}`
  files: string[]
}

/**
 * Builds the project in `dir`.
 *
 * @throws {UsageError} `build.missing_path` (a `paths.bundle` entry does not exist), `compose.invalid`
 *   (the template is not a dstack app-compose object, or its docker_compose_file does not reference `{{bundleDigest}}`).
 */
export async function build(dir: string, config: Config): Promise<Build> {
  const template = await readTemplate(dir, config)
  const out = join(dir, '.regent', 'builds')
  const staging = join(out, `.staging-${process.pid}`)
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
  try {
    for (const [i, p] of config.paths.bundle.entries()) {
      const from = join(dir, p)
      if (!(await stat(from).catch(() => undefined)))
        throw new UsageError('build.missing_path', `regent.json "paths.bundle[${i}]": ${p} does not exist in the project`, { docs })
      await cp(from, join(staging, p), {
        recursive: true,
        filter: (source) => !/(^|[\\/])(node_modules|\.git|\.regent)$/.test(source.slice(dir.length)),
      })
    }
    const bundleDigest = await Bundle.digest(staging)
    const bundleDir = join(out, bundleDigest.slice('sha256:'.length, 'sha256:'.length + 16))
    if (await stat(bundleDir).catch(() => undefined)) await rm(staging, { recursive: true, force: true })
    else await rename(staging, bundleDir)
    const compose = pin(template, config, bundleDigest)
    const composeFile = join(dir, '.regent', 'app-compose.json')
    await writeFile(composeFile, compose)
    return {
      bundleDir,
      bundleDigest,
      compose,
      composeFile,
      composeHash: `0x${createHash('sha256').update(compose).digest('hex')}`,
      files: await Bundle.files(bundleDir),
    }
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

async function readTemplate(dir: string, config: Config): Promise<Record<string, unknown>> {
  const bad = (message: string) =>
    new UsageError('compose.invalid', `invalid ${config.paths.compose}: ${message}`, {
      hint: 'start from the template `regent init` writes',
      docs,
    })
  const text = await readFile(join(dir, config.paths.compose), 'utf8').catch(() => {
    throw new UsageError('compose.missing', `no ${config.paths.compose} in the project (regent.json "paths.compose")`, { docs })
  })
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw bad('not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('must be a JSON object')
  const compose = value as Record<string, unknown>
  if (compose.manifest_version !== 2) throw bad('"manifest_version" must be 2 (dstack app-compose)')
  if (typeof compose.docker_compose_file !== 'string' || !compose.docker_compose_file.includes(placeholder))
    throw bad(`"docker_compose_file" must reference ${placeholder} (the image digest deploy pins, so the compose hash covers the code)`)
  return compose
}

/** The generated compose: the template with `name` set to the project name and the digest pinned; compact JSON. */
export function pin(template: Record<string, unknown>, config: Config, bundleDigest: string): Uint8Array {
  const compose = {
    ...template,
    name: config.name,
    docker_compose_file: String(template.docker_compose_file).replaceAll(placeholder, bundleDigest),
  }
  return new TextEncoder().encode(JSON.stringify(compose))
}
