/**
 * `regent --help` and every command's help (issue 8: `--help` everywhere with examples; fast start by loading
 * command modules lazily). A module loader hook, installed through NODE_OPTIONS into the real binary, records
 * every ES module the process loads; `--help` must load none of the command modules or the heavy packages they use.
 * Timings are measured and reported (docs/cli/doctor.md), never asserted.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

let work: string
let register: string

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'regent-help-'))
  const hooks = [
    "import { appendFileSync } from 'node:fs'",
    'export async function load(url, context, next) {',
    "  appendFileSync(process.env.REGENT_TRACE_FILE, url + '\\n')",
    '  return next(url, context)',
    '}',
  ]
  await writeFile(join(work, 'hooks.mjs'), `${hooks.join('\n')}\n`)
  await writeFile(join(work, 'register.mjs'), "import { register } from 'node:module'\nregister('./hooks.mjs', import.meta.url)\n")
  register = pathToFileURL(join(work, 'register.mjs')).href
})

/** The modules `regent …args` loads (file URLs, in load order). */
async function trace(name: string, args: string[]): Promise<{ code: number; loaded: string[] }> {
  const file = join(work, `${name}.trace`)
  await writeFile(file, '')
  const r = await regent(args, { env: { NODE_OPTIONS: `--import ${register}`, REGENT_TRACE_FILE: file } })
  return { code: r.code, loaded: (await readFile(file, 'utf8')).split('\n').filter(Boolean) }
}

const heavy = [
  /\/packages\/(sdk|attest|devnet|kms|contracts)\//,
  /\/node_modules\/(viem|ox|@noble|listr2|@phala|better-sqlite3)\//,
  /\/dist\/commands\//,
]

describe('regent --help', () => {
  test('default: lists every command and loads no command module nor any heavy package', async () => {
    const r = await regent(['--help'])
    expect(r.code).toBe(0)
    for (const word of ['dev', 'attest', 'identity', 'keys', 'doctor']) expect(r.stdout).toMatch(new RegExp(`^  ${word}\\b`, 'm'))

    const { code, loaded } = await trace('help', ['--help'])
    expect(code).toBe(0)
    expect(loaded.some((u) => u.endsWith('/packages/cli/dist/spec.js'))).toBe(true)
    expect(loaded.filter((u) => heavy.some((h) => h.test(u)))).toEqual([])
  })

  test('behavior: the hook does see a command module and its packages when that command runs (control)', async () => {
    // A refused `keys derive` still loads commands/keys.js and @regent-tee/sdk before refusing.
    const { code, loaded } = await trace('keys', ['keys', 'derive', '--path', 'p', '--reveal', '--json'])
    expect(code).toBe(2)
    expect(loaded.some((u) => u.endsWith('/dist/commands/keys.js'))).toBe(true)
    expect(loaded.some((u) => /\/packages\/sdk\//.test(u))).toBe(true)
    expect(loaded.some((u) => u.endsWith('/dist/commands/identity.js'))).toBe(false)
  })

  test('behavior: each new command has --help with usage, examples and its docs page', async () => {
    const pages: [string[], string, string][] = [
      [['identity', 'show'], 'Usage: regent identity show [options] <agent-url|bundle-file>', 'docs/cli/identity.md'],
      [['identity', 'verify'], 'Usage: regent identity verify [options] <agent-url|bundle-file>', 'docs/cli/identity.md'],
      [['keys', 'derive'], 'Usage: regent keys derive [options]', 'docs/cli/keys.md'],
      [['doctor'], 'Usage: regent doctor [options]', 'docs/cli/doctor.md'],
    ]
    for (const [words, usage, docs] of pages) {
      const r = await regent([...words, '--help'])
      expect([words.join(' '), r.code]).toEqual([words.join(' '), 0])
      expect(r.stdout.startsWith(usage)).toBe(true)
      expect(r.stdout).toContain('\nExamples:\n  $ regent ')
      expect(r.stdout).toContain(`\nDocs: ${docs}\n`)
    }
    const verify = (await regent(['identity', 'verify', '--help'])).stdout
    for (const flag of [
      '--devnet-dir <dir>',
      '--rpc-url <url>',
      '--contracts <file>',
      '--trust <root>',
      '--collateral <file>',
      '--agent-id <id>',
      '--json',
    ])
      expect(verify).toContain(flag)
    const keys = (await regent(['keys', 'derive', '--help'])).stdout
    for (const flag of ['--path <path>', '--purpose <purpose>', '--endpoint <socket|url>', '--reveal']) expect(keys).toContain(flag)
  })
})
