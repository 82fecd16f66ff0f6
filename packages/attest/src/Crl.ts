/**
 * X.509 certificate revocation lists (RFC 5280 §5) as Intel publishes them for DCAP: the Intel SGX Root CA
 * CRL and the PCK Processor/Platform CA CRLs, ECDSA P-256 with SHA-256.
 *
 * Implements the CRL part of DCAP verification (Intel QVL QuoteVerifier.cpp §4.1.2.4.x, see dcap.md §3 step 2):
 * the signature by the issuer key, the issuer name equal to the issuer certificate's subject (byte-exact DER),
 * and `now` within [thisUpdate, nextUpdate]. @phala/dcap-qvl JS skips all three (dcap.md §1.6 item 1).
 */
import { verify as cryptoVerify, type X509Certificate } from 'node:crypto'
import { BaseError } from './errors.js'
import * as Der from './internal/Der.js'
import * as X509 from './internal/X509.js'

/** A parsed CRL. Byte fields are views into `der`. */
export type Crl = {
  /** The whole CertificateList DER. */
  readonly der: Uint8Array
  /** The signed TBSCertList DER. */
  readonly tbs: Uint8Array
  /** 2 for v2 CRLs (Intel's), 1 when the version field is absent. */
  readonly version: number
  /** Signature algorithm OID and name (only ecdsa-with-SHA256 verifies). */
  readonly signatureAlgorithm: { readonly oid: string; readonly name: string | undefined }
  readonly issuer: { readonly der: Uint8Array; readonly text: string }
  readonly thisUpdate: Date
  readonly nextUpdate: Date
  /** Revoked serial numbers: uppercase hex of the unsigned magnitude, even length. */
  readonly revoked: readonly { readonly serial: string; readonly date: Date }[]
  /** The signature value (DER ECDSA-Sig-Value for ECDSA). */
  readonly signature: Uint8Array
}

const algorithmNames: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
}

/**
 * Parses a DER CRL (strict: trailing bytes and malformed fields are rejected with their offset).
 *
 * @throws {InvalidCrlError} when the bytes are not a CRL (its `cause` is the Der error naming the offset).
 * @example
 * const crl = Crl.parse(Crl.fromHex(collateral.pck_crl))
 */
export function parse(der: Uint8Array): Crl {
  try {
    const [tbsNode, algNode, sigNode] = Der.sequence(Der.parse(der), 'CertificateList')
    const items = Der.sequence(tbsNode, 'tbsCertList')
    let i = 0
    let version = 1
    if (items[0]?.tagClass === 0 && items[0].tag === Der.Tag.integer) {
      version = Der.toNumber(items[0], 'version') + 1
      i = 1
    }
    const innerAlg = Der.toOid(Der.sequence(items[i], 'signature')[0] as Der.Node, 'signature.algorithm')
    const issuer = Der.expect(items[i + 1], Der.Tag.sequence, 'issuer', tbsNode?.offset)
    const thisUpdate = Der.toDate(items[i + 2] as Der.Node, 'thisUpdate')
    const nextNode = items[i + 3]
    if (!nextNode || !(nextNode.tag === Der.Tag.utcTime || nextNode.tag === Der.Tag.generalizedTime) || nextNode.tagClass !== 0)
      throw new Der.InvalidDerError({
        offset: nextNode?.offset ?? tbsNode?.offset ?? 0,
        reason: 'nextUpdate is required (RFC 5280 §5.1.2.5)',
      })
    const nextUpdate = Der.toDate(nextNode, 'nextUpdate')
    const revoked: { serial: string; date: Date }[] = []
    const rest = items.slice(i + 4)
    if (rest[0] && !Der.isContext(rest[0], 0)) {
      for (const entry of Der.sequence(rest.shift(), 'revokedCertificates')) {
        const [serial, date] = Der.sequence(entry, 'revokedCertificate')
        if (!serial || !date)
          throw new Der.InvalidDerError({ offset: entry.offset, reason: 'revokedCertificate needs a serial and a date' })
        revoked.push({ serial: Der.toUnsignedHex(serial, 'userCertificate'), date: Der.toDate(date, 'revocationDate') })
      }
    }
    if (rest.length > 1 || (rest[0] && !Der.isContext(rest[0], 0)))
      throw new Der.InvalidDerError({ offset: rest[0]?.offset ?? 0, reason: 'unexpected field after revokedCertificates' })
    const oid = Der.toOid(Der.sequence(algNode, 'signatureAlgorithm')[0] as Der.Node, 'signatureAlgorithm.algorithm')
    if (oid !== innerAlg)
      throw new Der.InvalidDerError({ offset: algNode?.offset ?? 0, reason: 'signatureAlgorithm differs from tbsCertList.signature' })
    const crl: Crl = {
      der,
      tbs: (tbsNode as Der.Node).bytes,
      version,
      signatureAlgorithm: { oid, name: algorithmNames[oid] },
      issuer: { der: issuer.bytes, text: Der.nameToString(issuer, 'issuer') },
      thisUpdate,
      nextUpdate,
      revoked,
      signature: Der.toBitString(sigNode as Der.Node, 'signatureValue'),
    }
    Object.freeze(crl.revoked)
    parsed.add(Object.freeze(crl))
    return crl
  } catch (error) {
    if (error instanceof Der.InvalidDerError) throw new InvalidCrlError({ cause: error })
    throw error
  }
}

