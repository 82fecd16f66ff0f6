import { verify, X509Certificate } from 'node:crypto'
import { Collateral, intelSgxRootCa, QeIdentity, TcbInfo } from '@regent-tee/attest'
import { describe, expect, test } from 'vitest'
import * as DevnetCollateral from './DevnetCollateral.js'
import * as DevnetPki from './DevnetPki.js'
import * as DevnetQe from './DevnetQe.js'

const pki = DevnetPki.create()
const devnetRoot = DevnetPki.trustedRoot(pki)
const now = new Date()

function verificationError(f: () => unknown): Collateral.VerificationError {
  try {
    f()
  } catch (error) {
    if (error instanceof Collateral.VerificationError) return error
    throw error
  }
  throw new Error('expected a Collateral.VerificationError')
}

describe('issue', () => {
  test('default: QuoteCollateralV3 JSON that attest parses and verifies with the devnet root trusted', () => {
    const json = DevnetCollateral.issue(pki)
    expect(Object.keys(json)).toEqual([
      'pck_crl_issuer_chain',
      'root_ca_crl',
      'pck_crl',
      'tcb_info_issuer_chain',
      'tcb_info',
      'tcb_info_signature',
      'qe_identity_issuer_chain',
      'qe_identity',
      'qe_identity_signature',
    ])
    const collateral = Collateral.parse(JSON.stringify(json))
    expect(Collateral.toJson(collateral)).toEqual(json)
    const verified = Collateral.verify(collateral, { now, trustedRoots: [devnetRoot] })
    expect(verified.root.name).toBe('devnet')
    expect(verified.pckCa.subject).toBe('CN=Regent Devnet PCK Platform CA\nO=Regent Devnet')
    expect(verified.tcbInfo.signer.subject).toBe('CN=Regent Devnet TCB Signing\nO=Regent Devnet')
    expect(verified.nextUpdate).toEqual(collateral.tcbInfo.nextUpdate)
  })

  test('behavior: fails with only Intel’s root trusted, on every part', () => {
    const collateral = Collateral.parse(DevnetCollateral.issue(pki))
    const error = verificationError(() => Collateral.verify(collateral, { now, trustedRoots: [intelSgxRootCa] }))
    expect(error.reasons.map((r) => [r.part, r.error.message])).toEqual([
      ['rootCaCrl', 'Root CA CRL issuer "CN=Regent Devnet Root CA, O=Regent Devnet" is not a trusted root.'],
      ['pckCrl', 'Certificate chain ends at self-signed "CN=Regent Devnet Root CA, O=Regent Devnet", which is not a trusted root.'],
      ['tcbInfo', 'Certificate chain ends at self-signed "CN=Regent Devnet Root CA, O=Regent Devnet", which is not a trusted root.'],
      ['qeIdentity', 'Certificate chain ends at self-signed "CN=Regent Devnet Root CA, O=Regent Devnet", which is not a trusted root.'],
    ])
    expect(error.shortMessage).toBe('Collateral failed verification: rootCaCrl, pckCrl, tcbInfo, qeIdentity.')
    // Another devnet's root is not this devnet's root either.
    const other = DevnetPki.trustedRoot(DevnetPki.create())
    expect(verificationError(() => Collateral.verify(collateral, { now, trustedRoots: [other] })).reasons.map((r) => r.part)).toEqual([
      'rootCaCrl',
      'pckCrl',
      'tcbInfo',
      'qeIdentity',
    ])
  })

  test('behavior: the TCB info describes the devnet platform in Intel’s shape', () => {
    const json = DevnetCollateral.issue(pki, { now: new Date('2031-01-01T00:00:00.123Z') })
    const info = TcbInfo.parse(json.tcb_info)
    expect([info.id, info.version, info.fmspc, info.pceId, info.tcbType, info.tcbEvaluationDataNumber]).toEqual([
      'TDX',
      3,
      'DE7ED0000000',
      '0000',
      0,
      17,
    ])
    expect(
      json.tcb_info.startsWith(
        '{"id":"TDX","version":3,"issueDate":"2030-12-31T23:00:00Z","nextUpdate":"2031-01-30T23:00:00Z","fmspc":"DE7ED0000000"',
      ),
    ).toBe(true)
    expect(info.tdxModule).toEqual({ mrsigner: '0'.repeat(96), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' })
    expect(info.tdxModuleIdentities?.map((m) => [m.id, m.tcbLevels.map((l) => [l.isvsvn, l.tcbStatus])])).toEqual([
      [
        'TDX_01',
        [
          [5, 'UpToDate'],
          [4, 'OutOfDate'],
        ],
      ],
    ])
    const [top, lower] = info.tcbLevels
    expect(top?.sgxComponents.map((c) => c.svn)).toEqual(pki.platform.tcb.components)
    expect(top?.pcesvn).toBe(11)
    expect(top?.tdxComponents?.map((c) => c.svn)).toEqual([5, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    expect([top?.tcbStatus, top?.advisoryIds]).toEqual(['UpToDate', []])
    expect([lower?.pcesvn, lower?.tcbStatus, lower?.advisoryIds]).toEqual([10, 'OutOfDate', ['DEVNET-SA-00001']])
  })

  test('behavior: signatures are r‖s over the exact text by the TCB signing certificate', () => {
    const json = DevnetCollateral.issue(pki)
    const signer = new X509Certificate(json.tcb_info_issuer_chain)
    expect(signer.subject).toBe('CN=Regent Devnet TCB Signing\nO=Regent Devnet')
    for (const [text, signature] of [
      [json.tcb_info, json.tcb_info_signature],
      [json.qe_identity, json.qe_identity_signature],
    ] as const) {
      expect(signature).toMatch(/^[0-9a-f]{128}$/)
      const key = { key: signer.publicKey, dsaEncoding: 'ieee-p1363' as const }
      expect(verify('sha256', Buffer.from(text), key, Buffer.from(signature, 'hex'))).toBe(true)
      expect(verify('sha256', Buffer.from(`${text} `), key, Buffer.from(signature, 'hex'))).toBe(false)
    }
  })

  test('behavior: the QE identity matches the devnet QE report (UpToDate) and not Intel’s TD QE', () => {
    const identity = QeIdentity.parse(DevnetCollateral.issue(pki).qe_identity)
    expect([identity.id, identity.version, identity.isvprodid, identity.miscselect, identity.miscselectMask]).toEqual([
      'TD_QE',
      2,
      2,
      0,
      0xffffffff,
    ])
    const report = DevnetQe.create({ pki }).qeReportData.qeReport
    const fields = {
      miscselect: report.miscSelect,
      attributes: report.attributes,
      mrsigner: report.mrSigner,
      isvprodid: report.isvProdId,
      isvsvn: report.isvSvn,
    }
    expect(QeIdentity.match(identity, fields)).toEqual({ status: 'UpToDate', advisoryIds: [], tcbDate: new Date('2025-01-01T00:00:00Z') })
    expect(QeIdentity.match(identity, { ...fields, isvsvn: 3 }).status).toBe('OutOfDate')
    expect(Buffer.from(identity.mrsigner).toString('hex')).not.toBe('dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5')
  })

  test('behavior: options set statuses and advisories for policy tests', () => {
    const json = DevnetCollateral.issue(pki, {
      platform: { status: 'OutOfDate', advisoryIds: ['DEVNET-SA-00042'] },
      tdxModule: { status: 'SWHardeningNeeded' },
      qe: { status: 'OutOfDate', advisoryIds: ['DEVNET-SA-00043'] },
      tcbEvaluationDataNumber: 19,
    })
    const collateral = Collateral.parse(json)
    Collateral.verify(collateral, { now, trustedRoots: [devnetRoot] })
    expect([collateral.tcbInfo.tcbLevels[0]?.tcbStatus, collateral.tcbInfo.tcbLevels[0]?.advisoryIds]).toEqual([
      'OutOfDate',
      ['DEVNET-SA-00042'],
    ])
    expect(collateral.tcbInfo.tdxModuleIdentities?.[0]?.tcbLevels[0]?.tcbStatus).toBe('SWHardeningNeeded')
    expect([collateral.qeIdentity.tcbLevels[0]?.tcbStatus, collateral.qeIdentity.tcbLevels[0]?.advisoryIds]).toEqual([
      'OutOfDate',
      ['DEVNET-SA-00043'],
    ])
    expect(collateral.tcbInfo.tcbEvaluationDataNumber).toBe(19)
    expect(() => DevnetCollateral.issue(pki, { platform: { status: 'Great' as never } })).toThrowError(
      'Invalid devnet collateral option platform.status: unknown status "Great".',
    )
  })

  test('behavior: shifted windows and revocations fail verification with the part’s own error', () => {
    const expired = Collateral.parse(
      DevnetCollateral.issue(pki, {
        issueDate: new Date(now.getTime() - 40 * 86_400_000),
        nextUpdate: new Date(now.getTime() - 86_400_000),
        crl: { thisUpdate: new Date(now.getTime() - 3_600_000) },
      }),
    )
    const error = verificationError(() => Collateral.verify(expired, { now, trustedRoots: [devnetRoot] }))
    expect(error.reasons.map((r) => [r.part, r.error.constructor])).toEqual([
      ['tcbInfo', TcbInfo.ExpiredError],
      ['qeIdentity', QeIdentity.ExpiredError],
    ])
    const future = Collateral.parse(DevnetCollateral.issue(pki, { crl: { thisUpdate: new Date(now.getTime() + 86_400_000) } }))
    expect(verificationError(() => Collateral.verify(future, { now, trustedRoots: [devnetRoot] })).reasons.map((r) => r.part)).toEqual([
      'rootCaCrl',
      'pckCrl',
      'tcbInfo',
      'qeIdentity',
    ])
    const revoked = Collateral.parse(
      DevnetCollateral.issue(pki, { rootRevoked: [pki.tcbSigning.certificate.serial], pckRevoked: [pki.pck.certificate.serial] }),
    )
    expect(revoked.pckCrl.revoked.map((r) => r.serial)).toEqual([pki.pck.certificate.serial])
    const revokedError = verificationError(() => Collateral.verify(revoked, { now, trustedRoots: [devnetRoot] }))
    expect(revokedError.reasons.map((r) => [r.part, r.error.message])).toEqual([
      [
        'tcbInfo',
        `Certificate 0 "CN=Regent Devnet TCB Signing, O=Regent Devnet" (serial ${pki.tcbSigning.certificate.serial}) is revoked.`,
      ],
      [
        'qeIdentity',
        `Certificate 0 "CN=Regent Devnet TCB Signing, O=Regent Devnet" (serial ${pki.tcbSigning.certificate.serial}) is revoked.`,
      ],
    ])
  })
})
