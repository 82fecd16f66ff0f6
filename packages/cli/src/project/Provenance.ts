/**
 * The deploy's "wallet" step (docs/cli/deploy.md): the new agent's identity bundle fetched over a fresh nonce, and its
 * wallet key's provenance checked to a KMS root for the app (sdk `verifyProvenance`). One place for every target.
 */
import { randomBytes } from 'node:crypto'
import type { IdentityBundle } from '@regent-tee/sdk'
import type { Hex } from 'viem'
import { CliError } from '../errors.js'

export type KeyProvenance = {
  identity: IdentityBundle
  path: string
  kmsRoot: string | null
  verified: boolean
}

/**
 * Fetches `GET {url}/identity?nonce=…` and verifies the wallet's key provenance for `appId`.
 *
 * @throws {CliError} `agent.identity` (not answered), `agent.provenance` (a wallet key without KMS provenance).
 */
export async function keyProvenance(url: string, params: { appId: Hex; wallet: string; docs: string }): Promise<KeyProvenance> {
  const nonce = `0x${randomBytes(32).toString('hex')}`
  const res = await fetch(`${url}/identity?nonce=${nonce}`, { signal: AbortSignal.timeout(30_000) })
  if (!res.ok) throw new CliError('agent.identity', `the agent's /identity answered HTTP ${res.status}`, { docs: params.docs })
  const identity = (await res.json()) as IdentityBundle
  const { verifyProvenance } = await import('@regent-tee/sdk')
  const provenance = identity.keyProvenance
  if (provenance === null)
    throw new CliError('agent.provenance', 'the deployed agent serves a wallet key without KMS provenance', { docs: params.docs })
  const verdict = verifyProvenance({ provenance, appId: params.appId, address: params.wallet as Hex })
  return { identity, path: provenance.path, kmsRoot: verdict.kmsRootPublicKey ?? null, verified: verdict.ok }
}
