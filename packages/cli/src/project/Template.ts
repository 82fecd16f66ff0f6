/**
 * The `regent init` template (`packages/cli/templates/agent`): a project `regent deploy` accepts unchanged — a
 * TypeScript agent compiled by its own `npm run build` (plain JavaScript at run time). Files are copied with
 * `{{name}}` replaced; `{{bundleDigest}}` stays for deploy to pin.
 * Its dependencies are the `@regent-tee/*` packages of this CLI's release (exact versions) from the npm registry
 * the user's npm is configured with.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const templateDir = fileURLToPath(new URL('../../templates/agent/', import.meta.url))
const cliPackage = fileURLToPath(new URL('../../package.json', import.meta.url))

/** Template files stored under another name (a `.gitignore` in the CLI's own tree would apply to it). */
const renamed: Record<string, string> = { gitignore: '.gitignore', dockerignore: '.dockerignore' }

/** The `@regent-tee` packages an agent project depends on at run time. */
const runtimePackages = ['@regent-tee/sdk'] as const
/** Other run-time dependencies of the template's agent (exact versions, as the SDK uses them). */
const otherDependencies = { viem: '2.57.20' }

/** The template's files, as project-relative `/` paths (sorted). */
export async function files(): Promise<{ source: string; target: string }[]> {
  const out: { source: string; target: string }[] = []
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = join(d, entry.name)
      if (entry.isDirectory()) await walk(full)
      else if (entry.isFile()) {
        const rel = relative(templateDir, full).split(sep).join('/')
        out.push({ source: full, target: renamed[rel] ?? rel })
      }
    }
  }
  await walk(templateDir)
  return out.sort((a, b) => (a.target < b.target ? -1 : 1))
}

/** Is `dir` absent or empty? */
export async function isEmpty(dir: string): Promise<boolean> {
  const s = await stat(dir).catch(() => undefined)
  if (!s) return true
  if (!s.isDirectory()) return false
  return (await readdir(dir)).length === 0
}

/** The project's dependencies: the registry versions of this CLI's release, and the agent's other ones. */
export async function dependencies(): Promise<Record<string, string>> {
  const version = (JSON.parse(await readFile(cliPackage, 'utf8')) as { version: string }).version
  const deps: Record<string, string> = { ...otherDependencies }
  for (const p of runtimePackages) deps[p] = version
  return Object.fromEntries(Object.entries(deps).sort(([a], [b]) => (a < b ? -1 : 1)))
}

/** Writes the template into `dir` (created if needed) for a project called `name`; returns the written paths. */
export async function write(dir: string, options: { name: string }): Promise<string[]> {
  const written: string[] = []
  const deps = await dependencies()
  for (const f of await files()) {
    let text = (await readFile(f.source, 'utf8')).replaceAll('{{name}}', options.name)
    if (f.target === 'package.json') {
      const pkg = JSON.parse(text) as Record<string, unknown>
      text = `${JSON.stringify({ ...pkg, dependencies: deps }, null, 2)}\n`
    }
    const path = join(dir, f.target)
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, text)
    written.push(f.target)
  }
  return written.sort()
}
