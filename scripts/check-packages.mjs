#!/usr/bin/env node
/**
 * `npm run check:packages`: proves the packages work outside this repository, as a stranger gets them.
 *
 * 1. `npm pack` of every publishable package (scripts/pack.mjs);
 * 2. publint on every tarball, @arethetypeswrong/cli (ESM-only profile) on every library;
 * 3. a local registry serves the tarballs (scripts/local-registry.mjs; everything else comes from the real registry);
 * 4. in a fresh project outside the repository, `npm install @regent-tee/sdk @regent-tee/attest`, then plain `node`
 *    imports both and calls documented functions (a full offline DCAP verification of a real quote);
 * 5. docs/quickstart.md is followed literally: every ```sh block, in order, in one bash shell (`set -euo pipefail`) in
 *    an empty temp directory, with a temp global prefix — `npm install --global @regent-tee/cli`, `regent dev up`,
 *    `regent init`, `npm install`, `regent deploy`, `regent identity verify`, `regent dev down`, as written.
 *
 * Prints one line per check and ends with `N passed, N failed`; exit 1 when anything failed. Needs the npm registry
 * (third-party dependencies) and git-free temp space; takes a few minutes. `--keep` keeps the temp directory.
 */
import { execFile, spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startLocalRegistry } from './local-registry.mjs'
import { pack, publishable } from './pack.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const keep = process.argv.includes('--keep')
const work = mkdtempSync(join(tmpdir(), 'regent-packages-'))
const results = []
const say = (line) => process.stdout.write(`${line}\n`)

function record(name, ok, detail = '') {
  results.push({ name, ok })
  say(`${ok ? '✓' : '✗'} ${name}${detail ? `: ${detail}` : ''}`)
}

/** Runs a command; resolves with { code, output } (never rejects). */
function run(cmd, args, options = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, ...options }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` }),
    )
  })
}
const tail = (text, n = 25) => text.trim().split('\n').slice(-n).join('\n')

/** The ```sh blocks of a markdown file, in order. */
export function shellBlocks(markdown) {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1])
}

