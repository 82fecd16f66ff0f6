/**
 * A real anvil (npm `@foundry-rs/anvil`, its binary shipped in the platform package) on a random
 * loopback port. Used by tests (one per worker), benchmarks, `npm start` and the devnet. `@foundry-rs/anvil` is not a
 * dependency of this package (an agent's bundle must not carry the binary): it is resolved only when anvil is
 * started, and `@regent-tee/devnet` depends on it.
 *
 * The binary runs under the process guard (process.ts): when we call `stop()` or when this process
 * dies for any reason, anvil is ended. No orphan chains.
 */
import { createRequire } from 'node:module'
import { spawnGuarded } from '@regent-tee/core'
import { BaseError } from './errors.js'

const require = createRequire(import.meta.url)

/** Options for {@link startAnvil}. */
export type StartAnvilOptions = {
  /** Chain id (default 31337). */
  chainId?: number
  /** Seconds between blocks; default: a block per transaction (automine). */
  blockTime?: number
  /** Directory to persist chain state in (`--state`); default: in memory. */
  statePath?: string
  /** Extra anvil arguments. */
  args?: readonly string[]
  /** How long to wait for anvil to listen, in ms (default 20 000). */
  timeoutMs?: number
}

/** A running anvil. */
export type Anvil = {
  /** `http://127.0.0.1:<port>` */
  rpcUrl: string
  port: number
  chainId: number
  pid: number
  /** Ends anvil and resolves when it has exited. Idempotent. */
  stop(): Promise<void>
}

/** Anvil's default mnemonic accounts (public test keys, never used outside a local chain). */
export const anvilMnemonic = 'test test test test test test test test test test test junk'

/** Absolute path of the anvil binary for this platform. */
export function anvilBinary(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`
  try {
    return require.resolve(`${pkg}/bin/anvil`)
  } catch (cause) {
    throw new AnvilNotInstalledError({ pkg, cause })
  }
}

/**
 * Starts anvil on 127.0.0.1 with a kernel-chosen port and resolves once it is listening.
 *
 * @throws {AnvilNotInstalledError} the platform package is missing.
 * @throws {AnvilStartError} anvil exited or did not listen within `timeoutMs`.
 * @example
 * const anvil = await startAnvil()
 * const client = createPublicClient({ transport: http(anvil.rpcUrl) })
 * await anvil.stop()
 */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<Anvil> {
  const chainId = options.chainId ?? 31337
  const args = ['--host', '127.0.0.1', '--port', '0', '--chain-id', String(chainId)]
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime))
  if (options.statePath !== undefined) args.push('--state', options.statePath)
  args.push(...(options.args ?? []))

  const guarded = spawnGuarded(anvilBinary(), args)
  const { child } = guarded

  let onEarlyExit: ((code: number | null) => void) | undefined
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => fail(`did not listen within ${options.timeoutMs ?? 20_000} ms`), options.timeoutMs ?? 20_000)
    const onData = (chunk: Buffer) => {
      out += chunk.toString('utf8')
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(out)
      if (m?.[1]) {
        clearTimeout(timer)
        child.stdout.off('data', onData)
        child.stdout.resume() // keep draining so anvil never blocks on a full pipe
        resolve(Number(m[1]))
      } else if (out.length > 1 << 20) out = out.slice(-4096)
    }
    const fail = (why: string) => {
      clearTimeout(timer)
      void guarded.stop()
      reject(new AnvilStartError({ why, output: out.slice(-2000) }))
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString('utf8')
    })
    onEarlyExit = (code) => fail(`exited with code ${code}`)
    child.once('exit', onEarlyExit)
  })
  if (onEarlyExit) child.off('exit', onEarlyExit)
  child.stderr.resume()

  return {
    rpcUrl: `http://127.0.0.1:${port}`,
    port,
    chainId,
    pid: guarded.pid,
    async stop() {
      await guarded.stop()
    },
  }
}

/** The `@foundry-rs/anvil` platform package is not installed. */
export class AnvilNotInstalledError extends BaseError {
  override name = 'Anvil.NotInstalledError'
  constructor({ pkg, cause }: { pkg: string; cause: unknown }) {
    super(`anvil binary not found (${pkg}).`, {
      cause,
      metaMessages: [
        'Install `@foundry-rs/anvil` (a dependency of @regent-tee/devnet; agents never need it), or run `npm ci` in this repository.',
      ],
    })
  }
}

/** Anvil exited before listening, or did not listen in time. */
export class AnvilStartError extends BaseError {
  override name = 'Anvil.StartError'
  constructor({ why, output }: { why: string; output: string }) {
    super(`anvil failed to start: ${why}.`, { details: output })
  }
}
