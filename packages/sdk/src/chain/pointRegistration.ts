/**
 * Points an agent's ERC-8004 registration file at the instance that now serves it (ERC-8004 `setAgentURI`; DESIGN.md
 * §10 step 4, docs/failover.md "Clients follow"): every service endpoint becomes `url`. Reads first: nothing is sent
 * when the file already says so, or when the wallet does not own the identity NFT (then the owner must do it).
 */
import { identityRegistryAbi } from '@regent-tee/contracts'
import type { Client } from 'viem'
import { readContract } from 'viem/actions'
import { fromAgentUri, toAgentUri } from './registerAgent.js'
import { type RegentContracts, type Sent, send, type WriteClient } from './transact.js'

export type PointRegistrationParameters = {
  readonly contracts: Pick<RegentContracts, 'identityRegistry'>
  readonly agentId: bigint
  /** The endpoint every service of the registration file gets. */
  readonly url: string
}

export type PointRegistrationReturnType = {
  /** The registration's URI now (the data: URI of the file). */
  readonly agentURI: string
  /** Undefined when nothing had to be (or could be) sent. */
  readonly sent: Sent | undefined
  /** False when the wallet does not own the identity and the file still points elsewhere. */
  readonly pointed: boolean
}

/**
 * @throws {ContractRevertedError} the registry refuses (nothing sent).
 * @throws {InvalidAgentUriError} the current URI is not a registration file this SDK reads.
 * @example
 * await pointRegistration(wallet, { contracts, agentId, url: 'https://agent-b.example' })
 */
export async function pointRegistration(
  wallet: WriteClient,
  parameters: PointRegistrationParameters,
): Promise<PointRegistrationReturnType> {
  const { contracts, agentId, url } = parameters
  const read = (functionName: 'tokenURI' | 'ownerOf') =>
    readContract(
      wallet as Client,
      {
        address: contracts.identityRegistry,
        abi: identityRegistryAbi,
        functionName,
        args: [agentId],
      } as never,
    ) as Promise<string>
  const uri = await read('tokenURI')
  const file = fromAgentUri(uri)
  const updated = toAgentUri({ ...file, services: file.services.map((s) => ({ ...s, endpoint: url })) })
  if (updated === uri) return { agentURI: uri, sent: undefined, pointed: true }
  if ((await read('ownerOf')).toLowerCase() !== wallet.account.address.toLowerCase())
    return { agentURI: uri, sent: undefined, pointed: false }
  const sent = await send(wallet, {
    address: contracts.identityRegistry,
    abi: identityRegistryAbi,
    functionName: 'setAgentURI',
    args: [agentId, updated],
  })
  return { agentURI: updated, sent, pointed: true }
}