/**
 * Decodes a CRL given as hex (optionally `0x`-prefixed, as in dcap-qvl collateral JSON) and parses it.
 *
 * @throws {InvalidCrlError} for bad hex or a malformed CRL.
 */
export function fromHex(hex: string): Crl {
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean))
    throw new InvalidCrlError({ cause: new BaseError('CRL hex is not an even-length hex string.') })
  return parse(new Uint8Array(Buffer.from(clean, 'hex')))
}

/**
 * Decodes a PEM `X509 CRL` block and parses it.
 *
 * @throws {InvalidCrlError} when there is no `-----BEGIN X509 CRL-----` block or it is malformed.
 */
export function fromPem(pem: string): Crl {
  const match = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(pem)
  if (!match?.[1]) throw new InvalidCrlError({ cause: new BaseError('No "X509 CRL" PEM block found.') })
  return parse(new Uint8Array(Buffer.from(match[1].replace(/\s+/g, ''), 'base64')))
}

// Only objects produced by `parse` are verified: their fields are derived from `der`, so the revoked list
// cannot drift from the signed bytes (a spread copy with an edited `revoked` would otherwise still verify).
const parsed = new WeakSet<Crl>()
const verifiedSignatures = new WeakMap<Crl, Set<string>>()

/**
 * Verifies a CRL against its issuer certificate at `now`: issuer name equals the certificate's subject
 * (DER), the issuer may sign CRLs (keyUsage cRLSign when present), the ECDSA-SHA256 signature verifies
 * with the issuer key, and thisUpdate ≤ now ≤ nextUpdate. Successful signature checks are memoised per
 * (CRL object, issuer fingerprint); the window is always checked.
 *
 * @throws {NotParsedError} the object was not returned by {@link parse} (its fields might not match the signed bytes).
 * @throws {IssuerMismatchError} the CRL names another issuer.
 * @throws {UnsupportedAlgorithmError} not ecdsa-with-SHA256.
 * @throws {InvalidSignatureError} the signature does not verify with the issuer key.
 * @throws {NotYetValidError} now < thisUpdate.  @throws {ExpiredError} now > nextUpdate.
 * @example
 * Crl.verify(rootCrl, { issuer: new X509Certificate(intelSgxRootCaPem), now: new Date() })
 */
