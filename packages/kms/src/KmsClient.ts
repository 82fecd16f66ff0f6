/**
 * HTTP client of a KMS node (docs/kms.md "HTTP API"): what a CVM's key provider uses to obtain its app keys with
 * an attested request (nonce → quote over ReleaseRequest.toReportData → POST /v1/keys → open the envelope), and
 * what a joining node uses to onboard. The caller supplies `attest(reportData)`, the quote source of its TEE.
 */

import { createHash } from 'node:crypto'
import { secp256k1 } from '@noble/curves/secp256k1'
import { BaseError } from './errors.js'
import type * as ReleaseLog from './ReleaseLog.js'
import * as ReleaseRequest from './ReleaseRequest.js'
import * as SignatureChain from './SignatureChain.js'

/** A quote over `reportData` from the caller's TEE, with the event log that replays it and its VmConfig JSON. */
export type Attest = (
  reportData: Uint8Array,
) =>
  | Promise<{ quote: Uint8Array; eventLog: string; vmConfig?: string | undefined }>
  | { quote: Uint8Array; eventLog: string; vmConfig?: string | undefined }

/** `GET /v1/info`. */
export type Info = {
  nodeId: string
  /** Compressed root k256 public key, hex. */
  k256PublicKey: string
  /** Ethereum address of the root k256 key. */
  address: string
  /** Root CA SubjectPublicKeyInfo DER, hex (dstack's key-provider id). */
  caSpki: string
  trustedRoots: { name: string; hardware: 'intel' | 'other' }[]
  chain: { chainId: number; appAuth: string }
  minTcbStatus: string
  log: { seq: number; hash: string }
  /** Requests refused before their quote verified (not logged), counted per code. */
  refused: Record<string, number>
}

/** A KMS node client. */
export type KmsClient = {
  readonly url: string
  info(): Promise<Info>
  /** `POST /v1/nonce` (or `/v1/onboard/nonce` with `purpose: 'onboard'`). */
  nonce(options?: { purpose?: ReleaseRequest.Purpose }): Promise<{ nonce: Uint8Array; expiresAt: Date }>
  /**
   * The full attested release: asks a nonce, quotes over the binding, posts the request, opens the envelope and
   * with `appId`, checks that the app key signature recovers to the answering node's root key.
   * @throws {RequestRefusedError} with the node's code; {@link ResponseError}; ReleaseRequest errors.
   */
  releaseKeys(options: {
    attest: Attest
    vmConfig?: string
    appId?: Uint8Array
  }): Promise<ReleaseRequest.AppKeysPayload & { kmsRootPublicKey: Uint8Array }>
  /** The onboarding request of a joining node: returns the 64-byte root key material (rootK256 ‖ rootCa). */
  onboard(options: { attest: Attest; vmConfig?: string }): Promise<{ rootKeys: Uint8Array; kmsRootPublicKey: Uint8Array }>
  /** `GET /v1/log`. */
  log(options?: { from?: number; limit?: number }): Promise<{ entries: ReleaseLog.Entry[]; head: { seq: number; hash: string } }>
}

/**
 * Creates a client for the node at `url` (e.g. `http://127.0.0.1:8040`).
 *
 * @example
 * const kms = createKmsClient({ url })
 * const keys = await kms.releaseKeys({ attest: (reportData) => cvm.quote({ reportData }) })
 */
