#!/usr/bin/env node
/**
 * `npm run pack [-- --out <dir>]`: builds every package and packs the publishable ones (`npm pack`) into `<dir>`
 * (default `.packs/`). Prints one JSON object: `{ out, tarballs: [{ name, version, file, size, files }] }`.
 *
 * These tarballs are exactly what `npm publish` would upload; scripts/check-packages.mjs installs them through a
 * local registry and follows docs/quickstart.md with them.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
/** The packages a user installs, in dependency order. */
export const publishable = [
  'packages/core',
  'packages/attest',
  'packages/contracts',
  'packages/kms',
  'packages/devnet',
  'packages/sdk',
  'examples/agent',
  'packages/cli',
]

/** Builds and packs into `out`; resolves with what was packed. */
export function pack(out) {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const args = ['pack', '--json', '--pack-destination', out, ...publishable.flatMap((w) => ['--workspace', w])]
  const packed = JSON.parse(execFileSync('npm', args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 }))
  return packed.map((p) => ({ name: p.name, version: p.version, file: join(out, p.filename), size: p.size, files: p.entryCount }))
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out')
  const out = resolve(at > 0 ? process.argv[at + 1] : join(root, '.packs'))
  process.stdout.write(`${JSON.stringify({ out, tarballs: pack(out) }, null, 2)}\n`)
}
