import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import * as Bundle from './Bundle.js'
import { createBundleStore } from './BundleStore.js'

let root: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-bundle-'))
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

/** Writes files (path → content) under `root`. */
async function tree(files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), content)
  }
}
const pkg = (name: string, version: string, extra: Record<string, unknown> = {}) => JSON.stringify({ name, version, ...extra })
/** Runs `node -e <code>` in `cwd`; resolves with stdout, or rejects with stderr. */
const node = (cwd: string, code: string) =>
  new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', code], { cwd }, (error, stdout, stderr) =>
      error ? reject(new Error(stderr)) : resolve(stdout.trim()),
    ),
  )

/**
 * An app that depends on `a` (which depends on `shared@1`) and on `shared@2` directly: npm hoists shared@2 and nests
 * shared@1 under `a`. Plus a native addon, a dev dependency, an optional dependency that is not installed, and files
 * no program loads.
 */
async function app() {
  await tree({
    'app/package.json': pkg('app', '1.0.0', {
      type: 'module',
      main: 'index.js',
      files: ['index.js', 'lib'],
      dependencies: { a: '1', shared: '2', native: '1' },
      optionalDependencies: { absent: '1' },
      devDependencies: { dev: '1' },
    }),
    'app/index.js': "import a from 'a'\nimport shared from 'shared'\nconsole.log(a, shared)\n",
    'app/lib/util.js': 'export const x = 1\n',
    'app/lib/util.test.js': 'throw 1\n',
    'app/notes.txt': 'not listed\n',
    'node_modules/a/package.json': pkg('a', '1.0.0', { type: 'module', main: 'index.js', dependencies: { shared: '1' } }),
    'node_modules/a/index.js': "import s from 'shared'\nexport default 'a(' + s + ')'\n",
    'node_modules/a/index.d.ts': 'export {}\n',
    'node_modules/a/README.md': '# a\n',
    'node_modules/a/src/index.ts': 'export {}\n',
    'node_modules/a/node_modules/shared/package.json': pkg('shared', '1.0.0', { type: 'module', main: 'index.js' }),
    'node_modules/a/node_modules/shared/index.js': "export default 'shared@1'\n",
    'node_modules/shared/package.json': pkg('shared', '2.0.0', { type: 'module', main: 'index.js' }),
    'node_modules/shared/index.js': "export default 'shared@2'\n",
    'node_modules/shared/index.js.map': '{}\n',
    'node_modules/native/package.json': pkg('native', '1.0.0', { main: 'lib/index.js' }),
    'node_modules/native/binding.gyp': '{}\n',
    'node_modules/native/lib/index.js': 'module.exports = 1\n',
    'node_modules/native/src/addon.cc': '// source\n',
    'node_modules/native/deps/sqlite3.c': '// source\n',
    'node_modules/native/build/Release/addon.node': 'binary\n',
    'node_modules/native/build/Release/obj.target/addon.o': 'object\n',
    'node_modules/dev/package.json': pkg('dev', '1.0.0'),
    'node_modules/.bin/a': 'link\n',
  })
}

