import { type Chain_, chainTest, testAccounts } from '@regent-tee/testing/chain'
import { type Address, type Hex, keccak256, parseEventLogs, toHex, zeroAddress, zeroHash } from 'viem'
import { describe, expect } from 'vitest'
import { deployContract } from '../src/deploy.js'
import { identityRegistryAbi, validationRegistryAbi, validationRegistryBytecode } from '../src/generated/index.js'
import { deployRegistries, identityErrors, mined, now, type Registries, revertOf, wallet } from './erc8004.js'

const abi = validationRegistryAbi
const abiWithIdentityErrors = [...validationRegistryAbi, ...identityErrors]

function address(i: number): Address {
  const a = testAccounts[i]
  if (!a) throw new Error(`no account ${i}`)
  return a.address
}

const [operator, validatorA, validatorB, stranger] = [address(2), address(3), address(4), address(5)]
const requestA: Hex = keccak256(toHex('request A'))
const requestB: Hex = keccak256(toHex('request B'))
const requestC: Hex = keccak256(toHex('request C'))

/** Registries plus agent 0 owned by account 1, with account 2 as operator. */
async function setup(chain: Chain_): Promise<Registries> {
  const r = await deployRegistries(chain)
  await mined(
    chain,
    wallet(chain, 1).writeContract({ address: r.identity, abi: identityRegistryAbi, functionName: 'register', args: ['ipfs://agent'] }),
  )
  await mined(
    chain,
    wallet(chain, 1).writeContract({
      address: r.identity,
      abi: identityRegistryAbi,
      functionName: 'setApprovalForAll',
      args: [operator, true],
    }),
  )
  return r
}

function request(chain: Chain_, r: Registries, from: number, validator: Address, hash: Hex, agentId = 0n) {
  return mined(
    chain,
    wallet(chain, from).writeContract({
      address: r.validation,
      abi,
      functionName: 'validationRequest',
      args: [validator, agentId, 'ipfs://req', hash],
    }),
  )
}

function respond(chain: Chain_, r: Registries, from: number, hash: Hex, response: number, tag = '') {
  return mined(
    chain,
    wallet(chain, from).writeContract({
      address: r.validation,
      abi,
      functionName: 'validationResponse',
      args: [hash, response, 'ipfs://resp', keccak256(toHex(`resp ${response}`)), tag],
    }),
  )
}

function simulate(chain: Chain_, from: number, to: Address, functionName: string, args: readonly unknown[]) {
  return chain.client.simulateContract({
    account: testAccounts[from],
    address: to,
    abi: abiWithIdentityErrors,
    functionName,
    args,
  } as never)
}

function status(chain: Chain_, r: Registries, hash: Hex) {
  return chain.client.readContract({ address: r.validation, abi, functionName: 'getValidationStatus', args: [hash] })
}

describe('ValidationRegistry', () => {
  chainTest('default: bound to its identity registry, version 2.0.0', async ({ chain }) => {
    const r = await deployRegistries(chain)
    expect(await chain.client.readContract({ address: r.validation, abi, functionName: 'getIdentityRegistry' })).toBe(r.identity)
    expect(await chain.client.readContract({ address: r.validation, abi, functionName: 'getVersion' })).toBe('2.0.0')
  })

  chainTest('error: the zero identity registry is refused at deployment ("bad identity")', async ({ chain }) => {
    const deploying = deployContract(wallet(chain, 0), chain.client, {
      name: 'ValidationRegistry',
      abi,
      bytecode: validationRegistryBytecode,
      args: [zeroAddress],
    })
    await expect(deploying).rejects.toThrow(/bad identity/)
  })
})

