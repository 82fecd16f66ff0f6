/**
 * Picks the guest-agent endpoint the way `@phala/dstack-sdk` does (dstack.md §1.1, §1.7):
 * `DSTACK_SIMULATOR_ENDPOINT` when set (a socket path or an http(s) URL), else the first existing socket of
 * `/var/run/dstack.sock`, `/run/dstack.sock`, `/var/run/dstack/dstack.sock`, `/run/dstack/dstack.sock`.
 */
import { existsSync } from 'node:fs'
import { BaseError } from '../errors.js'
import type { Transport } from './createTransport.js'
import { http } from './http.js'
import { unixSocket } from './unixSocket.js'

/** Socket paths probed in order (dstack.md §1.1, the JS SDK's order). */
export const socketPaths = ['/var/run/dstack.sock', '/run/dstack.sock', '/var/run/dstack/dstack.sock', '/run/dstack/dstack.sock'] as const

export type FromEnvOptions = {
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** @default 30000 */
  readonly timeout?: number
  /** @default {@link socketPaths} */
  readonly socketPaths?: readonly string[]
}

/**
 * A transport chosen from the environment.
 *
 * @throws {NoEndpointError} when the variable is unset and no socket exists.
 * @example
 * const client = createTeeClient({ transport: fromEnv() })
 */
export function fromEnv(options: FromEnvOptions = {}): Transport {
  const env = options.env ?? process.env
  const timeout = options.timeout === undefined ? {} : { timeout: options.timeout }
  const endpoint = env.DSTACK_SIMULATOR_ENDPOINT
  if (endpoint) {
    if (/^https?:\/\//.test(endpoint)) return http({ url: endpoint, ...timeout })
    return unixSocket({ path: endpoint, ...timeout })
  }
  const paths = options.socketPaths ?? socketPaths
  const found = paths.find((p) => existsSync(p))
  if (!found) throw new NoEndpointError({ paths })
  return unixSocket({ path: found, ...timeout })
}

export class NoEndpointError extends BaseError {
  override name = 'NoEndpointError'
  constructor({ paths }: { paths: readonly string[] }) {
    super('No dstack guest agent found.', {
      metaMessages: [`Tried DSTACK_SIMULATOR_ENDPOINT and the sockets ${paths.join(', ')}.`, 'In development run `regent dev up`.'],
    })
  }
}
