/**
 * `regent.json`, the project file (docs/config.md): what `regent deploy` builds and where it goes.
 * Every error names the field that failed and exits 2.
 */
import { readFile } from 'node:fs/promises'
import { isAbsolute, join, normalize } from 'node:path'
import { UsageError } from '../errors.js'

export const fileName = 'regent.json'
export const targets = ['local', 'phala', 'dstack', 'eigenx'] as const
export type Target = (typeof targets)[number]

/** The contents of `regent.json` (version 1), with defaults filled in. */
export type Config = {
  version: 1
  /** Lowercase letters, digits and dashes: the app's salt (same name → same app id → same wallet) and the image name. */
  name: string
  /** The default `--target`. */
  target: Target
  paths: {
    /** The app-compose.json template, relative to the project. */
    compose: string
    /** Files and directories that make up the bundle, relative to the project. */
    bundle: string[]
  }
  local: {
    /** RegentAppAuth timelock (seconds) of a new app on the devnet. */
    timelock: number
  }
}

const docs = 'docs/config.md'
export const namePattern = /^[a-z0-9][a-z0-9-]{0,62}$/

const invalid = (field: string, message: string) =>
  new UsageError('config.invalid', `invalid regent.json: "${field}" ${message}`, {
    hint: 'fix the field (docs/config.md lists them), or create a project with `regent init`',
    docs,
  })

/**
 * Reads and checks `<dir>/regent.json`.
 *
 * @throws {UsageError} `config.missing` (no file), `config.invalid` (not JSON, or a field is wrong: the message names it).
 */
export async function load(dir: string): Promise<Config> {
  const text = await readFile(join(dir, fileName), 'utf8').catch(() => {
    throw new UsageError('config.missing', `no ${fileName} in ${dir}`, {
      hint: 'run `regent init` to create a project, or pass --dir <project>',
      docs,
    })
  })
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new UsageError('config.invalid', 'invalid regent.json: not JSON', { hint: 'check the syntax of regent.json', docs })
  }
  return parse(value)
}

/** Validates a parsed `regent.json`. @throws {UsageError} `config.invalid`, naming the field. */
export function parse(value: unknown): Config {
  if (!isObject(value)) throw invalid('(root)', 'must be a JSON object')
  if (value.version !== 1) throw invalid('version', 'must be 1')
  if (typeof value.name !== 'string' || !namePattern.test(value.name))
    throw invalid('name', 'must be 1–63 lowercase letters, digits and dashes, starting with a letter or digit')
  const target = value.target ?? 'local'
  if (typeof target !== 'string' || !(targets as readonly string[]).includes(target))
    throw invalid('target', `must be one of ${targets.join(', ')}`)
  const paths = value.paths ?? {}
  if (!isObject(paths)) throw invalid('paths', 'must be an object')
  const compose = paths.compose ?? 'app-compose.json'
  if (typeof compose !== 'string' || !isInside(compose)) throw invalid('paths.compose', 'must be a relative path inside the project')
  const bundle = paths.bundle ?? ['package.json', 'index.mjs', 'src']
  if (!Array.isArray(bundle) || bundle.length === 0) throw invalid('paths.bundle', 'must be a non-empty list of relative paths')
  bundle.forEach((p: unknown, i) => {
    if (typeof p !== 'string' || !isInside(p)) throw invalid(`paths.bundle[${i}]`, 'must be a relative path inside the project')
  })
  const local = value.local ?? {}
  if (!isObject(local)) throw invalid('local', 'must be an object')
  const timelock = local.timelock ?? 0
  if (typeof timelock !== 'number' || !Number.isSafeInteger(timelock) || timelock < 0)
    throw invalid('local.timelock', 'must be a whole number of seconds (0 or more)')
  return {
    version: 1,
    name: value.name,
    target: target as Target,
    paths: { compose, bundle: bundle as string[] },
    local: { timelock },
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isInside(p: string): boolean {
  if (p.length === 0 || isAbsolute(p)) return false
  const n = normalize(p)
  return n !== '..' && !n.startsWith(`..${'/'}`) && !n.startsWith('..\\') && !n.split(/[\\/]/).includes('.regent')
}
