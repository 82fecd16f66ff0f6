// Acceptance: the official @phala/dstack-sdk DstackClient, unmodified, against the devnet guest agent on a unix
// socket and on loopback HTTP (the two forms DSTACK_SIMULATOR_ENDPOINT takes).
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DstackClient } from '@phala/dstack-sdk'
import { EventLog, intelSgxRootCa, Quote, verifyQuote } from '@regent-tee/attest'
import { SignatureChain } from '@regent-tee/kms'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type Cvm, createCvm } from '../cvm/Cvm.js'
import { createLocalKeyProvider } from '../cvm/KeyProvider.js'
import * as DevnetCollateral from '../tdx/DevnetCollateral.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import * as DevnetQe from '../tdx/DevnetQe.js'
import * as Attestation from './Attestation.js'
import * as DstackKeys from './DstackKeys.js'
import { type GuestAgent, startGuestAgent } from './GuestAgent.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const collateral = DevnetCollateral.issue(pki)
const compose = new TextEncoder().encode(
  '{\n  "manifest_version": 2,\n  "name": "sdk-app",\n  "runner": "docker-compose",\n  "kms_enabled": true\n}\n',
)
const appId = new Uint8Array(20).fill(0xab)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))

let dir: string
let cvm: Cvm
let agent: GuestAgent

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'regent-guest-sdk-'))
  cvm = await createCvm({ compose, appId, instanceIdSeed: new Uint8Array(20).fill(1), qe, keyProvider })
  agent = await startGuestAgent(cvm, { socketPath: join(dir, 'dstack.sock'), port: 0 })
})

afterAll(async () => {
  await agent.close()
  rmSync(dir, { recursive: true, force: true })
})

/** §3.4 with @regent-tee/kms: the chain must end at the local provider's root k256 key (throws otherwise). */
function chainRoot(options: {
  publicKey: Uint8Array
  purpose: string
  chain: readonly Uint8Array[]
  algorithm?: 'secp256k1' | 'ed25519'
}): Uint8Array {
  return SignatureChain.verify({
    publicKey: options.publicKey,
    algorithm: options.algorithm ?? 'secp256k1',
    purpose: options.purpose,
    appId,
    signatureChain: options.chain,
    kmsRootPublicKey: keyProvider.k256PublicKey,
  }).kmsRootPublicKey
}

