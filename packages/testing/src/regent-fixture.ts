/**
 * Shared fixture of the RegentAppAuth / RegentSuccession / AgentTreasury tests (DESIGN.md §9, §10):
 * deploys the real contracts on the worker's anvil, and gives small helpers to send a transaction
 * and wait for it, to assert a revert by custom-error name and arguments, to move the chain clock,
 * and to sign EIP-712 succession certificates with anvil's test accounts.
 */

import {
  agentTreasuryAbi,
  deployRegent as deployAll,
  deployContract,
  identityRegistryAbi,
  regentAppAuthAbi,
  regentSuccessionAbi,
  type SuccessionCertificate,
  successionCertificateTypes,
  successionDomain as successionDomainOf,
  testERC20Abi,
  testERC20Bytecode,
} from '@regent-tee/contracts'
import {
  type Abi,
  type Address,
  BaseError,
  type ContractEventName,
  ContractFunctionRevertedError,
  concat,
  encodeAbiParameters,
  getAddress,
  type Hex,
  keccak256,
  type Log,
  parseEventLogs,
  sha256,
  type TransactionReceipt,
  zeroHash,
} from 'viem'
import { expect } from 'vitest'
import { type Chain_, testAccounts } from './chain.js'

/** Roles by anvil account index. */
export const role = {
  governance: 0,
  appOwner: 1,
  agentOwner: 2,
  agentKey: 3,
  newKey: 4,
  stranger: 5,
  contractWalletKey: 6,
  relayer: 9,
} as const

/** Every error and event any of our contracts can surface, so reverts from a callee decode too. */
export const allAbi = [
  ...regentAppAuthAbi,
  ...regentSuccessionAbi,
  ...agentTreasuryAbi,
  ...identityRegistryAbi,
  ...testERC20Abi,
] as const satisfies Abi

/** Deployed addresses of one fixture. */
export type Regent = {
  identity: Address
  appAuth: Address
  succession: Address
  treasury: Address
}

/** Deploys the whole on-chain layer with the library's `deployRegent` (as every other caller does). */
export async function deployRegent(chain: Chain_, { kmsTimelock = 0n }: { kmsTimelock?: bigint } = {}): Promise<Regent> {
  const { contracts } = await deployAll(wallet(chain, role.governance), chain.client, { kmsTimelock })
  return {
    identity: contracts.identityRegistry,
    appAuth: contracts.appAuth,
    succession: contracts.succession,
    treasury: contracts.treasury,
  }
}

/** Deploys a TestERC20 with a transfer fee of `feeBps` basis points. */
export async function deployToken(chain: Chain_, feeBps = 0): Promise<Address> {
  const { address } = await deployContract(wallet(chain, role.governance), chain.client, {
    name: 'TestERC20',
    abi: testERC20Abi,
    bytecode: testERC20Bytecode,
    args: ['Test', 'TST', feeBps],
  })
  return address
}

/** The wallet client of anvil account `index` (asserting it exists). */
export function wallet(chain: Chain_, index: number): Chain_['wallets'][number] {
  const w = chain.wallets[index]
  if (!w) throw new Error(`no anvil wallet ${index}`)
  return w
}

/** The local account of anvil account `index`. */
export function account(index: number): (typeof testAccounts)[number] {
  const a = testAccounts[index]
  if (!a) throw new Error(`no anvil account ${index}`)
  return a
}

/** Waits for a sent transaction and asserts it succeeded. */
export async function mined(chain: Chain_, hash: Promise<Hex>): Promise<TransactionReceipt> {
  const receipt = await chain.client.waitForTransactionReceipt({ hash: await hash })
  expect(receipt.status).toBe('success')
  return receipt
}

/** Asserts that `call` reverts with custom error `errorName` (and, when given, exactly these `args`). */
export async function expectRevert(call: Promise<unknown>, errorName: string, args?: readonly unknown[]): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `expected a revert with ${errorName}`).toBeInstanceOf(BaseError)
  const reverted = (error as BaseError).walk((e) => e instanceof ContractFunctionRevertedError)
  expect(reverted, `expected a decoded revert with ${errorName}, got: ${String(error)}`).toBeInstanceOf(ContractFunctionRevertedError)
  const data = (reverted as ContractFunctionRevertedError).data
  expect(data?.errorName).toBe(errorName)
  if (args) expect(data?.args ?? []).toEqual(args)
}

/** The decoded events named `eventName` of a receipt. */
export function eventsOf<const name extends ContractEventName<typeof allAbi>>(receipt: { logs: Log[] }, eventName: name) {
  return parseEventLogs({ abi: allAbi, logs: receipt.logs, eventName })
}

/** The timestamp of the latest block. */
export async function now(chain: Chain_): Promise<bigint> {
  return (await chain.client.getBlock()).timestamp
}

/** Mines one block whose timestamp is exactly `timestamp`. */
export async function mineAt(chain: Chain_, timestamp: bigint): Promise<void> {
  await chain.testClient.setNextBlockTimestamp({ timestamp })
  await chain.testClient.mine({ blocks: 1 })
}

/** Moves the clock forward by `seconds` and mines a block. */
export async function elapse(chain: Chain_, seconds: bigint): Promise<void> {
  await chain.testClient.increaseTime({ seconds: Number(seconds) })
  await chain.testClient.mine({ blocks: 1 })
}

