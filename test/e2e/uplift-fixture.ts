/**
 * Shared set-up of the uplift end-to-end tests (test/e2e/uplift*.test.ts): the example agent as an uplift
 * target in a devnet CVM, and an agent "in the wild" (its own key, funded by the devnet faucet,
 * self-registered in ERC-8004, enrolled in RegentSuccession with the wild compose hash).
 */
import { createHash } from 'node:crypto'
import type { CvmRecord, Devnet } from '@regent-tee/devnet'
import { enroll, registerAgent } from '@regent-tee/sdk/chain'
import { createPublicClient, createWalletClient, defineChain, getAddress, type Hex, http, keccak256, toBytes } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'

export { agentDir, devnetSettings, exampleAgentApp } from '@regent-tee/testing/example-agent'

/** The compose of an agent that runs outside any TEE (its hash is still enrolled on-chain). */
export const wildCompose = new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'wild-agent', runner: 'none' }))
export const wildComposeHash = `0x${createHash('sha256').update(wildCompose).digest('hex')}` as Hex

/** The devnet chain for viem. */
export function devnetChain(devnet: Devnet) {
  return defineChain({
    id: devnet.file.chainId,
    name: 'devnet',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [devnet.file.rpcUrl] } },
  })
}

/**
 * An agent in the wild: a fresh key (never printed), funded by the faucet, registered in ERC-8004 under
 * `name` (it owns its identity NFT) and enrolled for `appId` with the wild compose hash.
 */
export async function enrollWildAgent(devnet: Devnet, { name, appId }: { name: string; appId: Hex }) {
  const key = generatePrivateKey()
  const account = privateKeyToAccount(key)
  const faucet = await fetch(`${devnet.file.hostUrl}/v1/faucet`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address: account.address }),
  })
  if (!faucet.ok) throw new Error(`faucet answered ${faucet.status}`)
  const contracts = devnet.file.contracts
  const chain = devnetChain(devnet)
  const wallet = createWalletClient({ account, chain, transport: http(devnet.file.rpcUrl) })
  const { agentId } = await registerAgent(wallet, {
    contracts,
    registration: {
      name,
      description: 'an agent in the wild',
      services: [{ name: 'web', endpoint: 'https://wild.example', version: '1' }],
    },
  })
  await enroll(wallet, {
    contracts,
    agentId,
    appId,
    instance: {
      signer: account.address,
      composeHash: wildComposeHash,
      instanceId: getAddress(`0x${keccak256(toBytes(`wild:${name}`)).slice(26)}`),
      quoteHash: keccak256(toBytes(`no quote: ${name} runs in the wild`)),
      host: 'https://wild.example',
    },
  })
  return { key, account, wallet, agentId, client: createPublicClient({ chain, transport: http(devnet.file.rpcUrl) }) }
}

/** Launches the example agent in uplift-target mode and waits (bounded polling of its health) until it answers. */
export async function launchTarget(
  devnet: Devnet,
  { compose, appId, env = {} }: { compose: Uint8Array; appId: Hex; env?: Record<string, string> },
): Promise<CvmRecord> {
  // The compose pins the example agent's bundle (exampleAgentApp put it in the host's store); its measured settings
  // are in the compose, so the environment holds host settings only.
  const cvm = await devnet.host.launch({
    compose,
    appId: Buffer.from(appId.slice(2), 'hex'),
    env: {
      REGENT_UPLIFT_ROLE: 'target',
      REGENT_COLLATERAL_URL: devnet.file.collateralUrl,
      ...env,
    },
  })
  const deadline = Date.now() + 60_000
  for (;;) {
    if (
      await fetch(`${cvm.appUrl}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return cvm
    if (devnet.host.get(cvm.cvmId).status !== 'running' || Date.now() > deadline) throw new Error(await devnet.host.logs(cvm.cvmId))
    await new Promise((r) => setTimeout(r, 50)) // the target is still booting (KMS keys)
  }
}
