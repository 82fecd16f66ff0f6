/**
 * ERC-8004 registration of the agent (EIP-8004 "Trustless Agents", Identity Registry and the registration file
 * `https://eips.ethereum.org/EIPS/eip-8004#registration-v1`; reference/erc8004.md §1–2). The file is carried
 * on-chain as a `data:application/json;base64,` agentURI. Since `registrations[].agentId` is only known after
 * minting, `registerAgent` mints with the file without its own registration, then `setAgentURI` with the file
 * that lists it. Both steps check chain state first (DESIGN.md §10), so a call interrupted between them resumes.
 */
import { identityRegistryAbi } from '@regent-tee/contracts'
import type { Address, Client } from 'viem'
import { getContractEvents, readContract } from 'viem/actions'
import { BaseError } from '../errors.js'
import { getLogsBounded } from './getLogsBounded.js'
import { type RegentContracts, type Sent, send, type WriteClient } from './transact.js'

/** The registration-v1 `type`. */
export const registrationType = 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1'

/** One advertised service (`web`, `A2A`, `MCP`, … or Regent's `regent-identity`). */
export type Service = { readonly name: string; readonly endpoint: string; readonly version?: string }

/** An ERC-8004 registration-v1 file. */
export type RegistrationFile = {
  readonly type: typeof registrationType
  readonly name: string
  readonly description: string
  readonly image?: string
  readonly services: readonly Service[]
  readonly x402Support: boolean
  readonly active: boolean
  readonly registrations: readonly { readonly agentId: number; readonly agentRegistry: string }[]
  readonly supportedTrust: readonly string[]
}

/** What the caller describes; `type` and `registrations` are filled in, `tee-attestation` is always in `supportedTrust`. */
export type Registration = Omit<RegistrationFile, 'type' | 'registrations' | 'supportedTrust' | 'x402Support' | 'active'> & {
  readonly x402Support?: boolean
  readonly active?: boolean
  readonly supportedTrust?: readonly string[]
}

/** `eip155:<chainId>:<identityRegistry>` (CAIP-10 style, as in the registration file and the identity bundle). */
export function agentRegistryOf({ chainId, identityRegistry }: { chainId: number; identityRegistry: Address }): string {
  return `eip155:${chainId}:${identityRegistry.toLowerCase()}`
}

/** The registration file of `registration` listing `registrations`. */
export function toRegistrationFile(registration: Registration, registrations: RegistrationFile['registrations'] = []): RegistrationFile {
  const trust = registration.supportedTrust ?? []
  return {
    type: registrationType,
    name: registration.name,
    description: registration.description,
    ...(registration.image === undefined ? {} : { image: registration.image }),
    services: registration.services,
    x402Support: registration.x402Support ?? false,
    active: registration.active ?? true,
    registrations,
    supportedTrust: trust.includes('tee-attestation') ? trust : [...trust, 'tee-attestation'],
  }
}

/** The `data:application/json;base64,` agentURI of a file. */
export function toAgentUri(file: RegistrationFile): string {
  return `data:application/json;base64,${Buffer.from(JSON.stringify(file), 'utf8').toString('base64')}`
}

/**
 * Parses a `data:application/json;base64,` agentURI.
 *
 * @throws {InvalidAgentUriError} another scheme, bad base64/JSON, or not a registration-v1 file.
 */
export function fromAgentUri(uri: string): RegistrationFile {
  const prefix = 'data:application/json;base64,'
  if (!uri.startsWith(prefix)) throw new InvalidAgentUriError({ reason: `not a ${prefix} URI` })
  let file: unknown
  try {
    file = JSON.parse(Buffer.from(uri.slice(prefix.length), 'base64').toString('utf8'))
  } catch (cause) {
    throw new InvalidAgentUriError({ reason: 'the payload is not JSON', cause })
  }
  if (typeof file !== 'object' || file === null || (file as { type?: unknown }).type !== registrationType)
    throw new InvalidAgentUriError({ reason: `not a ${registrationType} file` })
  return file as RegistrationFile
}

export type RegisterAgentParameters = {
  readonly contracts: Pick<RegentContracts, 'identityRegistry'>
  readonly registration: Registration
  /** Where {@link findAgent} starts scanning for an earlier registration (default 0; set it on long chains). */
  readonly fromBlock?: bigint
}

export type RegisterAgentReturnType = {
  readonly agentId: bigint
  /** `eip155:<chainId>:<identityRegistry>`. */
  readonly agentRegistry: string
  /** The final agentURI (the file listing its own registration). */
  readonly agentURI: string
  readonly file: RegistrationFile
  /** The transactions this call sent (none when the agent was already registered as asked). */
  readonly sent: readonly Sent[]
}

