/**
 * Withdraws from the agent's AgentTreasury bond vault (DESIGN.md §9 "AgentTreasury"; docs/contracts.md):
 * fenced first (assertCanonical), then `withdraw` (ETH) or `withdrawToken` (ERC-20) with the epoch it read.
 * The contract refuses a stale epoch or a non-canonical caller with `NotCanonical`.
 */
import { agentTreasuryAbi } from '@regent-tee/contracts'
import type { Address } from 'viem'
import { assertCanonical } from './assertCanonical.js'
import { type RegentContracts, type Sent, send, type WriteClient } from './transact.js'

export type WithdrawParameters = {
  readonly contracts: Pick<RegentContracts, 'succession' | 'treasury'>
  readonly agentId: bigint
  readonly to: Address
  readonly amount: bigint
  /** ERC-20 token; omit for ETH. */
  readonly token?: Address
}

export type WithdrawReturnType = Sent & { readonly epoch: bigint }

/**
 * Moves `amount` of the agent's treasury balance to `to`, as the canonical signer of the current epoch.
 *
 * @throws {NotCanonicalError} the wallet's account is not canonical now (nothing sent).
 * @throws {ContractRevertedError} the treasury would revert (`InsufficientBalance`, `ZeroAddress`, …; nothing sent).
 * @example
 * await withdraw(wallet, { contracts, agentId, to: payee, amount: parseEther('0.1') })
 */
export async function withdraw(wallet: WriteClient, parameters: WithdrawParameters): Promise<WithdrawReturnType> {
  const { agentId, to, amount, token, contracts } = parameters
  const { epoch } = await assertCanonical(wallet, { contracts, agentId, signer: wallet.account.address })
  const sent = await send(wallet, {
    address: contracts.treasury,
    abi: agentTreasuryAbi,
    ...(token === undefined
      ? { functionName: 'withdraw', args: [agentId, epoch, to, amount] }
      : { functionName: 'withdrawToken', args: [agentId, epoch, token, to, amount] }),
  })
  return { ...sent, epoch }
}
