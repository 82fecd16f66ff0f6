export { BaseError, type BaseErrorOptions } from './errors.js'
