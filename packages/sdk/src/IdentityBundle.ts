/**
 * The identity bundle (DESIGN.md §7; docs/protocol.md "Identity bundle"): who the agent is, signed by K_agent
 * and carrying a fresh sign-and-attest attestation over its body. Canonical JSON (CanonicalJson), versioned
 * `regent.identity/v1`. ERC-8004 global id = CAIP-10-style registry (`eip155:<chainId>:<identityRegistry>`) + agentId.
 *
 *   body       = every field except `attestation` and `signature`
 *   attestation = signAndAttest(purpose "regent.identity/v1", payload = canonical(body), stateRoot, epoch)
 *   signature  = EIP-191 personal_sign by the wallet over the 32 raw bytes
 *                SHA-256("regent.identity/v1" ‖ 0x00 ‖ canonical(bundle without `signature`))
 */
import { sha256 } from '@noble/hashes/sha2'
import { getAddress, type LocalAccount, recoverMessageAddress } from 'viem'
import { info } from './actions/info.js'
import * as CanonicalJson from './CanonicalJson.js'
import type { BaseTeeClient } from './createTeeClient.js'
import type { BaseError } from './errors.js'
import { concat, type Hex, toHex, utf8 } from './internal/bytes.js'
import { type DerivedKey, type Provenance, verifyProvenance } from './Keys.js'
import {
  attestationFromJson,
  attestationToJson,
  type Reason,
  type SignedAttestationJson,
  type SignedAttestationVerdict,
  signAndAttest,
  type VerifySignedAttestationParameters,
  verifySignedAttestation,
} from './signAndAttest.js'

/** Bundle format tag and attestation purpose. Permanent. */
export const bundleVersion = 'regent.identity/v1'

export type IdentityBundle = {
  readonly version: typeof bundleVersion
  /** `eip155:<chainId>:<identityRegistry address, lowercase>`. */
  readonly agentRegistry: string
  /** ERC-8004 agentId, decimal. */
  readonly agentId: string
  /** K_agent, lowercase `0x` address. */
  readonly wallet: Hex
  readonly appId: Hex
  readonly instanceId: Hex
  readonly composeHash: Hex
  readonly osImageHash: Hex
  readonly stateRoot: Hex
  /** Sequence number of stateRoot, decimal. */
  readonly stateSeq: string
  /** Canonical epoch (RegentSuccession), decimal. */
  readonly epoch: string
  /** Unix seconds, decimal. */
  readonly issuedAt: string
  /**
   * The wallet key's KMS signature chain, or null when the key was not derived by a KMS for this app (a key imported
   * by an option-A uplift): the verifier then reports `provenance.none` and the score gives no KMS points.
   */
  readonly keyProvenance: Provenance | null
  readonly attestation: SignedAttestationJson
  readonly signature: Hex
}

export type CreateIdentityBundleParameters = {
  /**
   * The wallet from `deriveWallet`: its provenance goes into the bundle when it is `account`'s key. Undefined, or
   * another key (an imported agent key), gives `keyProvenance: null`.
   */
  readonly wallet: DerivedKey | undefined
  /** K_agent: signs the bundle; its address is the bundle's wallet. */
  readonly account: LocalAccount
  readonly chainId: number
  readonly identityRegistry: Hex
  readonly agentId: bigint | number
  readonly stateRoot: Hex
  readonly stateSeq: bigint | number
  readonly epoch: bigint | number
  /** The verifier's nonce. */
  readonly nonce: Uint8Array | Hex
  /** @default now */
  readonly issuedAt?: Date
}

const lower = (h: Uint8Array): Hex => toHex(h)

/** The canonical JSON text of a bundle (what is stored and served). */
export function serializeIdentityBundle(bundle: IdentityBundle): string {
  return CanonicalJson.stringify(bundle)
}

/** The body the attestation's payload commits to. */
export function identityBundleBody(bundle: Omit<IdentityBundle, 'attestation' | 'signature'> | IdentityBundle): Uint8Array {
  const { attestation: _a, signature: _s, ...rest } = bundle as IdentityBundle
  return utf8(CanonicalJson.stringify(rest))
}

/** The 32 bytes the wallet signs (EIP-191). */
export function identityBundleSigningHash(bundle: Omit<IdentityBundle, 'signature'> | IdentityBundle): Uint8Array {
  const { signature: _s, ...rest } = bundle as IdentityBundle
  return sha256(concat([utf8(bundleVersion), Uint8Array.of(0), utf8(CanonicalJson.stringify(rest))]))
}