describe('Bundle.assemble', () => {
  test('default: the listed files plus the production dependency tree, laid out so Node resolves the same packages', async () => {
    await app()
    const out = join(root, 'out')
    const b = await Bundle.assemble({ dir: join(root, 'app'), out })
    expect(b.dir).toBe(join(out, b.digest.slice('sha256:'.length)))
    expect(b.packages).toEqual(['a@1.0.0', 'native@1.0.0', 'shared@1.0.0', 'shared@2.0.0'])
    expect(await Bundle.files(b.dir)).toEqual([
      'index.js',
      'lib/util.js',
      'node_modules/a/index.js',
      'node_modules/a/node_modules/shared/index.js',
      'node_modules/a/node_modules/shared/package.json',
      'node_modules/a/package.json',
      'node_modules/native/binding.gyp',
      'node_modules/native/build/Release/addon.node',
      'node_modules/native/lib/index.js',
      'node_modules/native/package.json',
      'node_modules/shared/index.js',
      'node_modules/shared/package.json',
      'package.json',
    ])
    expect(await Bundle.digest(b.dir)).toBe(b.digest)
    expect(await node(b.dir, "await import('./index.js')")).toBe('a(shared@1) shared@2')
  })

  test('behavior: deterministic — the same files give the same digest; any change to a dependency changes it', async () => {
    await app()
    const first = await Bundle.assemble({ dir: join(root, 'app'), out: join(root, 'out1') })
    const again = await Bundle.assemble({ dir: join(root, 'app'), out: join(root, 'out2') })
    expect(again.digest).toBe(first.digest)
    await writeFile(join(root, 'node_modules/a/node_modules/shared/index.js'), "export default 'shared@1-patched'\n")
    const changed = await Bundle.assemble({ dir: join(root, 'app'), out: join(root, 'out1') })
    expect(changed.digest).not.toBe(first.digest)
  })

  test('behavior: an explicit file list replaces package.json files; a workspace link is packed as npm would publish it', async () => {
    await tree({
      'ws/app/package.json': pkg('app', '1.0.0', { dependencies: { lib: '1' } }),
      'ws/app/main.js': 'x\n',
      'ws/packages/lib/package.json': pkg('lib', '1.0.0', { files: ['dist', '!dist/**/*.test.*'] }),
      'ws/packages/lib/dist/index.js': 'x\n',
      'ws/packages/lib/dist/index.test.js': 'x\n',
      'ws/packages/lib/src/index.ts': 'x\n',
    })
    await mkdir(join(root, 'ws/node_modules'), { recursive: true })
    await symlink('../packages/lib', join(root, 'ws/node_modules/lib'))
    const b = await Bundle.assemble({ dir: join(root, 'ws/app'), files: ['package.json', 'main.js'], out: join(root, 'out') })
    expect(await Bundle.files(b.dir)).toEqual([
      'main.js',
      'node_modules/lib/dist/index.js',
      'node_modules/lib/package.json',
      'package.json',
    ])
  })

  test('behavior: a dependency that is not installed, or a listed file that does not exist, is refused by name', async () => {
    await tree({ 'app/package.json': pkg('app', '1.0.0', { dependencies: { missing: '1' } }) })
    await expect(Bundle.assemble({ dir: join(root, 'app'), out: join(root, 'out') })).rejects.toThrow(
      'dependency missing of app is not installed (run npm install)',
    )
    await expect(Bundle.assemble({ dir: join(root, 'app'), files: ['nope.js'], out: join(root, 'out') })).rejects.toThrow(
      'files[0] nope.js does not exist',
    )
    await expect(Bundle.assemble({ dir: join(root, 'none'), out: join(root, 'out') })).rejects.toThrow(Bundle.InvalidBundleError)
  })
})

describe('Bundle.pin / pinnedDigests', () => {
  const template = {
    manifest_version: 2,
    name: 'x',
    runner: 'docker-compose',
    docker_compose_file: 'services:\n  agent:\n    image: x@{{bundleDigest}}\n',
  }
  const digest = `sha256:${'ab'.repeat(32)}`

  test('default: pins the digest where the template says, and reads it back', () => {
    const compose = Bundle.pin(template, digest, { name: 'renamed' })
    expect(JSON.parse(new TextDecoder().decode(compose))).toEqual({
      ...template,
      name: 'renamed',
      docker_compose_file: `services:\n  agent:\n    image: x@${digest}\n`,
    })
    expect(Bundle.pinnedDigests(compose)).toEqual([digest])
    expect(Bundle.pin(new TextEncoder().encode(JSON.stringify(template)), digest)).toEqual(Bundle.pin(template, digest))
  })

  test('behavior: a template without the placeholder, or not an object, is refused; tags and bad digests pin nothing', () => {
    expect(() => Bundle.pin({ ...template, docker_compose_file: 'image: x:latest' }, digest)).toThrow('does not reference {{bundleDigest}}')
    expect(() => Bundle.pin(new TextEncoder().encode('[1]'), digest)).toThrow('not a JSON object')
    const unpinned = (file: string) => Bundle.pinnedDigests({ docker_compose_file: file })
    expect(unpinned('services:\n  a:\n    image: a:latest\n')).toEqual([])
    expect(unpinned('services:\n  a:\n    image: a@sha256:1234\n')).toEqual([])
    expect(unpinned(`services:\n  a:\n    image: a@${digest}x\n`)).toEqual([])
    expect(Bundle.pinnedDigests(new TextEncoder().encode('not json'))).toEqual([])
  })
})

describe('BundleStore', () => {
  test('default: a push copies the bundle in under its digest; the store serves it by digest only', async () => {
    await tree({ 'b/index.mjs': 'console.log(1)\n', 'b/package.json': '{}' })
    const store = createBundleStore({ dir: join(root, 'store') })
    const digest = await store.put(join(root, 'b'))
    expect(digest).toBe(await Bundle.digest(join(root, 'b')))
    expect(store.path(digest)).toBe(join(root, 'store', digest.slice(7)))
    expect(await readFile(join(store.path(digest) as string, 'index.mjs'), 'utf8')).toBe('console.log(1)\n')
    expect(await store.put(join(root, 'b'))).toBe(digest) // idempotent
    expect(store.path(`sha256:${'00'.repeat(32)}`)).toBeUndefined()
    expect(store.path('../b')).toBeUndefined()
  })

  test('behavior: a directory with a symlink is not a bundle', async () => {
    await tree({ 'b/index.mjs': '1' })
    await symlink('/etc/passwd', join(root, 'b/link'))
    await expect(createBundleStore({ dir: join(root, 'store') }).put(join(root, 'b'))).rejects.toThrow('symlink link')
  })
})
