// Key derivation bit-compatible with dstack (reference/dstack.md §3, §6): the KDF primitives, the
// KMS-side app keys, the guest-side GetKey derivation, signature-chain verification back to the
// KMS root, and encrypted environment variables.
export * as AppKeys from './AppKeys.js'
export * as EnvEncryption from './EnvEncryption.js'
export { BaseError, type BaseErrorOptions } from './errors.js'
export * as GetKey from './GetKey.js'
export { derive as deriveGetKey } from './GetKey.js'
export * as Kdf from './Kdf.js'
export * as SignatureChain from './SignatureChain.js'
