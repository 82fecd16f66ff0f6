/**
 * Commits {stateRoot, seq} to RegentSuccession (DESIGN.md §7 "Checkpoints", §10 step 3; docs/contracts.md
 * `commitState`). Fenced (assertCanonical) and anti-rollback checked locally first, so a demoted instance or a
 * stale checkpoint sends nothing; the contract enforces both again (`StaleEpoch`, `NotCanonicalSigner`,
 * `StateRollback`, `ZeroStateRoot`).
 */
import { regentSuccessionAbi } from '@regent-tee/contracts'
import type { Hex } from 'viem'
import { BaseError } from '../errors.js'
import { assertCanonical } from './assertCanonical.js'
import { type RegentContracts, type Sent, send, type WriteClient } from './transact.js'

export type CommitStateParameters = {
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** The checkpoint's state root (bytes32). */
  readonly stateRoot: Hex
  /** Must be greater than the last committed sequence number. */
  readonly seq: bigint
}

export type CommitStateReturnType = Sent & { readonly epoch: bigint }

/**
 * Commits a state root with a strictly increasing sequence number, as the canonical signer of the current epoch.
 *
 * @throws {NotCanonicalError} the wallet's account is not canonical now (nothing sent).
 * @throws {StaleSequenceError} `seq` is not above the committed sequence (nothing sent).
 * @throws {ContractRevertedError} the contract would revert (e.g. `ZeroStateRoot`; nothing sent).
 * @example
 * const { transactionHash, epoch } = await commitState(wallet, { contracts, agentId, stateRoot: cp.stateRoot, seq: 2n })
 */
export async function commitState(wallet: WriteClient, parameters: CommitStateParameters): Promise<CommitStateReturnType> {
  const { agentId, stateRoot, seq, contracts } = parameters
  const now = await assertCanonical(wallet, { contracts, agentId, signer: wallet.account.address })
  if (seq <= now.stateSeq) throw new StaleSequenceError({ agentId, seq, committedSeq: now.stateSeq })
  const sent = await send(wallet, {
    address: contracts.succession,
    abi: regentSuccessionAbi,
    functionName: 'commitState',
    args: [agentId, now.epoch, stateRoot, seq],
  })
  return { ...sent, epoch: now.epoch }
}

/** The sequence number is not above the one already committed on-chain (anti-rollback); nothing was sent. */
export class StaleSequenceError extends BaseError {
  override name = 'Chain.StaleSequenceError'
  readonly seq: bigint
  readonly committedSeq: bigint
  constructor({ agentId, seq, committedSeq }: { agentId: bigint; seq: bigint; committedSeq: bigint }) {
    super(`State sequence ${seq} is not above the committed ${committedSeq} for agent ${agentId}; nothing was sent.`, {
      docsPath: 'docs/sdk.md#on-chain-actions-and-fencing',
    })
    this.seq = seq
    this.committedSeq = committedSeq
  }
}
