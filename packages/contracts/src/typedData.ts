/**
 * EIP-712 typed data that Regent's off-chain code signs and the contracts verify. These are
 * permanent wire contracts (docs/protocol.md): changing a field changes every digest.
 *
 * - `AgentWalletSet` — ERC-8004 IdentityRegistry `setAgentWallet` (EIP-8004, reference §1.1):
 *   domain name "ERC8004IdentityRegistry", version "1"; `owner` is the agent's current `ownerOf`.
 * - `SuccessionCertificate` — RegentSuccession `rotate` (DESIGN.md §9, §10 step 2B): the old key
 *   hands the agent to a new key for exactly the next epoch, before a deadline.
 */
import type { Address, Hex } from 'viem'

/** EIP-712 types of ERC-8004 `AgentWalletSet`. */
export const agentWalletSetTypes = {
  AgentWalletSet: [
    { name: 'agentId', type: 'uint256' },
    { name: 'newWallet', type: 'address' },
    { name: 'owner', type: 'address' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const

/** The `AgentWalletSet` message: `newWallet` signs it to prove control (deadline ≤ now + 300 s on-chain). */
export type AgentWalletSet = { agentId: bigint; newWallet: Address; owner: Address; deadline: bigint }

/** The EIP-712 domain of an ERC-8004 IdentityRegistry deployment. */
export function identityRegistryDomain({ chainId, address }: { chainId: number; address: Address }) {
  return { name: 'ERC8004IdentityRegistry', version: '1', chainId, verifyingContract: address } as const
}

/** EIP-712 types of a Regent `SuccessionCertificate`. */
export const successionCertificateTypes = {
  SuccessionCertificate: [
    { name: 'agentId', type: 'uint256' },
    { name: 'oldKey', type: 'address' },
    { name: 'newKey', type: 'address' },
    { name: 'newComposeHash', type: 'bytes32' },
    { name: 'quoteHash', type: 'bytes32' },
    { name: 'nextEpoch', type: 'uint64' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const

/** A succession certificate: `oldKey` (canonical now) hands `agentId` to `newKey` at `nextEpoch`. */
export type SuccessionCertificate = {
  agentId: bigint
  oldKey: Address
  newKey: Address
  newComposeHash: Hex
  quoteHash: Hex
  nextEpoch: bigint
  deadline: bigint
}

/** The EIP-712 domain of a RegentSuccession deployment. */
export function successionDomain({ chainId, address }: { chainId: number; address: Address }) {
  return { name: 'RegentSuccession', version: '1', chainId, verifyingContract: address } as const
}
