import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import {
  appIdOf,
  b32,
  deployRegent,
  elapse,
  eventsOf,
  expectRevert,
  mineAt,
  mined,
  mrSystemOf,
  registers,
  role,
  wallet,
} from '@regent-tee/testing/regent-fixture'
import {
  type Address,
  BaseError,
  decodeErrorResult,
  encodeDeployData,
  getAddress,
  getContract,
  type Hex,
  padHex,
  toFunctionSelector,
  zeroAddress,
  zeroHash,
} from 'viem'
import { describe, expect } from 'vitest'
import { regentAppAuthAbi, regentAppAuthBytecode } from '../src/generated/index.js'

const DAY = 86_400n
const salt = b32('salt')

function appAuthAs(chain: Chain_, address: Address, index: number) {
  return getContract({ address, abi: regentAppAuthAbi, client: { public: chain.client, wallet: wallet(chain, index) } })
}

/** Deploys RegentAppAuth (kmsTimelock 2 days) and registers an app owned by role.appOwner with `timelock`. */
async function setup(chain: Chain_, timelock = DAY) {
  const regent = await deployRegent(chain, { kmsTimelock: 2n * DAY })
  const owner = appAuthAs(chain, regent.appAuth, role.appOwner)
  const stranger = appAuthAs(chain, regent.appAuth, role.stranger)
  const governance = appAuthAs(chain, regent.appAuth, role.governance)
  const receipt = await mined(chain, owner.write.registerApp([salt, timelock]))
  const appId = appIdOf(wallet(chain, role.appOwner).account.address, salt)
  return { regent, owner, stranger, governance, appId, receipt }
}

type Setup = Awaited<ReturnType<typeof setup>>

/** Boot facts of a CVM of `appId`; everything else defaults to a plausible valid boot. */
function bootInfo(
  appId: Address,
  over: Partial<{ composeHash: Hex; osImageHash: Hex; mrAggregated: Hex; mrSystem: Hex; tcbStatus: string }> = {},
) {
  return {
    appId,
    composeHash: over.composeHash ?? b32('compose'),
    instanceId: appIdOf(appId, b32('instance')),
    deviceId: b32('device'),
    mrAggregated: over.mrAggregated ?? b32('mr'),
    mrSystem: over.mrSystem ?? mrSystemOf(registers('os')),
    osImageHash: over.osImageHash ?? b32('os'),
    tcbStatus: over.tcbStatus ?? 'UpToDate',
    advisoryIds: [] as string[],
  }
}

describe('registerApp', () => {
  chainTest('default: derives the app id from (owner, salt), records owner and timelock, emits AppRegistered', async ({ chain }) => {
    const { owner, appId, receipt } = await setup(chain)
    const ownerAddress = wallet(chain, role.appOwner).account.address
    expect(await owner.read.computeAppId([ownerAddress, salt])).toBe(appId)
    expect(await owner.read.isRegistered([appId])).toBe(true)
    expect(await owner.read.appOwner([appId])).toBe(ownerAddress)
    expect(await owner.read.timelockOf([appId])).toBe(DAY)
    const [event] = eventsOf(receipt, 'AppRegistered')
    expect(event?.args).toEqual({ appId, owner: ownerAddress, timelock: DAY })
  })

  chainTest('behavior: the same salt twice reverts AppAlreadyRegistered', async ({ chain }) => {
    const { owner, appId } = await setup(chain)
    await expectRevert(owner.write.registerApp([salt, 0n]), 'AppAlreadyRegistered', [appId])
  })

  chainTest('behavior: squat-proof: another caller with the same salt gets a different id', async ({ chain }) => {
    const { stranger, appId } = await setup(chain)
    await mined(chain, stranger.write.registerApp([salt, 0n]))
    const strangerId = appIdOf(wallet(chain, role.stranger).account.address, salt)
    expect(strangerId).not.toBe(appId)
    expect(await stranger.read.appOwner([appId])).toBe(wallet(chain, role.appOwner).account.address)
    expect(await stranger.read.appOwner([strangerId])).toBe(wallet(chain, role.stranger).account.address)
  })

  chainTest('behavior: a timelock above MAX_TIMELOCK reverts TimelockTooLong', async ({ chain }) => {
    const { owner } = await setup(chain)
    const max = await owner.read.MAX_TIMELOCK()
    await expectRevert(owner.write.registerApp([b32('other'), max + 1n]), 'TimelockTooLong', [max, max + 1n])
  })

  chainTest('behavior: an unknown app is not registered and has no owner', async ({ chain }) => {
    const { owner } = await setup(chain)
    const unknown = appIdOf(zeroAddress, salt)
    expect(await owner.read.isRegistered([unknown])).toBe(false)
    expect(await owner.read.appOwner([unknown])).toBe(zeroAddress)
  })
})

