/**
 * The error base of @regent-tee/attest (same shape as every Regent package's BaseError, viem style):
 * a one-line `shortMessage`, optional `details`, hints in `metaMessages`, a docs pointer, a `cause`.
 */
export type BaseErrorOptions = {
  details?: string
  metaMessages?: readonly string[]
  docsPath?: string
  cause?: unknown
}

export class BaseError extends Error {
  override name = 'BaseError'
  readonly shortMessage: string
  readonly details: string | undefined
  readonly metaMessages: readonly string[]
  readonly docsPath: string | undefined

  constructor(shortMessage: string, options: BaseErrorOptions = {}) {
    const lines = [shortMessage]
    if (options.metaMessages?.length) lines.push('', ...options.metaMessages)
    if (options.details) lines.push('', `Details: ${options.details}`)
    if (options.docsPath) lines.push(`Docs: ${options.docsPath}`)
    super(lines.join('\n'), options.cause === undefined ? undefined : { cause: options.cause })
    this.shortMessage = shortMessage
    this.details = options.details
    this.metaMessages = options.metaMessages ?? []
    this.docsPath = options.docsPath
  }
}
