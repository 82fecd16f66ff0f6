// The on-chain actions against the real contracts on a real anvil (worker anvil, per-test snapshot).
// Roles are anvil test accounts: 0 deploys, 1 owns the app, 2 owns the agent, 3 is the first agent key, 4 the next.
import {
  agentTreasuryAbi,
  anvilMnemonic,
  deployRegent,
  identityRegistryAbi,
  regentAppAuthAbi,
  regentSuccessionAbi,
  successionCertificateTypes,
  successionDomain,
} from '@regent-tee/contracts'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import {
  type Address,
  ContractFunctionRevertedError,
  createNonceManager,
  createWalletClient,
  custom,
  getAddress,
  type Hex,
  http,
  keccak256,
  parseEther,
  BaseError as ViemBaseError,
  zeroAddress,
  zeroHash,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { jsonRpc } from 'viem/nonce'
import { describe, expect } from 'vitest'
import { assertCanonical, NotCanonicalError } from './assertCanonical.js'
import { commitState, StaleSequenceError } from './commitState.js'
import { enroll } from './enroll.js'
import { claimCanonical, LeaseHeldError, LeaseLostError, readLease, renewLease, setLease } from './lease.js'
import { readCanonical } from './readCanonical.js'
import { findAgent, fromAgentUri, registerAgent, registrationType } from './registerAgent.js'
import { signSuccessionCertificate } from './signSuccessionCertificate.js'
import { ContractRevertedError, type RegentContracts, TransactionRevertedError } from './transact.js'
import { withdraw } from './withdraw.js'

const b32 = (label: string): Hex => keccak256(new TextEncoder().encode(label))
const compose = b32('compose:v1')
const w = (chain: Chain_, i: number) => chain.wallets[i] as Chain_['wallets'][number]

async function mined(chain: Chain_, hash: Promise<Hex>) {
  const receipt = await chain.client.waitForTransactionReceipt({ hash: await hash })
  expect(receipt.status).toBe('success')
}

/** Deploys, registers an app with `compose` approved, registers agent (owner 2) and enrolls key 3. */
async function setup(chain: Chain_) {
  const { contracts } = await deployRegent(w(chain, 0), chain.client)
  const appOwner = w(chain, 1)
  await mined(
    chain,
    appOwner.writeContract({ address: contracts.appAuth, abi: regentAppAuthAbi, functionName: 'registerApp', args: [zeroHash, 0n] }),
  )
  const appId = await chain.client.readContract({
    address: contracts.appAuth,
    abi: regentAppAuthAbi,
    functionName: 'computeAppId',
    args: [appOwner.account.address, zeroHash],
  })
  await mined(
    chain,
    appOwner.writeContract({ address: contracts.appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [appId, compose] }),
  )
  const { agentId } = await registerAgent(w(chain, 2), {
    contracts,
    registration: {
      name: 'fence-bot',
      description: 'test agent',
      services: [{ name: 'web', endpoint: 'https://fence.example', version: '1' }],
    },
  })
  const first = instance(w(chain, 3).account.address, 'first')
  await mined(
    chain,
    appOwner.writeContract({
      address: contracts.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'setEnrollmentConsent',
      args: [appId, agentId, true],
    }),
  )
  await enroll(w(chain, 2), { contracts, agentId, appId, instance: first })
  return { contracts: contracts as RegentContracts, agentId, appId }
}

function instance(signer: Address, label: string) {
  return {
    signer,
    composeHash: compose,
    instanceId: getAddress(`0x${b32(`instance:${label}`).slice(26)}`),
    quoteHash: b32(`quote:${label}`),
    host: `https://${label}.example`,
  }
}

/** Rotates the agent from key 3 to key 4 with a certificate signed through the SDK. */
async function rotate(chain: Chain_, contracts: RegentContracts, agentId: bigint) {
  const next = instance(w(chain, 4).account.address, 'next')
  const deadline = (await chain.client.getBlock()).timestamp + 3600n
  const { certificate, signature } = await signSuccessionCertificate(w(chain, 3), {
    contracts,
    agentId,
    newKey: next.signer,
    newComposeHash: next.composeHash,
    quoteHash: next.quoteHash,
    deadline,
  })
  await mined(
    chain,
    w(chain, 9).writeContract({
      address: contracts.succession,
      abi: regentSuccessionAbi,
      functionName: 'rotate',
      args: [agentId, certificate, signature, next],
    }),
  )
  return { certificate, next, deadline }
}

/** The decoded custom error of a raw viem call. */
async function revertOf(call: Promise<unknown>): Promise<{ errorName: string | undefined; args: readonly unknown[] }> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ViemBaseError)
  const reverted = (error as ViemBaseError).walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError
  return { errorName: reverted?.data?.errorName, args: reverted?.data?.args ?? [] }
}

