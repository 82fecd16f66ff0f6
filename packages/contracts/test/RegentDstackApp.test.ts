/**
 * RegentDstackApp against dstack's own DstackKms (the vendored contract, compiled by the pinned solc): a boot of an
 * app under dstack's on-chain KMS is decided by DstackKms's checks (registered, OS image) and then by RegentAppAuth
 * through the per-app contract. Also RegentAppAuth.registerExternalApp, which that contract relies on.
 */
import { type DeployerClient, deployDstackKms, deployRegentDstackApp, dstackKmsAbi, regentDstackAppAbi } from '@regent-tee/contracts'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import { appIdOf, b32, deployRegent, elapse, eventsOf, expectRevert, mined, role, wallet } from '@regent-tee/testing/regent-fixture'
import { type Address, concat, getAddress, getContract, type Hex, type PublicClient, sha256, zeroAddress, zeroHash } from 'viem'
import { describe, expect } from 'vitest'
import { regentAppAuthAbi } from '../src/generated/index.js'

const kmsRoot = getAddress('0x00000000000000000000000000000000000c0ffe')
const composeHash = b32('compose')
const osImageHash = b32('os')
/** One VM shape's MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 of that image, and its mr_system (what a quote of it carries). */
const measurement = `0x${'ab'.repeat(192)}` as Hex
const mrSystem = sha256(concat([measurement, zeroHash]))

function bootInfo(appId: Address, over: Partial<{ composeHash: Hex; osImageHash: Hex }> = {}) {
  return {
    appId,
    composeHash: over.composeHash ?? composeHash,
    instanceId: appIdOf(appId, b32('instance')),
    deviceId: b32('device'),
    mrAggregated: b32('mr'),
    mrSystem,
    osImageHash: over.osImageHash ?? osImageHash,
    tcbStatus: 'UpToDate',
    advisoryIds: [] as string[],
  }
}

const asDeployer = (chain: Chain_, index: number) => wallet(chain, index) as unknown as DeployerClient
const client = (chain: Chain_) => chain.client as unknown as PublicClient

/** Regent + DstackKms (owner: governance), an app contract owned by role.appOwner, registered in DstackKms. */
async function setup(chain: Chain_, timelock = 0n) {
  const regent = await deployRegent(chain)
  const dstack = await deployDstackKms(asDeployer(chain, role.governance), client(chain))
  const { appId } = await deployRegentDstackApp(asDeployer(chain, role.appOwner), client(chain), {
    appAuth: regent.appAuth,
    dstackKms: dstack.kms,
    timelock,
    kmsRoot,
  })
  const read = { public: chain.client }
  const kms = getContract({ address: dstack.kms, abi: dstackKmsAbi, client: { ...read, wallet: wallet(chain, role.governance) } })
  const appAuth = getContract({ address: regent.appAuth, abi: regentAppAuthAbi, client: { ...read, wallet: wallet(chain, role.appOwner) } })
  const app = getContract({ address: appId, abi: regentDstackAppAbi, client: read })
  return { regent, dstack, appId, kms, appAuth, app }
}

/** Approves compose hash, OS image and KMS root for the app in RegentAppAuth, and the OS image in DstackKms. */
async function approveAll(chain: Chain_, s: Awaited<ReturnType<typeof setup>>) {
  await mined(chain, s.appAuth.write.addComposeHash([s.appId, composeHash]))
  await mined(chain, s.appAuth.write.addOsImage([s.appId, osImageHash, [measurement]]))
  await mined(chain, s.appAuth.write.addKmsRoot([s.appId, kmsRoot]))
  await mined(chain, s.kms.write.addOsImageHash([osImageHash]))
}

