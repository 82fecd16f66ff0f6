import { type Chain_, chainTest, testAccounts } from '@regent-tee/testing/chain'
import { type Address, encodePacked, getAddress, type Hex, keccak256, parseEventLogs, toHex, zeroAddress } from 'viem'
import { describe, expect } from 'vitest'
import { deployContract } from '../src/deploy.js'
import { identityRegistryAbi, testERC1271WalletAbi, testERC1271WalletBytecode } from '../src/generated/index.js'
import { deployRegistries, mined, now, revertOf, signAgentWalletSet, wallet } from './erc8004.js'
import { agentWalletKeyTopic } from './erc8004-reference.js'

const abi = identityRegistryAbi

function account(i: number) {
  const a = testAccounts[i]
  if (!a) throw new Error(`no account ${i}`)
  return a
}

const [owner, operator, stranger, newWallet, approved] = [account(1), account(2), account(3), account(4), account(5)]

/** Deploys the registry and registers one agent (id 0) owned by `owner` with agentURI "ipfs://a". */
async function setup(chain: Chain_) {
  const { identity } = await deployRegistries(chain)
  await mined(chain, wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'register', args: ['ipfs://a'] }))
  return identity
}

function read<const F extends 'getAgentWallet' | 'getMetadata' | 'tokenURI' | 'ownerOf' | 'isAuthorizedOrOwner'>(
  chain: Chain_,
  address: Address,
  functionName: F,
  args: readonly unknown[],
) {
  return chain.client.readContract({ address, abi, functionName, args } as never) as Promise<unknown>
}

/** Simulates a write from test account `i` (an eth_call: decodes the revert, changes nothing). */
function simulate(chain: Chain_, i: number, address: Address, functionName: string, args: readonly unknown[]) {
  return chain.client.simulateContract({ account: account(i), address, abi, functionName, args } as never)
}

async function setWallet(
  chain: Chain_,
  identity: Address,
  from: number,
  params: { agentId: bigint; wallet: Address; deadline: bigint; signature: Hex },
) {
  return mined(
    chain,
    wallet(chain, from).writeContract({
      address: identity,
      abi,
      functionName: 'setAgentWallet',
      args: [params.agentId, params.wallet, params.deadline, params.signature],
    }),
  )
}

describe('IdentityRegistry', () => {
  chainTest('default: ERC-721 name/symbol, EIP-712 domain (ERC-5267) and version', async ({ chain }) => {
    const { identity } = await deployRegistries(chain)
    expect(await chain.client.readContract({ address: identity, abi, functionName: 'name' })).toBe('AgentIdentity')
    expect(await chain.client.readContract({ address: identity, abi, functionName: 'symbol' })).toBe('AGENT')
    expect(await chain.client.readContract({ address: identity, abi, functionName: 'getVersion' })).toBe('2.0.0')
    const [fields, name, version, chainId, verifyingContract, salt] = await chain.client.readContract({
      address: identity,
      abi,
      functionName: 'eip712Domain',
    })
    expect({ fields, name, version, chainId, verifyingContract, salt }).toEqual({
      fields: '0x0f',
      name: 'ERC8004IdentityRegistry',
      version: '1',
      chainId: BigInt(chain.chain.id),
      verifyingContract: identity,
      salt: `0x${'00'.repeat(32)}`,
    })
  })
})

