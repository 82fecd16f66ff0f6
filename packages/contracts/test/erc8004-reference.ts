/**
 * ERC-8004 selectors and event topics as listed in the team's reference notes
 * (shared/reference/erc8004.md §1.1 Identity Registry, §1.2 Reputation Registry, §1.3 Validation Registry,
 * and the appendix for `getIdentityRegistry()`), transcribed by hand. The compatibility test checks the
 * compiled registries against these numbers, so a change to a signature cannot go unnoticed.
 */
import type { Hex } from 'viem'

export type ReferenceEntry = { signature: string; selector: Hex }
export type ReferenceEvent = { signature: string; topic0: Hex }

/** §1.1 Identity Registry functions. */
export const identityFunctions: readonly ReferenceEntry[] = [
  { signature: 'register()', selector: '0x1aa3a008' },
  { signature: 'register(string)', selector: '0xf2c298be' },
  { signature: 'register(string,(string,bytes)[])', selector: '0x8ea42286' },
  { signature: 'setAgentURI(uint256,string)', selector: '0x0af28bd3' },
  { signature: 'tokenURI(uint256)', selector: '0xc87b56dd' },
  { signature: 'getMetadata(uint256,string)', selector: '0xcb4799f2' },
  { signature: 'setMetadata(uint256,string,bytes)', selector: '0x466648da' },
  { signature: 'setAgentWallet(uint256,address,uint256,bytes)', selector: '0x2d1ef5ae' },
  { signature: 'getAgentWallet(uint256)', selector: '0x00339509' },
  { signature: 'unsetAgentWallet(uint256)', selector: '0x3fddcf19' },
  { signature: 'isAuthorizedOrOwner(address,uint256)', selector: '0xd95e72be' },
]

/** §1.1 Identity Registry events. */
export const identityEvents: readonly ReferenceEvent[] = [
  { signature: 'Registered(uint256,string,address)', topic0: '0xca52e62c367d81bb2e328eb795f7c7ba24afb478408a26c0e201d155c449bc4a' },
  { signature: 'MetadataSet(uint256,string,string,bytes)', topic0: '0x2c149ed548c6d2993cd73efe187df6eccabe4538091b33adbd25fafdb8a1468b' },
  { signature: 'URIUpdated(uint256,string,address)', topic0: '0x3a2c7fffc2cba7582c690e3b82c453ea02a308326a98a3ad7576c606336409fb' },
]

/** §1.1: the indexed-string topic of `MetadataSet` for the reserved key, keccak256("agentWallet"). */
export const agentWalletKeyTopic: Hex = '0x2ac6109326e720d1435c0db66f7e35eda7839f52b6f1f5520a60788e132b4e39'

/** §1.1: EIP-712 typehash of AgentWalletSet(uint256 agentId,address newWallet,address owner,uint256 deadline). */
export const agentWalletSetTypehash: Hex = '0x678b53cd718d595370ab070ebf48edfdcd834beac116bf23e625fc7f4d5b7d32'

/** §1.2 Reputation Registry functions (+ appendix `getIdentityRegistry()`). */
export const reputationFunctions: readonly ReferenceEntry[] = [
  { signature: 'giveFeedback(uint256,int128,uint8,string,string,string,string,bytes32)', selector: '0x3c036a7e' },
  { signature: 'revokeFeedback(uint256,uint64)', selector: '0x4ab3ca99' },
  { signature: 'appendResponse(uint256,address,uint64,string,bytes32)', selector: '0xc2349ab2' },
  { signature: 'getSummary(uint256,address[],string,string)', selector: '0x81bbba58' },
  { signature: 'readFeedback(uint256,address,uint64)', selector: '0x232b0810' },
  { signature: 'readAllFeedback(uint256,address[],string,string,bool)', selector: '0xd9d84224' },
  { signature: 'getResponseCount(uint256,address,uint64,address[])', selector: '0x6e04cacd' },
  { signature: 'getClients(uint256)', selector: '0x42dd519c' },
  { signature: 'getLastIndex(uint256,address)', selector: '0xf2d81759' },
  { signature: 'getIdentityRegistry()', selector: '0xbc4d861b' },
]

/** §1.2 Reputation Registry events. */
export const reputationEvents: readonly ReferenceEvent[] = [
  {
    signature: 'NewFeedback(uint256,address,uint64,int128,uint8,string,string,string,string,string,bytes32)',
    topic0: '0x6a4a61743519c9d648a14e6493f47dbe3ff1aa29e7785c96c8326a205e58febc',
  },
  { signature: 'FeedbackRevoked(uint256,address,uint64)', topic0: '0x25156fd3288212246d8b008d5921fde376c71ed14ac2e072a506eb06fde6d09d' },
  {
    signature: 'ResponseAppended(uint256,address,uint64,address,string,bytes32)',
    topic0: '0xb1c6be0b5b8aef6539e2fac0fd131a2faa7b49edf8e505b5eb0ad487d56051d4',
  },
]

/** §1.3 Validation Registry functions (+ appendix `getIdentityRegistry()`). */
export const validationFunctions: readonly ReferenceEntry[] = [
  { signature: 'validationRequest(address,uint256,string,bytes32)', selector: '0xaaf400c4' },
  { signature: 'validationResponse(bytes32,uint8,string,bytes32,string)', selector: '0x3d659a96' },
  { signature: 'getValidationStatus(bytes32)', selector: '0xff2febfc' },
  { signature: 'getSummary(uint256,address[],string)', selector: '0x1b7cabd6' },
  { signature: 'getAgentValidations(uint256)', selector: '0x8d5d0c2d' },
  { signature: 'getValidatorRequests(address)', selector: '0x4bf3158c' },
  { signature: 'getIdentityRegistry()', selector: '0xbc4d861b' },
]

/** §1.3 Validation Registry events. */
export const validationEvents: readonly ReferenceEvent[] = [
  {
    signature: 'ValidationRequest(address,uint256,string,bytes32)',
    topic0: '0x530436c3634a98e1e626b0898be2f1e9980cc1bd2a78c07a0aba52d0a48a5059',
  },
  {
    signature: 'ValidationResponse(address,uint256,bytes32,uint8,string,bytes32,string)',
    topic0: '0xafddf629e874ccc3963b6a888c477bd464a6c8525024fc88759ea3b2326349ae',
  },
]