async function rejected(call: Promise<unknown>): Promise<Error> {
  return call.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: Error) => e,
  )
}

describe('registerAgent / findAgent', () => {
  chainTest('default: the agentURI is a registration-v1 data URI listing its own registration', async ({ chain }) => {
    const { contracts } = await deployRegent(w(chain, 0), chain.client)
    const registration = {
      name: 'quote-bot',
      description: 'quotes',
      services: [{ name: 'web', endpoint: 'https://bot.example', version: '1' }],
      x402Support: true,
      supportedTrust: ['reputation'],
    }
    const r = await registerAgent(w(chain, 2), { contracts, registration })
    expect(r.agentId).toBe(0n)
    expect(r.sent.length).toBe(2)
    expect(r.agentRegistry).toBe(`eip155:${chain.chain.id}:${contracts.identityRegistry.toLowerCase()}`)
    const uri = await chain.client.readContract({
      address: contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'tokenURI',
      args: [0n],
    })
    expect(uri).toBe(r.agentURI)
    expect(uri.startsWith('data:application/json;base64,')).toBe(true)
    expect(fromAgentUri(uri)).toEqual({
      type: registrationType,
      name: 'quote-bot',
      description: 'quotes',
      services: [{ name: 'web', endpoint: 'https://bot.example', version: '1' }],
      x402Support: true,
      active: true,
      registrations: [{ agentId: 0, agentRegistry: r.agentRegistry }],
      supportedTrust: ['reputation', 'tee-attestation'],
    })
    // Idempotent: the same owner and name reuse the agent and send nothing.
    const again = await registerAgent(w(chain, 2), { contracts, registration })
    expect({ agentId: again.agentId, sent: again.sent.length }).toEqual({ agentId: 0n, sent: 0 })
    expect((await findAgent(chain.client, { contracts, owner: w(chain, 2).account.address, name: 'quote-bot' }))?.agentId).toBe(0n)
    expect(await findAgent(chain.client, { contracts, owner: w(chain, 5).account.address })).toBeUndefined()
  })

  chainTest('behavior: an agent minted but not yet pointed at its registration is resumed with one setAgentURI', async ({ chain }) => {
    const { contracts } = await deployRegent(w(chain, 0), chain.client)
    const registration = { name: 'resume-bot', description: 'd', services: [] }
    await mined(
      chain,
      w(chain, 2).writeContract({
        address: contracts.identityRegistry,
        abi: identityRegistryAbi,
        functionName: 'register',
        args: [
          'data:application/json;base64,eyJ0eXBlIjoiaHR0cHM6Ly9laXBzLmV0aGVyZXVtLm9yZy9FSVBTL2VpcC04MDA0I3JlZ2lzdHJhdGlvbi12MSIsIm5hbWUiOiJyZXN1bWUtYm90In0=',
        ],
      }),
    )
    const r = await registerAgent(w(chain, 2), { contracts, registration })
    expect({ agentId: r.agentId, sent: r.sent.length }).toEqual({ agentId: 0n, sent: 1 })
    expect(fromAgentUri(r.agentURI).registrations).toEqual([{ agentId: 0, agentRegistry: r.agentRegistry }])
  })
})

