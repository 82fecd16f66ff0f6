/**
 * The probe agent (fixtures/probe-agent: the official dstack SDK inside a CVM) as a devnet app: its bundle assembled
 * with its dependencies and its compose pinning that bundle's digest, as `regent deploy` does for a project.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Bundle from '../src/host/Bundle.js'

export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url))

/** Assembles the probe bundle into `out` (a bundle store directory, or any directory) and pins its compose. */
export async function probeApp(out: string): Promise<{ bundle: string; digest: string; compose: Uint8Array }> {
  const assembled = await Bundle.assemble({ dir: join(fixtures, 'probe-agent'), out })
  const compose = Bundle.pin(await readFile(join(fixtures, 'app-compose.json')), assembled.digest)
  return { bundle: assembled.dir, digest: assembled.digest, compose }
}
