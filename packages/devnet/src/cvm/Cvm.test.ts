import { createHash } from 'node:crypto'
import { EventLog, Quote, verifyQuote } from '@regent-tee/attest'
import { describe, expect, test } from 'vitest'
import * as DevnetCollateral from '../tdx/DevnetCollateral.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import * as DevnetQe from '../tdx/DevnetQe.js'
import * as DevnetTd from '../tdx/DevnetTd.js'
import { createCvm } from './Cvm.js'
import { createLocalKeyProvider } from './KeyProvider.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const collateral = DevnetCollateral.issue(pki)
const encode = (s: string) => new TextEncoder().encode(s)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest())
const kmsCompose = encode('{"manifest_version":2,"name":"boot","runner":"docker-compose","kms_enabled":true}')

function quoteOf(bytes: Uint8Array) {
  return Quote.parse(bytes)
}

describe('createCvm', () => {
  test('default: boot extends RTMR3 with dstack’s sequence; the quote’s RTMR3 replays from it', async () => {
    const seed = new Uint8Array(20).fill(7)
    const appId = new Uint8Array(20).fill(0x11)
    const cvm = await createCvm({ compose: kmsCompose, appId, instanceIdSeed: seed, qe, keyProvider })
    const { quote, eventLog } = cvm.quote({ reportData: new Uint8Array(0) })
    const log = EventLog.parse(eventLog)
    const runtime = EventLog.runtimeEvents(log)
    expect(runtime.map((e) => e.name)).toEqual([
      'system-preparing',
      'app-id',
      'compose-hash',
      'instance-id',
      'boot-mr-done',
      'os-image-hash',
      'key-provider',
      'storage-fs',
      'system-ready',
    ])
    const payload = (name: string) => runtime.find((e) => e.name === name)?.payload as Uint8Array
    expect(hex(payload('app-id'))).toBe(hex(appId))
    expect(hex(payload('compose-hash'))).toBe(hex(sha256(kmsCompose)))
    expect(hex(payload('instance-id'))).toBe(hex(sha256(new Uint8Array([...seed, ...appId])).subarray(0, 20)))
    expect(hex(payload('os-image-hash'))).toBe(hex(DevnetTd.osImageHash(DevnetTd.defaultImage)))
    expect(new TextDecoder().decode(payload('key-provider'))).toBe(`{"name":"local-devnet","id":"${hex(keyProvider.info.id)}"}`)
    expect(new TextDecoder().decode(payload('storage-fs'))).toBe('zfs')
    expect(hex(EventLog.replay(log)[3])).toBe(hex(Quote.rtmrs(quoteOf(quote))?.[3] as Uint8Array))
    expect(cvm.info.keyProviderInfo).toBe(new TextDecoder().decode(payload('key-provider')))
    expect(JSON.parse(cvm.info.vmConfig).os_image_hash).toBe(hex(cvm.info.osImageHash))
  })

  test('behavior: compose hash is SHA-256 of the exact bytes (whitespace matters)', async () => {
    const compact = encode('{"name":"ws","runner":"docker-compose"}')
    const spaced = encode('{ "name": "ws", "runner": "docker-compose" }')
    const a = await createCvm({ compose: compact, qe, keyProvider })
    const b = await createCvm({ compose: spaced, qe, keyProvider })
    expect(hex(a.info.composeHash)).toBe(hex(sha256(compact)))
    expect(hex(b.info.composeHash)).toBe(hex(sha256(spaced)))
    expect(hex(a.info.composeHash)).not.toBe(hex(b.info.composeHash))
  })

  test('behavior: app id rules (§4.6)', async () => {
    const plain = encode('{"name":"plain","runner":"docker-compose"}')
    const none = await createCvm({ compose: plain, qe, keyProvider })
    expect([hex(none.info.appId), none.info.keyProviderKind]).toEqual([hex(sha256(plain).subarray(0, 20)), 'none'])
    const kms = await createCvm({ compose: kmsCompose, qe, keyProvider })
    expect(hex(kms.info.appId)).toBe(hex(sha256(kmsCompose).subarray(0, 20)))
    await expect(createCvm({ compose: plain, appId: new Uint8Array(20).fill(1), qe, keyProvider })).rejects.toThrow(
      'Invalid app compose: key provider "none" forces app id = compose_hash[0..20]; a different app id cannot be pinned.',
    )
    await expect(createCvm({ compose: kmsCompose, appId: new Uint8Array(19), qe, keyProvider })).rejects.toThrow(
      'Invalid app compose: app id must be 20 bytes, got 19.',
    )
    const noInstance = await createCvm({ compose: encode('{"name":"n","no_instance_id":true}'), qe, keyProvider })
    expect(noInstance.info.instanceId.length).toBe(0)
  })

  test('behavior: MRCONFIGID is V1 (01 ‖ compose hash ‖ 0¹⁵) without key_provider_id and V2 with it', async () => {
    const v1 = await createCvm({ compose: kmsCompose, qe, keyProvider })
    const body1 = Quote.tdReport(quoteOf(v1.quote({ reportData: new Uint8Array(0) }).quote))
    expect(hex(body1?.mrConfigId as Uint8Array)).toBe(`01${hex(sha256(kmsCompose))}${'00'.repeat(15)}`)

    const providerId = hex(keyProvider.info.id)
    const withId = encode(`{"name":"v2","kms_enabled":true,"key_provider_id":"${providerId}"}`)
    const appId = new Uint8Array(20).fill(9)
    const v2 = await createCvm({ compose: withId, appId, qe, keyProvider })
    const body2 = Quote.tdReport(quoteOf(v2.quote({ reportData: new Uint8Array(0) }).quote))
    const expected = DevnetTd.mrConfigId({ composeHash: sha256(withId), appId, keyProviderKind: 'kms', keyProviderId: keyProvider.info.id })
    expect(hex(body2?.mrConfigId as Uint8Array)).toBe(hex(expected))
    expect(expected[0]).toBe(2)
  })

  test('behavior: a bad compose is refused before boot', async () => {
    await expect(createCvm({ compose: encode('[1]'), qe, keyProvider })).rejects.toThrow(
      'Invalid app compose: app-compose.json is not a UTF-8 JSON object.',
    )
    await expect(createCvm({ compose: encode('{"runner":"bash"}'), qe, keyProvider })).rejects.toThrow(
      'Invalid app compose: field "name" must be a string.',
    )
  })

  test('behavior: a key provider that does not trust this host’s PKI refuses the boot', async () => {
    const stranger = createLocalKeyProvider({ pki: DevnetPki.create() })
    await expect(createCvm({ compose: kmsCompose, qe, keyProvider: stranger })).rejects.toThrow(/^Key request rejected: /)
  })
})