describe('readCanonical / enroll', () => {
  chainTest('default: epoch 1, the first instance, the app, no state yet; enrolling again as asked sends nothing', async ({ chain }) => {
    const { contracts, agentId, appId } = await setup(chain)
    const c = await readCanonical(chain.client, { contracts, agentId })
    expect({ epoch: c.epoch, instance: c.instance, appId: c.appId, stateRoot: c.stateRoot, stateSeq: c.stateSeq }).toEqual({
      epoch: 1n,
      instance: instance(w(chain, 3).account.address, 'first'),
      appId,
      stateRoot: zeroHash,
      stateSeq: 0n,
    })
    const again = await enroll(w(chain, 2), { contracts, agentId, appId, instance: instance(w(chain, 3).account.address, 'first') })
    expect(again).toEqual({ epoch: 1n, sent: undefined })
    const other = await rejected(enroll(w(chain, 2), { contracts, agentId, appId, instance: instance(w(chain, 4).account.address, 'x') }))
    expect(other).toBeInstanceOf(ContractRevertedError)
    expect((other as ContractRevertedError).errorName).toBe('AlreadyEnrolled')
  })
})

describe('commitState', () => {
  chainTest(
    'default: the canonical key commits; a stale sequence is refused locally; contract errors come back decoded',
    async ({ chain }) => {
      const { contracts, agentId } = await setup(chain)
      const key = w(chain, 3)
      const r = await commitState(key, { contracts, agentId, stateRoot: b32('root:1'), seq: 1n })
      expect(r.epoch).toBe(1n)
      expect(r.gasUsed).toBeGreaterThan(0n)
      expect(await readCanonical(chain.client, { contracts, agentId })).toMatchObject({ stateRoot: b32('root:1'), stateSeq: 1n })

      const nonce = await chain.client.getTransactionCount({ address: key.account.address })
      const stale = await rejected(commitState(key, { contracts, agentId, stateRoot: b32('root:0'), seq: 1n }))
      expect(stale).toBeInstanceOf(StaleSequenceError)
      expect(stale.name).toBe('Chain.StaleSequenceError')
      expect((stale as StaleSequenceError).committedSeq).toBe(1n)
      const zero = await rejected(commitState(key, { contracts, agentId, stateRoot: zeroHash, seq: 2n }))
      expect(zero.name).toBe('Chain.ContractRevertedError')
      expect({ errorName: (zero as ContractRevertedError).errorName, args: (zero as ContractRevertedError).args }).toEqual({
        errorName: 'ZeroStateRoot',
        args: [],
      })
      expect(await chain.client.getTransactionCount({ address: key.account.address })).toBe(nonce)
    },
  )
})

