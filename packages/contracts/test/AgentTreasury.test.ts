import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import {
  account,
  allAbi,
  appIdOf,
  certificateFor,
  composeV1,
  deployRegent,
  deployToken,
  eventsOf,
  expectRevert,
  instance,
  mined,
  now,
  type Regent,
  role,
  setupAgent,
  signCertificate,
  wallet,
} from '@regent-tee/testing/regent-fixture'
import { type Address, getContract, parseEther, toFunctionSelector, zeroAddress, zeroHash } from 'viem'
import { describe, expect } from 'vitest'
import { deployContract } from '../src/deploy.js'
import { testERC20Abi, testReentrantSignerAbi, testReentrantSignerBytecode } from '../src/generated/index.js'

function treasuryAs(chain: Chain_, regent: Regent, index: number) {
  return getContract({ address: regent.treasury, abi: allAbi, client: { public: chain.client, wallet: wallet(chain, index) } })
}

function tokenAs(chain: Chain_, token: Address, index: number) {
  return getContract({ address: token, abi: testERC20Abi, client: { public: chain.client, wallet: wallet(chain, index) } })
}

function addressOf(index: number): Address {
  return account(index).address
}

/** A deployment with one enrolled agent and a (fee-free) token; role.stranger holds 1000 tokens. */
async function funded(chain: Chain_, feeBps = 0) {
  const regent = await deployRegent(chain)
  const agent = await setupAgent(chain, regent)
  const token = await deployToken(chain, feeBps)
  await mined(chain, tokenAs(chain, token, role.stranger).write.mint([addressOf(role.stranger), 1000n]))
  await mined(chain, tokenAs(chain, token, role.stranger).write.approve([regent.treasury, 1000n]))
  return { token, ...agent }
}

describe('deposit', () => {
  chainTest('default: anyone deposits ETH for an enrolled agent; balance and event record it', async ({ chain }) => {
    const { regent, agentId } = await funded(chain)
    const t = treasuryAs(chain, regent, role.stranger)
    const receipt = await mined(chain, t.write.deposit([agentId], { value: parseEther('1') }))
    expect(eventsOf(receipt, 'Deposited')[0]?.args).toEqual({
      agentId,
      token: zeroAddress,
      from: addressOf(role.stranger),
      amount: parseEther('1'),
    })
    expect(await t.read.balanceOf([agentId, zeroAddress])).toBe(parseEther('1'))
    expect(await chain.client.getBalance({ address: regent.treasury })).toBe(parseEther('1'))
  })

  chainTest('behavior: an agent that is not enrolled, or zero value, reverts', async ({ chain }) => {
    const { regent, agentId } = await funded(chain)
    const t = treasuryAs(chain, regent, role.stranger)
    await expectRevert(t.write.deposit([agentId + 1n], { value: 1n }), 'NotEnrolled', [agentId + 1n])
    await expectRevert(t.write.deposit([agentId], { value: 0n }), 'ZeroAmount', [])
  })

  chainTest('behavior: plain ETH transfers to the treasury are refused (no unattributed funds)', async ({ chain }) => {
    const { regent } = await funded(chain)
    await expect(wallet(chain, role.stranger).sendTransaction({ to: regent.treasury, value: 1n })).rejects.toThrow(/revert/i)
  })
})