/** The app id RegentAppAuth derives from (owner, salt), computed off-chain. */
export function appIdOf(owner: Address, salt: Hex): Address {
  const hash = keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'bytes32' }], [owner, salt]))
  return getAddress(`0x${hash.slice(26)}`)
}

/** A deterministic bytes32 for a label (compose hashes, quote hashes, … in tests). */
export function b32(label: string): Hex {
  return keccak256(new TextEncoder().encode(label))
}

/** A deterministic OS image measurement for a label: 192 bytes standing for MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2. */
export function registers(label: string): Hex {
  const part = b32(label).slice(2)
  return `0x${part.repeat(6)}`
}

/** dstack's mr_system of a measurement as RegentAppAuth records it: SHA-256(registers ‖ 0³²). */
export function mrSystemOf(measurement: Hex): Hex {
  return sha256(concat([measurement, zeroHash]))
}

/** A RegentSuccession instance. */
export type Instance = { signer: Address; composeHash: Hex; instanceId: Address; quoteHash: Hex; host: string }

/** An instance signing with `signer`, running `composeHash`, labelled `label`. */
export function instance(signer: Address, composeHash: Hex, label: string): Instance {
  return {
    signer,
    composeHash,
    instanceId: appIdOf(signer, b32(`instance:${label}`)),
    quoteHash: b32(`quote:${label}`),
    host: `https://${label}.example`,
  }
}

/** A SuccessionCertificate (EIP-712 message). */
export type Certificate = SuccessionCertificate

/** The certificate handing `agentId` at `nextEpoch` to instance `next`, valid for an hour from `from`. */
export function certificateFor(agentId: bigint, oldKey: Address, next: Instance, nextEpoch: bigint, from: bigint): Certificate {
  return {
    agentId,
    oldKey,
    newKey: next.signer,
    newComposeHash: next.composeHash,
    quoteHash: next.quoteHash,
    nextEpoch,
    deadline: from + 3600n,
  }
}

/** The EIP-712 types of a succession certificate (from the library). */
export const certificateTypes = successionCertificateTypes

/** The EIP-712 domain of a RegentSuccession deployment. */
export function successionDomain(chain: Chain_, succession: Address) {
  return successionDomainOf({ chainId: chain.chain.id, address: succession })
}

/** Signs `cert` with anvil account `signerIndex`. */
export function signCertificate(chain: Chain_, succession: Address, signerIndex: number, cert: Certificate): Promise<Hex> {
  return account(signerIndex).signTypedData({
    domain: successionDomain(chain, succession),
    types: certificateTypes,
    primaryType: 'SuccessionCertificate',
    message: cert,
  })
}

/** An approved, active compose hash C1 for a fresh app owned by `role.appOwner` (timelock 0). */
export const composeV1 = b32('compose:v1')

/** What {@link setupAgent} returns. */
export type Agent = { regent: Regent; appId: Address; agentId: bigint; first: Instance }

/**
 * Registers an app (timelock `timelock`, owned by `role.appOwner`) with `composeV1` approved and
 * active, registers an ERC-8004 agent owned by `role.agentOwner`, gives the app owner's consent to its
 * enrollment (unless `consent: false`) and (unless `enroll: false`) enrolls it with `role.agentKey` as its first signer.
 */
export async function setupAgent(
  chain: Chain_,
  regent: Regent,
  {
    timelock = 0n,
    enroll = true,
    consent = true,
    salt = zeroHash,
  }: { timelock?: bigint; enroll?: boolean; consent?: boolean; salt?: Hex } = {},
): Promise<Agent> {
  const owner = wallet(chain, role.appOwner)
  const appId = appIdOf(owner.account.address, salt)
  if (!(await chain.client.readContract({ address: regent.appAuth, abi: regentAppAuthAbi, functionName: 'isRegistered', args: [appId] }))) {
    await mined(
      chain,
      owner.writeContract({ address: regent.appAuth, abi: regentAppAuthAbi, functionName: 'registerApp', args: [salt, 0n] }),
    )
    await mined(
      chain,
      owner.writeContract({ address: regent.appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [appId, composeV1] }),
    )
    if (timelock > 0n) {
      await mined(
        chain,
        owner.writeContract({ address: regent.appAuth, abi: regentAppAuthAbi, functionName: 'setTimelock', args: [appId, timelock] }),
      )
    }
  }
  const agentOwner = wallet(chain, role.agentOwner)
  const registered = await mined(
    chain,
    agentOwner.writeContract({ address: regent.identity, abi: identityRegistryAbi, functionName: 'register', args: ['ipfs://agent'] }),
  )
  const [event] = parseEventLogs({ abi: identityRegistryAbi, logs: registered.logs, eventName: 'Registered' })
  if (!event) throw new Error('IdentityRegistry emitted no Registered event')
  const agentId = event.args.agentId
  const first = instance(account(role.agentKey).address, composeV1, `first-${agentId}`)
  if (consent) {
    // RegentSuccession.enroll needs the app owner's consent (RegentAppAuth.mayEnroll).
    await mined(
      chain,
      owner.writeContract({
        address: regent.appAuth,
        abi: regentAppAuthAbi,
        functionName: 'setEnrollmentConsent',
        args: [appId, agentId, true],
      }),
    )
  }
  if (enroll) {
    await mined(
      chain,
      agentOwner.writeContract({
        address: regent.succession,
        abi: regentSuccessionAbi,
        functionName: 'enroll',
        args: [agentId, appId, first],
      }),
    )
  }
  return { regent, appId, agentId, first }
}
