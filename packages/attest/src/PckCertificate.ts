/**
 * The Intel SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1), per Intel's "SGX PCK
 * Certificate and Certificate Revocation List Profile Specification" (dcap.md §2.3):
 * .1 PPID, .2 TCB (.2.1–.2.16 component SVNs, .2.17 PCESVN, .2.18 CPUSVN), .3 PCE-ID, .4 FMSPC,
 * .5 SGX Type, .6 PlatformInstanceID and .7 Configuration (Platform CA certificates only).
 *
 * Strict where @phala/dcap-qvl JS is not (dcap.md §1.6 item 4: it fails on the SGX Type ENUMERATED):
 * every required field must be present exactly once with its exact size.
 */
import { X509Certificate } from 'node:crypto'
import { BaseError } from './errors.js'
import * as Der from './internal/Der.js'
import * as X509 from './internal/X509.js'

const sgxExtensionsOid = '1.2.840.113741.1.13.1'

/** The TCB a PCK certificate was issued for. */
export type Tcb = {
  /** The 16 SGX TCB component SVNs (.2.1 – .2.16). */
  readonly components: readonly number[]
  readonly pcesvn: number
  /** 16 bytes. */
  readonly cpusvn: Uint8Array
}

/** Platform configuration flags (.7), each present only if the certificate carries it. */
export type Configuration = {
  readonly dynamicPlatform?: boolean
  readonly cachedKeys?: boolean
  readonly smtEnabled?: boolean
}

/** 0 Standard, 1 Scalable, 2 Scalable with integrity. */
export type SgxType = 'Standard' | 'Scalable' | 'ScalableWithIntegrity'

export type PckCertificate = {
  readonly certificate: X509Certificate
  /** Which PCK CA issued it, from the issuer CN ("Intel SGX PCK Processor CA" / "… Platform CA"); undefined if neither. */
  readonly ca: 'processor' | 'platform' | undefined
  /** 16 bytes, uppercase hex. */
  readonly ppid: string
  readonly tcb: Tcb
  /** 2 bytes, uppercase hex (e.g. "0000"). */
  readonly pceId: string
  /** 6 bytes, uppercase hex (e.g. "00806F050000"). */
  readonly fmspc: string
  readonly sgxType: SgxType
  /** 16 bytes, uppercase hex; only in certificates from the Platform CA. */
  readonly platformInstanceId: string | undefined
  readonly configuration: Configuration | undefined
}

const sgxTypes: readonly SgxType[] = ['Standard', 'Scalable', 'ScalableWithIntegrity']

/**
 * Reads the Intel SGX extensions of a PCK certificate (PEM or a parsed X509Certificate).
 * Does not verify the certificate: use CertChain.verify for that.
 *
 * @throws {MissingExtensionError} the certificate lacks the SGX extension or one of its required fields.
 * @throws {InvalidExtensionError} a field is malformed, of the wrong size, or duplicated (names the field and offset).
 * @example
 * const { fmspc, tcb } = PckCertificate.from(leafPem)
 */
export function from(value: string | X509Certificate): PckCertificate {
  let certificate: X509Certificate
  try {
    certificate = typeof value === 'string' ? new X509Certificate(value) : value
  } catch (cause) {
    throw new InvalidExtensionError({ field: 'certificate', offset: 0, reason: 'is not a PEM certificate', cause })
  }
  let fields: X509.Fields
  try {
    fields = X509.fields(certificate)
  } catch (cause) {
    throw new InvalidExtensionError({ field: 'certificate', offset: 0, reason: 'is not valid DER', cause })
  }
  const extension = fields.extensions.find((e) => e.oid === sgxExtensionsOid)
  if (!extension) throw new MissingExtensionError({ field: `SGX extensions (${sgxExtensionsOid})` })

  const found = read(extension.value, extension.offset, 'sgxExtensions')
  const tcbNode = expectSequence(required(found, '2', 'TCB'), 'TCB')
  const tcbEntries = read(tcbNode.bytes, tcbNode.offset, 'TCB')
  const components: number[] = []
  for (let i = 1; i <= 16; i++)
    components.push(integer(required(tcbEntries, `2.${i}`, `TCB.sgxtcbcomp${pad(i)}svn`), `TCB.sgxtcbcomp${pad(i)}svn`))
  const configurationNode = found.get('7')
  const issuerCn = /CN=([^,]*)/.exec(fields.issuerText)?.[1] ?? ''
  return {
    certificate,
    ca: issuerCn.includes('Processor') ? 'processor' : issuerCn.includes('Platform') ? 'platform' : undefined,
    ppid: octets(required(found, '1', 'PPID'), 'PPID', 16),
    tcb: {
      components,
      pcesvn: integer(required(tcbEntries, '2.17', 'TCB.pcesvn'), 'TCB.pcesvn'),
      cpusvn: Buffer.from(octets(required(tcbEntries, '2.18', 'TCB.cpusvn'), 'TCB.cpusvn', 16), 'hex'),
    },
    pceId: octets(required(found, '3', 'PCE-ID'), 'PCE-ID', 2),
    fmspc: octets(required(found, '4', 'FMSPC'), 'FMSPC', 6),
    sgxType: sgxType(required(found, '5', 'SGX Type')),
    platformInstanceId: found.has('6') ? octets(found.get('6') as Der.Node, 'PlatformInstanceID', 16) : undefined,
    configuration: configurationNode ? configuration(configurationNode) : undefined,
  }
}

