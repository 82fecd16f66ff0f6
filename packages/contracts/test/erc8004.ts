/**
 * Test fixture for the ERC-8004 registries: deploys Identity, Reputation and Validation registries on the
 * worker's anvil, signs `AgentWalletSet` typed data, and decodes reverts.
 */

import type { Chain_ } from '@regent-tee/testing/chain'
import {
  type Abi,
  type Address,
  BaseError,
  ContractFunctionRevertedError,
  getAddress,
  type Hash,
  type Hex,
  type LocalAccount,
  type TransactionReceipt,
} from 'viem'
import { deployContract } from '../src/deploy.js'
import {
  identityRegistryAbi,
  identityRegistryBytecode,
  reputationRegistryAbi,
  reputationRegistryBytecode,
  validationRegistryAbi,
  validationRegistryBytecode,
} from '../src/generated/index.js'
import { agentWalletSetTypes, identityRegistryDomain } from '../src/typedData.js'

export type Registries = { identity: Address; reputation: Address; validation: Address }

/** Deploys the three registries from `wallets[0]`, the two dependent ones bound to the identity registry. */
export async function deployRegistries(chain: Chain_): Promise<Registries> {
  const deployer = wallet(chain, 0)
  const identity = await deployContract(deployer, chain.client, {
    name: 'IdentityRegistry',
    abi: identityRegistryAbi,
    bytecode: identityRegistryBytecode,
  })
  const reputation = await deployContract(deployer, chain.client, {
    name: 'ReputationRegistry',
    abi: reputationRegistryAbi,
    bytecode: reputationRegistryBytecode,
    args: [identity.address],
  })
  const validation = await deployContract(deployer, chain.client, {
    name: 'ValidationRegistry',
    abi: validationRegistryAbi,
    bytecode: validationRegistryBytecode,
    args: [identity.address],
  })
  return { identity: getAddress(identity.address), reputation: getAddress(reputation.address), validation: getAddress(validation.address) }
}

/** Wallet client `i` of the fixture (throws instead of returning undefined). */
export function wallet(chain: Chain_, i: number): Chain_['wallets'][number] {
  const w = chain.wallets[i]
  if (!w) throw new Error(`no wallet ${i}`)
  return w
}

/** Waits for a transaction and fails the test unless it succeeded. */
export async function mined(chain: Chain_, hash: Promise<Hash>): Promise<TransactionReceipt> {
  const receipt = await chain.client.waitForTransactionReceipt({ hash: await hash })
  if (receipt.status !== 'success') throw new Error(`transaction ${receipt.transactionHash} reverted`)
  return receipt
}

/** The decoded revert of a contract call: `reason` for `require` strings, `errorName`/`args` for custom errors. */
export type Revert = { reason: string | undefined; errorName: string | undefined; args: readonly unknown[] | undefined }

/** Awaits `call`, which must revert, and returns its decoded revert (throws if it did not revert). */
export async function revertOf(call: Promise<unknown>): Promise<Revert> {
  try {
    await call
  } catch (error) {
    if (error instanceof BaseError) {
      const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError)
      if (reverted instanceof ContractFunctionRevertedError) {
        return { reason: reverted.reason, errorName: reverted.data?.errorName, args: reverted.data?.args }
      }
    }
    throw error
  }
  throw new Error('expected the call to revert, it succeeded')
}

/** The Identity Registry's custom errors (OZ ERC-721), for decoding reverts that other registries bubble up. */
export const identityErrors = identityRegistryAbi.filter((item) => item.type === 'error') satisfies Abi

/** `signer` signs AgentWalletSet for `registry` on the fixture's chain. */
export function signAgentWalletSet(
  chain: Chain_,
  signer: LocalAccount,
  registry: Address,
  message: { agentId: bigint; newWallet: Address; owner: Address; deadline: bigint },
): Promise<Hex> {
  return signer.signTypedData({
    domain: identityRegistryDomain({ chainId: chain.chain.id, address: registry }),
    types: agentWalletSetTypes,
    primaryType: 'AgentWalletSet',
    message,
  })
}

/** Timestamp of the latest block. */
export async function now(chain: Chain_): Promise<bigint> {
  return (await chain.client.getBlock()).timestamp
}
