/**
 * Reads who an agent is right now on RegentSuccession (DESIGN.md §9; docs/contracts.md "RegentSuccession"):
 * canonical instance, epoch (the fencing token, 0 = not enrolled), app id, latest committed state root and
 * sequence, all at one block so that the answer is one consistent snapshot.
 */
import { regentSuccessionAbi } from '@regent-tee/contracts'
import type { Address, Client, Hex } from 'viem'
import { getBlockNumber, readContract } from 'viem/actions'
import type { RegentContracts } from './transact.js'

/** A RegentSuccession instance (the struct of the contract). */
export type SuccessionInstance = {
  readonly signer: Address
  readonly composeHash: Hex
  readonly instanceId: Address
  readonly quoteHash: Hex
  readonly host: string
}

export type ReadCanonicalParameters = {
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** Read at this block (default: the latest). */
  readonly blockNumber?: bigint
}

export type ReadCanonicalReturnType = {
  /** The current epoch; 0 when the agent is not enrolled. */
  readonly epoch: bigint
  readonly instance: SuccessionInstance
  readonly appId: Address
  /** `0x00…00` before the first commit. */
  readonly stateRoot: Hex
  readonly stateSeq: bigint
  /** The block the snapshot was read at. */
  readonly blockNumber: bigint
}

/**
 * The agent's canonical instance, epoch, app and latest state root, read at one block.
 *
 * @example
 * const { epoch, instance, stateRoot, stateSeq } = await readCanonical(publicClient, { contracts, agentId })
 */
export async function readCanonical(client: Client, parameters: ReadCanonicalParameters): Promise<ReadCanonicalReturnType> {
  const blockNumber = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }))
  const at = { address: parameters.contracts.succession, abi: regentSuccessionAbi, blockNumber } as const
  const [[instance, epoch], appId, [stateRoot, stateSeq]] = await Promise.all([
    readContract(client, { ...at, functionName: 'canonicalOf', args: [parameters.agentId] }),
    readContract(client, { ...at, functionName: 'appOf', args: [parameters.agentId] }),
    readContract(client, { ...at, functionName: 'stateOf', args: [parameters.agentId] }),
  ])
  return { epoch: BigInt(epoch), instance, appId, stateRoot, stateSeq: BigInt(stateSeq), blockNumber }
}
