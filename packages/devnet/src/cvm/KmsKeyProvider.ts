/**
 * A devnet {@link KeyProvider} backed by a running @regent-tee/kms node over HTTP: a booting CVM obtains its app keys
 * the way dstack OS does from its KMS (reference/dstack.md §5.2), with Regent's attested request instead of
 * RA-TLS (docs/kms.md): nonce from the node → a quote of the CVM over
 * SHA-512("regent-kms-key-request/v1" ‖ 0x00 ‖ ephemeral X25519 key ‖ nonce), taken at boot-mr-done through the
 * request's `attest` callback → POST /v1/keys → the envelope opened with the ephemeral key, and the app key's
 * signature checked to recover to the node's root key.
 *
 * The `key-provider` RTMR3 event names it `{"name":"kms","id":hex(root CA SPKI DER)}`, as dstack's KMS mode.
 * TLS certificates (dstack `KMS.SignCert`) are not served by the KMS node yet: `certificates` issues them.
 */
import { BaseError } from '@regent-tee/attest'
import { createKmsClient, KmsClient } from '@regent-tee/kms'
import { type AppKeys, type KeyProvider, KeyRequestRejectedError } from './KeyProvider.js'

/** Name of the KMS provider in `key-provider` events (dstack's). */
export const kmsProviderName = 'kms'

export type CreateKmsKeyProviderOptions = {
  /** Base URL of a KMS node, e.g. `http://127.0.0.1:8040`. */
  readonly url: string
  /** Issues TLS certificates for GetTlsKey (e.g. the local provider's `signCertificate`). */
  readonly certificates: Pick<KeyProvider, 'signCertificate'>
}

/** The KMS provider, with the node's public root. */
export type KmsKeyProvider = KeyProvider & {
  readonly url: string
  /** Compressed root k256 public key (33 bytes) of the node: GetKey signature chains end here. */
  readonly k256PublicKey: Uint8Array
}

/**
 * Connects to the node (GET /v1/info) and returns the provider.
 *
 * @throws {KmsKeyProviderError} when the node cannot be reached or its info is malformed.
 * @example
 * const keyProvider = await createKmsKeyProvider({ url: node.url, certificates: createLocalKeyProvider({ pki }) })
 * const cvm = await createCvm({ compose, qe, keyProvider })
 */
export async function createKmsKeyProvider(options: CreateKmsKeyProviderOptions): Promise<KmsKeyProvider> {
  const client = createKmsClient({ url: options.url })
  let info: KmsClient.Info
  try {
    info = await client.info()
  } catch (cause) {
    throw new KmsKeyProviderError({ reason: `cannot read ${options.url}/v1/info`, cause })
  }
  const bytes = (text: unknown, field: string) => {
    if (typeof text !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(text))
      throw new KmsKeyProviderError({ reason: `/v1/info ${field} is not hex` })
    return new Uint8Array(Buffer.from(text, 'hex'))
  }
  const k256PublicKey = bytes(info.k256PublicKey, 'k256PublicKey')
  const caSpki = bytes(info.caSpki, 'caSpki')
  return {
    info: { name: kmsProviderName, id: caSpki },
    url: client.url,
    k256PublicKey,
    async appKeys(request): Promise<AppKeys> {
      const attest = request.attest
      if (!attest)
        throw new KeyRequestRejectedError({ reason: 'the KMS binds its nonce in report_data; the request carries no attest callback' })
      let keys: Awaited<ReturnType<typeof client.releaseKeys>>
      try {
        keys = await client.releaseKeys({ attest, vmConfig: request.vmConfig, appId: request.appId })
      } catch (cause) {
        if (cause instanceof KmsClient.RequestRefusedError)
          throw new KeyRequestRejectedError({ reason: `the KMS refused (${cause.code}): ${cause.shortMessage}` })
        throw cause
      }
      if (Buffer.compare(Buffer.from(keys.kmsRootPublicKey), Buffer.from(k256PublicKey)) !== 0)
        throw new KeyRequestRejectedError({ reason: 'the answering KMS root is not the one this provider was created for' })
      return {
        k256Key: keys.k256Key,
        k256Signature: keys.k256Signature,
        envCryptKey: keys.envCryptKey,
        diskCryptKey: keys.diskCryptKey,
        caCert: keys.caCert,
        osImageHash: keys.osImageHash,
      }
    },
    signCertificate: (request) => options.certificates.signCertificate(request),
    async envPublicKey(appId) {
      const res = await fetch(`${client.url}/v1/app-env-key?app_id=${Buffer.from(appId).toString('hex')}`, {
        signal: AbortSignal.timeout(30_000),
      })
      const body = (await res.json().catch(() => ({}))) as Record<string, unknown>
      if (!res.ok) throw new KmsKeyProviderError({ reason: `GET /v1/app-env-key answered HTTP ${res.status}` })
      const hex = (field: string) => {
        const v = body[field]
        if (typeof v !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(v))
          throw new KmsKeyProviderError({ reason: `/v1/app-env-key ${field} is not hex` })
        return new Uint8Array(Buffer.from(v, 'hex'))
      }
      if (typeof body.timestamp !== 'number') throw new KmsKeyProviderError({ reason: '/v1/app-env-key timestamp is not a number' })
      return {
        publicKey: hex('public_key'),
        signature: hex('signature'),
        timestamp: BigInt(body.timestamp),
        signatureV1: hex('signature_v1'),
      }
    },
  }
}

/** The KMS node cannot be used as a key provider. */
export class KmsKeyProviderError extends BaseError {
  override name = 'KmsKeyProvider.KmsKeyProviderError'
  constructor({ reason, cause }: { reason: string; cause?: unknown }) {
    super(`KMS key provider: ${reason}.`, cause === undefined ? {} : { cause })
  }
}
