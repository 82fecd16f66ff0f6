/**
 * Bounded log scans (DESIGN.md §14 "every log scan is bounded and starts at the deployment block"): `eth_getLogs`
 * over [fromBlock, toBlock] in ranges of at most `maxRange` blocks, halving a range whenever the node answers that
 * it is too large (block-range limits, result-count limits, response-size limits), down to one block.
 *
 * The monitor's own copy until `@regent-tee/sdk` exports `getLogsBounded` (chain/getLogsBounded.ts); the same
 * contract, so the switch is an import.
 */
import { type Address, type Client, type Hex, type RpcLog, toHex } from 'viem'

export type GetLogsBoundedParameters = {
  address: Address | readonly Address[]
  /** eth_getLogs topics: a topic, an OR-list of topics, or null (any), per position. */
  topics: readonly (Hex | readonly Hex[] | null)[]
  fromBlock: bigint
  toBlock: bigint
  /** Largest range asked at once. @default 10_000n */
  maxRange?: bigint
  /** Called after each range that answered (progress, cursors). */
  onRange?: (range: { fromBlock: bigint; toBlock: bigint; logs: number }) => void
}

/** Node answers that mean "ask for fewer blocks" (geth, erigon, Alchemy, Infura, QuickNode, Base, anvil wording). */
const tooLarge =
  /(block range|range is too (large|wide)|exceed(s|ed)? (the )?(maximum|max)|more than \d+ (results|logs)|too many (results|logs)|response size|limit exceeded|query timeout|-32005)/i

/**
 * All logs matching the filter, in block order.
 *
 * @throws the node's error for anything other than a too-large range, or when a single block is still too large.
 * @example
 * const logs = await getLogsBounded(client, { address: succession, topics: [null, agentTopic], fromBlock: deployedAt, toBlock: head })
 */
export async function getLogsBounded(client: Client, parameters: GetLogsBoundedParameters): Promise<RpcLog[]> {
  const maxRange = parameters.maxRange ?? 10_000n
  if (maxRange < 1n) throw new RangeError('maxRange must be at least 1')
  const logs: RpcLog[] = []
  let from = parameters.fromBlock
  let span = maxRange
  while (from <= parameters.toBlock) {
    const to = from + span - 1n < parameters.toBlock ? from + span - 1n : parameters.toBlock
    let answer: RpcLog[]
    try {
      answer = (await client.request({
        method: 'eth_getLogs',
        params: [
          {
            address: parameters.address as Address | Address[],
            topics: parameters.topics as (Hex | Hex[] | null)[],
            fromBlock: toHex(from),
            toBlock: toHex(to),
          },
        ],
      })) as RpcLog[]
    } catch (error) {
      if (to > from && tooLarge.test(messageOf(error))) {
        span = (to - from + 1n) / 2n
        continue
      }
      throw error
    }
    logs.push(...answer)
    parameters.onRange?.({ fromBlock: from, toBlock: to, logs: answer.length })
    from = to + 1n
    // A range that had to shrink grows back gradually (nodes limit by results, and busy stretches pass).
    if (span < maxRange) span = span * 2n < maxRange ? span * 2n : maxRange
  }
  return logs
}

function messageOf(error: unknown): string {
  const parts: string[] = []
  let e: unknown = error
  for (let i = 0; i < 5 && e; i++) {
    const x = e as { message?: string; details?: string; code?: number; cause?: unknown }
    parts.push(String(x.message ?? ''), String(x.details ?? ''), String(x.code ?? ''))
    e = x.cause
  }
  return parts.join(' ')
}