/**
 * Registers the wallet's account as an ERC-8004 agent with a registration file that lists its own registration.
 * Idempotent: an agent of this owner with the same `name` (see {@link findAgent}) is reused and only its URI is
 * updated when it differs.
 *
 * @throws {ContractRevertedError} the registry would revert (nothing sent for that step).
 * @example
 * const { agentId, agentRegistry } = await registerAgent(wallet, {
 *   contracts,
 *   registration: { name: 'quote-bot', description: '…', services: [{ name: 'web', endpoint: 'https://bot.example', version: '1' }], x402Support: true },
 * })
 */
export async function registerAgent(wallet: WriteClient, parameters: RegisterAgentParameters): Promise<RegisterAgentReturnType> {
  const { contracts, registration } = parameters
  const address = contracts.identityRegistry
  const agentRegistry = agentRegistryOf({ chainId: wallet.chain.id, identityRegistry: address })
  const sent: Sent[] = []
  let agentId = (
    await findAgent(wallet, {
      contracts,
      owner: wallet.account.address,
      name: registration.name,
      ...(parameters.fromBlock === undefined ? {} : { fromBlock: parameters.fromBlock }),
    })
  )?.agentId
  if (agentId === undefined) {
    const minted = await send(wallet, {
      address,
      abi: identityRegistryAbi,
      functionName: 'register',
      args: [toAgentUri(toRegistrationFile(registration))],
    })
    sent.push(minted)
    const [event] = await getContractEvents(wallet, {
      address,
      abi: identityRegistryAbi,
      eventName: 'Registered',
      args: { owner: wallet.account.address },
      fromBlock: minted.blockNumber,
      toBlock: minted.blockNumber,
    })
    if (event?.args.agentId === undefined) throw new InvalidAgentUriError({ reason: `no Registered event in block ${minted.blockNumber}` })
    agentId = event.args.agentId
  }
  if (!Number.isSafeInteger(Number(agentId))) throw new InvalidAgentUriError({ reason: `agentId ${agentId} does not fit a JSON number` })
  const file = toRegistrationFile(registration, [{ agentId: Number(agentId), agentRegistry }])
  const agentURI = toAgentUri(file)
  const current = await readContract(wallet, { address, abi: identityRegistryAbi, functionName: 'tokenURI', args: [agentId] })
  if (current !== agentURI)
    sent.push(await send(wallet, { address, abi: identityRegistryAbi, functionName: 'setAgentURI', args: [agentId, agentURI] }))
  return { agentId, agentRegistry, agentURI, file, sent }
}

export type FindAgentParameters = {
  readonly contracts: Pick<RegentContracts, 'identityRegistry'>
  readonly owner: Address
  /** Match the registration file's `name` (files that do not parse never match a name). */
  readonly name?: string
  /** Scan `Registered` events from this block: the registry's deployment block (default 0, scanned in bounded windows). */
  readonly fromBlock?: bigint
}

export type FindAgentReturnType = { readonly agentId: bigint; readonly agentURI: string; readonly file: RegistrationFile | undefined }

/**
 * The first agent registered by `owner` that it still owns (and whose file has `name`, when given), by scanning
 * `Registered(agentId, agentURI, owner)` events; `undefined` when there is none.
 *
 * @example
 * const found = await findAgent(publicClient, { contracts, owner: account.address, name: 'quote-bot' })
 */
export async function findAgent(client: Client, parameters: FindAgentParameters): Promise<FindAgentReturnType | undefined> {
  const address = parameters.contracts.identityRegistry
  // Bounded windows (public RPCs refuse wide getLogs ranges); start at the registry's deployment block when known.
  const events = await getLogsBounded(client, {
    address,
    abi: identityRegistryAbi,
    eventName: 'Registered',
    args: { owner: parameters.owner },
    fromBlock: parameters.fromBlock ?? 0n,
  })
  for (const event of events) {
    const agentId = event.args.agentId
    if (agentId === undefined) continue
    const owner = await readContract(client, { address, abi: identityRegistryAbi, functionName: 'ownerOf', args: [agentId] }).catch(
      () => undefined,
    )
    if (owner?.toLowerCase() !== parameters.owner.toLowerCase()) continue
    const agentURI = await readContract(client, { address, abi: identityRegistryAbi, functionName: 'tokenURI', args: [agentId] })
    let file: RegistrationFile | undefined
    try {
      file = fromAgentUri(agentURI)
    } catch {
      file = undefined
    }
    if (parameters.name !== undefined && file?.name !== parameters.name) continue
    return { agentId, agentURI, file }
  }
  return undefined
}

/** An agentURI that is not a base64 JSON registration-v1 data URI. */
export class InvalidAgentUriError extends BaseError {
  override name = 'Chain.InvalidAgentUriError'
  constructor({ reason, cause }: { reason: string; cause?: unknown }) {
    super(`Invalid agentURI: ${reason}.`, { cause })
  }
}
