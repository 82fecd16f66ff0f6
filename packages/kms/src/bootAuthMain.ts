/**
 * `regent-boot-auth` (bin of @regent-tee/kms): the dstack KMS boot-auth webhook backed by RegentAppAuth
 * ({@link BootAuthWebhook}) as a process, configured by the environment only (no secret is needed: it reads the
 * chain):
 *
 * - `REGENT_RPC_URL` — the chain's JSON-RPC URL (http or https);
 * - `REGENT_APP_AUTH` — the RegentAppAuth address;
 * - `REGENT_KMS_ROOT` — optional: also require this KMS root (address of the KMS's root k256 key) for app boots;
 * - `HOST` (default `127.0.0.1`), `PORT` (default `8001`; 0 = a free port).
 *
 * Prints one JSON line: `{"ready":true,"url","appAuth","chainId"}`, or `{"ready":false,"error"}` and exits 1.
 * SIGTERM/SIGINT close it (exit 0). Point dstack's KMS at it: `[core.auth_api] type = "webhook"`,
 * `[core.auth_api.webhook] url = "<url>"` (docs/targets/dstack.md).
 */
import { createPublicClient, custom, getAddress, isAddress, type PublicClient } from 'viem'
import * as BootAuthWebhook from './BootAuthWebhook.js'
import { BaseError } from './errors.js'
import * as JsonRpc from './internal/jsonRpc.js'

/**
 * Starts the webhook from `env` and checks that the chain answers and RegentAppAuth is there.
 *
 * @throws {BootAuthStartError} naming the variable or the failed check.
 */
export async function run(env: NodeJS.ProcessEnv): Promise<{ ready: Record<string, unknown>; stop: () => Promise<void> }> {
  const rpcUrl = env.REGENT_RPC_URL ?? ''
  if (!/^https?:\/\//.test(rpcUrl)) throw new BootAuthStartError({ reason: 'REGENT_RPC_URL must be the http(s) URL of the chain' })
  const appAuthText = env.REGENT_APP_AUTH ?? ''
  if (!isAddress(appAuthText, { strict: false }))
    throw new BootAuthStartError({ reason: 'REGENT_APP_AUTH must be the RegentAppAuth address' })
  const kmsRootText = env.REGENT_KMS_ROOT
  if (kmsRootText !== undefined && kmsRootText !== '' && !isAddress(kmsRootText, { strict: false }))
    throw new BootAuthStartError({ reason: 'REGENT_KMS_ROOT must be an address (the KMS root key’s) when set' })
  const portText = env.PORT ?? '8001'
  const port = Number(portText)
  if (!/^\d{1,5}$/.test(portText) || port > 65_535) throw new BootAuthStartError({ reason: 'PORT must be 0..65535' })
  const rpc = JsonRpc.fromUrl({ url: rpcUrl })
  const client = createPublicClient({ transport: custom(rpc) }) as PublicClient
  const appAuth = getAddress(appAuthText)
  try {
    const [chainId, code] = await Promise.all([client.getChainId(), client.getCode({ address: appAuth })])
    if (!code || code === '0x') throw new BootAuthStartError({ reason: `no contract at REGENT_APP_AUTH ${appAuth} on chain ${chainId}` })
    const hook = await BootAuthWebhook.startBootAuthWebhook({
      client,
      appAuth,
      kmsRoot: kmsRootText ? getAddress(kmsRootText) : undefined,
      rpcUrl,
      host: env.HOST || '127.0.0.1',
      port,
    })
    return {
      ready: { ready: true, url: hook.url, appAuth, chainId },
      stop: async () => {
        await hook.close()
        rpc.close()
      },
    }
  } catch (error) {
    rpc.close()
    if (error instanceof BaseError) throw error
    throw new BootAuthStartError({ reason: `the chain at ${new URL(rpcUrl).origin} did not answer` })
  }
}

/** The process contract: {@link run} with `process.env`, one JSON line, clean close on SIGTERM/SIGINT. */
export async function runProcess(): Promise<void> {
  const line = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)
  let started: Awaited<ReturnType<typeof run>>
  try {
    started = await run(process.env)
  } catch (error) {
    line({ ready: false, error: error instanceof BaseError ? error.shortMessage : 'the webhook could not start' })
    process.exit(1)
  }
  const stop = () => {
    started.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  line(started.ready)
}

/** The environment does not let the webhook start. */
export class BootAuthStartError extends BaseError {
  override name = 'BootAuthMain.StartError'
  constructor({ reason }: { reason: string }) {
    super(`The boot-auth webhook cannot start: ${reason}.`, { docsPath: 'docs/targets/dstack.md' })
  }
}