describe('register', () => {
  chainTest('default: register() mints id 0 then 1 to the caller, with agentWallet = caller and no URI', async ({ chain }) => {
    const { identity } = await deployRegistries(chain)
    const receipt = await mined(chain, wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'register', args: [] }))
    const logs = parseEventLogs({ abi, logs: receipt.logs })
    expect(logs.map((l) => l.eventName)).toEqual(['Transfer', 'Registered', 'MetadataSet'])
    expect(logs[1]?.args).toEqual({ agentId: 0n, agentURI: '', owner: owner.address })
    await mined(chain, wallet(chain, 2).writeContract({ address: identity, abi, functionName: 'register', args: [] }))
    expect(await read(chain, identity, 'ownerOf', [0n])).toBe(owner.address)
    expect(await read(chain, identity, 'ownerOf', [1n])).toBe(operator.address)
    expect(await read(chain, identity, 'tokenURI', [0n])).toBe('')
    expect(await read(chain, identity, 'getAgentWallet', [0n])).toBe(owner.address)
  })

  chainTest(
    'behavior: register(uri) logs Transfer, MetadataUpdate, Registered, MetadataSet(agentWallet) in that order',
    async ({ chain }) => {
      const { identity } = await deployRegistries(chain)
      const receipt = await mined(
        chain,
        wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'register', args: ['ipfs://a'] }),
      )
      const logs = parseEventLogs({ abi, logs: receipt.logs })
      expect(logs.map((l) => l.eventName)).toEqual(['Transfer', 'MetadataUpdate', 'Registered', 'MetadataSet'])
      expect(logs[0]?.args).toEqual({ from: zeroAddress, to: owner.address, tokenId: 0n })
      expect(logs[2]?.args).toEqual({ agentId: 0n, agentURI: 'ipfs://a', owner: owner.address })
      // the agentWallet value is the caller as 20 packed bytes; the key topic is keccak256("agentWallet")
      expect(logs[3]?.args).toEqual({
        agentId: 0n,
        indexedMetadataKey: agentWalletKeyTopic,
        metadataKey: 'agentWallet',
        metadataValue: owner.address.toLowerCase(),
      })
      expect(receipt.logs[3]?.topics[2]).toBe(agentWalletKeyTopic)
      expect(await read(chain, identity, 'tokenURI', [0n])).toBe('ipfs://a')
      expect(await read(chain, identity, 'getMetadata', [0n, 'agentWallet'])).toBe(owner.address.toLowerCase())
    },
  )

  chainTest(
    'behavior: register(uri, entries) stores each entry and logs one MetadataSet per entry after the agentWallet one',
    async ({ chain }) => {
      const { identity } = await deployRegistries(chain)
      const entries = [
        { metadataKey: 'agentName', metadataValue: toHex('quote-bot') },
        { metadataKey: 'AgentWallet', metadataValue: '0x01' as Hex }, // case-sensitive: not the reserved key
      ]
      const receipt = await mined(
        chain,
        wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'register', args: ['ipfs://a', entries] }),
      )
      const logs = parseEventLogs({ abi, logs: receipt.logs })
      expect(logs.map((l) => l.eventName)).toEqual([
        'Transfer',
        'MetadataUpdate',
        'Registered',
        'MetadataSet',
        'MetadataSet',
        'MetadataSet',
      ])
      expect(logs.slice(4).map((l) => l.args)).toEqual([
        { agentId: 0n, indexedMetadataKey: keccak256(toHex('agentName')), metadataKey: 'agentName', metadataValue: toHex('quote-bot') },
        { agentId: 0n, indexedMetadataKey: keccak256(toHex('AgentWallet')), metadataKey: 'AgentWallet', metadataValue: '0x01' },
      ])
      expect(await read(chain, identity, 'getMetadata', [0n, 'agentName'])).toBe(toHex('quote-bot'))
      expect(await read(chain, identity, 'getMetadata', [0n, 'AgentWallet'])).toBe('0x01')
    },
  )

  chainTest('error: an "agentWallet" entry reverts "reserved key"', async ({ chain }) => {
    const { identity } = await deployRegistries(chain)
    const entries = [
      { metadataKey: 'a', metadataValue: '0x01' },
      { metadataKey: 'agentWallet', metadataValue: newWallet.address },
    ]
    expect(await revertOf(simulate(chain, 1, identity, 'register', ['ipfs://a', entries]))).toMatchObject({ reason: 'reserved key' })
  })
})

