/** The error base of @regent-tee/devnet: attest's BaseError shape (devnet depends on attest). */
export { BaseError, type BaseErrorOptions } from '@regent-tee/core'