describe('depositToken', () => {
  chainTest('default: credits the amount transferred', async ({ chain }) => {
    const { regent, token, agentId } = await funded(chain)
    const t = treasuryAs(chain, regent, role.stranger)
    const receipt = await mined(chain, t.write.depositToken([agentId, token, 400n]))
    expect(eventsOf(receipt, 'Deposited')[0]?.args).toEqual({ agentId, token, from: addressOf(role.stranger), amount: 400n })
    expect(await t.read.balanceOf([agentId, token])).toBe(400n)
    expect(await tokenAs(chain, token, 0).read.balanceOf([regent.treasury])).toBe(400n)
  })

  chainTest('behavior: a fee-on-transfer token is credited with what actually arrived', async ({ chain }) => {
    const { regent, token, agentId } = await funded(chain, 100) // 1 % fee
    const t = treasuryAs(chain, regent, role.stranger)
    const receipt = await mined(chain, t.write.depositToken([agentId, token, 500n]))
    expect(eventsOf(receipt, 'Deposited')[0]?.args.amount).toBe(495n)
    expect(await t.read.balanceOf([agentId, token])).toBe(495n)
    expect(await tokenAs(chain, token, 0).read.balanceOf([regent.treasury])).toBe(495n)
    // The agent can withdraw exactly what it was credited, not the nominal 500.
    const agent = treasuryAs(chain, regent, role.agentKey)
    await expectRevert(agent.write.withdrawToken([agentId, 1n, token, addressOf(role.agentOwner), 500n]), 'InsufficientBalance', [
      agentId,
      token,
      495n,
      500n,
    ])
    await mined(chain, agent.write.withdrawToken([agentId, 1n, token, addressOf(role.agentOwner), 495n]))
    expect(await t.read.balanceOf([agentId, token])).toBe(0n)
  })

  chainTest('behavior: not enrolled, token 0, nothing received and no allowance revert', async ({ chain }) => {
    const { regent, token, agentId } = await funded(chain)
    const t = treasuryAs(chain, regent, role.stranger)
    await expectRevert(t.write.depositToken([agentId + 1n, token, 1n]), 'NotEnrolled', [agentId + 1n])
    await expectRevert(t.write.depositToken([agentId, zeroAddress, 1n]), 'ZeroAddress', [])
    await expectRevert(t.write.depositToken([agentId, token, 0n]), 'ZeroAmount', [])
    await expectRevert(treasuryAs(chain, regent, role.relayer).write.depositToken([agentId, token, 1n]), 'ERC20InsufficientAllowance', [
      regent.treasury,
      0n,
      1n,
    ])
  })
})

describe('withdraw', () => {
  chainTest('default: the canonical signer of the current epoch sends ETH to any address', async ({ chain }) => {
    const { regent, agentId } = await funded(chain)
    await mined(chain, treasuryAs(chain, regent, role.stranger).write.deposit([agentId], { value: 1000n }))
    const to = addressOf(role.relayer)
    const before = await chain.client.getBalance({ address: to })
    const receipt = await mined(chain, treasuryAs(chain, regent, role.agentKey).write.withdraw([agentId, 1n, to, 600n]))
    expect(eventsOf(receipt, 'Withdrawn')[0]?.args).toEqual({ agentId, token: zeroAddress, to, amount: 600n, epoch: 1n })
    expect(await chain.client.getBalance({ address: to })).toBe(before + 600n)
    expect(await treasuryAs(chain, regent, 0).read.balanceOf([agentId, zeroAddress])).toBe(400n)
  })

  chainTest('behavior: stranger, stale epoch, over-balance, zero recipient and a refusing recipient revert', async ({ chain }) => {
    const { regent, agentId, first } = await funded(chain)
    await mined(chain, treasuryAs(chain, regent, role.stranger).write.deposit([agentId], { value: 1000n }))
    const to = addressOf(role.relayer)
    await expectRevert(treasuryAs(chain, regent, role.stranger).write.withdraw([agentId, 1n, to, 1n]), 'NotCanonical', [
      agentId,
      addressOf(role.stranger),
      1n,
    ])
    const agent = treasuryAs(chain, regent, role.agentKey)
    await expectRevert(agent.write.withdraw([agentId, 2n, to, 1n]), 'NotCanonical', [agentId, first.signer, 2n])
    await expectRevert(agent.write.withdraw([agentId, 0n, to, 1n]), 'NotCanonical', [agentId, first.signer, 0n])
    await expectRevert(agent.write.withdraw([agentId, 1n, to, 1001n]), 'InsufficientBalance', [agentId, zeroAddress, 1000n, 1001n])
    await expectRevert(agent.write.withdraw([agentId, 1n, zeroAddress, 1n]), 'ZeroAddress', [])
    // A contract without a receive function (here RegentAppAuth) refuses ETH.
    await expectRevert(agent.write.withdraw([agentId, 1n, regent.appAuth, 1n]), 'EthTransferFailed', [regent.appAuth, 1n])

    // After a same-key uplift, the old epoch is fenced off even for the same key.
    await mined(
      chain,
      wallet(chain, role.agentKey).writeContract({
        address: regent.succession,
        abi: allAbi,
        functionName: 'uplift',
        args: [agentId, 1n, instance(first.signer, composeV1, 'next')],
      }),
    )
    await expectRevert(agent.write.withdraw([agentId, 1n, to, 1n]), 'NotCanonical', [agentId, first.signer, 1n])
    await mined(chain, agent.write.withdraw([agentId, 2n, to, 1n]))
  })
})