describe('setAgentURI', () => {
  chainTest('default: the owner replaces the URI; URIUpdated names the caller', async ({ chain }) => {
    const identity = await setup(chain)
    const receipt = await mined(
      chain,
      wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'setAgentURI', args: [0n, 'ipfs://b'] }),
    )
    const logs = parseEventLogs({ abi, logs: receipt.logs })
    expect(logs.map((l) => l.eventName)).toEqual(['MetadataUpdate', 'URIUpdated'])
    expect(logs[1]?.args).toEqual({ agentId: 0n, newURI: 'ipfs://b', updatedBy: owner.address })
    expect(await read(chain, identity, 'tokenURI', [0n])).toBe('ipfs://b')
  })

  chainTest('behavior: an operator (setApprovalForAll) and the approved address may update it', async ({ chain }) => {
    const identity = await setup(chain)
    await mined(
      chain,
      wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'setApprovalForAll', args: [operator.address, true] }),
    )
    await mined(chain, wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'approve', args: [approved.address, 0n] }))
    const byOperator = await mined(
      chain,
      wallet(chain, 2).writeContract({ address: identity, abi, functionName: 'setAgentURI', args: [0n, 'ipfs://op'] }),
    )
    expect(parseEventLogs({ abi, logs: byOperator.logs, eventName: 'URIUpdated' })[0]?.args.updatedBy).toBe(operator.address)
    await mined(chain, wallet(chain, 5).writeContract({ address: identity, abi, functionName: 'setAgentURI', args: [0n, 'ipfs://ap'] }))
    expect(await read(chain, identity, 'tokenURI', [0n])).toBe('ipfs://ap')
  })

  chainTest('error: a stranger gets "Not authorized"; an unknown id gets ERC721NonexistentToken', async ({ chain }) => {
    const identity = await setup(chain)
    expect(await revertOf(simulate(chain, 3, identity, 'setAgentURI', [0n, 'ipfs://x']))).toMatchObject({ reason: 'Not authorized' })
    expect(await revertOf(simulate(chain, 1, identity, 'setAgentURI', [7n, 'ipfs://x']))).toMatchObject({
      errorName: 'ERC721NonexistentToken',
      args: [7n],
    })
  })
})

describe('setMetadata', () => {
  chainTest('default: getMetadata is empty for an unset key; setMetadata stores and logs it', async ({ chain }) => {
    const identity = await setup(chain)
    expect(await read(chain, identity, 'getMetadata', [0n, 'k'])).toBe('0x')
    const receipt = await mined(
      chain,
      wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'setMetadata', args: [0n, 'k', '0xbeef'] }),
    )
    expect(parseEventLogs({ abi, logs: receipt.logs }).map((l) => [l.eventName, l.args])).toEqual([
      ['MetadataSet', { agentId: 0n, indexedMetadataKey: keccak256(toHex('k')), metadataKey: 'k', metadataValue: '0xbeef' }],
    ])
    expect(await read(chain, identity, 'getMetadata', [0n, 'k'])).toBe('0xbeef')
  })

  chainTest('behavior: an operator may set metadata', async ({ chain }) => {
    const identity = await setup(chain)
    await mined(
      chain,
      wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'setApprovalForAll', args: [operator.address, true] }),
    )
    await mined(chain, wallet(chain, 2).writeContract({ address: identity, abi, functionName: 'setMetadata', args: [0n, 'k', '0x01'] }))
    expect(await read(chain, identity, 'getMetadata', [0n, 'k'])).toBe('0x01')
  })

  chainTest(
    'error: "reserved key" for agentWallet, "Not authorized" for a stranger, ERC721NonexistentToken for an unknown id',
    async ({ chain }) => {
      const identity = await setup(chain)
      expect(await revertOf(simulate(chain, 1, identity, 'setMetadata', [0n, 'agentWallet', newWallet.address]))).toMatchObject({
        reason: 'reserved key',
      })
      expect(await revertOf(simulate(chain, 3, identity, 'setMetadata', [0n, 'k', '0x01']))).toMatchObject({ reason: 'Not authorized' })
      expect(await revertOf(simulate(chain, 1, identity, 'setMetadata', [9n, 'k', '0x01']))).toMatchObject({
        errorName: 'ERC721NonexistentToken',
      })
    },
  )
})

