// Key derivation bit-compatible with dstack (reference/dstack.md §3, §6): the KDF primitives, the
// KMS-side app keys, the guest-side GetKey derivation, signature-chain verification back to the
// KMS root, and encrypted environment variables.
export * as AppKeys from './AppKeys.js'
// dstack KMS boot-auth webhook backed by RegentAppAuth (what dstack's auth-eth serves).
export * as BootAuthWebhook from './BootAuthWebhook.js'
export { type BootAuthWebhook as BootAuthWebhookType, startBootAuthWebhook } from './BootAuthWebhook.js'
export * as DstackKmsAuth from './DstackKmsAuth.js'
export * as EnvEncryption from './EnvEncryption.js'
export { BaseError, type BaseErrorOptions } from './errors.js'
export * as GetKey from './GetKey.js'
export { derive as deriveGetKey } from './GetKey.js'
export * as Kdf from './Kdf.js'
// Attested key release service: wire format, checks, release log, root keys, onboarding, node and client.
export * as KeyRelease from './KeyRelease.js'
export * as KmsClient from './KmsClient.js'
export { type Attest, createKmsClient, type KmsClient as KmsClientType } from './KmsClient.js'
export * as KmsNode from './KmsNode.js'
export { type KmsNode as KmsNodeType, type StartKmsNodeOptions, startKmsNode } from './KmsNode.js'
export * as Onboarding from './Onboarding.js'
export * as ReleaseLog from './ReleaseLog.js'
export * as ReleaseRequest from './ReleaseRequest.js'
export * as RootKeys from './RootKeys.js'
export * as SignatureChain from './SignatureChain.js'