describe.each(['unix', 'http'] as const)('DstackClient over %s', (transport) => {
  const client = () => new DstackClient(transport === 'unix' ? agent.socketPath : agent.url)

  test('getKey (secp256k1): 32-byte key whose signature chain ends at the key provider root', async () => {
    const r = await client().getKey('wallet/ethereum', 'signing')
    expect(r.key.length).toBe(32)
    expect(r.signature_chain.map((s) => s.length)).toEqual([65, 65])
    const publicKey = DstackKeys.publicKeyOf({ key: r.key, algorithm: 'secp256k1' })
    expect(hex(chainRoot({ publicKey, purpose: 'signing', chain: r.signature_chain }))).toBe(hex(keyProvider.k256PublicKey))
    // purpose changes only chain[0], never the key (dstack.md §1.2).
    const other = await client().getKey('wallet/ethereum', 'other')
    expect(hex(other.key)).toBe(hex(r.key))
    expect(hex(other.signature_chain[0] as Uint8Array)).not.toBe(hex(r.signature_chain[0] as Uint8Array))
  })

  test('getKey (ed25519): same secret bytes as secp256k1 (dstack #605), chain over the ed25519 public key', async () => {
    const ed = await client().getKey('wallet/solana', 'sol', 'ed25519')
    const k1 = await client().getKey('wallet/solana', 'sol', 'secp256k1')
    expect(hex(ed.key)).toBe(hex(k1.key))
    const publicKey = DstackKeys.publicKeyOf({ key: ed.key, algorithm: 'ed25519' })
    expect(publicKey.length).toBe(32)
    expect(hex(chainRoot({ publicKey, purpose: 'sol', chain: ed.signature_chain, algorithm: 'ed25519' }))).toBe(
      hex(keyProvider.k256PublicKey),
    )
  })

  test('getQuote: verifies under the devnet root as devnet hardware, fails under Intel’s root, and its event log replays RTMR3', async () => {
    const r = await client().getQuote('nonce-123')
    const expected = new Uint8Array(64)
    expected.set(new TextEncoder().encode('nonce-123'))
    expect(r.report_data).toBe(hex(expected))
    const quote = bytes(r.quote)
    const verdict = await verifyQuote(quote, {
      collateral,
      now: new Date(),
      trustedRoots: [DevnetPki.trustedRoot(pki)],
      policy: { eventLog: r.event_log, expectedReportData: expected, approvedMeasurements: [{ composeHash: hex(cvm.info.composeHash) }] },
    })
    expect(verdict.reasons).toEqual([])
    expect([verdict.ok, verdict.hardware]).toEqual([true, 'devnet'])
    expect(hex(verdict.app?.appId as Uint8Array)).toBe(hex(appId))
    expect(hex(verdict.app?.composeHash as Uint8Array)).toBe(hex(createHash('sha256').update(compose).digest()))
    expect(hex(verdict.app?.instanceId as Uint8Array)).toBe(hex(cvm.info.instanceId))
    expect(verdict.app?.keyProvider?.name).toBe('local-devnet')

    const log = EventLog.parse(r.event_log)
    expect(hex(EventLog.replay(log)[3])).toBe(hex((Quote.rtmrs(Quote.parse(quote)) as readonly Uint8Array[])[3] as Uint8Array))
    const intel = await verifyQuote(quote, { collateral, now: new Date(), trustedRoots: [intelSgxRootCa] })
    expect([intel.ok, intel.verified]).toEqual([false, false])
  })

  test('info: identity, compose, tcb_info with the served compose text', async () => {
    const info = await client().info()
    expect(info.app_id).toBe(hex(appId))
    expect(info.instance_id).toBe(hex(cvm.info.instanceId))
    expect(info.compose_hash).toBe(hex(createHash('sha256').update(compose).digest()))
    expect(info.app_name).toBe('sdk-app')
    expect(info.device_id).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(JSON.parse(info.key_provider_info)).toEqual({ name: 'local-devnet', id: hex(keyProvider.info.id) })
    expect(info.tcb_info.app_compose).toBe(new TextDecoder().decode(compose))
    expect(info.tcb_info.compose_hash).toBe(info.compose_hash)
    expect(info.app_cert).toContain('-----BEGIN CERTIFICATE-----')
  })

  test('emitEvent: extends RTMR3 after system-ready; the next quote’s log replays and lists it as an app event', async () => {
    const before = (await client().info()).tcb_info.rtmr3
    await client().emitEvent(`sdk-event-${transport}`, 'payload')
    const after = (await client().info()).tcb_info.rtmr3
    expect(after).not.toBe(before)
    const r = await client().getQuote('x')
    const log = EventLog.parse(r.event_log)
    expect(hex(EventLog.replay(log)[3])).toBe(after)
    const app = EventLog.appInfo(log)
    expect(app.appEvents.map((e) => e.name)).toContain(`sdk-event-${transport}`)
    expect(hex(app.appId as Uint8Array)).toBe(hex(appId))
  })

  test('getTlsKey: a fresh P-256 key certified by the app CA under the key provider root CA', async () => {
    const r = await client().getTlsKey({ subject: 'agent.local', altNames: ['agent.local'], usageRaTls: true })
    const [leaf, appCa, root] = r.certificate_chain.map((pem) => new X509Certificate(pem))
    expect(r.certificate_chain.length).toBe(3)
    expect(root?.toString()).toBe(new X509Certificate(keyProvider.caCert).toString())
    expect(leaf?.verify(appCa?.publicKey as never)).toBe(true)
    expect(appCa?.verify(root?.publicKey as never)).toBe(true)
    expect(appCa?.subject).toBe('O=Dstack\nCN=Dstack App CA')
    expect(leaf?.subjectAltName).toBe('DNS:agent.local')
    const publicKey = createPublicKey(createPrivateKey(r.key)).export({ type: 'spki', format: 'der' })
    expect(hex(leaf?.publicKey.export({ type: 'spki', format: 'der' }) as Buffer)).toBe(hex(publicKey))
    const second = await client().getTlsKey({ subject: 'agent.local' })
    expect(second.key).not.toBe(r.key)
  })

  test('sign / verify: secp256k1 and ed25519 with the vms key; chain[1..] ends at the root', async () => {
    for (const algorithm of ['secp256k1', 'ed25519'] as const) {
      const s = await client().sign(algorithm, 'hello')
      expect(s.signature_chain.length).toBe(3)
      expect((await client().verify(algorithm, 'hello', s.signature, s.public_key)).valid).toBe(true)
      expect((await client().verify(algorithm, 'hellO', s.signature, s.public_key)).valid).toBe(false)
      expect(hex(chainRoot({ publicKey: s.public_key, purpose: 'signing', chain: s.signature_chain.slice(1), algorithm }))).toBe(
        hex(keyProvider.k256PublicKey),
      )
    }
  })

  test('attest: a V0 attestation whose quote verifies and whose runtime events replay RTMR3', async () => {
    const r = await client().attest('att')
    const a = Attestation.parse(bytes(r.attestation))
    const expected = new Uint8Array(64)
    expected.set(new TextEncoder().encode('att'))
    expect(hex(a.reportData)).toBe(hex(expected))
    const verdict = await verifyQuote(a.quote, { collateral, now: new Date(), trustedRoots: [DevnetPki.trustedRoot(pki)] })
    expect(verdict.ok).toBe(true)
    const rtmr3 = a.runtimeEvents.reduce(
      (acc, e) => new Uint8Array(createHash('sha384').update(acc).update(EventLog.runtimeEventDigest(e)).digest()),
      new Uint8Array(48),
    )
    expect(hex(rtmr3)).toBe(hex((Quote.rtmrs(Quote.parse(a.quote)) as readonly Uint8Array[])[3] as Uint8Array))
  })

  test('version', async () => {
    const v = await client().version()
    expect([v.version, v.rev]).toEqual(['0.5.8', 'regent-devnet'])
  })
})

