import { readFileSync } from 'node:fs'
import { type Abi, keccak256, toEventSelector, toFunctionSelector, toHex } from 'viem'
import { describe, expect, test } from 'vitest'
import { identityRegistryAbi, reputationRegistryAbi, validationRegistryAbi } from '../src/generated/index.js'
import {
  agentWalletKeyTopic,
  agentWalletSetTypehash,
  identityEvents,
  identityFunctions,
  type ReferenceEntry,
  type ReferenceEvent,
  reputationEvents,
  reputationFunctions,
  validationEvents,
  validationFunctions,
} from './erc8004-reference.js'

function methodIdentifiers(name: string): Record<string, string> {
  const artifact = JSON.parse(readFileSync(new URL(`../artifacts/${name}.json`, import.meta.url), 'utf8')) as {
    methodIdentifiers: Record<string, string>
  }
  return artifact.methodIdentifiers
}

const registries: { name: string; abi: Abi; functions: readonly ReferenceEntry[]; events: readonly ReferenceEvent[] }[] = [
  { name: 'IdentityRegistry', abi: identityRegistryAbi, functions: identityFunctions, events: identityEvents },
  { name: 'ReputationRegistry', abi: reputationRegistryAbi, functions: reputationFunctions, events: reputationEvents },
  { name: 'ValidationRegistry', abi: validationRegistryAbi, functions: validationFunctions, events: validationEvents },
]

describe('reference list', () => {
  test('behavior: every transcribed selector and topic is the keccak of its signature', () => {
    for (const { functions, events } of registries) {
      for (const f of functions) expect(toFunctionSelector(f.signature), f.signature).toBe(f.selector)
      for (const e of events) expect(toEventSelector(e.signature), e.signature).toBe(e.topic0)
    }
    expect(keccak256(toHex('agentWallet'))).toBe(agentWalletKeyTopic)
    expect(keccak256(toHex('AgentWalletSet(uint256 agentId,address newWallet,address owner,uint256 deadline)'))).toBe(
      agentWalletSetTypehash,
    )
  })
})

describe.each(registries)('$name', ({ name, abi, functions, events }) => {
  test('behavior: the compiled ABI has every reference function selector', () => {
    const selectors = new Set(abi.filter((item) => item.type === 'function').map((item) => toFunctionSelector(item)))
    for (const f of functions) expect(selectors.has(f.selector), f.signature).toBe(true)
  })

  test("behavior: the artifact's methodIdentifiers map every reference signature to its selector", () => {
    const ids = methodIdentifiers(name)
    for (const f of functions) expect(`0x${ids[f.signature]}`, f.signature).toBe(f.selector)
  })

  test('behavior: every reference event is in the ABI with the same topic0', () => {
    const topics = new Set(abi.filter((item) => item.type === 'event').map((item) => toEventSelector(item)))
    for (const e of events) expect(topics.has(e.topic0), e.signature).toBe(true)
  })

  test('behavior: getVersion() is "2.0.0" and the function set is exactly the reference surface', () => {
    const ids = methodIdentifiers(name)
    expect(ids['getVersion()']).toBe('0d8e6e2c')
    const own = Object.keys(ids).filter((sig) => !erc721Surface.has(sig) && sig !== 'getVersion()')
    expect(own.sort()).toEqual(functions.map((f) => f.signature).sort())
  })
})

/** ERC-721, ERC-165 and ERC-5267 functions the Identity Registry inherits from OpenZeppelin. */
const erc721Surface = new Set([
  'approve(address,uint256)',
  'balanceOf(address)',
  'eip712Domain()',
  'getApproved(uint256)',
  'isApprovedForAll(address,address)',
  'name()',
  'ownerOf(uint256)',
  'safeTransferFrom(address,address,uint256)',
  'safeTransferFrom(address,address,uint256,bytes)',
  'setApprovalForAll(address,bool)',
  'supportsInterface(bytes4)',
  'symbol()',
  'transferFrom(address,address,uint256)',
])

describe('IdentityRegistry events', () => {
  test('behavior: MetadataSet indexes the key as a string topic and Registered indexes agentId and owner', () => {
    const metadataSet = identityRegistryAbi.find((item) => item.type === 'event' && item.name === 'MetadataSet')
    expect(metadataSet?.type === 'event' && metadataSet.inputs.map((i) => [i.name, i.indexed])).toEqual([
      ['agentId', true],
      ['indexedMetadataKey', true],
      ['metadataKey', false],
      ['metadataValue', false],
    ])
    const registered = identityRegistryAbi.find((item) => item.type === 'event' && item.name === 'Registered')
    expect(registered?.type === 'event' && registered.inputs.map((i) => [i.name, i.indexed])).toEqual([
      ['agentId', true],
      ['agentURI', false],
      ['owner', true],
    ])
  })
})
