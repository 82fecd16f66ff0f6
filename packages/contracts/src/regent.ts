/**
 * Deploys the whole Regent on-chain layer (DESIGN.md §9) in dependency order:
 * ERC-8004 IdentityRegistry → ReputationRegistry, ValidationRegistry (both point at the identity
 * registry) → RegentAppAuth → RegentSuccession (identity + app auth) → AgentTreasury (succession).
 */
import type { Address, PublicClient } from 'viem'
import { type DeployerClient, deployContract } from './deploy.js'
import {
  agentTreasuryAbi,
  agentTreasuryBytecode,
  identityRegistryAbi,
  identityRegistryBytecode,
  regentAppAuthAbi,
  regentAppAuthBytecode,
  regentSuccessionAbi,
  regentSuccessionBytecode,
  reputationRegistryAbi,
  reputationRegistryBytecode,
  validationRegistryAbi,
  validationRegistryBytecode,
} from './generated/index.js'

/** Names of the contracts of one Regent deployment. */
export const regentContractNames = [
  'identityRegistry',
  'reputationRegistry',
  'validationRegistry',
  'appAuth',
  'succession',
  'treasury',
] as const

/** Where each contract of one deployment lives, on which chain, and what its deployment cost. */
export type RegentDeployment = {
  chainId: number
  contracts: Record<(typeof regentContractNames)[number], Address>
  /** Gas used by each creation transaction. */
  deployGas: Record<(typeof regentContractNames)[number], bigint>
}

/** Options of {@link deployRegent}. */
export type DeployRegentOptions = {
  /** Seconds before a newly approved KMS measurement takes effect (global governance timelock). Default 0 on a devnet. */
  kmsTimelock?: bigint
}

/**
 * Deploys every Regent contract and returns their addresses.
 *
 * @throws {DeploymentFailedError} a creation transaction reverted.
 * @example
 * const deployment = await deployRegent(wallet, publicClient)
 * deployment.contracts.succession // 0x…
 */
export async function deployRegent(
  wallet: DeployerClient,
  client: PublicClient,
  options: DeployRegentOptions = {},
): Promise<RegentDeployment> {
  const identity = await deployContract(wallet, client, {
    name: 'IdentityRegistry',
    abi: identityRegistryAbi,
    bytecode: identityRegistryBytecode,
  })
  const [reputation, validation, appAuth] = [
    await deployContract(wallet, client, {
      name: 'ReputationRegistry',
      abi: reputationRegistryAbi,
      bytecode: reputationRegistryBytecode,
      args: [identity.address],
    }),
    await deployContract(wallet, client, {
      name: 'ValidationRegistry',
      abi: validationRegistryAbi,
      bytecode: validationRegistryBytecode,
      args: [identity.address],
    }),
    await deployContract(wallet, client, {
      name: 'RegentAppAuth',
      abi: regentAppAuthAbi,
      bytecode: regentAppAuthBytecode,
      args: [options.kmsTimelock ?? 0n],
    }),
  ]
  const succession = await deployContract(wallet, client, {
    name: 'RegentSuccession',
    abi: regentSuccessionAbi,
    bytecode: regentSuccessionBytecode,
    args: [identity.address, appAuth.address],
  })
  const treasury = await deployContract(wallet, client, {
    name: 'AgentTreasury',
    abi: agentTreasuryAbi,
    bytecode: agentTreasuryBytecode,
    args: [succession.address],
  })
  const all = { identityRegistry: identity, reputationRegistry: reputation, validationRegistry: validation, appAuth, succession, treasury }
  return {
    chainId: wallet.chain.id,
    contracts: Object.fromEntries(regentContractNames.map((n) => [n, all[n].address])) as RegentDeployment['contracts'],
    deployGas: Object.fromEntries(regentContractNames.map((n) => [n, all[n].gasUsed])) as RegentDeployment['deployGas'],
  }
}