describe('transferAppOwnership', () => {
  chainTest('default: two steps; the new owner gets the rights, the old one loses them', async ({ chain }) => {
    const { owner, stranger, appId } = await setup(chain)
    const from = wallet(chain, role.appOwner).account.address
    const to = wallet(chain, role.stranger).account.address
    const started = await mined(chain, owner.write.transferAppOwnership([appId, to]))
    expect(eventsOf(started, 'AppOwnershipTransferStarted')[0]?.args).toEqual({ appId, owner: from, pendingOwner: to })
    expect(await owner.read.pendingAppOwner([appId])).toBe(to)
    expect(await owner.read.appOwner([appId])).toBe(from)

    const accepted = await mined(chain, stranger.write.acceptAppOwnership([appId]))
    expect(eventsOf(accepted, 'AppOwnershipTransferred')[0]?.args).toEqual({ appId, previousOwner: from, newOwner: to })
    expect(await owner.read.appOwner([appId])).toBe(to)
    expect(await owner.read.pendingAppOwner([appId])).toBe(zeroAddress)
    await expectRevert(owner.write.addComposeHash([appId, b32('c')]), 'NotAppOwner', [appId, from])
    await mined(chain, stranger.write.addComposeHash([appId, b32('c')]))
  })

  chainTest('behavior: only the pending owner can accept', async ({ chain }) => {
    const { owner, stranger, governance, appId } = await setup(chain)
    await expectRevert(stranger.write.acceptAppOwnership([appId]), 'NotPendingAppOwner', [
      appId,
      wallet(chain, role.stranger).account.address,
    ])
    await mined(chain, owner.write.transferAppOwnership([appId, wallet(chain, role.stranger).account.address]))
    await expectRevert(governance.write.acceptAppOwnership([appId]), 'NotPendingAppOwner', [
      appId,
      wallet(chain, role.governance).account.address,
    ])
  })

  chainTest('behavior: only the owner can start a transfer; unknown apps revert AppNotRegistered', async ({ chain }) => {
    const { stranger, appId } = await setup(chain)
    const strangerAddress = wallet(chain, role.stranger).account.address
    await expectRevert(stranger.write.transferAppOwnership([appId, strangerAddress]), 'NotAppOwner', [appId, strangerAddress])
    const unknown = appIdOf(zeroAddress, salt)
    await expectRevert(stranger.write.transferAppOwnership([unknown, strangerAddress]), 'AppNotRegistered', [unknown])
    await expectRevert(stranger.write.acceptAppOwnership([unknown]), 'AppNotRegistered', [unknown])
  })
})

/** The three per-app approval lists share one behaviour; each is tested through the same table. */
const lists = [
  {
    name: 'compose hash',
    value: b32('compose'),
    add: (s: Setup, v: Hex) => s.owner.write.addComposeHash([s.appId, v]),
    addAs: (s: Setup, v: Hex) => s.stranger.write.addComposeHash([s.appId, v]),
    remove: (s: Setup, v: Hex) => s.owner.write.removeComposeHash([s.appId, v]),
    removeAs: (s: Setup, v: Hex) => s.stranger.write.removeComposeHash([s.appId, v]),
    approved: (s: Setup, v: Hex) => s.owner.read.isComposeHashApproved([s.appId, v]),
    activatesAt: (s: Setup, v: Hex) => s.owner.read.composeHashActivatesAt([s.appId, v]),
    added: 'ComposeHashAdded',
    removed: 'ComposeHashRemoved',
    eventArgs: (appId: Address, v: Hex) => ({ appId, composeHash: v }),
    listedKey: (v: Hex) => v,
  },
  {
    name: 'OS image',
    value: b32('os'),
    // An OS image is approved with its measurements; the table's image has one (its registers derive from the hash).
    add: (s: Setup, v: Hex) => s.owner.write.addOsImage([s.appId, v, [`0x${v.slice(2).repeat(6)}`]]),
    addAs: (s: Setup, v: Hex) => s.stranger.write.addOsImage([s.appId, v, [`0x${v.slice(2).repeat(6)}`]]),
    remove: (s: Setup, v: Hex) => s.owner.write.removeOsImage([s.appId, v]),
    removeAs: (s: Setup, v: Hex) => s.stranger.write.removeOsImage([s.appId, v]),
    approved: (s: Setup, v: Hex) => s.owner.read.isOsImageApproved([s.appId, v]),
    activatesAt: (s: Setup, v: Hex) => s.owner.read.osImageActivatesAt([s.appId, v]),
    added: 'OsImageAdded',
    removed: 'OsImageRemoved',
    eventArgs: (appId: Address, v: Hex) => ({ appId, osImageHash: v }),
    // Adding a listed image again adds its measurements: the one already listed is what reverts.
    listedKey: (v: Hex) => mrSystemOf(`0x${v.slice(2).repeat(6)}`),
  },
  {
    name: 'KMS root',
    // KMS roots are addresses; the table passes them as left-padded bytes32 and converts back.
    value: padHex(appIdOf(zeroAddress, b32('kms-root')).toLowerCase() as Hex, { size: 32 }),
    add: (s: Setup, v: Hex) => s.owner.write.addKmsRoot([s.appId, toAddress(v)]),
    addAs: (s: Setup, v: Hex) => s.stranger.write.addKmsRoot([s.appId, toAddress(v)]),
    remove: (s: Setup, v: Hex) => s.owner.write.removeKmsRoot([s.appId, toAddress(v)]),
    removeAs: (s: Setup, v: Hex) => s.stranger.write.removeKmsRoot([s.appId, toAddress(v)]),
    approved: (s: Setup, v: Hex) => s.owner.read.isKmsRootAllowed([s.appId, toAddress(v)]),
    activatesAt: (s: Setup, v: Hex) => s.owner.read.kmsRootActivatesAt([s.appId, toAddress(v)]),
    added: 'KmsRootAdded',
    removed: 'KmsRootRemoved',
    eventArgs: (appId: Address, v: Hex) => ({ appId, kmsRoot: toAddress(v) }),
    listedKey: (v: Hex) => v,
  },
] as const

function toAddress(v: Hex): Address {
  return getAddress(`0x${v.slice(26)}`)
}

