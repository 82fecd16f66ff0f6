/** `EmitEvent` (dstack.md §1.2; v0.5.0–0.5.11): appends a runtime event and extends RTMR3. */
import type { BaseTeeClient } from '../createTeeClient.js'
import { BaseError } from '../errors.js'
import { type BytesLike, toBytes, toHexRaw } from '../internal/bytes.js'

export type EmitEventParameters = {
  /** Non-empty event name. */
  readonly event: string
  readonly payload: BytesLike
  readonly timeout?: number
}

/**
 * Emits a runtime event into RTMR3.
 *
 * @throws {EmptyEventNameError} for an empty name. @throws {GuestAgentError} when the agent refuses.
 * @example
 * await emitEvent(client, { event: 'regent-checkpoint', payload: stateRoot })
 */
export async function emitEvent(client: BaseTeeClient, parameters: EmitEventParameters): Promise<void> {
  if (!parameters.event) throw new EmptyEventNameError()
  await client.request({
    method: 'EmitEvent',
    body: { event: parameters.event, payload: toHexRaw(toBytes(parameters.payload, 'payload')) },
    timeout: parameters.timeout,
  })
}

export class EmptyEventNameError extends BaseError {
  override name = 'EmptyEventNameError'
  constructor() {
    super('The event name must not be empty.')
  }
}
