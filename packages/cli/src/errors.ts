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
