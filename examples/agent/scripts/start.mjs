/**
 * `npm start`: the main job on the embedded devnet (DESIGN.md §10, docs/cli/demo.md). Brings up the devnet (anvil +
 * contracts, a KMS node, the simulated TDX host; a running one is reused), then runs `regent demo`: this example agent
 * starts in the wild as a plain process (its own key in an encrypted keystore, registered in ERC-8004, a memory DB and
 * a funded treasury), decides with its EV table, uplifts itself into a devnet CVM, and the demo shows the handshake
 * checks, the on-chain Uplift event, the demoted source, and the new instance verified from the outside.
 *
 *   npm start                      --key import (the same address moves into the TEE)
 *   npm start -- --key rotate      the TEE's own KMS key takes over through a succession certificate
 *   npm start -- --down            stops the devnet at the end (otherwise it keeps running)
 * Environment: REGENT_DIR (default .regent).
 *
 * The demo runs as the `regent` binary itself (one code path: what `regent demo` prints, this prints). Plain
 * JavaScript on the compiled packages (`npm start` builds them first). Ctrl-C (or SIGTERM) stops the demo, says what
 * still runs and exits 130 (143).
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { down, up } from '@regent-tee/devnet'

const dir = process.env.REGENT_DIR ?? '.regent'
const args = process.argv.slice(2)
const stopAtEnd = args.includes('--down')
const keyAt = args.findIndex((a) => a === '--key' || a.startsWith('--key='))
const key = keyAt < 0 ? 'import' : (args[keyAt]?.split('=')[1] ?? args[keyAt + 1] ?? '')
const regent = join(dirname(fileURLToPath(import.meta.resolve('@regent-tee/cli/package.json'))), 'bin', 'regent.mjs')
const say = (line) => process.stdout.write(`${line}\n`)
const stopHint = `\`npx regent dev down --devnet-dir ${dir}\` stops it`

/** Ends the devnet when asked to (--down) and says so. */
async function stopDevnet() {
  const stopped = await down({ dir })
  say(stopped ? `✓ devnet stopped (${dir})` : `no devnet was running in ${dir}`)
}

// Ctrl-C reaches the demo too (same terminal); a signal sent to this process alone is passed on. Either way the demo
// restores the terminal, stops its wild agent and exits 130/143; then this says what still runs.
let child
let interrupted
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    if (interrupted) return
    interrupted = signal
    if (child && child.exitCode === null) child.kill(signal)
    else if (!child) {
      // Still starting the devnet: its supervisor is detached and keeps starting.
      say(`\ninterrupted (${signal}) while the devnet was starting: it may still come up; ${stopHint}.`)
      process.exit(signal === 'SIGINT' ? 130 : 143)
    }
  })

try {
  const t0 = performance.now()
  say(`devnet in ${dir}: starting (or reusing) anvil with the Regent contracts, the simulated TDX host and a KMS node…`)
  const { file, reused } = await up({
    dir,
    onStep: (step) => say(`  ✔ ${step.name}: ${step.detail} (${(step.ms / 1000).toFixed(1)} s)`),
  })
  say(
    `✓ devnet ${reused ? 'reused' : 'up'} in ${dir}: chain ${file.rpcUrl}, KMS ${file.kmsUrls.join(', ') || '(none)'}, host ${file.hostUrl}`,
  )
  const code = await new Promise((resolve, reject) => {
    child = spawn(process.execPath, [regent, 'demo', '--devnet-dir', dir, '--key', key], { stdio: 'inherit' })
    child.once('error', reject)
    child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)))
  })
  if (interrupted) {
    say(stopAtEnd ? '\ninterrupted: stopping the devnet (--down)' : `\ninterrupted: the devnet in ${dir} keeps running; ${stopHint}.`)
    process.exitCode = interrupted === 'SIGINT' ? 130 : 143
  } else {
    say(
      `\n${code === 0 ? '✓' : '✗'} done in ${((performance.now() - t0) / 1000).toFixed(1)} s.${stopAtEnd ? '' : ` The devnet keeps running: ${stopHint}.`}`,
    )
    process.exitCode = code
  }
} catch (error) {
  process.stderr.write(`npm start failed: ${error.message}\n`)
  process.exitCode = 1
} finally {
  if (stopAtEnd) await stopDevnet()
}
