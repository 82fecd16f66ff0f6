import { generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { describe, expect, test } from 'vitest'
import * as CertChain from './CertChain.js'
import * as Collateral from './Collateral.js'
import * as Der from './internal/Der.js'
import * as Quote from './Quote.js'
import { createTrustedRoot, intelSgxRootCa } from './roots.js'
import { verifyQuote, verifyQuoteSync } from './Verify.js'

const vectors = vectorsDir
const tdxBytes = () => new Uint8Array(readFileSync(`${vectors}dcap-qvl/sample/tdx_quote`))
const sgxBytes = () => new Uint8Array(readFileSync(`${vectors}dcap-qvl/sample/sgx_quote`))
const tdxJson = () => JSON.parse(readFileSync(`${vectors}dcap-qvl/sample/tdx_quote_collateral.json`, 'utf8')) as Collateral.Json
const sgxJson = () => JSON.parse(readFileSync(`${vectors}dcap-qvl/sample/sgx_quote_collateral.json`, 'utf8')) as Collateral.Json
const tdxNow = new Date(1751624191_000)
const sgxNow = new Date(1751624924_000)

// --- a look-alike PKI: the real vector, re-signed under keys we own ------------------------------------------
// The Intel root is copied with our public key and self-signed by us (same subject "Intel SGX Root CA"); the PCK CA
// gets our second key; the TCB signing certificate, root CRL, PCK CRL and PCK leaf are re-signed. The TCB info, QE
// identity and QE report stay signed by Intel's keys (the TCB signing and PCK leaf keys are unchanged), so the quote
// is otherwise identical: only the trust anchor differs.

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n)
  const bytes: number[] = []
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}
const tlv = (tag: number, value: Uint8Array) => Buffer.concat([Uint8Array.of(tag), derLength(value.length), value])

/** Re-signs a certificate or CRL DER (TBS optionally rewritten) with `key`. */
function resign(der: Uint8Array, key: KeyObject, rewrite: (tbs: Buffer) => Buffer = (t) => t): Buffer {
  const [tbs, alg] = Der.sequence(Der.parse(der), 'signed')
  const newTbs = rewrite(Buffer.from((tbs as Der.Node).bytes))
  const signature = sign('sha256', newTbs, key)
  return tlv(0x30, Buffer.concat([newTbs, (alg as Der.Node).bytes, tlv(0x03, Buffer.concat([Uint8Array.of(0), signature]))]))
}

function replaceKey(tbs: Buffer, from: X509Certificate, to: KeyObject): Buffer {
  const point = (k: KeyObject) => (k.export({ format: 'der', type: 'spki' }) as Buffer).subarray(-65)
  const at = tbs.indexOf(point(from.publicKey))
  if (at < 0) throw new Error('public key not found in TBS')
  const out = Buffer.from(tbs)
  point(to).copy(out, at)
  return out
}

const pem = (der: Uint8Array) =>
  `-----BEGIN CERTIFICATE-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim()}\n-----END CERTIFICATE-----\n`

function lookAlike(options: { revokeLeaf?: boolean } = {}) {
  const rootKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const caKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const json = tdxJson()
  const quote = Quote.parse(tdxBytes())
  const [leafCert, caCert, rootCert] = CertChain.fromPem(Quote.pckCertChainPem(quote)) as [
    X509Certificate,
    X509Certificate,
    X509Certificate,
  ]
  const [signingCert] = CertChain.fromPem(json.tcb_info_issuer_chain) as [X509Certificate]
  const root = resign(rootCert.raw, rootKey.privateKey, (t) => replaceKey(t, rootCert, rootKey.publicKey))
  const ca = resign(caCert.raw, rootKey.privateKey, (t) => replaceKey(t, caCert, caKey.publicKey))
  const signing = resign(signingCert.raw, rootKey.privateKey)
  const pckCrlDer = Buffer.from(json.pck_crl, 'hex')
  const revokedSerial = Collateral.parse(json).pckCrl.revoked[0]?.serial as string
  const leaf = resign(leafCert.raw, caKey.privateKey, (t) => {
    if (!options.revokeLeaf) return t
    // Give the leaf a serial the (real) PCK CRL lists; same length, so no DER length changes.
    const serial = Buffer.from(new X509Certificate(leafCert.raw).serialNumber, 'hex')
    const replacement = Buffer.from(revokedSerial, 'hex')
    if (replacement.length !== serial.length) throw new Error('serial lengths differ')
    const out = Buffer.from(t)
    replacement.copy(out, t.indexOf(serial))
    return out
  })
  const collateral: Collateral.Json = {
    ...json,
    root_ca_crl: resign(Buffer.from(json.root_ca_crl, 'hex'), rootKey.privateKey).toString('hex'),
    pck_crl: resign(pckCrlDer, caKey.privateKey).toString('hex'),
    pck_crl_issuer_chain: pem(ca) + pem(root),
    tcb_info_issuer_chain: pem(signing) + pem(root),
    qe_identity_issuer_chain: pem(signing) + pem(root),
  }
  const chain = new TextEncoder().encode(pem(leaf) + pem(ca) + pem(root))
  const cd = quote.signatureData.certificationData
  if (cd.type !== 5) throw new Error('expected a PEM chain')
  const bytes = Quote.serialize({ ...quote, signatureData: { ...quote.signatureData, certificationData: { type: 5, pem: chain } } })
  return { bytes, collateral, rootPem: pem(root) }
}