describe('RegentDstackApp through DstackKms.isAppAllowed', () => {
  chainTest('default: a boot RegentAppAuth approves is allowed by dstack KMS logic', async ({ chain }) => {
    const s = await setup(chain)
    await approveAll(chain, s)
    expect(await s.kms.read.isAppAllowed([bootInfo(s.appId)])).toEqual([true, ''])
    expect(await s.kms.read.registeredApps([s.appId])).toBe(true)
    expect(await s.app.read.allowedComposeHashes([composeHash])).toBe(true)
    expect(await s.app.read.supportsInterface(['0x1e079198'])).toBe(true)
  })

  chainTest('behavior: the app registers itself in RegentAppAuth, owned by its deployer', async ({ chain }) => {
    const s = await setup(chain, 3600n)
    expect(await s.appAuth.read.isRegistered([s.appId])).toBe(true)
    expect(await s.appAuth.read.appOwner([s.appId])).toBe(wallet(chain, role.appOwner).account.address)
    expect(await s.appAuth.read.timelockOf([s.appId])).toBe(3600n)
    expect(await s.app.read.kmsRoot()).toBe(kmsRoot)
  })

  chainTest('behavior: each missing approval refuses with its reason, DstackKms checks first', async ({ chain }) => {
    const s = await setup(chain)
    const decide = () => s.kms.read.isAppAllowed([bootInfo(s.appId)])
    expect(await decide()).toEqual([false, 'OS image is not allowed']) // DstackKms: the KMS owner's OS list
    await mined(chain, s.kms.write.addOsImageHash([osImageHash]))
    expect(await decide()).toEqual([false, 'Compose hash not allowed']) // RegentAppAuth from here on
    await mined(chain, s.appAuth.write.addComposeHash([s.appId, composeHash]))
    expect(await decide()).toEqual([false, 'OS image is not allowed'])
    await mined(chain, s.appAuth.write.addOsImage([s.appId, osImageHash, [measurement]]))
    expect(await decide()).toEqual([false, 'KMS root not allowed'])
    await mined(chain, s.appAuth.write.addKmsRoot([s.appId, kmsRoot]))
    expect(await decide()).toEqual([true, ''])
    await mined(chain, s.appAuth.write.removeComposeHash([s.appId, composeHash]))
    expect(await decide()).toEqual([false, 'Compose hash not allowed'])
  })

  chainTest("behavior: Regent's timelock gates dstack boots", async ({ chain }) => {
    const s = await setup(chain, 3600n)
    await approveAll(chain, s)
    expect(await s.kms.read.isAppAllowed([bootInfo(s.appId)])).toEqual([false, 'Compose hash pending timelock'])
    expect(await s.app.read.allowedComposeHashes([composeHash])).toBe(false)
    await elapse(chain, 3600n)
    expect(await s.kms.read.isAppAllowed([bootInfo(s.appId)])).toEqual([true, ''])
  })

  chainTest('behavior: an unregistered app and an address without code are refused by DstackKms', async ({ chain }) => {
    const s = await setup(chain)
    await approveAll(chain, s)
    const stranger = appIdOf(s.appId, b32('not an app'))
    expect(await s.kms.read.isAppAllowed([bootInfo(stranger)])).toEqual([false, 'App not registered'])
    await mined(chain, s.kms.write.registerApp([stranger])) // registerApp is public
    expect(await s.kms.read.isAppAllowed([bootInfo(stranger)])).toEqual([false, 'App not deployed or invalid address'])
  })

  chainTest("behavior: the app contract refuses another app's boot facts asked directly", async ({ chain }) => {
    const s = await setup(chain)
    await approveAll(chain, s)
    expect(await s.app.read.isAppAllowed([bootInfo(appIdOf(s.appId, b32('other')))])).toEqual([false, 'App id is not this contract'])
  })
})

describe('RegentAppAuth.registerExternalApp', () => {
  const appAuthAs = (chain: Chain_, address: Address, index: number) =>
    getContract({ address, abi: regentAppAuthAbi, client: { public: chain.client, wallet: wallet(chain, index) } })

  chainTest('default: governance registers a hosted KMS app id (no code) for its owner', async ({ chain }) => {
    const regent = await deployRegent(chain)
    const governance = appAuthAs(chain, regent.appAuth, role.governance)
    const phalaAppId = appIdOf(zeroAddress, b32('phala app'))
    const owner = wallet(chain, role.appOwner).account.address
    const receipt = await mined(chain, governance.write.registerExternalApp([phalaAppId, owner, 60n]))
    expect(eventsOf(receipt, 'AppRegistered')[0]?.args).toEqual({ appId: phalaAppId, owner, timelock: 60n })
    expect(await governance.read.appOwner([phalaAppId])).toBe(owner)
    await expectRevert(governance.write.registerExternalApp([phalaAppId, owner, 60n]), 'AppAlreadyRegistered', [phalaAppId])
  })

  chainTest('behavior: an app owner cannot claim an id, nor governance an id with code', async ({ chain }) => {
    const regent = await deployRegent(chain)
    const strangerAddress = wallet(chain, role.stranger).account.address
    const stranger = appAuthAs(chain, regent.appAuth, role.stranger)
    const phalaAppId = appIdOf(zeroAddress, b32('phala app'))
    await expectRevert(stranger.write.registerExternalApp([phalaAppId, strangerAddress, 0n]), 'ExternalAppIdNotAuthorized', [
      phalaAppId,
      strangerAddress,
    ])
    const governance = appAuthAs(chain, regent.appAuth, role.governance)
    const governanceAddress = wallet(chain, role.governance).account.address
    await expectRevert(governance.write.registerExternalApp([regent.succession, strangerAddress, 0n]), 'ExternalAppIdNotAuthorized', [
      regent.succession,
      governanceAddress,
    ])
    await expectRevert(governance.write.registerExternalApp([phalaAppId, zeroAddress, 0n]), 'ZeroValue')
    expect(await stranger.read.isRegistered([phalaAppId])).toBe(false)
  })
})
