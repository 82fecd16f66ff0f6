// Identity bundles from a real devnet CVM: a fresh bundle verifies; tampering any field is detected.
import {
  createCvm,
  createLocalKeyProvider,
  DevnetCollateral,
  DevnetPki,
  DevnetQe,
  type GuestAgent,
  startGuestAgent,
} from '@regent-tee/devnet'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import * as CanonicalJson from './CanonicalJson.js'
import { createTeeClient, type TeeClient } from './createTeeClient.js'
import { createIdentityBundle, type IdentityBundle, verifyIdentityBundle } from './IdentityBundle.js'
import { type DerivedKey, deriveWallet, toAccount } from './Keys.js'
import { http } from './transports/http.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const collateral = DevnetCollateral.issue(pki)
const compose = new TextEncoder().encode('{"kms_enabled":true,"manifest_version":2,"name":"identity","runner":"docker-compose"}')
const nonce = new Uint8Array(16).fill(5)
const registry = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as const
let agent: GuestAgent
let client: TeeClient
let wallet: DerivedKey
let bundle: IdentityBundle
let composeHash: string

beforeAll(async () => {
  const cvm = await createCvm({
    compose,
    appId: new Uint8Array(20).fill(0x31),
    instanceIdSeed: new Uint8Array(20).fill(4),
    qe,
    keyProvider,
  })
  composeHash = Buffer.from(cvm.info.composeHash).toString('hex')
  agent = await startGuestAgent(cvm, { port: 0 })
  client = createTeeClient({ transport: http({ url: agent.url as string }) })
  wallet = await deriveWallet(client)
  bundle = await createIdentityBundle(client, {
    wallet,
    account: toAccount(wallet),
    chainId: 31337,
    identityRegistry: registry,
    agentId: 1n,
    stateRoot: `0x${'cd'.repeat(32)}`,
    stateSeq: 2n,
    epoch: 1n,
    nonce,
  })
})

afterAll(() => agent.close())

const verify = (b: IdentityBundle, extra: Partial<Parameters<typeof verifyIdentityBundle>[1]> = {}) =>
  verifyIdentityBundle(b, {
    nonce,
    collateral,
    trustedRoots: [DevnetPki.trustedRoot(pki)],
    now: new Date(),
    policy: { approvedMeasurements: [{ composeHash }] },
    kmsRootPublicKey: keyProvider.k256PublicKey,
    ...extra,
  })

describe('createIdentityBundle / verifyIdentityBundle', () => {
  test('default: canonical, versioned, and verifies with the KMS root, measurements and expectations', async () => {
    expect(bundle.version).toBe('regent.identity/v1')
    expect(bundle.agentRegistry).toBe(`eip155:31337:${registry.toLowerCase()}`)
    expect(bundle.wallet).toBe(wallet.address.toLowerCase())
    expect(CanonicalJson.stringify(JSON.parse(CanonicalJson.stringify(bundle)))).toBe(CanonicalJson.stringify(bundle))
    const v = await verify(bundle, { expected: { agentId: 1n, wallet: wallet.address, epoch: 1n } })
    expect(v.reasons).toEqual([])
    expect(v.ok).toBe(true)
  })

  test('behavior: tampering any top-level field is detected', async () => {
    const edits: Record<string, unknown> = {
      agentRegistry: 'eip155:1:0x0000000000000000000000000000000000000001',
      agentId: '2',
      wallet: '0x000000000000000000000000000000000000dead',
      appId: `0x${'00'.repeat(20)}`,
      instanceId: `0x${'00'.repeat(20)}`,
      composeHash: `0x${'00'.repeat(32)}`,
      osImageHash: `0x${'00'.repeat(32)}`,
      stateRoot: `0x${'00'.repeat(32)}`,
      stateSeq: '3',
      epoch: '2',
      issuedAt: '1',
      keyProvenance: { ...bundle.keyProvenance, purpose: 'x' },
      attestation: { ...bundle.attestation, statement: { ...bundle.attestation.statement, epoch: '9' } },
      signature: `0x${'11'.repeat(65)}`,
    }
    for (const [field, value] of Object.entries(edits)) {
      const v = await verify({ ...bundle, [field]: value } as IdentityBundle)
      expect(v.ok, field).toBe(false)
      expect(v.reasons.length, field).toBeGreaterThan(0)
    }
  })

  test('behavior: an imported agent key (not the KMS wallet) gets keyProvenance null and only provenance.none', async () => {
    const imported = privateKeyToAccount(generatePrivateKey())
    const b = await createIdentityBundle(client, {
      wallet,
      account: imported,
      chainId: 31337,
      identityRegistry: registry,
      agentId: 1n,
      stateRoot: `0x${'cd'.repeat(32)}`,
      stateSeq: 2n,
      epoch: 1n,
      nonce,
    })
    expect([b.wallet, b.keyProvenance]).toEqual([imported.address.toLowerCase(), null])
    const v = await verify(b, { expected: { wallet: imported.address } })
    expect(v.reasons.map((r) => r.code)).toEqual(['provenance.none'])
    // Claiming the KMS wallet's chain for the imported key is caught, not trusted.
    const claimed = await verify({ ...b, keyProvenance: wallet.provenance })
    expect(claimed.reasons.map((r) => r.code)).toContain('provenance.address')
  })

  test('behavior: wrong nonce, unapproved measurement, foreign KMS root give their codes', async () => {
    const codes = async (extra: Partial<Parameters<typeof verifyIdentityBundle>[1]>) =>
      (await verify(bundle, extra)).reasons.map((r) => r.code)
    expect(await codes({ nonce: new Uint8Array(16) })).toEqual(['attestation.nonce'])
    expect(await codes({ policy: { approvedMeasurements: [{ composeHash: '00'.repeat(32) }] } })).toEqual(['policy.measurement'])
    expect(await codes({ kmsRootPublicKey: new Uint8Array(33).fill(3) })).toEqual(['provenance.kms_root'])
    expect(await codes({ expected: { agentId: 7n } })).toEqual(['bundle.expected'])
  })
})

describe('CanonicalJson.stringify', () => {
  test('default: sorted keys, no whitespace; numbers are refused', () => {
    expect(CanonicalJson.stringify({ b: '1', a: [{ d: null, c: true }], é: 'x' })).toBe('{"a":[{"c":true,"d":null}],"b":"1","é":"x"}')
    expect(() => CanonicalJson.stringify({ a: 1 })).toThrow(
      '$.a is a number; canonical JSON allows only strings, booleans, null, arrays and plain objects.',
    )
  })
})
