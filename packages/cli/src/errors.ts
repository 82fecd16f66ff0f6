/**
 * CLI errors: every failure the user sees has a stable code, a one-line message, a hint and a docs
 * pointer, and maps to an exit code (2 = usage, 1 = the operation failed).
 */
export type CliErrorOptions = { hint?: string; docs?: string; exitCode?: 1 | 2; cause?: unknown }

export class CliError extends Error {
  override name = 'CliError'
  readonly code: string
  readonly hint: string | undefined
  readonly docs: string | undefined
  readonly exitCode: 1 | 2

  constructor(code: string, message: string, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.hint = options.hint
    this.docs = options.docs
    this.exitCode = options.exitCode ?? 1
  }
}

/** Bad flags, arguments or input files: exit code 2. */
export class UsageError extends CliError {
  override name = 'UsageError'
  constructor(code: string, message: string, options: Omit<CliErrorOptions, 'exitCode'> = {}) {
    super(code, message, { ...options, exitCode: 2 })
  }
}

/** A Regent error code: dotted lowercase words (`target.measurement`, `settings.invalid`, `chain.code`). */
const codePattern = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/

/**
 * Any thrown value as the error the user sees. A CliError stays itself. An error of a Regent package that carries a
 * code (SDK, attest, kms, devnet — `UpliftRefusedError`, `InvalidSettingsError`, `ContractCodeError`, …), itself or
 * anywhere in its cause chain, keeps its code, its one-line message and its docs path (exit 1). Anything else is
 * `internal`, with the hint to report it.
 */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const coded = e as Error & { code?: unknown; shortMessage?: unknown; docsPath?: unknown }
    if (typeof coded.code === 'string' && codePattern.test(coded.code)) {
      const message = typeof coded.shortMessage === 'string' ? coded.shortMessage : coded.message
      return new CliError(coded.code, message.split('\n')[0] ?? coded.code, {
        ...(typeof coded.docsPath === 'string' ? { docs: coded.docsPath } : {}),
        cause: error,
      })
    }
  }
  return new CliError('internal', error instanceof Error ? (error.message.split('\n')[0] ?? 'unknown error') : String(error), {
    hint: 'this is a bug in regent if the input was valid: please report it',
    cause: error,
  })
}
