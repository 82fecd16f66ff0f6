import { createHash } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3'
import { EventLog, Quote, TdReport } from '@regent-tee/attest'
import { describe, expect, test } from 'vitest'
import * as DevnetPki from './DevnetPki.js'
import * as DevnetQe from './DevnetQe.js'
import * as DevnetTd from './DevnetTd.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const utf8 = (s: string) => new TextEncoder().encode(s)

// dstack.md §8 vector 8: HEAD sdk/simulator/attestation.bin runtime events → quote RTMR3 and MRCONFIGID (V1).
const composeHash = fromHex('c143116fef3940e7f776bfc0919c256232ae5338a6e948c96b711e0b2383483a')
const simulatorEvents: { name: string; payload: Uint8Array }[] = [
  { name: 'system-preparing', payload: new Uint8Array(0) },
  { name: 'app-id', payload: fromHex('5bb4ff9a3837357f19dc176407a5709c62eb6c56') },
  { name: 'compose-hash', payload: composeHash },
  { name: 'instance-id', payload: fromHex('1691ed1b47506cad7d08834668691d88246f5b1f') },
  { name: 'boot-mr-done', payload: new Uint8Array(0) },
  { name: 'os-image-hash', payload: fromHex('e61be43dd1cc6a6f5edefd7c51b608983780839b0000ce60dd99737dcffe09b9') },
  {
    name: 'key-provider',
    payload: utf8(
      '{"name":"kms","id":"3059301306072a8648ce3d020106082a8648ce3d0301070342000419b2457dd9b8aa6446d980f136fff7812ecd6c77740eeb0e28b10d56c0c00028a5b6e59dcea307d583bd1f70769e9c116df2bcfb1758a95d8613e7de1c8482c0"}',
    ),
  },
  { name: 'storage-fs', payload: utf8('zfs') },
  { name: 'system-ready', payload: new Uint8Array(0) },
]

describe('extend', () => {
  test('default: RTMR3 after dstack’s simulator event sequence equals the quote RTMR3 of dstack’s fixture', () => {
    const td = DevnetTd.create({ mrConfigId: DevnetTd.mrConfigId({ composeHash }) })
    for (const e of simulatorEvents) DevnetTd.extend(td, e)
    expect(hex(td.rtmr3)).toBe('f28a1490ee924e9396c2ccf2d93ad536b83cbe159a1d45024d1fd7acdcc102145efcfcd0cfa209416446c70226affadf')
    expect(hex(td.mrConfigId)).toBe(`01${hex(composeHash)}${'00'.repeat(15)}`)
  })

  test('behavior: the report’s RTMR0..3 equal attest’s EventLog.replay of the TD’s event log, also through dstack’s JSON', () => {
    const td = DevnetTd.create()
    for (const e of simulatorEvents) DevnetTd.extend(td, e)
    DevnetTd.extend(td, { name: 'agent-started', payload: utf8('v2 event'), version: 2 })
    const report = DevnetTd.report(td, { reportData: new Uint8Array(0) })
    expect(EventLog.replay(DevnetTd.eventLog(td))).toEqual(TdReport.rtmrs(report))
    const stripped = EventLog.parse(DevnetTd.eventLogJson(td))
    expect(stripped.filter((e) => e.imr === 3).every((e) => e.digest === undefined)).toBe(true)
    expect(EventLog.replay(stripped)).toEqual(TdReport.rtmrs(report))
    expect(EventLog.replay(EventLog.parse(DevnetTd.eventLogJson(td, { stripped: false })))).toEqual(TdReport.rtmrs(report))
    const info = EventLog.appInfo(stripped)
    expect([hex(info.composeHash as Uint8Array), info.keyProvider?.name, info.storageFs, info.systemReady]).toEqual([
      hex(composeHash),
      'kms',
      'zfs',
      true,
    ])
    expect(info.appEvents.map((e) => e.name)).toEqual(['agent-started'])
  })

  test('behavior: the digest follows attest’s runtimeEventDigest (V1 preimage 01000008 3a name 3a payload)', () => {
    const td = DevnetTd.create()
    const event = DevnetTd.extend(td, { name: 'app-id', payload: fromHex('deadbeef') })
    expect(hex(event.digest as Uint8Array)).toBe(
      '67b4be4efed0893cfa2bb1d35dca209ad8348b4c97f980807bcde8b9a0f26398dd0923d6eccb5aa2096d98046da8740f',
    )
    expect(td.rtmr3).toEqual(
      new Uint8Array(
        createHash('sha384')
          .update(new Uint8Array(48))
          .update(event.digest as Uint8Array)
          .digest(),
      ),
    )
  })
})

