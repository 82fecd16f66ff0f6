/** The error base of @regent/devnet: attest's BaseError shape (devnet depends on attest). */
export { BaseError, type BaseErrorOptions } from '@regent/attest'
