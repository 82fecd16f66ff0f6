/**
 * The devnet's stand-in for Intel's DCAP PKI: a real X.509 v3 hierarchy (ECDSA P-256, SHA-256) shaped like
 * Intel's (dcap.md §2.3, §3; Intel "SGX PCK Certificate and Certificate Revocation List Profile
 * Specification") but named as devnet, so that @regent-tee/attest verifies devnet quotes through the full DCAP
 * path when — and only when — the devnet root is passed as trusted (DESIGN.md §3, §5):
 *
 *   Regent Devnet Root CA (self-signed, CA, pathLen 1, keyCertSign|cRLSign)
 *   ├─ Regent Devnet PCK Platform CA (CA, pathLen 0, keyCertSign|cRLSign)
 *   │   └─ Regent Devnet PCK Certificate (leaf, digitalSignature|nonRepudiation, SGX extensions 1.2.840.113741.1.13.1)
 *   └─ Regent Devnet TCB Signing (leaf; signs TCB info and QE identity)
 *
 * The PCK leaf carries the SGX extension exactly as Intel's Platform-CA leaves do: PPID (.1), TCB (.2: 16 SGX
 * component SVNs as INTEGERs, PCESVN INTEGER, CPUSVN OCTET STRING 16), PCE-ID (.3), FMSPC (.4), SGX Type
 * (.5, ENUMERATED), PlatformInstanceID (.6) and Configuration (.7: dynamicPlatform, cachedKeys, smtEnabled).
 *
 * Private keys are node KeyObjects and leave this module only through {@link seal} (AES-256-GCM).
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  timingSafeEqual,
  X509Certificate,
} from 'node:crypto'
import { BaseError, createTrustedRoot, PckCertificate, type TrustedRoot } from '@regent-tee/attest'
import { Aead } from '@regent-tee/core'
import * as Der from '../internal/Der.js'

/**
 * The devnet FMSPC. In real FMSPCs the second and third bytes carry the CPU's family-6 CPUID signature
 * (00606A…, 00806F…, B0C06F…, 90C06F…); here the third byte D0 would mean family 0xD, which no Intel CPU
 * has, so this value cannot be the FMSPC of a real SGX/TDX platform (nor be found at Intel PCS).
 */
export const devnetFmspc = 'DE7ED0000000'

/** The PCE-ID of every Intel platform seen ("0000"); the devnet uses the same. */
export const devnetPceId = '0000'

/** Subject common names. The TCB signing and PCK names are the devnet root's naming profile ({@link trustedRoot}). */
export const commonNames = {
  root: 'Regent Devnet Root CA',
  pckCa: 'Regent Devnet PCK Platform CA',
  pck: 'Regent Devnet PCK Certificate',
  tcbSigning: 'Regent Devnet TCB Signing',
} as const

/** Organization of every devnet certificate. */
export const organization = 'Regent Devnet'

/** A certificate in the three encodings callers need. */
export type Certificate = {
  readonly pem: string
  readonly der: Uint8Array
  readonly x509: X509Certificate
  /** Serial number, uppercase hex of the unsigned magnitude (as attest's Crl / X509 fields report it). */
  readonly serial: string
}

/** A certificate and its private key (a node KeyObject, never exported in plain text). */
export type Authority = { readonly certificate: Certificate; readonly privateKey: KeyObject }

/** The platform the PCK certificate was issued for (same representation as attest's PckCertificate). */
export type Platform = {
  /** 16 bytes, uppercase hex. */
  readonly ppid: string
  /** 6 bytes, uppercase hex ({@link devnetFmspc} by default). */
  readonly fmspc: string
  /** 2 bytes, uppercase hex. */
  readonly pceId: string
  readonly tcb: {
    /** The 16 SGX TCB component SVNs. */
    readonly components: readonly number[]
    readonly pcesvn: number
    /** 16 bytes. */
    readonly cpusvn: Uint8Array
  }
  readonly sgxType: PckCertificate.SgxType
  /** 16 bytes, uppercase hex. */
  readonly platformInstanceId: string
}

export type DevnetPki = {
  readonly root: Authority
  readonly pckCa: Authority
  /** The PCK leaf: its key signs QE reports. */
  readonly pck: Authority
  /** Signs TCB info and QE identity. */
  readonly tcbSigning: Authority
  readonly platform: Platform
}

