/** Unix-socket transport: HTTP/1.1 over the dstack socket (dstack.md §1.1) with node:http `socketPath`. */
import { defaultTimeout, rpc, type Transport } from './createTransport.js'

export type UnixSocketOptions = {
  /** Socket path, e.g. `/var/run/dstack.sock`. */
  readonly path: string
  /** Per-request timeout in ms. @default 30000 */
  readonly timeout?: number
}

/**
 * A transport to a guest agent listening on a unix socket.
 *
 * @example
 * const client = createTeeClient({ transport: unixSocket({ path: '/var/run/dstack.sock' }) })
 */
export function unixSocket(options: UnixSocketOptions): Transport {
  const timeout = options.timeout ?? defaultTimeout
  const endpoint = options.path
  return {
    type: 'unix',
    endpoint,
    request: (args) => rpc({ socketPath: options.path }, { ...args, timeout: args.timeout ?? timeout, endpoint }),
  }
}
