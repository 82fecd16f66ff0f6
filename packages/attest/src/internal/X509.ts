/**
 * The few X.509 certificate fields (RFC 5280 §4.1) that node:crypto's X509Certificate does not expose
 * in a form we can compare byte-exactly: issuer/subject Name DER, validity as dates, serial as hex and
 * the raw extensions. Parsed once per certificate object and memoised.
 *
 * Internal: never exported from the package.
 */
import type { X509Certificate } from 'node:crypto'
import * as Der from './Der.js'

export type Extension = { readonly oid: string; readonly critical: boolean; readonly value: Uint8Array; readonly offset: number }

export type Fields = {
  /** Serial number, uppercase hex of the unsigned magnitude (even length). */
  readonly serial: string
  readonly issuer: Uint8Array
  readonly issuerText: string
  readonly subject: Uint8Array
  readonly subjectText: string
  /** The CN attribute of the subject (first one), or undefined. */
  readonly subjectCommonName: string | undefined
  readonly notBefore: Date
  readonly notAfter: Date
  readonly extensions: readonly Extension[]
  /** basicConstraints (RFC 5280 §4.2.1.9); undefined when absent. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLength: number | undefined } | undefined
  /** keyUsage bits (RFC 5280 §4.2.1.3) as a number (bit 0 = digitalSignature … bit 6 = cRLSign); undefined when absent. */
  readonly keyUsage: number | undefined
}

export const KeyUsage = { keyCertSign: 5, cRLSign: 6 } as const

const cache = new WeakMap<X509Certificate, Fields>()

/** Parses (and memoises) the fields of `certificate`. */
export function fields(certificate: X509Certificate): Fields {
  const cached = cache.get(certificate)
  if (cached) return cached
  const parsed = parse(new Uint8Array(certificate.raw))
  cache.set(certificate, parsed)
  return parsed
}

/** Parses a certificate's DER. */
export function parse(der: Uint8Array): Fields {
  const [tbs] = Der.sequence(Der.parse(der), 'Certificate')
  const items = Der.sequence(tbs, 'TBSCertificate')
  let i = 0
  if (Der.isContext(items[0], 0)) i = 1 // version [0] EXPLICIT
  const serialNode = Der.expect(items[i], Der.Tag.integer, 'serialNumber')
  const issuer = Der.expect(items[i + 2], Der.Tag.sequence, 'issuer')
  const [notBefore, notAfter] = Der.sequence(items[i + 3], 'validity')
  const subject = Der.expect(items[i + 4], Der.Tag.sequence, 'subject')
  const extensions: Extension[] = []
  for (const item of items.slice(i + 6)) {
    if (!Der.isContext(item, 3)) continue
    const [list] = Der.children(item)
    for (const ext of Der.sequence(list, 'extensions', item.offset)) {
      const parts = Der.sequence(ext, 'extension')
      const oid = Der.toOid(parts[0] as Der.Node, 'extnID')
      const critical = parts.length === 3 ? Der.toBoolean(parts[1] as Der.Node, 'critical') : false
      const valueNode = Der.expect(parts[parts.length - 1], Der.Tag.octetString, 'extnValue', ext.offset)
      extensions.push({ oid, critical, value: valueNode.value, offset: valueNode.valueOffset })
    }
  }
  let basicConstraints: Fields['basicConstraints']
  let keyUsage: number | undefined
  for (const ext of extensions) {
    if (ext.oid === '2.5.29.19') {
      const parts = Der.sequence(Der.parse(ext.value, ext.offset), 'basicConstraints')
      let ca = false
      let pathLength: number | undefined
      for (const p of parts) {
        if (p.tag === Der.Tag.boolean) ca = Der.toBoolean(p, 'cA')
        else pathLength = Der.toNumber(p, 'pathLenConstraint')
      }
      basicConstraints = { ca, pathLength }
    } else if (ext.oid === '2.5.29.15') {
      const node = Der.expect(Der.parse(ext.value, ext.offset), Der.Tag.bitString, 'keyUsage')
      keyUsage = 0
      const bits = node.value.subarray(1)
      for (let b = 0; b < bits.length * 8; b++) if (((bits[b >> 3] as number) >> (7 - (b & 7))) & 1) keyUsage |= 1 << b
    }
  }
  return {
    serial: Der.toUnsignedHex(serialNode, 'serialNumber'),
    issuer: issuer.bytes,
    issuerText: Der.nameToString(issuer, 'issuer'),
    subject: subject.bytes,
    subjectText: Der.nameToString(subject, 'subject'),
    subjectCommonName: commonName(subject),
    notBefore: Der.toDate(notBefore as Der.Node, 'notBefore'),
    notAfter: Der.toDate(notAfter as Der.Node, 'notAfter'),
    extensions,
    basicConstraints,
    keyUsage,
  }
}

function commonName(name: Der.Node): string | undefined {
  for (const rdn of Der.children(name))
    for (const atv of Der.children(rdn)) {
      const [type, value] = Der.children(atv)
      if (type && value && Der.toOid(type, 'attribute type') === '2.5.4.3') return Der.toText(value)
    }
  return undefined
}

/** Byte equality. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