export function verify(crl: Crl, options: { issuer: X509Certificate; now: Date }): void {
  const { issuer, now } = options
  if (!parsed.has(crl)) throw new NotParsedError()
  const issuerFields = X509.fields(issuer)
  if (!X509.equalBytes(crl.issuer.der, issuerFields.subject))
    throw new IssuerMismatchError({ crlIssuer: crl.issuer.text, certificateSubject: issuerFields.subjectText })
  if (issuerFields.keyUsage !== undefined && !(issuerFields.keyUsage & (1 << X509.KeyUsage.cRLSign)))
    throw new IssuerMismatchError({
      crlIssuer: crl.issuer.text,
      certificateSubject: issuerFields.subjectText,
      reason: 'lacks keyUsage cRLSign',
    })
  const seen = verifiedSignatures.get(crl)
  if (!seen?.has(issuer.fingerprint256)) {
    if (crl.signatureAlgorithm.name !== 'ecdsa-with-SHA256') throw new UnsupportedAlgorithmError({ oid: crl.signatureAlgorithm.oid })
    let ok = false
    try {
      ok = cryptoVerify('sha256', crl.tbs, issuer.publicKey, crl.signature)
    } catch {
      ok = false
    }
    if (!ok) throw new InvalidSignatureError({ issuer: crl.issuer.text })
    if (seen) seen.add(issuer.fingerprint256)
    else verifiedSignatures.set(crl, new Set([issuer.fingerprint256]))
  }
  if (now.getTime() < crl.thisUpdate.getTime()) throw new NotYetValidError({ issuer: crl.issuer.text, thisUpdate: crl.thisUpdate, now })
  if (now.getTime() > crl.nextUpdate.getTime()) throw new ExpiredError({ issuer: crl.issuer.text, nextUpdate: crl.nextUpdate, now })
}

/**
 * Whether `serial` (hex, any case, optional `0x` and leading zero bytes) is listed in the CRL.
 * Does not verify the CRL: call {@link verify} first.
 */
export function isRevoked(crl: Crl, serial: string): boolean {
  const normalized = normalizeSerial(serial)
  return crl.revoked.some((entry) => entry.serial === normalized)
}

/** Normalises a hex serial to uppercase, even length, without leading zero bytes. */
export function normalizeSerial(serial: string): string {
  let hex = (serial.startsWith('0x') ? serial.slice(2) : serial).toUpperCase().replace(/^0+/, '')
  if (hex === '') hex = '00'
  return hex.length % 2 ? `0${hex}` : hex
}

/** The bytes are not a well-formed X.509 CRL. */
export class InvalidCrlError extends BaseError {
  override name = 'Crl.InvalidCrlError'
  constructor({ cause }: { cause: BaseError }) {
    super('Invalid CRL.', { details: cause.shortMessage, cause })
  }
}

/** A CRL object that did not come from {@link parse} was passed to {@link verify}. */
export class NotParsedError extends BaseError {
  override name = 'Crl.NotParsedError'
  constructor() {
    super('CRL object was not produced by Crl.parse; parse the DER instead of building or copying the object.')
  }
}

/** The CRL's issuer is not the given certificate (or that certificate may not sign CRLs). */
export class IssuerMismatchError extends BaseError {
  override name = 'Crl.IssuerMismatchError'
  constructor({ crlIssuer, certificateSubject, reason }: { crlIssuer: string; certificateSubject: string; reason?: string }) {
    super(
      reason
        ? `CRL issuer certificate "${certificateSubject}" ${reason}.`
        : `CRL issuer "${crlIssuer}" does not match the certificate subject "${certificateSubject}".`,
    )
  }
}

/** The CRL uses a signature algorithm other than ecdsa-with-SHA256. */
export class UnsupportedAlgorithmError extends BaseError {
  override name = 'Crl.UnsupportedAlgorithmError'
  constructor({ oid }: { oid: string }) {
    super(`Unsupported CRL signature algorithm ${oid}.`)
  }
}

/** The CRL signature does not verify with the issuer's key. */
export class InvalidSignatureError extends BaseError {
  override name = 'Crl.InvalidSignatureError'
  constructor({ issuer }: { issuer: string }) {
    super(`CRL signature of "${issuer}" is invalid.`)
  }
}

/** `now` is before the CRL's thisUpdate. */
export class NotYetValidError extends BaseError {
  override name = 'Crl.NotYetValidError'
  constructor({ issuer, thisUpdate, now }: { issuer: string; thisUpdate: Date; now: Date }) {
    super(`CRL of "${issuer}" is not yet valid: thisUpdate ${thisUpdate.toISOString()} is after ${now.toISOString()}.`)
  }
}

/** `now` is after the CRL's nextUpdate. */
export class ExpiredError extends BaseError {
  override name = 'Crl.ExpiredError'
  constructor({ issuer, nextUpdate, now }: { issuer: string; nextUpdate: Date; now: Date }) {
    super(`CRL of "${issuer}" expired: nextUpdate ${nextUpdate.toISOString()} is before ${now.toISOString()}.`)
  }
}
