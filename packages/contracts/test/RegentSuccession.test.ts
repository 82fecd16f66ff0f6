import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import {
  account,
  allAbi,
  b32,
  type Certificate,
  certificateFor,
  certificateTypes,
  composeV1,
  deployRegent,
  elapse,
  eventsOf,
  expectRevert,
  type Instance,
  instance,
  mineAt,
  mined,
  now,
  type Regent,
  role,
  setupAgent,
  signCertificate,
  successionDomain,
  wallet,
} from '@regent-tee/testing/regent-fixture'
import { type Address, BaseError, ContractFunctionRevertedError, getContract, hashTypedData, zeroAddress, zeroHash } from 'viem'
import { describe, expect } from 'vitest'
import { deployContract } from '../src/deploy.js'
import { identityRegistryAbi, regentAppAuthAbi, testERC1271WalletAbi, testERC1271WalletBytecode } from '../src/generated/index.js'

const DAY = 86_400n

function successionAs(chain: Chain_, regent: Regent, index: number) {
  return getContract({ address: regent.succession, abi: allAbi, client: { public: chain.client, wallet: wallet(chain, index) } })
}

function appAuthAs(chain: Chain_, regent: Regent, index: number) {
  return getContract({ address: regent.appAuth, abi: regentAppAuthAbi, client: { public: chain.client, wallet: wallet(chain, index) } })
}

function addressOf(index: number): Address {
  return account(index).address
}

/** A deployment with one enrolled agent (app timelock 1 day, composeV1 active). */
async function enrolled(chain: Chain_) {
  const regent = await deployRegent(chain)
  const agent = await setupAgent(chain, regent, { timelock: DAY })
  return { ...agent, regent }
}

/** A signed certificate handing `agentId` from role.agentKey to `next` at epoch 2. */
async function signedRotation(
  chain: Chain_,
  regent: Regent,
  agentId: bigint,
  next: Instance,
  over: Partial<Certificate> = {},
  signer: number = role.agentKey,
) {
  const cert = { ...certificateFor(agentId, addressOf(role.agentKey), next, 2n, await now(chain)), ...over }
  return { cert, signature: await signCertificate(chain, regent.succession, signer, cert) }
}

describe('enroll', () => {
  chainTest('default: the agent owner enrolls with epoch 1; views and events reflect the first instance', async ({ chain }) => {
    const regent = await deployRegent(chain)
    const agent = await setupAgent(chain, regent, { enroll: false })
    const s = successionAs(chain, regent, role.agentOwner)
    expect(await s.read.epochOf([agent.agentId])).toBe(0n)
    const receipt = await mined(chain, s.write.enroll([agent.agentId, agent.appId, agent.first]))
    expect(eventsOf(receipt, 'AgentEnrolled')[0]?.args).toEqual({ agentId: agent.agentId, appId: agent.appId, signer: agent.first.signer })
    expect(eventsOf(receipt, 'CanonicalChanged')[0]?.args).toEqual({ agentId: agent.agentId, epoch: 1n, ...agent.first })
    expect(await s.read.canonicalOf([agent.agentId])).toEqual([agent.first, 1n])
    expect(await s.read.epochOf([agent.agentId])).toBe(1n)
    expect(await s.read.appOf([agent.agentId])).toBe(agent.appId)
    expect(await s.read.stateOf([agent.agentId])).toEqual([zeroHash, 0n])
    expect(await s.read.isCanonical([agent.agentId, agent.first.signer, 1n])).toBe(true)
    expect(await s.read.isCanonical([agent.agentId, agent.first.signer, 0n])).toBe(false)
    expect(await s.read.isCanonical([agent.agentId, addressOf(role.stranger), 1n])).toBe(false)
  })

  chainTest('behavior: an operator approved on the identity registry may enroll; a stranger may not', async ({ chain }) => {
    const regent = await deployRegent(chain)
    const agent = await setupAgent(chain, regent, { enroll: false })
    await expectRevert(
      successionAs(chain, regent, role.stranger).write.enroll([agent.agentId, agent.appId, agent.first]),
      'NotAgentOperator',
      [agent.agentId, addressOf(role.stranger)],
    )
    await mined(
      chain,
      wallet(chain, role.agentOwner).writeContract({
        address: regent.identity,
        abi: identityRegistryAbi,
        functionName: 'approve',
        args: [addressOf(role.stranger), agent.agentId],
      }),
    )
    await mined(chain, successionAs(chain, regent, role.stranger).write.enroll([agent.agentId, agent.appId, agent.first]))
  })

  chainTest("behavior: an agent cannot enroll under another owner's app without that owner's consent", async ({ chain }) => {
    // The stranger registers its own ERC-8004 agent and names the victim app, whose compose hash is approved.
    const regent = await deployRegent(chain)
    const agent = await setupAgent(chain, regent, { enroll: false, consent: false })
    const s = successionAs(chain, regent, role.agentOwner)
    await expectRevert(s.write.enroll([agent.agentId, agent.appId, agent.first]), 'EnrollmentNotConsented', [agent.appId, agent.agentId])
    expect(await s.read.epochOf([agent.agentId])).toBe(0n)
    const owner = appAuthAs(chain, regent, role.appOwner)
    await mined(chain, owner.write.setEnrollmentConsent([agent.appId, agent.agentId, true]))
    await mined(chain, s.write.enroll([agent.agentId, agent.appId, agent.first]))
    expect(await s.read.epochOf([agent.agentId])).toBe(1n)
    // Open enrollment is the owner's explicit choice for every agent.
    const other = await setupAgent(chain, regent, { enroll: false, consent: false })
    await expectRevert(s.write.enroll([other.agentId, other.appId, other.first]), 'EnrollmentNotConsented', [other.appId, other.agentId])
    await mined(chain, owner.write.setOpenEnrollment([other.appId, true]))
    await mined(chain, s.write.enroll([other.agentId, other.appId, other.first]))
  })

  chainTest('behavior: an unknown agent id reverts in the identity registry', async ({ chain }) => {
    const regent = await deployRegent(chain)
    const agent = await setupAgent(chain, regent, { enroll: false })
    await expectRevert(
      successionAs(chain, regent, role.agentOwner).write.enroll([99n, agent.appId, agent.first]),
      'ERC721NonexistentToken',
      [99n],
    )
  })

  chainTest('behavior: unregistered app, unapproved or pending compose hash, zero signer, re-enrollment revert', async ({ chain }) => {
    const regent = await deployRegent(chain)
    const agent = await setupAgent(chain, regent, { enroll: false, timelock: DAY })
    const s = successionAs(chain, regent, role.agentOwner)
    await expectRevert(s.write.enroll([agent.agentId, addressOf(role.stranger), agent.first]), 'AppNotRegistered', [
      addressOf(role.stranger),
    ])
    const pending = b32('compose:pending')
    await expectRevert(s.write.enroll([agent.agentId, agent.appId, { ...agent.first, composeHash: pending }]), 'UnapprovedMeasurement', [
      agent.appId,
      pending,
    ])
    await mined(chain, appAuthAs(chain, regent, role.appOwner).write.addComposeHash([agent.appId, pending]))
    await expectRevert(s.write.enroll([agent.agentId, agent.appId, { ...agent.first, composeHash: pending }]), 'UnapprovedMeasurement', [
      agent.appId,
      pending,
    ])
    await expectRevert(s.write.enroll([agent.agentId, agent.appId, { ...agent.first, signer: zeroAddress }]), 'ZeroSigner', [])
    await elapse(chain, DAY)
    await mined(chain, s.write.enroll([agent.agentId, agent.appId, { ...agent.first, composeHash: pending }]))
    await expectRevert(s.write.enroll([agent.agentId, agent.appId, agent.first]), 'AlreadyEnrolled', [agent.agentId])
  })
})

