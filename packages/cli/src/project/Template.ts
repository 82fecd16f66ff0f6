/**
 * The `regent init` template (`packages/cli/templates/agent`): a project `regent deploy` accepts
 * unchanged. Files are copied with `{{name}}` replaced; `{{bundleDigest}}` stays for deploy to pin.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const templateDir = fileURLToPath(new URL('../../templates/agent/', import.meta.url))

/** Template files stored under another name (a `.gitignore` in the CLI's own tree would apply to it). */
const renamed: Record<string, string> = { gitignore: '.gitignore' }

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

/** Writes the template into `dir` (created if needed) for a project called `name`; returns the written paths. */
export async function write(dir: string, options: { name: string }): Promise<string[]> {
  const written: string[] = []
  for (const f of await files()) {
    const text = (await readFile(f.source, 'utf8')).replaceAll('{{name}}', options.name)
    const path = join(dir, f.target)
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, text)
    written.push(f.target)
  }
  return written
}
