/**
 * Step 2, option B: rotate (DESIGN.md §10 step 2B; docs/uplift.md "Sequence", "API"). After an `ok` verdict,
 * {@link offerSuccession} signs the EIP-712 succession certificate (the fenced `signSuccessionCertificate`) for the
 * target's attested wallet, compose hash and quote; {@link verifySuccession} checks a certificate against those
 * attested facts.
 */
import { type SuccessionCertificate, successionCertificateTypes, successionDomain } from '@regent-tee/contracts'
import { type Account, type Chain, type Client, getAddress, recoverTypedDataAddress, type Transport } from 'viem'
import { signSuccessionCertificate } from '../chain/signSuccessionCertificate.js'
import type { RegentContracts } from '../chain/transact.js'
import type { Hex } from '../internal/bytes.js'
import { type Reason, UpliftRefusedError } from './errors.js'
import * as Messages from './Messages.js'
import { type AttestedTarget, assertTarget, type TargetVerdict } from './VerifyTarget.js'

const lower = (a: string) => a.toLowerCase() as Hex

/** The certificate in its wire form. */
export function certificateToJson(certificate: SuccessionCertificate): Messages.CertificateJson {
  return {
    agentId: certificate.agentId.toString(),
    oldKey: lower(certificate.oldKey),
    newKey: lower(certificate.newKey),
    newComposeHash: lower(certificate.newComposeHash),
    quoteHash: lower(certificate.quoteHash),
    nextEpoch: certificate.nextEpoch.toString(),
    deadline: certificate.deadline.toString(),
  }
}

/** The certificate from its wire form (addresses checksummed, integers as bigints). */
export function certificateFromJson(json: Messages.CertificateJson): SuccessionCertificate {
  return {
    agentId: BigInt(json.agentId),
    oldKey: getAddress(json.oldKey),
    newKey: getAddress(json.newKey),
    newComposeHash: json.newComposeHash,
    quoteHash: json.quoteHash,
    nextEpoch: BigInt(json.nextEpoch),
    deadline: BigInt(json.deadline),
  }
}

export type OfferSuccessionParameters = {
  /** An `ok` verdict of `verifyTarget` (VerifyTarget.ts) for a `rotate` session. */
  readonly verdict: TargetVerdict
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** Unix seconds after which the certificate is void. */
  readonly deadline: bigint
  readonly chainId?: number
}

/**
 * Option B (source side): signs the succession certificate for the verified target's attested wallet, compose hash
 * and quote hash, with the fenced `signSuccessionCertificate` (the client's account must be canonical now).
 *
 * @throws {UpliftRefusedError} the verdict's codes when it is not ok, `key.mode` for an `import` session.
 * @throws {NotCanonicalError} the account is not the canonical signer (nothing signed).
 * @example
 * const offer = await offerSuccession(sourceWallet, { verdict, contracts, agentId, deadline })
 */
export async function offerSuccession(
  client: Client<Transport, Chain | undefined, Account | undefined>,
  parameters: OfferSuccessionParameters,
): Promise<Messages.KeyOffer> {
  const target = assertTarget(parameters.verdict, 'succession')
  if (target.mode !== 'rotate')
    throw new UpliftRefusedError({ step: 'succession', reasons: [{ code: 'key.mode', message: 'The session is an import session.' }] })
  const { certificate, signature } = await signSuccessionCertificate(client, {
    contracts: parameters.contracts,
    agentId: parameters.agentId,
    newKey: getAddress(target.wallet),
    newComposeHash: target.composeHash,
    quoteHash: target.quoteHash,
    deadline: parameters.deadline,
    ...(parameters.chainId !== undefined ? { chainId: parameters.chainId } : {}),
  })
  return Messages.parse(
    {
      version: Messages.version,
      type: 'key-offer',
      sessionId: target.sessionId,
      certificate: certificateToJson(certificate),
      signature: lower(signature),
    },
    'key-offer',
  )
}

export type VerifySuccessionParameters = {
  readonly offer: Messages.KeyOffer
  /** The attested facts of the new instance (an {@link AttestedTarget} fits; the target can build them from its own hello and Info). */
  readonly target: Pick<AttestedTarget, 'wallet' | 'composeHash' | 'quoteHash'>
  readonly agentId: bigint
  readonly chainId: number
  readonly contracts: Pick<RegentContracts, 'succession'>
  /** The key that must have signed (the on-chain canonical signer, or the session source). */
  readonly oldKey: Hex
}

/**
 * Checks a succession certificate against the new instance's attested facts. Never throws for a bad certificate.
 * Codes: `rotate.agent`, `rotate.old_key`, `rotate.new_key`, `rotate.compose_hash`, `rotate.quote_hash`,
 * `rotate.signature` (does not recover to `oldKey` under this chain's RegentSuccession domain).
 *
 * @example
 * const { ok, reasons } = await verifySuccession({ offer, target, agentId, chainId, contracts, oldKey: sourceHello.source })
 */
export async function verifySuccession(parameters: VerifySuccessionParameters): Promise<{ ok: boolean; reasons: readonly Reason[] }> {
  const reasons: Reason[] = []
  const c = parameters.offer.certificate
  if (BigInt(c.agentId) !== parameters.agentId)
    reasons.push({ code: 'rotate.agent', message: `The certificate is for agent ${c.agentId}.` })
  if (c.oldKey !== lower(parameters.oldKey))
    reasons.push({ code: 'rotate.old_key', message: `The certificate hands over from ${c.oldKey}.` })
  if (c.newKey !== lower(parameters.target.wallet))
    reasons.push({
      code: 'rotate.new_key',
      message: `The certificate names ${c.newKey}, not the attested wallet ${lower(parameters.target.wallet)}.`,
    })
  if (c.newComposeHash !== lower(parameters.target.composeHash))
    reasons.push({ code: 'rotate.compose_hash', message: 'The certificate names another compose hash than the attested one.' })
  if (c.quoteHash !== lower(parameters.target.quoteHash))
    reasons.push({ code: 'rotate.quote_hash', message: 'The certificate names another quote than the attested one.' })
  let signer: Hex | undefined
  try {
    signer = await recoverTypedDataAddress({
      domain: successionDomain({ chainId: parameters.chainId, address: parameters.contracts.succession }),
      types: successionCertificateTypes,
      primaryType: 'SuccessionCertificate',
      message: certificateFromJson(c),
      signature: parameters.offer.signature,
    })
  } catch {
    signer = undefined
  }
  if (!signer || lower(signer) !== lower(parameters.oldKey))
    reasons.push({ code: 'rotate.signature', message: 'The certificate signature does not recover to the old key.' })
  return { ok: reasons.length === 0, reasons }
}
