/**
 * X.509 certificate chains for DCAP (RFC 5280 §6 path validation, restricted to what Intel's PKI needs):
 * the PCK chain in a quote (PCK leaf → PCK Processor/Platform CA → Intel SGX Root CA) and the issuer chains
 * of TCB info, QE identity and the PCK CRL (signer → root). dcap.md §3 steps 2, 3 and 5.
 *
 * Unlike @phala/dcap-qvl (dcap.md §1.6 item 6) the chain is anchored by byte equality with a trusted root
 * (never by a self-signature), issuers must be CAs within their path length, and every certificate's
 * issuer must have published a verified, current CRL that does not list it.
 */
import { X509Certificate } from 'node:crypto'
import * as Crl from './Crl.js'
import { BaseError } from './errors.js'
import * as X509 from './internal/X509.js'
import { certificateOf, type TrustedRoot } from './roots.js'

/** A verified chain: the certificates leaf first, ending with the trusted root, and which root anchored it. */
export type Verified = {
  readonly root: TrustedRoot
  readonly certificates: readonly X509Certificate[]
}

/**
 * Splits a PEM bundle into its `CERTIFICATE` blocks, leaf first as given. Whitespace and trailing NUL
 * bytes (quotes often NUL-terminate the chain) are tolerated; anything else outside the blocks is rejected.
 *
 * @throws {InvalidPemError} on stray text or when there is no certificate.
 * @example
 * const [leaf, ca, root] = CertChain.split(pem)
 */
export function split(pem: string): string[] {
  const blocks: string[] = []
  const re = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\r\n\t ]+-----END CERTIFICATE-----/g
  let last = 0
  for (let match = re.exec(pem); match; match = re.exec(pem)) {
    if (!/^[\s\0]*$/.test(pem.slice(last, match.index))) throw new InvalidPemError({ offset: last })
    blocks.push(match[0])
    last = match.index + match[0].length
  }
  if (!/^[\s\0]*$/.test(pem.slice(last))) throw new InvalidPemError({ offset: last })
  if (blocks.length === 0) throw new InvalidPemError({ offset: 0, reason: 'contains no certificate' })
  return blocks
}

/**
 * Parses a PEM bundle into certificates.
 *
 * @throws {InvalidPemError} as {@link split}, or when a block is not a valid certificate.
 */
export function fromPem(pem: string): X509Certificate[] {
  return split(pem).map((block, index) => {
    try {
      const certificate = new X509Certificate(block)
      X509.fields(certificate)
      return certificate
    } catch (cause) {
      throw new InvalidPemError({ offset: pem.indexOf(block), reason: `certificate ${index} is malformed`, cause })
    }
  })
}

/**
 * The trusted root a chain is anchored at, by the one rule used for every chain (CertChain.verify, the PCK chain
 * of a quote in Verify, and the KMS): the chain's top certificate is byte-identical to a trusted root, or is issued
 * by one (same issuer name as the root's subject — a chain with the root left out) and is not itself self-signed.
 * Names only: the issuing signature is checked by the caller's path validation.
 *
 * @param top - The DER (or parsed certificate) of the chain's last certificate.
 * @returns the anchoring root, or undefined when the chain does not end at or under a trusted root (also for a
 *   certificate that does not parse).
 * @example
 * CertChain.anchorOf(ders[ders.length - 1], [intelSgxRootCa])?.name // 'intel'
 */
export function anchorOf(top: Uint8Array | X509Certificate, trustedRoots: readonly TrustedRoot[]): TrustedRoot | undefined {
  const der = top instanceof X509Certificate ? top.raw : top
  const exact = trustedRoots.find((r) => certificateOf(r).raw.equals(der))
  if (exact) return exact
  let fields: X509.Fields
  try {
    fields = top instanceof X509Certificate ? X509.fields(top) : X509.parse(der)
  } catch {
    return undefined
  }
  if (X509.equalBytes(fields.issuer, fields.subject)) return undefined
  return trustedRoots.find((r) => X509.equalBytes(X509.fields(certificateOf(r)).subject, fields.issuer))
}

// Signature results depend only on the two certificates' bytes, so they can be shared across calls.
// Bounded: cleared when it grows past `signatureCacheSize` entries.
const signatureCacheSize = 4096
const verifiedSignatures = new Set<string>()

