/** Wording shared by human output: amounts in ETH (wei stays in --json), counted nouns. */
import { formatEther } from 'viem'

/** `1 ETH`, `0.5 ETH`, `0 ETH` (exact: every wei digit that is not a trailing zero). */
export const eth = (wei: bigint): string => `${formatEther(wei)} ETH`

/** `1 leaf`, `2 leaves`, `0 leaves`. */
export const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`

export const leaves = (n: number): string => count(n, 'leaf', 'leaves')
