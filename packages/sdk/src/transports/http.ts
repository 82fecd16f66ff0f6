/**
 * HTTP transport: `POST <origin>/<Method>` (dstack.md §1.7: any path in the URL is discarded, as in
 * `@phala/dstack-sdk`).
 */
import { defaultTimeout, rpc, type Transport } from './createTransport.js'

export type HttpOptions = {
  /** `http://` or `https://` URL of the guest agent. */
  readonly url: string
  /** Per-request timeout in ms. @default 30000 */
  readonly timeout?: number
}

/**
 * A transport to a guest agent over HTTP (the devnet's loopback endpoint, a simulator).
 *
 * @example
 * const client = createTeeClient({ transport: http({ url: 'http://127.0.0.1:8090' }) })
 */
export function http(options: HttpOptions): Transport {
  const url = new URL(options.url)
  const timeout = options.timeout ?? defaultTimeout
  return {
    type: 'http',
    endpoint: url.origin,
    request: (args) => rpc({ url }, { ...args, timeout: args.timeout ?? timeout, endpoint: url.origin }),
  }
}