export type Validity = { readonly notBefore: Date; readonly notAfter: Date }

export type CreateOptions = {
  /** Reference time for the default windows. @default new Date() */
  now?: Date | undefined
  /** Root CA and PCK CA validity. @default now-1h .. now+10y */
  caValidity?: Validity | undefined
  /** PCK leaf and TCB signing validity. @default now-1h .. now+7y (Intel issues 7-year leaves) */
  leafValidity?: Validity | undefined
  /** Platform TCB in the PCK certificate. @default components 3,3,2,2,4,1,0,5,0…; PCESVN 11; CPUSVN = the components as bytes */
  tcb?: { components?: readonly number[] | undefined; pcesvn?: number | undefined; cpusvn?: Uint8Array | undefined } | undefined
  /** @default {@link devnetFmspc} */
  fmspc?: string | undefined
}

/** Default SGX TCB component SVNs of the devnet platform (a Sapphire-Rapids-like profile). */
export const defaultTcbComponents: readonly number[] = [3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]
/** Default PCESVN of the devnet platform. */
export const defaultPcesvn = 11

const oids = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  countryName: '2.5.4.6',
  authorityKeyIdentifier: '2.5.29.35',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  crlDistributionPoints: '2.5.29.31',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  sgxExtensions: '1.2.840.113741.1.13.1',
} as const

const hour = 3_600_000
const year = 365 * 24 * hour

/** CRL distribution points: under the reserved `.invalid` TLD (RFC 2606), so they can never resolve to Intel or anyone. */
const crlUrls = {
  root: 'https://devnet.regent.invalid/sgx/certification/v4/rootcacrl',
  pckCa: 'https://devnet.regent.invalid/sgx/certification/v4/pckcrl?ca=platform&encoding=der',
} as const

/**
 * Creates a fresh devnet PKI: four P-256 key pairs and certificates with random positive 20-byte serials.
 *
 * @throws {InvalidOptionsError} when a validity window is empty, a TCB component or FMSPC is out of range.
 * @example
 * const pki = DevnetPki.create()
 * const root = DevnetPki.trustedRoot(pki) // pass to attest only when you mean to trust the devnet
 */