/** Reads `SEQUENCE OF SEQUENCE { OID, value }` keyed by the OID suffix after the SGX extension OID. */
function read(bytes: Uint8Array, offset: number, field: string): Map<string, Der.Node> {
  const out = new Map<string, Der.Node>()
  try {
    for (const entry of Der.sequence(Der.parse(bytes, offset), field)) {
      const [oidNode, value, extra] = Der.sequence(entry, field)
      const oid = Der.toOid(oidNode as Der.Node, `${field} OID`)
      if (!value || extra) throw new InvalidExtensionError({ field, offset: entry.offset, reason: 'entry must be an OID and one value' })
      if (!oid.startsWith(`${sgxExtensionsOid}.`))
        throw new InvalidExtensionError({ field, offset: entry.offset, reason: `unexpected OID ${oid}` })
      const key = oid.slice(sgxExtensionsOid.length + 1)
      if (out.has(key)) throw new InvalidExtensionError({ field: `${field} ${oid}`, offset: entry.offset, reason: 'is duplicated' })
      out.set(key, value)
    }
  } catch (error) {
    if (error instanceof Der.InvalidDerError)
      throw new InvalidExtensionError({ field, offset: error.offset, reason: 'is not valid DER', cause: error })
    throw error
  }
  return out
}

function required(map: Map<string, Der.Node>, key: string, field: string): Der.Node {
  const node = map.get(key)
  if (!node) throw new MissingExtensionError({ field: `${field} (${sgxExtensionsOid}.${key})` })
  return node
}

function expectSequence(node: Der.Node, field: string): Der.Node {
  if (node.tagClass !== 0 || node.tag !== Der.Tag.sequence || !node.constructed)
    throw new InvalidExtensionError({ field, offset: node.offset, reason: 'must be a SEQUENCE' })
  return node
}

function octets(node: Der.Node, field: string, size: number): string {
  if (node.tagClass !== 0 || node.tag !== Der.Tag.octetString || node.constructed)
    throw new InvalidExtensionError({ field, offset: node.offset, reason: 'must be an OCTET STRING' })
  if (node.value.length !== size)
    throw new InvalidExtensionError({ field, offset: node.offset, reason: `must be ${size} bytes, got ${node.value.length}` })
  return Buffer.from(node.value).toString('hex').toUpperCase()
}

function integer(node: Der.Node, field: string): number {
  try {
    const n = Der.toNumber(node, field)
    if (n > 0xffff) throw new InvalidExtensionError({ field, offset: node.offset, reason: `${n} is out of range` })
    return n
  } catch (error) {
    if (error instanceof Der.InvalidDerError)
      throw new InvalidExtensionError({ field, offset: node.offset, reason: 'must be a small INTEGER', cause: error })
    throw error
  }
}

function sgxType(node: Der.Node): SgxType {
  try {
    const n = Der.toNumber(node, 'SGX Type', Der.Tag.enumerated)
    const type = sgxTypes[n]
    if (!type) throw new InvalidExtensionError({ field: 'SGX Type', offset: node.offset, reason: `unknown value ${n}` })
    return type
  } catch (error) {
    if (error instanceof Der.InvalidDerError)
      throw new InvalidExtensionError({ field: 'SGX Type', offset: node.offset, reason: 'must be an ENUMERATED', cause: error })
    throw error
  }
}

function configuration(node: Der.Node): Configuration {
  const entries = read(expectSequence(node, 'Configuration').bytes, node.offset, 'Configuration')
  const flag = (key: string, field: string): boolean | undefined => {
    const value = entries.get(key)
    if (!value) return undefined
    try {
      return Der.toBoolean(value, field)
    } catch (error) {
      if (error instanceof Der.InvalidDerError)
        throw new InvalidExtensionError({ field, offset: value.offset, reason: 'must be a BOOLEAN', cause: error })
      throw error
    }
  }
  const dynamicPlatform = flag('7.1', 'Configuration.dynamicPlatform')
  const cachedKeys = flag('7.2', 'Configuration.cachedKeys')
  const smtEnabled = flag('7.3', 'Configuration.smtEnabled')
  return {
    ...(dynamicPlatform === undefined ? {} : { dynamicPlatform }),
    ...(cachedKeys === undefined ? {} : { cachedKeys }),
    ...(smtEnabled === undefined ? {} : { smtEnabled }),
  }
}

function pad(i: number): string {
  return i < 10 ? `0${i}` : `${i}`
}

/** The certificate lacks the SGX extension or a required field of it. */
export class MissingExtensionError extends BaseError {
  override name = 'PckCertificate.MissingExtensionError'
  constructor({ field }: { field: string }) {
    super(`PCK certificate has no ${field}.`)
  }
}

/** A field of the SGX extension is malformed. */
export class InvalidExtensionError extends BaseError {
  override name = 'PckCertificate.InvalidExtensionError'
  constructor({ field, offset, reason, cause }: { field: string; offset: number; reason: string; cause?: unknown }) {
    super(`PCK certificate ${field} ${reason} (offset ${offset}).`, { cause })
  }
}
