/**
 * dstack's on-chain KMS contracts on a chain (docs/targets/phala.md "On-chain KMS"; the vendored sources and their
 * provenance: contracts/vendor/dstack/README.md): the `DstackApp` implementation, the `DstackKms` implementation and
 * its ERC-1967 proxy initialised with an owner and the app implementation (as dstack's `script/Deploy.s.sol` does),
 * and Regent's per-app `RegentDstackApp`, registered in DstackKms with the public `registerApp`.
 */
import { type Address, encodeFunctionData, type Hex, type PublicClient } from 'viem'
import { type DeployerClient, deployContract } from './deploy.js'
import { BaseError } from './errors.js'
import {
  dstackAppAbi,
  dstackAppBytecode,
  dstackKmsAbi,
  dstackKmsBytecode,
  erc1967ProxyAbi,
  erc1967ProxyBytecode,
  regentDstackAppAbi,
  regentDstackAppBytecode,
} from './generated/index.js'

/** Where one DstackKms deployment lives. */
export type DstackKmsDeployment = {
  /** The DstackKms proxy: the address an on-chain KMS is configured with (`kms_contract_address`). */
  kms: Address
  kmsImplementation: Address
  /** The DstackApp implementation `deployAndRegisterApp` clones behind a proxy. */
  appImplementation: Address
}

/**
 * Deploys DstackApp and DstackKms implementations and a DstackKms proxy owned by `owner` (default: the deployer).
 *
 * @throws {DeploymentFailedError} a creation transaction reverted.
 * @example
 * const { kms } = await deployDstackKms(governance, client)
 */
export async function deployDstackKms(
  wallet: DeployerClient,
  client: PublicClient,
  options: { owner?: Address } = {},
): Promise<DstackKmsDeployment> {
  const owner = options.owner ?? wallet.account.address
  const app = await deployContract(wallet, client, { name: 'DstackApp', abi: dstackAppAbi, bytecode: dstackAppBytecode })
  const impl = await deployContract(wallet, client, { name: 'DstackKms', abi: dstackKmsAbi, bytecode: dstackKmsBytecode })
  const init = encodeFunctionData({ abi: dstackKmsAbi, functionName: 'initialize', args: [owner, app.address] })
  const proxy = await deployContract(wallet, client, {
    name: 'DstackKms proxy',
    abi: erc1967ProxyAbi,
    bytecode: erc1967ProxyBytecode,
    args: [impl.address, init],
  })
  return { kms: proxy.address, kmsImplementation: impl.address, appImplementation: app.address }
}

/** Parameters of {@link deployRegentDstackApp}. */
export type DeployRegentDstackAppParameters = {
  /** RegentAppAuth. */
  appAuth: Address
  /** DstackKms (proxy) to register the app in. */
  dstackKms: Address
  /** The app's owner in RegentAppAuth (default: the deployer). */
  owner?: Address
  /** The app's RegentAppAuth timelock in seconds. */
  timelock: bigint
  /** Address of the KMS root key that serves the app (the on-chain KMS's `k256Pubkey`). */
  kmsRoot: Address
}

/**
 * Deploys a RegentDstackApp (which registers itself in RegentAppAuth as app `address`) and registers it in DstackKms.
 * The returned address is the app id, for dstack and for Regent.
 *
 * @throws {DeploymentFailedError} the deployment reverted (e.g. RegentAppAuth refused); {DstackRegistrationError}
 *   when `DstackKms.registerApp` reverted.
 * @example
 * const { appId } = await deployRegentDstackApp(owner, client, { appAuth, dstackKms, timelock: 0n, kmsRoot })
 */
export async function deployRegentDstackApp(
  wallet: DeployerClient,
  client: PublicClient,
  parameters: DeployRegentDstackAppParameters,
): Promise<{ appId: Address; registerTx: Hex }> {
  const owner = parameters.owner ?? wallet.account.address
  const { address } = await deployContract(wallet, client, {
    name: 'RegentDstackApp',
    abi: regentDstackAppAbi,
    bytecode: regentDstackAppBytecode,
    args: [parameters.appAuth, owner, parameters.timelock, parameters.kmsRoot],
  })
  const hash = await wallet.writeContract({
    address: parameters.dstackKms,
    abi: dstackKmsAbi,
    functionName: 'registerApp',
    args: [address],
  } as never)
  const receipt = await client.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new DstackRegistrationError({ appId: address, hash })
  return { appId: address, registerTx: hash }
}

/** `DstackKms.registerApp` reverted. */
export class DstackRegistrationError extends BaseError {
  override name = 'Dstack.RegistrationError'
  constructor({ appId, hash }: { appId: Address; hash: Hex }) {
    super(`DstackKms.registerApp(${appId}) reverted (tx ${hash}).`)
  }
}
