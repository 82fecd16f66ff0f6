import { chainTest } from '@regent-tee/testing/chain'
import { describe, expect } from 'vitest'
import {
  agentTreasuryAbi,
  regentAppAuthAbi,
  regentSuccessionAbi,
  reputationRegistryAbi,
  validationRegistryAbi,
} from '../src/generated/index.js'
import { deployRegent, regentContractNames } from '../src/regent.js'

describe('deployRegent', () => {
  chainTest('default: deploys every contract with code and wires them together', async ({ chain }) => {
    const [deployer] = chain.wallets
    if (!deployer) throw new Error('no wallet')
    const d = await deployRegent(deployer, chain.client, { kmsTimelock: 600n })
    expect(Object.keys(d.contracts)).toEqual([...regentContractNames])
    expect(d.chainId).toBe(31337)
    for (const name of regentContractNames) {
      expect((await chain.client.getCode({ address: d.contracts[name] }))?.length).toBeGreaterThan(2)
      expect(d.deployGas[name]).toBeGreaterThan(100_000n)
    }
    const read = chain.client.readContract
    expect(await read({ address: d.contracts.reputationRegistry, abi: reputationRegistryAbi, functionName: 'getIdentityRegistry' })).toBe(
      d.contracts.identityRegistry,
    )
    expect(await read({ address: d.contracts.validationRegistry, abi: validationRegistryAbi, functionName: 'getIdentityRegistry' })).toBe(
      d.contracts.identityRegistry,
    )
    expect(await read({ address: d.contracts.succession, abi: regentSuccessionAbi, functionName: 'identityRegistry' })).toBe(
      d.contracts.identityRegistry,
    )
    expect(await read({ address: d.contracts.succession, abi: regentSuccessionAbi, functionName: 'appAuth' })).toBe(d.contracts.appAuth)
    expect(await read({ address: d.contracts.treasury, abi: agentTreasuryAbi, functionName: 'succession' })).toBe(d.contracts.succession)
    expect(await read({ address: d.contracts.appAuth, abi: regentAppAuthAbi, functionName: 'kmsTimelock' })).toBe(600n)
    expect(await read({ address: d.contracts.appAuth, abi: regentAppAuthAbi, functionName: 'owner' })).toBe(deployer.account.address)
  })
})
