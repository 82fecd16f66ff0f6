import { type Chain_, chainTest, testAccounts } from '@regent-tee/testing/chain'
import { type Address, type Hex, keccak256, parseEventLogs, toHex, zeroAddress, zeroHash } from 'viem'
import { describe, expect } from 'vitest'
import { deployContract } from '../src/deploy.js'
import { identityRegistryAbi, reputationRegistryAbi, reputationRegistryBytecode } from '../src/generated/index.js'
import { deployRegistries, identityErrors, mined, type Registries, revertOf, wallet } from './erc8004.js'

const abi = reputationRegistryAbi
/** Reverts bubbled up from the Identity Registry decode too. */
const abiWithIdentityErrors = [...reputationRegistryAbi, ...identityErrors]

function address(i: number): Address {
  const a = testAccounts[i]
  if (!a) throw new Error(`no account ${i}`)
  return a.address
}

const [owner, operator, alice, bob, carol, approved] = [address(1), address(2), address(3), address(4), address(5), address(6)]

type Feedback = { value: bigint; decimals: number; tag1?: string; tag2?: string }

/** Registries plus agent 0 (owner = account 1, operator = account 2 via setApprovalForAll, approved = account 6). */
async function setup(chain: Chain_): Promise<Registries> {
  const registries = await deployRegistries(chain)
  const id = registries.identity
  await mined(
    chain,
    wallet(chain, 1).writeContract({ address: id, abi: identityRegistryAbi, functionName: 'register', args: ['ipfs://agent'] }),
  )
  await mined(
    chain,
    wallet(chain, 1).writeContract({ address: id, abi: identityRegistryAbi, functionName: 'setApprovalForAll', args: [operator, true] }),
  )
  await mined(
    chain,
    wallet(chain, 1).writeContract({ address: id, abi: identityRegistryAbi, functionName: 'approve', args: [approved, 0n] }),
  )
  return registries
}

function give(chain: Chain_, r: Registries, from: number, f: Feedback, agentId = 0n) {
  return mined(
    chain,
    wallet(chain, from).writeContract({
      address: r.reputation,
      abi,
      functionName: 'giveFeedback',
      args: [agentId, f.value, f.decimals, f.tag1 ?? '', f.tag2 ?? '', '', '', zeroHash],
    }),
  )
}

function simulate(chain: Chain_, from: number, to: Address, functionName: string, args: readonly unknown[]) {
  const account = testAccounts[from]
  return chain.client.simulateContract({ account, address: to, abi: abiWithIdentityErrors, functionName, args } as never)
}

function summary(chain: Chain_, r: Registries, clients: readonly Address[], tag1 = '', tag2 = '') {
  return chain.client.readContract({ address: r.reputation, abi, functionName: 'getSummary', args: [0n, clients, tag1, tag2] })
}

describe('ReputationRegistry', () => {
  chainTest('default: bound to its identity registry, version 2.0.0', async ({ chain }) => {
    const r = await deployRegistries(chain)
    expect(await chain.client.readContract({ address: r.reputation, abi, functionName: 'getIdentityRegistry' })).toBe(r.identity)
    expect(await chain.client.readContract({ address: r.reputation, abi, functionName: 'getVersion' })).toBe('2.0.0')
  })

  chainTest('error: the zero identity registry is refused at deployment ("bad identity")', async ({ chain }) => {
    const deploying = deployContract(wallet(chain, 0), chain.client, {
      name: 'ReputationRegistry',
      abi,
      bytecode: reputationRegistryBytecode,
      args: [zeroAddress],
    })
    await expect(deploying).rejects.toThrow(/bad identity/)
  })
})

