// Tappd.DeriveKey against the official @phala/dstack-sdk TappdClient (unmodified) and raw HTTP: the key is
// dstack's derive_p256_key_pair_from_bytes(app k256 key, [path]) (so its scalar equals GetKey's bytes for the
// path), the chain is [leaf, app CA, root CA], usage_ra_tls adds the attestation extension, bad fields are 400.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TappdClient } from '@phala/dstack-sdk'
import { ReportData } from '@regent-tee/attest'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { type Cvm, createCvm } from '../cvm/Cvm.js'
import { createLocalKeyProvider } from '../cvm/KeyProvider.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import * as DevnetQe from '../tdx/DevnetQe.js'
import * as Attestation from './Attestation.js'
import * as Certificate from './Certificate.js'
import { type GuestAgent, startGuestAgent } from './GuestAgent.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const compose = new TextEncoder().encode('{"manifest_version":2,"name":"tappd-app","runner":"docker-compose","kms_enabled":true}')
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

let dir: string
let cvm: Cvm
let agent: GuestAgent

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'regent-tappd-'))
  cvm = await createCvm({ compose, appId: new Uint8Array(20).fill(0x7a), qe, keyProvider })
  agent = await startGuestAgent(cvm, { socketPath: join(dir, 'tappd.sock'), port: 0 })
  vi.spyOn(console, 'warn').mockImplementation(() => {}) // TappdClient warns that it is deprecated
})

afterAll(async () => {
  vi.restoreAllMocks()
  await agent.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The private scalar of a PKCS#8 P-256 PEM. */
function scalarOf(pem: string): string {
  const jwk = createPrivateKey(pem).export({ format: 'jwk' }) as { d: string; crv: string }
  expect(jwk.crv).toBe('P-256')
  return Buffer.from(jwk.d, 'base64url').toString('hex')
}

function post(path: string, body: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: agent.socketPath,
        path,
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describe.each(['unix', 'http'] as const)('TappdClient.deriveKey over %s', (transport) => {
  const client = () => new TappdClient(transport === 'unix' ? agent.socketPath : agent.url)

  test('default: the P-256 key is HKDF(app k256 key, path) — GetKey’s bytes for that path — and stable across calls', async () => {
    const r = await client().deriveKey('tls/server', 'agent.example')
    const again = await client().deriveKey('tls/server', 'agent.example')
    expect(scalarOf(r.key)).toBe(hex(cvm.getKey({ path: 'tls/server', purpose: '' }).key))
    expect(scalarOf(again.key)).toBe(scalarOf(r.key))
    const other = await client().deriveKey('tls/other')
    expect(scalarOf(other.key)).not.toBe(scalarOf(r.key))
    expect(r.asUint8Array(32).length).toBe(32)
  })

  test('the chain is [leaf, app CA, root CA] and the leaf certifies the derived key', async () => {
    const r = await client().deriveKey('tls/server', 'agent.example', ['agent.example', 'api.agent.example'])
    const [leaf, appCa, root] = r.certificate_chain.map((pem) => new X509Certificate(pem))
    expect(r.certificate_chain.length).toBe(3)
    expect(root?.toString()).toBe(new X509Certificate(keyProvider.caCert).toString())
    expect(appCa?.subject).toBe('O=Dstack\nCN=Dstack App CA')
    expect(appCa?.verify(root?.publicKey as never)).toBe(true)
    expect(leaf?.verify(appCa?.publicKey as never)).toBe(true)
    expect(leaf?.subject).toBe('CN=agent.example')
    expect(leaf?.subjectAltName).toBe('DNS:agent.example, DNS:api.agent.example')
    const spki = createPublicKey(createPrivateKey(r.key)).export({ type: 'spki', format: 'der' })
    expect(hex(leaf?.publicKey.export({ type: 'spki', format: 'der' }) as Buffer)).toBe(hex(spki))
  })
})

/** The raw value of a leaf's custom extension (extnValue OCTET STRING wrapping an OCTET STRING), or undefined. */
function extensionValue(der: Uint8Array, oid: Uint8Array): Uint8Array | undefined {
  const at = Buffer.from(der).indexOf(Buffer.from(oid))
  if (at < 0) return undefined
  let i = at + oid.length
  const readTlv = (): Uint8Array => {
    expect(der[i]).toBe(0x04)
    let length = der[i + 1] as number
    i += 2
    if (length & 0x80) {
      const n = length & 0x7f
      length = 0
      for (let k = 0; k < n; k++) length = length * 256 + (der[i + k] as number)
      i += n
    }
    return der.subarray(i, i + length)
  }
  readTlv() // extnValue
  return readTlv()
}

const attestationOid = Uint8Array.from([0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xe7, 0x3d, 0x01, 0x08]) // 1.3.6.1.4.1.62397.1.8

test('usage_ra_tls: the leaf carries a V0 attestation whose report data is SHA-512("ratls-cert:" ‖ SPKI)', async () => {
  expect(Certificate.oids.attestation).toBe('1.3.6.1.4.1.62397.1.8')
  const reply = await post('/prpc/Tappd.DeriveKey', JSON.stringify({ path: 'tls/ra', subject: 'ra', usage_ra_tls: true }))
  expect(reply.status).toBe(200)
  const { key, certificate_chain } = reply.body as { key: string; certificate_chain: string[] }
  const leaf = new Uint8Array(new X509Certificate(certificate_chain[0] as string).raw)
  const value = extensionValue(leaf, attestationOid)
  expect(value).toBeDefined()
  const attestation = Attestation.parse(value as Uint8Array)
  const spki = new Uint8Array(createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' }))
  expect(hex(attestation.reportData)).toBe(hex(ReportData.fromRaTlsCertificate(spki)))
  const plain = await post('/prpc/Tappd.DeriveKey', JSON.stringify({ path: 'tls/ra', subject: 'ra' }))
  const plainLeaf = new Uint8Array(new X509Certificate((plain.body as { certificate_chain: string[] }).certificate_chain[0] as string).raw)
  expect(extensionValue(plainLeaf, attestationOid)).toBeUndefined()
})

test('random_seed: a fresh key each call, not the path key', async () => {
  const a = (await post('/prpc/Tappd.DeriveKey', '{"path":"p","random_seed":true}')).body as { key: string }
  const b = (await post('/prpc/Tappd.DeriveKey', '{"path":"p","random_seed":true}')).body as { key: string }
  expect(scalarOf(a.key)).not.toBe(scalarOf(b.key))
  expect(scalarOf(a.key)).not.toBe(hex(cvm.getKey({ path: 'p', purpose: '' }).key))
})

test('bad input: 400 naming the field; no key material in the answer', async () => {
  const cases: [string, string][] = [
    ['{"path":7}', 'Field "path" must be a string'],
    ['{"path":"p","alt_names":"x"}', 'Field "alt_names" must be an array of strings'],
    ['{"path":"p","usage_ra_tls":"yes"}', 'Field "usage_ra_tls" must be a boolean'],
    ['{"path":"p","random_seed":1}', 'Field "random_seed" must be a boolean'],
  ]
  for (const [body, message] of cases) expect(await post('/prpc/Tappd.DeriveKey', body)).toEqual({ status: 400, body: { error: message } })
  expect((await post('/prpc/Tappd.DeriveKey', '{"path":"p"}')).status).toBe(200)
})