describe('verifyQuoteSync', () => {
  test('default: the dcap-qvl TDX sample against the Intel root', () => {
    const verdict = verifyQuoteSync(tdxBytes(), { collateral: tdxJson(), now: tdxNow })
    expect({
      ...verdict,
      measurements: undefined,
      collateralNextUpdate: verdict.collateralNextUpdate?.toISOString(),
    }).toMatchInlineSnapshot(`
      {
        "advisoryIds": [],
        "app": undefined,
        "collateralNextUpdate": "2025-07-19T10:00:35.000Z",
        "hardware": "tdx",
        "measurements": undefined,
        "ok": true,
        "policy": {
          "ok": true,
          "reasons": [],
        },
        "qe": {
          "advisoryIds": [],
          "isvSvn": 6,
          "status": "UpToDate",
        },
        "reasons": [],
        "root": "intel",
        "status": "UpToDate",
        "tcb": {
          "module": {
            "advisoryIds": [],
            "id": "TDX_01",
            "status": "UpToDate",
            "tcbDate": 2024-03-13T00:00:00.000Z,
          },
          "platform": "UpToDate",
          "platformLevel": 0,
        },
        "tee": "tdx",
        "verified": true,
        "version": 4,
      }
    `)
    expect(verdict.measurements).toMatchObject({
      mrTd: expect.stringMatching(/^[0-9a-f]{96}$/),
      reportData: expect.stringMatching(/^[0-9a-f]{128}$/),
    })
  })

  test('default: SGX sample, measurements are the enclave fields', () => {
    const verdict = verifyQuoteSync(sgxBytes(), { collateral: sgxJson(), now: sgxNow })
    const q = Quote.parse(sgxBytes())
    if (q.type !== 'sgx') throw new Error('expected SGX')
    expect([verdict.ok, verdict.hardware, verdict.tee, verdict.version]).toEqual([true, 'sgx', 'sgx', 3])
    expect(verdict.measurements).toEqual({
      mrEnclave: Buffer.from(q.body.mrEnclave).toString('hex'),
      mrSigner: Buffer.from(q.body.mrSigner).toString('hex'),
      reportData: Buffer.from(q.body.reportData).toString('hex'),
      isvProdId: q.body.isvProdId,
      isvSvn: q.body.isvSvn,
      attributes: Buffer.from(q.body.attributes).toString('hex'),
    })
  })

  test('behavior: a parsed quote, a parsed collateral and a verified collateral give the same verdict', () => {
    const a = verifyQuoteSync(tdxBytes(), { collateral: tdxJson(), now: tdxNow })
    const b = verifyQuoteSync(Quote.parse(tdxBytes()), { collateral: Collateral.parse(tdxJson()), now: tdxNow })
    const verified = Collateral.verify(Collateral.parse(tdxJson()), { now: tdxNow, trustedRoots: [intelSgxRootCa] })
    const c = verifyQuoteSync(tdxBytes(), { collateral: verified, now: tdxNow })
    expect(b).toEqual(a)
    expect(c).toEqual(a)
  })

  test('behavior: SGX quote with TDX collateral lists every reason', () => {
    const verdict = verifyQuoteSync(sgxBytes(), { collateral: tdxJson(), now: tdxNow })
    expect(verdict.ok).toBe(false)
    expect(verdict.reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "pck.chain",
          "message": "The PCK CA in the quote is not the PCK CRL issuer of the collateral ("CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US").",
        },
        {
          "code": "pck.chain",
          "message": "The PCK certificate is issued by "CN=Intel SGX PCK Processor CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US", not by "CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US".",
        },
        {
          "code": "qe.identity",
          "message": "QE identity id TD_QE does not match an SGX quote (QE).",
        },
      ]
    `)
  })

  test('behavior: a flipped REPORTDATA byte breaks the quote signature; the policy is still evaluated', () => {
    const bytes = tdxBytes()
    bytes[568] = (bytes[568] as number) ^ 1
    const verdict = verifyQuoteSync(bytes, { collateral: tdxJson(), now: tdxNow, policy: { minTcbStatus: 'UpToDate', allowDebug: false } })
    expect([verdict.ok, verdict.verified, verdict.status]).toEqual([false, false, 'UpToDate'])
    expect(verdict.reasons).toEqual([{ code: 'quote.signature', message: 'Quote signature does not verify with the attestation key.' }])
  })

  test('behavior: a flipped QE report byte breaks the QE report signature and the binding is still checked', () => {
    const quote = Quote.parse(tdxBytes())
    const rd = quote.signatureData.qeReport.reportData
    rd[0] = (rd[0] as number) ^ 1
    const verdict = verifyQuoteSync(Quote.serialize(quote), { collateral: tdxJson(), now: tdxNow })
    expect(verdict.reasons.map((r) => r.code)).toEqual(['qe.signature', 'qe.binding'])
  })

  test('behavior: unparsable quote → quote.parse reason, no measurements', () => {
    const verdict = verifyQuoteSync(tdxBytes().subarray(0, 100), { collateral: tdxJson(), now: tdxNow })
    expect(verdict).toMatchObject({ ok: false, measurements: undefined, hardware: undefined })
    expect(verdict.reasons).toMatchInlineSnapshot(`
      [
        {
          "code": "quote.parse",
          "message": "Truncated quote: field "body" at offset 48 needs 584 bytes, but only 52 remain.",
        },
      ]
    `)
  })

  test('behavior: garbage collateral JSON → collateral.invalid', () => {
    const verdict = verifyQuoteSync(tdxBytes(), { collateral: '{"nope":1}', now: tdxNow })
    expect(verdict.reasons).toEqual([{ code: 'collateral.invalid', message: 'Invalid collateral: pck_crl_issuer_chain must be a string' }])
  })
})

describe('trust roots', () => {
  test('behavior: a look-alike root named "intel" anchors the quote but the verdict says devnet, never hardware', () => {
    const { bytes, collateral, rootPem } = lookAlike()
    const impostor = createTrustedRoot({
      name: 'intel',
      pem: rootPem,
      tcbSigningCommonName: 'Intel SGX TCB Signing',
      pckCommonName: 'SGX PCK Certificate',
    })
    const verdict = verifyQuoteSync(bytes, { collateral, now: tdxNow, trustedRoots: [impostor] })
    expect([verdict.ok, verdict.verified, verdict.root, verdict.hardware, verdict.status]).toEqual([
      true,
      true,
      'intel',
      'devnet',
      'UpToDate',
    ])
    // The same quote with the default roots (Intel only) does not verify.
    const intel = verifyQuoteSync(bytes, { collateral, now: tdxNow })
    expect([intel.ok, intel.hardware]).toEqual([false, undefined])
    expect(intel.reasons.map((r) => r.code)).toContain('collateral.crl')
    // Verified collateral under the look-alike root is refused when the call trusts only Intel.
    const verified = Collateral.verify(Collateral.parse(collateral), { now: tdxNow, trustedRoots: [impostor] })
    expect(verifyQuoteSync(bytes, { collateral: verified, now: tdxNow }).reasons).toEqual([
      { code: 'collateral.untrusted_root', message: 'Collateral is anchored at "intel", which is not a trusted root of this call.' },
      { code: 'pck.untrusted_root', message: 'The PCK certificate chain in the quote does not end at (or directly under) a trusted root.' },
    ])
  })

  test('behavior: the real Intel quote against the real Intel chain is hardware even under another root name', () => {
    const renamed = { ...intelSgxRootCa, name: 'my-intel' }
    const verdict = verifyQuoteSync(tdxBytes(), { collateral: tdxJson(), now: tdxNow, trustedRoots: [renamed] })
    expect([verdict.ok, verdict.root, verdict.hardware]).toEqual([true, 'my-intel', 'tdx'])
  })

  test('behavior: a PCK certificate whose serial the PCK CRL lists is rejected (pck.revoked)', () => {
    const { bytes, collateral, rootPem } = lookAlike({ revokeLeaf: true })
    const root = createTrustedRoot({
      name: 'test',
      pem: rootPem,
      tcbSigningCommonName: 'Intel SGX TCB Signing',
      pckCommonName: 'SGX PCK Certificate',
    })
    const verdict = verifyQuoteSync(bytes, { collateral, now: tdxNow, trustedRoots: [root] })
    const serial = Collateral.parse(collateral).pckCrl.revoked[0]?.serial
    expect(verdict.reasons).toEqual([{ code: 'pck.revoked', message: `The PCK certificate (serial ${serial}) is revoked.` }])
  })

  test('behavior: the root profile PCK CN rule is enforced', () => {
    const { bytes, collateral, rootPem } = lookAlike()
    const root = createTrustedRoot({
      name: 'strict',
      pem: rootPem,
      tcbSigningCommonName: 'Intel SGX TCB Signing',
      pckCommonName: 'Devnet PCK',
    })
    const verdict = verifyQuoteSync(bytes, { collateral, now: tdxNow, trustedRoots: [root] })
    expect(verdict.reasons).toEqual([
      { code: 'pck.common_name', message: 'The PCK certificate CN "Intel SGX PCK Certificate" does not contain "Devnet PCK".' },
    ])
  })
})

describe('verifyQuote (async policy)', () => {
  test('behavior: an async approval callback sees the measurements and can reject with its reason', async () => {
    const seen: unknown[] = []
    const verdict = await verifyQuote(tdxBytes(), {
      collateral: tdxJson(),
      now: tdxNow,
      policy: {
        approvedMeasurements: async (q) => {
          seen.push(q.tee, q.mrTd?.length, q.rtmrs?.length)
          return 'compose hash not approved on-chain'
        },
      },
    })
    expect(seen).toEqual(['tdx', 96, 4])
    expect([verdict.ok, verdict.verified, verdict.policy.ok]).toEqual([false, true, false])
    expect(verdict.reasons).toEqual([{ code: 'policy.measurement', message: 'compose hash not approved on-chain' }])
  })

  test('behavior: verifyQuoteSync refuses an async callback with a reason', () => {
    const verdict = verifyQuoteSync(tdxBytes(), {
      collateral: tdxJson(),
      now: tdxNow,
      policy: { approvedMeasurements: (() => Promise.resolve(true)) as unknown as () => boolean },
    })
    expect(verdict.reasons).toEqual([
      { code: 'policy.measurement', message: 'The approval callback is asynchronous: use verifyQuote, not verifyQuoteSync.' },
    ])
  })

  test('behavior: an approving callback keeps the verdict ok', async () => {
    const verdict = await verifyQuote(tdxBytes(), {
      collateral: tdxJson(),
      now: tdxNow,
      policy: { approvedMeasurements: async () => true },
    })
    expect(verdict.ok).toBe(true)
  })
})

// The memos (internal/Memo.ts) record successful verifications by their exact bytes. Each test first verifies the
// genuine quote (so its entries are in the memo in this process), then changes one byte of what was memoised.
describe('memoised checks cannot change a verdict', () => {
  const offsets = (bytes: Uint8Array) => {
    const quote = Quote.parse(bytes)
    const sigData = Quote.signedLength(quote) + 4
    const qeReport = sigData + 128 + (quote.header.version === 3 ? 0 : 6)
    return { quote, attestationKey: sigData + 64, qeReport, qeReportSignature: qeReport + 384 }
  }
  const genuine = () => {
    const verdict = verifyQuoteSync(tdxBytes(), { collateral: tdxJson(), now: tdxNow })
    expect([verdict.ok, verdict.verified]).toEqual([true, true])
  }
  const flip = (at: number) => {
    const bytes = tdxBytes()
    bytes[at] = (bytes[at] as number) ^ 0x01
    return bytes
  }

  test('behavior: a flipped QE report signature byte is rejected after the genuine signature was memoised', () => {
    genuine()
    const { qeReportSignature } = offsets(tdxBytes())
    for (const at of [qeReportSignature, qeReportSignature + 63]) {
      const verdict = verifyQuoteSync(flip(at), { collateral: tdxJson(), now: tdxNow })
      expect([at, verdict.ok, verdict.reasons.map((r) => r.code)]).toEqual([at, false, ['qe.signature']])
    }
    genuine()
  })

  test('behavior: a flipped QE report byte (outside REPORTDATA) is rejected after the genuine report was memoised', () => {
    genuine()
    const { qeReport } = offsets(tdxBytes())
    // CPUSVN[0] and the last reserved byte before REPORTDATA: neither is read by the QE identity match or the binding.
    for (const at of [qeReport, qeReport + 319]) {
      const verdict = verifyQuoteSync(flip(at), { collateral: tdxJson(), now: tdxNow })
      expect([at, verdict.ok, verdict.reasons.map((r) => r.code)]).toEqual([at, false, ['qe.signature']])
    }
    // The same through the parsed-quote path (QE report bytes re-serialized, not sliced from the input).
    const parsed = Quote.parse(flip(qeReport))
    expect(verifyQuoteSync(parsed, { collateral: tdxJson(), now: tdxNow }).reasons.map((r) => r.code)).toEqual(['qe.signature'])
  })

  test('behavior: a PCK leaf with a flipped signature byte is rejected after the genuine leaf was memoised', () => {
    genuine()
    const { quote } = offsets(tdxBytes())
    const [leaf, ...rest] = CertChain.fromPem(Quote.pckCertChainPem(quote)) as [X509Certificate, ...X509Certificate[]]
    const der = Buffer.from(leaf.raw)
    der[der.length - 1] = (der[der.length - 1] as number) ^ 0x01 // last byte of the signature's s
    const chain = new TextEncoder().encode([der, ...rest.map((c) => c.raw)].map(pem).join(''))
    const bytes = Quote.serialize({ ...quote, signatureData: { ...quote.signatureData, certificationData: { type: 5, pem: chain } } })
    const verdict = verifyQuoteSync(bytes, { collateral: tdxJson(), now: tdxNow })
    expect([verdict.ok, verdict.reasons.map((r) => r.code)]).toEqual([false, ['pck.signature']])
    genuine()
  })

  test('behavior: the memoised genuine leaf under another PCK CA key is rejected', () => {
    genuine()
    const { quote } = offsets(tdxBytes())
    const [leaf] = CertChain.split(Quote.pckCertChainPem(quote)) as [string]
    // The look-alike PKI has the same names as Intel's but its own keys: the Intel-signed leaf under its PCK CA.
    const { collateral, rootPem } = lookAlike()
    const chain = new TextEncoder().encode(leaf + collateral.pck_crl_issuer_chain)
    const bytes = Quote.serialize({ ...quote, signatureData: { ...quote.signatureData, certificationData: { type: 5, pem: chain } } })
    const root = createTrustedRoot({
      name: 'look-alike',
      pem: rootPem,
      tcbSigningCommonName: 'Intel SGX TCB Signing',
      pckCommonName: 'SGX PCK Certificate',
    })
    const verdict = verifyQuoteSync(bytes, { collateral, now: tdxNow, trustedRoots: [root] })
    expect([verdict.ok, verdict.reasons.map((r) => r.code)]).toEqual([false, ['pck.signature']])
  })

  test('behavior: a flipped attestation key byte is rejected after the genuine key was imported', () => {
    genuine()
    const { attestationKey } = offsets(tdxBytes())
    const verdict = verifyQuoteSync(flip(attestationKey + 63), { collateral: tdxJson(), now: tdxNow })
    expect(verdict.ok).toBe(false)
    expect(verdict.reasons.map((r) => r.code)).toContain('qe.binding')
    expect(verdict.reasons.map((r) => r.code).some((c) => c === 'quote.signature' || c === 'quote.attestation_key')).toBe(true)
  })
})
