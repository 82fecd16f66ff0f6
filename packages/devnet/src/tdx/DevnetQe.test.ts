import { createHash, createPublicKey, verify, type X509Certificate } from 'node:crypto'
import { CertChain, Collateral, intelSgxRootCa, QeIdentity, Quote } from '@regent-tee/attest'
import { describe, expect, test } from 'vitest'
import * as DevnetCollateral from './DevnetCollateral.js'
import * as DevnetPki from './DevnetPki.js'
import * as DevnetQe from './DevnetQe.js'
import * as DevnetTd from './DevnetTd.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const td = DevnetTd.create()
DevnetTd.extend(td, { name: 'system-ready', payload: new Uint8Array(0) })
const reportData = Uint8Array.from({ length: 64 }, (_, i) => 255 - i)
const bytes = DevnetQe.quote(qe, { tdReport: DevnetTd.report(td, { reportData }) })
const now = new Date()

function attestationKeyObject(raw: Uint8Array) {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url')
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64(raw.subarray(0, 32)), y: b64(raw.subarray(32)) }, format: 'jwk' })
}

describe('quote', () => {
  test('default: a TDX v4 quote that attest parses and serializes back byte-exactly', () => {
    const quote = Quote.parse(bytes)
    expect(quote.type).toBe('td10')
    expect(Buffer.from(Quote.serialize(quote)).equals(Buffer.from(bytes))).toBe(true)
    const h = quote.header
    expect([h.version, h.attestationKeyType, h.teeType, h.qeSvn, h.pceSvn]).toEqual([4, 2, 0x81, 0, 0])
    expect(Buffer.from(h.qeVendorId).toString('hex')).toBe('939a7233f79c4ca9940a0db3957f0607')
    expect(Buffer.from(h.userData)).toEqual(Buffer.concat([qe.qeId, Buffer.alloc(4)]))
    expect(Quote.reportData(quote)).toEqual(reportData)
    expect(Quote.rtmrs(quote)?.[3]).toEqual(td.rtmr3)
    expect(quote.signatureData.certificationData.type).toBe(5)
    expect(bytes[bytes.length - 1]).toBe(0) // the PEM chain is NUL-terminated as Intel's QE does
    expect(quote.trailing.length).toBe(0)
  })

  test('behavior: the quote signature verifies with the attestation key over header ‖ body', () => {
    const quote = Quote.parse(bytes)
    const key = { key: attestationKeyObject(quote.signatureData.attestationKey), dsaEncoding: 'ieee-p1363' as const }
    expect(Quote.signedRegion(quote)).toEqual(bytes.subarray(0, 632))
    expect(verify('sha256', bytes.subarray(0, 632), key, quote.signatureData.signature)).toBe(true)
    const tampered = Uint8Array.from(bytes.subarray(0, 632))
    tampered[568] = (tampered[568] as number) ^ 1 // REPORTDATA[0]
    expect(verify('sha256', tampered, key, quote.signatureData.signature)).toBe(false)
  })

  test('behavior: the QE report is signed by the PCK leaf and binds the attestation key', () => {
    const quote = Quote.parse(bytes)
    const [leaf] = CertChain.fromPem(Quote.pckCertChainPem(quote))
    const pck = leaf as X509Certificate
    expect(pck.raw.equals(Buffer.from(pki.pck.certificate.der))).toBe(true)
    const qeSignatureOk = verify(
      'sha256',
      Quote.qeReportBytes(quote),
      { key: pck.publicKey, dsaEncoding: 'ieee-p1363' },
      quote.signatureData.qeReportSignature,
    )
    expect(qeSignatureOk).toBe(true)
    const report = Quote.qeReport(quote)
    const binding = createHash('sha256').update(quote.signatureData.attestationKey).update(quote.signatureData.qeAuthData).digest()
    expect(Buffer.from(report.reportData.subarray(0, 32)).equals(binding)).toBe(true)
    expect(report.reportData.subarray(32)).toEqual(new Uint8Array(32))
    expect(quote.signatureData.qeAuthData).toEqual(DevnetQe.defaultQeAuthData)
    expect(report.cpuSvn).toEqual(pki.platform.tcb.cpusvn)
    expect([report.isvProdId, report.isvSvn, report.miscSelect]).toEqual([2, 4, 0])
    expect(report.mrSigner).toEqual(DevnetQe.identity.mrSigner)
  })

  test('behavior: the quote’s PCK chain and QE verify with devnet collateral and the devnet root, and not with Intel’s root', () => {
    const quote = Quote.parse(bytes)
    const devnetRoot = DevnetPki.trustedRoot(pki)
    const collateral = Collateral.verify(Collateral.parse(DevnetCollateral.issue(pki)), { now, trustedRoots: [devnetRoot] })
    const crls = [collateral.rootCaCrl, collateral.pckCrl]
    const chain = CertChain.verify({ chain: Quote.pckCertChainPem(quote), trustedRoots: [devnetRoot], now, crls })
    expect(chain.certificates.map((c) => c.subject.split('\n')[0])).toEqual([
      'CN=Regent Devnet PCK Certificate',
      'CN=Regent Devnet PCK Platform CA',
      'CN=Regent Devnet Root CA',
    ])
    const report = Quote.qeReport(quote)
    const match = QeIdentity.match(collateral.qeIdentity.identity, {
      miscselect: report.miscSelect,
      attributes: report.attributes,
      mrsigner: report.mrSigner,
      isvprodid: report.isvProdId,
      isvsvn: report.isvSvn,
    })
    expect(match.status).toBe('UpToDate')
    expect(() => CertChain.verify({ chain: Quote.pckCertChainPem(quote), trustedRoots: [intelSgxRootCa], now, crls })).toThrowError(
      'Certificate chain ends at self-signed "CN=Regent Devnet Root CA, O=Regent Devnet", which is not a trusted root.',
    )
  })

  test('behavior: a persisted attestation key gives the same certified key; each quote is signed afresh', () => {
    const again = DevnetQe.create({ pki, attestationKey: qe.attestationKey })
    expect(again.attestationPublicKey).toEqual(qe.attestationPublicKey)
    expect(again.qeReportData.qeReport.reportData).toEqual(qe.qeReportData.qeReport.reportData)
    expect(DevnetQe.create({ pki }).attestationPublicKey).not.toEqual(qe.attestationPublicKey)
    const other = Quote.parse(DevnetQe.quote(qe, { tdReport: DevnetTd.report(td, { reportData: new Uint8Array(0) }) }))
    expect(Quote.reportData(other)).toEqual(new Uint8Array(64))
  })

  test('behavior: invalid options are typed errors', () => {
    expect(() => DevnetQe.create({ pki, qeId: new Uint8Array(3) })).toThrowError(
      new DevnetQe.InvalidOptionsError({ option: 'qeId', reason: 'must be 16 bytes' }),
    )
    expect(() => DevnetQe.create({ pki, attestationKey: pki.pck.certificate.x509.publicKey })).toThrowError(
      'Invalid devnet QE option attestationKey: must be a P-256 private key.',
    )
    const td15 = { ...DevnetTd.report(td, { reportData }), type: 'td15' } as never
    expect(() => DevnetQe.quote(qe, { tdReport: td15 })).toThrowError(
      'Invalid devnet QE option tdReport: must be a TD 1.0 report (v4 quotes carry TD10 bodies).',
    )
  })
})