describe('mrConfigId', () => {
  test('default: V1 when no key provider id: 01 ‖ compose hash ‖ 15 zero bytes', () => {
    expect(
      hex(DevnetTd.mrConfigId({ composeHash, appId: new Uint8Array(20), keyProviderKind: 'kms', keyProviderId: new Uint8Array(0) })),
    ).toBe(`01${hex(composeHash)}${'00'.repeat(15)}`)
  })

  test('behavior: V2 for a KMS app: 02 ‖ Keccak-256(compose ‖ app id ‖ kind 2 ‖ KMS root SPKI) ‖ 15 zero bytes', () => {
    const appId = fromHex('5bb4ff9a3837357f19dc176407a5709c62eb6c56')
    const spki = DevnetPki.create().root.certificate.x509.publicKey.export({ type: 'spki', format: 'der' })
    const expected = keccak_256(Buffer.concat([composeHash, appId, Uint8Array.of(2), spki]))
    const value = DevnetTd.mrConfigId({ composeHash, appId, keyProviderKind: 'kms', keyProviderId: new Uint8Array(spki) })
    expect(hex(value)).toBe(`02${hex(expected)}${'00'.repeat(15)}`)
    expect(DevnetTd.mrConfigId({ composeHash, appId, keyProviderKind: 'local', keyProviderId: new Uint8Array(spki) })).not.toEqual(value)
    expect(() => DevnetTd.mrConfigId({ composeHash, keyProviderId: Uint8Array.of(1) })).toThrowError(
      'Invalid MRCONFIGID input: appId must be 20 bytes for a V2 config id, got 0.',
    )
    expect(() => DevnetTd.mrConfigId({ composeHash: new Uint8Array(31) })).toThrowError(
      'Invalid MRCONFIGID input: composeHash must be 32 bytes, got 31.',
    )
  })
})