/**
 * Builds, attests and signs the identity bundle.
 *
 * @throws GuestAgentError / TransportError from the agent.
 * @example
 * const bundle = await createIdentityBundle(client, { wallet, account, chainId, identityRegistry, agentId: 1n, stateRoot, stateSeq: 0n, epoch: 1n, nonce })
 */
export async function createIdentityBundle(client: BaseTeeClient, parameters: CreateIdentityBundleParameters): Promise<IdentityBundle> {
  const app = await info(client)
  const unsigned = {
    version: bundleVersion,
    agentRegistry: `eip155:${parameters.chainId}:${parameters.identityRegistry.toLowerCase()}`,
    agentId: BigInt(parameters.agentId).toString(),
    wallet: parameters.account.address.toLowerCase() as Hex,
    appId: lower(app.appId),
    instanceId: lower(app.instanceId),
    composeHash: lower(app.composeHash),
    osImageHash: lower(app.osImageHash),
    stateRoot: parameters.stateRoot.toLowerCase() as Hex,
    stateSeq: BigInt(parameters.stateSeq).toString(),
    epoch: BigInt(parameters.epoch).toString(),
    issuedAt: Math.floor((parameters.issuedAt ?? new Date()).getTime() / 1000).toString(),
    keyProvenance:
      parameters.wallet !== undefined && parameters.wallet.address.toLowerCase() === parameters.account.address.toLowerCase()
        ? parameters.wallet.provenance
        : null,
  } as const
  const attestation = await signAndAttest(client, {
    account: parameters.account,
    payload: identityBundleBody(unsigned),
    nonce: parameters.nonce,
    purpose: bundleVersion,
    stateRoot: unsigned.stateRoot,
    epoch: BigInt(parameters.epoch),
  })
  const withAttestation = { ...unsigned, attestation: attestationToJson(attestation) }
  const signature = await parameters.account.signMessage({ message: { raw: identityBundleSigningHash(withAttestation) } })
  return { ...withAttestation, signature }
}

export type VerifyIdentityBundlePolicy = Omit<VerifySignedAttestationParameters, 'attestation' | 'payload' | 'expected'> & {
  /** Trusted KMS root k256 public key; without it the chain is only checked for consistency. */
  readonly kmsRootPublicKey?: Uint8Array | Hex
  readonly expected?: {
    readonly agentRegistry?: string
    readonly agentId?: bigint | number
    readonly wallet?: Hex
    readonly stateRoot?: Hex
    readonly epoch?: bigint | number
  }
  /** Maximum bundle age at `now`. */
  readonly maxAgeSeconds?: number
}

export type IdentityBundleVerdict = {
  readonly ok: boolean
  readonly reasons: readonly Reason[]
  readonly attestation: SignedAttestationVerdict | undefined
  readonly kmsRootPublicKey: Hex | undefined
}

/**
 * Verifies every claim of a bundle. Never throws for bad bundles. Codes: `bundle.format`, `bundle.signature`,
 * `bundle.app_id` / `bundle.compose_hash` / `bundle.instance_id` / `bundle.os_image_hash` (vs the attested event
 * log), `bundle.expected` (a field differs from the verifier's expectation), `bundle.stale`, `provenance.*`, and
 * every reason of {@link verifySignedAttestation}.
 *
 * @example
 * const verdict = await verifyIdentityBundle(bundle, { nonce, collateral, trustedRoots, now: new Date(), kmsRootPublicKey })
 */
