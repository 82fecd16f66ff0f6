import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { describe, expect, test } from 'vitest'
import * as CertChain from './CertChain.js'
import * as Crl from './Crl.js'
import { intelSgxRootCaPem } from './roots.js'

const vectors = vectorsDir
const collateral = JSON.parse(readFileSync(`${vectors}dcap-qvl/sample/tdx_quote_collateral.json`, 'utf8'))
const root = new X509Certificate(intelSgxRootCaPem)
const platformCa = CertChain.fromPem(collateral.pck_crl_issuer_chain)[0] as X509Certificate
const now = new Date(1751624191_000)

describe('parse', () => {
  test('default: Intel root CA CRL and PCK Platform CA CRL', () => {
    const rootCrl = Crl.fromHex(collateral.root_ca_crl)
    expect(rootCrl.version).toBe(2)
    expect(rootCrl.signatureAlgorithm).toEqual({ oid: '1.2.840.10045.4.3.2', name: 'ecdsa-with-SHA256' })
    expect(rootCrl.issuer.text).toBe('CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US')
    expect(rootCrl.thisUpdate.toISOString()).toBe('2025-03-20T11:21:57.000Z')
    expect(rootCrl.nextUpdate.toISOString()).toBe('2026-04-03T11:21:57.000Z')
    expect(rootCrl.revoked).toEqual([])
    const pckCrl = Crl.fromHex(collateral.pck_crl)
    expect(pckCrl.issuer.text).toBe('CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US')
    expect(pckCrl.revoked.length).toBe(44)
    expect(pckCrl.revoked[0]).toEqual({ serial: '6FC34E5023E728923435D61AA4B83C618166AD35', date: new Date('2025-06-19T10:00:35Z') })
    expect(pckCrl.tbs.length + pckCrl.signature.length).toBeLessThan(pckCrl.der.length)
  })

  test('behavior: every CRL in the vectors parses', () => {
    for (const file of [
      'automata-dcap-attestation/solana-tests-data/intel_root_ca_crl.der',
      'automata-dcap-attestation/solana-tests-data/pck_platform_crl.der',
      'automata-dcap-attestation/evm-assets-1025/pck_crl.der',
      'automata-dcap-attestation/evm-assets-0825/platform_crl.der',
      'go-tdx-guest/testdata/pckcrl',
      'go-tdx-guest/testdata/rootcrl.der',
    ]) {
      const crl = Crl.parse(new Uint8Array(readFileSync(`${vectors}${file}`)))
      expect(crl.nextUpdate.getTime()).toBeGreaterThan(crl.thisUpdate.getTime())
    }
  })

  test('behavior: PEM input', () => {
    const der = Buffer.from(collateral.root_ca_crl, 'hex')
    const pem = `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`
    expect(Crl.fromPem(pem).issuer.text).toBe(Crl.fromHex(collateral.root_ca_crl).issuer.text)
    expect(() => Crl.fromPem('nothing')).toThrowErrorMatchingInlineSnapshot(`
      [Crl.InvalidCrlError: Invalid CRL.

      Details: No "X509 CRL" PEM block found.]
    `)
  })

  test('behavior: malformed DER names the offset', () => {
    const der = new Uint8Array(Buffer.from(collateral.root_ca_crl, 'hex'))
    expect(() => Crl.parse(der.subarray(0, 100))).toThrowError(
      'Invalid CRL.\n\nDetails: Invalid DER at offset 0: length 288 exceeds the 96 remaining bytes.',
    )
    expect(() => Crl.parse(new Uint8Array([...der, 0]))).toThrowError(
      'Invalid CRL.\n\nDetails: Invalid DER at offset 292: 1 trailing bytes.',
    )
    expect(() => Crl.fromHex('0')).toThrowError('Invalid CRL.\n\nDetails: CRL hex is not an even-length hex string.')
  })
})

describe('verify', () => {
  test('default: root CRL by the root, PCK CRL by the PCK CA', () => {
    expect(() => Crl.verify(Crl.fromHex(collateral.root_ca_crl), { issuer: root, now })).not.toThrow()
    expect(() => Crl.verify(Crl.fromHex(collateral.pck_crl), { issuer: platformCa, now })).not.toThrow()
  })

  test('behavior: window boundaries are inclusive; one second outside fails', () => {
    const crl = Crl.fromHex(collateral.pck_crl)
    Crl.verify(crl, { issuer: platformCa, now: crl.thisUpdate })
    Crl.verify(crl, { issuer: platformCa, now: crl.nextUpdate })
    expect(() => Crl.verify(crl, { issuer: platformCa, now: new Date(crl.thisUpdate.getTime() - 1000) })).toThrowError(
      'CRL of "CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is not yet valid: thisUpdate 2025-06-19T10:00:35.000Z is after 2025-06-19T10:00:34.000Z.',
    )
    expect(() => Crl.verify(crl, { issuer: platformCa, now: new Date(crl.nextUpdate.getTime() + 1000) })).toThrowError(
      'CRL of "CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" expired: nextUpdate 2025-07-19T10:00:35.000Z is before 2025-07-19T10:00:36.000Z.',
    )
  })

  test('behavior: wrong issuer certificate', () => {
    expect(() => Crl.verify(Crl.fromHex(collateral.pck_crl), { issuer: root, now })).toThrowError(
      'CRL issuer "CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" does not match the certificate subject "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US".',
    )
  })

  test('behavior: a flipped signature byte or a flipped tbs byte is rejected', () => {
    const der = new Uint8Array(Buffer.from(collateral.root_ca_crl, 'hex'))
    const badSig = der.slice()
    badSig.set([(badSig.at(-5) as number) ^ 1], badSig.length - 5)
    expect(() => Crl.verify(Crl.parse(badSig), { issuer: root, now })).toThrowError(Crl.InvalidSignatureError)
    // Last seconds digit of thisUpdate (250320112157Z → …58Z): still parses, no longer verifies.
    const badTbs = der.slice()
    const at = Buffer.from(badTbs).indexOf('250320112157Z')
    badTbs[at + 11] = 0x38
    expect(() => Crl.verify(Crl.parse(badTbs), { issuer: root, now })).toThrowError(
      'CRL signature of "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is invalid.',
    )
  })
})

describe('isRevoked', () => {
  test('default: real revoked serials in the Intel PCK CRL', () => {
    const crl = Crl.fromHex(collateral.pck_crl)
    expect(Crl.isRevoked(crl, '6FC34E5023E728923435D61AA4B83C618166AD35')).toBe(true)
    expect(Crl.isRevoked(crl, '0x006fc34e5023e728923435d61aa4b83c618166ad35')).toBe(true)
    expect(Crl.isRevoked(crl, platformCa.serialNumber)).toBe(false)
    for (const entry of crl.revoked) expect(Crl.isRevoked(crl, entry.serial)).toBe(true)
  })
})
