/**
 * Shared plumbing of the on-chain actions (DESIGN.md §9, §10): the Regent deployment addresses, one ABI that
 * decodes every custom error our contracts can surface (a treasury call reverts with RegentSuccession's errors
 * too), and `send`: simulate (so a revert comes back decoded, before anything is signed or sent), send, wait for
 * the receipt (`transact` hands the receipt back too). Nothing here retries: a failed call is an error for the caller to act on.
 */

import { agentTreasuryAbi, identityRegistryAbi, regentAppAuthAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Client,
  ContractFunctionRevertedError,
  type Hex,
  type TransactionReceipt,
  type Transport,
  BaseError as ViemBaseError,
} from 'viem'
import { simulateContract, waitForTransactionReceipt, writeContract } from 'viem/actions'
import { BaseError } from '../errors.js'

/** Where the Regent contracts of one deployment live (`deployRegent(...).contracts` fits). */
export type RegentContracts = {
  readonly identityRegistry: Address
  readonly appAuth: Address
  readonly succession: Address
  readonly treasury: Address
  readonly reputationRegistry?: Address
  readonly validationRegistry?: Address
}

/** A client that can send: a transport, a chain and an account (a viem WalletClient fits). */
export type WriteClient = Client<Transport, Chain, Account>

/** Every error and event of the contracts these actions call. */
export const regentAbi = [...regentSuccessionAbi, ...agentTreasuryAbi, ...regentAppAuthAbi, ...identityRegistryAbi] as const satisfies Abi

/**
 * How {@link send} waits for a transaction (DESIGN.md §14: reorg-safe confirmation depth, bounded waits). Gas and
 * EIP-1559 fees come from the chain (viem estimates `gas` with `eth_estimateGas` and `maxFeePerGas` /
 * `maxPriorityFeePerGas` from the latest base fee and `eth_maxPriorityFeePerGas`); nonces come from the account's
 * nonce manager when it has one (the CLI's deployer does), so concurrent sends from one key do not collide.
 */
export type SendOptions = {
  /** Blocks on top of the one that mined the transaction before it counts (1 = mined). @default 1 */
  readonly confirmations?: number | undefined
  /** Longest wait for the receipt, in ms. @default 180_000 */
  readonly timeoutMs?: number | undefined
}

/** Default {@link SendOptions}; `REGENT_CONFIRMATIONS` (a whole number ≥ 1) overrides the depth in a process. */
export function sendDefaults(
  env: Record<string, string | undefined> = typeof process === 'undefined' ? {} : process.env,
): Required<SendOptions> {
  const depth = env.REGENT_CONFIRMATIONS
  const confirmations = depth !== undefined && /^\d{1,3}$/.test(depth) && Number(depth) >= 1 ? Number(depth) : 1
  return { confirmations, timeoutMs: 180_000 }
}

/** The outcome of one mined transaction. */
export type Sent = { readonly transactionHash: Hex; readonly gasUsed: bigint; readonly blockNumber: bigint }

/**
 * Simulates, sends and waits for one contract call.
 *
 * @throws {ContractRevertedError} the simulation (or the gas estimate right after it) reverted; nothing was sent;
 *   `errorName`/`args` are decoded.
 * @throws {TransactionRevertedError} the transaction was mined but reverted (the chain moved in between).
 * @throws viem's `WaitForTransactionReceiptTimeoutError` when no receipt (with its confirmations) arrives in time.
 */
export async function send(
  client: WriteClient,
  call: { readonly address: Address; readonly abi: Abi; readonly functionName: string; readonly args: readonly unknown[] },
  options: SendOptions = {},
): Promise<Sent> {
  return (await transact(client, call, options)).sent
}