export async function verifyIdentityBundle(bundle: IdentityBundle, policy: VerifyIdentityBundlePolicy): Promise<IdentityBundleVerdict> {
  const reasons: Reason[] = []
  const add = (code: string, message: string) => reasons.push({ code, message })
  const fail = (message: string): IdentityBundleVerdict => {
    add('bundle.format', message)
    return { ok: false, reasons, attestation: undefined, kmsRootPublicKey: undefined }
  }
  if (typeof bundle !== 'object' || bundle === null || bundle.version !== bundleVersion) return fail(`Not a ${bundleVersion} bundle.`)
  const hexFields = ['wallet', 'appId', 'instanceId', 'composeHash', 'osImageHash', 'stateRoot', 'signature'] as const
  for (const f of hexFields)
    if (typeof bundle[f] !== 'string' || !/^0x[0-9a-f]*$/.test(bundle[f])) return fail(`Field ${f} is not lowercase 0x hex.`)
  for (const f of ['agentId', 'stateSeq', 'epoch', 'issuedAt'] as const)
    if (typeof bundle[f] !== 'string' || !/^(0|[1-9][0-9]*)$/.test(bundle[f])) return fail(`Field ${f} is not a decimal string.`)
  if (typeof bundle.agentRegistry !== 'string' || !/^eip155:[1-9][0-9]*:0x[0-9a-f]{40}$/.test(bundle.agentRegistry))
    return fail('agentRegistry is not eip155:<chainId>:<lowercase address>.')
  let attestation: ReturnType<typeof attestationFromJson>
  try {
    CanonicalJson.stringify(bundle)
    attestation = attestationFromJson(bundle.attestation)
  } catch (error) {
    return fail((error as BaseError).shortMessage ?? String(error))
  }

  // (a) the wallet signed exactly this bundle.
  try {
    const signer = await recoverMessageAddress({ message: { raw: identityBundleSigningHash(bundle) }, signature: bundle.signature })
    if (signer.toLowerCase() !== bundle.wallet) add('bundle.signature', 'The bundle signature is not by the bundle wallet.')
  } catch {
    add('bundle.signature', 'The bundle signature does not recover.')
  }
  // Key provenance: the wallet's key comes from this app's KMS-derived key.
  const provenance =
    bundle.keyProvenance === null
      ? {
          kmsRootPublicKey: undefined,
          reasons: [{ code: 'provenance.none', message: 'The wallet key has no KMS provenance (an imported key).' }],
        }
      : verifyProvenance({
          provenance: bundle.keyProvenance,
          address: getAddress(bundle.wallet),
          appId: bundle.appId,
          ...(policy.kmsRootPublicKey !== undefined ? { kmsRootPublicKey: policy.kmsRootPublicKey } : {}),
        })
  reasons.push(...provenance.reasons)
  // The attestation: quote, RTMR3, measurements, binding, nonce, and that it covers this bundle's body.
  const { kmsRootPublicKey: _k, expected, maxAgeSeconds, ...attestationPolicy } = policy
  const verdict = await verifySignedAttestation({
    ...attestationPolicy,
    attestation,
    payload: identityBundleBody(bundle),
    expected: { signer: getAddress(bundle.wallet), stateRoot: bundle.stateRoot, epoch: BigInt(bundle.epoch), purpose: bundleVersion },
  })
  reasons.push(...verdict.reasons)
  // The bundle's measurement claims against the replayed, attested event log.
  const app = verdict.quote?.app
  const claims = [
    ['bundle.app_id', 'appId', app?.appId],
    ['bundle.compose_hash', 'composeHash', app?.composeHash],
    ['bundle.instance_id', 'instanceId', app?.instanceId],
    ['bundle.os_image_hash', 'osImageHash', app?.osImageHash],
  ] as const
  for (const [code, field, attested] of claims)
    if (toHex(attested ?? new Uint8Array()) !== bundle[field]) add(code, `The bundle's ${field} is not the attested one.`)
  // What this verifier expects.
  const e = expected ?? {}
  const mismatch = (name: string, ok: boolean) => ok || add('bundle.expected', `The bundle's ${name} is not the expected one.`)
  if (e.agentRegistry !== undefined) mismatch('agentRegistry', e.agentRegistry.toLowerCase() === bundle.agentRegistry)
  if (e.agentId !== undefined) mismatch('agentId', BigInt(e.agentId).toString() === bundle.agentId)
  if (e.wallet !== undefined) mismatch('wallet', e.wallet.toLowerCase() === bundle.wallet)
  if (e.stateRoot !== undefined) mismatch('stateRoot', e.stateRoot.toLowerCase() === bundle.stateRoot)
  if (e.epoch !== undefined) mismatch('epoch', BigInt(e.epoch).toString() === bundle.epoch)
  if (maxAgeSeconds !== undefined && policy.now.getTime() / 1000 - Number(bundle.issuedAt) > maxAgeSeconds)
    add('bundle.stale', `The bundle is older than ${maxAgeSeconds} s.`)
  return { ok: reasons.length === 0, reasons, attestation: verdict, kmsRootPublicKey: provenance.kmsRootPublicKey }
}