describe('fencing', () => {
  chainTest(
    'behavior: a retired key is refused locally (no transaction, no signature) and the contracts refuse it too',
    async ({ chain }) => {
      const { contracts, agentId } = await setup(chain)
      await mined(
        chain,
        w(chain, 5).writeContract({
          address: contracts.treasury,
          abi: agentTreasuryAbi,
          functionName: 'deposit',
          args: [agentId],
          value: parseEther('1'),
        }),
      )
      const old = w(chain, 3)
      const { certificate, next } = await rotate(chain, contracts, agentId)
      expect(await readCanonical(chain.client, { contracts, agentId })).toMatchObject({ epoch: 2n, instance: next })

      const nonce = await chain.client.getTransactionCount({ address: old.account.address })
      const refusals = await Promise.all([
        rejected(assertCanonical(chain.client, { contracts, agentId, signer: old.account.address })),
        rejected(commitState(old, { contracts, agentId, stateRoot: b32('root:evil'), seq: 9n })),
        rejected(withdraw(old, { contracts, agentId, to: old.account.address, amount: 1n })),
        rejected(
          signSuccessionCertificate(old, {
            contracts,
            agentId,
            newKey: w(chain, 6).account.address,
            newComposeHash: compose,
            quoteHash: b32('q'),
            deadline: certificate.deadline,
          }),
        ),
      ])
      for (const e of refusals) {
        expect(e).toBeInstanceOf(NotCanonicalError)
        expect(e.name).toBe('Chain.NotCanonicalError')
        expect({
          epoch: (e as NotCanonicalError).epoch,
          signer: (e as NotCanonicalError).signer,
          canonical: (e as NotCanonicalError).canonicalSigner,
        }).toEqual({
          epoch: 2n,
          signer: old.account.address,
          canonical: next.signer,
        })
      }
      expect(refusals[0]?.message.split('\n')[0]).toBe(
        `${old.account.address} is not canonical for agent ${agentId} at epoch 2: the canonical signer is ${next.signer}. Nothing was signed or sent.`,
      )
      expect(await chain.client.getTransactionCount({ address: old.account.address })).toBe(nonce)

      // Sent raw, the contracts refuse the same key with their own custom errors.
      const raw = { account: old.account, chain: chain.chain }
      expect(
        await revertOf(
          old.writeContract({
            ...raw,
            address: contracts.succession,
            abi: regentSuccessionAbi,
            functionName: 'commitState',
            args: [agentId, 1n, b32('root:evil'), 9n],
          }),
        ),
      ).toEqual({
        errorName: 'StaleEpoch',
        args: [2n, 1n],
      })
      expect(
        await revertOf(
          old.writeContract({
            ...raw,
            address: contracts.succession,
            abi: regentSuccessionAbi,
            functionName: 'commitState',
            args: [agentId, 2n, b32('root:evil'), 9n],
          }),
        ),
      ).toEqual({
        errorName: 'NotCanonicalSigner',
        args: [agentId, old.account.address],
      })
      expect(
        await revertOf(
          old.writeContract({
            ...raw,
            address: contracts.treasury,
            abi: agentTreasuryAbi,
            functionName: 'withdraw',
            args: [agentId, 1n, old.account.address, 1n],
          }),
        ),
      ).toEqual({
        errorName: 'NotCanonical',
        args: [agentId, old.account.address, 1n],
      })
      const evil = instance(w(chain, 6).account.address, 'evil')
      const evilCert = { ...certificate, newKey: evil.signer, newComposeHash: evil.composeHash, quoteHash: evil.quoteHash, nextEpoch: 3n }
      const evilSignature = await old.signTypedData({
        domain: successionDomain({ chainId: chain.chain.id, address: contracts.succession }),
        types: successionCertificateTypes,
        primaryType: 'SuccessionCertificate',
        message: evilCert,
      })
      expect(
        await revertOf(
          w(chain, 9).writeContract({
            address: contracts.succession,
            abi: regentSuccessionAbi,
            functionName: 'rotate',
            args: [agentId, evilCert, evilSignature, evil],
          }),
        ),
      ).toEqual({ errorName: 'OldKeyNotCanonical', args: [next.signer, old.account.address] })

      // The new canonical key moves the bond and commits state.
      const payee = w(chain, 7).account.address
      const before = await chain.client.getBalance({ address: payee })
      const paid = await withdraw(w(chain, 4), { contracts, agentId, to: payee, amount: parseEther('0.25') })
      expect(paid.epoch).toBe(2n)
      expect((await chain.client.getBalance({ address: payee })) - before).toBe(parseEther('0.25'))
      expect((await commitState(w(chain, 4), { contracts, agentId, stateRoot: b32('root:2'), seq: 1n })).epoch).toBe(2n)
    },
  )

  chainTest('behavior: a key holding an older epoch is refused; not enrolled is refused with epoch 0', async ({ chain }) => {
    const { contracts, agentId } = await setup(chain)
    const signer = w(chain, 3).account.address
    expect((await assertCanonical(chain.client, { contracts, agentId, signer, epoch: 1n })).epoch).toBe(1n)
    const old = await rejected(assertCanonical(chain.client, { contracts, agentId, signer, epoch: 0n }))
    expect(old.message.split('\n')[0]).toBe(
      `${signer} is not canonical for agent ${agentId} at epoch 1: the caller holds epoch 0, the current epoch is 1. Nothing was signed or sent.`,
    )
    const none = await rejected(assertCanonical(chain.client, { contracts, agentId: 99n, signer }))
    expect(none).toBeInstanceOf(NotCanonicalError)
    expect((none as NotCanonicalError).epoch).toBe(0n)
  })
})