describe('commitState', () => {
  chainTest('default: the canonical signer commits roots with increasing sequence numbers', async ({ chain }) => {
    const { regent, agentId } = await enrolled(chain)
    const s = successionAs(chain, regent, role.agentKey)
    const receipt = await mined(chain, s.write.commitState([agentId, 1n, b32('state:1'), 1n]))
    expect(eventsOf(receipt, 'StateCommitted')[0]?.args).toEqual({ agentId, epoch: 1n, seq: 1n, stateRoot: b32('state:1') })
    expect(await s.read.stateOf([agentId])).toEqual([b32('state:1'), 1n])
    await mined(chain, s.write.commitState([agentId, 1n, b32('state:7'), 7n]))
    expect(await s.read.stateOf([agentId])).toEqual([b32('state:7'), 7n])
  })

  chainTest('behavior: rollback to an equal or lower sequence number reverts StateRollback', async ({ chain }) => {
    const { regent, agentId } = await enrolled(chain)
    const s = successionAs(chain, regent, role.agentKey)
    await mined(chain, s.write.commitState([agentId, 1n, b32('state:5'), 5n]))
    await expectRevert(s.write.commitState([agentId, 1n, b32('other'), 5n]), 'StateRollback', [5n, 5n])
    await expectRevert(s.write.commitState([agentId, 1n, b32('older'), 4n]), 'StateRollback', [5n, 4n])
    expect(await s.read.stateOf([agentId])).toEqual([b32('state:5'), 5n])
  })

  chainTest('behavior: stranger, stale epoch, zero root and unknown agent revert', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const s = successionAs(chain, regent, role.agentKey)
    await expectRevert(successionAs(chain, regent, role.stranger).write.commitState([agentId, 1n, b32('x'), 1n]), 'NotCanonicalSigner', [
      agentId,
      addressOf(role.stranger),
    ])
    await expectRevert(s.write.commitState([agentId, 1n, zeroHash, 1n]), 'ZeroStateRoot', [])
    await expectRevert(s.write.commitState([agentId, 2n, b32('x'), 1n]), 'StaleEpoch', [1n, 2n])
    await expectRevert(s.write.commitState([42n, 1n, b32('x'), 1n]), 'NotEnrolled', [42n])
    // After a handover the old epoch is fenced off, even for the same key.
    await mined(chain, s.write.uplift([agentId, 1n, instance(first.signer, composeV1, 'next')]))
    await expectRevert(s.write.commitState([agentId, 1n, b32('x'), 1n]), 'StaleEpoch', [2n, 1n])
    await mined(chain, s.write.commitState([agentId, 2n, b32('x'), 1n]))
  })
})