/**
 * Verifies a chain at `now`:
 * - the top certificate is byte-identical to one of `trustedRoots` (or is issued by one, which is then appended);
 *   a self-signed certificate that is not trusted never anchors a chain;
 * - each certificate's issuer name equals the next one's subject and its signature verifies with that key;
 * - every issuer is a CA (basicConstraints cA, keyUsage keyCertSign when present) within its pathLenConstraint;
 * - every certificate (root included) is within notBefore ≤ now ≤ notAfter;
 * - for every certificate, a CRL from its issuer is among `crls`, verifies (see {@link Crl.verify}) and does not list it.
 *
 * @returns the certificates (leaf first, root last) and the anchoring root.
 * @throws {EmptyChainError} {@link UntrustedRootError} {@link IssuerMismatchError} {@link InvalidSignatureError}
 *   {@link NotCaError} {@link PathLengthError} {@link NotYetValidError} {@link ExpiredError} {@link MissingCrlError}
 *   {@link RevokedError}, and the Crl errors of {@link Crl.verify} for a matching CRL that fails.
 * @example
 * const { root } = CertChain.verify({ chain: pckChainPem, trustedRoots: [intelSgxRootCa], now, crls: [rootCrl, pckCrl] })
 */
export function verify(options: {
  chain: string | readonly X509Certificate[]
  trustedRoots: readonly TrustedRoot[]
  now: Date
  crls: readonly Crl.Crl[]
}): Verified {
  const { trustedRoots, now, crls } = options
  const certificates = typeof options.chain === 'string' ? fromPem(options.chain) : [...options.chain]
  const top = certificates[certificates.length - 1]
  if (!top) throw new EmptyChainError()

  // Anchor: byte equality with a trusted root (dcap.md §3: "pinned root"), or issued by one (root left out).
  const root = anchorOf(top, trustedRoots)
  if (!root) {
    const topFields = X509.fields(top)
    throw new UntrustedRootError({ subject: topFields.subjectText, selfSigned: X509.equalBytes(topFields.issuer, topFields.subject) })
  }
  if (!certificateOf(root).raw.equals(top.raw)) certificates.push(certificateOf(root))

  const fields = certificates.map((c) => X509.fields(c))
  for (let i = 0; i < certificates.length; i++) {
    const certificate = certificates[i] as X509Certificate
    const own = fields[i] as X509.Fields
    const isRoot = i === certificates.length - 1
    const issuer = isRoot ? certificate : (certificates[i + 1] as X509Certificate)
    const issuerFields = isRoot ? own : (fields[i + 1] as X509.Fields)

    if (!isRoot) {
      if (!X509.equalBytes(own.issuer, issuerFields.subject))
        throw new IssuerMismatchError({ index: i, issuer: own.issuerText, next: issuerFields.subjectText })
      const key = `${certificate.fingerprint256}|${issuer.fingerprint256}`
      if (!verifiedSignatures.has(key)) {
        if (!certificate.verify(issuer.publicKey)) throw new InvalidSignatureError({ index: i, subject: own.subjectText })
        if (verifiedSignatures.size >= signatureCacheSize) verifiedSignatures.clear()
        verifiedSignatures.add(key)
      }
    }
    if (i > 0) {
      // RFC 5280 §4.2.1.9 / §4.2.1.3: an issuer must be a CA allowed to sign certificates.
      if (!own.basicConstraints?.ca) throw new NotCaError({ index: i, subject: own.subjectText })
      if (own.keyUsage !== undefined && !(own.keyUsage & (1 << X509.KeyUsage.keyCertSign)))
        throw new NotCaError({ index: i, subject: own.subjectText, reason: 'lacks keyUsage keyCertSign' })
      // Intermediate CAs below this one (the leaf does not count).
      const below = i - 1
      if (own.basicConstraints.pathLength !== undefined && below > own.basicConstraints.pathLength)
        throw new PathLengthError({ index: i, subject: own.subjectText, pathLength: own.basicConstraints.pathLength })
    }
    if (now.getTime() < own.notBefore.getTime())
      throw new NotYetValidError({ index: i, subject: own.subjectText, notBefore: own.notBefore, now })
    if (now.getTime() > own.notAfter.getTime()) throw new ExpiredError({ index: i, subject: own.subjectText, notAfter: own.notAfter, now })

    // Revocation: the CRL must come from this certificate's issuer (Intel QVL: issuer-matched).
    const matching = crls.filter((crl) => X509.equalBytes(crl.issuer.der, issuerFields.subject))
    if (matching.length === 0) {
      // The root's own entry is checked whenever the root CRL is present; it is always needed for the
      // certificates the root issued, so a missing one is reported there.
      if (isRoot && certificates.length > 1) continue
      throw new MissingCrlError({ index: i, issuer: issuerFields.subjectText })
    }
    for (const crl of matching) {
      Crl.verify(crl, { issuer, now })
      if (Crl.isRevoked(crl, own.serial)) throw new RevokedError({ index: i, subject: own.subjectText, serial: own.serial })
    }
  }
  return { root, certificates }
}