// Leases (issue 19 / docs/failover.md): instances of one app share key 3; the lease names the instance id.

/** The timestamp of the block that mined `sent`. */
async function timestampOf(chain: Chain_, sent: { blockNumber: bigint }): Promise<bigint> {
  return (await chain.client.getBlock({ blockNumber: sent.blockNumber })).timestamp
}

/** A promise with its resolve function (Promise.withResolvers, which Node 20 lacks). */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {}
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** Mines one block at exactly `timestamp`. */
async function mineAt(chain: Chain_, timestamp: bigint): Promise<void> {
  await chain.testClient.setNextBlockTimestamp({ timestamp })
  await chain.testClient.mine({ blocks: 1 })
}

/**
 * A wallet client of key 3 standing for one more instance of the agent: its own transport over the worker's anvil,
 * with `before` seeing each request before it is forwarded and `after` once it was answered, and the given nonce
 * manager (instances in one process share one, as one process's nonce manager would).
 */
function instanceWallet(
  chain: Chain_,
  {
    before = async () => {},
    after = () => {},
    nonceManager,
  }: {
    before?: (method: string) => Promise<void>
    after?: (method: string) => void
    nonceManager?: ReturnType<typeof createNonceManager>
  } = {},
) {
  const base = http(chain.anvil.rpcUrl)({ chain: chain.chain })
  return createWalletClient({
    account: mnemonicToAccount(anvilMnemonic, { addressIndex: 3, ...(nonceManager ? { nonceManager } : {}) }),
    chain: chain.chain,
    pollingInterval: 50,
    transport: custom({
      async request({ method, params }) {
        await before(method)
        const answer = await base.request({ method, params })
        after(method)
        return answer
      },
    }),
  })
}

