/**
 * Leases on RegentSuccession (issue 19 / docs/failover.md; docs/contracts.md "RegentSuccession"): every instance of an
 * app signs with the same app key, so the lease names the instance id that holds the agent. The holder renews it
 * (`renewLease`, every few seconds); once it lapses, a standby of the same key takes the agent over (`claimCanonical`,
 * epoch + 1), which fences the old holder off. The contract is the judge: these actions read nothing beyond what they
 * need, and map the reverts a failover loop branches on to typed errors — {@link LeaseHeldError} (wait) and
 * {@link LeaseLostError} (someone else holds the agent now); every other revert stays a `ContractRevertedError`.
 */
import { regentSuccessionAbi } from '@regent-tee/contracts'
import { type Address, type Client, parseEventLogs, type TransactionReceipt } from 'viem'
import { getBlock, readContract, simulateContract } from 'viem/actions'
import { BaseError } from '../errors.js'
import { assertCanonical } from './assertCanonical.js'
import type { SuccessionInstance } from './readCanonical.js'
import {
  ContractRevertedError,
  type RegentContracts,
  type SendOptions,
  type Sent,
  TransactionRevertedError,
  transact,
  type WriteClient,
} from './transact.js'

export type ReadLeaseParameters = {
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** Read at this block (default: the latest). */
  readonly blockNumber?: bigint
}

export type ReadLeaseReturnType = {
  /** The instance id holding the lease; zero when the lease is disabled. */
  readonly holder: Address
  /** Unix seconds from which a standby may claim; 0 when disabled. */
  readonly expiresAt: bigint
  /** Seconds a renewal extends the lease by; 0 = the lease is disabled. */
  readonly period: bigint
  /**
   * The holder renewed the lease since it got it (it serves); false after a handover or claim until its first
   * renewal. A standby of the epoch before may claim a lease whose holder never renewed it (docs/failover.md).
   */
  readonly renewed: boolean
  /** The current epoch; 0 when the agent is not enrolled. */
  readonly epoch: bigint
  /** The canonical instance. */
  readonly instance: SuccessionInstance
  /** The app the agent enrolled with (what its instances must measure). */
  readonly appId: Address
  /** The block everything was read at, and its timestamp (the chain's "now" for `expiresAt`). */
  readonly blockNumber: bigint
  readonly blockTimestamp: bigint
}

/**
 * The agent's lease, epoch and canonical instance, read at one block, with that block's timestamp.
 *
 * @example
 * const { holder, expiresAt, blockTimestamp, epoch } = await readLease(publicClient, { contracts, agentId })
 * if (blockTimestamp >= expiresAt) await claimCanonical(wallet, { contracts, agentId, epoch, instance: self })
 */
export async function readLease(client: Client, parameters: ReadLeaseParameters): Promise<ReadLeaseReturnType> {
  const block =
    parameters.blockNumber === undefined
      ? await getBlock(client, { blockTag: 'latest' })
      : await getBlock(client, { blockNumber: parameters.blockNumber })
  const at = { address: parameters.contracts.succession, abi: regentSuccessionAbi, blockNumber: block.number } as const
  const [[holder, expiresAt, period, renewed], [instance, epoch], appId] = await Promise.all([
    readContract(client, { ...at, functionName: 'leaseOf', args: [parameters.agentId] }),
    readContract(client, { ...at, functionName: 'canonicalOf', args: [parameters.agentId] }),
    readContract(client, { ...at, functionName: 'appOf', args: [parameters.agentId] }),
  ])
  return {
    holder,
    expiresAt,
    period: BigInt(period),
    renewed,
    epoch,
    instance,
    appId,
    blockNumber: block.number,
    blockTimestamp: block.timestamp,
  }
}

export type SetLeaseParameters = {
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** Seconds, 2 to 86,400 (`MIN_LEASE_PERIOD`, `MAX_LEASE_PERIOD`); 0 disables the lease. */
  readonly period: number
  /** The epoch the wallet holds; when omitted it is read (and the wallet checked canonical) first. */
  readonly epoch?: bigint
}

export type SetLeaseReturnType = Sent & {
  /** The epoch the lease was set at. */
  readonly epoch: bigint
  /** The mined block's timestamp + period (0 when disabled). */
  readonly expiresAt: bigint
}

/**
 * Enables the agent's lease, held by the canonical instance, for `period` seconds (or disables it with 0), as the
 * canonical signer.
 *
 * @throws {NotCanonicalError} `epoch` omitted and the wallet is not canonical now (nothing sent).
 * @throws {LeaseLostError} `StaleEpoch` / `NotCanonicalSigner`: the agent moved on (nothing sent, or reverted on-chain).
 * @throws {ContractRevertedError} `InvalidLeasePeriod`, `NotEnrolled` (nothing sent).
 * @example
 * const { epoch, expiresAt } = await setLease(wallet, { contracts, agentId, period: 30 })
 */