for (const list of lists) {
  describe(`add/remove ${list.name}`, () => {
    chainTest('default: added with activatesAt = now + timelock; inactive before, active from that second on', async ({ chain }) => {
      const s = await setup(chain)
      const receipt = await mined(chain, list.add(s, list.value))
      const addedAt = (await chain.client.getBlock({ blockNumber: receipt.blockNumber })).timestamp
      const activatesAt = addedAt + DAY
      expect(eventsOf(receipt, list.added)[0]?.args).toEqual({ ...list.eventArgs(s.appId, list.value), activatesAt })
      expect(await list.activatesAt(s, list.value)).toBe(activatesAt)
      expect(await list.approved(s, list.value)).toBe(false)
      await mineAt(chain, activatesAt - 1n)
      expect(await list.approved(s, list.value)).toBe(false)
      await mineAt(chain, activatesAt)
      expect(await list.approved(s, list.value)).toBe(true)
    })

    chainTest('behavior: crossing the timelock with increaseTime + mine activates it', async ({ chain }) => {
      const s = await setup(chain)
      await mined(chain, list.add(s, list.value))
      expect(await list.approved(s, list.value)).toBe(false)
      await elapse(chain, DAY)
      expect(await list.approved(s, list.value)).toBe(true)
    })

    chainTest('behavior: removal of an active entry is immediate', async ({ chain }) => {
      const s = await setup(chain)
      await mined(chain, list.add(s, list.value))
      await elapse(chain, DAY)
      expect(await list.approved(s, list.value)).toBe(true)
      const receipt = await mined(chain, list.remove(s, list.value))
      expect(eventsOf(receipt, list.removed)[0]?.args).toEqual(list.eventArgs(s.appId, list.value))
      expect(await list.approved(s, list.value)).toBe(false)
      expect(await list.activatesAt(s, list.value)).toBe(0n)
    })

    chainTest('behavior: removal cancels a pending addition', async ({ chain }) => {
      const s = await setup(chain)
      await mined(chain, list.add(s, list.value))
      await mined(chain, list.remove(s, list.value))
      expect(await list.activatesAt(s, list.value)).toBe(0n)
      await elapse(chain, 2n * DAY)
      expect(await list.approved(s, list.value)).toBe(false)
    })

    chainTest('behavior: zero, duplicate (also pending), absent and non-owner calls revert', async ({ chain }) => {
      const s = await setup(chain)
      const strangerAddress = wallet(chain, role.stranger).account.address
      await expectRevert(list.add(s, zeroHash), 'ZeroValue', [])
      await expectRevert(list.remove(s, list.value), 'NotListed', [list.value])
      await mined(chain, list.add(s, list.value))
      await expectRevert(list.add(s, list.value), 'AlreadyListed', [list.listedKey(list.value)])
      await expectRevert(list.addAs(s, b32('other')), 'NotAppOwner', [s.appId, strangerAddress])
      await expectRevert(list.removeAs(s, list.value), 'NotAppOwner', [s.appId, strangerAddress])
      expect(await list.activatesAt(s, list.value)).not.toBe(0n)
    })

    chainTest('behavior: with timelock 0 an addition is active in the block that adds it', async ({ chain }) => {
      const s = await setup(chain, 0n)
      await mined(chain, list.add(s, list.value))
      expect(await list.approved(s, list.value)).toBe(true)
    })
  })
}

