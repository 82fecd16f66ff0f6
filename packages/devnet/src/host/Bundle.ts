/**
 * An agent bundle: a self-contained directory that is all the code a CVM runs — the agent's own files and, under
 * `node_modules/`, the production dependency tree it resolves at run time (the devnet's stand-in for a container
 * image; `regent deploy` builds a Docker image of the same files for real hosts).
 *
 * Digest (deterministic: the same files give the same digest on any machine): SHA-256 over the sorted list of
 * `path ‖ 0x00 ‖ SHA-256(content) ‖ 0x0a` for every regular file of the bundle, dependencies included (paths
 * relative, `/`-separated; symlinks refused). A compose pins it as `image: <name>@sha256:<hex>`, so the compose hash
 * — what the quote's RTMR3 measures and what is approved on-chain — covers every byte the CVM can run.
 *
 * {@link assemble} builds a bundle from a package directory: its files (an explicit list, else package.json `files`)
 * plus the closure of its `dependencies`, `peerDependencies` and installed `optionalDependencies`, resolved
 * the way Node resolves them from each package's real path, laid out so that Node resolves the same packages inside
 * the bundle. What no program loads is left out: `.bin` links, type declarations, source maps, TypeScript sources and
 * markdown of dependencies, and the sources and intermediate objects of native addons (only their built `.node` files
 * are kept).
 */
import { createHash } from 'node:crypto'
import { existsSync, realpathSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { BaseError } from '../errors.js'

const skipped = new Set(['.git', '.regent'])

/** Lists the bundle's files (relative paths, sorted). */
export async function files(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      if (skipped.has(entry.name)) continue
      const full = join(d, entry.name)
      if (entry.isSymbolicLink())
        throw new InvalidBundleError({ dir, reason: `symlink ${relative(dir, full)} (bundles hold regular files only)` })
      if (entry.isDirectory()) await walk(full)
      else if (entry.isFile()) out.push(relative(dir, full).split(sep).join('/'))
    }
  }
  await walk(dir)
  return out.sort()
}

