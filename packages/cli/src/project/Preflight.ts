/**
 * What can be checked of a bundle before its compose hash is approved on-chain (an approval of code that cannot even
 * start stays on the chain): the entry parses (`node --check`), and every import of the bundle's own files resolves
 * inside the bundle (a relative file that exists, a package its node_modules holds, or a Node built-in). Dependencies'
 * own files are not scanned: the bundle's assembly already checked their closure.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { Bundle } from '@regent-tee/devnet'
import { CliError } from '../errors.js'

const docs = 'docs/cli/deploy.md'
const builtins = new Set(builtinModules)
/** Static `import … from '…'`, `export … from '…'`, bare `import '…'`, `import('…')` and `require('…')` with a literal. */
const importPattern = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)(['"])([^'"\n]+)\1/g

/**
 * @throws {CliError} `build.entry_invalid` (the entry does not parse), `build.unresolved_import` (naming the file and
 *   the import).
 */
export async function check(bundleDir: string): Promise<{ entry: string; files: number }> {
  const entry = await Bundle.entry(bundleDir)
  const syntax = await new Promise<string | undefined>((done) =>
    execFile(process.execPath, ['--check', join(bundleDir, entry)], { timeout: 30_000 }, (error, _out, stderr) =>
      done(error ? String(stderr) : undefined),
    ),
  )
  if (syntax !== undefined)
    throw new CliError('build.entry_invalid', `the entry ${entry} does not parse: ${firstError(syntax)}`, {
      hint: 'fix the code (node --check shows it), then deploy again; nothing was approved on-chain',
      docs,
    })
  const files = await ownSources(bundleDir)
  for (const file of files) {
    const text = await readFile(file, 'utf8')
    for (const match of text.matchAll(importPattern)) {
      const specifier = match[2] as string
      if (!resolves(specifier, file, bundleDir))
        throw new CliError(
          'build.unresolved_import',
          `${relative(bundleDir, file).split(sep).join('/')} imports "${specifier}", which is not in the bundle`,
          {
            hint: specifier.startsWith('.')
              ? 'add the file to regent.json "paths.bundle" (or fix the path), then deploy again; nothing was approved on-chain'
              : `add "${packageName(specifier)}" to the project's dependencies and install it, then deploy again; nothing was approved on-chain`,
            docs,
          },
        )
    }
  }
  return { entry, files: files.length }
}

function resolves(specifier: string, file: string, bundleDir: string): boolean {
  if (specifier.startsWith('node:') || builtins.has(specifier) || builtins.has(specifier.split('/')[0] as string)) return true
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier)) return true // data:, file:, http: — not a bundle path
  if (specifier.startsWith('.') || specifier.startsWith('/')) {
    const target = resolve(dirname(file), specifier)
    return ['', '.js', '.mjs', '.cjs', '.json', '/index.js', '/index.mjs'].some((ext) => existsSync(target + ext))
  }
  if (specifier.startsWith('#')) return true // package imports map: resolved by Node from package.json
  const name = packageName(specifier)
  for (let d = dirname(file); ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules', name, 'package.json'))) return true
    if (d === bundleDir || dirname(d) === d || !d.startsWith(bundleDir)) return false
  }
}

const packageName = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/')

/** The bundle's own JavaScript files (node_modules left out). */
async function ownSources(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue
    const full = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await ownSources(full)))
    else if (e.isFile() && /\.(m|c)?js$/.test(e.name)) out.push(full)
  }
  return out
}

/** The line of `node --check`'s output that says what is wrong (e.g. `SyntaxError: Unexpected token`). */
function firstError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim())
  const error = lines.find((l) => /^[A-Z][A-Za-z]*Error\b/.test(l)) ?? lines.find(Boolean) ?? 'syntax error'
  const at = lines.find((l) => /:\d+$/.test(l))
  return at ? `${error} (${at.split(sep).slice(-2).join('/')})` : error
}
