/**
 * The one error class of every Regent package (viem's shape, STYLE.md "Errors"): a one-line `shortMessage`, an
 * optional stable `code` (dotted lowercase words: `state.decrypt`, `request.too_large`), a `hint` (what to do), more
 * lines in `metaMessages`, `details`, a docs pointer and a `cause`. Messages never contain key material.
 */

/** Why something was refused: a stable code and one sentence. Every verdict and refusal lists these. */
export type Reason = { readonly code: string; readonly message: string }

export type BaseErrorOptions = {
  /** A stable code (dotted lowercase words) a program or the CLI can match on. */
  code?: string
  /** What the reader should do about it, one line. */
  hint?: string
  details?: string
  metaMessages?: readonly string[]
  docsPath?: string
  cause?: unknown
}

/** A Regent error code: dotted lowercase words (`target.measurement`, `settings.invalid`, `chain.code`). */
export const codePattern = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/

export class BaseError extends Error {
  override name = 'BaseError'
  readonly shortMessage: string
  readonly code: string | undefined
  readonly hint: string | undefined
  readonly details: string | undefined
  readonly metaMessages: readonly string[]
  readonly docsPath: string | undefined

  constructor(shortMessage: string, options: BaseErrorOptions = {}) {
    const lines = [shortMessage]
    if (options.metaMessages?.length) lines.push('', ...options.metaMessages)
    if (options.hint) lines.push('', `Hint: ${options.hint}`)
    if (options.details) lines.push('', `Details: ${options.details}`)
    if (options.docsPath) lines.push(`Docs: ${options.docsPath}`)
    super(lines.join('\n'), options.cause === undefined ? undefined : { cause: options.cause })
    this.shortMessage = shortMessage
    this.code = options.code
    this.hint = options.hint
    this.details = options.details
    this.metaMessages = options.metaMessages ?? []
    this.docsPath = options.docsPath
  }

  /**
   * Walks this error and its `cause` chain (at most 16 deep): the first error `match` accepts, or, without `match`,
   * the deepest one.
   *
   * @example
   * const coded = error.walk((e) => e instanceof BaseError && e.code !== undefined)
   */
  walk(match?: (error: unknown) => boolean): unknown {
    return walk(this, match)
  }
}

/** {@link BaseError.walk} for any thrown value (a plain `Error` too). Undefined when `match` accepts none. */
export function walk(error: unknown, match?: (error: unknown) => boolean): unknown {
  let current: unknown = error
  for (let depth = 0; depth < 16; depth++) {
    if (match?.(current)) return current
    const next = current instanceof Error ? current.cause : undefined
    if (next === undefined) return match ? undefined : current
    current = next
  }
  return match ? undefined : current
}

/** The first coded error in `error`'s cause chain (a BaseError with a code, or any Error with a dotted `code`). */
export function codedError(
  error: unknown,
): (Error & { code: string; shortMessage?: string; docsPath?: string; hint?: string }) | undefined {
  return walk(
    error,
    (e) =>
      e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && codePattern.test((e as unknown as { code: string }).code),
  ) as (Error & { code: string }) | undefined
}
