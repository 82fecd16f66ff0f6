/**
 * What an outside verifier does against an agent's public endpoint (DESIGN.md §7 "Identity function", §8;
 * docs/protocol.md "Identity endpoint"): pick a fresh nonce, `GET <url>/identity?nonce=<0x hex>`, verify the
 * identity bundle (quote, RTMR3 replay, binding, nonce, wallet signature, KMS key provenance), ask RegentAppAuth
 * whether the attested compose hash is approved for the agent's app and whether the quote's MRTD/RTMR0–2 are those of
 * an OS image approved for it (OsImage: the bundle's `osImageHash` is only a claim), read RegentSuccession (canonical signer,
 * epoch, latest state root), and turn only verified facts into {@link InstanceFacts} for `evaluateInstance`.
 */
import { randomBytes } from 'node:crypto'
import { secp256k1 } from '@noble/curves/secp256k1'
import { regentAppAuthAbi } from '@regent-tee/contracts'
import { type Address, type Client, getAddress } from 'viem'
import { publicKeyToAddress } from 'viem/accounts'
import { getChainId, readContract } from 'viem/actions'
import { readCanonical } from './chain/readCanonical.js'
import { agentRegistryOf } from './chain/registerAgent.js'
import type { RegentContracts } from './chain/transact.js'
import { type IdentityBundle, type VerifyIdentityBundlePolicy, verifyIdentityBundle } from './IdentityBundle.js'
import { type Evaluation, evaluateInstance, type InstanceFacts, type TcbStatus } from './IdentityFunction.js'
import { type Hex, toHex } from './internal/bytes.js'
import { verifyOsImage } from './OsImage.js'
import type { Reason } from './signAndAttest.js'

export type VerifyInstanceParameters = {
  /**
   * The agent's public base URL (the verifier GETs `<url>/identity?nonce=…`). Omitted with `agentId` given: the
   * canonical instance's host as RegentSuccession names it now (after an uplift or a failover, the new one).
   */
  readonly url?: string
  /** Instead of (or with) `url`: how to fetch the bundle for a nonce (tests, other transports). Default: HTTP GET on `url`. */
  readonly fetch?: (nonce: Hex) => Promise<unknown>
  /**
   * The nonce the bundle must carry. Default: a fresh random one (what proves freshness). Pass one only to
   * re-check a saved bundle against the nonce it was made for — that proves nothing about freshness.
   */
  readonly nonce?: Hex
  /** The agent the verifier asks about; default the bundle's own agentId. */
  readonly agentId?: bigint
  readonly contracts: Pick<RegentContracts, 'identityRegistry' | 'appAuth' | 'succession'>
  /** A PublicClient (or any viem client) on the chain of `contracts`. */
  readonly client: Client
  readonly collateral: VerifyIdentityBundlePolicy['collateral']
  readonly trustedRoots?: VerifyIdentityBundlePolicy['trustedRoots']
  readonly now: Date
  /** A KMS root the verifier trusts; without it the root the key chain ends at must be allowed on-chain (`isKmsRootAllowed`). */
  readonly kmsRootPublicKey?: Uint8Array | Hex
  /** A label for the report (default `url`). */
  readonly id?: string
}

export type VerifyInstanceReturnType = {
  readonly facts: InstanceFacts
  readonly evaluation: Evaluation
  /** The bundle the instance served (undefined when it served none). */
  readonly bundle: IdentityBundle | undefined
  /** Every reason a check failed: the bundle verifier's codes and `instance.*` (see docs/protocol.md). */
  readonly reasons: readonly Reason[]
  /** The nonce this verifier issued. */
  readonly nonce: Hex
}

/** Nonce length the verifier picks, in bytes. */
export const verifierNonceLength = 32

/** The reason codes that make the attestation itself unverified (as opposed to a wrong claim about the agent). */
const attestationBroken = new Set([
  'bundle.format',
  'attestation.format',
  'attestation.binding',
  'policy.event_log',
  'bundle.app_id',
  'bundle.compose_hash',
  'bundle.instance_id',
  'bundle.os_image_hash',
])
/** The reason codes that break (a): a signature by the agent key over this verifier's nonce. */
const keyBroken = new Set([
  'bundle.format',
  'bundle.signature',
  'attestation.format',
  'attestation.signature',
  'attestation.signer',
  'attestation.nonce',
])