describe('setTimelock', () => {
  chainTest('default: raising takes effect at once and applies to the next addition', async ({ chain }) => {
    const s = await setup(chain)
    const receipt = await mined(chain, s.owner.write.setTimelock([s.appId, 3n * DAY]))
    const at = (await chain.client.getBlock({ blockNumber: receipt.blockNumber })).timestamp
    expect(eventsOf(receipt, 'TimelockChanged')[0]?.args).toEqual({
      appId: s.appId,
      oldTimelock: DAY,
      newTimelock: 3n * DAY,
      effectiveAt: at,
    })
    expect(await s.owner.read.timelockOf([s.appId])).toBe(3n * DAY)
    expect(await s.owner.read.pendingTimelockOf([s.appId])).toEqual([0n, 0n])
    const added = await mined(chain, s.owner.write.addComposeHash([s.appId, b32('c')]))
    const addedAt = (await chain.client.getBlock({ blockNumber: added.blockNumber })).timestamp
    expect(await s.owner.read.composeHashActivatesAt([s.appId, b32('c')])).toBe(addedAt + 3n * DAY)
  })

  chainTest('behavior: lowering takes effect only after the current timelock has elapsed', async ({ chain }) => {
    const s = await setup(chain)
    const receipt = await mined(chain, s.owner.write.setTimelock([s.appId, 0n]))
    const at = (await chain.client.getBlock({ blockNumber: receipt.blockNumber })).timestamp
    expect(eventsOf(receipt, 'TimelockChanged')[0]?.args).toEqual({
      appId: s.appId,
      oldTimelock: DAY,
      newTimelock: 0n,
      effectiveAt: at + DAY,
    })
    expect(await s.owner.read.timelockOf([s.appId])).toBe(DAY)
    expect(await s.owner.read.pendingTimelockOf([s.appId])).toEqual([0n, at + DAY])

    // During the window an addition still waits the old timelock: lowering cannot skip the exit window.
    const added = await mined(chain, s.owner.write.addComposeHash([s.appId, b32('early')]))
    const addedAt = (await chain.client.getBlock({ blockNumber: added.blockNumber })).timestamp
    expect(await s.owner.read.composeHashActivatesAt([s.appId, b32('early')])).toBe(addedAt + DAY)
    expect(await s.owner.read.isComposeHashApproved([s.appId, b32('early')])).toBe(false)

    await mineAt(chain, at + DAY - 1n)
    expect(await s.owner.read.timelockOf([s.appId])).toBe(DAY)
    await mineAt(chain, at + DAY)
    expect(await s.owner.read.timelockOf([s.appId])).toBe(0n)
    expect(await s.owner.read.pendingTimelockOf([s.appId])).toEqual([0n, 0n])
    await mined(chain, s.owner.write.addComposeHash([s.appId, b32('late')]))
    expect(await s.owner.read.isComposeHashApproved([s.appId, b32('late')])).toBe(true)
  })

  chainTest('behavior: raising cancels a pending lowering', async ({ chain }) => {
    const s = await setup(chain)
    await mined(chain, s.owner.write.setTimelock([s.appId, 0n]))
    await mined(chain, s.owner.write.setTimelock([s.appId, 2n * DAY]))
    expect(await s.owner.read.pendingTimelockOf([s.appId])).toEqual([0n, 0n])
    await elapse(chain, 3n * DAY)
    expect(await s.owner.read.timelockOf([s.appId])).toBe(2n * DAY)
  })

  chainTest('behavior: a second lowering is measured from the timelock in force, not the pending one', async ({ chain }) => {
    const s = await setup(chain, 4n * DAY)
    await mined(chain, s.owner.write.setTimelock([s.appId, DAY]))
    const receipt = await mined(chain, s.owner.write.setTimelock([s.appId, 0n]))
    const at = (await chain.client.getBlock({ blockNumber: receipt.blockNumber })).timestamp
    expect(await s.owner.read.pendingTimelockOf([s.appId])).toEqual([0n, at + 4n * DAY])
  })

  chainTest('behavior: non-owner, unknown app and too long revert', async ({ chain }) => {
    const s = await setup(chain)
    const max = await s.owner.read.MAX_TIMELOCK()
    await expectRevert(s.stranger.write.setTimelock([s.appId, 0n]), 'NotAppOwner', [s.appId, wallet(chain, role.stranger).account.address])
    await expectRevert(s.owner.write.setTimelock([appIdOf(zeroAddress, salt), 0n]), 'AppNotRegistered')
    await expectRevert(s.owner.write.setTimelock([s.appId, max + 1n]), 'TimelockTooLong', [max, max + 1n])
  })
})

describe('isAppAllowed', () => {
  /** An app (timelock 1 day) with compose hash and OS image approved and active. */
  async function approvedApp(chain: Chain_) {
    const s = await setup(chain)
    await mined(chain, s.owner.write.addComposeHash([s.appId, b32('compose')]))
    await mined(chain, s.owner.write.addOsImage([s.appId, b32('os'), [registers('os')]]))
    await elapse(chain, DAY)
    return s
  }

  chainTest('default: a registered app with approved, active compose hash and OS image is allowed', async ({ chain }) => {
    const s = await approvedApp(chain)
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId)])).toEqual([true, ''])
  })

  chainTest('behavior: each failing check gives its reason, in order', async ({ chain }) => {
    const s = await setup(chain)
    const unknown = appIdOf(zeroAddress, salt)
    expect(await s.owner.read.isAppAllowed([bootInfo(unknown)])).toEqual([false, 'App not registered'])
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId)])).toEqual([false, 'Compose hash not allowed'])
    await mined(chain, s.owner.write.addComposeHash([s.appId, b32('compose')]))
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId)])).toEqual([false, 'Compose hash pending timelock'])
    await elapse(chain, DAY)
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId)])).toEqual([false, 'OS image is not allowed'])
    await mined(chain, s.owner.write.addOsImage([s.appId, b32('os'), [registers('os')]]))
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId)])).toEqual([false, 'OS image pending timelock'])
    await elapse(chain, DAY)
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId)])).toEqual([true, ''])
    await mined(chain, s.owner.write.removeComposeHash([s.appId, b32('compose')]))
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId)])).toEqual([false, 'Compose hash not allowed'])
  })

  chainTest('behavior: requireTcbUpToDate rejects any other TCB status', async ({ chain }) => {
    const s = await approvedApp(chain)
    const outOfDate = bootInfo(s.appId, { tcbStatus: 'OutOfDate' })
    expect(await s.owner.read.isAppAllowed([outOfDate])).toEqual([true, ''])
    const receipt = await mined(chain, s.owner.write.setRequireTcbUpToDate([s.appId, true]))
    expect(eventsOf(receipt, 'RequireTcbUpToDateSet')[0]?.args).toEqual({ appId: s.appId, required: true })
    expect(await s.owner.read.requiresTcbUpToDate([s.appId])).toBe(true)
    expect(await s.owner.read.isAppAllowed([outOfDate])).toEqual([false, 'TCB status not UpToDate'])
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId)])).toEqual([true, ''])
    await mined(chain, s.owner.write.setRequireTcbUpToDate([s.appId, false]))
    expect(await s.owner.read.isAppAllowed([outOfDate])).toEqual([true, ''])
    await expectRevert(s.stranger.write.setRequireTcbUpToDate([s.appId, false]), 'NotAppOwner')
  })

  chainTest('behavior: isAppAllowedWithKms also requires an allowed, active KMS root', async ({ chain }) => {
    const s = await approvedApp(chain)
    const root = appIdOf(zeroAddress, b32('kms-root'))
    const info = bootInfo(s.appId)
    expect(await s.owner.read.isAppAllowedWithKms([info, root])).toEqual([false, 'KMS root not allowed'])
    await mined(chain, s.owner.write.addKmsRoot([s.appId, root]))
    expect(await s.owner.read.isAppAllowedWithKms([info, root])).toEqual([false, 'KMS root pending timelock'])
    await elapse(chain, DAY)
    expect(await s.owner.read.isAppAllowedWithKms([info, root])).toEqual([true, ''])
    expect(await s.owner.read.isAppAllowedWithKms([info, appIdOf(zeroAddress, b32('other-root'))])).toEqual([false, 'KMS root not allowed'])
    // App checks come first.
    expect(await s.owner.read.isAppAllowedWithKms([bootInfo(s.appId, { composeHash: b32('x') }), root])).toEqual([
      false,
      'Compose hash not allowed',
    ])
  })

  chainTest('behavior: ERC-165 reports the dstack IAppAuth interface id 0x1e079198', async ({ chain }) => {
    const s = await setup(chain)
    const selector = toFunctionSelector('isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))')
    expect(selector).toBe('0x1e079198')
    expect(await s.owner.read.supportsInterface(['0x1e079198'])).toBe(true)
    expect(await s.owner.read.supportsInterface(['0x01ffc9a7'])).toBe(true)
    expect(await s.owner.read.supportsInterface(['0xffffffff'])).toBe(false)
  })
})