describe('uplift', () => {
  chainTest('default: same key moves to a new instance; epoch + 1; Uplift(oldHost, newRA); state kept', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const s = successionAs(chain, regent, role.agentKey)
    await mined(chain, s.write.commitState([agentId, 1n, b32('state:3'), 3n]))
    const next = instance(first.signer, composeV1, 'tee-host')
    const receipt = await mined(chain, s.write.uplift([agentId, 1n, next]))
    expect(eventsOf(receipt, 'Uplift')[0]?.args).toEqual({ agentId, oldHost: first.host, newRA: next.quoteHash })
    expect(eventsOf(receipt, 'CanonicalChanged')[0]?.args).toEqual({ agentId, epoch: 2n, ...next })
    expect(await s.read.canonicalOf([agentId])).toEqual([next, 2n])
    expect(await s.read.isCanonical([agentId, first.signer, 1n])).toBe(false)
    expect(await s.read.isCanonical([agentId, first.signer, 2n])).toBe(true)
    expect(await s.read.stateOf([agentId])).toEqual([b32('state:3'), 3n])
  })

  chainTest('behavior: a different signer in `next` reverts SignerMismatch (that needs rotate)', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const next = instance(addressOf(role.newKey), composeV1, 'next')
    await expectRevert(successionAs(chain, regent, role.agentKey).write.uplift([agentId, 1n, next]), 'SignerMismatch', [
      first.signer,
      addressOf(role.newKey),
    ])
  })

  chainTest('behavior: unapproved, pending and removed measurements revert UnapprovedMeasurement', async ({ chain }) => {
    const { regent, agentId, appId, first } = await enrolled(chain)
    const s = successionAs(chain, regent, role.agentKey)
    const v2 = b32('compose:v2')
    const next = instance(first.signer, v2, 'next')
    await expectRevert(s.write.uplift([agentId, 1n, next]), 'UnapprovedMeasurement', [appId, v2])
    await mined(chain, appAuthAs(chain, regent, role.appOwner).write.addComposeHash([appId, v2]))
    await expectRevert(s.write.uplift([agentId, 1n, next]), 'UnapprovedMeasurement', [appId, v2])
    await elapse(chain, DAY)
    await mined(chain, appAuthAs(chain, regent, role.appOwner).write.removeComposeHash([appId, composeV1]))
    await expectRevert(s.write.uplift([agentId, 1n, instance(first.signer, composeV1, 'back')]), 'UnapprovedMeasurement', [
      appId,
      composeV1,
    ])
    await mined(chain, s.write.uplift([agentId, 1n, next]))
    expect(await s.read.epochOf([agentId])).toBe(2n)
  })

  chainTest('behavior: stranger and stale epoch revert', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const next = instance(first.signer, composeV1, 'next')
    await expectRevert(successionAs(chain, regent, role.stranger).write.uplift([agentId, 1n, next]), 'NotCanonicalSigner', [
      agentId,
      addressOf(role.stranger),
    ])
    await mined(chain, successionAs(chain, regent, role.agentKey).write.uplift([agentId, 1n, next]))
    await expectRevert(successionAs(chain, regent, role.agentKey).write.uplift([agentId, 1n, next]), 'StaleEpoch', [2n, 1n])
    await expectRevert(successionAs(chain, regent, role.agentKey).write.uplift([7n, 1n, next]), 'NotEnrolled', [7n])
  })
})

