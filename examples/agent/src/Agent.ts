/**
 * The example agent's runtime (DESIGN.md §7; docs/protocol.md "Identity endpoint"): on boot it takes its wallet
 * from its runtime (the KMS in a CVM, its keystore in the wild), opens its sealed memory, registers itself in
 * ERC-8004 with a registration file, becomes canonical in RegentSuccession and commits its state root — then
 * serves its memory, its identity bundle and attestations. An uplift target becomes this same agent once the
 * chain names it canonical (`UpliftTarget.ts` calls {@link createAgent} with the key it holds).
 */
import {
  attestationToJson,
  commitState,
  createIdentityBundle,
  enroll,
  type PrivateKey,
  readCanonical,
  registerAgent,
  type SealedState,
  signAndAttest,
  withdraw,
} from '@regent-tee/sdk'
import type { Account, Address, Chain, Hex, LocalAccount, Transport, WalletClient } from 'viem'
import { connect, fundIfEmpty } from './chain.js'
import type { Config } from './config.js'
import type { Runtime } from './Runtime.js'
import { type AgentStore, openAgentStore } from './Store.js'

export type Agent = {
  readonly config: Config
  readonly runtime: Runtime
  readonly account: LocalAccount
  readonly chainWallet: WalletClient<Transport, Chain, Account>
  readonly publicClient: ReturnType<typeof connect>['publicClient']
  /** The sealed state and its write-ahead log (`Store.ts`). */
  readonly store: AgentStore
  readonly state: SealedState
  readonly agentId: bigint
  readonly appId: Hex
  /** The last committed state root and its sequence number (what the agent attests to). */
  committed: { stateRoot: Hex; seq: bigint; epoch: bigint }
  /** Checkpoints the state and commits its root on-chain (fenced: only as the canonical signer). */
  checkpoint(): Promise<{ stateRoot: Hex; seq: bigint; epoch: bigint; transactionHash: Hex | undefined }>
  identity(nonce: Hex): Promise<unknown>
  attest(nonce: Hex, payload: Uint8Array): Promise<unknown>
  /** The agent key's bytes, for an option-A uplift of this agent (the caller wipes them). */
  privateKey(): Promise<PrivateKey>
  /** Pays `amount` wei from the agent's treasury (fenced: only as the canonical signer of the current epoch). */
  withdraw(to: Address, amount: bigint): Promise<{ transactionHash: Hex; epoch: bigint }>
}

/** Why an agent action cannot be served here (mapped to an HTTP status by the server). */
export class AgentActionError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`)

/**
 * Chunk size of every checkpoint this agent commits or moves (the root depends on it): well under the uplift
 * protocol's 512 KiB per chunk, and enough leaves for the handshake's Merkle challenges.
 */
export const stateChunkSize = 64 * 1024

export type CreateAgentParameters = {
  readonly config: Config
  readonly runtime: Runtime
  /** The agent's key here: the runtime's own, or (after an option-A uplift) the imported one. */
  readonly account: LocalAccount
  /** That key's bytes (default: the runtime's own key). */
  readonly privateKey?: () => Promise<PrivateKey>
  readonly store: AgentStore
  readonly agentId: bigint
  readonly appId: Hex
}

/** The agent's actions over an open state, for an agent id it already holds (no registration, no enrollment). */
export function createAgent(parameters: CreateAgentParameters): Agent {
  const { config, runtime, account, store, agentId } = parameters
  const state = store.state
  const { publicClient, walletClient: chainWallet } = connect(config, account)
  const read = () => readCanonical(publicClient, { contracts: config.contracts, agentId })
  const tee = () => {
    if (runtime.tee === undefined)
      throw new AgentActionError(501, 'tee.none', 'This instance runs in the wild: it has no TEE to attest with.')
    return runtime.tee
  }
  const agent: Agent = {
    config,
    runtime,
    account,
    chainWallet,
    publicClient,
    store,
    state,
    agentId,
    appId: parameters.appId,
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
      const sent = await commitState(chainWallet, { contracts: config.contracts, agentId, stateRoot: cp.stateRoot, seq })
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
        chainId: config.chainId,
        identityRegistry: config.contracts.identityRegistry,
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
    privateKey: parameters.privateKey ?? (() => runtime.privateKey()),
    async withdraw(to, amount) {
      const sent = await withdraw(chainWallet, { contracts: config.contracts, agentId, to, amount })
      return { transactionHash: sent.transactionHash, epoch: sent.epoch }
    },
  }
  return agent
}

/** Boots the agent (idempotent across restarts: registration, enrollment and commits are skipped when done). */
export async function boot(config: Config, runtime: Runtime): Promise<Agent> {
  const account = runtime.account
  log(`wallet ${account.address} (${runtime.kind}; app ${runtime.appId})`)
  const { publicClient, walletClient } = connect(config, account)
  if (await fundIfEmpty(config, publicClient, account.address)) log('funded by the devnet faucet')
  const store = openAgentStore({ dataDir: config.dataDir, key: runtime.sealingKey })

  const { agentId, agentRegistry } = await registerAgent(walletClient, {
    contracts: config.contracts,
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
  const appId = runtime.appId
  const instance = await runtime.enrollment()
  await enroll(walletClient, {
    contracts: config.contracts,
    agentId,
    appId,
    instance: { signer: account.address, ...instance, host: config.publicUrl },
  })

  const agent = createAgent({ config, runtime, account, store, agentId, appId })
  const first = await agent.checkpoint()
  log(`canonical at epoch ${first.epoch}; state root ${first.stateRoot} (seq ${first.seq})`)
  return agent
}