describe('readLease / setLease / renewLease', () => {
  chainTest('default: no lease at first; set, renewed, read at one block; period 0 disables it', async ({ chain }) => {
    const { contracts, agentId } = await setup(chain)
    const key = w(chain, 3)
    const first = instance(key.account.address, 'first')
    const none = await readLease(chain.client, { contracts, agentId })
    const head = await chain.client.getBlock()
    expect(none).toEqual({
      holder: zeroAddress,
      expiresAt: 0n,
      period: 0n,
      renewed: false,
      epoch: 1n,
      instance: first,
      appId: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/),
      blockNumber: head.number,
      blockTimestamp: head.timestamp,
    })

    const set = await setLease(key, { contracts, agentId, period: 30 })
    expect(set.epoch).toBe(1n)
    expect(set.expiresAt).toBe((await timestampOf(chain, set)) + 30n)
    expect(await readLease(chain.client, { contracts, agentId })).toMatchObject({
      holder: first.instanceId,
      expiresAt: set.expiresAt,
      period: 30n,
      renewed: true,
      epoch: 1n,
    })

    await chain.testClient.increaseTime({ seconds: 10 })
    const renewed = await renewLease(key, { contracts, agentId, epoch: 1n, instanceId: first.instanceId })
    expect(renewed.expiresAt).toBe((await timestampOf(chain, renewed)) + 30n)
    expect(renewed.expiresAt).toBeGreaterThan(set.expiresAt)
    expect(renewed.gasUsed).toBeGreaterThan(0n)
    // A read at an earlier block is that block's lease and timestamp.
    const then = await readLease(chain.client, { contracts, agentId, blockNumber: set.blockNumber })
    expect(then).toMatchObject({ expiresAt: set.expiresAt, blockNumber: set.blockNumber, blockTimestamp: await timestampOf(chain, set) })

    const off = await setLease(key, { contracts, agentId, period: 0, epoch: 1n })
    expect(off.expiresAt).toBe(0n)
    expect(await readLease(chain.client, { contracts, agentId })).toMatchObject({ holder: zeroAddress, expiresAt: 0n, period: 0n })
  })

  chainTest('behavior: refusals come back typed — lost (another instance or key), or the contract’s error', async ({ chain }) => {
    const { contracts, agentId } = await setup(chain)
    const key = w(chain, 3)
    const first = instance(key.account.address, 'first')
    const nonce = await chain.client.getTransactionCount({ address: key.account.address })
    const disabled = await rejected(renewLease(key, { contracts, agentId, epoch: 1n, instanceId: first.instanceId }))
    expect(disabled).toBeInstanceOf(ContractRevertedError)
    expect((disabled as ContractRevertedError).errorName).toBe('LeaseDisabled')
    const tooShort = await rejected(setLease(key, { contracts, agentId, period: 1 }))
    expect({ errorName: (tooShort as ContractRevertedError).errorName, args: (tooShort as ContractRevertedError).args }).toEqual({
      errorName: 'InvalidLeasePeriod',
      args: [1],
    })
    const stranger = await rejected(setLease(w(chain, 5), { contracts, agentId, period: 30 }))
    expect(stranger).toBeInstanceOf(NotCanonicalError)
    const stale = await rejected(setLease(key, { contracts, agentId, period: 30, epoch: 2n }))
    expect(stale).toBeInstanceOf(LeaseLostError)
    expect({ reason: (stale as LeaseLostError).reason, args: (stale as LeaseLostError).args }).toEqual({
      reason: 'StaleEpoch',
      args: [1n, 2n],
    })

    await setLease(key, { contracts, agentId, period: 30 })
    const other = instance(key.account.address, 'other')
    const notHolder = await rejected(renewLease(key, { contracts, agentId, epoch: 1n, instanceId: other.instanceId }))
    expect(notHolder).toBeInstanceOf(LeaseLostError)
    expect(notHolder.name).toBe('Chain.LeaseLostError')
    expect({
      reason: (notHolder as LeaseLostError).reason,
      args: (notHolder as LeaseLostError).args,
      code: (notHolder as LeaseLostError).code,
      docsPath: (notHolder as LeaseLostError).docsPath,
    }).toEqual({
      reason: 'NotLeaseHolder',
      args: [first.instanceId, other.instanceId],
      code: 'chain.lease_lost',
      docsPath: 'docs/failover.md',
    })
    expect(notHolder.message.split('\n')[0]).toBe(
      `renewLease refused for agent ${agentId}: NotLeaseHolder(${first.instanceId}, ${other.instanceId}); another instance holds it now.`,
    )
    expect((notHolder as LeaseLostError).walk((e) => e instanceof ContractRevertedError)).toBeInstanceOf(ContractRevertedError)
    const strangerRenews = await rejected(renewLease(w(chain, 5), { contracts, agentId, epoch: 1n, instanceId: first.instanceId }))
    expect((strangerRenews as LeaseLostError).reason).toBe('NotCanonicalSigner')
    // Only the one successful setLease was sent.
    expect(await chain.client.getTransactionCount({ address: key.account.address })).toBe(nonce + 1)
  })
})

