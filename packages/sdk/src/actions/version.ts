/** `Version` (dstack.md §1.2; v0.5.7+): the guest agent's crate version and git revision. */
import type { BaseTeeClient } from '../createTeeClient.js'
import { type Json, str } from './internal.js'

export type VersionReturnType = { readonly version: string; readonly rev: string }

/**
 * Reads the guest agent version (fails with GuestAgentError on agents older than 0.5.7).
 *
 * @example
 * const { version } = await version(client)
 */
export async function version(client: BaseTeeClient): Promise<VersionReturnType> {
  const json = (await client.request({ method: 'Version', body: {} })) as Json
  return { version: str(json, 'Version', 'version'), rev: str(json, 'Version', 'rev', '') }
}
