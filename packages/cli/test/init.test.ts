/** `regent init` through the real binary: the scaffold, the non-empty refusal, --force, bad names (issue 8). */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

const files = [
  '.dockerignore',
  '.gitignore',
  'Dockerfile',
  'README.md',
  'app-compose.json',
  'package.json',
  'regent.json',
  'src/main.ts',
  'tsconfig.json',
]
let root: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-init-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('regent init', () => {
  test('default: scaffolds a project named after its directory and prints the files with --json', async () => {
    const dir = join(root, 'My Agent')
    const r = await regent(['init', dir, '--json'])
    expect([r.code, r.stderr]).toEqual([0, ''])
    expect(JSON.parse(r.stdout)).toEqual({ dir, name: 'my-agent', files })

    expect(JSON.parse(await readFile(join(dir, 'regent.json'), 'utf8'))).toEqual({
      version: 1,
      name: 'my-agent',
      target: 'local',
      paths: { compose: 'app-compose.json', bundle: ['package.json', 'dist'] },
      local: { timelock: 0 },
    })
    const compose = JSON.parse(await readFile(join(dir, 'app-compose.json'), 'utf8'))
    expect(compose).toMatchObject({ manifest_version: 2, name: 'my-agent', runner: 'docker-compose', kms_enabled: true })
    expect(compose.docker_compose_file).toContain('image: my-agent@{{bundleDigest}}')
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'))
    // Compiled at build time (npm run build), plain JavaScript at run time; the SDK of this CLI's release.
    expect(pkg).toMatchObject({ name: 'my-agent', type: 'module', main: 'dist/main.js', scripts: { build: 'tsc -p tsconfig.json' } })
    expect(pkg.dependencies).toEqual({ '@regent-tee/sdk': '0.1.0', viem: '2.57.20' })
    const main = await readFile(join(dir, 'src/main.ts'), 'utf8')
    expect(main).not.toContain('{{name}}')
    for (const call of [
      'MeasuredSettings.read(',
      'deriveWallet(',
      'registerAgent(',
      'enroll(',
      'mountUplift(',
      "'GET /health'",
      "'GET /identity'",
    ])
      expect(main).toContain(call)
  })

  test('behavior: human output lists the files and the next commands', async () => {
    const dir = join(root, 'human')
    const r = await regent(['init', dir, '--name', 'quote-bot'])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(
      [
        `✓ created quote-bot in ${dir}`,
        ...files.map((f) => `  ${f}`),
        '',
        'next:',
        `  cd ${dir}`,
        '  npm install',
        '  regent dev up',
        '  regent deploy --target local',
        '',
      ].join('\n'),
    )
  })

  test('behavior: refuses a non-empty directory (exit 2) unless --force, which keeps other files', async () => {
    const dir = join(root, 'busy')
    await mkdir(dir)
    await writeFile(join(dir, 'notes.txt'), 'mine')
    const refused = await regent(['init', dir])
    expect([refused.code, refused.stdout]).toEqual([2, ''])
    expect(refused.stderr).toBe(
      `error: ${dir} is not empty\nhint: choose a new directory, or pass --force to write the template files over it (other files are kept)\ndocs: docs/cli/init.md\n`,
    )
    const json = await regent(['init', dir, '--json'])
    expect([json.code, JSON.parse(json.stdout)]).toEqual([
      2,
      {
        ok: false,
        error: {
          code: 'init.not_empty',
          message: `${dir} is not empty`,
          hint: 'choose a new directory, or pass --force to write the template files over it (other files are kept)',
        },
      },
    ])
    const forced = await regent(['init', dir, '--force', '--json'])
    expect([forced.code, JSON.parse(forced.stdout).files]).toEqual([0, files])
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('mine')
  })

  test('behavior: a bad --name exits 2', async () => {
    const r = await regent(['init', join(root, 'bad-name'), '--name', 'Not_Valid'])
    expect([r.code, r.stderr]).toEqual([
      2,
      'error: --name "Not_Valid" must be 1–63 lowercase letters, digits and dashes, starting with a letter or digit\ndocs: docs/cli/init.md\n',
    ])
  })
})
