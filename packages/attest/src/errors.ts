/** The error base of @regent-tee/attest: the one BaseError of every Regent package (@regent-tee/core). */
export { BaseError, type BaseErrorOptions } from '@regent-tee/core'