describe('rotate', () => {
  chainTest('default: a relayer submits the old key’s certificate; the new key is canonical, the old one retired', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const { cert, signature } = await signedRotation(chain, regent, agentId, next)
    const relayer = successionAs(chain, regent, role.relayer)
    const digest = await relayer.read.certificateDigest([cert])
    expect(digest).toBe(
      hashTypedData({
        domain: successionDomain(chain, regent.succession),
        types: certificateTypes,
        primaryType: 'SuccessionCertificate',
        message: cert,
      }),
    )
    expect(await relayer.read.isCertificateUsed([digest])).toBe(false)

    const receipt = await mined(chain, relayer.write.rotate([agentId, cert, signature, next]))
    expect(eventsOf(receipt, 'SuccessionRecorded')[0]?.args).toEqual({ agentId, oldKey: first.signer, newKey: next.signer, nextEpoch: 2n })
    expect(eventsOf(receipt, 'Uplift')[0]?.args).toEqual({ agentId, oldHost: first.host, newRA: next.quoteHash })
    expect(eventsOf(receipt, 'CanonicalChanged')[0]?.args).toEqual({ agentId, epoch: 2n, ...next })
    expect(await relayer.read.canonicalOf([agentId])).toEqual([next, 2n])
    expect(await relayer.read.isRetired([agentId, first.signer])).toBe(true)
    expect(await relayer.read.isRetired([agentId, next.signer])).toBe(false)
    expect(await relayer.read.isCertificateUsed([digest])).toBe(true)

    await expectRevert(successionAs(chain, regent, role.agentKey).write.commitState([agentId, 2n, b32('s'), 1n]), 'NotCanonicalSigner', [
      agentId,
      first.signer,
    ])
    await mined(chain, successionAs(chain, regent, role.newKey).write.commitState([agentId, 2n, b32('s'), 1n]))
  })

  chainTest('behavior: the same certificate twice reverts CertificateReplayed', async ({ chain }) => {
    const { regent, agentId } = await enrolled(chain)
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const { cert, signature } = await signedRotation(chain, regent, agentId, next)
    const relayer = successionAs(chain, regent, role.relayer)
    const digest = await relayer.read.certificateDigest([cert])
    await mined(chain, relayer.write.rotate([agentId, cert, signature, next]))
    await expectRevert(relayer.write.rotate([agentId, cert, signature, next]), 'CertificateReplayed', [digest])
  })

  chainTest('behavior: an unused certificate overtaken by another handover reverts StaleCertificate', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const { cert, signature } = await signedRotation(chain, regent, agentId, next)
    await mined(chain, successionAs(chain, regent, role.agentKey).write.uplift([agentId, 1n, instance(first.signer, composeV1, 'moved')]))
    await expectRevert(successionAs(chain, regent, role.relayer).write.rotate([agentId, cert, signature, next]), 'StaleCertificate', [
      3n,
      2n,
    ])
    // A certificate for an epoch in the future is equally refused.
    const ahead = await signedRotation(chain, regent, agentId, next, { nextEpoch: 4n })
    await expectRevert(
      successionAs(chain, regent, role.relayer).write.rotate([agentId, ahead.cert, ahead.signature, next]),
      'StaleCertificate',
      [3n, 4n],
    )
  })

  chainTest('behavior: a certificate past its deadline reverts CertificateExpired', async ({ chain }) => {
    const { regent, agentId } = await enrolled(chain)
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const { cert, signature } = await signedRotation(chain, regent, agentId, next)
    await elapse(chain, 3601n)
    await expectRevert(successionAs(chain, regent, role.relayer).write.rotate([agentId, cert, signature, next]), 'CertificateExpired')
    // Exactly at the deadline it is still valid.
    await chain.testClient.setNextBlockTimestamp({ timestamp: (await now(chain)) + 1n })
    const fresh = await signedRotation(chain, regent, agentId, next, { deadline: (await now(chain)) + 1n })
    await mined(chain, successionAs(chain, regent, role.relayer).write.rotate([agentId, fresh.cert, fresh.signature, next]))
  })

  chainTest('behavior: a certificate signed by anyone but the old key reverts InvalidSignature', async ({ chain }) => {
    const { regent, agentId } = await enrolled(chain)
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const byStranger = await signedRotation(chain, regent, agentId, next, {}, role.stranger)
    await expectRevert(
      successionAs(chain, regent, role.relayer).write.rotate([agentId, byStranger.cert, byStranger.signature, next]),
      'InvalidSignature',
      [],
    )
    // The new key cannot appoint itself either.
    const byNewKey = await signedRotation(chain, regent, agentId, next, {}, role.newKey)
    await expectRevert(
      successionAs(chain, regent, role.relayer).write.rotate([agentId, byNewKey.cert, byNewKey.signature, next]),
      'InvalidSignature',
      [],
    )
    // A signature over different fields does not carry over.
    const other = await signedRotation(chain, regent, agentId, next, { deadline: (await now(chain)) + 7200n })
    const { cert } = await signedRotation(chain, regent, agentId, next)
    await expectRevert(
      successionAs(chain, regent, role.relayer).write.rotate([agentId, cert, other.signature, next]),
      'InvalidSignature',
      [],
    )
  })

  chainTest('behavior: a certificate naming a key that is not canonical reverts OldKeyNotCanonical', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const { cert, signature } = await signedRotation(chain, regent, agentId, next, { oldKey: addressOf(role.stranger) }, role.stranger)
    await expectRevert(successionAs(chain, regent, role.relayer).write.rotate([agentId, cert, signature, next]), 'OldKeyNotCanonical', [
      first.signer,
      addressOf(role.stranger),
    ])
  })

  chainTest('behavior: a certificate for another agent reverts CertificateAgentMismatch', async ({ chain }) => {
    const { regent, agentId } = await enrolled(chain)
    // A second agent with the same key: a certificate for the first must not move the second.
    const other = await setupAgent(chain, regent)
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const { cert, signature } = await signedRotation(chain, regent, agentId, next)
    await expectRevert(
      successionAs(chain, regent, role.relayer).write.rotate([other.agentId, cert, signature, next]),
      'CertificateAgentMismatch',
      [other.agentId, agentId],
    )
  })

  chainTest(
    'behavior: `next` differing from the certificate in key, compose hash or quote reverts CertificateMismatch',
    async ({ chain }) => {
      const { regent, agentId } = await enrolled(chain)
      const next = instance(addressOf(role.newKey), composeV1, 'rotated')
      const { cert, signature } = await signedRotation(chain, regent, agentId, next)
      const relayer = successionAs(chain, regent, role.relayer)
      for (const changed of [
        { ...next, signer: addressOf(role.stranger) },
        { ...next, composeHash: b32('compose:other') },
        { ...next, quoteHash: b32('quote:other') },
      ]) {
        await expectRevert(relayer.write.rotate([agentId, cert, signature, changed]), 'CertificateMismatch', [])
      }
    },
  )

  chainTest('behavior: new key zero, equal to the old key or retired reverts', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const relayer = successionAs(chain, regent, role.relayer)
    const toZero = instance(zeroAddress, composeV1, 'zero')
    const z = await signedRotation(chain, regent, agentId, toZero)
    await expectRevert(relayer.write.rotate([agentId, z.cert, z.signature, toZero]), 'InvalidNewKey', [zeroAddress])
    const toSelf = instance(first.signer, composeV1, 'self')
    const self = await signedRotation(chain, regent, agentId, toSelf)
    await expectRevert(relayer.write.rotate([agentId, self.cert, self.signature, toSelf]), 'InvalidNewKey', [first.signer])

    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const r = await signedRotation(chain, regent, agentId, next)
    await mined(chain, relayer.write.rotate([agentId, r.cert, r.signature, next]))
    const back = instance(first.signer, composeV1, 'back')
    const backCert = { ...certificateFor(agentId, next.signer, back, 3n, await now(chain)) }
    const backSig = await signCertificate(chain, regent.succession, role.newKey, backCert)
    await expectRevert(relayer.write.rotate([agentId, backCert, backSig, back]), 'KeyRetired', [agentId, first.signer])
  })

  chainTest('behavior: an unapproved or pending compose hash reverts UnapprovedMeasurement', async ({ chain }) => {
    const { regent, agentId, appId } = await enrolled(chain)
    const v2 = b32('compose:v2')
    const next = instance(addressOf(role.newKey), v2, 'rotated')
    const { cert, signature } = await signedRotation(chain, regent, agentId, next)
    const relayer = successionAs(chain, regent, role.relayer)
    await expectRevert(relayer.write.rotate([agentId, cert, signature, next]), 'UnapprovedMeasurement', [appId, v2])
    await mined(chain, appAuthAs(chain, regent, role.appOwner).write.addComposeHash([appId, v2]))
    await expectRevert(relayer.write.rotate([agentId, cert, signature, next]), 'UnapprovedMeasurement', [appId, v2])
    await elapse(chain, DAY)
    // The certificate's deadline (an hour) has passed with the timelock: sign a fresh one.
    const fresh = await signedRotation(chain, regent, agentId, next)
    await mined(chain, relayer.write.rotate([agentId, fresh.cert, fresh.signature, next]))
  })

  chainTest('behavior: an agent that is not enrolled reverts NotEnrolled', async ({ chain }) => {
    const { regent } = await enrolled(chain)
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const { cert, signature } = await signedRotation(chain, regent, 5n, next)
    await expectRevert(successionAs(chain, regent, role.relayer).write.rotate([5n, cert, signature, next]), 'NotEnrolled', [5n])
  })

  chainTest('behavior: an ERC-1271 contract signer rotates through its isValidSignature', async ({ chain }) => {
    const regent = await deployRegent(chain)
    const agent = await setupAgent(chain, regent, { enroll: false })
    const { address: contractSigner } = await deployContract(wallet(chain, role.governance), chain.client, {
      name: 'TestERC1271Wallet',
      abi: testERC1271WalletAbi,
      bytecode: testERC1271WalletBytecode,
      args: [addressOf(role.contractWalletKey)],
    })
    const first = instance(contractSigner, composeV1, 'contract')
    await mined(chain, successionAs(chain, regent, role.agentOwner).write.enroll([agent.agentId, agent.appId, first]))
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const cert = certificateFor(agent.agentId, contractSigner, next, 2n, await now(chain))
    const relayer = successionAs(chain, regent, role.relayer)
    const wrong = await signCertificate(chain, regent.succession, role.stranger, cert)
    await expectRevert(relayer.write.rotate([agent.agentId, cert, wrong, next]), 'InvalidSignature', [])
    const signature = await signCertificate(chain, regent.succession, role.contractWalletKey, cert)
    await mined(chain, relayer.write.rotate([agent.agentId, cert, signature, next]))
    expect(await relayer.read.isRetired([agent.agentId, contractSigner])).toBe(true)
    expect(await relayer.read.epochOf([agent.agentId])).toBe(2n)
  })

  chainTest('behavior: there is no override: the identity owner cannot re-enroll or rotate without the key', async ({ chain }) => {
    const { regent, agentId, appId, first } = await enrolled(chain)
    const owner = successionAs(chain, regent, role.agentOwner)
    const seized = instance(addressOf(role.agentOwner), composeV1, 'seized')
    await expectRevert(owner.write.enroll([agentId, appId, seized]), 'AlreadyEnrolled', [agentId])
    await expectRevert(owner.write.uplift([agentId, 1n, seized]), 'NotCanonicalSigner', [agentId, addressOf(role.agentOwner)])
    const cert = certificateFor(agentId, first.signer, seized, 2n, await now(chain))
    const forged = await signCertificate(chain, regent.succession, role.agentOwner, cert)
    await expectRevert(owner.write.rotate([agentId, cert, forged, seized]), 'InvalidSignature', [])
  })
})

