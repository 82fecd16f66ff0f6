import { readFileSync } from 'node:fs'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { describe, expect, test } from 'vitest'
import * as CertChain from './CertChain.js'
import * as PckCertificate from './PckCertificate.js'
import { intelSgxRootCaPem } from './roots.js'

const vectors = vectorsDir

/** Test-only: the PEM PCK leaf embedded in a quote's certification data (type 5). */
function leafOf(file: string): string {
  const raw = readFileSync(`${vectors}${file}`)
  const quote = /\.(hex|txt)$/.test(file) ? Buffer.from(raw.toString().trim().replace(/^0x/, ''), 'hex') : raw
  const text = quote.toString('latin1')
  const end = '-----END CERTIFICATE-----'
  return CertChain.split(text.slice(text.indexOf('-----BEGIN CERTIFICATE-----'), text.lastIndexOf(end) + end.length))[0] as string
}

describe('from', () => {
  test('default: FMSPC and CA of every vector quote', () => {
    const expected: [string, string, 'processor' | 'platform'][] = [
      ['dcap-qvl/sample/tdx_quote', 'B0C06F000000', 'platform'],
      ['dcap-qvl/sample/sgx_quote', '00A067110000', 'processor'],
      ['dcap-qvl/sample/tdx_quote_outdated', '90C06F000000', 'platform'],
      ['dcap-qvl/near-gas-test/quote_hex.txt', '20A06F000000', 'platform'],
      ['automata-dcap-attestation/solana-tests-data/quote_tdx.bin', '00806F050000', 'platform'],
      ['automata-dcap-attestation/rust-samples/quotev3.hex', '00606A000000', 'platform'],
      ['automata-dcap-attestation/evm-assets-quotes/alibaba_quote_5.dat', '90C06F000000', 'platform'],
      ['go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat', '50806F000000', 'platform'],
      ['go-tdx-guest/testdata/quote_v5_sample.dat', '90C06F000000', 'platform'],
      ['go-tdx-guest/testdata/ccel/cos-113-tdx-quote.dat', '00806F050000', 'platform'],
      ['teekit/sampleQuotes/tdx-v4-edgeless.dat', '00806F050000', 'platform'],
    ]
    for (const [file, fmspc, ca] of expected) {
      const pck = PckCertificate.from(leafOf(file))
      expect([file, pck.fmspc, pck.ca, pck.pceId]).toEqual([file, fmspc, ca, '0000'])
    }
  })

  test('behavior: every field of the dcap-qvl TDX sample', () => {
    const pck = PckCertificate.from(leafOf('dcap-qvl/sample/tdx_quote'))
    expect({
      ...pck,
      certificate: undefined,
      tcb: { ...pck.tcb, cpusvn: Buffer.from(pck.tcb.cpusvn).toString('hex') },
    }).toMatchInlineSnapshot(`
      {
        "ca": "platform",
        "certificate": undefined,
        "configuration": {
          "cachedKeys": true,
          "dynamicPlatform": true,
          "smtEnabled": true,
        },
        "fmspc": "B0C06F000000",
        "pceId": "0000",
        "platformInstanceId": "07828474603E7019DC930775FFE8CDD2",
        "ppid": "811DCA2A26B952E85BB6448B097BA4FD",
        "sgxType": "Scalable",
        "tcb": {
          "components": [
            3,
            3,
            2,
            2,
            4,
            1,
            0,
            5,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
          ],
          "cpusvn": "03030202040100050000000000000000",
          "pcesvn": 11,
        },
      }
    `)
  })

  test('behavior: Processor CA certificates have no platform instance id or configuration', () => {
    const pck = PckCertificate.from(leafOf('dcap-qvl/sample/sgx_quote'))
    expect([pck.sgxType, pck.platformInstanceId, pck.configuration, pck.tcb.pcesvn]).toEqual(['Standard', undefined, undefined, 13])
  })

  test('behavior: a certificate without the SGX extension', () => {
    expect(() => PckCertificate.from(intelSgxRootCaPem)).toThrowError('PCK certificate has no SGX extensions (1.2.840.113741.1.13.1).')
  })
})