describe('OS image measurements', () => {
  const [shapeA, shapeB, shapeC] = [registers('os/2cpu'), registers('os/4cpu'), registers('os/8cpu')]

  chainTest('default: an image is approved with one measurement per VM shape, each recorded by its mr_system', async ({ chain }) => {
    const s = await setup(chain)
    const receipt = await mined(chain, s.owner.write.addOsImage([s.appId, b32('os'), [shapeA, shapeB]]))
    const at = (await chain.client.getBlock({ blockNumber: receipt.blockNumber })).timestamp + DAY
    expect(eventsOf(receipt, 'OsImageAdded')[0]?.args).toEqual({ appId: s.appId, osImageHash: b32('os'), activatesAt: at })
    expect(eventsOf(receipt, 'OsImageMeasurementAdded').map((e) => e.args)).toEqual([
      { appId: s.appId, osImageHash: b32('os'), mrSystem: mrSystemOf(shapeA), registers: shapeA, activatesAt: at },
      { appId: s.appId, osImageHash: b32('os'), mrSystem: mrSystemOf(shapeB), registers: shapeB, activatesAt: at },
    ])
    expect(await s.owner.read.osImageMeasurements([s.appId, b32('os')])).toEqual([mrSystemOf(shapeA), mrSystemOf(shapeB)])
    expect(await s.owner.read.osImageOfMeasurement([s.appId, mrSystemOf(shapeB)])).toEqual([b32('os'), at])
    expect(await s.owner.read.osImageOfMeasurement([s.appId, mrSystemOf(shapeC)])).toEqual([zeroHash, 0n])
    expect(await s.owner.read.osImageOfMeasurement([s.regent.appAuth, mrSystemOf(shapeA)])).toEqual([zeroHash, 0n])
  })

  chainTest('behavior: a boot must measure as the image it names (another image, a revoked one, a pending one)', async ({ chain }) => {
    const s = await setup(chain)
    await mined(chain, s.owner.write.addComposeHash([s.appId, b32('compose')]))
    await mined(chain, s.owner.write.addOsImage([s.appId, b32('os'), [shapeA]]))
    await mined(chain, s.owner.write.addOsImage([s.appId, b32('revoked'), [registers('revoked')]]))
    await elapse(chain, DAY)
    await mined(chain, s.owner.write.removeOsImage([s.appId, b32('revoked')]))
    await mined(chain, s.owner.write.addOsImage([s.appId, b32('pending'), [registers('pending')]]))
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeA) })])).toEqual([true, ''])
    // Each booted from another image, each claiming the approved one.
    for (const other of [registers('unknown'), registers('revoked'), registers('pending')])
      expect(await s.owner.read.isAppAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(other) })])).toEqual([
        false,
        'OS image measurement mismatch',
      ])
    expect(
      await s.owner.read.isAppAllowed([bootInfo(s.appId, { osImageHash: b32('pending'), mrSystem: mrSystemOf(registers('pending')) })]),
    ).toEqual([false, 'OS image pending timelock'])
    expect(
      await s.owner.read.isAppAllowed([bootInfo(s.appId, { osImageHash: b32('revoked'), mrSystem: mrSystemOf(registers('revoked')) })]),
    ).toEqual([false, 'OS image is not allowed'])
  })

  chainTest('behavior: a shape added to an active image waits its own timelock; the others stay allowed', async ({ chain }) => {
    const s = await setup(chain)
    await mined(chain, s.owner.write.addComposeHash([s.appId, b32('compose')]))
    await mined(chain, s.owner.write.addOsImage([s.appId, b32('os'), [shapeA]]))
    await elapse(chain, DAY)
    const receipt = await mined(chain, s.owner.write.addOsImage([s.appId, b32('os'), [shapeB]]))
    expect(eventsOf(receipt, 'OsImageAdded')).toEqual([])
    const at = (await chain.client.getBlock({ blockNumber: receipt.blockNumber })).timestamp + DAY
    expect(await s.owner.read.osImageOfMeasurement([s.appId, mrSystemOf(shapeB)])).toEqual([b32('os'), at])
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeB) })])).toEqual([
      false,
      'OS image measurement pending timelock',
    ])
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeA) })])).toEqual([true, ''])
    await mineAt(chain, at)
    expect(await s.owner.read.isAppAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeB) })])).toEqual([true, ''])
  })

  chainTest(
    'behavior: removal is immediate; removing the image removes its shapes, and re-adding does not revive them',
    async ({ chain }) => {
      const s = await setup(chain, 0n)
      await mined(chain, s.owner.write.addComposeHash([s.appId, b32('compose')]))
      await mined(chain, s.owner.write.addOsImage([s.appId, b32('os'), [shapeA, shapeB, shapeC]]))
      const one = await mined(chain, s.owner.write.removeOsImageMeasurement([s.appId, mrSystemOf(shapeB)]))
      expect(eventsOf(one, 'OsImageMeasurementRemoved')[0]?.args).toEqual({
        appId: s.appId,
        osImageHash: b32('os'),
        mrSystem: mrSystemOf(shapeB),
      })
      expect(await s.owner.read.isAppAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeB) })])).toEqual([
        false,
        'OS image measurement mismatch',
      ])
      expect(await s.owner.read.osImageMeasurements([s.appId, b32('os')])).toEqual([mrSystemOf(shapeA), mrSystemOf(shapeC)])
      const all = await mined(chain, s.owner.write.removeOsImage([s.appId, b32('os')]))
      expect(eventsOf(all, 'OsImageMeasurementRemoved').map((e) => e.args.mrSystem)).toEqual([mrSystemOf(shapeC), mrSystemOf(shapeA)])
      expect(await s.owner.read.osImageMeasurements([s.appId, b32('os')])).toEqual([])
      expect(await s.owner.read.osImageOfMeasurement([s.appId, mrSystemOf(shapeA)])).toEqual([zeroHash, 0n])
      await mined(chain, s.owner.write.addOsImage([s.appId, b32('os'), [shapeC]]))
      expect(await s.owner.read.isAppAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeA) })])).toEqual([
        false,
        'OS image measurement mismatch',
      ])
      expect(await s.owner.read.isAppAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeC) })])).toEqual([true, ''])
    },
  )

  chainTest('behavior: malformed, foreign, too many, absent and non-owner calls revert', async ({ chain }) => {
    const s = await setup(chain)
    const strangerAddress = wallet(chain, role.stranger).account.address
    await expectRevert(s.owner.write.addOsImage([s.appId, b32('os'), []]), 'InvalidMeasurement', [0n])
    await expectRevert(s.owner.write.addOsImage([s.appId, b32('os'), [`0x${'ab'.repeat(191)}`]]), 'InvalidMeasurement', [191n])
    await mined(chain, s.owner.write.addOsImage([s.appId, b32('os'), [shapeA]]))
    await expectRevert(s.owner.write.addOsImage([s.appId, b32('other'), [shapeA]]), 'MeasurementOfOtherImage', [
      mrSystemOf(shapeA),
      b32('os'),
    ])
    const many = Array.from({ length: 16 }, (_, i) => registers(`shape-${i}`))
    await expectRevert(s.owner.write.addOsImage([s.appId, b32('os'), many]), 'TooManyMeasurements', [16n])
    await expectRevert(s.owner.write.removeOsImageMeasurement([s.appId, mrSystemOf(shapeB)]), 'NotListed', [mrSystemOf(shapeB)])
    await expectRevert(s.stranger.write.removeOsImageMeasurement([s.appId, mrSystemOf(shapeA)]), 'NotAppOwner', [s.appId, strangerAddress])
    expect(await s.owner.read.osImageMeasurements([s.appId, b32('os')])).toEqual([mrSystemOf(shapeA)])
  })

  chainTest('behavior: the KMS table (app id KMS_IMAGES) binds KMS boots to their image in isKmsAllowed', async ({ chain }) => {
    const s = await setup(chain)
    expect(await s.governance.read.KMS_IMAGES()).toBe(zeroAddress)
    const receipt = await mined(chain, s.governance.write.addKmsOsImage([b32('os'), [shapeA]]))
    expect(eventsOf(receipt, 'OsImageMeasurementAdded')[0]?.args.appId).toBe(zeroAddress)
    await mined(chain, s.governance.write.addKmsMeasurement([b32('mr')]))
    await elapse(chain, 2n * DAY)
    expect(await s.governance.read.osImageOfMeasurement([zeroAddress, mrSystemOf(shapeA)])).toEqual([
      b32('os'),
      await s.governance.read.kmsOsImageActivatesAt([b32('os')]),
    ])
    expect(await s.governance.read.isKmsAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeA) })])).toEqual([true, ''])
    expect(await s.governance.read.isKmsAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeB) })])).toEqual([
      false,
      'OS image measurement mismatch',
    ])
    await mined(chain, s.governance.write.removeKmsOsImageMeasurement([mrSystemOf(shapeA)]))
    expect(await s.governance.read.isKmsAllowed([bootInfo(s.appId, { mrSystem: mrSystemOf(shapeA) })])).toEqual([
      false,
      'OS image measurement mismatch',
    ])
    await expectRevert(s.stranger.write.removeKmsOsImageMeasurement([mrSystemOf(shapeA)]), 'OwnableUnauthorizedAccount', [
      wallet(chain, role.stranger).account.address,
    ])
  })
})

