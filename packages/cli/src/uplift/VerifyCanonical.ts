/**
 * The outside check after an uplift (docs/cli/uplift.md): the new canonical instance verified as any counterparty
 * would, through `regent identity verify`, or, when it serves no /identity, RegentSuccession's record read and
 * compared with what the agent reported.
 */
import { randomBytes } from 'node:crypto'
import type { DevnetFile } from '@regent-tee/devnet'
import { readCanonical } from '@regent-tee/sdk/chain'
import type * as Admin from '../project/Admin.js'
import * as AppAuth from '../project/AppAuth.js'
import type { Verification } from './Output.js'

/** `/identity` of the new instance through `regent identity verify`, or (when it serves none) RegentSuccession's record. */
export async function verifyCanonical(
  file: DevnetFile.DevnetFile,
  devnetDir: string,
  url: string,
  agentId: bigint,
  result: NonNullable<Admin.UpliftStatus['result']>,
): Promise<Verification> {
  const nonce = `0x${randomBytes(32).toString('hex')}`
  const served = await fetch(`${url.replace(/\/+$/, '')}/identity?nonce=${nonce}`, { signal: AbortSignal.timeout(30_000) }).then(
    (r) => r.ok,
    () => false,
  )
  if (served) {
    const { verify } = await import('../commands/identity.js')
    const r = await verify.run({ args: [url], flags: { devnetDir, agentId: String(agentId) }, note: () => {} })
    const d = r.data as { isAgent: boolean; score: number; failures: string[] }
    return { served: true, isAgent: d.isAgent, score: d.score, failures: d.failures }
  }
  const c = await readCanonical(AppAuth.clients(file).publicClient, { contracts: file.contracts, agentId })
  return canonicalRecord(
    c,
    result,
    'the new instance serves no /identity, so the identity function cannot be run on it; RegentSuccession is read instead',
  )
}

/** RegentSuccession's record compared with what the agent reported. */
export function canonicalRecord(
  c: Awaited<ReturnType<typeof readCanonical>>,
  result: NonNullable<Admin.UpliftStatus['result']>,
  note: string,
): Verification {
  return {
    served: false,
    note,
    matches: c.instance.signer.toLowerCase() === result.signer.toLowerCase() && String(c.epoch) === result.epoch,
    canonical: {
      epoch: String(c.epoch),
      signer: c.instance.signer,
      host: c.instance.host,
      composeHash: c.instance.composeHash,
      quoteHash: c.instance.quoteHash,
    },
  }
}