describe('withdrawToken', () => {
  chainTest('default: the canonical signer sends tokens', async ({ chain }) => {
    const { regent, token, agentId } = await funded(chain)
    await mined(chain, treasuryAs(chain, regent, role.stranger).write.depositToken([agentId, token, 1000n]))
    const to = addressOf(role.relayer)
    const receipt = await mined(chain, treasuryAs(chain, regent, role.agentKey).write.withdrawToken([agentId, 1n, token, to, 300n]))
    expect(eventsOf(receipt, 'Withdrawn')[0]?.args).toEqual({ agentId, token, to, amount: 300n, epoch: 1n })
    expect(await tokenAs(chain, token, 0).read.balanceOf([to])).toBe(300n)
    expect(await treasuryAs(chain, regent, 0).read.balanceOf([agentId, token])).toBe(700n)
  })

  chainTest('behavior: stranger, stale epoch, over-balance and zero addresses revert', async ({ chain }) => {
    const { regent, token, agentId, first } = await funded(chain)
    await mined(chain, treasuryAs(chain, regent, role.stranger).write.depositToken([agentId, token, 1000n]))
    const to = addressOf(role.relayer)
    await expectRevert(treasuryAs(chain, regent, role.stranger).write.withdrawToken([agentId, 1n, token, to, 1n]), 'NotCanonical', [
      agentId,
      addressOf(role.stranger),
      1n,
    ])
    const agent = treasuryAs(chain, regent, role.agentKey)
    await expectRevert(agent.write.withdrawToken([agentId, 2n, token, to, 1n]), 'NotCanonical', [agentId, first.signer, 2n])
    await expectRevert(agent.write.withdrawToken([agentId, 1n, token, to, 1001n]), 'InsufficientBalance', [agentId, token, 1000n, 1001n])
    await expectRevert(agent.write.withdrawToken([agentId, 1n, token, zeroAddress, 1n]), 'ZeroAddress', [])
    await expectRevert(agent.write.withdrawToken([agentId, 1n, zeroAddress, to, 1n]), 'ZeroAddress', [])
  })

  chainTest('behavior: balances are per agent: one agent cannot spend another’s', async ({ chain }) => {
    const { regent, token, agentId } = await funded(chain)
    const other = await setupAgent(chain, regent) // same key, separate agent
    await mined(chain, treasuryAs(chain, regent, role.stranger).write.depositToken([agentId, token, 1000n]))
    await expectRevert(
      treasuryAs(chain, regent, role.agentKey).write.withdrawToken([other.agentId, 1n, token, addressOf(role.relayer), 1n]),
      'InsufficientBalance',
      [other.agentId, token, 0n, 1n],
    )
  })
})

