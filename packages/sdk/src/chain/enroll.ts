/**
 * Enrolls an ERC-8004 agent in RegentSuccession with its first canonical instance (DESIGN.md §9, §10;
 * docs/contracts.md `enroll`): epoch 1. Checks chain state before sending (DESIGN.md §10 "on-chain calls check
 * chain state before sending"): when the agent is already enrolled with this app and this signer it sends nothing.
 */
import { regentSuccessionAbi } from '@regent-tee/contracts'
import type { Address } from 'viem'
import { readCanonical, type SuccessionInstance } from './readCanonical.js'
import { type RegentContracts, type Sent, send, type WriteClient } from './transact.js'

export type EnrollParameters = {
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** The RegentAppAuth app id the agent runs as. */
  readonly appId: Address
  /** The first canonical instance; its compose hash must be approved and active for `appId`. */
  readonly instance: SuccessionInstance
}

/** `sent` is undefined when the agent was already enrolled as asked. */
export type EnrollReturnType = { readonly epoch: bigint; readonly sent: Sent | undefined }

/**
 * Enrolls the agent (the wallet must own or operate it on the IdentityRegistry).
 *
 * @throws {ContractRevertedError} `NotAgentOperator`, `AppNotRegistered`, `UnapprovedMeasurement`,
 *   `AlreadyEnrolled` (enrolled otherwise), `ZeroSigner` (nothing sent).
 * @example
 * await enroll(wallet, { contracts, agentId, appId, instance: { signer, composeHash, instanceId, quoteHash, host } })
 */
export async function enroll(wallet: WriteClient, parameters: EnrollParameters): Promise<EnrollReturnType> {
  const { contracts, agentId, appId, instance } = parameters
  const now = await readCanonical(wallet, { contracts, agentId })
  if (
    now.epoch !== 0n &&
    now.appId.toLowerCase() === appId.toLowerCase() &&
    now.instance.signer.toLowerCase() === instance.signer.toLowerCase()
  )
    return { epoch: now.epoch, sent: undefined }
  const sent = await send(wallet, {
    address: contracts.succession,
    abi: regentSuccessionAbi,
    functionName: 'enroll',
    args: [agentId, appId, instance],
  })
  return { epoch: 1n, sent }
}