describe('enrollment consent', () => {
  chainTest('default: closed; the owner consents per agent or opens enrollment, and can take either back', async ({ chain }) => {
    const s = await setup(chain)
    expect(await s.owner.read.mayEnroll([s.appId, 7n])).toBe(false)
    expect(await s.owner.read.isEnrollmentOpen([s.appId])).toBe(false)
    const consent = await mined(chain, s.owner.write.setEnrollmentConsent([s.appId, 7n, true]))
    expect(eventsOf(consent, 'EnrollmentConsentSet')[0]?.args).toEqual({ appId: s.appId, agentId: 7n, consent: true })
    expect(await s.owner.read.mayEnroll([s.appId, 7n])).toBe(true)
    expect(await s.owner.read.mayEnroll([s.appId, 8n])).toBe(false)
    const open = await mined(chain, s.owner.write.setOpenEnrollment([s.appId, true]))
    expect(eventsOf(open, 'OpenEnrollmentSet')[0]?.args).toEqual({ appId: s.appId, open: true })
    expect(await s.owner.read.mayEnroll([s.appId, 8n])).toBe(true)
    await mined(chain, s.owner.write.setOpenEnrollment([s.appId, false]))
    await mined(chain, s.owner.write.setEnrollmentConsent([s.appId, 7n, false]))
    expect(await s.owner.read.mayEnroll([s.appId, 7n])).toBe(false)
    expect(await s.owner.read.mayEnroll([appIdOf(zeroAddress, salt), 7n])).toBe(false)
  })

  chainTest('behavior: only the app owner decides', async ({ chain }) => {
    const s = await setup(chain)
    const strangerAddress = wallet(chain, role.stranger).account.address
    await expectRevert(s.stranger.write.setOpenEnrollment([s.appId, true]), 'NotAppOwner', [s.appId, strangerAddress])
    await expectRevert(s.stranger.write.setEnrollmentConsent([s.appId, 1n, true]), 'NotAppOwner', [s.appId, strangerAddress])
    expect(await s.owner.read.mayEnroll([s.appId, 1n])).toBe(false)
  })
})