describe('key rotation', () => {
  chainTest('behavior: balances survive a rotation; the retired key cannot withdraw, the new key can', async ({ chain }) => {
    const { regent, token, agentId, first } = await funded(chain)
    await mined(chain, treasuryAs(chain, regent, role.stranger).write.deposit([agentId], { value: 1000n }))
    await mined(chain, treasuryAs(chain, regent, role.stranger).write.depositToken([agentId, token, 1000n]))

    const next = instance(addressOf(role.newKey), composeV1, 'rotated')
    const cert = certificateFor(agentId, first.signer, next, 2n, await now(chain))
    const signature = await signCertificate(chain, regent.succession, role.agentKey, cert)
    await mined(
      chain,
      wallet(chain, role.relayer).writeContract({
        address: regent.succession,
        abi: allAbi,
        functionName: 'rotate',
        args: [agentId, cert, signature, next],
      }),
    )

    const view = treasuryAs(chain, regent, 0)
    expect(await view.read.balanceOf([agentId, zeroAddress])).toBe(1000n)
    expect(await view.read.balanceOf([agentId, token])).toBe(1000n)

    const to = addressOf(role.relayer)
    const retired = treasuryAs(chain, regent, role.agentKey)
    for (const epoch of [1n, 2n]) {
      await expectRevert(retired.write.withdraw([agentId, epoch, to, 1n]), 'NotCanonical', [agentId, first.signer, epoch])
      await expectRevert(retired.write.withdrawToken([agentId, epoch, token, to, 1n]), 'NotCanonical', [agentId, first.signer, epoch])
    }
    const current = treasuryAs(chain, regent, role.newKey)
    await expectRevert(current.write.withdraw([agentId, 1n, to, 1n]), 'NotCanonical', [agentId, next.signer, 1n])
    await mined(chain, current.write.withdraw([agentId, 2n, to, 1000n]))
    await mined(chain, current.write.withdrawToken([agentId, 2n, token, to, 1000n]))
    expect(await view.read.balanceOf([agentId, zeroAddress])).toBe(0n)
    expect(await view.read.balanceOf([agentId, token])).toBe(0n)
    expect(await tokenAs(chain, token, 0).read.balanceOf([to])).toBe(1000n)
  })
})

describe('reentrancy', () => {
  chainTest('behavior: a canonical signer contract that re-enters withdraw from receive is stopped by the guard', async ({ chain }) => {
    const regent = await deployRegent(chain)
    const { agentId } = await setupAgent(chain, regent, { enroll: false })
    const attacker = await deployContract(wallet(chain, role.stranger), chain.client, {
      name: 'TestReentrantSigner',
      abi: testReentrantSignerAbi,
      bytecode: testReentrantSignerBytecode,
    })
    await mined(
      chain,
      wallet(chain, role.agentOwner).writeContract({
        address: regent.succession,
        abi: allAbi,
        functionName: 'enroll',
        args: [agentId, appIdOf(addressOf(role.appOwner), zeroHash), instance(attacker.address, composeV1, 'contract-signer')],
      }),
    )
    await mined(chain, treasuryAs(chain, regent, role.stranger).write.deposit([agentId], { value: 1000n }))

    await mined(
      chain,
      wallet(chain, role.stranger).writeContract({
        address: attacker.address,
        abi: testReentrantSignerAbi,
        functionName: 'attack',
        args: [regent.treasury, agentId, 1n, 400n],
      }),
    )
    const read = <const F extends 'innerRevert' | 'innerSucceeded'>(functionName: F) =>
      chain.client.readContract({ address: attacker.address, abi: testReentrantSignerAbi, functionName })
    expect(await read('innerSucceeded')).toBe(false)
    expect(await read('innerRevert')).toBe(toFunctionSelector('ReentrancyGuardReentrantCall()'))
    expect(await treasuryAs(chain, regent, 0).read.balanceOf([agentId, zeroAddress])).toBe(600n)
    expect(await chain.client.getBalance({ address: attacker.address })).toBe(400n)
  })
})
