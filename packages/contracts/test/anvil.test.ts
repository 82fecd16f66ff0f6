import { describe, expect, test } from 'vitest'
import { placeholderAbi, placeholderBytecode } from '../src/generated/index.js'
import { deployContract } from '../src/deploy.js'
import { chainTest } from './chain.js'

describe('startAnvil', () => {
  chainTest('default: a real anvil answers on loopback with chain id 31337', async ({ chain }) => {
    expect(chain.anvil.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(await chain.client.getChainId()).toBe(31337)
  })

  chainTest('behavior: per-test snapshot isolates state', async ({ chain }) => {
    const { address } = await deployContract(chain.wallets[0]!, chain.client, { name: 'Placeholder', abi: placeholderAbi, bytecode: placeholderBytecode })
    await chain.client.waitForTransactionReceipt({ hash: await chain.wallets[0]!.writeContract({ address, abi: placeholderAbi, functionName: 'set', args: [7n] }) })
    expect(await chain.client.readContract({ address, abi: placeholderAbi, functionName: 'x' })).toBe(7n)
  })
})
