/**
 * Minimal X.509 v3 certificates (RFC 5280) for the devnet guest agent's GetTlsKey: the KMS root CA
 * ("Dstack KMS CA"), the per-app CA ("Dstack App CA", key derived per dstack.md §3.2) and RA-TLS leaves with
 * dstack's extensions (dstack.md §1.2 GetTlsKey: app id OID 1.3.6.1.4.1.62397.1.3, special usage "app:custom"
 * …1.4, attestation …1.8 when `usage_ra_tls`; values are DER OCTET STRINGs wrapping the raw bytes).
 * ECDSA P-256 with SHA-256 throughout, built with the devnet DER writer.
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto'
import * as Der from '../internal/Der.js'
import { p256Pkcs8 } from './DstackKeys.js'

/** dstack's private OIDs (ra-tls `oids.rs`). */
export const oids = {
  appId: '1.3.6.1.4.1.62397.1.3',
  specialUsage: '1.3.6.1.4.1.62397.1.4',
  attestation: '1.3.6.1.4.1.62397.1.8',
} as const

/** A certificate subject or issuer. */
export type Name = { readonly commonName: string; readonly organization?: string | undefined }

/** An issued certificate. */
export type Certificate = { readonly der: Uint8Array; readonly pem: string }

/** Options of {@link issue}. */
export type IssueOptions = {
  readonly subject: Name
  readonly issuer: Name
  /** SubjectPublicKeyInfo DER of the certified key. */
  readonly spki: Uint8Array
  /** The issuer's P-256 private scalar (32 bytes). */
  readonly signingKey: Uint8Array
  readonly notBefore: Date
  readonly notAfter: Date
  /** A CA certificate (basicConstraints CA, keyCertSign|cRLSign) or a leaf. */
  readonly ca: boolean
  readonly altNames?: readonly string[] | undefined
  readonly serverAuth?: boolean | undefined
  readonly clientAuth?: boolean | undefined
  /** Extra (non-critical) extensions: OID and raw value, wrapped in an OCTET STRING inside extnValue. */
  readonly custom?: readonly { oid: string; value: Uint8Array }[] | undefined
}

/**
 * Issues a certificate.
 *
 * @example
 * const cert = Certificate.issue({ subject, issuer, spki, signingKey, notBefore, notAfter, ca: false })
 */
export function issue(o: IssueOptions): Certificate {
  const extensions: Uint8Array[] = [
    extension('2.5.29.19', true, o.ca ? Der.sequence(Der.boolean(true)) : Der.sequence()),
    extension('2.5.29.15', true, o.ca ? Der.namedBits([5, 6]) : Der.namedBits([0])),
  ]
  const usages = [...(o.serverAuth ? ['1.3.6.1.5.5.7.3.1'] : []), ...(o.clientAuth ? ['1.3.6.1.5.5.7.3.2'] : [])]
  if (usages.length > 0) extensions.push(extension('2.5.29.37', false, Der.sequence(...usages.map((u) => Der.oid(u)))))
  if (o.altNames && o.altNames.length > 0)
    extensions.push(extension('2.5.29.17', false, Der.sequence(...o.altNames.map((n) => Der.implicit(2, Der.ia5String(n))))))
  for (const c of o.custom ?? []) extensions.push(extension(c.oid, false, Der.octetString(c.value)))
  const algorithm = Der.sequence(Der.oid('1.2.840.10045.4.3.2'))
  const serial = new Uint8Array(randomBytes(16))
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40
  const tbs = Der.sequence(
    Der.explicit(0, Der.integer(2)),
    Der.integer(serial),
    algorithm,
    name(o.issuer),
    Der.sequence(Der.time(o.notBefore), Der.time(o.notAfter)),
    name(o.subject),
    o.spki,
    Der.explicit(3, Der.sequence(...extensions)),
  )
  const der = Der.sequence(tbs, algorithm, Der.bitString(sign('sha256', tbs, p256KeyObject(o.signingKey))))
  return { der, pem: toPem(der, 'CERTIFICATE') }
}

/** A node KeyObject for a P-256 private scalar. */
export function p256KeyObject(scalar: Uint8Array): KeyObject {
  const pkcs8 = p256Pkcs8({ privateKey: scalar })
  try {
    return createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })
  } finally {
    pkcs8.fill(0)
  }
}

/** The SubjectPublicKeyInfo DER of a P-256 private scalar's public key. */
export function spkiOf(scalar: Uint8Array): Uint8Array {
  return new Uint8Array(createPublicKey(p256KeyObject(scalar)).export({ type: 'spki', format: 'der' }))
}

/** PEM armour. */
export function toPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der).toString('base64')
  return `-----BEGIN ${label}-----\n${base64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`
}

/** Parses a PEM certificate (for tests and callers that need node's view). */
export function x509(pem: string): X509Certificate {
  return new X509Certificate(pem)
}

function name(n: Name): Uint8Array {
  return Der.sequence(
    ...(n.organization ? [Der.set(Der.sequence(Der.oid('2.5.4.10'), Der.utf8String(n.organization)))] : []),
    Der.set(Der.sequence(Der.oid('2.5.4.3'), Der.utf8String(n.commonName))),
  )
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return Der.sequence(Der.oid(oid), ...(critical ? [Der.boolean(true)] : []), Der.octetString(value))
}
