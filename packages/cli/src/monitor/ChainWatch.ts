/**
 * On-chain events of watched agents (issue 18 "On-chain events"; docs/contracts.md events): RegentAppAuth (approvals
 * of compose hashes, OS images and KMS roots with their activation time, removals, timelock and ownership changes of
 * the agent's app), RegentSuccession (enrolment, canonical changes, uplifts, successions, state commits),
 * AgentTreasury (deposits, withdrawals) and the ERC-8004 IdentityRegistry (registration file, metadata, owner).
 *
 * One bounded scan serves every agent: `eth_getLogs` over the four contracts with topic 1 ∈ {agent ids, app ids}, and
 * one for ERC-721 `Transfer` with topic 3 ∈ {agent ids}, in ranges of at most 10,000 blocks, from each agent's
 * cursor (the last block read, kept in the store) to the head. Logs are decoded with the contracts' ABIs and then
 * matched to agents by their decoded arguments (never by topic alone).
 */
import { agentTreasuryAbi, identityRegistryAbi, regentAppAuthAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import { type Abi, type Address, type Client, decodeEventLog, getAddress, type Hex, pad, type RpcLog, toEventSelector, toHex } from 'viem'
import { getBlock } from 'viem/actions'
import { getLogsBounded } from './internal/getLogsBounded.js'
import type { EventRow } from './Store.js'

export type Contracts = { identityRegistry: Address; appAuth: Address; succession: Address; treasury?: Address | undefined }

/** An agent as the scanner needs it. */
export type ScanAgent = { agent: string; appId: Address | null; fromBlock: bigint }

const abis: Record<EventRow['contract'], Abi> = {
  appAuth: regentAppAuthAbi as Abi,
  succession: regentSuccessionAbi as Abi,
  treasury: agentTreasuryAbi as Abi,
  identityRegistry: identityRegistryAbi as Abi,
}

/** Events about one app (topic 1 = app id) and about one agent (an `agentId` argument). */
const appEvents = new Set([
  'AppRegistered',
  'AppOwnershipTransferStarted',
  'AppOwnershipTransferred',
  'TimelockChanged',
  'RequireTcbUpToDateSet',
  'ComposeHashAdded',
  'ComposeHashRemoved',
  'OsImageAdded',
  'OsImageRemoved',
  'KmsRootAdded',
  'KmsRootRemoved',
])
const transferTopic = toEventSelector('Transfer(address,address,uint256)')

/**
 * Reads the events of `agents` from each one's `fromBlock` to `toBlock`, decoded and assigned to agents.
 *
 * @returns events per agent (block order), with each block's timestamp.
 * @throws the RPC error of a failed request.
 */
export async function scan(
  client: Client,
  parameters: { contracts: Contracts; agents: readonly ScanAgent[]; toBlock: bigint; maxRange?: bigint },
): Promise<Map<string, EventRow[]>> {
  const { contracts, toBlock } = parameters
  const out = new Map<string, EventRow[]>(parameters.agents.map((a) => [a.agent, []]))
  const addresses: [Address, EventRow['contract']][] = [
    [contracts.appAuth, 'appAuth'],
    [contracts.succession, 'succession'],
    [contracts.identityRegistry, 'identityRegistry'],
    ...(contracts.treasury ? [[contracts.treasury, 'treasury'] as [Address, EventRow['contract']]] : []),
  ]
  const contractOf = new Map(addresses.map(([a, c]) => [a.toLowerCase(), c]))
  // Agents that start at the same block share one scan (the usual case: all of them, every tick).
  const groups = new Map<bigint, ScanAgent[]>()
  for (const a of parameters.agents) if (a.fromBlock <= toBlock) groups.set(a.fromBlock, [...(groups.get(a.fromBlock) ?? []), a])
  const times = new Map<bigint, number>()

  for (const [fromBlock, group] of groups) {
    const ids = group.map((a) => pad(toHex(BigInt(a.agent)), { size: 32 }))
    const apps = group.flatMap((a) => (a.appId ? [pad(a.appId.toLowerCase() as Hex, { size: 32 })] : []))
    const common = { fromBlock, toBlock, ...(parameters.maxRange ? { maxRange: parameters.maxRange } : {}) }
    const [logs, transfers] = await Promise.all([
      getLogsBounded(client, { ...common, address: addresses.map(([a]) => a), topics: [null, [...new Set([...ids, ...apps])]] }),
      getLogsBounded(client, { ...common, address: contracts.identityRegistry, topics: [transferTopic, null, null, ids] }),
    ])
    // A mint's Transfer has topic 1 = 0, agent 0's topic: both filters can return it; keep each log once.
    const unique = new Map([...logs, ...transfers].map((l) => [`${l.blockNumber}:${l.logIndex}`, l]))
    for (const log of [...unique.values()].sort(byPosition)) {
      const contract = contractOf.get(log.address.toLowerCase())
      if (!contract || log.blockNumber === null || log.logIndex === null || log.transactionHash === null) continue
      let decoded: { eventName: string; args: Record<string, unknown> }
      try {
        decoded = decodeEventLog({
          abi: abis[contract],
          data: log.data,
          topics: log.topics as [Hex, ...Hex[]],
        }) as unknown as typeof decoded
      } catch {
        continue // an event of these contracts the monitor does not follow
      }
      const args = jsonArgs(decoded.args)
      const block = BigInt(log.blockNumber)
      for (const a of group) {
        if (!concerns(contract, decoded.eventName, args, a)) continue
        let time = times.get(block) ?? blockTimestampOf(log)
        if (time === undefined) {
          time = Number((await getBlock(client, { blockNumber: block })).timestamp)
        }
        times.set(block, time)
        out.get(a.agent)?.push({
          agent: a.agent,
          block: Number(block),
          logIndex: Number(log.logIndex),
          tx: log.transactionHash,
          time,
          contract,
          name: decoded.eventName,
          args,
        })
      }
    }
  }
  return out
}

function concerns(contract: EventRow['contract'], name: string, args: Record<string, string | boolean>, a: ScanAgent): boolean {
  if (contract === 'appAuth')
    return appEvents.has(name) && a.appId !== null && args.appId?.toString().toLowerCase() === a.appId.toLowerCase()
  if (name === 'Transfer') return args.tokenId === a.agent
  return args.agentId === a.agent
}

function byPosition(x: RpcLog, y: RpcLog): number {
  const bx = BigInt(x.blockNumber ?? '0x0')
  const by = BigInt(y.blockNumber ?? '0x0')
  return bx === by ? Number(BigInt(x.logIndex ?? '0x0') - BigInt(y.logIndex ?? '0x0')) : bx < by ? -1 : 1
}

/** `blockTimestamp` when the node includes it in logs (anvil, reth, recent geth). */
function blockTimestampOf(log: RpcLog): number | undefined {
  const t = (log as RpcLog & { blockTimestamp?: Hex }).blockTimestamp
  return typeof t === 'string' ? Number(BigInt(t)) : undefined
}

/** Decoded arguments as JSON-safe values: integers as decimal strings, addresses checksummed, bytes as hex. */
function jsonArgs(args: Record<string, unknown>): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {}
  for (const [k, v] of Object.entries(args ?? {})) {
    if (typeof v === 'bigint' || typeof v === 'number') out[k] = v.toString()
    else if (typeof v === 'boolean') out[k] = v
    else if (typeof v === 'string') out[k] = /^0x[0-9a-fA-F]{40}$/.test(v) ? getAddress(v) : v.length > 4096 ? `${v.slice(0, 4096)}…` : v
    else out[k] = String(v)
  }
  return out
}