describe('giveFeedback', () => {
  chainTest('default: stores the feedback as index 1, 2… per client and logs NewFeedback with every field', async ({ chain }) => {
    const r = await setup(chain)
    const hash: Hex = keccak256(toHex('feedback file'))
    const receipt = await mined(
      chain,
      wallet(chain, 3).writeContract({
        address: r.reputation,
        abi,
        functionName: 'giveFeedback',
        args: [0n, 9977n, 2, 'uptime', 'week', 'https://agent.example/mcp', 'ipfs://fb', hash],
      }),
    )
    const [log] = parseEventLogs({ abi, logs: receipt.logs, eventName: 'NewFeedback' })
    expect(log?.args).toEqual({
      agentId: 0n,
      clientAddress: alice,
      feedbackIndex: 1n,
      value: 9977n,
      valueDecimals: 2,
      indexedTag1: keccak256(toHex('uptime')),
      tag1: 'uptime',
      tag2: 'week',
      endpoint: 'https://agent.example/mcp',
      feedbackURI: 'ipfs://fb',
      feedbackHash: hash,
    })
    await give(chain, r, 3, { value: -32n, decimals: 1, tag1: 'tradingYield' })
    await give(chain, r, 4, { value: 1n, decimals: 0 })
    const read = (client: Address, i: bigint) =>
      chain.client.readContract({ address: r.reputation, abi, functionName: 'readFeedback', args: [0n, client, i] })
    expect(await read(alice, 1n)).toEqual([9977n, 2, 'uptime', 'week', false])
    expect(await read(alice, 2n)).toEqual([-32n, 1, 'tradingYield', '', false])
    expect(await read(bob, 1n)).toEqual([1n, 0, '', '', false])
    expect(await chain.client.readContract({ address: r.reputation, abi, functionName: 'getLastIndex', args: [0n, alice] })).toBe(2n)
    expect(await chain.client.readContract({ address: r.reputation, abi, functionName: 'getLastIndex', args: [0n, carol] })).toBe(0n)
    expect(await chain.client.readContract({ address: r.reputation, abi, functionName: 'getClients', args: [0n] })).toEqual([alice, bob])
  })

  chainTest('behavior: the value bounds are inclusive (±1e38, 18 decimals)', async ({ chain }) => {
    const r = await setup(chain)
    await give(chain, r, 3, { value: 10n ** 38n, decimals: 18 })
    await give(chain, r, 3, { value: -(10n ** 38n), decimals: 0 })
    expect(await chain.client.readContract({ address: r.reputation, abi, functionName: 'getLastIndex', args: [0n, alice] })).toBe(2n)
  })

  chainTest('error: "too many decimals", "value too large" (both signs)', async ({ chain }) => {
    const r = await setup(chain)
    const attempt = (value: bigint, decimals: number) =>
      revertOf(simulate(chain, 3, r.reputation, 'giveFeedback', [0n, value, decimals, '', '', '', '', zeroHash]))
    expect(await attempt(1n, 19)).toMatchObject({ reason: 'too many decimals' })
    expect(await attempt(10n ** 38n + 1n, 0)).toMatchObject({ reason: 'value too large' })
    expect(await attempt(-(10n ** 38n) - 1n, 0)).toMatchObject({ reason: 'value too large' })
  })

  chainTest(
    'error: owner, operator and approved address get "Self-feedback not allowed"; an unknown agent ERC721NonexistentToken',
    async ({ chain }) => {
      const r = await setup(chain)
      for (const from of [1, 2, 6]) {
        expect(await revertOf(simulate(chain, from, r.reputation, 'giveFeedback', [0n, 1n, 0, '', '', '', '', zeroHash]))).toMatchObject({
          reason: 'Self-feedback not allowed',
        })
      }
      expect(await revertOf(simulate(chain, 3, r.reputation, 'giveFeedback', [4n, 1n, 0, '', '', '', '', zeroHash]))).toMatchObject({
        errorName: 'ERC721NonexistentToken',
        args: [4n],
      })
    },
  )
})

describe('revokeFeedback', () => {
  chainTest('default: the client revokes its own feedback once; FeedbackRevoked; readFeedback shows it', async ({ chain }) => {
    const r = await setup(chain)
    await give(chain, r, 3, { value: 5n, decimals: 0 })
    const receipt = await mined(
      chain,
      wallet(chain, 3).writeContract({ address: r.reputation, abi, functionName: 'revokeFeedback', args: [0n, 1n] }),
    )
    expect(parseEventLogs({ abi, logs: receipt.logs }).map((l) => [l.eventName, l.args])).toEqual([
      ['FeedbackRevoked', { agentId: 0n, clientAddress: alice, feedbackIndex: 1n }],
    ])
    expect(await chain.client.readContract({ address: r.reputation, abi, functionName: 'readFeedback', args: [0n, alice, 1n] })).toEqual([
      5n,
      0,
      '',
      '',
      true,
    ])
    expect(await revertOf(simulate(chain, 3, r.reputation, 'revokeFeedback', [0n, 1n]))).toMatchObject({ reason: 'Already revoked' })
  })

  chainTest('error: "index must be > 0"; "index out of bounds" also for another client\'s feedback', async ({ chain }) => {
    const r = await setup(chain)
    await give(chain, r, 3, { value: 5n, decimals: 0 })
    expect(await revertOf(simulate(chain, 3, r.reputation, 'revokeFeedback', [0n, 0n]))).toMatchObject({ reason: 'index must be > 0' })
    expect(await revertOf(simulate(chain, 3, r.reputation, 'revokeFeedback', [0n, 2n]))).toMatchObject({ reason: 'index out of bounds' })
    expect(await revertOf(simulate(chain, 4, r.reputation, 'revokeFeedback', [0n, 1n]))).toMatchObject({ reason: 'index out of bounds' })
  })
})