/**
 * Verifies one instance from the outside and evaluates it with the identity function. Never throws for a bad
 * instance (an unreachable endpoint or a malformed answer is an `instance.fetch` reason); on-chain read errors
 * of the verifier's own client propagate.
 *
 * Codes added here: `instance.fetch`, `instance.not_canonical`, `instance.stale_state`, `instance.kms_root` (key chain root not
 * allowed on-chain), `os_image.measurement` (the quote's MRTD/RTMR0–2 are not an approved, active OS image's, or the bundle
 * names another image).
 *
 * @example
 * const { evaluation, reasons } = await verifyInstance({ url: 'https://agent.example', contracts, client, collateral, trustedRoots, now: new Date() })
 * if (evaluation.isAgent) console.log(evaluation.score)
 */
export async function verifyInstance(parameters: VerifyInstanceParameters): Promise<VerifyInstanceReturnType> {
  const nonce = parameters.nonce ?? toHex(randomBytes(verifierNonceLength))
  // Without a URL, the instance to ask is the one the chain names canonical (docs/failover.md "Clients follow").
  const url =
    parameters.url ??
    (parameters.fetch === undefined && parameters.agentId !== undefined
      ? (await readCanonical(parameters.client, { contracts: parameters.contracts, agentId: parameters.agentId })).instance.host
      : undefined)
  const id = parameters.id ?? url ?? 'instance'
  const reasons: Reason[] = []
  const add = (code: string, message: string) => reasons.push({ code, message })

  let bundle: IdentityBundle | undefined
  try {
    const answer = await (parameters.fetch ?? fetchOver(url))(nonce)
    if (typeof answer !== 'object' || answer === null) throw new Error('the answer is not a JSON object')
    bundle = answer as IdentityBundle
  } catch (error) {
    add('instance.fetch', `No identity bundle: ${(error as Error).message}`)
  }
  const agentId = parameters.agentId ?? (bundle && /^(0|[1-9][0-9]*)$/.test(String(bundle.agentId)) ? BigInt(bundle.agentId) : undefined)
  const chainId = await getChainId(parameters.client)
  const onChain = agentId === undefined ? undefined : await readCanonical(parameters.client, { contracts: parameters.contracts, agentId })
  const none = (): VerifyInstanceReturnType => {
    const facts = emptyFacts(id, onChain?.stateRoot)
    return { facts, evaluation: evaluateInstance(facts), bundle, reasons, nonce }
  }
  if (!bundle || !onChain || agentId === undefined) {
    if (bundle && agentId === undefined) add('bundle.format', 'The bundle has no decimal agentId.')
    return none()
  }

  // (c) on-chain: the compose hash the quote's RTMR3 replay reports, approved for the agent's enrolled app.
  let approved = false
  const appId = onChain.appId
  const verdict = await verifyIdentityBundle(bundle, {
    nonce,
    collateral: parameters.collateral,
    ...(parameters.trustedRoots ? { trustedRoots: parameters.trustedRoots } : {}),
    now: parameters.now,
    ...(parameters.kmsRootPublicKey !== undefined ? { kmsRootPublicKey: parameters.kmsRootPublicKey } : {}),
    expected: { agentRegistry: agentRegistryOf({ chainId, identityRegistry: parameters.contracts.identityRegistry }), agentId },
    policy: {
      approvedMeasurements: async (query) => {
        if (query.appId === undefined || query.composeHash === undefined) return 'The attested event log names no app id or compose hash.'
        if (`0x${query.appId}` !== appId.toLowerCase())
          return `The attested app id 0x${query.appId} is not agent ${agentId}'s app ${appId}.`
        approved = await readContract(parameters.client, {
          address: parameters.contracts.appAuth,
          abi: regentAppAuthAbi,
          functionName: 'isComposeHashApproved',
          args: [appId, `0x${query.composeHash}`],
        })
        return approved || `Compose hash 0x${query.composeHash} is not approved and active for app ${appId} in RegentAppAuth.`
      },
    },
  })
  reasons.push(...verdict.reasons)

  // (c) the OS image: the quote's own MRTD/RTMR0–2 against the app's approved images; what the bundle names is a claim.
  const verifiedQuote = verdict.attestation?.quote
  let imageApproved = false
  if (verifiedQuote?.verified && verifiedQuote.measurements && 'mrTd' in verifiedQuote.measurements) {
    const image = await verifyOsImage(parameters.client, {
      appAuth: parameters.contracts.appAuth,
      appId,
      measurements: verifiedQuote.measurements,
      claimed: typeof bundle.osImageHash === 'string' ? bundle.osImageHash : undefined,
    })
    imageApproved = image.ok
    if (!image.ok) reasons.push(image.reason)
  }

  // KMS provenance: the key chain verified, ending at a trusted root or at one the app allows on-chain.
  const provenanceOk = !verdict.reasons.some((r) => r.code.startsWith('provenance.'))
  let kmsOk = provenanceOk && parameters.kmsRootPublicKey !== undefined
  if (provenanceOk && parameters.kmsRootPublicKey === undefined && verdict.kmsRootPublicKey !== undefined) {
    const root = kmsRootAddress(verdict.kmsRootPublicKey)
    kmsOk = await readContract(parameters.client, {
      address: parameters.contracts.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'isKmsRootAllowed',
      args: [appId, root],
    })
    if (!kmsOk) add('instance.kms_root', `The key chain ends at KMS root ${root}, which app ${appId} does not allow.`)
  }

  // (d) canonical: the bundle's wallet is the canonical signer of the epoch that is current now.
  const canonical =
    onChain.epoch !== 0n &&
    onChain.instance.signer.toLowerCase() === String(bundle.wallet).toLowerCase() &&
    String(bundle.epoch) === onChain.epoch.toString()
  if (!canonical)
    add(
      'instance.not_canonical',
      `Wallet ${bundle.wallet} at epoch ${bundle.epoch} is not canonical; RegentSuccession has ${onChain.instance.signer} at epoch ${onChain.epoch}.`,
    )
  // (b) the state root the instance attested to is the latest committed one.
  const attestedRoot = verdict.attestation?.statement?.stateRoot
  if (attestedRoot?.toLowerCase() !== onChain.stateRoot.toLowerCase())
    add(
      'instance.stale_state',
      `The attested state root ${attestedRoot ?? 'none'} is not the latest committed ${onChain.stateRoot} (seq ${onChain.stateSeq}).`,
    )

  const quote = verdict.attestation?.quote
  const codes = new Set(verdict.reasons.map((r) => r.code))
  const verified = quote?.verified === true && ![...codes].some((c) => attestationBroken.has(c))
  const facts: InstanceFacts = {
    id,
    controlsKey: ![...codes].some((c) => keyBroken.has(c)),
    stateRoot: verified ? attestedRoot : undefined,
    latestStateRoot: onChain.stateRoot,
    attestation: {
      verified,
      hardware: quote?.hardware,
      status: quote?.status as TcbStatus | undefined,
      advisoryIds: quote?.advisoryIds ?? [],
      ageSeconds: Math.max(0, parameters.now.getTime() / 1000 - Number(bundle.issuedAt)),
    },
    measurementApproved: verified && approved && imageApproved,
    kmsProvenanceVerified: kmsOk,
    canonical,
  }
  return { facts, evaluation: evaluateInstance(facts), bundle, reasons, nonce }
}

function fetchOver(url: string | undefined): (nonce: Hex) => Promise<unknown> {
  return async (nonce) => {
    if (url === undefined) throw new Error('neither url nor fetch was given')
    const target = new URL('identity', url.endsWith('/') ? url : `${url}/`)
    target.searchParams.set('nonce', nonce)
    // An instance that does not answer is a failed check, not a hung verifier.
    const response = await fetch(target, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) })
    if (!response.ok) throw new Error(`GET ${target.pathname} answered ${response.status}`)
    return response.json()
  }
}

function kmsRootAddress(publicKey: Hex): Address {
  const uncompressed = secp256k1.ProjectivePoint.fromHex(publicKey.slice(2)).toRawBytes(false)
  return getAddress(publicKeyToAddress(toHex(uncompressed)))
}

function emptyFacts(id: string, latestStateRoot: Hex | undefined): InstanceFacts {
  return {
    id,
    controlsKey: false,
    stateRoot: undefined,
    latestStateRoot,
    attestation: { verified: false, hardware: undefined, status: undefined, advisoryIds: [], ageSeconds: 0 },
    measurementApproved: false,
    kmsProvenanceVerified: false,
    canonical: false,
  }
}