export function create(options: CreateOptions = {}): DevnetPki {
  const now = options.now ?? new Date()
  const caValidity = options.caValidity ?? { notBefore: new Date(now.getTime() - hour), notAfter: new Date(now.getTime() + 10 * year) }
  const leafValidity = options.leafValidity ?? { notBefore: new Date(now.getTime() - hour), notAfter: new Date(now.getTime() + 7 * year) }
  for (const [name, v] of [
    ['caValidity', caValidity],
    ['leafValidity', leafValidity],
  ] as const)
    if (!(v.notBefore.getTime() < v.notAfter.getTime()))
      throw new InvalidOptionsError({ option: name, reason: 'notBefore must be before notAfter' })
  const components = options.tcb?.components ?? defaultTcbComponents
  if (components.length !== 16 || components.some((c) => !Number.isInteger(c) || c < 0 || c > 255))
    throw new InvalidOptionsError({ option: 'tcb.components', reason: 'must be 16 integers in [0, 255]' })
  const pcesvn = options.tcb?.pcesvn ?? defaultPcesvn
  if (!Number.isInteger(pcesvn) || pcesvn < 0 || pcesvn > 0xffff)
    throw new InvalidOptionsError({ option: 'tcb.pcesvn', reason: 'must be an integer in [0, 65535]' })
  const cpusvn = options.tcb?.cpusvn ?? Uint8Array.from(components)
  if (cpusvn.length !== 16) throw new InvalidOptionsError({ option: 'tcb.cpusvn', reason: 'must be 16 bytes' })
  const fmspc = (options.fmspc ?? devnetFmspc).toUpperCase()
  if (!/^[0-9A-F]{12}$/.test(fmspc)) throw new InvalidOptionsError({ option: 'fmspc', reason: 'must be 6 bytes of hex' })

  const platform: Platform = {
    ppid: hex(randomBytes(16)),
    fmspc,
    pceId: devnetPceId,
    tcb: { components: [...components], pcesvn, cpusvn: Uint8Array.from(cpusvn) },
    sgxType: 'Scalable',
    platformInstanceId: hex(randomBytes(16)),
  }

  const rootKeys = keyPair()
  const rootName = name(commonNames.root)
  const rootSki = keyIdentifier(rootKeys.publicKey)
  const root = {
    privateKey: rootKeys.privateKey,
    certificate: issueCertificate({
      issuer: rootName,
      subject: rootName,
      validity: caValidity,
      publicKey: rootKeys.publicKey,
      signingKey: rootKeys.privateKey,
      extensions: [
        authorityKeyIdentifier(rootSki),
        crlDistributionPoint(crlUrls.root),
        extension(oids.subjectKeyIdentifier, false, Der.octetString(rootSki)),
        extension(oids.keyUsage, true, Der.namedBits([5, 6])),
        extension(oids.basicConstraints, true, Der.sequence(Der.boolean(true), Der.integer(1))),
      ],
    }),
  }

  const caKeys = keyPair()
  const caName = name(commonNames.pckCa)
  const caSki = keyIdentifier(caKeys.publicKey)
  const pckCa = {
    privateKey: caKeys.privateKey,
    certificate: issueCertificate({
      issuer: rootName,
      subject: caName,
      validity: caValidity,
      publicKey: caKeys.publicKey,
      signingKey: rootKeys.privateKey,
      extensions: [
        authorityKeyIdentifier(rootSki),
        crlDistributionPoint(crlUrls.root),
        extension(oids.subjectKeyIdentifier, false, Der.octetString(caSki)),
        extension(oids.keyUsage, true, Der.namedBits([5, 6])),
        extension(oids.basicConstraints, true, Der.sequence(Der.boolean(true), Der.integer(0))),
      ],
    }),
  }

  const pckKeys = keyPair()
  const pck = {
    privateKey: pckKeys.privateKey,
    certificate: issueCertificate({
      issuer: caName,
      subject: name(commonNames.pck),
      validity: leafValidity,
      publicKey: pckKeys.publicKey,
      signingKey: caKeys.privateKey,
      extensions: [
        authorityKeyIdentifier(caSki),
        crlDistributionPoint(crlUrls.pckCa),
        extension(oids.subjectKeyIdentifier, false, Der.octetString(keyIdentifier(pckKeys.publicKey))),
        extension(oids.keyUsage, true, Der.namedBits([0, 1])),
        extension(oids.basicConstraints, true, Der.sequence()),
        extension(oids.sgxExtensions, false, sgxExtensions(platform)),
      ],
    }),
  }

  const tcbKeys = keyPair()
  const tcbSigning = {
    privateKey: tcbKeys.privateKey,
    certificate: issueCertificate({
      issuer: rootName,
      subject: name(commonNames.tcbSigning),
      validity: leafValidity,
      publicKey: tcbKeys.publicKey,
      signingKey: rootKeys.privateKey,
      extensions: [
        authorityKeyIdentifier(rootSki),
        crlDistributionPoint(crlUrls.root),
        extension(oids.subjectKeyIdentifier, false, Der.octetString(keyIdentifier(tcbKeys.publicKey))),
        extension(oids.keyUsage, true, Der.namedBits([0, 1])),
        extension(oids.basicConstraints, true, Der.sequence()),
      ],
    }),
  }

  return { root, pckCa, pck, tcbSigning, platform }
}

/**
 * The devnet root as an attest trust anchor, with the devnet naming profile (TCB signer CN contains
 * "Regent Devnet TCB Signing", PCK leaf CN contains "Regent Devnet PCK Certificate"). Never a default:
 * pass it to attest only where devnet quotes are meant to verify.
 */
export function trustedRoot(pki: DevnetPki): TrustedRoot {
  return createTrustedRoot({
    name: 'devnet',
    pem: pki.root.certificate.pem,
    tcbSigningCommonName: commonNames.tcbSigning,
    pckCommonName: commonNames.pck,
  })
}

/** The PCK certificate chain as a quote carries it (type-5 certification data): leaf, PCK CA, root. */
export function pckCertChainPem(pki: DevnetPki): string {
  return pki.pck.certificate.pem + pki.pckCa.certificate.pem + pki.root.certificate.pem
}

/** The issuer chain of the PCK CRL (PCK CA, root), as `pck_crl_issuer_chain`. */
export function pckCrlIssuerChainPem(pki: DevnetPki): string {
  return pki.pckCa.certificate.pem + pki.root.certificate.pem
}

