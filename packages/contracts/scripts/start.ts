/**
 * `npm start` (until the devnet lands): a fresh anvil with the whole Regent on-chain layer deployed,
 * then one agent taken through it — ERC-8004 registration with a registration file, an app with a
 * time-locked compose-hash approval, enrollment as canonical instance, a state commit.
 * Prints what it did and the deployment as JSON. `--keep` leaves the chain running until Ctrl-C.
 */
import { createPublicClient, createTestClient, createWalletClient, defineChain, http, keccak256, parseEventLogs, toHex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { anvilMnemonic, startAnvil } from '../src/anvil.js'
import { identityRegistryAbi, regentAppAuthAbi, regentSuccessionAbi } from '../src/generated/index.js'
import { deployRegent } from '../src/regent.js'

const keep = process.argv.includes('--keep')
const anvil = await startAnvil()
const chain = defineChain({
  id: anvil.chainId,
  name: 'anvil',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [anvil.rpcUrl] } },
})
const transport = http(anvil.rpcUrl)
const client = createPublicClient({ chain, transport })
const governance = createWalletClient({ account: mnemonicToAccount(anvilMnemonic, { addressIndex: 0 }), chain, transport })
const agent = createWalletClient({ account: mnemonicToAccount(anvilMnemonic, { addressIndex: 1 }), chain, transport })
const send = async (hash: Promise<`0x${string}`>) => client.waitForTransactionReceipt({ hash: await hash })
const step = (text: string) => console.log(`✓ ${text}`)

try {
  console.log(`anvil ${anvil.rpcUrl} (chain ${anvil.chainId})`)
  const deployment = await deployRegent(governance, client)
  const c = deployment.contracts
  step(`deployed ${Object.keys(c).length} contracts`)

  const registration = {
    type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
    name: 'example-agent',
    description: 'A Regent TEE agent on the local chain',
    services: [{ name: 'web', endpoint: 'http://127.0.0.1:8080', version: '1' }],
    x402Support: false,
    active: true,
    registrations: [] as { agentId: number; agentRegistry: string }[],
    supportedTrust: ['tee-attestation'],
  }
  const uri = (r: typeof registration) => `data:application/json;base64,${Buffer.from(JSON.stringify(r)).toString('base64')}`
  const registered = await send(
    agent.writeContract({ address: c.identityRegistry, abi: identityRegistryAbi, functionName: 'register', args: [uri(registration)] }),
  )
  const [event] = parseEventLogs({ abi: identityRegistryAbi, logs: registered.logs, eventName: 'Registered' })
  if (!event) throw new Error('no Registered event')
  const agentId = event.args.agentId
  const agentRegistry = `eip155:${chain.id}:${c.identityRegistry}`
  registration.registrations.push({ agentId: Number(agentId), agentRegistry })
  await send(
    agent.writeContract({
      address: c.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'setAgentURI',
      args: [agentId, uri(registration)],
    }),
  )
  step(`registered ERC-8004 agent ${agentId} in ${agentRegistry}`)

  const timelock = 3600n
  const salt = keccak256(toHex('example-agent'))
  await send(agent.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'registerApp', args: [salt, timelock] }))
  const appId = await client.readContract({
    address: c.appAuth,
    abi: regentAppAuthAbi,
    functionName: 'computeAppId',
    args: [agent.account.address, salt],
  })
  const composeHash = keccak256(toHex('{"manifest_version":2,"name":"example-agent"}'))
  await send(agent.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [appId, composeHash] }))
  const pending = await client.readContract({
    address: c.appAuth,
    abi: regentAppAuthAbi,
    functionName: 'isComposeHashApproved',
    args: [appId, composeHash],
  })
  step(`registered app ${appId}; compose hash approved now? ${pending} (timelock ${timelock} s: users get an exit window)`)
  // The app owner (here the agent's own key) consents to this agent enrolling under the app.
  await send(
    agent.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'setEnrollmentConsent', args: [appId, agentId, true] }),
  )
  const testClient = createTestClient({ chain, transport, mode: 'anvil' })
  await testClient.increaseTime({ seconds: Number(timelock) })
  await testClient.mine({ blocks: 1 })
  const active = await client.readContract({
    address: c.appAuth,
    abi: regentAppAuthAbi,
    functionName: 'isComposeHashApproved',
    args: [appId, composeHash],
  })
  step(`after the timelock: compose hash approved? ${active}`)

  const instance = {
    signer: agent.account.address,
    composeHash,
    instanceId: `0x${'11'.repeat(20)}` as const,
    quoteHash: keccak256(toHex('boot quote')),
    host: 'http://127.0.0.1:8080',
  }
  await send(
    agent.writeContract({ address: c.succession, abi: regentSuccessionAbi, functionName: 'enroll', args: [agentId, appId, instance] }),
  )
  await send(
    agent.writeContract({
      address: c.succession,
      abi: regentSuccessionAbi,
      functionName: 'commitState',
      args: [agentId, 1n, keccak256(toHex('state v1')), 1n],
    }),
  )
  const [root, seq] = await client.readContract({
    address: c.succession,
    abi: regentSuccessionAbi,
    functionName: 'stateOf',
    args: [agentId],
  })
  step(`agent ${agentId} canonical at epoch 1; state root ${root.slice(0, 18)}… seq ${seq}`)

  console.log(
    JSON.stringify(
      { rpcUrl: anvil.rpcUrl, chainId: deployment.chainId, contracts: c, agent: { agentId: Number(agentId), agentRegistry, appId } },
      null,
      2,
    ),
  )
  if (keep) {
    console.log('chain running; Ctrl-C to stop')
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()))
  }
} finally {
  await anvil.stop()
}