describe('setAgentWallet', () => {
  chainTest('default: the owner sets a wallet proven by an ECDSA signature of the new wallet', async ({ chain }) => {
    const identity = await setup(chain)
    const deadline = (await now(chain)) + 240n
    const signature = await signAgentWalletSet(chain, newWallet, identity, {
      agentId: 0n,
      newWallet: newWallet.address,
      owner: owner.address,
      deadline,
    })
    const receipt = await setWallet(chain, identity, 1, { agentId: 0n, wallet: newWallet.address, deadline, signature })
    expect(parseEventLogs({ abi, logs: receipt.logs }).map((l) => [l.eventName, l.args])).toEqual([
      [
        'MetadataSet',
        {
          agentId: 0n,
          indexedMetadataKey: agentWalletKeyTopic,
          metadataKey: 'agentWallet',
          metadataValue: newWallet.address.toLowerCase(),
        },
      ],
    ])
    expect(await read(chain, identity, 'getAgentWallet', [0n])).toBe(newWallet.address)
    expect(await read(chain, identity, 'getMetadata', [0n, 'agentWallet'])).toBe(newWallet.address.toLowerCase())
  })

  chainTest('behavior: an operator submits; the signed owner is ownerOf(agentId), not the operator', async ({ chain }) => {
    const identity = await setup(chain)
    await mined(
      chain,
      wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'setApprovalForAll', args: [operator.address, true] }),
    )
    const deadline = (await now(chain)) + 240n
    const asOperator = await signAgentWalletSet(chain, newWallet, identity, {
      agentId: 0n,
      newWallet: newWallet.address,
      owner: operator.address,
      deadline,
    })
    expect(await revertOf(simulate(chain, 2, identity, 'setAgentWallet', [0n, newWallet.address, deadline, asOperator]))).toMatchObject({
      reason: 'invalid wallet sig',
    })
    const asOwner = await signAgentWalletSet(chain, newWallet, identity, {
      agentId: 0n,
      newWallet: newWallet.address,
      owner: owner.address,
      deadline,
    })
    await setWallet(chain, identity, 2, { agentId: 0n, wallet: newWallet.address, deadline, signature: asOwner })
    expect(await read(chain, identity, 'getAgentWallet', [0n])).toBe(newWallet.address)
  })

  chainTest('behavior: an ERC-1271 contract wallet is accepted through isValidSignature', async ({ chain }) => {
    const identity = await setup(chain)
    const { address: contractWallet } = await deployContract(wallet(chain, 0), chain.client, {
      name: 'TestERC1271Wallet',
      abi: testERC1271WalletAbi,
      bytecode: testERC1271WalletBytecode,
      args: [newWallet.address],
    }).then((d) => ({ address: getAddress(d.address) }))
    const deadline = (await now(chain)) + 240n
    const message = { agentId: 0n, newWallet: contractWallet, owner: owner.address, deadline }
    // signed by the wallet's key holder (ECDSA recovers newWallet, not the contract, so the ERC-1271 branch decides)
    const signature = await signAgentWalletSet(chain, newWallet, identity, message)
    await setWallet(chain, identity, 1, { agentId: 0n, wallet: contractWallet, deadline, signature })
    expect(await read(chain, identity, 'getAgentWallet', [0n])).toBe(contractWallet)

    const byStranger = await signAgentWalletSet(chain, stranger, identity, message)
    expect(await revertOf(simulate(chain, 1, identity, 'setAgentWallet', [0n, contractWallet, deadline, byStranger]))).toMatchObject({
      reason: 'invalid wallet sig',
    })
  })

  chainTest('error: wrong signer, signature for another agent or registry, or garbage → "invalid wallet sig"', async ({ chain }) => {
    const identity = await setup(chain)
    await mined(chain, wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'register', args: ['ipfs://second'] }))
    const deadline = (await now(chain)) + 240n
    const message = { agentId: 0n, newWallet: newWallet.address, owner: owner.address, deadline }
    const cases: Hex[] = [
      await signAgentWalletSet(chain, stranger, identity, message),
      await signAgentWalletSet(chain, newWallet, identity, { ...message, agentId: 1n }),
      await signAgentWalletSet(chain, newWallet, stranger.address, message),
      await signAgentWalletSet(chain, newWallet, identity, { ...message, deadline: deadline + 1n }),
      '0x1234',
    ]
    for (const signature of cases) {
      expect(await revertOf(simulate(chain, 1, identity, 'setAgentWallet', [0n, newWallet.address, deadline, signature]))).toMatchObject({
        reason: 'invalid wallet sig',
      })
    }
  })

  chainTest('error: "Not authorized", "bad wallet", "expired", "deadline too far"', async ({ chain }) => {
    const identity = await setup(chain)
    const t = await now(chain)
    const sign = (wallet_: Address, deadline: bigint) =>
      signAgentWalletSet(chain, newWallet, identity, { agentId: 0n, newWallet: wallet_, owner: owner.address, deadline })
    const ok = await sign(newWallet.address, t + 240n)
    expect(await revertOf(simulate(chain, 3, identity, 'setAgentWallet', [0n, newWallet.address, t + 240n, ok]))).toMatchObject({
      reason: 'Not authorized',
    })
    expect(
      await revertOf(simulate(chain, 1, identity, 'setAgentWallet', [0n, zeroAddress, t + 240n, await sign(zeroAddress, t + 240n)])),
    ).toMatchObject({ reason: 'bad wallet' })
    expect(
      await revertOf(
        simulate(chain, 1, identity, 'setAgentWallet', [0n, newWallet.address, t - 1n, await sign(newWallet.address, t - 1n)]),
      ),
    ).toMatchObject({ reason: 'expired' })
    const far = t + 3600n
    expect(
      await revertOf(simulate(chain, 1, identity, 'setAgentWallet', [0n, newWallet.address, far, await sign(newWallet.address, far)])),
    ).toMatchObject({
      reason: 'deadline too far',
    })
    expect(await revertOf(simulate(chain, 1, identity, 'setAgentWallet', [5n, newWallet.address, t + 240n, ok]))).toMatchObject({
      errorName: 'ERC721NonexistentToken',
    })
  })

  chainTest('behavior: deadline bounds are inclusive: block.timestamp <= deadline <= block.timestamp + 300', async ({ chain }) => {
    const identity = await setup(chain)
    const sign = (deadline: bigint) =>
      signAgentWalletSet(chain, newWallet, identity, { agentId: 0n, newWallet: newWallet.address, owner: owner.address, deadline })
    // Mine each transaction at a chosen timestamp; explicit gas skips estimation so a revert shows up in the receipt.
    const sendAt = async (timestamp: bigint, deadline: bigint) => {
      await chain.testClient.setNextBlockTimestamp({ timestamp })
      const hash = await wallet(chain, 1).writeContract({
        address: identity,
        abi,
        functionName: 'setAgentWallet',
        args: [0n, newWallet.address, deadline, await sign(deadline)],
        gas: 200_000n,
      })
      return (await chain.client.waitForTransactionReceipt({ hash })).status
    }
    const t = (await now(chain)) + 1000n
    expect(await sendAt(t, t + 300n)).toBe('success')
    expect(await sendAt(t + 10n, t + 311n)).toBe('reverted')
    expect(await sendAt(t + 20n, t + 20n)).toBe('success')
    expect(await sendAt(t + 30n, t + 29n)).toBe('reverted')
  })
})