/** The issuer chain of TCB info and QE identity (TCB signing, root). */
export function tcbIssuerChainPem(pki: DevnetPki): string {
  return pki.tcbSigning.certificate.pem + pki.root.certificate.pem
}

export type CrlOptions = {
  /** Which CA issues the CRL. */
  issuer: 'root' | 'pckCa'
  /** Serials to revoke (hex, any case, optional 0x), each with reason keyCompromise as Intel's entries carry. @default [] */
  revoked?: readonly string[] | undefined
  /** @default now-1h */
  thisUpdate?: Date | undefined
  /** @default thisUpdate+30d (Intel's PCK CRLs are valid 30 days) */
  nextUpdate?: Date | undefined
  /** @default 1 */
  crlNumber?: number | undefined
  /** Revocation date of the entries. @default thisUpdate */
  revocationDate?: Date | undefined
}

/**
 * Issues an X.509 v2 CRL (RFC 5280 §5, DER) signed by the root or the PCK CA, shaped like Intel's: version 2,
 * ecdsa-with-SHA256, CRL Number and Authority Key Identifier extensions, revokedCertificates omitted when empty.
 *
 * @throws {InvalidOptionsError} for a bad serial or an empty window.
 * @example
 * const pckCrl = DevnetPki.issueCrl(pki, { issuer: 'pckCa', revoked: [pki.pck.certificate.serial] })
 */
export function issueCrl(pki: DevnetPki, options: CrlOptions): Uint8Array {
  const authority = options.issuer === 'root' ? pki.root : pki.pckCa
  const thisUpdate = options.thisUpdate ?? new Date(Date.now() - hour)
  const nextUpdate = options.nextUpdate ?? new Date(thisUpdate.getTime() + 30 * 24 * hour)
  if (!(thisUpdate.getTime() < nextUpdate.getTime()))
    throw new InvalidOptionsError({ option: 'nextUpdate', reason: 'must be after thisUpdate' })
  const revocationDate = options.revocationDate ?? thisUpdate
  const entries = (options.revoked ?? []).map((serial) => {
    const clean = serial.startsWith('0x') ? serial.slice(2) : serial
    if (clean.length === 0 || !/^[0-9a-fA-F]+$/.test(clean))
      throw new InvalidOptionsError({ option: 'revoked', reason: `"${serial}" is not a hex serial` })
    const bytes = Buffer.from(clean.length % 2 ? `0${clean}` : clean, 'hex')
    return Der.sequence(
      Der.integer(new Uint8Array(bytes)),
      Der.time(revocationDate),
      Der.sequence(extension(oids.crlReason, false, Der.enumerated(1))),
    )
  })
  const tbs = Der.sequence(
    Der.integer(1),
    algorithm(),
    subjectOf(authority.certificate.der),
    Der.time(thisUpdate),
    Der.time(nextUpdate),
    ...(entries.length > 0 ? [Der.sequence(...entries)] : []),
    Der.explicit(
      0,
      Der.sequence(
        extension(oids.crlNumber, false, Der.integer(options.crlNumber ?? 1)),
        authorityKeyIdentifier(keyIdentifier(authority.certificate.x509.publicKey)),
      ),
    ),
  )
  return Der.sequence(tbs, algorithm(), Der.bitString(sign('sha256', tbs, authority.privateKey)))
}

// --- sealing -------------------------------------------------------------------------------------------

const sealMagic = Uint8Array.from([0x52, 0x44, 0x50, 0x4b]) // "RDPK"
const sealVersion = 1
const sealLabel = 'regent-devnet/pki-seal/v1'
const keyCheckSize = 16
const ivSize = 12
const tagSize = 16
const headerSize = sealMagic.length + 1 + keyCheckSize + ivSize

/**
 * Encrypts the PKI (certificates, PKCS#8 private keys) for storage on the host.
 *
 * Format v1: `"RDPK" ‖ version (1) ‖ keyCheck (16) ‖ iv (12) ‖ AES-256-GCM ciphertext ‖ tag (16)`, where
 * keyCheck = HMAC-SHA256(key, "regent-devnet/pki-seal/v1/key-check")[0..16] (lets {@link unseal} tell a wrong
 * key from tampering) and the AAD is `"regent-devnet/pki-seal/v1" ‖ header` (magic, version, keyCheck, iv).
 * The plaintext is a sequence of u32-big-endian-length-prefixed fields (cert DER, key PKCS#8 DER for root,
 * PCK CA, PCK, TCB signing); key buffers are zeroed after use.
 *
 * @throws {InvalidSealKeyError} when `key` is not 32 bytes.
 * @example
 * writeFileSync(path, DevnetPki.seal(pki, { key }))
 */