// Leases (issue 19 / docs/failover.md): every instance of an app shares the app key, so the lease names the instance.

/** The decoded custom error of a call that must revert (for checks on part of its arguments). */
async function revertOf(call: Promise<unknown>): Promise<{ errorName: string | undefined; args: readonly unknown[] }> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(BaseError)
  const reverted = (error as BaseError).walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null
  expect(reverted, String(error)).toBeInstanceOf(ContractFunctionRevertedError)
  return { errorName: reverted?.data?.errorName, args: reverted?.data?.args ?? [] }
}

/** An enrolled agent whose lease (held by the first instance) is enabled with `period` seconds. */
async function leased(chain: Chain_, period = 30) {
  const agent = await enrolled(chain)
  const s = successionAs(chain, agent.regent, role.agentKey)
  const receipt = await mined(chain, s.write.setLease([agent.agentId, 1n, period]))
  const [, expiresAt] = await s.read.leaseOf([agent.agentId])
  return { ...agent, s, receipt, period, expiresAt }
}

/** The timestamp of the block that mined `receipt`. */
async function timestampOf(chain: Chain_, receipt: { blockNumber: bigint }): Promise<bigint> {
  return (await chain.client.getBlock({ blockNumber: receipt.blockNumber })).timestamp
}

describe('setLease', () => {
  chainTest('default: the canonical signer enables a lease held by the canonical instance; period 0 disables it', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const s = successionAs(chain, regent, role.agentKey)
    expect(await s.read.leaseOf([agentId])).toEqual([zeroAddress, 0n, 0, false])
    expect([await s.read.MIN_LEASE_PERIOD(), await s.read.MAX_LEASE_PERIOD()]).toEqual([2, 86_400])
    const receipt = await mined(chain, s.write.setLease([agentId, 1n, 30]))
    const expiresAt = (await timestampOf(chain, receipt)) + 30n
    expect(eventsOf(receipt, 'LeaseSet')[0]?.args).toEqual({ agentId, epoch: 1n, holder: first.instanceId, period: 30, expiresAt })
    expect(await s.read.leaseOf([agentId])).toEqual([first.instanceId, expiresAt, 30, true])
    // A new period takes effect from the block that sets it.
    const again = await mined(chain, s.write.setLease([agentId, 1n, 300]))
    expect(await s.read.leaseOf([agentId])).toEqual([first.instanceId, (await timestampOf(chain, again)) + 300n, 300, true])

    const off = await mined(chain, s.write.setLease([agentId, 1n, 0]))
    expect(eventsOf(off, 'LeaseSet')[0]?.args).toEqual({ agentId, epoch: 1n, holder: zeroAddress, period: 0, expiresAt: 0n })
    expect(await s.read.leaseOf([agentId])).toEqual([zeroAddress, 0n, 0, false])
  })

  chainTest('behavior: the bounds are inclusive; a period outside them reverts InvalidLeasePeriod', async ({ chain }) => {
    const { regent, agentId } = await enrolled(chain)
    const s = successionAs(chain, regent, role.agentKey)
    await expectRevert(s.write.setLease([agentId, 1n, 1]), 'InvalidLeasePeriod', [1])
    await expectRevert(s.write.setLease([agentId, 1n, 86_401]), 'InvalidLeasePeriod', [86_401])
    await expectRevert(s.write.setLease([agentId, 1n, 2 ** 32 - 1]), 'InvalidLeasePeriod', [2 ** 32 - 1])
    await mined(chain, s.write.setLease([agentId, 1n, 2]))
    expect((await s.read.leaseOf([agentId]))[2]).toBe(2)
    await mined(chain, s.write.setLease([agentId, 1n, 86_400]))
    expect((await s.read.leaseOf([agentId]))[2]).toBe(86_400)
  })

  chainTest('behavior: a stranger, a stale epoch and an unknown agent revert; nothing changes', async ({ chain }) => {
    const { regent, agentId } = await enrolled(chain)
    await expectRevert(successionAs(chain, regent, role.stranger).write.setLease([agentId, 1n, 30]), 'NotCanonicalSigner', [
      agentId,
      addressOf(role.stranger),
    ])
    const s = successionAs(chain, regent, role.agentKey)
    await expectRevert(s.write.setLease([agentId, 2n, 30]), 'StaleEpoch', [1n, 2n])
    await expectRevert(s.write.setLease([agentId, 0n, 0]), 'StaleEpoch', [1n, 0n])
    await expectRevert(s.write.setLease([42n, 1n, 30]), 'NotEnrolled', [42n])
    expect(await s.read.leaseOf([agentId])).toEqual([zeroAddress, 0n, 0, false])
  })
})