/** The digest of a list of `[path, SHA-256 of content]` (any order). */
function digestOf(hashes: Iterable<readonly [string, Buffer]>): string {
  const h = createHash('sha256')
  for (const [path, content] of [...hashes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    h.update(path)
    h.update(Buffer.from([0]))
    h.update(content)
    h.update(Buffer.from([0x0a]))
  }
  return `sha256:${h.digest('hex')}`
}

/**
 * The bundle digest, `sha256:<hex>`.
 *
 * @throws {InvalidBundleError} not a directory, empty, or contains a symlink.
 */
export async function digest(dir: string): Promise<string> {
  const s = await stat(dir).catch(() => undefined)
  if (!s?.isDirectory()) throw new InvalidBundleError({ dir, reason: 'not a directory' })
  const list = await files(dir)
  if (list.length === 0) throw new InvalidBundleError({ dir, reason: 'no files' })
  const hashes: [string, Buffer][] = []
  await eachLimited(list, 32, async (f) => {
    hashes.push([
      f,
      createHash('sha256')
        .update(await readFile(join(dir, f)))
        .digest(),
    ])
  })
  return digestOf(hashes)
}

/**
 * The file the CVM runs: package.json `main`, else `index.mjs`, `index.js`, `main.mjs`, `main.js`.
 *
 * @throws {InvalidBundleError} no entry point.
 */
export async function entry(dir: string): Promise<string> {
  const pkg = await readFile(join(dir, 'package.json'), 'utf8').then(
    (t) => JSON.parse(t) as { main?: unknown },
    () => undefined,
  )
  const candidates = [...(typeof pkg?.main === 'string' ? [pkg.main] : []), 'index.mjs', 'index.js', 'main.mjs', 'main.js']
  for (const c of candidates) {
    const s = await stat(join(dir, c)).catch(() => undefined)
    if (s?.isFile()) return c.replace(/^\.\//, '')
  }
  throw new InvalidBundleError({ dir, reason: `no entry point (package.json "main", or one of ${candidates.slice(-4).join(', ')})` })
}

/** Options of {@link assemble}. */
export type AssembleOptions = {
  /** The package (or project) directory: its package.json names the dependencies. */
  dir: string
  /** The package's own files and directories to include (relative); default: package.json `files` and package.json. */
  files?: readonly string[] | undefined
  /** Where bundles are kept: the result is `<out>/<hex of the digest>` (reused when it exists). */
  out: string
}

/** An assembled bundle. */
export type Assembled = {
  /** `<out>/<hex>`. */
  dir: string
  /** `sha256:<hex>`. */
  digest: string
  /** How many files, and their total size in bytes. */
  fileCount: number
  bytes: number
  /** The dependency packages included (`name@version`, sorted). */
  packages: string[]
}

type PackageJson = {
  name?: string
  version?: string
  main?: string
  files?: string[]
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
}

/**
 * Builds a self-contained bundle of the package in `dir` with its production dependency tree, and its digest.
 *
 * @throws {InvalidBundleError} no package.json, a listed file missing, or a (non-optional) dependency that does not
 *   resolve from where it is required (run `npm install` first).
 * @example
 * const { dir, digest } = await Bundle.assemble({ dir: projectDir, files: ['package.json', 'dist'], out })
 */
export async function assemble(options: AssembleOptions): Promise<Assembled> {
  if (!existsSync(options.dir)) throw new InvalidBundleError({ dir: options.dir, reason: 'no such directory' })
  const root = realpathSync(options.dir)
  const pkg = await readPackage(root)
  if (!pkg) throw new InvalidBundleError({ dir: options.dir, reason: 'no package.json' })
  const own = options.files ?? ['package.json', ...(pkg.files ?? [])]

  // What goes where: [bundle-relative path, source file]. The package's own files first, then the dependency tree.
  const plan = new Map<string, string>()
  for (const [i, p] of own.entries()) {
    if (p.startsWith('!')) continue
    const from = join(root, p)
    if (!existsSync(from)) throw new InvalidBundleError({ dir: options.dir, reason: `files[${i}] ${p} does not exist` })
    await collect(from, p.replace(/\/+$/, ''), plan, ownFilter(own))
  }
  const packages = await layOut(root, pkg, plan)

  await mkdir(options.out, { recursive: true })
  const staging = join(options.out, `.staging-${process.pid}-${Math.random().toString(36).slice(2)}`)
  await mkdir(staging, { recursive: true })
  try {
    const hashes: [string, Buffer][] = []
    let bytes = 0
    const dirs = new Set([...plan.keys()].map((to) => dirname(join(staging, ...to.split('/')))))
    for (const d of [...dirs].sort()) await mkdir(d, { recursive: true })
    await eachLimited([...plan], 32, async ([to, from]) => {
      const [content, s] = await Promise.all([readFile(from), stat(from)])
      bytes += content.length
      hashes.push([to, createHash('sha256').update(content).digest()])
      await writeFile(join(staging, ...to.split('/')), content, { mode: s.mode & 0o755 })
    })
    if (hashes.length === 0) throw new InvalidBundleError({ dir: options.dir, reason: 'no files' })
    const digest = digestOf(hashes)
    const dir = join(options.out, digest.slice('sha256:'.length))
    if (existsSync(dir)) await rm(staging, { recursive: true, force: true })
    else
      await rename(staging, dir).catch(async (error: unknown) => {
        if (!existsSync(dir)) throw error // another process put the same bundle first: keep theirs
        await rm(staging, { recursive: true, force: true })
      })
    return { dir, digest, fileCount: hashes.length, bytes, packages }
  } catch (error) {
    await rm(staging, { recursive: true, force: true })
    throw error
  }
}

/** Files that no program loads: type declarations, source maps, build info. */
const unused = /(\.d\.[cm]?ts|\.d\.[cm]?ts\.map|\.map|\.tsbuildinfo)$/
/** Also never loaded from a dependency: TypeScript sources (Node 20 does not run them) and markdown. */
const unusedInDependency = /\.([cm]?ts|md|markdown)$/

/** Own files: skip tests, type declarations and maps, and what package.json `files` negates (`!dir/**\/*.ext` forms). */
function ownFilter(list: readonly string[]): (path: string) => boolean {
  const negated = list.filter((p) => p.startsWith('!')).map((p) => globToRegExp(p.slice(1)))
  return (path) => !/\.test\.[cm]?[jt]s(\.map)?$/.test(path) && !unused.test(path) && !negated.some((r) => r.test(path))
}

function globToRegExp(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*'
      i++
      if (glob[i + 1] === '/') i++
    } else if (c === '*') re += '[^/]*'
    else re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

/** Adds every regular file under `from` (a file or a directory) to the plan at `to`, if `keep` accepts its bundle path. */
async function collect(from: string, to: string, plan: Map<string, string>, keep: (path: string) => boolean): Promise<void> {
  const s = await stat(from)
  if (s.isFile()) {
    if (keep(to)) plan.set(to, from)
    return
  }
  if (!s.isDirectory()) return
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || skipped.has(entry.name)) continue
    const full = join(from, entry.name)
    if (entry.isSymbolicLink()) continue // never followed: a bundle holds only what it contains
    await collect(full, to === '' ? entry.name : `${to}/${entry.name}`, plan, keep)
  }
}

