/**
 * CLI errors: every failure the user sees has a stable code, a one-line message, a hint and a docs
 * pointer, and maps to an exit code (2 = usage, 1 = the operation failed).
 */
import { BaseError, codedError } from '@regent-tee/core'

export type CliErrorOptions = { hint?: string; docs?: string; exitCode?: 1 | 2; cause?: unknown }

/** The one BaseError (@regent-tee/core) with a required code and an exit status. */
export class CliError extends BaseError {
  override name = 'CliError'
  override readonly code: string
  readonly exitCode: 1 | 2

  constructor(code: string, message: string, options: CliErrorOptions = {}) {
    super(message, {
      code,
      ...(options.hint ? { hint: options.hint } : {}),
      ...(options.docs ? { docsPath: options.docs } : {}),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    })
    this.code = code
    this.exitCode = options.exitCode ?? 1
    // The CLI prints the hint and docs itself (main.ts), and progress lists print `message` under a failed step: it
    // stays the one line.
    this.message = message
  }
}

/** Bad flags, arguments or input files: exit code 2. */
export class UsageError extends CliError {
  override name = 'UsageError'
  constructor(code: string, message: string, options: Omit<CliErrorOptions, 'exitCode'> = {}) {
    super(code, message, { ...options, exitCode: 2 })
  }
}

/**
 * Any thrown value as the error the user sees. A CliError stays itself. An error of a Regent package that carries a
 * code (SDK, attest, kms, devnet — `UpliftRefusedError`, `InvalidSettingsError`, `ContractCodeError`, …), itself or
 * anywhere in its cause chain, keeps its code, its one-line message, its hint and its docs path (exit 1). Anything
 * else is `internal`, with the hint to report it.
 */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error
  const coded = codedError(error)
  if (coded) {
    const message = typeof coded.shortMessage === 'string' ? coded.shortMessage : coded.message
    return new CliError(coded.code, message.split('\n')[0] ?? coded.code, {
      ...(typeof coded.hint === 'string' ? { hint: coded.hint } : {}),
      ...(typeof coded.docsPath === 'string' ? { docs: coded.docsPath } : {}),
      cause: error,
    })
  }
  return new CliError('internal', error instanceof Error ? (error.message.split('\n')[0] ?? 'unknown error') : String(error), {
    hint: 'this is a bug in regent if the input was valid: please report it',
    cause: error,
  })
}