describe('appendResponse', () => {
  chainTest('default: anyone responds; counted per responder, per feedback, per client', async ({ chain }) => {
    const r = await setup(chain)
    await give(chain, r, 3, { value: 5n, decimals: 0 })
    await give(chain, r, 3, { value: 6n, decimals: 0 })
    await give(chain, r, 4, { value: 7n, decimals: 0 })
    const respond = (from: number, client: Address, index: bigint) =>
      mined(
        chain,
        wallet(chain, from).writeContract({
          address: r.reputation,
          abi,
          functionName: 'appendResponse',
          args: [0n, client, index, 'ipfs://refund', keccak256(toHex('refund'))],
        }),
      )
    const receipt = await respond(1, alice, 1n)
    expect(parseEventLogs({ abi, logs: receipt.logs }).map((l) => [l.eventName, l.args])).toEqual([
      [
        'ResponseAppended',
        {
          agentId: 0n,
          clientAddress: alice,
          feedbackIndex: 1n,
          responder: owner,
          responseURI: 'ipfs://refund',
          responseHash: keccak256(toHex('refund')),
        },
      ],
    ])
    await respond(1, alice, 1n)
    await respond(5, alice, 1n)
    await respond(5, alice, 2n)
    await respond(5, bob, 1n)
    const count = (client: Address, index: bigint, responders: readonly Address[]) =>
      chain.client.readContract({ address: r.reputation, abi, functionName: 'getResponseCount', args: [0n, client, index, responders] })
    expect(await count(alice, 1n, [])).toBe(3n)
    expect(await count(alice, 1n, [owner])).toBe(2n)
    expect(await count(alice, 1n, [carol])).toBe(1n)
    expect(await count(alice, 0n, [])).toBe(4n)
    expect(await count(alice, 0n, [carol])).toBe(2n)
    expect(await count(zeroAddress, 0n, [])).toBe(5n)
    expect(await count(zeroAddress, 0n, [owner])).toBe(2n)
    expect(await count(bob, 1n, [owner])).toBe(0n)
  })

  chainTest('error: "index must be > 0", "Empty URI", "index out of bounds"', async ({ chain }) => {
    const r = await setup(chain)
    await give(chain, r, 3, { value: 5n, decimals: 0 })
    const attempt = (client: Address, index: bigint, uri: string) =>
      revertOf(simulate(chain, 1, r.reputation, 'appendResponse', [0n, client, index, uri, zeroHash]))
    expect(await attempt(alice, 0n, 'ipfs://r')).toMatchObject({ reason: 'index must be > 0' })
    expect(await attempt(alice, 1n, '')).toMatchObject({ reason: 'Empty URI' })
    expect(await attempt(alice, 2n, 'ipfs://r')).toMatchObject({ reason: 'index out of bounds' })
    expect(await attempt(bob, 1n, 'ipfs://r')).toMatchObject({ reason: 'index out of bounds' })
  })
})

describe('readFeedback', () => {
  chainTest('error: "index must be > 0", "index out of bounds"', async ({ chain }) => {
    const r = await setup(chain)
    const read = (i: bigint) =>
      revertOf(chain.client.readContract({ address: r.reputation, abi, functionName: 'readFeedback', args: [0n, alice, i] }))
    expect(await read(0n)).toMatchObject({ reason: 'index must be > 0' })
    expect(await read(1n)).toMatchObject({ reason: 'index out of bounds' })
  })
})