const packs = join(work, 'packs')
let registry
try {
  const t0 = performance.now()
  const tarballs = pack(packs)
  record(
    `pack: ${tarballs.length} tarballs`,
    tarballs.length === publishable.length,
    tarballs.map((t) => `${t.name} ${(t.size / 1024).toFixed(0)} KiB`).join(', '),
  )

  for (const t of tarballs) {
    const r = await run(process.execPath, [join(root, 'node_modules/publint/src/cli.js'), 'run', t.file, '--strict'])
    record(`publint ${t.name}`, r.code === 0 && /All good!/.test(r.output), r.code === 0 ? '' : tail(r.output, 10))
  }
  for (const t of tarballs.filter((t) => !/cli|example-agent/.test(t.name))) {
    const r = await run(process.execPath, [join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js'), t.file, '--profile', 'esm-only'])
    record(`attw ${t.name}`, r.code === 0, r.code === 0 ? '' : tail(r.output, 15))
  }

  registry = await startLocalRegistry({ packs })
  const env = {
    ...process.env,
    npm_config_registry: registry.url,
    npm_config_cache: join(work, 'npm-cache'),
    npm_config_prefix: join(work, 'global'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    ...(registry.prebuildHost ? { npm_config_better_sqlite3_binary_host: registry.prebuildHost } : {}),
    PATH: `${join(work, 'global', 'bin')}:${process.env.PATH}`,
    REGENT_DEVNET_DIR: '',
    NO_COLOR: '1',
  }
  delete env.REGENT_DEVNET_DIR
  for (const k of Object.keys(env)) if (k.startsWith('npm_package_') || k === 'npm_lifecycle_event' || k === 'INIT_CWD') delete env[k]

  // 4. The libraries from a plain project, with plain node.
  const lib = join(work, 'library-user')
  mkdirSync(lib, { recursive: true })
  writeFileSync(join(lib, 'package.json'), JSON.stringify({ name: 'library-user', private: true, type: 'module' }))
  const installed = await run('npm', ['install', '@regent-tee/sdk', '@regent-tee/attest'], { cwd: lib, env })
  record(
    'npm install @regent-tee/sdk @regent-tee/attest (fresh project)',
    installed.code === 0,
    installed.code === 0 ? '' : tail(installed.output),
  )
  const vectors = join(root, 'packages/testing/vectors/dcap-qvl/sample')
  copyFileSync(join(vectors, 'tdx_quote'), join(lib, 'quote.bin'))
  copyFileSync(join(vectors, 'tdx_quote_collateral.json'), join(lib, 'collateral.json'))
  writeFileSync(
    join(lib, 'check.mjs'),
    [
      "import { readFileSync } from 'node:fs'",
      "import { Quote, verifyQuote, intelSgxRootCa } from '@regent-tee/attest'",
      "import { Checkpoint, createTeeClient, http } from '@regent-tee/sdk'",
      "const quote = readFileSync('quote.bin')",
      'const parsed = Quote.parse(quote)',
      "const verdict = await verifyQuote(quote, { collateral: JSON.parse(readFileSync('collateral.json', 'utf8')), now: new Date(1751624191 * 1000), trustedRoots: [intelSgxRootCa] })",
      "const client = createTeeClient({ transport: http({ url: 'http://127.0.0.1:9' }) })",
      'const root = Checkpoint.computeRoot([new Uint8Array([1, 2, 3])], 3)',
      'console.log(JSON.stringify({ version: parsed.header.version, status: verdict.status, hardware: verdict.hardware, client: typeof client.request, root }))',
    ].join('\n'),
  )
  const used = await run(process.execPath, ['check.mjs'], { cwd: lib, env })
  const facts = used.code === 0 ? JSON.parse(used.output.trim().split('\n').at(-1)) : undefined
  record(
    'plain node imports @regent-tee/attest and @regent-tee/sdk: a real TDX quote verifies offline (UpToDate)',
    facts?.version === 4 &&
      facts?.status === 'UpToDate' &&
      facts?.hardware === 'tdx' &&
      facts?.client === 'function' &&
      /^0x[0-9a-f]{64}$/.test(facts?.root),
    used.code === 0 ? used.output.trim() : tail(used.output),
  )

  // 5. docs/quickstart.md, literally.
  const blocks = shellBlocks(readFileSync(join(root, 'docs/quickstart.md'), 'utf8'))
  const script = ['set -euo pipefail', 'trap \'echo "quickstart failed at: $BASH_COMMAND" >&2\' ERR', ...blocks].join('\n')
  const home = join(work, 'quickstart')
  mkdirSync(home, { recursive: true })
  writeFileSync(join(work, 'quickstart.sh'), script)
  const started = performance.now()
  const quick = await new Promise((resolve) => {
    const child = spawn('bash', [join(work, 'quickstart.sh')], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => {
      output += d
    })
    child.stderr.on('data', (d) => {
      output += d
    })
    child.on('close', (code) => resolve({ code, output }))
  })
  writeFileSync(join(work, 'quickstart.log'), quick.output)
  const verified = /✓ the instance is agent \d+/.test(quick.output)
  record(
    `docs/quickstart.md followed literally (${blocks.length} blocks, ${((performance.now() - started) / 1000).toFixed(0)} s)`,
    quick.code === 0 && verified,
    quick.code === 0 && verified ? '' : tail(quick.output, 40),
  )
  if (quick.code !== 0)
    await run(
      'bash',
      ['-c', 'for d in $(find . -name devnet.json -path "*/.regent/*"); do regent dev down --dir "$(dirname "$d")"; done'],
      { cwd: home, env },
    )
  say(`(${((performance.now() - t0) / 1000).toFixed(0)} s in all; work directory ${keep ? work : 'removed'})`)
} catch (error) {
  record('check-packages', false, error?.stack ?? String(error))
} finally {
  await registry?.close()
  if (!keep) rmSync(work, { recursive: true, force: true })
}
const failed = results.filter((r) => !r.ok).length
say(`${results.length - failed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1