describe('renewLease', () => {
  chainTest('default: the holder extends its lease to its block + period, also after it lapsed while unclaimed', async ({ chain }) => {
    const { s, agentId, first, period } = await leased(chain)
    await elapse(chain, 10n)
    const receipt = await mined(chain, s.write.renewLease([agentId, 1n, first.instanceId]))
    const expiresAt = (await timestampOf(chain, receipt)) + BigInt(period)
    expect(eventsOf(receipt, 'LeaseRenewed')[0]?.args).toEqual({ agentId, epoch: 1n, holder: first.instanceId, expiresAt })
    expect(await s.read.leaseOf([agentId])).toEqual([first.instanceId, expiresAt, period, true])

    await elapse(chain, 100n)
    const late = await mined(chain, s.write.renewLease([agentId, 1n, first.instanceId]))
    expect(await s.read.leaseOf([agentId])).toEqual([first.instanceId, (await timestampOf(chain, late)) + BigInt(period), period, true])
    expect(await s.read.epochOf([agentId])).toBe(1n)
  })

  chainTest('behavior: another instance of the same key reverts NotLeaseHolder; a stranger NotCanonicalSigner', async ({ chain }) => {
    const { s, regent, agentId, first, expiresAt } = await leased(chain)
    const standby = instance(first.signer, composeV1, 'standby')
    await expectRevert(s.write.renewLease([agentId, 1n, standby.instanceId]), 'NotLeaseHolder', [first.instanceId, standby.instanceId])
    await expectRevert(s.write.renewLease([agentId, 1n, zeroAddress]), 'NotLeaseHolder', [first.instanceId, zeroAddress])
    await expectRevert(successionAs(chain, regent, role.stranger).write.renewLease([agentId, 1n, first.instanceId]), 'NotCanonicalSigner', [
      agentId,
      addressOf(role.stranger),
    ])
    await expectRevert(s.write.renewLease([agentId, 2n, first.instanceId]), 'StaleEpoch', [1n, 2n])
    expect(await s.read.leaseOf([agentId])).toEqual([first.instanceId, expiresAt, 30, true])
  })

  chainTest('behavior: without a lease (never set, or disabled) renewLease reverts LeaseDisabled', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const s = successionAs(chain, regent, role.agentKey)
    await expectRevert(s.write.renewLease([agentId, 1n, first.instanceId]), 'LeaseDisabled', [agentId])
    await mined(chain, s.write.setLease([agentId, 1n, 30]))
    await mined(chain, s.write.setLease([agentId, 1n, 0]))
    await expectRevert(s.write.renewLease([agentId, 1n, first.instanceId]), 'LeaseDisabled', [agentId])
    await expectRevert(s.write.renewLease([agentId, 1n, zeroAddress]), 'LeaseDisabled', [agentId])
  })
})

