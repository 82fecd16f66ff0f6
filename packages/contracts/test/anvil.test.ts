import { chainTest } from '@regent-tee/testing/chain'
import { describe, expect } from 'vitest'
import { deployContract } from '../src/deploy.js'
import { identityRegistryAbi, identityRegistryBytecode } from '../src/generated/index.js'

describe('startAnvil', () => {
  chainTest('default: a real anvil answers on loopback with chain id 31337', async ({ chain }) => {
    expect(chain.anvil.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(await chain.client.getChainId()).toBe(31337)
  })

  chainTest('behavior: per-test snapshot isolates state (part 1: deploy and write)', async ({ chain }) => {
    const [deployer] = chain.wallets
    if (!deployer) throw new Error('no wallet')
    const { address } = await deployContract(deployer, chain.client, {
      name: 'IdentityRegistry',
      abi: identityRegistryAbi,
      bytecode: identityRegistryBytecode,
    })
    expect(address).toBe('0x5FbDB2315678afecb367f032d93F642f64180aa3') // first CREATE of account 0 on a fresh chain
    const hash = await deployer.writeContract({ address, abi: identityRegistryAbi, functionName: 'register', args: ['ipfs://a'] })
    await chain.client.waitForTransactionReceipt({ hash })
    expect(await chain.client.getTransactionCount({ address: deployer.account.address })).toBe(2)
  })

  chainTest('behavior: per-test snapshot isolates state (part 2: the previous test left nothing)', async ({ chain }) => {
    const [deployer] = chain.wallets
    if (!deployer) throw new Error('no wallet')
    expect(await chain.client.getTransactionCount({ address: deployer.account.address })).toBe(0)
    expect(await chain.client.getCode({ address: '0x5FbDB2315678afecb367f032d93F642f64180aa3' })).toBeUndefined()
  })
})
