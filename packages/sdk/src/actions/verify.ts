/** `Verify` (dstack.md §1.2; v0.5.6+): the agent checks a signature with the same algorithm rules as `Sign`. */
import type { BaseTeeClient } from '../createTeeClient.js'
import { type BytesLike, toBytes, toHexRaw } from '../internal/bytes.js'
import { InvalidResponseError } from '../transports/createTransport.js'
import type { SignAlgorithm } from './sign.js'

export type VerifyParameters = {
  readonly algorithm: SignAlgorithm
  readonly data: BytesLike
  readonly signature: BytesLike
  readonly publicKey: BytesLike
  readonly timeout?: number
}

export type VerifyReturnType = { readonly valid: boolean }

/**
 * Asks the agent whether `signature` over `data` verifies under `publicKey`.
 *
 * @throws {GuestAgentError} when the agent rejects the request.
 * @example
 * const { valid } = await verify(client, { algorithm: 'ed25519', data, signature, publicKey })
 */
export async function verify(client: BaseTeeClient, parameters: VerifyParameters): Promise<VerifyReturnType> {
  const json = (await client.request({
    method: 'Verify',
    body: {
      algorithm: parameters.algorithm,
      data: toHexRaw(toBytes(parameters.data, 'data')),
      signature: toHexRaw(toBytes(parameters.signature, 'signature')),
      public_key: toHexRaw(toBytes(parameters.publicKey, 'publicKey')),
    },
    timeout: parameters.timeout,
  })) as { valid?: unknown }
  if (typeof json.valid !== 'boolean') throw new InvalidResponseError({ method: 'Verify', reason: 'field "valid" is not a boolean' })
  return { valid: json.valid }
}
