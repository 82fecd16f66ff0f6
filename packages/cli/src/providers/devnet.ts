/**
 * The devnet provider (`--target local`): CVMs on the devnet's simulated TDX host through its host API
 * (docs/devnet.md "Host API", `project/Host.ts`). A CVM's logs and stop go through the same API.
 */
import { type DevnetFile, status as devnetStatus } from '@regent-tee/devnet'
import { CliError } from '../errors.js'
import * as Host from '../project/Host.js'
import type { Provider, ProviderContext } from './Provider.js'

/**
 * A provider over the running devnet's host. The devnet file is read on first use.
 *
 * @throws from its methods: {CliError} `devnet.unreachable`, `devnet.request_failed` (the host's message, e.g. a
 *   compose the KMS refuses), and whatever `ctx.devnet()` throws when no devnet runs.
 */
export function devnet(ctx: ProviderContext): Provider {
  const name = 'devnet'
  return {
    name,
    async launch(parameters) {
      const cvm = await Host.launch(await ctx.devnet(), parameters)
      return { id: cvm.cvmId, url: cvm.appUrl, provider: name }
    },
    async stop(id) {
      await Host.stop(await ctx.devnet(), id)
    },
    async logs(id, tail) {
      return Host.logs(await ctx.devnet(), id, tail)
    },
  }
}

/** Reads the running devnet once, on first use (a {@link ProviderContext}'s `devnet`); throws `devnet.not_running`. */
export function devnetReader(dir: string, docs: string): () => Promise<DevnetFile.DevnetFile> {
  let file: Promise<DevnetFile.DevnetFile> | undefined
  return () => {
    file ??= devnetStatus({ dir }).then((s) => {
      if (!s.running || !s.file)
        throw new CliError('devnet.not_running', `no devnet is running in ${dir}`, {
          hint: 'start one with `regent dev up` (or point --devnet-dir at its directory)',
          docs,
        })
      return s.file
    })
    return file
  }
}