describe('validationRequest', () => {
  chainTest(
    'default: the owner requests; event, pending status (response 0, lastUpdate = request time) and both indexes',
    async ({ chain }) => {
      const r = await setup(chain)
      const receipt = await request(chain, r, 1, validatorA, requestA)
      expect(parseEventLogs({ abi, logs: receipt.logs }).map((l) => [l.eventName, l.args])).toEqual([
        ['ValidationRequest', { validatorAddress: validatorA, agentId: 0n, requestURI: 'ipfs://req', requestHash: requestA }],
      ])
      const { timestamp } = await chain.client.getBlock({ blockNumber: receipt.blockNumber })
      expect(await status(chain, r, requestA)).toEqual([validatorA, 0n, 0, zeroHash, '', timestamp])
      await request(chain, r, 2, validatorA, requestB) // an operator may request too
      expect(await chain.client.readContract({ address: r.validation, abi, functionName: 'getAgentValidations', args: [0n] })).toEqual([
        requestA,
        requestB,
      ])
      expect(
        await chain.client.readContract({ address: r.validation, abi, functionName: 'getValidatorRequests', args: [validatorA] }),
      ).toEqual([requestA, requestB])
      expect(
        await chain.client.readContract({ address: r.validation, abi, functionName: 'getValidatorRequests', args: [validatorB] }),
      ).toEqual([])
    },
  )

  chainTest('error: "bad validator", "exists", "Not authorized", ERC721NonexistentToken', async ({ chain }) => {
    const r = await setup(chain)
    await request(chain, r, 1, validatorA, requestA)
    const attempt = (from: number, validator: Address, agentId: bigint, hash: Hex) =>
      revertOf(simulate(chain, from, r.validation, 'validationRequest', [validator, agentId, 'ipfs://req', hash]))
    expect(await attempt(1, zeroAddress, 0n, requestB)).toMatchObject({ reason: 'bad validator' })
    expect(await attempt(1, validatorB, 0n, requestA)).toMatchObject({ reason: 'exists' })
    expect(await attempt(5, validatorA, 0n, requestB)).toMatchObject({ reason: 'Not authorized' })
    expect(await attempt(1, validatorA, 3n, requestB)).toMatchObject({ errorName: 'ERC721NonexistentToken', args: [3n] })
  })
})

describe('validationResponse', () => {
  chainTest('default: the validator answers; later answers overwrite (latest wins)', async ({ chain }) => {
    const r = await setup(chain)
    await request(chain, r, 1, validatorA, requestA)
    const first = await respond(chain, r, 3, requestA, 40, 'soft')
    expect(parseEventLogs({ abi, logs: first.logs }).map((l) => [l.eventName, l.args])).toEqual([
      [
        'ValidationResponse',
        {
          validatorAddress: validatorA,
          agentId: 0n,
          requestHash: requestA,
          response: 40,
          responseURI: 'ipfs://resp',
          responseHash: keccak256(toHex('resp 40')),
          tag: 'soft',
        },
      ],
    ])
    await chain.testClient.setNextBlockTimestamp({ timestamp: (await now(chain)) + 100n })
    const second = await respond(chain, r, 3, requestA, 100, 'hard')
    const { timestamp } = await chain.client.getBlock({ blockNumber: second.blockNumber })
    expect(await status(chain, r, requestA)).toEqual([validatorA, 0n, 100, keccak256(toHex('resp 100')), 'hard', timestamp])
    await respond(chain, r, 3, requestA, 0)
    expect((await status(chain, r, requestA))[2]).toBe(0)
  })

  chainTest('error: "unknown" hash, "not validator" (also the agent owner), "resp>100"', async ({ chain }) => {
    const r = await setup(chain)
    await request(chain, r, 1, validatorA, requestA)
    const attempt = (from: number, hash: Hex, response: number) =>
      revertOf(simulate(chain, from, r.validation, 'validationResponse', [hash, response, '', zeroHash, '']))
    expect(await attempt(3, requestB, 50)).toMatchObject({ reason: 'unknown' })
    expect(await attempt(4, requestA, 50)).toMatchObject({ reason: 'not validator' })
    expect(await attempt(1, requestA, 50)).toMatchObject({ reason: 'not validator' })
    expect(await attempt(3, requestA, 101)).toMatchObject({ reason: 'resp>100' })
    expect(await attempt(3, requestA, 255)).toMatchObject({ reason: 'resp>100' })
  })
})

describe('getValidationStatus', () => {
  chainTest('error: "unknown" for a hash never requested', async ({ chain }) => {
    const r = await setup(chain)
    expect(await revertOf(status(chain, r, requestC))).toMatchObject({ reason: 'unknown' })
  })
})

describe('getSummary', () => {
  chainTest('default: count and floor average of answered requests, filtered by validators and tag (empty = all)', async ({ chain }) => {
    const r = await setup(chain)
    await request(chain, r, 1, validatorA, requestA)
    await request(chain, r, 1, validatorB, requestB)
    await request(chain, r, 1, validatorB, requestC) // never answered: ignored
    await respond(chain, r, 3, requestA, 100, 'hard')
    await respond(chain, r, 4, requestB, 55, 'soft')
    const summary = (validators: readonly Address[], tag: string) =>
      chain.client.readContract({ address: r.validation, abi, functionName: 'getSummary', args: [0n, validators, tag] })
    expect(await summary([], '')).toEqual([2n, 77]) // 155 / 2 = 77.5 → 77
    expect(await summary([validatorB], '')).toEqual([1n, 55])
    expect(await summary([validatorA, validatorB], 'hard')).toEqual([1n, 100])
    expect(await summary([], 'none')).toEqual([0n, 0])
    expect(await summary([stranger], '')).toEqual([0n, 0])
  })
})
