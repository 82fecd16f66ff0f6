import { createPublicKey, sign, verify, X509Certificate } from 'node:crypto'
import { CertChain, Crl, intelSgxRootCa, PckCertificate } from '@regent-tee/attest'
import { describe, expect, test } from 'vitest'
import * as DevnetPki from './DevnetPki.js'

const pki = DevnetPki.create()
const now = new Date()
const devnetRoot = DevnetPki.trustedRoot(pki)

function thrown(f: () => unknown): Error {
  try {
    f()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected an error')
}

describe('create', () => {
  test('default: the PCK leaf carries the SGX extensions attest reads, with the values put in', () => {
    const pck = PckCertificate.from(pki.pck.certificate.pem)
    expect(pck.fmspc).toBe('DE7ED0000000')
    expect(pck.fmspc).toBe(pki.platform.fmspc)
    expect(pck.pceId).toBe('0000')
    expect(pck.ppid).toBe(pki.platform.ppid)
    expect(pck.ppid).toMatch(/^[0-9A-F]{32}$/)
    expect(pck.tcb.components).toEqual([3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0])
    expect(pck.tcb.pcesvn).toBe(11)
    expect(Buffer.from(pck.tcb.cpusvn).toString('hex')).toBe('03030202040100050000000000000000')
    expect(pck.sgxType).toBe('Scalable')
    expect(pck.ca).toBe('platform')
    expect(pck.platformInstanceId).toBe(pki.platform.platformInstanceId)
    expect(pck.configuration).toEqual({ dynamicPlatform: true, cachedKeys: true, smtEnabled: true })
  })

  test('behavior: TCB and FMSPC options reach the certificate', () => {
    const custom = DevnetPki.create({
      tcb: { components: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6], pcesvn: 300 },
      fmspc: 'de7ed0000001',
    })
    const pck = PckCertificate.from(custom.pck.certificate.x509)
    expect([pck.tcb.components, pck.tcb.pcesvn, pck.fmspc]).toEqual([[9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6], 300, 'DE7ED0000001'])
    expect(Buffer.from(pck.tcb.cpusvn).toString('hex')).toBe('09080706050403020100010203040506')
  })

  test('behavior: every certificate verifies under its issuer with node:crypto, and is named as devnet', () => {
    const { root, pckCa, pck, tcbSigning } = pki
    expect(root.certificate.x509.verify(root.certificate.x509.publicKey)).toBe(true)
    expect(pckCa.certificate.x509.verify(root.certificate.x509.publicKey)).toBe(true)
    expect(pck.certificate.x509.verify(pckCa.certificate.x509.publicKey)).toBe(true)
    expect(tcbSigning.certificate.x509.verify(root.certificate.x509.publicKey)).toBe(true)
    expect(pck.certificate.x509.verify(root.certificate.x509.publicKey)).toBe(false)
    expect([root, pckCa, pck, tcbSigning].map((a) => a.certificate.x509.subject)).toEqual([
      'CN=Regent Devnet Root CA\nO=Regent Devnet',
      'CN=Regent Devnet PCK Platform CA\nO=Regent Devnet',
      'CN=Regent Devnet PCK Certificate\nO=Regent Devnet',
      'CN=Regent Devnet TCB Signing\nO=Regent Devnet',
    ])
    expect([root, pckCa, pck, tcbSigning].map((a) => a.certificate.x509.ca)).toEqual([true, true, false, false])
    expect([root, pckCa, pck, tcbSigning].map((a) => a.certificate.x509.checkIssued(root.certificate.x509))).toEqual([
      true,
      true,
      false,
      true,
    ])
  })

  test('behavior: PEM and DER encode the same certificate; serials are random, positive, 20 bytes', () => {
    for (const a of [pki.root, pki.pckCa, pki.pck, pki.tcbSigning]) {
      expect(new X509Certificate(a.certificate.pem).raw.equals(Buffer.from(a.certificate.der))).toBe(true)
      expect(a.certificate.serial).toMatch(/^[4-7][0-9A-F]{39}$/)
    }
    expect(new Set([pki.root, pki.pckCa, pki.pck, pki.tcbSigning].map((a) => a.certificate.serial)).size).toBe(4)
    expect(DevnetPki.create().root.certificate.serial).not.toBe(pki.root.certificate.serial)
  })

  test('behavior: default validity windows (CAs now-1h .. now+10y, leaves now-1h .. now+7y) and custom ones', () => {
    const at = new Date('2030-01-01T00:00:00Z')
    const fixed = DevnetPki.create({ now: at })
    expect([fixed.root.certificate.x509.validFrom, fixed.root.certificate.x509.validTo]).toEqual([
      'Dec 31 23:00:00 2029 GMT',
      'Dec 30 00:00:00 2039 GMT',
    ])
    expect([fixed.pck.certificate.x509.validFrom, fixed.pck.certificate.x509.validTo]).toEqual([
      'Dec 31 23:00:00 2029 GMT',
      'Dec 30 00:00:00 2036 GMT',
    ])
    const custom = DevnetPki.create({
      caValidity: { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2060-01-01T00:00:00Z') },
    })
    expect(custom.root.certificate.x509.validTo).toBe('Jan  1 00:00:00 2060 GMT')
  })

  test('behavior: the PCK chain verifies to the devnet root with attest, and never to Intel’s root', () => {
    const crls = [Crl.parse(DevnetPki.issueCrl(pki, { issuer: 'root' })), Crl.parse(DevnetPki.issueCrl(pki, { issuer: 'pckCa' }))]
    const chain = DevnetPki.pckCertChainPem(pki)
    expect(CertChain.verify({ chain, trustedRoots: [devnetRoot], now, crls }).root.name).toBe('devnet')
    const error = thrown(() => CertChain.verify({ chain, trustedRoots: [intelSgxRootCa], now, crls }))
    expect(error).toBeInstanceOf(CertChain.UntrustedRootError)
    expect(error.message).toBe(
      'Certificate chain ends at self-signed "CN=Regent Devnet Root CA, O=Regent Devnet", which is not a trusted root.',
    )
    expect(devnetRoot).toMatchObject({
      name: 'devnet',
      tcbSigningCommonName: 'Regent Devnet TCB Signing',
      pckCommonName: 'Regent Devnet PCK Certificate',
    })
  })

  test('behavior: invalid options are typed errors', () => {
    expect(() => DevnetPki.create({ tcb: { components: [1, 2] } })).toThrowError(
      new DevnetPki.InvalidOptionsError({ option: 'tcb.components', reason: 'must be 16 integers in [0, 255]' }),
    )
    expect(thrown(() => DevnetPki.create({ fmspc: 'xyz' })).message).toBe('Invalid devnet PKI option fmspc: must be 6 bytes of hex.')
    expect(thrown(() => DevnetPki.create({ caValidity: { notBefore: now, notAfter: now } })).message).toBe(
      'Invalid devnet PKI option caValidity: notBefore must be before notAfter.',
    )
  })
})

describe('issueCrl', () => {
  test('default: v2 CRLs that parse with attest and verify under their issuers only', () => {
    const rootCrl = Crl.parse(DevnetPki.issueCrl(pki, { issuer: 'root' }))
    const pckCrl = Crl.parse(DevnetPki.issueCrl(pki, { issuer: 'pckCa' }))
    expect([rootCrl.version, rootCrl.signatureAlgorithm.name, rootCrl.issuer.text, rootCrl.revoked]).toEqual([
      2,
      'ecdsa-with-SHA256',
      'CN=Regent Devnet Root CA, O=Regent Devnet',
      [],
    ])
    expect(pckCrl.issuer.text).toBe('CN=Regent Devnet PCK Platform CA, O=Regent Devnet')
    Crl.verify(rootCrl, { issuer: pki.root.certificate.x509, now })
    Crl.verify(pckCrl, { issuer: pki.pckCa.certificate.x509, now })
    expect(() => Crl.verify(pckCrl, { issuer: pki.root.certificate.x509, now })).toThrowError(Crl.IssuerMismatchError)
    // The signature really is the issuer's: a CRL signed by another PKI's PCK CA with the same name fails.
    const other = DevnetPki.create()
    expect(() =>
      Crl.verify(Crl.parse(DevnetPki.issueCrl(other, { issuer: 'pckCa' })), { issuer: pki.pckCa.certificate.x509, now }),
    ).toThrowError('CRL signature of "CN=Regent Devnet PCK Platform CA, O=Regent Devnet" is invalid.')
  })

  test('behavior: revoked serials and windows', () => {
    const thisUpdate = new Date('2031-05-01T00:00:00Z')
    const crl = Crl.parse(
      DevnetPki.issueCrl(pki, {
        issuer: 'pckCa',
        revoked: [pki.pck.certificate.serial, '0x00ff'],
        thisUpdate,
        nextUpdate: new Date('2031-06-01T00:00:00Z'),
      }),
    )
    expect(crl.revoked).toEqual([
      { serial: pki.pck.certificate.serial, date: thisUpdate },
      { serial: 'FF', date: thisUpdate },
    ])
    expect([crl.thisUpdate, crl.nextUpdate]).toEqual([thisUpdate, new Date('2031-06-01T00:00:00Z')])
    expect(() => Crl.verify(crl, { issuer: pki.pckCa.certificate.x509, now: new Date('2031-06-02T00:00:00Z') })).toThrowError(
      Crl.ExpiredError,
    )
    const crls = [
      Crl.parse(DevnetPki.issueCrl(pki, { issuer: 'root' })),
      Crl.parse(DevnetPki.issueCrl(pki, { issuer: 'pckCa', revoked: [pki.pck.certificate.serial] })),
    ]
    const error = thrown(() => CertChain.verify({ chain: DevnetPki.pckCertChainPem(pki), trustedRoots: [devnetRoot], now, crls }))
    expect(error.message).toBe(
      `Certificate 0 "CN=Regent Devnet PCK Certificate, O=Regent Devnet" (serial ${pki.pck.certificate.serial}) is revoked.`,
    )
    expect(() => DevnetPki.issueCrl(pki, { issuer: 'root', revoked: ['zz'] })).toThrowError(
      'Invalid devnet PKI option revoked: "zz" is not a hex serial.',
    )
  })
})

describe('seal', () => {
  const key = new Uint8Array(32).fill(7)

  test('default: round trip restores certificates, platform and working private keys', () => {
    const sealed = DevnetPki.seal(pki, { key })
    expect(Buffer.from(sealed.subarray(0, 5)).toString('hex')).toBe('5244504b01')
    const restored = DevnetPki.unseal(sealed, { key })
    for (const name of ['root', 'pckCa', 'pck', 'tcbSigning'] as const) {
      expect(restored[name].certificate.pem).toBe(pki[name].certificate.pem)
      expect(restored[name].certificate.serial).toBe(pki[name].certificate.serial)
      const signature = sign('sha256', Buffer.from('message'), restored[name].privateKey)
      expect(verify('sha256', Buffer.from('message'), pki[name].certificate.x509.publicKey, signature)).toBe(true)
    }
    expect(restored.platform).toEqual(pki.platform)
    // No private key material in the sealed bytes in the clear.
    for (const name of ['root', 'pckCa', 'pck', 'tcbSigning'] as const) {
      const scalar = Buffer.from(pki[name].privateKey.export({ format: 'jwk' }).d as string, 'base64url')
      expect(scalar.length).toBe(32)
      expect(Buffer.from(sealed).includes(scalar)).toBe(false)
    }
    expect(createPublicKey(restored.pck.privateKey).export({ format: 'jwk' })).toEqual(
      pki.pck.certificate.x509.publicKey.export({ format: 'jwk' }),
    )
  })

  test('behavior: wrong key, flipped bytes, other versions and garbage are typed errors', () => {
    const sealed = DevnetPki.seal(pki, { key })
    const wrong = thrown(() => DevnetPki.unseal(sealed, { key: new Uint8Array(32).fill(8) }))
    expect(wrong).toBeInstanceOf(DevnetPki.WrongSealKeyError)
    expect(wrong.message).toBe('Sealed devnet PKI was sealed under a different key.')
    for (const index of [30, 200, sealed.length - 1]) {
      const flipped = Uint8Array.from(sealed)
      flipped[index] = (flipped[index] as number) ^ 1
      const error = thrown(() => DevnetPki.unseal(flipped, { key }))
      expect(error).toBeInstanceOf(DevnetPki.TamperedSealError)
      expect(error.message).toBe('Sealed devnet PKI is corrupted or tampered with: authentication failed.')
    }
    const version = Uint8Array.from(sealed)
    version[4] = 2
    expect(thrown(() => DevnetPki.unseal(version, { key })).message).toBe(
      'Sealed devnet PKI has unsupported format version 2 (expected 1).',
    )
    const magic = Uint8Array.from(sealed)
    magic[0] = 0
    expect(thrown(() => DevnetPki.unseal(magic, { key }))).toBeInstanceOf(DevnetPki.InvalidSealedDataError)
    expect(thrown(() => DevnetPki.unseal(sealed.subarray(0, 40), { key })).message).toBe(
      'Not a sealed devnet PKI: 40 bytes is shorter than the 49-byte minimum.',
    )
    expect(thrown(() => DevnetPki.seal(pki, { key: new Uint8Array(16) })).message).toBe('Seal key must be 32 bytes, got 16 bytes.')
  })
})