/** A PEM bundle has stray content, no certificate, or a malformed certificate. */
export class InvalidPemError extends BaseError {
  override name = 'CertChain.InvalidPemError'
  constructor({ offset, reason = 'has unexpected content', cause }: { offset: number; reason?: string; cause?: unknown }) {
    super(`PEM certificate chain ${reason} (at character ${offset}).`, { cause })
  }
}

/** No certificates were given. */
export class EmptyChainError extends BaseError {
  override name = 'CertChain.EmptyChainError'
  constructor() {
    super('Certificate chain is empty.')
  }
}

/** The chain does not end at (or directly under) a trusted root. */
export class UntrustedRootError extends BaseError {
  override name = 'CertChain.UntrustedRootError'
  constructor({ subject, selfSigned }: { subject: string; selfSigned: boolean }) {
    super(
      selfSigned
        ? `Certificate chain ends at self-signed "${subject}", which is not a trusted root.`
        : `Certificate chain ends at "${subject}", which is not issued by a trusted root.`,
    )
  }
}

/** A certificate's issuer name differs from the next certificate's subject. */
export class IssuerMismatchError extends BaseError {
  override name = 'CertChain.IssuerMismatchError'
  constructor({ index, issuer, next }: { index: number; issuer: string; next: string }) {
    super(`Certificate ${index} is issued by "${issuer}" but the next certificate is "${next}".`)
  }
}

/** A certificate's signature does not verify with its issuer's key. */
export class InvalidSignatureError extends BaseError {
  override name = 'CertChain.InvalidSignatureError'
  constructor({ index, subject }: { index: number; subject: string }) {
    super(`Certificate ${index} "${subject}" has an invalid signature.`)
  }
}

/** An issuing certificate is not a CA (or may not sign certificates). */
export class NotCaError extends BaseError {
  override name = 'CertChain.NotCaError'
  constructor({ index, subject, reason = 'is not a CA' }: { index: number; subject: string; reason?: string }) {
    super(`Issuing certificate ${index} "${subject}" ${reason}.`)
  }
}

/** An issuing CA has more intermediate CAs below it than its pathLenConstraint allows. */
export class PathLengthError extends BaseError {
  override name = 'CertChain.PathLengthError'
  constructor({ index, subject, pathLength }: { index: number; subject: string; pathLength: number }) {
    super(`Certificate ${index} "${subject}" exceeds its path length constraint ${pathLength}.`)
  }
}

/** `now` is before a certificate's notBefore. */
export class NotYetValidError extends BaseError {
  override name = 'CertChain.NotYetValidError'
  constructor({ index, subject, notBefore, now }: { index: number; subject: string; notBefore: Date; now: Date }) {
    super(`Certificate ${index} "${subject}" is not yet valid: notBefore ${notBefore.toISOString()} is after ${now.toISOString()}.`)
  }
}

/** `now` is after a certificate's notAfter. */
export class ExpiredError extends BaseError {
  override name = 'CertChain.ExpiredError'
  constructor({ index, subject, notAfter, now }: { index: number; subject: string; notAfter: Date; now: Date }) {
    super(`Certificate ${index} "${subject}" expired: notAfter ${notAfter.toISOString()} is before ${now.toISOString()}.`)
  }
}

/** No CRL from a certificate's issuer was supplied. */
export class MissingCrlError extends BaseError {
  override name = 'CertChain.MissingCrlError'
  constructor({ index, issuer }: { index: number; issuer: string }) {
    super(`No CRL from "${issuer}" to check certificate ${index}.`)
  }
}

/** A certificate is listed in its issuer's CRL. */
export class RevokedError extends BaseError {
  override name = 'CertChain.RevokedError'
  constructor({ index, subject, serial }: { index: number; subject: string; serial: string }) {
    super(`Certificate ${index} "${subject}" (serial ${serial}) is revoked.`)
  }
}
