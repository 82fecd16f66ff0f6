/**
 * The example agent's runtime: boots inside its CVM with @regent/sdk — derives its wallet from the
 * KMS, opens its sealed memory, registers itself in ERC-8004 with a registration file, becomes
 * canonical in RegentSuccession and commits its state root — then serves its memory, its identity
 * bundle and attestations over HTTP (DESIGN.md §7; docs/protocol.md "Identity endpoint").
 */
import { join } from 'node:path'
import {
  attestationToJson,
  commitState,
  createIdentityBundle,
  createTeeClient,
  type DerivedKey,
  deriveSealingKey,
  deriveWallet,
  enroll,
  getQuote,
  info,
  openSealedState,
  readCanonical,
  registerAgent,
  type SealedState,
  signAndAttest,
  type TeeClient,
  fromEnv as teeFromEnv,
  toAccount,
} from '@regent/sdk'
import { type Account, type Chain, type Hex, keccak256, type Transport, type WalletClient } from 'viem'
import { connect, fundIfEmpty } from './chain.js'
import type { Config } from './config.js'

export type Agent = {
  config: Config
  tee: TeeClient
  wallet: DerivedKey
  account: ReturnType<typeof toAccount>
  chainWallet: WalletClient<Transport, Chain, Account>
  state: SealedState
  agentId: bigint
  appId: Hex
  /** The last committed state root and its sequence number (what the agent attests to). */
  committed: { stateRoot: Hex; seq: bigint; epoch: bigint }
  /** Checkpoints the state and commits its root on-chain (fenced: only as the canonical signer). */
  checkpoint(): Promise<{ stateRoot: Hex; seq: bigint; epoch: bigint; transactionHash: Hex | undefined }>
  identity(nonce: Hex): Promise<unknown>
  attest(nonce: Hex, payload: Uint8Array): Promise<unknown>
}

const log = (line: string) => process.stdout.write(`${line}\n`)

/** Boots the agent (idempotent across restarts: registration, enrollment and commits are skipped when done). */
export async function boot(config: Config): Promise<Agent> {
  const tee = createTeeClient({ transport: teeFromEnv() })
  const app = await info(tee)
  const wallet = await deriveWallet(tee)
  const account = toAccount(wallet)
  log(`wallet ${account.address} (app ${app.appId}, instance ${app.instanceId})`)

  const { publicClient, walletClient: chainWallet } = connect(config, account)
  if (await fundIfEmpty(config, publicClient, account.address)) log('funded by the devnet faucet')

  const sealingKey = await deriveSealingKey(tee)
  const state = openSealedState({ path: join(config.dataDir, 'agent.sealed'), key: sealingKey })

  const { agentId, agentRegistry } = await registerAgent(chainWallet, {
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

  const appId = `0x${Buffer.from(app.appId).toString('hex')}` as Hex
  const boot = await getQuote(tee, { reportData: new Uint8Array(64) })
  await enroll(chainWallet, {
    contracts: config.contracts,
    agentId,
    appId,
    instance: {
      signer: account.address,
      composeHash: `0x${Buffer.from(app.composeHash).toString('hex')}`,
      instanceId: `0x${Buffer.from(app.instanceId).toString('hex')}`,
      quoteHash: keccak256(boot.quote),
      host: config.publicUrl,
    },
  })

  const read = () => readCanonical(publicClient, { contracts: config.contracts, agentId })
  const agent: Agent = {
    config,
    tee,
    wallet,
    account,
    chainWallet,
    state,
    agentId,
    appId,
    committed: { stateRoot: `0x${'00'.repeat(32)}`, seq: 0n, epoch: 0n },
    async checkpoint() {
      state.save()
      const cp = state.checkpoint()
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
      const { epoch } = await read()
      return createIdentityBundle(tee, {
        wallet,
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
      const a = await signAndAttest(tee, {
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
  const first = await agent.checkpoint()
  log(`canonical at epoch ${first.epoch}; state root ${first.stateRoot} (seq ${first.seq})`)
  return agent
}
