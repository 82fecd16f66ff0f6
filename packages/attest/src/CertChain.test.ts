import { createHash, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { vectorsDir } from '@regent-tee/testing/vectors'
import { describe, expect, test } from 'vitest'
import * as CertChain from './CertChain.js'
import * as Crl from './Crl.js'
import { createTrustedRoot, intelSgxRootCa, intelSgxRootCaPem } from './roots.js'

const vectors = vectorsDir

/** Test-only: the PEM PCK chain embedded in a quote's certification data (type 5). */
function pckChainOf(quote: Buffer): string {
  const text = quote.toString('latin1')
  const end = '-----END CERTIFICATE-----'
  return text.slice(text.indexOf('-----BEGIN CERTIFICATE-----'), text.lastIndexOf(end) + end.length)
}

const tdxQuote = readFileSync(`${vectors}dcap-qvl/sample/tdx_quote`)
const collateral = JSON.parse(readFileSync(`${vectors}dcap-qvl/sample/tdx_quote_collateral.json`, 'utf8'))
const crls = [Crl.fromHex(collateral.root_ca_crl), Crl.fromHex(collateral.pck_crl)]
const now = new Date(1751624191_000)
const chain = pckChainOf(tdxQuote)

describe('roots', () => {
  test('default: the built-in Intel SGX Root CA is the real one (dcap.md §3 fingerprint)', () => {
    const der = readFileSync(`${vectors}automata-dcap-attestation/solana-tests-data/root.der`)
    const root = new X509Certificate(intelSgxRootCaPem)
    expect(root.raw.equals(der)).toBe(true)
    expect(createHash('sha256').update(root.raw).digest('hex').toUpperCase().match(/../g)?.join(':')).toBe(
      '44:A0:19:6B:2B:99:F8:89:B8:E1:49:E9:5B:80:7A:35:0E:74:24:96:43:99:E8:85:A7:CB:B8:CC:FA:B6:74:D3',
    )
    expect(root.subject).toBe('CN=Intel SGX Root CA\nO=Intel Corporation\nL=Santa Clara\nST=CA\nC=US')
  })

  test('behavior: createTrustedRoot rejects non-CA and non-self-signed certificates', () => {
    const [leaf, ca] = CertChain.split(chain)
    expect(() => createTrustedRoot({ name: 'x', pem: leaf as string })).toThrowError('Trusted root "x" is not a CA certificate.')
    expect(() => createTrustedRoot({ name: 'x', pem: ca as string })).toThrowError('Trusted root "x" is not self-signed.')
    expect(createTrustedRoot({ name: 'copy', pem: intelSgxRootCaPem }).tcbSigningCommonName).toBe(undefined)
  })
})

describe('split', () => {
  test('default: three certificates, trailing NUL tolerated', () => {
    expect(CertChain.split(`${chain}\n\0`).length).toBe(3)
  })

  test('behavior: stray text or nothing', () => {
    expect(() => CertChain.split(`${chain}garbage`)).toThrowError(
      `PEM certificate chain has unexpected content (at character ${chain.length}).`,
    )
    expect(() => CertChain.split('')).toThrowError('PEM certificate chain contains no certificate (at character 0).')
  })
})

describe('verify', () => {
  test('default: PCK chains of the real quotes verify to Intel at their vector times', () => {
    const cases: [string, 'bin' | 'hex', string, number][] = [
      ['dcap-qvl/sample/tdx_quote', 'bin', 'dcap-qvl/sample/tdx_quote_collateral.json', 1751624191],
      ['dcap-qvl/sample/sgx_quote', 'bin', 'dcap-qvl/sample/sgx_quote_collateral.json', 1751624924],
      ['dcap-qvl/near-gas-test/quote_hex.txt', 'hex', 'dcap-qvl/near-gas-test/quote_collateral.json', 1758093775],
      [
        'automata-dcap-attestation/solana-tests-data/quote_tdx.bin',
        'bin',
        '_composed/automata-solana-tdx-00806f050000-2025-07_collateral.json',
        1753175614,
      ],
      [
        'automata-dcap-attestation/rust-samples/quotev3.hex',
        'hex',
        '_composed/automata-evm0825-sgx-00606a000000-2025-08_collateral.json',
        1756530546,
      ],
      [
        'go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat',
        'bin',
        '_composed/go-tdx-guest-tdx-50806f000000-2023-06_collateral.json',
        1687939438,
      ],
    ]
    for (const [quoteFile, kind, collateralFile, seconds] of cases) {
      const raw = readFileSync(`${vectors}${quoteFile}`)
      const quote = kind === 'hex' ? Buffer.from(raw.toString().trim().replace(/^0x/, ''), 'hex') : raw
      const c = JSON.parse(readFileSync(`${vectors}${collateralFile}`, 'utf8'))
      const verified = CertChain.verify({
        chain: pckChainOf(quote),
        trustedRoots: [intelSgxRootCa],
        now: new Date(seconds * 1000),
        crls: [Crl.fromHex(c.root_ca_crl), Crl.fromHex(c.pck_crl)],
      })
      expect(verified.root).toBe(intelSgxRootCa)
      expect(verified.certificates.length).toBe(3)
    }
  })

  test('behavior: a chain without the root is completed with the trusted root', () => {
    const [leaf, ca] = CertChain.split(chain)
    const verified = CertChain.verify({ chain: `${leaf}\n${ca}`, trustedRoots: [intelSgxRootCa], now, crls })
    expect(verified.certificates[2]?.subject).toContain('Intel SGX Root CA')
  })

  test('behavior: nothing trusted → the self-signed top is refused', () => {
    expect(() => CertChain.verify({ chain, trustedRoots: [], now, crls })).toThrowError(
      'Certificate chain ends at self-signed "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US", which is not a trusted root.',
    )
  })

  test('behavior: a self-signed root with the same name but other bytes is refused', () => {
    const [leaf, ca, root] = CertChain.fromPem(chain) as [X509Certificate, X509Certificate, X509Certificate]
    const forged = Buffer.from(root.raw)
    forged.writeUInt8((forged.at(-10) as number) ^ 1, forged.length - 10) // signature byte: same name, different certificate
    expect(() =>
      CertChain.verify({ chain: [leaf, ca, new X509Certificate(forged)], trustedRoots: [intelSgxRootCa], now, crls }),
    ).toThrowError(CertChain.UntrustedRootError)
  })

  test('behavior: validity windows', () => {
    expect(() => CertChain.verify({ chain, trustedRoots: [intelSgxRootCa], now: new Date('2018-01-01T00:00:00Z'), crls })).toThrowError(
      /^Certificate 0 "CN=Intel SGX PCK Certificate, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" is not yet valid: notBefore /,
    )
    expect(() => CertChain.verify({ chain, trustedRoots: [intelSgxRootCa], now: new Date('2050-01-01T00:00:00Z'), crls })).toThrowError(
      /^Certificate 0 "CN=Intel SGX PCK Certificate, .*" expired: notAfter /,
    )
  })

  test('behavior: CRLs are required, issuer-matched and verified', () => {
    expect(() => CertChain.verify({ chain, trustedRoots: [intelSgxRootCa], now, crls: [crls[0] as Crl.Crl] })).toThrowError(
      'No CRL from "CN=Intel SGX PCK Platform CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" to check certificate 0.',
    )
    expect(() => CertChain.verify({ chain, trustedRoots: [intelSgxRootCa], now, crls: [crls[1] as Crl.Crl] })).toThrowError(
      'No CRL from "CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US" to check certificate 1.',
    )
    const expiredCrlTime = new Date((crls[1] as Crl.Crl).nextUpdate.getTime() + 1000)
    expect(() => CertChain.verify({ chain, trustedRoots: [intelSgxRootCa], now: expiredCrlTime, crls })).toThrowError(Crl.ExpiredError)
  })

  test('behavior: a CRL object edited after parsing is refused (its revoked list must come from the signed bytes)', () => {
    const pckCrl = crls[1] as Crl.Crl
    const emptied = { ...pckCrl, revoked: [] }
    expect(() => CertChain.verify({ chain, trustedRoots: [intelSgxRootCa], now, crls: [crls[0] as Crl.Crl, emptied] })).toThrowError(
      'CRL object was not produced by Crl.parse; parse the DER instead of building or copying the object.',
    )
  })
})
