// Keys, sign-and-attest and its verifier against a real in-process devnet CVM and guest agent.

import { inspect } from 'node:util'
import {
  createCvm,
  createLocalKeyProvider,
  DevnetCollateral,
  DevnetPki,
  DevnetQe,
  type GuestAgent,
  startGuestAgent,
} from '@regent-tee/devnet'
import { SignatureChain } from '@regent-tee/kms'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTeeClient, type TeeClient } from './createTeeClient.js'
import { type DerivedKey, deriveKey, deriveWallet, toAccount, verifyProvenance, walletPath } from './Keys.js'
import * as Statement from './Statement.js'
import { type SignedAttestation, signAndAttest, verifySignedAttestation } from './signAndAttest.js'
import { http } from './transports/http.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const collateral = DevnetCollateral.issue(pki)
const trustedRoots = [DevnetPki.trustedRoot(pki)]
const compose = new TextEncoder().encode('{"kms_enabled":true,"manifest_version":2,"name":"attest","runner":"docker-compose"}')
const appId = new Uint8Array(20).fill(0x77)
const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}` as const
let agent: GuestAgent
let client: TeeClient
let wallet: DerivedKey
let composeHash: `0x${string}`

beforeAll(async () => {
  const cvm = await createCvm({ compose, appId, instanceIdSeed: new Uint8Array(20).fill(9), qe, keyProvider })
  composeHash = hex(cvm.info.composeHash)
  agent = await startGuestAgent(cvm, { port: 0 })
  client = createTeeClient({ transport: http({ url: agent.url as string }) })
  wallet = await deriveWallet(client)
})

afterAll(() => agent.close())

describe('deriveKey', () => {
  test('default: the wallet is GetKey(regent/v1/wallet); address, provenance and chain match @regent-tee/kms', async () => {
    const { key } = await client.getKey({ path: walletPath })
    expect(toAccount(wallet).address).toBe(wallet.address)
    expect(wallet.privateKey.toHex()).toBe(hex(key))
    const root = SignatureChain.verify({
      publicKey: Buffer.from(wallet.publicKey.slice(2), 'hex'),
      algorithm: 'secp256k1',
      purpose: wallet.purpose,
      appId,
      signatureChain: wallet.signatureChain.map((h) => Buffer.from(h.slice(2), 'hex')),
      kmsRootPublicKey: keyProvider.k256PublicKey,
    }).kmsRootPublicKey
    const ours = verifyProvenance({
      provenance: wallet.provenance,
      kmsRootPublicKey: keyProvider.k256PublicKey,
      address: wallet.address,
      appId,
    })
    expect(ours).toEqual({ ok: true, kmsRootPublicKey: hex(root), reasons: [] })
  })

  test('behavior: the private key never serializes or prints', () => {
    const secret = wallet.privateKey.toHex().slice(2)
    expect(JSON.stringify(wallet)).not.toContain(secret)
    expect(inspect(wallet, { depth: 5, showHidden: false })).not.toContain(secret)
    expect(Object.keys(wallet)).not.toContain('privateKey')
    expect(String(wallet.privateKey)).toBe('PrivateKey([redacted])')
  })

  test('behavior: provenance with another root, app id, address or purpose fails with its own code', async () => {
    const other = await deriveKey(client, { path: 'other', purpose: 'x' })
    const codes = (v: ReturnType<typeof verifyProvenance>) => v.reasons.map((r) => r.code)
    expect(codes(verifyProvenance({ provenance: wallet.provenance, kmsRootPublicKey: new Uint8Array(33).fill(2) }))).toEqual([
      'provenance.kms_root',
    ])
    expect(codes(verifyProvenance({ provenance: wallet.provenance, appId: new Uint8Array(20) }))).toEqual(['provenance.app_id'])
    expect(codes(verifyProvenance({ provenance: wallet.provenance, address: other.address }))).toEqual(['provenance.address'])
    const forged = { ...wallet.provenance, purpose: 'forged' }
    expect(codes(verifyProvenance({ provenance: forged, kmsRootPublicKey: keyProvider.k256PublicKey }))).toEqual(['provenance.kms_root'])
  })
})

describe('Statement.toReportData', () => {
  test('vector: fixed inputs give the documented report_data', () => {
    const statement = Statement.from({
      purpose: 'handshake',
      signer: '0x000000000000000000000000000000000000dEaD',
      payload: new TextEncoder().encode('hello'),
      stateRoot: `0x${'11'.repeat(32)}`,
      epoch: 7n,
      nonce: `0x${'22'.repeat(32)}`,
    })
    expect(statement.payloadHash).toBe('0x2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
    expect(hex(Statement.encode(statement)).slice(0, 2 + 2 * 26)).toBe(hex(new TextEncoder().encode('regent/sign-and-attest/v1\0')))
    expect(hex(Statement.toReportData(statement))).toBe(REPORT_DATA_VECTOR)
  })
})

const REPORT_DATA_VECTOR =
  '0x74860d1062fb8c214716210ce964e92d9711f19466395922e0b688a11be2cde1113cce1157a95d8852a2a90daa815f579f874aec853d38d6f8791946c9b6e7be'

describe('signAndAttest / verifySignedAttestation', () => {
  const nonce = new Uint8Array(32).fill(0x42)
  const payload = new TextEncoder().encode('{"answer":42}')
  const stateRoot = `0x${'ab'.repeat(32)}` as const
  const base = () => ({ collateral, trustedRoots, policy: { approvedMeasurements: [{ composeHash }] } })
  let attestation: SignedAttestation

  beforeAll(async () => {
    attestation = await signAndAttest(client, { account: toAccount(wallet), payload, nonce, purpose: 'test', stateRoot, epoch: 3n })
  })

  const verify = (overrides: Partial<Parameters<typeof verifySignedAttestation>[0]> = {}) =>
    verifySignedAttestation({
      attestation,
      nonce,
      payload,
      expected: { signer: wallet.address, stateRoot, epoch: 3n },
      now: new Date(),
      ...base(),
      ...overrides,
    })
  const codes = async (o: Partial<Parameters<typeof verifySignedAttestation>[0]>) => (await verify(o)).reasons.map((r) => r.code)

  test('default: a fresh attestation verifies as devnet hardware with the app identity', async () => {
    const v = await verify()
    expect(v.reasons).toEqual([])
    expect([v.ok, v.signer, v.quote?.hardware]).toEqual([true, wallet.address, 'devnet'])
    expect(hex(v.quote?.app?.appId as Uint8Array)).toBe(hex(appId))
  })

  test('behavior: wrong nonce, signer, state root, epoch, tampered payload each give their own code', async () => {
    expect(await codes({ nonce: new Uint8Array(32) })).toEqual(['attestation.nonce'])
    expect(await codes({ expected: { signer: '0x000000000000000000000000000000000000dEaD', stateRoot, epoch: 3n } })).toEqual([
      'attestation.signer',
    ])
    expect(await codes({ expected: { signer: wallet.address, stateRoot: `0x${'00'.repeat(32)}`, epoch: 3n } })).toEqual([
      'attestation.state_root',
    ])
    expect(await codes({ expected: { signer: wallet.address, stateRoot, epoch: 4n } })).toEqual(['attestation.epoch'])
    expect(await codes({ payload: new TextEncoder().encode('{"answer":43}') })).toEqual(['attestation.payload'])
  })

  test('behavior: a statement altered after signing breaks the signature and the quote binding', async () => {
    const altered = { ...attestation, statement: { ...attestation.statement, nonce: hex(new Uint8Array(32).fill(1)) } }
    expect(await codes({ attestation: altered, nonce: new Uint8Array(32).fill(1) })).toEqual([
      'attestation.signature',
      'attestation.binding',
    ])
  })

  test('behavior: an unapproved measurement, an untrusted root and a foreign event log are reasons', async () => {
    expect(await codes({ policy: { approvedMeasurements: [{ composeHash: `0x${'00'.repeat(32)}` }] } })).toEqual(['policy.measurement'])
    expect((await codes({ trustedRoots: [] })).length).toBeGreaterThan(0)
    const logless = { ...attestation, eventLog: '[]' }
    expect(await codes({ attestation: logless })).toContain('policy.event_log')
  })
})