/**
 * Resolves the dependency closure from `root` and adds each package's files to the plan under `node_modules/`, placed
 * so that Node's lookup (walking up `node_modules` directories) finds, from every package, the very package it found
 * outside the bundle: a dependency goes to the top level when nothing shadows it there, else beside its dependent.
 */
async function layOut(root: string, pkg: PackageJson, plan: Map<string, string>): Promise<string[]> {
  /** Bundle location (`''` for the root, else `node_modules/a/node_modules/b`) → the real path placed there. */
  const placed = new Map<string, string>([['', root]])
  const included = new Set<string>()
  const queue: { at: string; real: string; pkg: PackageJson }[] = [{ at: '', real: root, pkg }]
  while (queue.length > 0) {
    const { at, real, pkg: current } = queue.shift() as (typeof queue)[number]
    // Dependencies and peers (npm installs required peers; an optional peer may still be imported, so it is taken
    // when installed); optional dependencies and optional peers that are not installed are left out.
    const optional = { ...current.optionalDependencies }
    for (const [n, meta] of Object.entries(current.peerDependenciesMeta ?? {})) if (meta.optional) optional[n] = '*'
    const names = Object.keys({ ...current.dependencies, ...current.peerDependencies, ...current.optionalDependencies })
    for (const name of names.sort()) {
      const found = resolvePackage(real, name)
      if (!found) {
        if (name in optional) continue
        throw new InvalidBundleError({
          dir: root,
          reason: `dependency ${name} of ${current.name ?? 'the package'} is not installed (run npm install)`,
        })
      }
      // Where Node would look from `at`, nearest first: the first occupied place decides.
      let decided = false
      for (const candidate of lookupPath(at, name)) {
        const there = placed.get(candidate)
        if (there === undefined) continue
        if (there !== found) break // shadowed by another package of that name: place it beside its dependent
        decided = true
        break
      }
      if (decided) continue
      const top = `node_modules/${name}`
      const place =
        !placed.has(top) && lookupPath(at, name).every((c) => c === top || !placed.has(c))
          ? top
          : `${at ? `${at}/` : ''}node_modules/${name}`
      placed.set(place, found)
      const dep = (await readPackage(found)) ?? {}
      included.add(`${name}@${dep.version ?? '0.0.0'}`)
      await addPackage(found, place, dep, plan)
      queue.push({ at: place, real: found, pkg: dep })
    }
  }
  return [...included].sort()
}

/** The `node_modules/<name>` places Node tries from bundle location `at`, nearest first. */
function lookupPath(at: string, name: string): string[] {
  const out: string[] = []
  let dir = at
  for (;;) {
    if (!dir.endsWith('node_modules')) out.push(`${dir ? `${dir}/` : ''}node_modules/${name}`)
    if (dir === '') return out
    const i = dir.lastIndexOf('/')
    dir = i < 0 ? '' : dir.slice(0, i)
  }
}

/** Node's lookup of package `name` from the real directory `from`: `<dir>/node_modules/<name>` walking up. */
function resolvePackage(from: string, name: string): string | undefined {
  let dir = from
  for (;;) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate)
    const up = dirname(dir)
    if (up === dir) return undefined
    dir = up
  }
}

