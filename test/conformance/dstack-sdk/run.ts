/**
 * `npm run conformance:dstack`: dstack's own JS SDK test suite (sdk/js of Dstack-TEE/dstack at tag
 * js-sdk-v0.5.8, vendored verbatim, see PROVENANCE.md) against the published `@phala/dstack-sdk` 0.5.8 and a
 * devnet CVM.
 *
 * Boots one devnet CVM (kms-style compose, pinned app id, the devnet's local key provider), serves its guest agent
 * on a unix socket, points `DSTACK_SIMULATOR_ENDPOINT` and `TAPPD_SIMULATOR_ENDPOINT` at it — as the devnet host
 * does for every CVM — and runs the suite with `vitest.config.ts` beside this file. Exits with vitest's code.
 * Extra arguments go to vitest (e.g. `-- --reporter=verbose`).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createCvm, createLocalKeyProvider, DevnetPki, DevnetQe, startGuestAgent } from '@regent-tee/devnet'

const here = dirname(fileURLToPath(import.meta.url))
const compose = new TextEncoder().encode(
  `${JSON.stringify({ manifest_version: 2, name: 'dstack-sdk-conformance', runner: 'docker-compose', kms_enabled: true }, null, 2)}\n`,
)

const dir = mkdtempSync(join(tmpdir(), 'regent-dstack-conformance-'))
const pki = DevnetPki.create()
const cvm = await createCvm({
  compose,
  appId: new Uint8Array(20).fill(0x5b),
  qe: DevnetQe.create({ pki }),
  keyProvider: createLocalKeyProvider({ pki }),
})
const agent = await startGuestAgent(cvm, { socketPath: join(dir, 'dstack.sock') })
const endpoint = agent.socketPath as string

const vitest = join(dirname(fileURLToPath(import.meta.resolve('vitest/package.json'))), 'vitest.mjs')
const child = spawn(process.execPath, [vitest, 'run', '--config', join(here, 'vitest.config.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, DSTACK_SIMULATOR_ENDPOINT: endpoint, TAPPD_SIMULATOR_ENDPOINT: endpoint },
})
const code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
await agent.close()
rmSync(dir, { recursive: true, force: true })
process.exit(code)
