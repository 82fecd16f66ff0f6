// End to end: devnet quotes and collateral through attest's full DCAP verification (verifyQuote) and through
// @phala/dcap-qvl, with the devnet root trusted (verifies, hardware "devnet") and with Intel's root (fails).
import qvl from '@phala/dcap-qvl'
import { intelSgxRootCa, verifyQuoteSync } from '@regent-tee/attest'
import { describe, expect, test } from 'vitest'
import * as DevnetCollateral from './DevnetCollateral.js'
import * as DevnetPki from './DevnetPki.js'
import * as DevnetQe from './DevnetQe.js'
import * as DevnetTd from './DevnetTd.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const td = DevnetTd.create()
DevnetTd.extend(td, { name: 'system-ready', payload: new Uint8Array(0) })
const quote = DevnetQe.quote(qe, { tdReport: DevnetTd.report(td, { reportData: new Uint8Array(64).fill(1) }) })
const now = new Date()
const devnetRoot = DevnetPki.trustedRoot(pki)

describe('verifyQuote (attest)', () => {
  test('behavior: a PCK chain with the root left out verifies under the same rule (anchored under the trusted root)', () => {
    const dropped = DevnetQe.create({ pki, omitRoot: true })
    const bytes = DevnetQe.quote(dropped, { tdReport: DevnetTd.report(td, { reportData: new Uint8Array(64).fill(1) }) })
    const verdict = verifyQuoteSync(bytes, { collateral: DevnetCollateral.issue(pki), now, trustedRoots: [devnetRoot] })
    expect(verdict.reasons).toEqual([])
    expect([verdict.ok, verdict.hardware]).toEqual([true, 'devnet'])
    const intel = verifyQuoteSync(bytes, { collateral: DevnetCollateral.issue(pki), now, trustedRoots: [intelSgxRootCa] })
    expect(intel.reasons.map((r) => r.code)).toContain('pck.untrusted_root')
  })

  test('default: a devnet quote verifies UpToDate with the devnet root trusted, reported as devnet hardware', () => {
    const verdict = verifyQuoteSync(quote, { collateral: DevnetCollateral.issue(pki), now, trustedRoots: [devnetRoot] })
    expect(verdict.reasons).toEqual([])
    expect([verdict.ok, verdict.verified, verdict.hardware, verdict.root, verdict.tee, verdict.version, verdict.status]).toEqual([
      true,
      true,
      'devnet',
      'devnet',
      'tdx',
      4,
      'UpToDate',
    ])
    expect(verdict.qe?.status).toBe('UpToDate')
  })

  test('behavior: with only Intel’s root trusted the same quote never verifies', () => {
    const verdict = verifyQuoteSync(quote, { collateral: DevnetCollateral.issue(pki), now, trustedRoots: [intelSgxRootCa] })
    expect([verdict.ok, verdict.verified]).toEqual([false, false])
    expect(verdict.hardware).toBe(undefined)
    expect(verdict.reasons).toEqual([
      {
        code: 'collateral.crl',
        message: 'rootCaCrl: Root CA CRL issuer "CN=Regent Devnet Root CA, O=Regent Devnet" is not a trusted root.',
      },
      {
        code: 'collateral.crl',
        message: 'pckCrl: Certificate chain ends at self-signed "CN=Regent Devnet Root CA, O=Regent Devnet", which is not a trusted root.',
      },
      {
        code: 'collateral.tcb_info',
        message: 'tcbInfo: Certificate chain ends at self-signed "CN=Regent Devnet Root CA, O=Regent Devnet", which is not a trusted root.',
      },
      {
        code: 'collateral.qe_identity',
        message:
          'qeIdentity: Certificate chain ends at self-signed "CN=Regent Devnet Root CA, O=Regent Devnet", which is not a trusted root.',
      },
      { code: 'pck.untrusted_root', message: 'The PCK certificate chain in the quote does not end at (or directly under) a trusted root.' },
    ])
    const byDefault = verifyQuoteSync(quote, { collateral: DevnetCollateral.issue(pki), now })
    expect([byDefault.ok, byDefault.verified]).toEqual([false, false])
  })

  test('behavior: collateral options drive the verdict’s TCB status and advisories', () => {
    const collateral = DevnetCollateral.issue(pki, { platform: { status: 'OutOfDate', advisoryIds: ['DEVNET-SA-00042'] } })
    const verdict = verifyQuoteSync(quote, { collateral, now, trustedRoots: [devnetRoot] })
    expect([verdict.verified, verdict.status, verdict.advisoryIds]).toEqual([true, 'OutOfDate', ['DEVNET-SA-00042']])
    const revoked = DevnetCollateral.issue(pki, { pckRevoked: [pki.pck.certificate.serial] })
    expect(verifyQuoteSync(quote, { collateral: revoked, now, trustedRoots: [devnetRoot] }).verified).toBe(false)
  })
})

describe('dcap-qvl (differential)', () => {
  test('default: dcap-qvl verifies the devnet quote UpToDate when given the devnet root', () => {
    const verifier = qvl.QuoteVerifier.newWithRootCa(Buffer.from(pki.root.certificate.der))
    const report = verifier.verify(quote, DevnetCollateral.issue(pki), Math.floor(now.getTime() / 1000))
    expect(report.status).toBe('UpToDate')
  })

  test('behavior: dcap-qvl with its built-in Intel root rejects the devnet quote', () => {
    expect(() => qvl.verify(quote, DevnetCollateral.issue(pki), Math.floor(now.getTime() / 1000))).toThrow()
  })
})
