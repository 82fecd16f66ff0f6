/**
 * The error base of @regent-tee/kms: attest's BaseError (kms depends on attest), one class for every error
 * a Regent runtime throws — a one-line `shortMessage`, optional `details`, hints in `metaMessages`,
 * a docs pointer, a `cause`. Messages never contain key material.
 */
export { BaseError, type BaseErrorOptions } from '@regent-tee/core'