describe('getSummary', () => {
  chainTest('default: normalises to 18 decimals, averages, answers in the most frequent decimals', async ({ chain }) => {
    const r = await setup(chain)
    // 87, 99.77, 90 → mean 92.2566… → mode decimals 0 → 92
    await give(chain, r, 3, { value: 87n, decimals: 0 })
    await give(chain, r, 4, { value: 9977n, decimals: 2 })
    await give(chain, r, 4, { value: 90n, decimals: 0 })
    expect(await summary(chain, r, [alice, bob])).toEqual([3n, 92n, 0])
    expect(await summary(chain, r, [bob])).toEqual([2n, 94n, 0]) // tie (0 and 2 once each) → smallest decimals; 94.885 → 94
  })

  chainTest('behavior: rounds toward zero for negative averages', async ({ chain }) => {
    const r = await setup(chain)
    // −0.5 and −0.2 → mean −0.35 → in 1 decimal: −3 (not −4)
    await give(chain, r, 3, { value: -5n, decimals: 1 })
    await give(chain, r, 3, { value: -2n, decimals: 1 })
    expect(await summary(chain, r, [alice])).toEqual([2n, -3n, 1])
  })

  chainTest('behavior: tag filters (empty = any), revoked feedback excluded, only the listed clients count', async ({ chain }) => {
    const r = await setup(chain)
    await give(chain, r, 3, { value: 10n, decimals: 0, tag1: 'starred', tag2: 'a' })
    await give(chain, r, 3, { value: 20n, decimals: 0, tag1: 'starred', tag2: 'b' })
    await give(chain, r, 4, { value: 60n, decimals: 0, tag1: 'uptime' })
    await give(chain, r, 5, { value: 100n, decimals: 0, tag1: 'starred' })
    expect(await summary(chain, r, [alice, bob])).toEqual([3n, 30n, 0])
    expect(await summary(chain, r, [alice, bob], 'starred')).toEqual([2n, 15n, 0])
    expect(await summary(chain, r, [alice, bob], 'starred', 'b')).toEqual([1n, 20n, 0])
    expect(await summary(chain, r, [alice, bob], '', 'a')).toEqual([1n, 10n, 0])
    await mined(chain, wallet(chain, 3).writeContract({ address: r.reputation, abi, functionName: 'revokeFeedback', args: [0n, 2n] }))
    expect(await summary(chain, r, [alice, bob], 'starred')).toEqual([1n, 10n, 0])
    expect(await summary(chain, r, [alice], 'nothing')).toEqual([0n, 0n, 0])
  })

  chainTest('error: "clientAddresses required" for an empty client list', async ({ chain }) => {
    const r = await setup(chain)
    expect(await revertOf(summary(chain, r, []))).toMatchObject({ reason: 'clientAddresses required' })
  })

  chainTest('error: an average that does not fit int128 reverts SafeCastOverflowedIntDowncast instead of wrapping', async ({ chain }) => {
    const r = await setup(chain)
    await give(chain, r, 3, { value: 10n ** 38n, decimals: 0 })
    await give(chain, r, 4, { value: 1n, decimals: 18 })
    await give(chain, r, 4, { value: 1n, decimals: 18 })
    expect(await revertOf(summary(chain, r, [alice, bob]))).toMatchObject({ errorName: 'SafeCastOverflowedIntDowncast' })
  })
})

describe('readAllFeedback', () => {
  chainTest('default: every client (in first-feedback order) with indexes; revoked only on request; tag filter', async ({ chain }) => {
    const r = await setup(chain)
    await give(chain, r, 4, { value: 1n, decimals: 0, tag1: 'x' })
    await give(chain, r, 3, { value: 2n, decimals: 1, tag1: 'y', tag2: 'z' })
    await give(chain, r, 4, { value: -3n, decimals: 2, tag1: 'x' })
    await mined(chain, wallet(chain, 4).writeContract({ address: r.reputation, abi, functionName: 'revokeFeedback', args: [0n, 1n] }))
    const all = (clients: readonly Address[], tag1: string, includeRevoked: boolean) =>
      chain.client.readContract({
        address: r.reputation,
        abi,
        functionName: 'readAllFeedback',
        args: [0n, clients, tag1, '', includeRevoked],
      })
    expect(await all([], '', true)).toEqual([
      [bob, bob, alice],
      [1n, 2n, 1n],
      [1n, -3n, 2n],
      [0, 2, 1],
      ['x', 'x', 'y'],
      ['', '', 'z'],
      [true, false, false],
    ])
    expect(await all([], '', false)).toEqual([
      [bob, alice],
      [2n, 1n],
      [-3n, 2n],
      [2, 1],
      ['x', 'y'],
      ['', 'z'],
      [false, false],
    ])
    expect(await all([alice], '', true)).toEqual([[alice], [1n], [2n], [1], ['y'], ['z'], [false]])
    expect(await all([], 'x', true)).toEqual([
      [bob, bob],
      [1n, 2n],
      [1n, -3n],
      [0, 2],
      ['x', 'x'],
      ['', ''],
      [true, false],
    ])
    expect(await all([carol], '', true)).toEqual([[], [], [], [], [], [], []])
  })
})
