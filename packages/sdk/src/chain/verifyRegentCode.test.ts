// An RPC that serves another chain or deployment is refused at boot (issue 13 §2; docs/sdk.md "What a lying RPC can
// do"): the runtime code at each measured address must be the compiled contract's, immutables aside.
import { deployContract, identityRegistryAbi, identityRegistryBytecode, identityRegistryRuntimeCode } from '@regent-tee/contracts'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import { describe, expect } from 'vitest'
import { setupAgent } from '../../test/uplift-fixtures.js'
import { fromHex } from '../internal/bytes.js'
import { ContractCodeError, matchesRuntimeCode, verifyRegentCode } from './verifyRegentCode.js'

describe('verifyRegentCode', () => {
  chainTest("default: a deployment of Regent's contracts passes, immutables and all", async ({ chain }) => {
    const { contracts } = await setupAgent(chain, { composeHashes: [`0x${'ab'.repeat(32)}`] })
    await expect(verifyRegentCode(chain.client, { contracts })).resolves.toBeUndefined()
  })

  chainTest(
    'behavior: swapped addresses, an address with no code, another contract there → chain.code naming the contract',
    async ({ chain }) => {
      const { contracts } = await setupAgent(chain, { composeHashes: [`0x${'ab'.repeat(32)}`] })
      const refusal = (c: typeof contracts) =>
        verifyRegentCode(chain.client, { contracts: c }).then(
          () => 'accepted',
          (e: unknown) =>
            e instanceof ContractCodeError
              ? `${e.code} ${e.contract} ${e.shortMessage.startsWith('No contract') ? 'empty' : 'other'}`
              : String(e),
        )
      expect(await refusal({ ...contracts, appAuth: contracts.treasury })).toBe('chain.code appAuth other')
      expect(await refusal({ ...contracts, succession: `0x${'12'.repeat(20)}` })).toBe('chain.code succession empty')
      // A second IdentityRegistry is Regent's code too (a registry has no immutables): accepted by code, as it should be.
      const funder = chain.wallets[0] as Chain_['wallets'][number]
      const other = await deployContract(funder, chain.client, {
        name: 'IdentityRegistry',
        abi: identityRegistryAbi,
        bytecode: identityRegistryBytecode,
        args: [],
      })
      expect(await refusal({ ...contracts, identityRegistry: other.address })).toBe('accepted')
    },
  )

  chainTest('behavior: one byte changed outside the immutables does not match; inside them it does', async ({ chain }) => {
    const { contracts } = await setupAgent(chain, { composeHashes: [`0x${'ab'.repeat(32)}`] })
    const code = fromHex((await chain.client.getCode({ address: contracts.identityRegistry })) as `0x${string}`, 'code')
    expect(matchesRuntimeCode(code, identityRegistryRuntimeCode)).toBe(true)
    const flipped = new Uint8Array(code)
    flipped[100] = (flipped[100] as number) ^ 1
    expect(matchesRuntimeCode(flipped, identityRegistryRuntimeCode)).toBe(false)
    expect(matchesRuntimeCode(code.subarray(1), identityRegistryRuntimeCode)).toBe(false)
    const [start] = identityRegistryRuntimeCode.immutables[0] as readonly [number, number]
    const immutable = new Uint8Array(code)
    immutable[start] = (immutable[start] as number) ^ 0xff
    expect(matchesRuntimeCode(immutable, identityRegistryRuntimeCode)).toBe(true)
  })
})
