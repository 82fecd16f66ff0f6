/**
 * The stand-in for Phala Cloud's central ("PHALA") KMS (docs/targets/phala.md "Central KMS"): a dstack-compatible KMS
 * whose boot policy is Phala's own — it releases an app's keys to a CVM whose quote verifies (devnet root, full DCAP
 * path) and whose replayed event log names an app id and a compose hash the cloud has committed for that app. Nothing
 * on-chain is consulted: that is what "boot gating is Phala's" means. Key derivation is dstack's (@regent-tee/kms
 * AppKeys), from roots derived from the devnet's hardware seed, so the app keys, the env key and its signature chain
 * to `k256PublicKey` are stable across devnet restarts.
 */
import { p256 } from '@noble/curves/p256'
import { secp256k1 } from '@noble/curves/secp256k1'
import { Collateral, verifyQuote } from '@regent-tee/attest'
import { AppKeys, EnvEncryption, Kdf } from '@regent-tee/kms'
import { createLocalKeyProvider, type KeyProvider, KeyRequestRejectedError } from '../cvm/KeyProvider.js'
import * as DevnetCollateral from '../tdx/DevnetCollateral.js'
import * as DevnetPki from '../tdx/DevnetPki.js'

/** The central KMS: a key provider for devnet CVMs, and what the API publishes about it. */
export type CentralKms = {
  readonly provider: KeyProvider
  /** Compressed root k256 public key (33 bytes): `kms_info.k256_pubkey`; app keys' signature chains end here. */
  readonly k256PublicKey: Uint8Array
  /** The app's X25519 env public key and the root's legacy signature over it (`GET /kms/{kms}/pubkey/{app_id}`). */
  envPublicKey(appId: Uint8Array): { publicKey: Uint8Array; signature: Uint8Array }
}

/**
 * Creates the central KMS. `allowed(appId, composeHash)` (lowercase hex, no 0x) is the cloud's boot policy.
 *
 * @example
 * const kms = createCentralKms({ seed, pki, allowed: (app, hash) => cloud.committed(app, hash) })
 */
export function createCentralKms(options: {
  seed: Uint8Array
  pki: DevnetPki.DevnetPki
  allowed: (appId: string, composeHash: string) => boolean
}): CentralKms {
  const derive = (label: string, valid: (k: Uint8Array) => boolean) => {
    for (let i = 0; ; i++) {
      const k = Kdf.deriveKey({ ikm: options.seed, context: [`regent-devnet/v1/phala-central-kms/${label}`, String(i)] })
      if (valid(k)) return k
    }
  }
  const rootK256 = derive('k256', (k) => secp256k1.utils.isValidPrivateKey(k))
  const rootCa = derive('ca', (k) => p256.utils.isValidPrivateKey(k))
  const local = createLocalKeyProvider({ pki: options.pki, rootK256, rootCa })
  const trustedRoots = [DevnetPki.trustedRoot(options.pki)]
  const collateral = Collateral.parse(DevnetCollateral.issue(options.pki))
  const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : '')

  const provider: KeyProvider = {
    info: { name: 'kms', id: local.info.id },
    async appKeys(request) {
      const verdict = await verifyQuote(request.quote, {
        collateral,
        now: new Date(),
        trustedRoots,
        policy: { eventLog: request.eventLog },
      })
      if (!verdict.ok) throw new KeyRequestRejectedError({ reason: verdict.reasons.map((r) => r.message).join(' ') })
      const appId = hex(verdict.app?.appId)
      const composeHash = hex(verdict.app?.composeHash)
      if (!options.allowed(appId, composeHash))
        throw new KeyRequestRejectedError({ reason: `compose hash ${composeHash} is not deployed for app ${appId} on this cloud` })
      return local.appKeys(request)
    },
    signCertificate: (request) => local.signCertificate(request),
  }
  return {
    provider,
    k256PublicKey: local.k256PublicKey,
    envPublicKey(appId) {
      const keys = AppKeys.derive({ rootK256, rootCa, appId })
      try {
        const publicKey = EnvEncryption.toPublicKey({ envCryptKey: keys.envCryptKey })
        return { publicKey, signature: EnvEncryption.signPublicKey({ rootK256, appId, publicKey }) }
      } finally {
        AppKeys.wipe(keys)
      }
    },
  }
}