describe('unsetAgentWallet', () => {
  chainTest('default: clears the wallet to zero and logs MetadataSet with empty value', async ({ chain }) => {
    const identity = await setup(chain)
    const receipt = await mined(
      chain,
      wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'unsetAgentWallet', args: [0n] }),
    )
    expect(parseEventLogs({ abi, logs: receipt.logs }).map((l) => [l.eventName, l.args])).toEqual([
      ['MetadataSet', { agentId: 0n, indexedMetadataKey: agentWalletKeyTopic, metadataKey: 'agentWallet', metadataValue: '0x' }],
    ])
    expect(await read(chain, identity, 'getAgentWallet', [0n])).toBe(zeroAddress)
    expect(await read(chain, identity, 'getMetadata', [0n, 'agentWallet'])).toBe('0x')
  })

  chainTest(
    'behavior: no nonce: the same signature re-sets the wallet inside its deadline window (reference behaviour)',
    async ({ chain }) => {
      const identity = await setup(chain)
      const deadline = (await now(chain)) + 240n
      const signature = await signAgentWalletSet(chain, newWallet, identity, {
        agentId: 0n,
        newWallet: newWallet.address,
        owner: owner.address,
        deadline,
      })
      await setWallet(chain, identity, 1, { agentId: 0n, wallet: newWallet.address, deadline, signature })
      await mined(chain, wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'unsetAgentWallet', args: [0n] }))
      await setWallet(chain, identity, 1, { agentId: 0n, wallet: newWallet.address, deadline, signature })
      expect(await read(chain, identity, 'getAgentWallet', [0n])).toBe(newWallet.address)
    },
  )

  chainTest('error: a stranger gets "Not authorized"', async ({ chain }) => {
    const identity = await setup(chain)
    expect(await revertOf(simulate(chain, 3, identity, 'unsetAgentWallet', [0n]))).toMatchObject({ reason: 'Not authorized' })
  })
})

