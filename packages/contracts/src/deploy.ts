/**
 * viem helpers to deploy the Regent contracts. Every helper waits for the receipt and fails with a
 * typed error naming the contract when the deployment reverts.
 */
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  getAddress,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { BaseError } from './errors.js'

/** A wallet client that has an account and a chain (what a deployer needs). */
export type DeployerClient = WalletClient<Transport, Chain, Account>

/** Parameters of {@link deployContract}. */
export type DeployContractParameters = {
  /** Name used in errors and reports. */
  name: string
  abi: Abi
  bytecode: Hex
  args?: readonly unknown[]
}

/** The (checksummed) address of a freshly deployed contract and the gas its deployment used. */
export type Deployed = { address: Address; gasUsed: bigint }

/**
 * Deploys one contract and waits for its receipt.
 *
 * @throws {DeploymentFailedError} the creation transaction reverted or produced no address.
 * @example
 * const { address } = await deployContract(wallet, publicClient, { name: 'IdentityRegistry', abi, bytecode })
 */
export async function deployContract(wallet: DeployerClient, client: PublicClient, params: DeployContractParameters): Promise<Deployed> {
  const hash = await wallet.deployContract({ abi: params.abi, bytecode: params.bytecode, args: params.args ?? [] } as never)
  const receipt = await client.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success' || !receipt.contractAddress) throw new DeploymentFailedError({ name: params.name, hash })
  return { address: getAddress(receipt.contractAddress), gasUsed: receipt.gasUsed }
}

/** A contract deployment reverted. */
export class DeploymentFailedError extends BaseError {
  override name = 'Deploy.DeploymentFailedError'
  constructor({ name, hash }: { name: string; hash: Hex }) {
    super(`deployment of ${name} failed (tx ${hash}).`)
  }
}
