/**
 * The error base of @regent-tee/sdk: attest's BaseError (sdk depends on attest), so that every error a
 * Regent runtime throws is one class: a one-line `shortMessage`, optional `details`, hints in
 * `metaMessages`, a docs pointer, a `cause`. Subclasses live at the bottom of the module that throws
 * them. Messages never contain key material.
 */
export { BaseError, type BaseErrorOptions } from '@regent-tee/core'
