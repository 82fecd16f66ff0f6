/**
 * Checks that the chain an RPC serves runs Regent's contracts at the measured addresses (issue 13 §2; docs/sdk.md
 * "What a lying RPC can do"): for each contract, the runtime code at the address has the compiled length and, with
 * its constructor-set immutables zeroed, the compiled keccak256 (`<name>RuntimeCode` of @regent-tee/contracts,
 * built by the pinned solc). An RPC of another chain with the same id, a fork with other code at those addresses,
 * or an address holding nothing, is refused before any security decision reads it.
 *
 * An RPC that lies on purpose can still answer anything it likes; this check makes an honest mistake (wrong network,
 * stale fork, typo) loud, and leaves a liar only what docs/architecture.md "The RPC" lists.
 */
import {
  agentTreasuryRuntimeCode,
  identityRegistryRuntimeCode,
  regentAppAuthRuntimeCode,
  regentSuccessionRuntimeCode,
} from '@regent-tee/contracts'
import { type Address, type Client, keccak256 } from 'viem'
import { getCode } from 'viem/actions'
import { BaseError } from '../errors.js'
import { fromHex } from '../internal/bytes.js'
import type { RegentContracts } from './transact.js'

/** What a deployment's runtime code must be (the generated `<name>RuntimeCode`). */
export type RuntimeCode = {
  readonly length: number
  readonly immutables: readonly (readonly [number, number])[]
  readonly maskedHash: `0x${string}`
}

const expected: Record<keyof Pick<RegentContracts, 'identityRegistry' | 'appAuth' | 'succession' | 'treasury'>, RuntimeCode> = {
  identityRegistry: identityRegistryRuntimeCode,
  appAuth: regentAppAuthRuntimeCode,
  succession: regentSuccessionRuntimeCode,
  treasury: agentTreasuryRuntimeCode,
}

/** Whether `code` is a deployment of `runtime` (immutables may hold anything). */
export function matchesRuntimeCode(code: Uint8Array, runtime: RuntimeCode): boolean {
  if (code.length !== runtime.length) return false
  const masked = new Uint8Array(code)
  for (const [start, length] of runtime.immutables) masked.fill(0, start, start + length)
  return keccak256(masked) === runtime.maskedHash
}

/**
 * Verifies the runtime code of the four contracts an agent relies on.
 *
 * @throws {ContractCodeError} `chain.code`, naming the first contract whose code is absent or not Regent's.
 * @example
 * await verifyRegentCode(publicClient, { contracts: settings.contracts }) // at boot, after the chain id check
 */
export async function verifyRegentCode(client: Client, parameters: { readonly contracts: RegentContracts }): Promise<void> {
  for (const [name, runtime] of Object.entries(expected) as [keyof typeof expected, RuntimeCode][]) {
    const address = parameters.contracts[name]
    const code = await getCode(client, { address })
    const bytes = code === undefined || code === '0x' ? new Uint8Array(0) : fromHex(code, name)
    if (!matchesRuntimeCode(bytes, runtime)) throw new ContractCodeError({ contract: name, address, empty: bytes.length === 0 })
  }
}

/** The code at a contract address is absent or not the compiled contract's. */
export class ContractCodeError extends BaseError {
  override name = 'Chain.ContractCodeError'
  override readonly code = 'chain.code'
  readonly contract: string
  readonly address: Address
  constructor({ contract, address, empty }: { contract: string; address: Address; empty: boolean }) {
    super(
      empty
        ? `No contract at ${address} (${contract}): the RPC serves another chain, or the settings name the wrong address.`
        : `The code at ${address} is not Regent's ${contract}: the RPC serves another deployment or chain.`,
      { docsPath: 'docs/sdk.md#what-a-lying-rpc-can-do' },
    )
    this.contract = contract
    this.address = address
  }
}
