/**
 * The example agent's own behaviour (DESIGN.md §7; docs/protocol.md "Identity endpoint"): on boot it takes its wallet
 * from its runtime (the KMS in a CVM, its keystore in the wild), opens its sealed memory, registers itself in ERC-8004
 * with a registration file, becomes canonical in RegentSuccession and commits its state root — then serves its memory,
 * its identity bundle and attestations. Moving (the uplift) is the SDK's (`mountUplift`, main.ts); an uplift target
 * becomes this same agent when the SDK tells it the chain named it canonical.
 */
import { HttpError } from '@regent-tee/core'
import { attestationToJson, createIdentityBundle, type SealedState, signAndAttest } from '@regent-tee/sdk'
import { commitState, enroll, findAgent, readCanonical, registerAgent } from '@regent-tee/sdk/chain'
import type { Hex, LocalAccount } from 'viem'
import { type ChainClients, type ChainSettings, connect, fundIfEmpty } from './chain.js'
import type { Config } from './config.js'
import type { Runtime } from './Runtime.js'
import type { AgentStore } from './Store.js'

export type Agent = {
  readonly account: LocalAccount
  readonly store: AgentStore
  readonly state: SealedState
  readonly agentId: bigint
  /** The last committed state root and its sequence number (what the agent attests to). */
  committed: { stateRoot: Hex; seq: bigint; epoch: bigint }
  /** Checkpoints the state and commits its root on-chain (fenced: only as the canonical signer). */
  checkpoint(): Promise<{ stateRoot: Hex; seq: bigint; epoch: bigint; transactionHash: Hex | undefined }>
  identity(nonce: Hex): Promise<unknown>
  attest(nonce: Hex, payload: Uint8Array): Promise<unknown>
}

/** Why an agent action cannot be served here (mapped to an HTTP status by the server). */
export class AgentActionError extends HttpError {
  override name = 'AgentActionError'
}

const log = (line: string) => process.stdout.write(`${line}\n`)

/**
 * Chunk size of every checkpoint this agent commits or moves (the root depends on it): well under the uplift
 * protocol's 512 KiB per chunk, and enough leaves for the handshake's Merkle challenges.
 */
export const stateChunkSize = 64 * 1024

export type CreateAgentParameters = {
  readonly chain: ChainSettings
  readonly runtime: Runtime
  /** The agent's key here: the runtime's own, or (after an option-A uplift) the imported one. */
  readonly account: LocalAccount
  readonly store: AgentStore
  readonly agentId: bigint
}

/** The agent's actions over an open state, for an agent id it already holds (no registration, no enrollment). */
export function createAgent(parameters: CreateAgentParameters): Agent {
  const { chain, runtime, account, store, agentId } = parameters
  const state = store.state
  const { publicClient, walletFor } = connect(chain)
  const wallet = walletFor(account)
  const read = () => readCanonical(publicClient, { contracts: chain.contracts, agentId })
  const tee = () => {
    if (runtime.tee === undefined)
      throw new AgentActionError(501, 'tee.none', 'This instance runs in the wild: it has no TEE to attest with.')
    return runtime.tee
  }
  const agent: Agent = {
    account,
    store,
    state,
    agentId,
    committed: { stateRoot: `0x${'00'.repeat(32)}`, seq: 0n, epoch: 0n },
    async checkpoint() {
      store.persist()
      const cp = state.checkpoint({ chunkSize: stateChunkSize })
      const now = await read()
      if (now.stateRoot.toLowerCase() === cp.stateRoot.toLowerCase()) {
        agent.committed = { stateRoot: cp.stateRoot, seq: now.stateSeq, epoch: now.epoch }
        return { ...agent.committed, transactionHash: undefined }
      }
      const seq = now.stateSeq + 1n
      const sent = await commitState(wallet, { contracts: chain.contracts, agentId, stateRoot: cp.stateRoot, seq })
      agent.committed = { stateRoot: cp.stateRoot, seq, epoch: sent.epoch }
      return { ...agent.committed, transactionHash: sent.transactionHash }
    },
    async identity(nonce) {
      const client = tee()
      const { epoch } = await read()
      // An imported key (option A) is not the runtime's KMS wallet: the bundle says so (keyProvenance null).
      return createIdentityBundle(client, {
        wallet: runtime.wallet,
        account,
        chainId: chain.chainId,
        identityRegistry: chain.contracts.identityRegistry,
        agentId,
        stateRoot: agent.committed.stateRoot,
        stateSeq: agent.committed.seq,
        epoch,
        nonce,
      })
    },
    async attest(nonce, payload) {
      const { epoch } = await read()
      const a = await signAndAttest(tee(), {
        account,
        payload,
        nonce,
        purpose: 'regent.example/attest/v1',
        stateRoot: agent.committed.stateRoot,
        epoch,
      })
      return attestationToJson(a)
    },
  }
  return agent
}

/** Registers (or finds) the agent and makes this instance canonical (idempotent across restarts). */
export async function register(
  config: Config,
  chain: ChainSettings,
  runtime: Runtime,
  clients: ChainClients = connect(chain),
): Promise<bigint> {
  const account = runtime.account
  log(`wallet ${account.address} (${runtime.kind}; app ${runtime.appId})`)
  if (await fundIfEmpty(config.faucetUrl, clients.publicClient, account.address)) log('funded by the devnet faucet')
  const wallet = clients.walletFor(account)
  // Another instance of the app (same key) may be the agent's canonical one (after a failover, this is the old
  // canonical back): then this one touches nothing — not the registration file, not the enrollment.
  const existing = await findAgent(clients.publicClient, { contracts: chain.contracts, owner: account.address, name: config.name })
  if (existing !== undefined) {
    const named = await readCanonical(clients.publicClient, { contracts: chain.contracts, agentId: existing.agentId })
    const here = runtime.instanceId.toLowerCase()
    if (named.epoch !== 0n && named.instance.instanceId.toLowerCase() !== here) {
      log(`ERC-8004 agent ${existing.agentId} is canonical at ${named.instance.host}, not here`)
      return existing.agentId
    }
  }
  const { agentId, agentRegistry } = await registerAgent(wallet, {
    contracts: chain.contracts,
    registration: {
      name: config.name,
      description: 'A Regent TEE example agent: remembers what it is told, in a TEE, with its own wallet.',
      services: [
        { name: 'web', endpoint: config.publicUrl, version: '1' },
        { name: 'regent-identity', endpoint: config.publicUrl, version: '1' },
      ],
    },
  })
  log(`ERC-8004 agent ${agentId} in ${agentRegistry}`)
  const instance = await runtime.enrollment()
  await enroll(wallet, {
    contracts: chain.contracts,
    agentId,
    appId: runtime.appId,
    instance: { signer: account.address, ...instance, host: config.publicUrl },
  })
  return agentId
}
