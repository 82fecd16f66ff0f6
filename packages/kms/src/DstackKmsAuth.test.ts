import { type DeployerClient, deployDstackKms, deployRegentDstackApp, dstackKmsAbi, regentAppAuthAbi } from '@regent-tee/contracts'
import { chainTest } from '@regent-tee/testing/chain'
import { appIdOf, b32, deployRegent, mined, role, wallet } from '@regent-tee/testing/regent-fixture'
import { concat, getAddress, type PublicClient, sha256 } from 'viem'
import { describe, expect } from 'vitest'
import * as DstackKmsAuth from './DstackKmsAuth.js'
import * as KeyRelease from './KeyRelease.js'

const kmsRoot = getAddress('0x00000000000000000000000000000000000c0ffe')
/** The approved OS image's registers (MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2) and dstack's mr_system of them. */
const registers = `0x${'5a'.repeat(192)}` as const
const mrSystem = sha256(concat([registers, `0x${'00'.repeat(32)}`]))
const boot = (appId: `0x${string}`) => ({
  appId,
  composeHash: b32('compose'),
  instanceId: appIdOf(appId, b32('instance')),
  deviceId: b32('device'),
  mrAggregated: b32('mr'),
  mrSystem,
  osImageHash: b32('os'),
  tcbStatus: 'UpToDate',
  advisoryIds: [] as string[],
})

describe('withDstackKms', () => {
  chainTest('default: an app registered in DstackKms is decided by DstackKms, any other by RegentAppAuth', async ({ chain }) => {
    const client = chain.client as unknown as PublicClient
    const regent = await deployRegent(chain)
    const dstack = await deployDstackKms(wallet(chain, role.governance) as unknown as DeployerClient, client)
    const owner = wallet(chain, role.appOwner)
    const { appId } = await deployRegentDstackApp(owner as unknown as DeployerClient, client, {
      appAuth: regent.appAuth,
      dstackKms: dstack.kms,
      timelock: 0n,
      kmsRoot,
    })
    const appAuth = DstackKmsAuth.withDstackKms(
      KeyRelease.createAppAuth({ client, address: regent.appAuth }),
      DstackKmsAuth.create({ client, address: dstack.kms }),
    )
    for (const [fn, args] of [
      ['addComposeHash', [appId, b32('compose')]],
      ['addOsImage', [appId, b32('os'), [registers]]],
      ['addKmsRoot', [appId, kmsRoot]],
    ] as const)
      await mined(chain, owner.writeContract({ address: regent.appAuth, abi: regentAppAuthAbi, functionName: fn, args } as never))
    // RegentAppAuth alone would allow it; dstack's KMS owner has not allowed the OS image.
    expect(await appAuth.isAppAllowedWithKms(boot(appId), kmsRoot)).toMatchObject({ allowed: false, reason: 'OS image is not allowed' })
    await mined(
      chain,
      wallet(chain, role.governance).writeContract({
        address: dstack.kms,
        abi: dstackKmsAbi,
        functionName: 'addOsImageHash',
        args: [b32('os')],
      }),
    )
    expect(await appAuth.isAppAllowedWithKms(boot(appId), kmsRoot)).toMatchObject({ allowed: true, reason: '' })
    // The KMS root the app contract names decides, not the one the node passes.
    expect(await appAuth.isAppAllowedWithKms(boot(appId), getAddress(`0x${'11'.repeat(20)}`))).toMatchObject({ allowed: true })
    // An app not registered in DstackKms keeps RegentAppAuth's decision.
    const other = appIdOf(appId, b32('other'))
    expect(await appAuth.isAppAllowedWithKms(boot(other), kmsRoot)).toMatchObject({ allowed: false, reason: 'App not registered' })
    expect(KeyRelease.appAuthRefusal({ allowed: false, reason: 'OS image is not allowed' })?.code).toBe('os_image.not_approved')
  })
})
