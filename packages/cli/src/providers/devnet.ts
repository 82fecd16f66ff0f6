/**
 * The devnet provider (`--target local`): CVMs on the devnet's simulated TDX host through its host API
 * (docs/devnet.md "Host API", `project/Host.ts`). A CVM's logs and stop go through the same API.
 */
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
