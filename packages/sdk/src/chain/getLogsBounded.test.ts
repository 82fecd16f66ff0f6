// getLogsBounded against a real anvil behind a proxy that refuses wide eth_getLogs ranges, as public RPCs do: the
// scan halves refused windows, starts at the deployment block, and returns exactly what an unlimited scan returns.
import { deployRegent, identityRegistryAbi } from '@regent-tee/contracts'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import { startRangeLimitedRpc } from '@regent-tee/testing/rpc-proxy'
import { createPublicClient, http } from 'viem'
import { getContractEvents } from 'viem/actions'
import { describe, expect, test } from 'vitest'
import { getLogsBounded, InvalidRangeError, isRangeTooLarge, RangeTooLargeError } from './getLogsBounded.js'
import { findAgent, registerAgent } from './registerAgent.js'

const w = (chain: Chain_, i: number) => chain.wallets[i] as Chain_['wallets'][number]

/** Deploys the registries after 200 empty blocks and registers three agents ~100 blocks apart (anvil_mine is slow). */
async function setup(chain: Chain_) {
  await chain.testClient.mine({ blocks: 200 })
  const { contracts } = await deployRegent(w(chain, 0), chain.client)
  const deploymentBlock = await chain.client.getBlockNumber()
  for (const name of ['a', 'b', 'c']) {
    await registerAgent(w(chain, 2), { contracts, registration: { name, description: name, services: [] }, fromBlock: deploymentBlock })
    await chain.testClient.mine({ blocks: 100 })
  }
  return { contracts, deploymentBlock }
}

describe('getLogsBounded', () => {
  chainTest('default: halves refused windows and returns what an unlimited scan returns', async ({ chain }) => {
    const { contracts, deploymentBlock } = await setup(chain)
    const proxy = await startRangeLimitedRpc({ upstream: chain.anvil.rpcUrl, maxRange: 70n })
    try {
      const limited = createPublicClient({ chain: chain.chain, transport: http(proxy.url, { retryCount: 0 }) })
      const args = { address: contracts.identityRegistry, abi: identityRegistryAbi, eventName: 'Registered' } as const
      const bounded = await getLogsBounded(limited, { ...args, fromBlock: deploymentBlock, maxRange: 500n })
      const all = await getContractEvents(chain.client, { ...args, fromBlock: deploymentBlock, toBlock: 'latest' })
      expect(bounded.map((e) => e.args.agentId)).toEqual(all.map((e) => e.args.agentId))
      expect(bounded.length).toBe(3)
      // The first window (the whole ~300 blocks) is refused and halved until it fits; every accepted window is
      // ≤ 70 blocks and the scan never looked before the deployment block.
      const accepted = proxy.getLogs.filter((g) => !g.refused)
      const refused = proxy.getLogs.filter((g) => g.refused).map((g) => g.to - g.from + 1n)
      expect(accepted.every((g) => g.to - g.from + 1n <= 70n && g.from >= deploymentBlock)).toBe(true)
      expect(refused.length).toBeGreaterThanOrEqual(2)
      refused.forEach((size, i) => {
        expect(size).toBeGreaterThan(70n)
        if (i > 0) expect(size).toBe((refused[i - 1] as bigint) / 2n)
      })
      // the windows tile the range without gaps or overlaps
      accepted.forEach((g, i) => {
        if (i > 0) expect(g.from).toBe((accepted[i - 1] as { to: bigint }).to + 1n)
      })
    } finally {
      await proxy.close()
    }
  })

  chainTest('behavior: findAgent through a range-limited RPC (no assumption of block 0 being near)', async ({ chain }) => {
    const { contracts } = await setup(chain)
    const proxy = await startRangeLimitedRpc({ upstream: chain.anvil.rpcUrl, maxRange: 100n })
    try {
      const limited = createPublicClient({ chain: chain.chain, transport: http(proxy.url, { retryCount: 0 }) })
      const found = await findAgent(limited, { contracts, owner: w(chain, 2).account.address, name: 'b' })
      expect(found?.file?.name).toBe('b')
      expect(proxy.getLogs.some((g) => g.refused)).toBe(true)
    } finally {
      await proxy.close()
    }
  })

  chainTest('bad input: fromBlock after toBlock, maxRange 0; a one-block refusal is RangeTooLargeError', async ({ chain }) => {
    const { contracts } = await deployRegent(w(chain, 0), chain.client)
    const args = { address: contracts.identityRegistry, abi: identityRegistryAbi, eventName: 'Registered' } as const
    await expect(getLogsBounded(chain.client, { ...args, fromBlock: 10n, toBlock: 9n })).rejects.toThrow(InvalidRangeError)
    await expect(getLogsBounded(chain.client, { ...args, fromBlock: 0n, maxRange: 0n })).rejects.toThrow('maxRange must be at least 1')
    const proxy = await startRangeLimitedRpc({ upstream: chain.anvil.rpcUrl, maxRange: 0n })
    try {
      const limited = createPublicClient({ chain: chain.chain, transport: http(proxy.url, { retryCount: 0 }) })
      await expect(getLogsBounded(limited, { ...args, fromBlock: 0n, toBlock: 3n })).rejects.toThrow(RangeTooLargeError)
    } finally {
      await proxy.close()
    }
  })

  test('behavior: transport failures are not mistaken for range refusals', async () => {
    const dead = createPublicClient({ transport: http('http://127.0.0.1:9/', { retryCount: 0 }) })
    const error = await getLogsBounded(dead, {
      address: '0x0000000000000000000000000000000000000001',
      abi: identityRegistryAbi,
      eventName: 'Registered',
      fromBlock: 0n,
      toBlock: 100n,
    }).catch((e: unknown) => e)
    expect(isRangeTooLarge(error)).toBe(false)
    expect(error).not.toBeInstanceOf(RangeTooLargeError)
    expect(isRangeTooLarge({ code: -32005, message: 'limit exceeded' })).toBe(true)
    expect(isRangeTooLarge(new Error('query returned more than 10000 results'))).toBe(true)
  })
})