/** {@link send}, also handing back the receipt (its logs) for the callers that read what the call emitted. */
export async function transact(
  client: WriteClient,
  call: {
    readonly address: Address
    readonly abi: Abi
    readonly functionName: string
    readonly args: readonly unknown[]
    /** The block the simulation runs on (`pending`: the next block, whose timestamp is now, for a time-bound call). */
    readonly blockTag?: 'latest' | 'pending'
  },
  options: SendOptions = {},
): Promise<{ readonly sent: Sent; readonly receipt: TransactionReceipt }> {
  const defaults = sendDefaults()
  const abi = [...call.abi, ...regentAbi] as Abi
  let request: unknown
  try {
    ;({ request } = await simulateContract(client, {
      address: call.address,
      abi,
      functionName: call.functionName,
      args: call.args,
      account: client.account,
      chain: client.chain,
      ...(call.blockTag ? { blockTag: call.blockTag } : {}),
    } as never))
  } catch (error) {
    throw ContractRevertedError.from(call.functionName, error)
  }
  // Preparing the transaction (gas estimate) runs the call again: a chain that moved since the simulation reverts
  // here, before anything is signed (a rival's transaction landed in between). The simulation's request carries only
  // the function's ABI item; the whole ABI decodes that revert too.
  const transactionHash = await writeContract(client, { ...(request as object), abi } as never).catch((error: unknown) => {
    throw ContractRevertedError.from(call.functionName, error)
  })
  const receipt = await waitForTransactionReceipt(client, {
    hash: transactionHash,
    confirmations: options.confirmations ?? defaults.confirmations,
    timeout: options.timeoutMs ?? defaults.timeoutMs,
  })
  // Instances of one app share its key, hence its nonces: another instance's transaction can take this one's nonce,
  // and viem then hands back that transaction's receipt. It is not ours: this call did not happen.
  if (receipt.transactionHash.toLowerCase() !== transactionHash.toLowerCase())
    throw new TransactionReplacedError({ functionName: call.functionName, transactionHash, replacedBy: receipt.transactionHash })
  if (receipt.status !== 'success') throw new TransactionRevertedError({ functionName: call.functionName, transactionHash })
  return { sent: { transactionHash, gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber }, receipt }
}

/** The transaction's nonce was taken by another transaction (another instance with the same key): it never ran. */
export class TransactionReplacedError extends BaseError {
  override name = 'Chain.TransactionReplacedError'
  readonly transactionHash: Hex
  readonly replacedBy: Hex
  constructor({ functionName, transactionHash, replacedBy }: { functionName: string; transactionHash: Hex; replacedBy: Hex }) {
    super(`${functionName} (tx ${transactionHash}) never ran: transaction ${replacedBy} took its nonce.`, { docsPath: 'docs/failover.md' })
    this.transactionHash = transactionHash
    this.replacedBy = replacedBy
  }
}

/** A contract call reverted in simulation; nothing was sent. `errorName` is the Solidity custom error (or `Error` for a revert string). */
export class ContractRevertedError extends BaseError {
  override name = 'Chain.ContractRevertedError'
  readonly functionName: string
  readonly errorName: string | undefined
  readonly args: readonly unknown[]
  constructor({
    functionName,
    errorName,
    args,
    cause,
  }: { functionName: string; errorName: string | undefined; args: readonly unknown[]; cause: unknown }) {
    super(`${functionName} would revert${errorName ? ` with ${errorName}(${args.map(String).join(', ')})` : ''}; nothing was sent.`, {
      cause,
      docsPath: 'docs/contracts.md',
    })
    this.functionName = functionName
    this.errorName = errorName
    this.args = args
  }

  /** Wraps a viem error, decoding the custom error when there is one. Non-revert errors (transport…) are rethrown as they are. */
  static from(functionName: string, error: unknown): Error {
    if (!(error instanceof ViemBaseError)) return error as Error
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null
    if (!reverted) return error
    return new ContractRevertedError({
      functionName,
      errorName: reverted.data?.errorName ?? (reverted.reason === undefined ? undefined : 'Error'),
      args: reverted.data?.args ?? (reverted.reason === undefined ? [] : [reverted.reason]),
      cause: error,
    })
  }
}

/** A transaction was mined but reverted (the chain changed between the simulation and the block). */
export class TransactionRevertedError extends BaseError {
  override name = 'Chain.TransactionRevertedError'
  readonly transactionHash: Hex
  constructor({ functionName, transactionHash }: { functionName: string; transactionHash: Hex }) {
    super(`${functionName} reverted on-chain (tx ${transactionHash}).`)
    this.transactionHash = transactionHash
  }
}
