/**
 * Key providers of devnet CVMs: what a booting CVM asks for its app keys (dstack `GetAppKey`, dstack.md §3.2,
 * §4.4 step "request_app_keys") and for its TLS certificates (dstack `KMS.SignCert`, §1.2 GetTlsKey).
 *
 * {@link createLocalKeyProvider} is the DEVNET-LOCAL provider ("local-devnet"): an in-process stand-in for the
 * KMS, used until the @regent-tee/kms service is running. It derives with @regent-tee/kms `AppKeys.derive` (dstack §3.2), so GetKey
 * signature chains verify to its root k256 key, and it still refuses to release keys unless the request's quote
 * verifies under the devnet root (full DCAP path, @regent-tee/attest) and the replayed event log names the
 * requested app id and instance id.
 */
import { p256 } from '@noble/curves/nist'
import { secp256k1 } from '@noble/curves/secp256k1'
import { BaseError, Collateral, ReportData, verifyQuote } from '@regent-tee/attest'
import { EnvEncryption, AppKeys as KmsAppKeys } from '@regent-tee/kms'
import * as Certificate from '../guest/Certificate.js'
import * as DevnetCollateral from '../tdx/DevnetCollateral.js'
import * as DevnetPki from '../tdx/DevnetPki.js'

/** The app keys a provider releases (dstack `AppKeyResponse`). */
export type AppKeys = {
  /** App root secp256k1 key (32 bytes): GetKey derives from it. */
  readonly k256Key: Uint8Array
  /** Root k256 signature over the app public key (65 bytes r‖s‖recid); empty for providers without a root. */
  readonly k256Signature: Uint8Array
  /** X25519 private key for encrypted env (32 bytes). */
  readonly envCryptKey: Uint8Array
  /** Disk encryption secret (32 bytes). */
  readonly diskCryptKey: Uint8Array
  /** The provider's root CA certificate (PEM). */
  readonly caCert: string
  /** The OS image hash the provider accepted (dstack logs it as `os-image-hash`). */
  readonly osImageHash?: Uint8Array | undefined
  readonly gatewayAppId?: string | undefined
}

/** What a CVM sends with a key request: its identity and the evidence for it. */
export type AppKeysRequest = {
  readonly appId: Uint8Array
  readonly instanceId: Uint8Array
  /** A quote taken at request time. */
  readonly quote: Uint8Array
  /** The event log JSON that replays the quote's RTMRs. */
  readonly eventLog: string
  /** The CVM's VmConfig JSON. */
  readonly vmConfig: string
  /**
   * A fresh quote of the requesting CVM over `reportData` (≤ 64 bytes), taken in the same boot state as `quote`
   * (RTMR3 at boot-mr-done for app keys). Providers that bind report_data to their own request (the KMS's
   * nonce and ephemeral key) use it; others use `quote`. Absent for requests not made by a booting CVM.
   */
  readonly attest?: ((reportData: Uint8Array) => { quote: Uint8Array; eventLog: string }) | undefined
}

/** A certificate signing request for GetTlsKey: the new key's SPKI, attested by a quote over it. */
export type CertificateRequest = AppKeysRequest & {
  /** SubjectPublicKeyInfo DER of the new P-256 key; the quote's report_data is SHA-512("ratls-cert:" ‖ spki). */
  readonly spki: Uint8Array
  readonly subject: string
  readonly altNames: readonly string[]
  readonly usageServerAuth: boolean
  readonly usageClientAuth: boolean
  /** Raw extension values added to the leaf (dstack OIDs). */
  readonly extensions: readonly { oid: string; value: Uint8Array }[]
  readonly notBefore: Date
  readonly notAfter: Date
}

/** A source of app keys and app certificates. */
export type KeyProvider = {
  /** Logged in RTMR3 as the `key-provider` event `{"name", "id": hex(id)}`. */
  readonly info: { readonly name: string; readonly id: Uint8Array }
  /** Releases the app keys after checking the request's attestation. */
  appKeys(request: AppKeysRequest): Promise<AppKeys>
  /** Issues `[leaf, app CA, root CA]` PEMs for an attested key. */
  signCertificate(request: CertificateRequest): Promise<string[]>
  /**
   * The app's env-encryption public key signed by the provider's root (dstack `GetAppEnvEncryptPubKey`, public: no
   * attestation). Absent for providers that publish none.
   */
  envPublicKey?(appId: Uint8Array): Promise<EnvPublicKey>
}

