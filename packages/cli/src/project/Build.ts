/**
 * The local build (docs/cli/deploy.md "Build"): the project's own build script runs first (`npm run build`, when
 * package.json has one: e.g. `tsc` of the `regent init` template); then the files listed in `regent.json`
 * `paths.bundle`, with the production dependency tree installed in `node_modules`, are assembled into a
 * content-addressed bundle (`@regent-tee/devnet` `Bundle.assemble`: `<project>/.regent/builds/<digest hex>`), and
 * the digest is pinned into the app-compose.json template (`{{bundleDigest}}`), so the compose hash — SHA-256 of the
 * exact compose bytes — covers the code and every dependency it runs. Same inputs → same digest, same bytes.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Bundle } from '@regent-tee/devnet'
import { MeasuredSettings } from '@regent-tee/sdk'
import { CliError, UsageError } from '../errors.js'
import type { Config } from './Config.js'

export const placeholder = Bundle.digestPlaceholder
const docs = 'docs/cli/deploy.md'

export type Build = {
  /** The bundle directory (absolute), `<project>/.regent/builds/<digest hex>`. */
  bundleDir: string
  /** `sha256:<hex>`. */
  bundleDigest: string
  /** The generated app-compose.json bytes (digest pinned) and where they were written. */
  compose: Uint8Array
  composeFile: string
  /** `0x` SHA-256 of the compose bytes (dstack's compose hash). */
  composeHash: `0x${string}`
  /** How many files the bundle holds, their size, and the dependency packages in it. */
  fileCount: number
  bytes: number
  packages: string[]
  /** Whether the project's build script ran. */
  script: boolean
}

/**
 * Builds the project in `dir`.
 *
 * @throws {UsageError} `build.missing_path` (a `paths.bundle` entry does not exist), `build.invalid` (a dependency
 *   is not installed, a symlink in the bundle), `compose.invalid` (the template is not a dstack app-compose object,
 *   or its docker_compose_file does not reference `{{bundleDigest}}`).
 * @throws {CliError} `build.script_failed` (the project's build script exited non-zero; its output is shown).
 */
export async function build(dir: string, config: Config, options: { settings?: MeasuredSettings.Settings } = {}): Promise<Build> {
  const template = await readTemplate(dir, config)
  const script = await runBuildScript(dir)
  const assembled = await Bundle.assemble({ dir, files: config.paths.bundle, out: join(dir, '.regent', 'builds') }).catch(
    (error: unknown) => {
      if (!(error instanceof Bundle.InvalidBundleError)) throw error
      const missing = /files\[(\d+)\] (.+) does not exist/.exec(error.shortMessage)
      if (missing)
        throw new UsageError(
          'build.missing_path',
          `regent.json "paths.bundle[${missing[1]}]": ${missing[2]} does not exist in the project`,
          {
            ...(script ? {} : { hint: 'build the project first (a "build" script in package.json runs before each deploy)' }),
            docs,
          },
        )
      throw new UsageError('build.invalid', error.shortMessage, { hint: 'run `npm install` in the project', docs })
    },
  )
  const withSettings = options.settings
    ? { ...template, docker_compose_file: MeasuredSettings.insert(template.docker_compose_file as string, options.settings) }
    : template
  const compose = Bundle.pin(withSettings, assembled.digest, { name: config.name })
  const composeFile = join(dir, '.regent', 'app-compose.json')
  await writeFile(composeFile, compose)
  return {
    bundleDir: assembled.dir,
    bundleDigest: assembled.digest,
    compose,
    composeFile,
    composeHash: `0x${createHash('sha256').update(compose).digest('hex')}`,
    fileCount: assembled.fileCount,
    bytes: assembled.bytes,
    packages: assembled.packages,
    script,
  }
}

/** Runs `npm run build` when the project's package.json has a build script; resolves whether it ran. */
async function runBuildScript(dir: string): Promise<boolean> {
  const pkg = await readFile(join(dir, 'package.json'), 'utf8').then(
    (t) => JSON.parse(t) as { scripts?: Record<string, unknown> },
    () => undefined,
  )
  if (typeof pkg?.scripts?.build !== 'string') return false
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  await new Promise<void>((resolve, reject) =>
    execFile(npm, ['run', '--silent', 'build'], { cwd: dir, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (!error) return resolve()
      const output = `${stdout}${stderr}`.trim().split('\n').slice(-20).join('\n')
      reject(
        new CliError('build.script_failed', `the project's build script failed (npm run build)${output ? `:\n${output}` : ''}`, {
          hint: 'fix the build (run `npm run build` in the project to see it), then deploy again',
          docs,
        }),
      )
    }),
  )
  return true
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