export async function setLease(wallet: WriteClient, parameters: SetLeaseParameters, options?: SendOptions): Promise<SetLeaseReturnType> {
  const { contracts, agentId, period } = parameters
  const epoch = parameters.epoch ?? (await assertCanonical(wallet, { contracts, agentId, signer: wallet.account.address })).epoch
  const { sent, receipt } = await leaseCall(
    wallet,
    { contracts, agentId, functionName: 'setLease', args: [agentId, epoch, period] },
    options,
  )
  const [event] = parseEventLogs({ abi: regentSuccessionAbi, logs: receipt.logs, eventName: 'LeaseSet', args: { agentId } })
  const expiresAt = event?.args.expiresAt ?? (await leaseAt(wallet, contracts, agentId, receipt)).expiresAt
  return { ...sent, epoch, expiresAt }
}

export type RenewLeaseParameters = {
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** The epoch the holder holds (from `readLease`, `setLease` or `claimCanonical`); never read here. */
  readonly epoch: bigint
  /** This instance's id: the lease's holder. */
  readonly instanceId: Address
}

export type RenewLeaseReturnType = Sent & {
  /** The mined block's timestamp + period, from the `LeaseRenewed` event. */
  readonly expiresAt: bigint
}

/**
 * Renews the lease this instance holds to the mined block's timestamp + period. Runs every few seconds, so it reads
 * nothing first: the simulation of the send is the only check, and the contract's answer is the verdict.
 *
 * @throws {LeaseLostError} `StaleEpoch` (another instance claimed the agent), `NotLeaseHolder`, `NotCanonicalSigner`:
 *   stop acting as the agent.
 * @throws {ContractRevertedError} `LeaseDisabled`, `NotEnrolled` (nothing sent).
 * @example
 * const { expiresAt } = await renewLease(wallet, { contracts, agentId, epoch, instanceId })
 */
export async function renewLease(
  wallet: WriteClient,
  parameters: RenewLeaseParameters,
  options?: SendOptions,
): Promise<RenewLeaseReturnType> {
  const { contracts, agentId, epoch, instanceId } = parameters
  const { sent, receipt } = await leaseCall(
    wallet,
    { contracts, agentId, functionName: 'renewLease', args: [agentId, epoch, instanceId] },
    options,
  )
  const [event] = parseEventLogs({ abi: regentSuccessionAbi, logs: receipt.logs, eventName: 'LeaseRenewed', args: { agentId } })
  const expiresAt = event?.args.expiresAt ?? (await leaseAt(wallet, contracts, agentId, receipt)).expiresAt
  return { ...sent, expiresAt }
}

export type ClaimCanonicalParameters = {
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** The current epoch (the one whose lease lapsed). */
  readonly epoch: bigint
  /** This standby instance: same signer as the wallet, another instance id, an approved compose hash. */
  readonly instance: SuccessionInstance
}

export type ClaimCanonicalReturnType = Sent & {
  /** The new epoch: `epoch + 1`. */
  readonly epoch: bigint
  /** When the claimed lease lapses: the mined block's timestamp + period. */
  readonly expiresAt: bigint
}

/**
 * Takes the agent over once its lease has lapsed: `claim(agentId, epoch, instance)`, epoch + 1, and the lease is this
 * instance's. Of two standbys claiming at one epoch, one wins; the other gets {@link LeaseLostError}.
 *
 * @throws {LeaseHeldError} the lease has not lapsed yet (`expiresAt`, chain `timestamp`; nothing sent).
 * @throws {LeaseLostError} `StaleEpoch` (another instance claimed first), `NotCanonicalSigner`.
 * @throws {ContractRevertedError} `LeaseDisabled`, `SameInstance`, `SignerMismatch`, `UnapprovedMeasurement`, … (nothing sent).
 * @example
 * const { epoch, expiresAt } = await claimCanonical(wallet, { contracts, agentId, epoch: lease.epoch, instance: self })
 */
export async function claimCanonical(
  wallet: WriteClient,
  parameters: ClaimCanonicalParameters,
  options?: SendOptions,
): Promise<ClaimCanonicalReturnType> {
  const { contracts, agentId, epoch, instance } = parameters
  const { sent, receipt } = await leaseCall(
    wallet,
    // On the pending block: its timestamp is now, where the latest block's may be older than the expiry (a chain that
    // mines only when there are transactions, like a devnet's, has no newer block once the holder stopped renewing).
    { contracts, agentId, functionName: 'claim', args: [agentId, epoch, instance], blockTag: 'pending' },
    options,
  )
  // `Claimed` does not carry the expiry: the lease as the claim's block left it does.
  const { expiresAt } = await leaseAt(wallet, contracts, agentId, receipt)
  return { ...sent, epoch: epoch + 1n, expiresAt }
}

type LeaseCall = {
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  readonly functionName: 'setLease' | 'renewLease' | 'claim'
  readonly args: readonly unknown[]
  readonly blockTag?: 'latest' | 'pending'
}

