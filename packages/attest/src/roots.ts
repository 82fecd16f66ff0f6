/**
 * Trust anchors for DCAP verification. Only the Intel SGX Root CA is built in; any other root (the
 * devnet root CA, a test PKI) is trusted only when a caller passes it explicitly (DESIGN.md §3).
 *
 * A root carries a small profile: the names that certificates under it must carry for a given role.
 * For Intel: the TCB info / QE identity signer's CN contains "Intel SGX TCB Signing" (go-tdx-guest
 * verify.go checks this; dcap.md §3 step 3) and the PCK leaf CN contains "SGX PCK Certificate"
 * (Intel QVL, dcap.md §3 step 5). A devnet root names its own.
 */
import { X509Certificate } from 'node:crypto'
import { BaseError } from './errors.js'
import * as X509 from './internal/X509.js'

/** A trusted root certificate and the naming profile of the certificates it anchors. */
export type TrustedRoot = {
  /** A short stable label that verdicts report (e.g. `'intel'`, `'devnet'`). */
  readonly name: string
  /** The self-signed root certificate, PEM. */
  readonly pem: string
  /** Substring the TCB info / QE identity signing certificate's subject CN must contain; undefined = no rule. */
  readonly tcbSigningCommonName: string | undefined
  /** Substring a PCK leaf certificate's subject CN must contain; undefined = no rule. */
  readonly pckCommonName: string | undefined
}

/**
 * The Intel SGX Root CA (CN "Intel SGX Root CA", valid 2018-05-21 .. 2049-12-31, SHA-256 fingerprint
 * 44:A0:19:6B:2B:99:F8:89:B8:E1:49:E9:5B:80:7A:35:0E:74:24:96:43:99:E8:85:A7:CB:B8:CC:FA:B6:74:D3),
 * CRL at https://certificates.trustedservices.intel.com/IntelSGXRootCA.der.
 */
export const intelSgxRootCaPem = `-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
`

/** The Intel SGX Root CA with Intel's naming profile. The default trust anchor. */
export const intelSgxRootCa: TrustedRoot = {
  name: 'intel',
  pem: intelSgxRootCaPem,
  tcbSigningCommonName: 'Intel SGX TCB Signing',
  pckCommonName: 'SGX PCK Certificate',
}

/**
 * Creates a trusted root from a self-signed CA certificate (e.g. the devnet root CA).
 *
 * @throws {InvalidRootError} when the PEM is not a single self-signed CA certificate.
 * @example
 * const devnet = createTrustedRoot({ name: 'devnet', pem, tcbSigningCommonName: 'Devnet TCB Signing' })
 */
export function createTrustedRoot(options: {
  name: string
  pem: string
  tcbSigningCommonName?: string | undefined
  pckCommonName?: string | undefined
}): TrustedRoot {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(options.pem)
  } catch (cause) {
    throw new InvalidRootError({ name: options.name, reason: 'is not a PEM certificate', cause })
  }
  const fields = X509.fields(certificate)
  if (!fields.basicConstraints?.ca) throw new InvalidRootError({ name: options.name, reason: 'is not a CA certificate' })
  if (!X509.equalBytes(fields.issuer, fields.subject) || !certificate.verify(certificate.publicKey))
    throw new InvalidRootError({ name: options.name, reason: 'is not self-signed' })
  return {
    name: options.name,
    pem: options.pem,
    tcbSigningCommonName: options.tcbSigningCommonName,
    pckCommonName: options.pckCommonName,
  }
}

const parsed = new WeakMap<TrustedRoot, X509Certificate>()

/** The root's certificate, parsed once per root object. */
export function certificateOf(root: TrustedRoot): X509Certificate {
  let certificate = parsed.get(root)
  if (!certificate) {
    certificate = new X509Certificate(root.pem)
    parsed.set(root, certificate)
  }
  return certificate
}

/** The given root certificate cannot be a trust anchor. */
export class InvalidRootError extends BaseError {
  override name = 'Roots.InvalidRootError'
  constructor({ name, reason, cause }: { name: string; reason: string; cause?: unknown }) {
    super(`Trusted root "${name}" ${reason}.`, { cause })
  }
}