describe('cvm operations', () => {
  test('emitEvent: reserved names are refused and leave RTMR3 unchanged; app events extend it', async () => {
    const cvm = await createCvm({ compose: kmsCompose, qe, keyProvider })
    const before = cvm.tcbInfo().rtmr3
    expect(() => cvm.emitEvent({ name: 'app-id', payload: new Uint8Array(20) })).toThrow(
      'Invalid event: "app-id" is reserved for dstack OS.',
    )
    expect(() => cvm.emitEvent({ name: '', payload: new Uint8Array(0) })).toThrow('Invalid event: the event name is empty.')
    // ':' would let ("a:b", P) and ("a", "b:" ‖ P) share one V1 digest; NUL and control characters split names in logs.
    expect(() => cvm.emitEvent({ name: 'key-provider:x', payload: new Uint8Array(0) })).toThrow(
      'Invalid event: the event name contains ":" (the digest separator).',
    )
    for (const [name, code] of [
      ['a\u0000b', '0000'],
      ['line\nbreak', '000A'],
      ['del\u007f', '007F'],
      ['c1\u0085', '0085'],
    ] as const)
      expect(() => cvm.emitEvent({ name, payload: new Uint8Array(0) })).toThrow(
        `Invalid event: the event name contains the control character U+${code}.`,
      )
    expect(cvm.tcbInfo().rtmr3).toBe(before)
    cvm.emitEvent({ name: 'événement-ünïcode', payload: encode('ok') }) // other Unicode is fine
    cvm.emitEvent({ name: 'model-digest', payload: encode('abc') })
    expect(cvm.tcbInfo().rtmr3).not.toBe(before)
  })

  test('quote: report data over 64 bytes is refused', async () => {
    const cvm = await createCvm({ compose: kmsCompose, qe, keyProvider })
    expect(() => cvm.quote({ reportData: new Uint8Array(65) })).toThrow('Report data is too long')
  })
})

describe('faults', () => {
  test('staleQuote: the host serves an earlier quote; the verifier sees report_data ≠ its nonce', async () => {
    const cvm = await createCvm({ compose: kmsCompose, qe, keyProvider })
    cvm.quote({ reportData: encode('first') })
    cvm.faults.staleQuote = true
    const nonce = encode('fresh-nonce')
    const stale = cvm.quote({ reportData: nonce })
    const expected = new Uint8Array(64)
    expected.set(nonce)
    expect(hex(stale.reportData)).toBe(hex(expected)) // the host claims it…
    const verdict = await verifyQuote(stale.quote, {
      collateral,
      now: new Date(),
      trustedRoots: [DevnetPki.trustedRoot(pki)],
      policy: { expectedReportData: expected },
    })
    expect(verdict.verified).toBe(true) // …the quote itself is genuine…
    expect(verdict.ok).toBe(false) // …but does not carry the nonce.
    expect(verdict.reasons.map((r) => r.code)).toContain('policy.report_data')
    cvm.faults.staleQuote = false
    expect(hex(Quote.reportData(quoteOf(cvm.quote({ reportData: nonce }).quote)))).toBe(hex(expected))
  })

  test('alterComposeAfterMeasure: served compose hashes to something other than the measured compose-hash', async () => {
    const cvm = await createCvm({ compose: kmsCompose, qe, keyProvider })
    const measured = () => EventLog.appInfo(EventLog.parse(cvm.quote({ reportData: new Uint8Array(0) }).eventLog)).composeHash as Uint8Array
    expect(hex(sha256(cvm.appCompose()))).toBe(hex(measured()))
    cvm.faults.alterComposeAfterMeasure = true
    expect(hex(sha256(cvm.appCompose()))).not.toBe(hex(measured()))
    expect(cvm.tcbInfo().app_compose).not.toBe(new TextDecoder().decode(kmsCompose))
    const evil = encode('{"manifest_version":2,"name":"boot","runner":"docker-compose","kms_enabled":true,"evil":1}')
    cvm.faults.alterComposeAfterMeasure = evil
    expect(hex(cvm.appCompose())).toBe(hex(evil))
    expect(hex(sha256(cvm.appCompose()))).not.toBe(hex(measured()))
  })
})