/**
 * A dependency's files: an installed package (under a `node_modules` directory) is copied as installed; a linked
 * workspace package as `npm pack` would publish it (package.json and its `files`). Native addons keep only their
 * JavaScript and built `.node` files.
 */
async function addPackage(real: string, place: string, pkg: PackageJson, plan: Map<string, string>): Promise<void> {
  const native = existsSync(join(real, 'binding.gyp'))
  const keep = (path: string): boolean => {
    const inner = path.slice(place.length + 1)
    if (unused.test(inner) || unusedInDependency.test(inner) || inner.startsWith('.bin/')) return false
    if (native && (/^(src|deps)\//.test(inner) || (inner.startsWith('build/') && !/^build\/Release\/[^/]+\.node$/.test(inner))))
      return false
    return true
  }
  const linked = !real.split(sep).includes('node_modules')
  if (!linked) return collect(real, place, plan, keep)
  const list = ['package.json', ...(pkg.files ?? ['.'])]
  const own = ownFilter(list)
  for (const p of list) {
    if (p.startsWith('!') || !existsSync(join(real, p))) continue
    const rel = p === '.' ? '' : p.replace(/\/+$/, '')
    await collect(join(real, p), rel ? `${place}/${rel}` : place, plan, (path) => keep(path) && own(path.slice(place.length + 1)))
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

async function readPackage(dir: string): Promise<PackageJson | undefined> {
  return readFile(join(dir, 'package.json'), 'utf8').then(
    (t) => JSON.parse(t) as PackageJson,
    () => undefined,
  )
}

/**
 * The `sha256:<hex>` digests a compose pins (`image: <name>@sha256:<hex>` in its docker_compose_file), in order.
 */
export function pinnedDigests(compose: Uint8Array | Record<string, unknown>): string[] {
  let value: unknown = compose
  if (compose instanceof Uint8Array) {
    try {
      value = JSON.parse(new TextDecoder().decode(compose))
    } catch {
      return []
    }
  }
  const file = (value as { docker_compose_file?: unknown } | null)?.docker_compose_file
  if (typeof file !== 'string') return []
  return [...file.matchAll(/image:\s*["']?[^\s"'@]+@(sha256:[0-9a-f]{64})["']?\s*$/gm)].map((m) => m[1] as string)
}

/** The placeholder a compose template uses where `regent deploy` pins the bundle digest. */
export const digestPlaceholder = '{{bundleDigest}}'

/**
 * The compose with the bundle digest pinned in place of {@link digestPlaceholder} (compact JSON bytes; `name`
 * set when given). The template is the parsed app-compose.json object or its bytes.
 *
 * @throws {InvalidBundleError} not a JSON object, or its docker_compose_file does not contain the placeholder.
 */
export function pin(template: Record<string, unknown> | Uint8Array, bundleDigest: string, options: { name?: string } = {}): Uint8Array {
  let value: unknown = template
  if (template instanceof Uint8Array) {
    try {
      value = JSON.parse(new TextDecoder().decode(template))
    } catch {
      value = undefined
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidBundleError({ dir: '(compose)', reason: 'the compose template is not a JSON object' })
  const compose = value as Record<string, unknown>
  const file = compose.docker_compose_file
  if (typeof file !== 'string' || !file.includes(digestPlaceholder))
    throw new InvalidBundleError({ dir: '(compose)', reason: `docker_compose_file does not reference ${digestPlaceholder}` })
  return new TextEncoder().encode(
    JSON.stringify({
      ...compose,
      ...(options.name ? { name: options.name } : {}),
      docker_compose_file: file.replaceAll(digestPlaceholder, bundleDigest),
    }),
  )
}

/** A directory that cannot be used as an agent bundle. */
export class InvalidBundleError extends BaseError {
  override name = 'Bundle.InvalidBundleError'
  override readonly code = 'bundle.invalid'
  constructor({ dir, reason }: { dir: string; reason: string }) {
    super(`invalid agent bundle ${dir}: ${reason}.`)
  }
}