test('behavior: DSTACK_SIMULATOR_ENDPOINT pointed at the socket selects the devnet agent', async () => {
  const saved = process.env.DSTACK_SIMULATOR_ENDPOINT
  process.env.DSTACK_SIMULATOR_ENDPOINT = agent.socketPath
  try {
    const info = await new DstackClient().info()
    expect(info.app_id).toBe(hex(appId))
  } finally {
    if (saved === undefined) delete process.env.DSTACK_SIMULATOR_ENDPOINT
    else process.env.DSTACK_SIMULATOR_ENDPOINT = saved
  }
})

test('behavior: the same app on two CVMs (same compose and app id, other instance seed) gets the same GetKey key', async () => {
  const other = await createCvm({ compose, appId, instanceIdSeed: new Uint8Array(20).fill(2), qe, keyProvider })
  const otherAgent = await startGuestAgent(other, { port: 0 })
  try {
    expect(hex(other.info.instanceId)).not.toBe(hex(cvm.info.instanceId))
    const a = await new DstackClient(agent.url).getKey('wallet/ethereum')
    const b = await new DstackClient(otherAgent.url).getKey('wallet/ethereum')
    expect(hex(b.key)).toBe(hex(a.key))
    const differentApp = await createCvm({ compose, appId: new Uint8Array(20).fill(0xcd), qe, keyProvider })
    expect(hex(differentApp.getKey({ path: 'wallet/ethereum', purpose: '' }).key)).not.toBe(hex(a.key))
  } finally {
    await otherAgent.close()
  }
})