describe('KMS measurements', () => {
  chainTest('default: governance adds a measurement and OS image, active after kmsTimelock', async ({ chain }) => {
    const s = await setup(chain)
    const mr = b32('mr')
    const receipt = await mined(chain, s.governance.write.addKmsMeasurement([mr]))
    const at = (await chain.client.getBlock({ blockNumber: receipt.blockNumber })).timestamp
    expect(await s.governance.read.kmsTimelock()).toBe(2n * DAY)
    expect(eventsOf(receipt, 'KmsMeasurementAdded')[0]?.args).toEqual({ mrAggregated: mr, activatesAt: at + 2n * DAY })
    expect(await s.governance.read.kmsMeasurementActivatesAt([mr])).toBe(at + 2n * DAY)
    const os = await mined(chain, s.governance.write.addKmsOsImage([b32('os'), [registers('os')]]))
    expect(eventsOf(os, 'KmsOsImageAdded')[0]?.args.osImageHash).toBe(b32('os'))
    expect(await s.governance.read.isKmsMeasurementApproved([mr])).toBe(false)
    await mineAt(chain, at + 2n * DAY)
    expect(await s.governance.read.isKmsMeasurementApproved([mr])).toBe(true)
    await elapse(chain, 2n * DAY)
    expect(await s.governance.read.isKmsOsImageApproved([b32('os')])).toBe(true)
  })

  chainTest('behavior: isKmsAllowed gives each reason in order', async ({ chain }) => {
    const s = await setup(chain)
    const info = bootInfo(s.appId)
    expect(await s.governance.read.isKmsAllowed([bootInfo(s.appId, { tcbStatus: 'SWHardeningNeeded' })])).toEqual([
      false,
      'TCB status not UpToDate',
    ])
    expect(await s.governance.read.isKmsAllowed([info])).toEqual([false, 'OS image is not allowed'])
    await mined(chain, s.governance.write.addKmsOsImage([b32('os'), [registers('os')]]))
    expect(await s.governance.read.isKmsAllowed([info])).toEqual([false, 'OS image pending timelock'])
    await elapse(chain, 2n * DAY)
    expect(await s.governance.read.isKmsAllowed([info])).toEqual([false, 'Aggregated MR not allowed'])
    await mined(chain, s.governance.write.addKmsMeasurement([b32('mr')]))
    expect(await s.governance.read.isKmsAllowed([info])).toEqual([false, 'Aggregated MR pending timelock'])
    await elapse(chain, 2n * DAY)
    expect(await s.governance.read.isKmsAllowed([info])).toEqual([true, ''])
    expect(await s.governance.read.isKmsAllowed([bootInfo(s.appId, { mrAggregated: b32('other') })])).toEqual([
      false,
      'Aggregated MR not allowed',
    ])
  })

  chainTest('behavior: removal is immediate, also of a pending one', async ({ chain }) => {
    const s = await setup(chain)
    await mined(chain, s.governance.write.addKmsMeasurement([b32('mr')]))
    await mined(chain, s.governance.write.addKmsOsImage([b32('os'), [registers('os')]]))
    await elapse(chain, 2n * DAY)
    expect(await s.governance.read.isKmsAllowed([bootInfo(s.appId)])).toEqual([true, ''])
    const removed = await mined(chain, s.governance.write.removeKmsMeasurement([b32('mr')]))
    expect(eventsOf(removed, 'KmsMeasurementRemoved')[0]?.args).toEqual({ mrAggregated: b32('mr') })
    expect(await s.governance.read.isKmsAllowed([bootInfo(s.appId)])).toEqual([false, 'Aggregated MR not allowed'])
    const removedOs = await mined(chain, s.governance.write.removeKmsOsImage([b32('os')]))
    expect(eventsOf(removedOs, 'KmsOsImageRemoved')[0]?.args).toEqual({ osImageHash: b32('os') })
    expect(await s.governance.read.isKmsOsImageApproved([b32('os')])).toBe(false)

    await mined(chain, s.governance.write.addKmsMeasurement([b32('pending')]))
    await mined(chain, s.governance.write.removeKmsMeasurement([b32('pending')]))
    await elapse(chain, 3n * DAY)
    expect(await s.governance.read.isKmsMeasurementApproved([b32('pending')])).toBe(false)
    expect(await s.governance.read.kmsOsImageActivatesAt([b32('os')])).toBe(0n)
  })

  chainTest('behavior: only governance; zero, duplicate and absent values revert', async ({ chain }) => {
    const s = await setup(chain)
    const strangerAddress = wallet(chain, role.stranger).account.address
    for (const call of [
      () => s.stranger.write.addKmsMeasurement([b32('mr')]),
      () => s.stranger.write.removeKmsMeasurement([b32('mr')]),
      () => s.stranger.write.addKmsOsImage([b32('os'), [registers('os')]]),
      () => s.stranger.write.removeKmsOsImage([b32('os')]),
    ]) {
      await expectRevert(call(), 'OwnableUnauthorizedAccount', [strangerAddress])
    }
    await expectRevert(s.governance.write.addKmsMeasurement([zeroHash]), 'ZeroValue', [])
    await expectRevert(s.governance.write.removeKmsOsImage([b32('os')]), 'NotListed', [b32('os')])
    await mined(chain, s.governance.write.addKmsOsImage([b32('os'), [registers('os')]]))
    await expectRevert(s.governance.write.addKmsOsImage([b32('os'), [registers('os')]]), 'AlreadyListed', [mrSystemOf(registers('os'))])
  })

  chainTest('behavior: governance ownership moves in two steps (Ownable2Step)', async ({ chain }) => {
    const s = await setup(chain)
    const next = wallet(chain, role.stranger).account.address
    await mined(chain, s.governance.write.transferOwnership([next]))
    expect(await s.governance.read.owner()).toBe(wallet(chain, role.governance).account.address)
    await mined(chain, s.stranger.write.acceptOwnership())
    expect(await s.governance.read.owner()).toBe(next)
    await mined(chain, s.stranger.write.addKmsMeasurement([b32('mr')]))
  })
})

