/**
 * Where an uplift target is launched (DESIGN.md §10 step 1, docs/providers.md). A provider boots a CVM from an
 * exact app-compose.json and a bundle under an app id, and returns where the new instance answers. `local` (the
 * devnet) and `dstack` are built here; `phala` moves an agent between instances of its Phala app from its project
 * (`regent uplift --target phala --dir`, providers/phalaDeploy.ts); eigenx is named so that a user learns it is not.
 */
import type { DevnetFile } from '@regent-tee/devnet'
import type { Hex } from 'viem'
import { CliError, UsageError } from '../errors.js'
import { devnet } from './devnet.js'
import { type DstackOptions, dstack } from './dstack.js'

const docs = 'docs/providers.md'

/** What a provider needs to boot a target. `compose` is measured byte for byte (compose hash = its SHA-256). */
export type LaunchParameters = {
  compose: Uint8Array
  /** The agent bundle directory the CVM runs. */
  bundle: string
  /** The RegentAppAuth app the instance belongs to (its KMS keys are this app's). */
  appId: Hex
  /** Environment of the agent inside the CVM (never secrets: a CVM's env is visible to its host). */
  env: Record<string, string>
}

/** A launched instance: `id` is the provider's handle (for `stop` and `logs`), `url` its public base URL. */
export type LaunchedTarget = { id: string; url: string; provider: string }

/** A place to launch CVMs. */
export type Provider = {
  name: string
  launch(parameters: LaunchParameters): Promise<LaunchedTarget>
  stop(id: string): Promise<void>
  /** The instance's output, the last `tail` lines. */
  logs(id: string, tail: number): Promise<string>
}

/**
 * What a provider may need from the command: the devnet file is read only when the devnet provider is used; the
 * dstack VMM options (`--vmm-url`, `REGENT_DSTACK_TOKEN`) only when the dstack provider is.
 */
export type ProviderContext = {
  devnet: () => Promise<DevnetFile.DevnetFile>
  dstack?: (() => Promise<DstackOptions>) | undefined
}

/** The `--target` values the CLI knows; `local` and `dstack` have providers in this version. */
export const targets = ['local', 'phala', 'dstack', 'eigenx'] as const

/**
 * The provider for a `--target` value.
 *
 * @throws {CliError} `target.unsupported` (exit 1) for phala and eigenx; {UsageError} `usage` for any other
 *   value.
 * @example
 * const provider = providerFor('local', { devnet: () => readDevnet('.regent') })
 * const target = await provider.launch({ compose, bundle, appId, env })
 */
export function providerFor(target: string, ctx: ProviderContext): Provider {
  if (target === 'local') return devnet(ctx)
  if (target === 'dstack') return lazyDstack(ctx)
  if ((targets as readonly string[]).includes(target))
    throw new CliError('target.unsupported', `launching on ${target} is not available in this version`, {
      hint: 'use --target local (the devnet)',
      docs,
    })
  throw new UsageError('usage', `unknown target "${target}"`, { hint: `one of ${targets.join(', ')}`, docs })
}

/** The dstack provider, built on first use from `ctx.dstack` (the VMM URL and token). */
function lazyDstack(ctx: ProviderContext): Provider {
  let made: Promise<Provider> | undefined
  const get = () => {
    if (!ctx.dstack)
      throw new UsageError('usage', '--target dstack needs the dstack-vmm URL (--vmm-url, or a devnet with a vmmUrl)', { docs })
    made ??= ctx.dstack().then((options) => dstack(options))
    return made
  }
  return {
    name: 'dstack',
    launch: async (parameters) => (await get()).launch(parameters),
    stop: async (id) => (await get()).stop(id),
    logs: async (id, tail) => (await get()).logs(id, tail),
  }
}