export function seal(pki: DevnetPki, options: { key: Uint8Array }): Uint8Array {
  assertSealKey(options.key)
  const parts: Buffer[] = []
  for (const authority of [pki.root, pki.pckCa, pki.pck, pki.tcbSigning]) {
    parts.push(Buffer.from(authority.certificate.der))
    parts.push(authority.privateKey.export({ type: 'pkcs8', format: 'der' }))
  }
  const framed: Buffer[] = []
  for (const p of parts) {
    const length = Buffer.alloc(4)
    length.writeUInt32BE(p.length)
    framed.push(length, p)
  }
  const plaintext = Buffer.concat(framed)
  try {
    const iv = randomBytes(ivSize)
    const header = Buffer.concat([sealMagic, Uint8Array.of(sealVersion), keyCheck(options.key), iv])
    const { ciphertext, tag } = Aead.seal(options.key, plaintext, { ad: Buffer.concat([Buffer.from(sealLabel), header]), iv })
    return new Uint8Array(Buffer.concat([header, ciphertext, tag]))
  } finally {
    plaintext.fill(0)
    for (const p of parts) p.fill(0)
  }
}

/**
 * Decrypts a PKI sealed with {@link seal}. The platform description is read back from the PCK certificate.
 *
 * @throws {InvalidSealKeyError} `key` is not 32 bytes.
 * @throws {InvalidSealedDataError} the bytes are too short or do not start with the seal magic.
 * @throws {UnsupportedSealVersionError} an unknown format version.
 * @throws {WrongSealKeyError} the data was sealed under another key.
 * @throws {TamperedSealError} authentication failed (any byte changed) or the contents are malformed.
 * @example
 * const pki = DevnetPki.unseal(readFileSync(path), { key })
 */
export function unseal(bytes: Uint8Array, options: { key: Uint8Array }): DevnetPki {
  assertSealKey(options.key)
  if (bytes.length < headerSize + tagSize)
    throw new InvalidSealedDataError({ reason: `${bytes.length} bytes is shorter than the ${headerSize + tagSize}-byte minimum` })
  if (!sealMagic.every((b, i) => bytes[i] === b)) throw new InvalidSealedDataError({ reason: 'missing the "RDPK" magic' })
  const version = bytes[sealMagic.length] as number
  if (version !== sealVersion) throw new UnsupportedSealVersionError({ version })
  const check = bytes.subarray(sealMagic.length + 1, sealMagic.length + 1 + keyCheckSize)
  if (!timingSafeEqual(check, keyCheck(options.key))) throw new WrongSealKeyError()
  const header = bytes.subarray(0, headerSize)
  const opened = Aead.open(
    options.key,
    {
      iv: bytes.subarray(headerSize - ivSize, headerSize),
      ciphertext: bytes.subarray(headerSize, bytes.length - tagSize),
      tag: bytes.subarray(bytes.length - tagSize),
    },
    { ad: Buffer.concat([Buffer.from(sealLabel), header]) },
  )
  if (!opened) throw new TamperedSealError({ reason: 'authentication failed' })
  const plaintext = Buffer.from(opened.buffer, opened.byteOffset, opened.byteLength)
  try {
    const fields: Buffer[] = []
    let at = 0
    while (at < plaintext.length) {
      if (at + 4 > plaintext.length) throw new TamperedSealError({ reason: 'truncated field length' })
      const length = plaintext.readUInt32BE(at)
      if (at + 4 + length > plaintext.length) throw new TamperedSealError({ reason: 'field overruns the plaintext' })
      fields.push(plaintext.subarray(at + 4, at + 4 + length))
      at += 4 + length
    }
    if (fields.length !== 8) throw new TamperedSealError({ reason: `expected 8 fields, got ${fields.length}` })
    const authority = (i: number): Authority => {
      const der = new Uint8Array(fields[2 * i] as Buffer)
      const privateKey = createPrivateKey({ key: fields[2 * i + 1] as Buffer, format: 'der', type: 'pkcs8' })
      return { certificate: certificateFromDer(der), privateKey }
    }
    const pck = authority(2)
    const ext = PckCertificate.from(pck.certificate.x509)
    return {
      root: authority(0),
      pckCa: authority(1),
      pck,
      tcbSigning: authority(3),
      platform: {
        ppid: ext.ppid,
        fmspc: ext.fmspc,
        pceId: ext.pceId,
        tcb: { components: [...ext.tcb.components], pcesvn: ext.tcb.pcesvn, cpusvn: Uint8Array.from(ext.tcb.cpusvn) },
        sgxType: ext.sgxType,
        platformInstanceId: ext.platformInstanceId ?? '',
      },
    }
  } catch (cause) {
    if (cause instanceof TamperedSealError) throw cause
    throw new TamperedSealError({ reason: 'contents are malformed', cause })
  } finally {
    plaintext.fill(0)
  }
}

function assertSealKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32)
    throw new InvalidSealKeyError({ length: key instanceof Uint8Array ? key.length : undefined })
}

function keyCheck(key: Uint8Array): Buffer {
  return createHmac('sha256', key).update(`${sealLabel}/key-check`).digest().subarray(0, keyCheckSize)
}

// --- X.509 building --------------------------------------------------------------------------------------

function keyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' })
}

function name(commonName: string): Uint8Array {
  return Der.sequence(
    Der.set(Der.sequence(Der.oid(oids.commonName), Der.utf8String(commonName))),
    Der.set(Der.sequence(Der.oid(oids.organizationName), Der.utf8String(organization))),
  )
}

function algorithm(): Uint8Array {
  return Der.sequence(Der.oid(oids.ecdsaWithSha256))
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return Der.sequence(Der.oid(oid), ...(critical ? [Der.boolean(true)] : []), Der.octetString(value))
}

function authorityKeyIdentifier(keyId: Uint8Array): Uint8Array {
  return extension(oids.authorityKeyIdentifier, false, Der.sequence(Der.implicit(0, Der.octetString(keyId))))
}

function crlDistributionPoint(url: string): Uint8Array {
  // DistributionPoint { distributionPoint [0] { fullName [0] GeneralNames { uniformResourceIdentifier [6] } } }
  return extension(
    oids.crlDistributionPoints,
    false,
    Der.sequence(Der.sequence(Der.explicit(0, Der.implicit(0, Der.sequence(Der.implicit(6, Der.ia5String(url))))))),
  )
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING contents. */
function keyIdentifier(publicKey: KeyObject): Uint8Array {
  return new Uint8Array(createHash('sha1').update(uncompressedPoint(publicKey)).digest())
}

/** The 65-byte uncompressed P-256 point 04 ‖ x ‖ y. */
export function uncompressedPoint(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' })
  if (jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new InvalidOptionsError({ option: 'publicKey', reason: 'must be a P-256 key' })
  return new Uint8Array(Buffer.concat([Uint8Array.of(4), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]))
}

function sgxExtensions(platform: Platform): Uint8Array {
  const entry = (suffix: string, value: Uint8Array) => Der.sequence(Der.oid(`${oids.sgxExtensions}.${suffix}`), value)
  const tcb = Der.sequence(
    ...platform.tcb.components.map((svn, i) => entry(`2.${i + 1}`, Der.integer(svn))),
    entry('2.17', Der.integer(platform.tcb.pcesvn)),
    entry('2.18', Der.octetString(platform.tcb.cpusvn)),
  )
  const sgxTypes: readonly PckCertificate.SgxType[] = ['Standard', 'Scalable', 'ScalableWithIntegrity']
  return Der.sequence(
    entry('1', Der.octetString(bytes(platform.ppid))),
    entry('2', tcb),
    entry('3', Der.octetString(bytes(platform.pceId))),
    entry('4', Der.octetString(bytes(platform.fmspc))),
    entry('5', Der.enumerated(sgxTypes.indexOf(platform.sgxType))),
    entry('6', Der.octetString(bytes(platform.platformInstanceId))),
    entry('7', Der.sequence(entry('7.1', Der.boolean(true)), entry('7.2', Der.boolean(true)), entry('7.3', Der.boolean(true)))),
  )
}

function randomSerial(): Uint8Array {
  const serial = new Uint8Array(randomBytes(20))
  // Positive (top bit clear) and exactly 20 bytes (second-highest bit set, so no leading zero byte).
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40
  return serial
}

function issueCertificate(o: {
  issuer: Uint8Array
  subject: Uint8Array
  validity: Validity
  publicKey: KeyObject
  signingKey: KeyObject
  extensions: readonly Uint8Array[]
}): Certificate {
  const spki = new Uint8Array(o.publicKey.export({ type: 'spki', format: 'der' }))
  const tbs = Der.sequence(
    Der.explicit(0, Der.integer(2)),
    Der.integer(randomSerial()),
    algorithm(),
    o.issuer,
    Der.sequence(Der.time(o.validity.notBefore), Der.time(o.validity.notAfter)),
    o.subject,
    spki,
    Der.explicit(3, Der.sequence(...o.extensions)),
  )
  const der = Der.sequence(tbs, algorithm(), Der.bitString(sign('sha256', tbs, o.signingKey)))
  return certificateFromDer(der)
}

function certificateFromDer(der: Uint8Array): Certificate {
  const x509 = new X509Certificate(der)
  const base64 = Buffer.from(der).toString('base64')
  const pem = `-----BEGIN CERTIFICATE-----\n${base64.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`
  return { pem, der, x509, serial: x509.serialNumber.toUpperCase().replace(/^(?:00)+(?=.)/, '') }
}

/** The subject Name DER of a certificate built here (TBSCertificate field 6), for CRL issuer names. */
function subjectOf(der: Uint8Array): Uint8Array {
  // Certificate → TBSCertificate → [version, serial, algorithm, issuer, validity, subject, …]; the encoding
  // came from Der.ts (definite minimal lengths), so walking the TLV headers is enough.
  let at = inner(der, inner(der, 0).start).start
  for (let i = 0; i < 5; i++) at = inner(der, at).end
  return der.subarray(at, inner(der, at).end)
}

function inner(der: Uint8Array, at: number): { start: number; end: number } {
  const first = der[at + 1] as number
  if (first < 0x80) return { start: at + 2, end: at + 2 + first }
  const count = first & 0x7f
  let length = 0
  for (let i = 0; i < count; i++) length = length * 256 + (der[at + 2 + i] as number)
  return { start: at + 2 + count, end: at + 2 + count + length }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').toUpperCase()
}

function bytes(hexText: string): Uint8Array {
  return new Uint8Array(Buffer.from(hexText, 'hex'))
}

/** An option passed to {@link create} or {@link issueCrl} is invalid. */
export class InvalidOptionsError extends BaseError {
  override name = 'DevnetPki.InvalidOptionsError'
  constructor({ option, reason }: { option: string; reason: string }) {
    super(`Invalid devnet PKI option ${option}: ${reason}.`)
  }
}

/** The seal key is not 32 bytes. */
export class InvalidSealKeyError extends BaseError {
  override name = 'DevnetPki.InvalidSealKeyError'
  constructor({ length }: { length: number | undefined }) {
    super(`Seal key must be 32 bytes, got ${length === undefined ? 'a non-Uint8Array value' : `${length} bytes`}.`)
  }
}

/** The bytes are not a sealed devnet PKI. */
export class InvalidSealedDataError extends BaseError {
  override name = 'DevnetPki.InvalidSealedDataError'
  constructor({ reason }: { reason: string }) {
    super(`Not a sealed devnet PKI: ${reason}.`)
  }
}

/** The sealed PKI uses a format version this code does not know. */
export class UnsupportedSealVersionError extends BaseError {
  override name = 'DevnetPki.UnsupportedSealVersionError'
  constructor({ version }: { version: number }) {
    super(`Sealed devnet PKI has unsupported format version ${version} (expected ${sealVersion}).`)
  }
}

/** The sealed PKI was sealed under a different key. */
export class WrongSealKeyError extends BaseError {
  override name = 'DevnetPki.WrongSealKeyError'
  constructor() {
    super('Sealed devnet PKI was sealed under a different key.')
  }
}

/** The sealed PKI failed authentication (a byte was changed) or its contents are malformed. */
export class TamperedSealError extends BaseError {
  override name = 'DevnetPki.TamperedSealError'
  constructor({ reason, cause }: { reason: string; cause?: unknown }) {
    super(`Sealed devnet PKI is corrupted or tampered with: ${reason}.`, { cause })
  }
}
