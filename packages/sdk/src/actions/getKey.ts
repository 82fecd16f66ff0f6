/** `GetKey` (dstack.md §1.2, §3.3): the deterministic key at `path`; `purpose` only changes `signature_chain[0]`. */
import type { BaseTeeClient } from '../createTeeClient.js'
import { hexArray, hexField, type Json } from './internal.js'

export type GetKeyParameters = {
  /** @default '' */
  readonly path?: string
  /** @default '' */
  readonly purpose?: string
  /** @default 'secp256k1' */
  readonly algorithm?: 'secp256k1' | 'ed25519'
  readonly timeout?: number
}

export type GetKeyReturnType = {
  /** 32 secret bytes (a secp256k1 private key or an ed25519 seed). The caller owns and should wipe it. */
  readonly key: Uint8Array
  /** `[app-key signature over purpose:pubkey, KMS signature over the app key]`, 65 bytes each. */
  readonly signatureChain: readonly Uint8Array[]
}

/**
 * Derives the key at `path` for this app.
 *
 * @throws {GuestAgentError} when the agent rejects the request (e.g. unsupported algorithm).
 * @example
 * const { key, signatureChain } = await getKey(client, { path: 'regent/v1/wallet', purpose: 'wallet' })
 */
export async function getKey(client: BaseTeeClient, parameters: GetKeyParameters = {}): Promise<GetKeyReturnType> {
  const json = (await client.request({
    method: 'GetKey',
    body: { path: parameters.path ?? '', purpose: parameters.purpose ?? '', algorithm: parameters.algorithm ?? 'secp256k1' },
    timeout: parameters.timeout,
  })) as Json
  return { key: hexField(json, 'GetKey', 'key'), signatureChain: hexArray(json, 'GetKey', 'signature_chain') }
}
