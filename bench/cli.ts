/**
 * `npm run bench:cli`: the CLI as a user gets it (issue 12). Packs every package, installs `@regent-tee/cli` globally
 * into a temp prefix from the local registry (scripts/local-registry.mjs; third-party packages from the real one),
 * then times, in interleaved rounds so that machine noise hits all alike:
 *   - `node -e 0` (the floor: a bare Node start),
 *   - `regent --help`,
 *   - `regent attest verify <real TDX quote> --collateral <its collateral> --now <t> --json` (a full DCAP verification),
 * and reports medians, ratios to the floor (goal: `--help` ≤ 3×), and the install size of the CLI with its
 * dependencies. Prints one JSON object.
 *
 *   npm run bench:cli [-- --rounds 15]
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { startLocalRegistry } from '../scripts/local-registry.mjs'
import { pack } from '../scripts/pack.mjs'

const at = process.argv.indexOf('--rounds')
const rounds = at > 0 ? Number(process.argv[at + 1]) : 15
const work = mkdtempSync(join(tmpdir(), 'regent-bench-cli-'))
const log = (line: string) => process.stderr.write(`${line}\n`)

try {
  log('packing…')
  const packs = join(work, 'packs')
  const tarballs = pack(packs)
  const registry = await startLocalRegistry({ packs })
  const prefix = join(work, 'global')
  const env = {
    ...process.env,
    npm_config_registry: registry.url,
    npm_config_prefix: prefix,
    npm_config_cache: join(work, 'npm-cache'),
    ...(registry.prebuildHost ? { npm_config_better_sqlite3_binary_host: registry.prebuildHost } : {}),
  }
  log('npm install --global @regent-tee/cli…')
  const t0 = performance.now()
  // Asynchronous: the local registry answers from this process's event loop.
  await new Promise<void>((done, fail) =>
    execFile('npm', ['install', '--global', '--no-audit', '--no-fund', '@regent-tee/cli'], { env, maxBuffer: 64 << 20 }, (error) =>
      error ? fail(error) : done(),
    ),
  )
  const installMs = performance.now() - t0
  await registry.close()
  const installDir = join(prefix, 'lib', 'node_modules', '@regent-tee', 'cli')
  const du = (dir: string) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) * 1024
  // Installed packages: every node_modules/<name> and node_modules/@scope/<name> with a package.json, at any depth.
  const countPackages = (dir: string): number => {
    let n = 0
    const modules = join(dir, 'node_modules')
    if (!existsSync(modules)) return 0
    for (const entry of readdirSync(modules)) {
      const names = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((e) => join(entry, e)) : [entry]
      for (const name of names) {
        const pkg = join(modules, name)
        if (existsSync(join(pkg, 'package.json'))) n += 1 + countPackages(pkg)
      }
    }
    return n
  }
  const packages = countPackages(installDir)

  const regent = join(prefix, 'bin', 'regent')
  const sample = join(vectorsDir, 'dcap-qvl/sample')
  const commands: Record<string, string[]> = {
    node: [process.execPath, '-e', '0'],
    help: [regent, '--help'],
    verify: [
      regent,
      'attest',
      'verify',
      join(sample, 'tdx_quote'),
      '--collateral',
      join(sample, 'tdx_quote_collateral.json'),
      '--now',
      '1751624191',
      '--json',
    ],
  }
  const times: Record<string, number[]> = { node: [], help: [], verify: [] }
  for (const argv of Object.values(commands)) spawnSync(argv[0] as string, argv.slice(1)) // warm the file cache
  for (let r = 0; r < rounds; r++) {
    for (const [name, argv] of Object.entries(commands)) {
      const start = performance.now()
      const out = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' })
      const ms = performance.now() - start
      if (out.status !== 0) throw new Error(`${name} exited ${out.status}: ${out.stderr}`)
      times[name]?.push(ms)
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b)
    return s[Math.floor(s.length / 2)] as number
  }
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<string, number>
  const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'cli',
        rounds,
        machine: { cpus: cpus().length, loadBefore: loadavg().map((x) => round(x, 2)) },
        startMs: {
          nodeE0: round(m.node as number),
          help: round(m.help as number),
          attestVerify: round(m.verify as number),
          min: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, round(Math.min(...v))])),
          max: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, round(Math.max(...v))])),
        },
        ratioToNode: {
          help: round((m.help as number) / (m.node as number), 2),
          attestVerify: round((m.verify as number) / (m.node as number), 2),
        },
        goal: { helpRatio: 3, met: (m.help as number) / (m.node as number) <= 3 },
        install: {
          ms: Math.round(installMs),
          cliWithDependenciesMiB: round(du(installDir) / 2 ** 20),
          dependencyPackages: packages,
          tarballsKiB: Object.fromEntries(tarballs.map((t) => [t.name, round(t.size / 1024)])),
        },
      },
      null,
      2,
    )}\n`,
  )
} finally {
  rmSync(work, { recursive: true, force: true })
}
