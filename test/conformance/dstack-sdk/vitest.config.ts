/**
 * Runs dstack's own JS SDK test suite (vendored verbatim under `src/__tests__/`, see PROVENANCE.md) against the
 * PUBLISHED `@phala/dstack-sdk` 0.5.8 and a devnet CVM's guest agent (`run.ts` starts it and sets
 * `DSTACK_SIMULATOR_ENDPOINT` / `TAPPD_SIMULATOR_ENDPOINT`).
 *
 * The suite imports the SDK's sources relatively (`../index`, `../viem`, …). The plugin below resolves those
 * specifiers to the installed package's entry points instead, so the code under test is what npm ships. One test
 * file (`send-rpc-request.test.ts`) unit-tests `send_rpc_request` and `__version__`, which the package bundles
 * into `dist/index.mjs` without exporting: for that specifier the plugin serves the published `dist/index.mjs`
 * itself, unchanged, with one added `export { send_rpc_request, __version__ }` line.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig, type Plugin } from 'vitest/config'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const sdkDist = dirname(require.resolve('@phala/dstack-sdk'))
const internals = `${join(sdkDist, 'index.mjs')}?sdk-internals`

/** `../<module>` from the vendored tests → the published package's entry point. */
const entryPoints: Record<string, string> = {
  '../index': '@phala/dstack-sdk',
  '../viem': '@phala/dstack-sdk/viem',
  '../solana': '@phala/dstack-sdk/solana',
  '../get-compose-hash': '@phala/dstack-sdk/get-compose-hash',
  '../verify-env-encrypt-public-key': '@phala/dstack-sdk/verify-env-encrypt-public-key',
}

function publishedSdk(): Plugin {
  return {
    name: 'regent:published-dstack-sdk',
    enforce: 'pre',
    async resolveId(source, importer) {
      if (!importer?.startsWith(join(here, 'src', '__tests__'))) return null
      if (source === '../send-rpc-request') return internals
      const target = entryPoints[source]
      if (target === undefined) return null
      return (await this.resolve(target, importer, { skipSelf: true }))?.id ?? null
    },
    load(id) {
      if (id !== internals) return null
      const published = readFileSync(join(sdkDist, 'index.mjs'), 'utf8')
      return `${published}\nexport { send_rpc_request, __version__ };\n`
    },
  }
}

export default defineConfig({
  root: here,
  plugins: [publishedSdk()],
  test: {
    include: ['src/__tests__/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 60_000,
    server: { deps: { inline: ['@phala/dstack-sdk'] } },
  },
})
