/**
 * The example agent (`@regent-tee/example-agent`, compiled) as a devnet app, the way `regent demo` and `regent deploy`
 * prepare one: its bundle assembled with its production dependencies, and its compose pinning that bundle's digest.
 */

import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Bundle, type Devnet } from '@regent-tee/devnet'
import { MeasuredSettings } from '@regent-tee/sdk'
import type { Address } from 'viem'

/** The example agent's package directory. */
export const agentDir: string = dirname(createRequire(import.meta.url).resolve('@regent-tee/example-agent/package.json'))

/** The file a plain process runs (an agent in the wild). */
export const agentEntry: string = join(agentDir, 'dist', 'main.js')

/** The compose of the example agent running in the wild (no TEE; its hash is still enrolled on-chain). */
export const wildComposeBytes = async (): Promise<Uint8Array> => new Uint8Array(await readFile(join(agentDir, 'wild-compose.json')))

const built = new Map<string, Promise<{ bundle: string; digest: string }>>()

/** The measured settings of an example agent on a devnet: its operator, the devnet's chain, contracts and root. */
export function devnetSettings(devnet: Pick<Devnet, 'file'>, operator: Address | undefined): MeasuredSettings.Settings {
  return {
    v: 1,
    ...(operator ? { operator } : {}),
    chainId: devnet.file.chainId,
    contracts: devnet.file.contracts,
    trustedRoots: [devnet.file.rootCa],
  }
}

/**
 * Assembles the example agent's bundle into `out` (a devnet's bundle store: `devnet.host.bundles.dir`, or any
 * directory, then pushed with `bundle`; memoised per `out`) and pins its compose, with the agent's measured settings
 * (`x-regent`, what `regent deploy` writes).
 */
export async function exampleAgentApp(
  out: string,
  settings: MeasuredSettings.Settings,
): Promise<{ bundle: string; digest: string; compose: Uint8Array }> {
  let p = built.get(out)
  if (!p) {
    p = Bundle.assemble({ dir: agentDir, out }).then((a) => ({ bundle: a.dir, digest: a.digest }))
    built.set(out, p)
  }
  const { bundle, digest } = await p
  const template = JSON.parse(await readFile(join(agentDir, 'app-compose.json'), 'utf8')) as Record<string, unknown>
  const compose = Bundle.pin(
    { ...template, docker_compose_file: MeasuredSettings.insert(template.docker_compose_file as string, settings) },
    digest,
  )
  return { bundle, digest, compose }
}