/** An app's env key as a KMS publishes it (dstack `PublicKeyResponse`; see @regent-tee/kms `EnvEncryption.publish`). */
export type EnvPublicKey = { publicKey: Uint8Array; signature: Uint8Array; timestamp: bigint; signatureV1: Uint8Array }

/** The local provider, with its public roots (for verifiers and tests). */
export type LocalKeyProvider = KeyProvider & {
  /** Compressed root k256 public key (33 bytes): signature chains end here. */
  readonly k256PublicKey: Uint8Array
  /** Root CA certificate PEM ("Dstack KMS CA"). */
  readonly caCert: string
}

export type CreateLocalKeyProviderOptions = {
  /** The devnet PKI whose root the provider trusts for request quotes. */
  readonly pki: DevnetPki.DevnetPki
  /** Root secp256k1 key (32 bytes). @default random */
  readonly rootK256?: Uint8Array | undefined
  /** Root CA P-256 private scalar (32 bytes). @default random */
  readonly rootCa?: Uint8Array | undefined
  /** Clock for quote verification. @default () => new Date() */
  readonly now?: (() => Date) | undefined
}

/** Name of the devnet-local provider in `key-provider` events. */
export const localProviderName = 'local-devnet'

/**
 * Creates the devnet-local key provider (see the module header: a devnet stand-in for the KMS).
 *
 * @throws {InvalidRootKeyError} when a root key is not a valid scalar of its curve.
 * @example
 * const keyProvider = createLocalKeyProvider({ pki })
 * const cvm = await createCvm({ compose, qe, keyProvider, pki })
 */