describe('claimCanonical', () => {
  chainTest('default: a lapsed lease is claimed by a standby; the old holder learns it lost', async ({ chain }) => {
    const { contracts, agentId } = await setup(chain)
    const key = w(chain, 3)
    const first = instance(key.account.address, 'first')
    const standby = instance(key.account.address, 'standby')
    const set = await setLease(key, { contracts, agentId, period: 30 })

    const nonce = await chain.client.getTransactionCount({ address: key.account.address })
    const held = await rejected(claimCanonical(key, { contracts, agentId, epoch: 1n, instance: standby }))
    expect(held).toBeInstanceOf(LeaseHeldError)
    expect(held.name).toBe('Chain.LeaseHeldError')
    const { expiresAt, timestamp, code, docsPath } = held as LeaseHeldError
    expect({ expiresAt, code, docsPath }).toEqual({ expiresAt: set.expiresAt, code: 'chain.lease_held', docsPath: 'docs/failover.md' })
    expect(timestamp).toBeLessThan(set.expiresAt)
    expect(held.message.split('\n')[0]).toBe(
      `The lease of agent ${agentId} is held until ${set.expiresAt} (chain time ${timestamp}); it cannot be claimed yet.`,
    )
    expect(await chain.client.getTransactionCount({ address: key.account.address })).toBe(nonce)

    await mineAt(chain, set.expiresAt)
    const lease = await readLease(chain.client, { contracts, agentId })
    expect(lease.blockTimestamp).toBe(lease.expiresAt)
    const claimed = await claimCanonical(key, { contracts, agentId, epoch: lease.epoch, instance: standby })
    expect(claimed.epoch).toBe(2n)
    expect(claimed.expiresAt).toBe((await timestampOf(chain, claimed)) + 30n)
    expect(await readLease(chain.client, { contracts, agentId })).toMatchObject({
      holder: standby.instanceId,
      expiresAt: claimed.expiresAt,
      period: 30n,
      renewed: false,
      epoch: 2n,
      instance: standby,
    })

    // The old holder's next renewal (its epoch, its instance) is refused: it lost the agent.
    const late = await rejected(renewLease(key, { contracts, agentId, epoch: 1n, instanceId: first.instanceId }))
    expect(late).toBeInstanceOf(LeaseLostError)
    expect({ reason: (late as LeaseLostError).reason, args: (late as LeaseLostError).args }).toEqual({
      reason: 'StaleEpoch',
      args: [2n, 1n],
    })
    // The new holder renews at the new epoch; claiming the same instance again is the contract's plain refusal.
    await renewLease(key, { contracts, agentId, epoch: 2n, instanceId: standby.instanceId })
    expect((await readLease(chain.client, { contracts, agentId })).renewed).toBe(true)
    await mineAt(chain, (await readLease(chain.client, { contracts, agentId })).expiresAt)
    const same = await rejected(claimCanonical(key, { contracts, agentId, epoch: 2n, instance: standby }))
    expect(same).toBeInstanceOf(ContractRevertedError)
    expect((same as ContractRevertedError).errorName).toBe('SameInstance')
  })

  chainTest('behavior: a rival claim landing after the simulation fails the gas estimate; nothing is sent', async ({ chain }) => {
    const { contracts, agentId } = await setup(chain)
    const key = w(chain, 3)
    const set = await setLease(key, { contracts, agentId, period: 30 })
    await mineAt(chain, set.expiresAt)
    const [a, b] = [instance(key.account.address, 'standby-a'), instance(key.account.address, 'standby-b')]
    const nonce = await chain.client.getTransactionCount({ address: key.account.address })
    // Standby B's simulation passes; before its transaction is prepared (gas estimated), standby A claims.
    let rivalDone = false
    const walletB = instanceWallet(chain, {
      async before(method) {
        // viem prepares a transaction with eth_fillTransaction (gas, fees, nonce) where the node has it, else eth_estimateGas.
        if ((method !== 'eth_fillTransaction' && method !== 'eth_estimateGas') || rivalDone) return
        rivalDone = true
        await claimCanonical(key, { contracts, agentId, epoch: 1n, instance: a })
      },
    })
    const lost = await rejected(claimCanonical(walletB, { contracts, agentId, epoch: 1n, instance: b }))
    expect(rivalDone).toBe(true)
    expect(lost).toBeInstanceOf(LeaseLostError)
    expect({ reason: (lost as LeaseLostError).reason, args: (lost as LeaseLostError).args }).toEqual({
      reason: 'StaleEpoch',
      args: [2n, 1n],
    })
    expect((await readLease(chain.client, { contracts, agentId })).holder).toBe(a.instanceId)
    // A's claim is the one transaction since the setLease: B sent nothing.
    expect(await chain.client.getTransactionCount({ address: key.account.address, blockTag: 'pending' })).toBe(nonce + 1)
  })

  chainTest('behavior: of two claims mined in one block one wins; the other, reverted on-chain, is LeaseLostError', async ({ chain }) => {
    const { contracts, agentId } = await setup(chain)
    const key = w(chain, 3)
    const set = await setLease(key, { contracts, agentId, period: 30 })
    await mineAt(chain, set.expiresAt)
    const [a, b] = [instance(key.account.address, 'standby-a'), instance(key.account.address, 'standby-b')]
    // Two standbys in one process (one nonce manager). Neither sends before both prepared their transaction (gas
    // estimated on the same state), so both pass every check before a block; then one block mines both.
    const nonceManager = createNonceManager({ source: jsonRpc() })
    const prepared = [deferred(), deferred()] as const
    const sent = [deferred(), deferred()] as const
    const wallets = [0, 1].map((i) =>
      instanceWallet(chain, {
        async before(method) {
          if (method === 'eth_sendRawTransaction') await Promise.all(prepared.map((p) => p.promise))
        },
        after(method) {
          if (method === 'eth_fillTransaction' || method === 'eth_estimateGas') prepared[i]?.resolve()
          if (method === 'eth_sendRawTransaction') sent[i]?.resolve()
        },
        nonceManager,
      }),
    )
    await chain.testClient.setAutomine(false)
    let outcomes: PromiseSettledResult<Awaited<ReturnType<typeof claimCanonical>>>[]
    try {
      const claims = [a, b].map((next, i) =>
        claimCanonical(wallets[i] as (typeof wallets)[number], { contracts, agentId, epoch: 1n, instance: next }),
      )
      // Both transactions are in the pool (a claim refused before sending fails the checks below), then one block.
      await Promise.all(
        claims.map((claim, i) =>
          Promise.race([
            sent[i]?.promise,
            claim.then(
              () => {},
              () => {},
            ),
          ]),
        ),
      )
      await chain.testClient.mine({ blocks: 1 })
      outcomes = await Promise.allSettled(claims)
    } finally {
      await chain.testClient.setAutomine(true)
    }
    const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [{ ...o.value, instance: [a, b][i] }] : []))
    const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []))
    expect(won).toHaveLength(1)
    expect(won[0]?.epoch).toBe(2n)
    expect(lost).toHaveLength(1)
    expect(lost[0]).toBeInstanceOf(LeaseLostError)
    expect({ reason: (lost[0] as LeaseLostError).reason, args: (lost[0] as LeaseLostError).args }).toEqual({
      reason: 'StaleEpoch',
      args: [2n, 1n],
    })
    // The loser's transaction was mined (and paid for) and reverted: its hash is in the cause.
    const mined = (lost[0] as LeaseLostError).walk((e) => e instanceof TransactionRevertedError) as TransactionRevertedError
    expect(mined).toBeInstanceOf(TransactionRevertedError)
    const receipt = await chain.client.getTransactionReceipt({ hash: mined.transactionHash })
    expect({ status: receipt.status, blockNumber: receipt.blockNumber }).toEqual({ status: 'reverted', blockNumber: won[0]?.blockNumber })
    expect(await readLease(chain.client, { contracts, agentId })).toMatchObject({ epoch: 2n, holder: won[0]?.instance?.instanceId })
  })
})