/**
 * Sends one lease call and types its failure. A transaction mined but reverted (a rival's claim landed between the
 * simulation and the block) is simulated again on the chain as it is now, so that it too comes back as the reason.
 */
async function leaseCall(wallet: WriteClient, call: LeaseCall, options: SendOptions | undefined) {
  const request = {
    address: call.contracts.succession,
    abi: regentSuccessionAbi,
    functionName: call.functionName,
    args: call.args,
    ...(call.blockTag ? { blockTag: call.blockTag } : {}),
  }
  try {
    return await transact(wallet, request, options)
  } catch (error) {
    if (!(error instanceof TransactionRevertedError)) throw leaseError(call.agentId, error)
    const now = await simulateContract(wallet, { ...request, account: wallet.account, chain: wallet.chain } as never).then(
      () => undefined,
      (replay: unknown) => ContractRevertedError.from(call.functionName, replay),
    )
    const why = now instanceof ContractRevertedError ? leaseError(call.agentId, now, error) : undefined
    throw why instanceof LeaseHeldError || why instanceof LeaseLostError ? why : error
  }
}

/** The lease as the block of `receipt` left it. */
async function leaseAt(client: Client, contracts: Pick<RegentContracts, 'succession'>, agentId: bigint, receipt: TransactionReceipt) {
  const [holder, expiresAt, period] = await readContract(client, {
    address: contracts.succession,
    abi: regentSuccessionAbi,
    functionName: 'leaseOf',
    args: [agentId],
    blockNumber: receipt.blockNumber,
  })
  return { holder, expiresAt, period }
}

const lost = ['StaleEpoch', 'NotLeaseHolder', 'NotCanonicalSigner'] as const

/** A lease call's revert as the error a failover loop branches on; anything else as it is. */
function leaseError(agentId: bigint, error: unknown, mined?: TransactionRevertedError): unknown {
  if (!(error instanceof ContractRevertedError)) return error
  const cause = mined ?? error
  if (error.errorName === 'LeaseHeld') {
    const [, expiresAt, timestamp] = error.args as readonly [bigint, bigint, bigint]
    return new LeaseHeldError({ agentId, expiresAt, timestamp, cause })
  }
  const reason = lost.find((name) => name === error.errorName)
  if (reason) return new LeaseLostError({ agentId, functionName: error.functionName, reason, args: error.args, cause })
  return error
}

/**
 * The lease has not lapsed: a standby may claim from `expiresAt` (chain time). Nothing was sent, unless the cause is a
 * `TransactionRevertedError`: then the claim was mined and reverted, because the holder renewed in between.
 */
export class LeaseHeldError extends BaseError {
  override name = 'Chain.LeaseHeldError'
  override readonly code = 'chain.lease_held'
  readonly agentId: bigint
  /** Unix seconds from which the lease may be claimed. */
  readonly expiresAt: bigint
  /** The chain's timestamp the claim was checked at. */
  readonly timestamp: bigint
  constructor({ agentId, expiresAt, timestamp, cause }: { agentId: bigint; expiresAt: bigint; timestamp: bigint; cause: unknown }) {
    super(`The lease of agent ${agentId} is held until ${expiresAt} (chain time ${timestamp}); it cannot be claimed yet.`, {
      hint: 'Watch the lease (readLease) and claim at or after expiresAt, if the holder has not renewed it by then.',
      docsPath: 'docs/failover.md',
      cause,
    })
    this.agentId = agentId
    this.expiresAt = expiresAt
    this.timestamp = timestamp
  }
}

/**
 * Another instance holds the agent now: the epoch moved on (`StaleEpoch`: a claim, uplift or rotation), the lease
 * names another instance (`NotLeaseHolder`), or this key is not the canonical signer (`NotCanonicalSigner`).
 */
export class LeaseLostError extends BaseError {
  override name = 'Chain.LeaseLostError'
  override readonly code = 'chain.lease_lost'
  readonly agentId: bigint
  /** The action that was refused: `setLease`, `renewLease` or `claim`. */
  readonly functionName: string
  /** The contract's error: why this instance does not hold the agent. */
  readonly reason: (typeof lost)[number]
  /** The error's decoded arguments (`StaleEpoch(expected, got)`: `expected` is the current epoch). */
  readonly args: readonly unknown[]
  constructor(p: { agentId: bigint; functionName: string; reason: (typeof lost)[number]; args: readonly unknown[]; cause: unknown }) {
    super(
      `${p.functionName} refused for agent ${p.agentId}: ${p.reason}(${p.args.map(String).join(', ')}); another instance holds it now.`,
      {
        hint: 'Stop acting as the agent; read the canonical instance (readLease) and follow it.',
        docsPath: 'docs/failover.md',
        cause: p.cause,
      },
    )
    this.agentId = p.agentId
    this.functionName = p.functionName
    this.reason = p.reason
    this.args = p.args
  }
}