export function createLocalKeyProvider(options: CreateLocalKeyProviderOptions): LocalKeyProvider {
  const rootK256 = Uint8Array.from(options.rootK256 ?? secp256k1.utils.randomPrivateKey())
  const rootCa = Uint8Array.from(options.rootCa ?? p256.utils.randomPrivateKey())
  if (!secp256k1.utils.isValidPrivateKey(rootK256)) throw new InvalidRootKeyError({ key: 'rootK256' })
  if (!p256.utils.isValidPrivateKey(rootCa)) throw new InvalidRootKeyError({ key: 'rootCa' })
  const now = options.now ?? (() => new Date())
  const trustedRoots = [DevnetPki.trustedRoot(options.pki)]
  let collateral: Collateral.Collateral = Collateral.parse(DevnetCollateral.issue(options.pki))
  let collateralIssued = Date.now()
  const rootSpki = Certificate.spkiOf(rootCa)
  const rootName = { commonName: 'Dstack KMS CA', organization: 'Dstack' }
  const validity = { notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 10 * 365 * 86_400_000) }
  const root = Certificate.issue({ subject: rootName, issuer: rootName, spki: rootSpki, signingKey: rootCa, ca: true, ...validity })
  const appCas = new Map<string, { scalar: Uint8Array; pem: string }>()

  const check = async (request: AppKeysRequest, reportData?: Uint8Array): Promise<void> => {
    if (Date.now() - collateralIssued > 86_400_000) {
      collateral = Collateral.parse(DevnetCollateral.issue(options.pki))
      collateralIssued = Date.now()
    }
    if (request.appId.length !== 20) throw new KeyRequestRejectedError({ reason: `app id must be 20 bytes, got ${request.appId.length}` })
    const verdict = await verifyQuote(request.quote, {
      collateral,
      now: now(),
      trustedRoots,
      policy: { eventLog: request.eventLog, ...(reportData ? { expectedReportData: reportData } : {}) },
    })
    if (!verdict.ok) throw new KeyRequestRejectedError({ reason: verdict.reasons.map((r) => r.message).join(' ') })
    const app = verdict.app
    const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : '(none)')
    if (!app?.appId || hex(app.appId) !== hex(request.appId))
      throw new KeyRequestRejectedError({ reason: `the event log's app-id ${hex(app?.appId)} is not the requested ${hex(request.appId)}` })
    if (hex(app.instanceId ?? new Uint8Array(0)) !== hex(request.instanceId))
      throw new KeyRequestRejectedError({
        reason: `the event log's instance-id ${hex(app.instanceId)} is not the requested ${hex(request.instanceId)}`,
      })
  }

  const appCa = (appId: Uint8Array) => {
    const key = Buffer.from(appId).toString('hex')
    let ca = appCas.get(key)
    if (!ca) {
      const { privateKey } = KmsAppKeys.derive({ rootK256, rootCa, appId }).appCa
      const cert = Certificate.issue({
        subject: { commonName: 'Dstack App CA', organization: 'Dstack' },
        issuer: rootName,
        spki: Certificate.spkiOf(privateKey),
        signingKey: rootCa,
        ca: true,
        ...validity,
      })
      ca = { scalar: privateKey, pem: cert.pem }
      appCas.set(key, ca)
    }
    return ca
  }

  return {
    info: { name: localProviderName, id: rootSpki },
    k256PublicKey: secp256k1.getPublicKey(rootK256, true),
    caCert: root.pem,
    async appKeys(request) {
      await check(request)
      const keys = KmsAppKeys.derive({ rootK256, rootCa, appId: request.appId, instanceId: request.instanceId })
      keys.appCa.privateKey.fill(0)
      return {
        k256Key: keys.k256Key,
        k256Signature: keys.k256Signature,
        envCryptKey: keys.envCryptKey,
        diskCryptKey: keys.diskCryptKey ?? new Uint8Array(0),
        caCert: root.pem,
        osImageHash: osImageHashOf(request.vmConfig),
      }
    },
    async envPublicKey(appId) {
      if (appId.length !== 20) throw new KeyRequestRejectedError({ reason: `app id must be 20 bytes, got ${appId.length}` })
      const keys = KmsAppKeys.derive({ rootK256, rootCa, appId })
      try {
        return EnvEncryption.publish({ rootK256, appId, envCryptKey: keys.envCryptKey, now: BigInt(Math.floor(Date.now() / 1000)) })
      } finally {
        KmsAppKeys.wipe(keys)
      }
    },
    async signCertificate(request) {
      await check(request, ReportData.fromRaTlsCertificate(request.spki))
      const ca = appCa(request.appId)
      const leaf = Certificate.issue({
        subject: { commonName: request.subject },
        issuer: { commonName: 'Dstack App CA', organization: 'Dstack' },
        spki: request.spki,
        signingKey: ca.scalar,
        ca: false,
        altNames: request.altNames,
        serverAuth: request.usageServerAuth,
        clientAuth: request.usageClientAuth,
        custom: [{ oid: Certificate.oids.appId, value: request.appId }, ...request.extensions],
        notBefore: request.notBefore,
        notAfter: request.notAfter,
      })
      return [leaf.pem, ca.pem, root.pem]
    },
  }
}

/** The `os_image_hash` of a VmConfig JSON (hex), if present. */
export function osImageHashOf(vmConfig: string): Uint8Array | undefined {
  try {
    const value = (JSON.parse(vmConfig) as { os_image_hash?: unknown }).os_image_hash
    if (typeof value === 'string' && /^(?:[0-9a-f]{2})+$/i.test(value)) return new Uint8Array(Buffer.from(value, 'hex'))
  } catch {}
  return undefined
}

/** A root key passed to {@link createLocalKeyProvider} is not a valid private scalar. */
export class InvalidRootKeyError extends BaseError {
  override name = 'KeyProvider.InvalidRootKeyError'
  constructor({ key }: { key: 'rootK256' | 'rootCa' }) {
    super(`Invalid key provider root key ${key}: not a valid ${key === 'rootK256' ? 'secp256k1' : 'P-256'} private key.`)
  }
}

/** The provider refused a key or certificate request. */
export class KeyRequestRejectedError extends BaseError {
  override name = 'KeyProvider.KeyRequestRejectedError'
  constructor({ reason }: { reason: string }) {
    super(`Key request rejected: ${reason}`)
  }
}