describe('claim', () => {
  chainTest('default: after the lease lapses a standby of the same key claims: epoch + 1, canonical and lease move', async ({ chain }) => {
    const { s, agentId, first, period, expiresAt } = await leased(chain)
    await mined(chain, s.write.commitState([agentId, 1n, b32('state:4'), 4n]))
    const standby = instance(first.signer, composeV1, 'standby')
    await mineAt(chain, expiresAt + 5n)
    const receipt = await mined(chain, s.write.claim([agentId, 1n, standby]))
    expect(eventsOf(receipt, 'Claimed').map((e) => e.args)).toEqual([
      { agentId, epoch: 2n, holder: standby.instanceId, previousHolder: first.instanceId, host: standby.host },
    ])
    expect(eventsOf(receipt, 'CanonicalChanged').map((e) => e.args)).toEqual([{ agentId, epoch: 2n, ...standby }])
    expect(eventsOf(receipt, 'Uplift')).toEqual([])
    expect(await s.read.canonicalOf([agentId])).toEqual([standby, 2n])
    expect(await s.read.leaseOf([agentId])).toEqual([
      standby.instanceId,
      (await timestampOf(chain, receipt)) + BigInt(period),
      period,
      false,
    ])
    expect(await s.read.stateOf([agentId])).toEqual([b32('state:4'), 4n])

    // The old holder is fenced off: its renewal and its commits carry the old epoch.
    await expectRevert(s.write.renewLease([agentId, 1n, first.instanceId]), 'StaleEpoch', [2n, 1n])
    await expectRevert(s.write.commitState([agentId, 1n, b32('state:5'), 5n]), 'StaleEpoch', [2n, 1n])
    // At the new epoch it is no longer the holder either; the new holder renews.
    await expectRevert(s.write.renewLease([agentId, 2n, first.instanceId]), 'NotLeaseHolder', [standby.instanceId, first.instanceId])
    await mined(chain, s.write.renewLease([agentId, 2n, standby.instanceId]))
    // Its first renewal says it serves (a standby of epoch 1 may no longer claim a lease never renewed).
    expect((await s.read.leaseOf([agentId]))[3]).toBe(true)
    await mined(chain, s.write.commitState([agentId, 2n, b32('state:5'), 5n]))
  })

  chainTest('behavior: before expiry claim reverts LeaseHeld; exactly at expiresAt it succeeds', async ({ chain }) => {
    const { s, agentId, first, expiresAt } = await leased(chain)
    const standby = instance(first.signer, composeV1, 'standby')
    const held = await revertOf(s.write.claim([agentId, 1n, standby]))
    expect(held.errorName).toBe('LeaseHeld')
    expect(held.args.slice(0, 2)).toEqual([agentId, expiresAt])
    expect(held.args[2]).toBeLessThan(expiresAt)
    // One second before: the block's timestamp is below expiresAt (the gas is given, so nothing is estimated first).
    await chain.testClient.setNextBlockTimestamp({ timestamp: expiresAt - 1n })
    const early = await chain.client.waitForTransactionReceipt({
      hash: await s.write.claim([agentId, 1n, standby], { gas: 500_000n }),
    })
    expect(early.status).toBe('reverted')
    expect(await s.read.epochOf([agentId])).toBe(1n)
    await chain.testClient.setNextBlockTimestamp({ timestamp: expiresAt })
    const receipt = await chain.client.waitForTransactionReceipt({
      hash: await s.write.claim([agentId, 1n, standby], { gas: 500_000n }),
    })
    expect(receipt.status).toBe('success')
    expect(await timestampOf(chain, receipt)).toBe(expiresAt)
    expect(await s.read.canonicalOf([agentId])).toEqual([standby, 2n])
  })

  chainTest('behavior: the holding instance itself, or instance id 0, reverts SameInstance', async ({ chain }) => {
    const { s, agentId, first, expiresAt } = await leased(chain)
    await mineAt(chain, expiresAt)
    await expectRevert(
      s.write.claim([agentId, 1n, { ...instance(first.signer, composeV1, 'again'), instanceId: first.instanceId }]),
      'SameInstance',
      [first.instanceId],
    )
    await expectRevert(
      s.write.claim([agentId, 1n, { ...instance(first.signer, composeV1, 'zero'), instanceId: zeroAddress }]),
      'SameInstance',
      [zeroAddress],
    )
  })

  chainTest('behavior: an unapproved compose hash reverts UnapprovedMeasurement', async ({ chain }) => {
    const { s, agentId, appId, first, expiresAt } = await leased(chain)
    await mineAt(chain, expiresAt)
    const v2 = b32('compose:v2')
    await expectRevert(s.write.claim([agentId, 1n, instance(first.signer, v2, 'standby')]), 'UnapprovedMeasurement', [appId, v2])
  })

  chainTest('behavior: another key in `next` reverts SignerMismatch; another caller NotCanonicalSigner', async ({ chain }) => {
    const { s, regent, agentId, first, expiresAt } = await leased(chain)
    await mineAt(chain, expiresAt)
    const other = instance(addressOf(role.newKey), composeV1, 'other')
    await expectRevert(s.write.claim([agentId, 1n, other]), 'SignerMismatch', [first.signer, other.signer])
    await expectRevert(successionAs(chain, regent, role.newKey).write.claim([agentId, 1n, other]), 'NotCanonicalSigner', [
      agentId,
      other.signer,
    ])
    await expectRevert(s.write.claim([7n, 1n, instance(first.signer, composeV1, 'standby')]), 'NotEnrolled', [7n])
  })

  chainTest('behavior: without a lease (never set, or disabled) claim reverts LeaseDisabled', async ({ chain }) => {
    const { s, agentId, first, expiresAt } = await leased(chain)
    const standby = instance(first.signer, composeV1, 'standby')
    await mined(chain, s.write.setLease([agentId, 1n, 0]))
    await mineAt(chain, expiresAt + 1n)
    await expectRevert(s.write.claim([agentId, 1n, standby]), 'LeaseDisabled', [agentId])
    const { agentId: other, regent } = await enrolled(chain)
    await expectRevert(successionAs(chain, regent, role.agentKey).write.claim([other, 1n, standby]), 'LeaseDisabled', [other])
  })

  chainTest('behavior: of two claims at one epoch exactly one wins; the other reverts StaleEpoch', async ({ chain }) => {
    const { s, agentId, first, expiresAt } = await leased(chain)
    const [a, b] = [instance(first.signer, composeV1, 'standby-a'), instance(first.signer, composeV1, 'standby-b')]
    await mineAt(chain, expiresAt)
    // Both in one block: each passed its own checks against the same state.
    await chain.testClient.setAutomine(false)
    try {
      const hashes = [await s.write.claim([agentId, 1n, a], { gas: 500_000n }), await s.write.claim([agentId, 1n, b], { gas: 500_000n })]
      await chain.testClient.mine({ blocks: 1 })
      const receipts = await Promise.all(hashes.map((hash) => chain.client.waitForTransactionReceipt({ hash })))
      expect(receipts.map((r) => r.status)).toEqual(['success', 'reverted'])
      expect(receipts[0]?.blockNumber).toBe(receipts[1]?.blockNumber)
    } finally {
      await chain.testClient.setAutomine(true)
    }
    expect(await s.read.canonicalOf([agentId])).toEqual([a, 2n])
    expect((await s.read.leaseOf([agentId]))[0]).toBe(a.instanceId)
    // What the loser hit, replayed on the state it met:
    await expectRevert(s.write.claim([agentId, 1n, b]), 'StaleEpoch', [2n, 1n])
  })
})