export function createKmsClient(options: { url: string }): KmsClient {
  const url = options.url.replace(/\/+$/, '')
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) }),
      // A node that does not answer must not hold the caller (a CVM's boot, an onboarding) forever.
      signal: AbortSignal.timeout(30_000),
    })
    const text = await response.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new ResponseError({ status: response.status, reason: 'the body is not JSON' })
    }
    if (!response.ok) {
      const error = (json as { error?: { code?: unknown; message?: unknown } }).error
      if (typeof error?.code === 'string')
        throw new RequestRefusedError({ status: response.status, code: error.code, message: String(error.message ?? '') })
      throw new ResponseError({ status: response.status, reason: 'no error object' })
    }
    return json
  }

  const attested = async (purpose: ReleaseRequest.Purpose, o: { attest: Attest; vmConfig?: string | undefined }) => {
    const { nonce } = await client.nonce({ purpose })
    const keyPair = ReleaseRequest.createKeyPair()
    try {
      const reportData = ReleaseRequest.toReportData({ purpose, ephemeralPublicKey: keyPair.publicKey, nonce })
      const evidence = await o.attest(reportData)
      const request: ReleaseRequest.Request = {
        quote: evidence.quote,
        eventLog: evidence.eventLog,
        ephemeralPublicKey: keyPair.publicKey,
        nonce,
        vmConfig: o.vmConfig ?? evidence.vmConfig ?? '',
      }
      const response = (await call('POST', purpose === 'keys' ? '/v1/keys' : '/v1/onboard', ReleaseRequest.serialize(request))) as {
        kmsRootPublicKey?: unknown
        envelope?: { responderPublicKey?: unknown; iv?: unknown; ciphertext?: unknown }
      }
      const kmsRootPublicKey = ReleaseRequest.fromHex(response.kmsRootPublicKey, 'kmsRootPublicKey')
      const envelope = {
        responderPublicKey: ReleaseRequest.fromHex(response.envelope?.responderPublicKey, 'envelope.responderPublicKey'),
        iv: ReleaseRequest.fromHex(response.envelope?.iv, 'envelope.iv'),
        ciphertext: ReleaseRequest.fromHex(response.envelope?.ciphertext, 'envelope.ciphertext'),
      }
      const plaintext = ReleaseRequest.open({
        envelope,
        privateKey: keyPair.privateKey,
        transcript: {
          purpose,
          quoteHash: new Uint8Array(createHash('sha256').update(request.quote).digest()),
          requesterPublicKey: keyPair.publicKey,
          nonce,
          kmsRootPublicKey,
        },
      })
      return { plaintext, kmsRootPublicKey }
    } finally {
      keyPair.privateKey.fill(0)
    }
  }

  const client: KmsClient = {
    url,
    async info() {
      return (await call('GET', '/v1/info')) as Info
    },
    async nonce(o = {}) {
      const response = (await call('POST', o.purpose === 'onboard' ? '/v1/onboard/nonce' : '/v1/nonce', {})) as {
        nonce?: unknown
        expiresAt?: unknown
      }
      return { nonce: ReleaseRequest.fromHex(response.nonce, 'nonce'), expiresAt: new Date(String(response.expiresAt)) }
    },
    async releaseKeys(o) {
      const { plaintext, kmsRootPublicKey } = await attested('keys', o)
      try {
        const keys = ReleaseRequest.parseAppKeys(plaintext)
        // The released app key must be signed by the answering node's root (dstack chain[1]).
        if (o.appId !== undefined)
          assertIssuedBy({ appId: o.appId, k256Key: keys.k256Key, k256Signature: keys.k256Signature, kmsRootPublicKey })
        return { ...keys, kmsRootPublicKey }
      } finally {
        plaintext.fill(0)
      }
    },
    async onboard(o) {
      const { plaintext, kmsRootPublicKey } = await attested('onboard', o)
      if (plaintext.length !== 64 || secp256k1.getPublicKey(plaintext.subarray(0, 32), true).some((b, i) => b !== kmsRootPublicKey[i])) {
        plaintext.fill(0)
        throw new ResponseError({ status: 200, reason: 'the onboarded root key is not the answering node’s root key' })
      }
      return { rootKeys: plaintext, kmsRootPublicKey }
    },
    async log(o = {}) {
      const q = new URLSearchParams()
      if (o.from !== undefined) q.set('from', String(o.from))
      if (o.limit !== undefined) q.set('limit', String(o.limit))
      return (await call('GET', `/v1/log${q.size ? `?${q}` : ''}`)) as { entries: ReleaseLog.Entry[]; head: { seq: number; hash: string } }
    },
  }
  return client
}

/**
 * Checks that `k256Signature` over (appId, app public key of `k256Key`) recovers to `kmsRootPublicKey`.
 *
 * @throws {SignatureChain.KmsRootMismatchError} / {SignatureChain.InvalidSignatureError} when it does not.
 * @example
 * KmsClient.assertIssuedBy({ appId, k256Key, k256Signature, kmsRootPublicKey })
 */
export function assertIssuedBy(options: {
  appId: Uint8Array
  k256Key: Uint8Array
  k256Signature: Uint8Array
  kmsRootPublicKey: Uint8Array
}): void {
  const appPublicKey = secp256k1.getPublicKey(options.k256Key, true)
  const recovered = SignatureChain.recover({
    hash: SignatureChain.kmsIssuedHash({ appId: options.appId, appPublicKey }),
    signature: options.k256Signature,
    name: 'k256Signature',
  })
  const expected = SignatureChain.toCompressed(options.kmsRootPublicKey, 'kmsRootPublicKey')
  if (recovered.length !== expected.length || recovered.some((b, i) => b !== expected[i]))
    throw new ResponseError({ status: 200, reason: 'the released app key is not signed by the answering node’s root key' })
}

/** The node refused the request (`{ error: { code, message } }`). */
export class RequestRefusedError extends BaseError {
  override name = 'KmsClient.RequestRefusedError'
  readonly status: number
  override readonly code: string
  constructor({ status, code, message }: { status: number; code: string; message: string }) {
    super(`KMS refused the request (${status} ${code}): ${message}`)
    this.status = status
    this.code = code
  }
}

/** The node's answer is not what the API promises. */
export class ResponseError extends BaseError {
  override name = 'KmsClient.ResponseError'
  constructor({ status, reason }: { status: number; reason: string }) {
    super(`Unexpected KMS response (HTTP ${status}): ${reason}.`)
  }
}