describe('report', () => {
  test('default: TD attributes, XFAM, SEAM fields and measurements of the devnet image', () => {
    const td = DevnetTd.create()
    const report = DevnetTd.report(td, { reportData: Uint8Array.of(1, 2, 3) })
    expect(TdReport.isDebug(report)).toBe(false)
    expect(TdReport.isSeptVeDisabled(report)).toBe(true)
    expect(hex(report.tdAttributes)).toBe('0000001000000000')
    expect(hex(report.xfam)).toBe('e702060000000000')
    expect(report.mrSignerSeam).toEqual(new Uint8Array(48))
    expect(report.seamAttributes).toEqual(new Uint8Array(8))
    expect(hex(report.teeTcbSvn)).toBe('05010200000000000000000000000000')
    expect(hex(report.reportData)).toBe(`010203${'00'.repeat(61)}`)
    expect(report.rtmr3).toEqual(new Uint8Array(48))
    const label = (l: string, data: string) =>
      createHash('sha384').update(`regent-devnet/v1/${l}`).update(Uint8Array.of(0)).update(data).digest('hex')
    expect(hex(report.mrTd)).toBe(label('mrtd', 'regent-devnet-ovmf'))
    expect(hex(report.mrSeam)).toBe(label('mrseam', ''))
    expect(TdReport.serialize(report).length).toBe(584)
  })

  test('behavior: measurements are deterministic per image and change with any part of it', () => {
    const a = DevnetTd.measurements(DevnetTd.defaultImage)
    expect(DevnetTd.measurements({ ...DevnetTd.defaultImage })).toEqual(a)
    const cmdline = DevnetTd.measurements({ ...DevnetTd.defaultImage, cmdline: 'console=ttyS0 debug' })
    expect([cmdline.mrTd, cmdline.rtmr0, cmdline.rtmr1]).toEqual([a.mrTd, a.rtmr0, a.rtmr1])
    expect(cmdline.rtmr2).not.toEqual(a.rtmr2)
    const bigger = DevnetTd.measurements(DevnetTd.defaultImage, { vcpus: 4, memoryMb: 2048 })
    expect([bigger.mrTd, bigger.rtmr1, bigger.rtmr2]).toEqual([a.mrTd, a.rtmr1, a.rtmr2])
    expect(bigger.rtmr0).not.toEqual(a.rtmr0)
    expect(DevnetTd.measurements({ ...DevnetTd.defaultImage, kernel: 'other' }).rtmr1).not.toEqual(a.rtmr1)
    expect(DevnetTd.osImageHash(DevnetTd.defaultImage)).toHaveLength(32)
    expect(DevnetTd.osImageHash({ ...DevnetTd.defaultImage, version: '0.5.6' })).not.toEqual(DevnetTd.osImageHash(DevnetTd.defaultImage))
  })

  test('behavior: an image publishes one measurement per VM shape; its hash does not depend on the shape', () => {
    const published = DevnetTd.published(DevnetTd.defaultImage)
    expect(published.osImageHash).toBe(`0x${hex(DevnetTd.osImageHash(DevnetTd.defaultImage))}`)
    expect(published.measurements).toHaveLength(DevnetTd.publishedShapes.length)
    DevnetTd.publishedShapes.forEach((shape, i) => {
      const m = DevnetTd.measurements(DevnetTd.defaultImage, shape)
      expect(published.measurements[i]).toBe(`0x${hex(m.mrTd)}${hex(m.rtmr0)}${hex(m.rtmr1)}${hex(m.rtmr2)}`)
      // mr_system = SHA-256(the 192 registers ‖ 0³²), what RegentAppAuth computes from them.
      const registers = Buffer.from((published.measurements[i] as string).slice(2), 'hex')
      expect(hex(DevnetTd.mrSystem(m))).toBe(createHash('sha256').update(registers).update(new Uint8Array(32)).digest('hex'))
    })
    expect(new Set(published.measurements).size).toBe(published.measurements.length)
  })

  test('behavior: a devnet quote carries the report unchanged', () => {
    const pki = DevnetPki.create()
    const td = DevnetTd.create({ mrConfigId: DevnetTd.mrConfigId({ composeHash }) })
    for (const e of simulatorEvents) DevnetTd.extend(td, e)
    const report = DevnetTd.report(td, { reportData: new Uint8Array(64).fill(9) })
    const quote = Quote.parse(DevnetQe.quote(DevnetQe.create({ pki }), { tdReport: report }))
    expect(quote.body).toEqual(report)
    EventLog.assert(EventLog.parse(DevnetTd.eventLogJson(td)), { rtmrs: Quote.rtmrs(quote) ?? [] })
  })

  test('behavior: wrong sizes are typed errors', () => {
    const td = DevnetTd.create()
    expect(() => DevnetTd.report(td, { reportData: new Uint8Array(65) })).toThrowError(
      'Invalid TD register reportData: expected at most 64 bytes, got 65.',
    )
    expect(() => DevnetTd.create({ mrConfigId: new Uint8Array(32) })).toThrowError(
      'Invalid TD register mrConfigId: expected 48 bytes, got 32.',
    )
    expect(() => DevnetTd.create({ shape: { vcpus: 0, memoryMb: 2048 } })).toThrowError(
      new DevnetTd.InvalidImageError({ field: 'vcpus', reason: 'must be a positive integer' }),
    )
  })
})
