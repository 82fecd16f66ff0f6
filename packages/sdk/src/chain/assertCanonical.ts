/**
 * Fencing (DESIGN.md §10 "fencing: at most one instance can act per epoch"; issue 6 "Fencing"): before any
 * value-moving signature (treasury withdrawal, succession certificate, state commit) the runtime checks on
 * RegentSuccession that its key is the canonical signer of the current epoch, and refuses otherwise, without
 * signing or sending anything. The contracts enforce the same rule; this check makes a demoted instance stop
 * before it spends gas or hands out a signature that a later epoch could misuse.
 */
import type { Address, Client } from 'viem'
import { BaseError } from '../errors.js'
import { type ReadCanonicalReturnType, readCanonical } from './readCanonical.js'
import type { RegentContracts } from './transact.js'

export type AssertCanonicalParameters = {
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** The key about to sign. */
  readonly signer: Address
  /** The epoch the caller believes it holds; when given, it must be the current one. */
  readonly epoch?: bigint
}

/**
 * Asserts that `signer` is the agent's canonical signer for the current epoch (and that `epoch`, when given,
 * is current). Returns the on-chain snapshot it checked against.
 *
 * @throws {NotCanonicalError} not enrolled, another signer is canonical, or `epoch` is not the current epoch.
 * @example
 * const { epoch } = await assertCanonical(publicClient, { contracts, agentId, signer: account.address })
 */
export async function assertCanonical(client: Client, parameters: AssertCanonicalParameters): Promise<ReadCanonicalReturnType> {
  const now = await readCanonical(client, parameters)
  const fail = (reason: string) =>
    new NotCanonicalError({
      agentId: parameters.agentId,
      signer: parameters.signer,
      epoch: now.epoch,
      canonicalSigner: now.instance.signer,
      reason,
    })
  if (now.epoch === 0n) throw fail('the agent is not enrolled in RegentSuccession')
  if (now.instance.signer.toLowerCase() !== parameters.signer.toLowerCase()) throw fail(`the canonical signer is ${now.instance.signer}`)
  if (parameters.epoch !== undefined && parameters.epoch !== now.epoch)
    throw fail(`the caller holds epoch ${parameters.epoch}, the current epoch is ${now.epoch}`)
  return now
}

/** The key is not the canonical signer of the agent's current epoch: the runtime refuses to sign or send. */
export class NotCanonicalError extends BaseError {
  override name = 'Chain.NotCanonicalError'
  readonly agentId: bigint
  /** The key that was about to act. */
  readonly signer: Address
  /** The current on-chain epoch (0 = not enrolled). */
  readonly epoch: bigint
  /** The on-chain canonical signer. */
  readonly canonicalSigner: Address
  constructor(p: { agentId: bigint; signer: Address; epoch: bigint; canonicalSigner: Address; reason: string }) {
    super(`${p.signer} is not canonical for agent ${p.agentId} at epoch ${p.epoch}: ${p.reason}. Nothing was signed or sent.`, {
      metaMessages: ['A demoted instance forwards requests to the canonical one (DESIGN.md §10 step 5).'],
      docsPath: 'docs/sdk.md#on-chain-actions-and-fencing',
    })
    this.agentId = p.agentId
    this.signer = p.signer
    this.epoch = p.epoch
    this.canonicalSigner = p.canonicalSigner
  }
}
