import { type Anvil, startAnvil } from '@regent-tee/contracts'
import { createPublicClient, custom, http } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import * as JsonRpc from './jsonRpc.js'

let anvil: Anvil
let rpc: JsonRpc.Provider
beforeAll(async () => {
  anvil = await startAnvil()
  rpc = JsonRpc.fromUrl({ url: anvil.rpcUrl })
})
afterAll(async () => {
  rpc.close()
  await anvil.stop()
})

describe('fromUrl', () => {
  test('default: answers as viem http does', async () => {
    const ours = createPublicClient({ transport: custom(rpc) })
    const reference = createPublicClient({ transport: http(anvil.rpcUrl) })
    expect(await ours.getChainId()).toBe(await reference.getChainId())
    expect(await ours.getBlockNumber({ cacheTime: 0 })).toBe(await reference.getBlockNumber({ cacheTime: 0 }))
    const concurrent = await Promise.all(Array.from({ length: 20 }, () => rpc.request({ method: 'eth_chainId' })))
    expect(new Set(concurrent).size).toBe(1)
  })

  test('behavior: a JSON-RPC error keeps its code and message', async () => {
    const error = await rpc.request({ method: 'regent_noSuchMethod' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(JsonRpc.RpcError)
    expect((error as JsonRpc.RpcError).code).toBe(-32601)
  })

  test('behavior: an unreachable URL rejects', async () => {
    const dead = JsonRpc.fromUrl({ url: 'http://127.0.0.1:1', timeoutMs: 2000 })
    await expect(dead.request({ method: 'eth_blockNumber' })).rejects.toThrow()
    dead.close()
  })
})
