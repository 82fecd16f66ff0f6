/**
 * Event scans that public RPCs answer (DESIGN.md §14 "Chains are configuration"): `eth_getLogs` over windows of at
 * most `maxRange` blocks (10,000 by default, the common provider limit), starting at the deployment block (never
 * block 0 on a long chain), walking forward to `toBlock`. When the RPC refuses a window as too large (providers
 * answer with a code or a message such as "block range is too wide", "query returned more than 10000 results",
 * "exceed maximum block range"), the window is halved and tried again, down to a single block; any other error is
 * the caller's. Windows are fetched one after another, so the number of requests is bounded by
 * `ceil(range / window)` plus the halvings.
 */
import type { Abi, Address, Client, ContractEventArgs, ContractEventName, GetContractEventsReturnType } from 'viem'
import { getBlockNumber, getContractEvents } from 'viem/actions'
import { BaseError } from '../errors.js'

/** The default window, in blocks (inclusive range size). */
export const defaultMaxRange = 10_000n

/** Parameters of {@link getLogsBounded}. */
export type GetLogsBoundedParameters<abi extends Abi, eventName extends ContractEventName<abi>> = {
  readonly address: Address | readonly Address[]
  readonly abi: abi
  readonly eventName: eventName
  readonly args?: ContractEventArgs<abi, eventName> | undefined
  /** First block to scan: the deployment block of the contract. */
  readonly fromBlock: bigint
  /** Last block (inclusive). @default the latest block when the scan starts */
  readonly toBlock?: bigint | undefined
  /** Largest window, in blocks. @default 10,000 */
  readonly maxRange?: bigint | undefined
}

/**
 * The decoded events of `eventName` in `[fromBlock, toBlock]`, in chain order, fetched in bounded windows.
 *
 * @throws {InvalidRangeError} `fromBlock` after `toBlock`, or `maxRange` < 1.
 * @throws {RangeTooLargeError} the RPC refuses even a one-block window as too large.
 * @example
 * const events = await getLogsBounded(client, { address, abi: identityRegistryAbi, eventName: 'Registered', fromBlock: deployment.block })
 */
export async function getLogsBounded<const abi extends Abi, eventName extends ContractEventName<abi>>(
  client: Client,
  parameters: GetLogsBoundedParameters<abi, eventName>,
): Promise<GetContractEventsReturnType<abi, eventName>> {
  const maxRange = parameters.maxRange ?? defaultMaxRange
  const toBlock = parameters.toBlock ?? (await getBlockNumber(client, { cacheTime: 0 }))
  if (maxRange < 1n) throw new InvalidRangeError({ reason: `maxRange must be at least 1, got ${maxRange}` })
  if (parameters.fromBlock > toBlock)
    throw new InvalidRangeError({ reason: `fromBlock ${parameters.fromBlock} is after toBlock ${toBlock}` })
  const out: unknown[] = []
  let window = maxRange
  let from = parameters.fromBlock
  while (from <= toBlock) {
    const to = from + window - 1n < toBlock ? from + window - 1n : toBlock
    try {
      const events = await getContractEvents(client, {
        address: parameters.address as Address,
        abi: parameters.abi as Abi,
        eventName: parameters.eventName as string,
        ...(parameters.args === undefined ? {} : { args: parameters.args as never }),
        fromBlock: from,
        toBlock: to,
        strict: false,
      })
      out.push(...events)
      from = to + 1n
    } catch (error) {
      if (!isRangeTooLarge(error)) throw error
      if (to === from) throw new RangeTooLargeError({ block: from, cause: error })
      window = (to - from + 1n) / 2n
    }
  }
  return out as GetContractEventsReturnType<abi, eventName>
}

/** Messages and codes public RPCs use to refuse a getLogs range (Infura, Alchemy, QuickNode, Base, anvil proxies…). */
const tooLarge = [
  /block range/i,
  /range (is )?too (large|wide|big)/i,
  /exceed(s|ed)? (the )?maximum block range/i,
  /more than \d+ (results|logs)/i,
  /query returned more than/i,
  /too many (results|logs|blocks)/i,
  /limit exceeded/i,
  /response size (is )?(too large|exceeded)/i,
]

/** Whether an RPC error is a refusal of the requested block range (and not, say, a transport failure). */
export function isRangeTooLarge(error: unknown): boolean {
  const texts: string[] = []
  let e: unknown = error
  for (let depth = 0; e && depth < 8; depth++) {
    const x = e as { message?: unknown; details?: unknown; shortMessage?: unknown; code?: unknown; cause?: unknown }
    for (const t of [x.message, x.details, x.shortMessage]) if (typeof t === 'string') texts.push(t)
    if (x.code === -32005) return true // "limit exceeded" (EIP-1474)
    e = x.cause
  }
  return texts.some((t) => tooLarge.some((re) => re.test(t)))
}

/** The scan's bounds are wrong. */
export class InvalidRangeError extends BaseError {
  override name = 'Chain.InvalidRangeError'
  constructor({ reason }: { reason: string }) {
    super(`Invalid log scan: ${reason}.`)
  }
}

/** The RPC refuses even a one-block getLogs window. */
export class RangeTooLargeError extends BaseError {
  override name = 'Chain.RangeTooLargeError'
  constructor({ block, cause }: { block: bigint; cause: unknown }) {
    super(`The RPC refuses eth_getLogs even for the single block ${block} as too large.`, {
      cause,
      metaMessages: ['Use an RPC with a higher log limit for this contract.'],
    })
  }
}