describe('transfer', () => {
  chainTest(
    'behavior: a transfer clears agentWallet (MetadataSet "" before Transfer); the new owner must prove a wallet again',
    async ({ chain }) => {
      const identity = await setup(chain)
      const receipt = await mined(
        chain,
        wallet(chain, 1).writeContract({
          address: identity,
          abi,
          functionName: 'transferFrom',
          args: [owner.address, stranger.address, 0n],
        }),
      )
      expect(parseEventLogs({ abi, logs: receipt.logs }).map((l) => l.eventName)).toEqual(['MetadataSet', 'Transfer'])
      expect(parseEventLogs({ abi, logs: receipt.logs, eventName: 'MetadataSet' })[0]?.args.metadataValue).toBe('0x')
      expect(await read(chain, identity, 'getAgentWallet', [0n])).toBe(zeroAddress)

      const deadline = (await now(chain)) + 240n
      const staleOwner = await signAgentWalletSet(chain, newWallet, identity, {
        agentId: 0n,
        newWallet: newWallet.address,
        owner: owner.address,
        deadline,
      })
      expect(await revertOf(simulate(chain, 1, identity, 'setAgentWallet', [0n, newWallet.address, deadline, staleOwner]))).toMatchObject({
        reason: 'Not authorized',
      })
      expect(await revertOf(simulate(chain, 3, identity, 'setAgentWallet', [0n, newWallet.address, deadline, staleOwner]))).toMatchObject({
        reason: 'invalid wallet sig',
      })
      const fresh = await signAgentWalletSet(chain, newWallet, identity, {
        agentId: 0n,
        newWallet: newWallet.address,
        owner: stranger.address,
        deadline,
      })
      await setWallet(chain, identity, 3, { agentId: 0n, wallet: newWallet.address, deadline, signature: fresh })
      expect(await read(chain, identity, 'getAgentWallet', [0n])).toBe(newWallet.address)
    },
  )
})

describe('isAuthorizedOrOwner', () => {
  chainTest('default: owner, operator and approved address are authorized; others are not', async ({ chain }) => {
    const identity = await setup(chain)
    await mined(
      chain,
      wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'setApprovalForAll', args: [operator.address, true] }),
    )
    await mined(chain, wallet(chain, 1).writeContract({ address: identity, abi, functionName: 'approve', args: [approved.address, 0n] }))
    const check = (who: Address) => read(chain, identity, 'isAuthorizedOrOwner', [who, 0n])
    expect([
      await check(owner.address),
      await check(operator.address),
      await check(approved.address),
      await check(stranger.address),
    ]).toEqual([true, true, true, false])
    expect(await check(zeroAddress)).toBe(false)
  })

  chainTest('error: ERC721NonexistentToken for an unknown id', async ({ chain }) => {
    const identity = await setup(chain)
    expect(await revertOf(read(chain, identity, 'isAuthorizedOrOwner', [owner.address, 3n]))).toMatchObject({
      errorName: 'ERC721NonexistentToken',
      args: [3n],
    })
  })
})

describe('encoding', () => {
  chainTest('behavior: agentWallet metadata is abi.encodePacked(address), 20 bytes', async ({ chain }) => {
    const identity = await setup(chain)
    expect(await read(chain, identity, 'getMetadata', [0n, 'agentWallet'])).toBe(encodePacked(['address'], [owner.address]).toLowerCase())
  })
})