describe('lease and handovers', () => {
  chainTest('behavior: an uplift moves an enabled lease to the new instance for a full period', async ({ chain }) => {
    const { s, agentId, first, period } = await leased(chain)
    const next = instance(first.signer, composeV1, 'next')
    await elapse(chain, 20n)
    const receipt = await mined(chain, s.write.uplift([agentId, 1n, next]))
    expect(eventsOf(receipt, 'Uplift')).toHaveLength(1)
    expect(eventsOf(receipt, 'Claimed')).toEqual([])
    expect(await s.read.leaseOf([agentId])).toEqual([next.instanceId, (await timestampOf(chain, receipt)) + BigInt(period), period, false])
    await expectRevert(s.write.renewLease([agentId, 2n, first.instanceId]), 'NotLeaseHolder', [next.instanceId, first.instanceId])
    await mined(chain, s.write.renewLease([agentId, 2n, next.instanceId]))
  })

  chainTest('behavior: a rotation moves an enabled lease to the new key’s instance', async ({ chain }) => {
    const { regent, agentId, period } = await leased(chain)
    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const { cert, signature } = await signedRotation(chain, regent, agentId, next)
    const receipt = await mined(chain, successionAs(chain, regent, role.relayer).write.rotate([agentId, cert, signature, next]))
    const s = successionAs(chain, regent, role.newKey)
    expect(await s.read.leaseOf([agentId])).toEqual([next.instanceId, (await timestampOf(chain, receipt)) + BigInt(period), period, false])
    await mined(chain, s.write.renewLease([agentId, 2n, next.instanceId]))
    await expectRevert(successionAs(chain, regent, role.agentKey).write.renewLease([agentId, 2n, next.instanceId]), 'NotCanonicalSigner', [
      agentId,
      addressOf(role.agentKey),
    ])
  })

  chainTest('behavior: without a lease handovers leave it disabled', async ({ chain }) => {
    const { regent, agentId, first } = await enrolled(chain)
    const s = successionAs(chain, regent, role.agentKey)
    await mined(chain, s.write.uplift([agentId, 1n, instance(first.signer, composeV1, 'next')]))
    expect(await s.read.leaseOf([agentId])).toEqual([zeroAddress, 0n, 0, false])
  })
})