describe('constructor', () => {
  chainTest('behavior: a kmsTimelock above MAX_TIMELOCK reverts TimelockTooLong', async ({ chain }) => {
    const deploy = (kmsTimelock: bigint) =>
      chain.client.call({
        account: wallet(chain, role.governance).account,
        data: encodeDeployData({ abi: regentAppAuthAbi, bytecode: regentAppAuthBytecode, args: [kmsTimelock] }),
      })
    const error = await deploy(366n * DAY).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(BaseError)
    const withData = (error as BaseError).walk((e) => typeof (e as { data?: unknown }).data === 'string') as { data: Hex } | null
    expect(withData).not.toBeNull()
    expect(decodeErrorResult({ abi: regentAppAuthAbi, data: (withData as { data: Hex }).data })).toMatchObject({
      errorName: 'TimelockTooLong',
      args: [365n * DAY, 366n * DAY],
    })
    // The bound itself is accepted.
    const regent = await deployRegent(chain, { kmsTimelock: 365n * DAY })
    expect(await appAuthAs(chain, regent.appAuth, 0).read.kmsTimelock()).toBe(365n * DAY)
  })
})

describe('dstack auth-eth compatibility views', () => {
  chainTest('default: gatewayAppId is "" and appImplementation is address(0) until governance sets a gateway', async ({ chain }) => {
    const s = await setup(chain)
    expect(await s.owner.read.gatewayAppId()).toBe('')
    expect(await s.owner.read.appImplementation()).toBe(zeroAddress)
    const receipt = await mined(chain, s.governance.write.setGatewayAppId(['gw-app']))
    expect(eventsOf(receipt, 'GatewayAppIdSet')[0]?.args).toEqual({ gatewayAppId: 'gw-app' })
    expect(await s.stranger.read.gatewayAppId()).toBe('gw-app')
  })

  chainTest('behavior: only governance sets the gateway app id; a refused call changes nothing', async ({ chain }) => {
    const s = await setup(chain)
    await mined(chain, s.governance.write.setGatewayAppId(['gw-app']))
    await expectRevert(s.owner.write.setGatewayAppId(['evil']), 'OwnableUnauthorizedAccount', [
      wallet(chain, role.appOwner).account.address,
    ])
    expect(await s.owner.read.gatewayAppId()).toBe('gw-app')
  })

  chainTest('behavior: the selectors dstack auth-eth calls exist with its signatures', async () => {
    const selectors = regentAppAuthAbi.filter((x) => x.type === 'function').map((f) => toFunctionSelector(f as never))
    for (const signature of [
      'function isAppAllowed((address appId,bytes32 composeHash,address instanceId,bytes32 deviceId,bytes32 mrAggregated,bytes32 mrSystem,bytes32 osImageHash,string tcbStatus,string[] advisoryIds) bootInfo) view returns (bool, string)',
      'function isKmsAllowed((address appId,bytes32 composeHash,address instanceId,bytes32 deviceId,bytes32 mrAggregated,bytes32 mrSystem,bytes32 osImageHash,string tcbStatus,string[] advisoryIds) bootInfo) view returns (bool, string)',
      'function gatewayAppId() view returns (string)',
      'function appImplementation() view returns (address)',
    ])
      expect(selectors).toContain(toFunctionSelector(signature))
  })
})
