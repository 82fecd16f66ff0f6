/** `Sign` (dstack.md §1.2; v0.5.6+): signs with the app's `vms` key (GetKey path "vms", purpose "signing"). */
import type { BaseTeeClient } from '../createTeeClient.js'
import { BaseError } from '../errors.js'
import { type BytesLike, toBytes, toHexRaw } from '../internal/bytes.js'
import { hexArray, hexField, type Json } from './internal.js'

export type SignAlgorithm = 'ed25519' | 'secp256k1' | 'secp256k1_prehashed'

export type SignParameters = {
  readonly algorithm: SignAlgorithm
  /** For `secp256k1_prehashed`: exactly 32 bytes. `secp256k1` signs SHA-256(data). */
  readonly data: BytesLike
  readonly timeout?: number
}

export type SignReturnType = {
  readonly signature: Uint8Array
  /** `[signature, GetKey chain[0], GetKey chain[1]]`. */
  readonly signatureChain: readonly Uint8Array[]
  readonly publicKey: Uint8Array
}

/**
 * Signs data with the agent's `vms` key.
 *
 * @throws {PrehashLengthError} for prehashed data that is not 32 bytes. @throws {GuestAgentError} when refused.
 * @example
 * const { signature, publicKey } = await sign(client, { algorithm: 'ed25519', data: '0x68656c6c6f' })
 */
export async function sign(client: BaseTeeClient, parameters: SignParameters): Promise<SignReturnType> {
  const data = toBytes(parameters.data, 'data')
  if (parameters.algorithm === 'secp256k1_prehashed' && data.length !== 32) throw new PrehashLengthError({ length: data.length })
  const json = (await client.request({
    method: 'Sign',
    body: { algorithm: parameters.algorithm, data: toHexRaw(data) },
    timeout: parameters.timeout,
  })) as Json
  return {
    signature: hexField(json, 'Sign', 'signature'),
    signatureChain: hexArray(json, 'Sign', 'signature_chain'),
    publicKey: hexField(json, 'Sign', 'public_key'),
  }
}

export class PrehashLengthError extends BaseError {
  override name = 'PrehashLengthError'
  constructor({ length }: { length: number }) {
    super(`secp256k1_prehashed data must be 32 bytes, got ${length}.`)
  }
}
