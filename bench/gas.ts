/**
 * Gas of every state-changing call of the Regent on-chain layer (DESIGN.md §9), measured from real
 * receipts on a fresh anvil. Prints one JSON object: `{ deploy: {…}, calls: {…}, leaseGasPerDay: {…} }` (gas units).
 * `leaseGasPerDay` is what keeping a lease (issue 19 / docs/failover.md) costs: the measured `renewLease` gas times
 * the renewals of one day when the holder renews every period / 3, for periods of 30 s, 300 s and 3600 s.
 *
 *   npm run bench:gas
 */
import {
  type Address,
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  type Hash,
  http,
  keccak256,
  parseEther,
  toHex,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { anvilMnemonic, startAnvil } from '../packages/contracts/src/anvil.js'
import { deployContract } from '../packages/contracts/src/deploy.js'
import {
  agentTreasuryAbi,
  identityRegistryAbi,
  regentAppAuthAbi,
  regentSuccessionAbi,
  reputationRegistryAbi,
  testERC20Abi,
  testERC20Bytecode,
  validationRegistryAbi,
} from '../packages/contracts/src/generated/index.js'
import { deployRegent } from '../packages/contracts/src/regent.js'
import {
  agentWalletSetTypes,
  identityRegistryDomain,
  successionCertificateTypes,
  successionDomain,
} from '../packages/contracts/src/typedData.js'

const anvil = await startAnvil()
try {
  const chain = defineChain({
    id: anvil.chainId,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [anvil.rpcUrl] } },
  })
  const transport = http(anvil.rpcUrl)
  const client = createPublicClient({ chain, transport })
  const testClient = createTestClient({ chain, transport, mode: 'anvil' })
  const wallet = (i: number) => createWalletClient({ account: mnemonicToAccount(anvilMnemonic, { addressIndex: i }), chain, transport })
  const [owner, agentKey, newKey, client2, validator] = [wallet(0), wallet(1), wallet(2), wallet(3), wallet(4)]

  const calls: Record<string, number> = {}
  const gas = async (label: string, hash: Promise<Hash>) => {
    const receipt = await client.waitForTransactionReceipt({ hash: await hash })
    if (receipt.status !== 'success') throw new Error(`${label} reverted`)
    calls[label] = Number(receipt.gasUsed)
  }

  const { contracts: c, deployGas } = await deployRegent(owner, client)
  const token = await deployContract(owner, client, {
    name: 'TestERC20',
    abi: testERC20Abi,
    bytecode: testERC20Bytecode,
    args: ['Test', 'TST', 0],
  })

  // ERC-8004 identity: the agent key owns its identity NFT (DESIGN.md §10 step 2B moves it on rotation).
  await gas(
    'identity.register()',
    agentKey.writeContract({ address: c.identityRegistry, abi: identityRegistryAbi, functionName: 'register', args: [] }),
  )
  await gas(
    'identity.register(uri)',
    agentKey.writeContract({ address: c.identityRegistry, abi: identityRegistryAbi, functionName: 'register', args: ['ipfs://agent'] }),
  )
  await gas(
    'identity.register(uri, 2 metadata)',
    agentKey.writeContract({
      address: c.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'register',
      args: [
        'ipfs://agent',
        [
          { metadataKey: 'tee', metadataValue: toHex('dstack-tdx') },
          { metadataKey: 'app', metadataValue: toHex('regent') },
        ],
      ],
    }),
  )
  const agentId = 1n
  await gas(
    'identity.setAgentURI',
    agentKey.writeContract({
      address: c.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'setAgentURI',
      args: [agentId, 'ipfs://agent-v2'],
    }),
  )
  await gas(
    'identity.setMetadata',
    agentKey.writeContract({
      address: c.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'setMetadata',
      args: [agentId, 'tee', toHex('dstack-tdx-v2')],
    }),
  )
  const now = (await client.getBlock()).timestamp
  const deadline = now + 240n
  const walletSig = await newKey.signTypedData({
    domain: identityRegistryDomain({ chainId: chain.id, address: c.identityRegistry }),
    types: agentWalletSetTypes,
    primaryType: 'AgentWalletSet',
    message: { agentId, newWallet: newKey.account.address, owner: agentKey.account.address, deadline },
  })
  await gas(
    'identity.setAgentWallet (ECDSA)',
    agentKey.writeContract({
      address: c.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'setAgentWallet',
      args: [agentId, newKey.account.address, deadline, walletSig],
    }),
  )
  await gas(
    'identity.unsetAgentWallet',
    agentKey.writeContract({ address: c.identityRegistry, abi: identityRegistryAbi, functionName: 'unsetAgentWallet', args: [agentId] }),
  )

  // ERC-8004 reputation and validation.
  await gas(
    'reputation.giveFeedback',
    client2.writeContract({
      address: c.reputationRegistry,
      abi: reputationRegistryAbi,
      functionName: 'giveFeedback',
      args: [agentId, 87n, 0, 'starred', '', 'https://agent.example', '', `0x${'00'.repeat(32)}`],
    }),
  )
  await gas(
    'reputation.appendResponse',
    agentKey.writeContract({
      address: c.reputationRegistry,
      abi: reputationRegistryAbi,
      functionName: 'appendResponse',
      args: [agentId, client2.account.address, 1n, 'ipfs://response', `0x${'00'.repeat(32)}`],
    }),
  )
  await gas(
    'reputation.revokeFeedback',
    client2.writeContract({
      address: c.reputationRegistry,
      abi: reputationRegistryAbi,
      functionName: 'revokeFeedback',
      args: [agentId, 1n],
    }),
  )
  const requestHash = keccak256(toHex('validation request'))
  await gas(
    'validation.validationRequest',
    agentKey.writeContract({
      address: c.validationRegistry,
      abi: validationRegistryAbi,
      functionName: 'validationRequest',
      args: [validator.account.address, agentId, 'ipfs://request', requestHash],
    }),
  )
  await gas(
    'validation.validationResponse',
    validator.writeContract({
      address: c.validationRegistry,
      abi: validationRegistryAbi,
      functionName: 'validationResponse',
      args: [requestHash, 100, 'ipfs://response', `0x${'00'.repeat(32)}`, 'tee'],
    }),
  )

  // RegentAppAuth: app registration and time-locked measurements (timelock 0 here: gas only).
  const salt = keccak256(toHex('bench-app'))
  await gas(
    'appAuth.registerApp',
    owner.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'registerApp', args: [salt, 0n] }),
  )
  const appId = (await client.readContract({
    address: c.appAuth,
    abi: regentAppAuthAbi,
    functionName: 'computeAppId',
    args: [owner.account.address, salt],
  })) as Address
  const compose = [keccak256(toHex('compose v1')), keccak256(toHex('compose v2')), keccak256(toHex('compose v3'))] as const
  await gas(
    'appAuth.addComposeHash',
    owner.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [appId, compose[0]] }),
  )
  await owner
    .writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [appId, compose[1]] })
    .then((hash) => client.waitForTransactionReceipt({ hash }))
  await owner
    .writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [appId, compose[2]] })
    .then((hash) => client.waitForTransactionReceipt({ hash }))
  // An OS image with its measurements (MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 per VM shape): one shape, then two.
  const shape = (label: string) => `0x${keccak256(toHex(label)).slice(2).repeat(6)}` as `0x${string}`
  await gas(
    'appAuth.addOsImage (1 shape)',
    owner.writeContract({
      address: c.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'addOsImage',
      args: [appId, keccak256(toHex('os')), [shape('os/a')]],
    }),
  )
  await gas(
    'appAuth.addOsImage (2 shapes)',
    owner.writeContract({
      address: c.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'addOsImage',
      args: [appId, keccak256(toHex('os 2')), [shape('os 2/a'), shape('os 2/b')]],
    }),
  )
  await gas(
    'appAuth.addOsImage (a shape to a listed image)',
    owner.writeContract({
      address: c.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'addOsImage',
      args: [appId, keccak256(toHex('os')), [shape('os/b')]],
    }),
  )
  await gas(
    'appAuth.removeOsImage (2 shapes)',
    owner.writeContract({
      address: c.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'removeOsImage',
      args: [appId, keccak256(toHex('os 2'))],
    }),
  )
  await gas(
    'appAuth.addKmsRoot',
    owner.writeContract({
      address: c.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'addKmsRoot',
      args: [appId, validator.account.address],
    }),
  )
  await gas(
    'appAuth.setTimelock (raise)',
    owner.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'setTimelock', args: [appId, 3600n] }),
  )
  await gas(
    'appAuth.addKmsMeasurement',
    owner.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'addKmsMeasurement', args: [keccak256(toHex('kms'))] }),
  )
  await gas(
    'appAuth.addKmsOsImage (1 shape)',
    owner.writeContract({
      address: c.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'addKmsOsImage',
      args: [keccak256(toHex('kms os')), [shape('kms os/a')]],
    }),
  )
  await gas(
    'appAuth.setOpenEnrollment',
    owner.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'setOpenEnrollment', args: [appId, false] }),
  )
  const junk = keccak256(toHex('junk'))
  await owner
    .writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [appId, junk] })
    .then((hash) => client.waitForTransactionReceipt({ hash }))
  await gas(
    'appAuth.removeComposeHash',
    owner.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'removeComposeHash', args: [appId, junk] }),
  )

  // RegentSuccession: enroll, commit state, same-key uplift, key rotation by certificate.
  const instance = (signer: Address, composeHash: `0x${string}`, n: number) => ({
    signer,
    composeHash,
    instanceId: `0x${n.toString(16).padStart(40, '0')}` as Address,
    quoteHash: keccak256(toHex(`quote ${n}`)),
    host: `https://host-${n}.example`,
  })
  await gas(
    'appAuth.setEnrollmentConsent',
    owner.writeContract({ address: c.appAuth, abi: regentAppAuthAbi, functionName: 'setEnrollmentConsent', args: [appId, agentId, true] }),
  )
  await gas(
    'succession.enroll',
    agentKey.writeContract({
      address: c.succession,
      abi: regentSuccessionAbi,
      functionName: 'enroll',
      args: [agentId, appId, instance(agentKey.account.address, compose[0], 1)],
    }),
  )
  await gas(
    'succession.commitState (first)',
    agentKey.writeContract({
      address: c.succession,
      abi: regentSuccessionAbi,
      functionName: 'commitState',
      args: [agentId, 1n, keccak256(toHex('root 1')), 1n],
    }),
  )
  await gas(
    'succession.commitState (next)',
    agentKey.writeContract({
      address: c.succession,
      abi: regentSuccessionAbi,
      functionName: 'commitState',
      args: [agentId, 1n, keccak256(toHex('root 2')), 2n],
    }),
  )
  await gas(
    'succession.uplift (same key)',
    agentKey.writeContract({
      address: c.succession,
      abi: regentSuccessionAbi,
      functionName: 'uplift',
      args: [agentId, 1n, instance(agentKey.account.address, compose[1], 2)],
    }),
  )
  const next = instance(newKey.account.address, compose[2], 3)
  const cert = {
    agentId,
    oldKey: agentKey.account.address,
    newKey: newKey.account.address,
    newComposeHash: next.composeHash,
    quoteHash: next.quoteHash,
    nextEpoch: 3n,
    deadline: now + 3600n,
  }
  const certSig = await agentKey.signTypedData({
    domain: successionDomain({ chainId: chain.id, address: c.succession }),
    types: successionCertificateTypes,
    primaryType: 'SuccessionCertificate',
    message: cert,
  })
  await gas(
    'succession.rotate (certificate)',
    client2.writeContract({
      address: c.succession,
      abi: regentSuccessionAbi,
      functionName: 'rotate',
      args: [agentId, cert, certSig, next],
    }),
  )

  // AgentTreasury: deposits by anyone, withdrawals by the canonical signer of the current epoch.
  await gas(
    'treasury.deposit (ETH)',
    client2.writeContract({ address: c.treasury, abi: agentTreasuryAbi, functionName: 'deposit', args: [agentId], value: parseEther('1') }),
  )
  await owner
    .writeContract({ address: token.address, abi: testERC20Abi, functionName: 'mint', args: [client2.account.address, parseEther('10')] })
    .then((hash) => client.waitForTransactionReceipt({ hash }))
  await client2
    .writeContract({ address: token.address, abi: testERC20Abi, functionName: 'approve', args: [c.treasury, parseEther('10')] })
    .then((hash) => client.waitForTransactionReceipt({ hash }))
  await gas(
    'treasury.depositToken',
    client2.writeContract({
      address: c.treasury,
      abi: agentTreasuryAbi,
      functionName: 'depositToken',
      args: [agentId, token.address, parseEther('5')],
    }),
  )
  await gas(
    'treasury.withdraw (ETH)',
    newKey.writeContract({
      address: c.treasury,
      abi: agentTreasuryAbi,
      functionName: 'withdraw',
      args: [agentId, 3n, client2.account.address, parseEther('0.5')],
    }),
  )
  await gas(
    'treasury.withdrawToken',
    newKey.writeContract({
      address: c.treasury,
      abi: agentTreasuryAbi,
      functionName: 'withdrawToken',
      args: [agentId, 3n, token.address, client2.account.address, parseEther('1')],
    }),
  )

  // RegentSuccession leases (issue 19 / docs/failover.md): newKey's instance 3 holds the agent at epoch 3. Time moves
  // between calls so that every write changes the slot, as it does on a live chain.
  const held = instance(newKey.account.address, compose[2], 3)
  await gas(
    'succession.setLease',
    newKey.writeContract({ address: c.succession, abi: regentSuccessionAbi, functionName: 'setLease', args: [agentId, 3n, 30] }),
  )
  await testClient.increaseTime({ seconds: 10 })
  await gas(
    'succession.renewLease',
    newKey.writeContract({
      address: c.succession,
      abi: regentSuccessionAbi,
      functionName: 'renewLease',
      args: [agentId, 3n, held.instanceId],
    }),
  )
  await testClient.increaseTime({ seconds: 31 })
  await gas(
    'succession.claim',
    newKey.writeContract({
      address: c.succession,
      abi: regentSuccessionAbi,
      functionName: 'claim',
      args: [agentId, 3n, instance(newKey.account.address, compose[2], 4)],
    }),
  )
  await testClient.increaseTime({ seconds: 10 })
  await gas(
    'succession.uplift (lease enabled)',
    newKey.writeContract({
      address: c.succession,
      abi: regentSuccessionAbi,
      functionName: 'uplift',
      args: [agentId, 4n, instance(newKey.account.address, compose[2], 5)],
    }),
  )
  const renewGas = calls['succession.renewLease'] ?? 0
  const leaseGasPerDay = Object.fromEntries([30, 300, 3600].map((period) => [`${period}s`, (86_400 / (period / 3)) * renewGas]))

  // The identity NFT follows the new key (DESIGN.md §10 step 2B); transfer clears agentWallet.
  await gas(
    'identity.transferFrom (clears agentWallet)',
    agentKey.writeContract({
      address: c.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'transferFrom',
      args: [agentKey.account.address, newKey.account.address, agentId],
    }),
  )

  const out = {
    bench: 'gas',
    chain: 'anvil',
    solc: '0.8.28',
    unit: 'gas',
    deploy: Object.fromEntries(Object.entries(deployGas).map(([k, v]) => [k, Number(v)])),
    calls,
    leaseGasPerDay,
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
} finally {
  await anvil.stop()
}
