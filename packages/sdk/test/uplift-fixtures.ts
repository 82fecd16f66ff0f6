// Test-only fixtures of the uplift tests (never imported by library code): an in-process devnet (PKI, QE,
// collateral, local key provider) with target CVMs and their guest agents on loopback, as signAndAttest.test.ts
// sets them up, and the on-chain setup of an enrolled agent on the worker's anvil.

import { deployRegent, regentAppAuthAbi } from '@regent-tee/contracts'
import {
  type CvmFaults,
  createCvm,
  createLocalKeyProvider,
  DevnetCollateral,
  DevnetPki,
  DevnetQe,
  type GuestAgent,
  startGuestAgent,
} from '@regent-tee/devnet'
import type { Chain_ } from '@regent-tee/testing/chain'
import { type Address, getAddress, type Hex, keccak256, zeroHash } from 'viem'
import { enroll } from '../src/chain/enroll.js'
import { registerAgent } from '../src/chain/registerAgent.js'
import type { RegentContracts } from '../src/chain/transact.js'
import { createTeeClient, type TeeClient } from '../src/createTeeClient.js'
import { type DerivedKey, deriveWallet } from '../src/Keys.js'
import { http } from '../src/transports/http.js'

export const pki = DevnetPki.create()
export const qe = DevnetQe.create({ pki })
export const keyProvider = createLocalKeyProvider({ pki })
export const collateral = DevnetCollateral.issue(pki)
export const trustedRoots = [DevnetPki.trustedRoot(pki)]
export const hex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`

export type Target = {
  readonly agent: GuestAgent
  readonly client: TeeClient
  readonly wallet: DerivedKey
  readonly composeHash: Hex
  readonly appId: Hex
  readonly instanceId: Hex
  readonly faults: CvmFaults
  close(): Promise<void>
}

/** Boots a devnet CVM for `name` and serves its guest agent on loopback HTTP. */
export async function startTarget(options: { name?: string; seed?: number } = {}): Promise<Target> {
  const compose = new TextEncoder().encode(
    JSON.stringify({ kms_enabled: true, manifest_version: 2, name: options.name ?? 'uplift-target', runner: 'docker-compose' }),
  )
  const cvm = await createCvm({ compose, instanceIdSeed: new Uint8Array(20).fill(options.seed ?? 9), qe, keyProvider })
  const agent = await startGuestAgent(cvm, { port: 0 })
  const client = createTeeClient({ transport: http({ url: agent.url as string }) })
  return {
    agent,
    client,
    wallet: await deriveWallet(client),
    composeHash: hex(cvm.info.composeHash),
    appId: hex(cvm.info.appId),
    instanceId: hex(cvm.info.instanceId),
    faults: cvm.faults,
    close: () => agent.close(),
  }
}

const w = (chain: Chain_, i: number) => chain.wallets[i] as Chain_['wallets'][number]

/**
 * Deploys Regent, registers an app (owner 1, timelock 0) approving `composeHashes`, registers an agent (owner 2)
 * and enrolls `signer` (default: account 3) with the first compose hash, at `host` (default https://wild.example).
 */
export async function setupAgent(chain: Chain_, options: { composeHashes: readonly Hex[]; signer?: Address; host?: string }) {
  const { contracts } = await deployRegent(w(chain, 0), chain.client)
  const appOwner = w(chain, 1)
  const mined = async (hash: Promise<Hex>) => chain.client.waitForTransactionReceipt({ hash: await hash })
  await mined(
    appOwner.writeContract({ address: contracts.appAuth, abi: regentAppAuthAbi, functionName: 'registerApp', args: [zeroHash, 0n] }),
  )
  const appId = await chain.client.readContract({
    address: contracts.appAuth,
    abi: regentAppAuthAbi,
    functionName: 'computeAppId',
    args: [appOwner.account.address, zeroHash],
  })
  for (const hash of options.composeHashes)
    await mined(
      appOwner.writeContract({ address: contracts.appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [appId, hash] }),
    )
  const { agentId } = await registerAgent(w(chain, 2), {
    contracts,
    registration: {
      name: 'uplift-bot',
      description: 'uplift test agent',
      services: [{ name: 'web', endpoint: 'https://wild.example', version: '1' }],
    },
  })
  const signer = options.signer ?? w(chain, 3).account.address
  await mined(
    appOwner.writeContract({
      address: contracts.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'setEnrollmentConsent',
      args: [appId, agentId, true],
    }),
  )
  await enroll(w(chain, 2), {
    contracts,
    agentId,
    appId,
    instance: {
      signer,
      composeHash: options.composeHashes[0] as Hex,
      instanceId: getAddress(`0x${keccak256(new TextEncoder().encode('instance:wild')).slice(26)}`),
      quoteHash: keccak256(new TextEncoder().encode('quote:wild')),
      host: options.host ?? 'https://wild.example',
    },
  })
  return { contracts: contracts as RegentContracts, agentId, appId }
}
