/**
 * Key continuity (DESIGN.md §10 steps 1–2; docs/uplift.md "Key transfer"). The session opens with
 * {@link createSourceHello} (fresh session id and nonce) and the target answers {@link createTargetHello}: a fresh
 * X25519 key and a quote whose report_data is `Messages.targetReportData` (keyCommitment ‖ freshCommitment).
 * {@link verifyTarget} checks that answer against the caller's policy (@regent-tee/attest `verifyQuote`: trusted roots,
 * DCAP, RTMR3 replay of the event log, approved measurements, TCB) and against this session (nonce, transcript,
 * both report_data halves). Only an `ok` verdict lets a key leave:
 *
 * - option A, import: {@link sealKey} encrypts the 32-byte wallet key to the target's ephemeral key
 *   (X25519 → HKDF-SHA256 info `regent-uplift-key/v1`, salt = transcript → AES-256-GCM, AD binds the transcript and
 *   the address); {@link openKey} on the target gives back exactly the same key and address.
 * - option B, rotate: {@link offerSuccession} signs the EIP-712 succession certificate (the fenced
 *   `signSuccessionCertificate`) for the target's attested wallet, compose hash and quote; {@link verifySuccession}
 *   checks a certificate against those attested facts.
 */
import { randomBytes } from 'node:crypto'
import { type Collateral, type Policy, type Verdict, verifyQuote } from '@regent-tee/attest'
import { type SuccessionCertificate, successionCertificateTypes, successionDomain } from '@regent-tee/contracts'
import { type Account, type Chain, type Client, getAddress, type LocalAccount, recoverTypedDataAddress, type Transport } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { getQuote } from '../actions/getQuote.js'
import { signSuccessionCertificate } from '../chain/signSuccessionCertificate.js'
import type { RegentContracts } from '../chain/transact.js'
import type { BaseTeeClient } from '../createTeeClient.js'
import { concat, equal, fromHex, type Hex, toHex, utf8 } from '../internal/bytes.js'
import { PrivateKey } from '../Keys.js'
import type * as OsImage from '../OsImage.js'
import { quoteId } from '../quoteId.js'
import { type Reason, UpliftRefusedError } from './errors.js'
import * as Envelope from './internal/envelope.js'
import * as Messages from './Messages.js'

/** HKDF info and AD label of the key envelope. Permanent. */
export const keyEnvelopeLabel = 'regent-uplift-key/v1'

const random32 = (): Hex => toHex(new Uint8Array(randomBytes(32)))
const lower = (a: string) => a.toLowerCase() as Hex

export type CreateSourceHelloParameters = {
  readonly agentId: bigint
  readonly chainId: number | bigint
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly mode: 'import' | 'rotate'
  /** The source's wallet address. */
  readonly source: Hex
  /** Default: 32 random bytes. Pass one only to resume a journaled session. */
  readonly sessionId?: Hex
  /** Default: 32 random bytes. Pass one only to resume a journaled session. */
  readonly nonce?: Hex
}

/**
 * Opens a session (source side).
 *
 * @example
 * const hello = createSourceHello({ agentId, chainId, contracts, mode: 'import', source: account.address })
 */
export function createSourceHello(parameters: CreateSourceHelloParameters): Messages.SourceHello {
  return Messages.parse(
    {
      version: Messages.version,
      type: 'source-hello',
      sessionId: parameters.sessionId ?? random32(),
      agentId: parameters.agentId.toString(),
      chainId: BigInt(parameters.chainId).toString(),
      succession: lower(parameters.contracts.succession),
      mode: parameters.mode,
      source: lower(parameters.source),
      nonce: parameters.nonce ?? random32(),
    },
    'source-hello',
  )
}

/** EIP-712 types of a signed SourceHello (docs/protocol.md "SourceHello"). Permanent. */
export const sourceHelloTypes = {
  SourceHello: [
    { name: 'sessionId', type: 'bytes32' },
    { name: 'agentId', type: 'uint256' },
    { name: 'mode', type: 'string' },
    { name: 'source', type: 'address' },
    { name: 'nonce', type: 'bytes32' },
    { name: 'expiresAt', type: 'uint64' },
  ],
} as const

/** The EIP-712 domain of a SourceHello: the deployment's chain and RegentSuccession. */
export function sourceHelloDomain(hello: Pick<Messages.SourceHello, 'chainId' | 'succession'>) {
  return { name: 'Regent uplift', version: '1', chainId: BigInt(hello.chainId), verifyingContract: hello.succession } as const
}

const helloMessage = (hello: Messages.SourceHello, expiresAt: bigint) => ({
  sessionId: hello.sessionId,
  agentId: BigInt(hello.agentId),
  mode: hello.mode,
  source: hello.source,
  nonce: hello.nonce,
  expiresAt,
})

/** How long a signed hello stays valid by default: long enough to cross a slow network, short enough not to lock. */
export const defaultHelloTtlSeconds = 600

/**
 * Signs a SourceHello with the source's key (`account.address` must be `hello.source`), valid for `ttlSeconds`.
 *
 * @throws {UpliftRefusedError} `source.signature` when `account` is not the hello's source.
 * @example
 * const hello = await signSourceHello(createSourceHello({ ...base, mode, source: account.address }), { account })
 */
export async function signSourceHello(
  hello: Messages.SourceHello,
  parameters: { readonly account: LocalAccount; readonly ttlSeconds?: number; readonly now?: Date },
): Promise<Messages.SourceHello> {
  if (parameters.account.address.toLowerCase() !== hello.source)
    throw new UpliftRefusedError({
      step: 'hello',
      reasons: [
        { code: 'source.signature', message: `The account ${parameters.account.address} is not the hello's source ${hello.source}.` },
      ],
    })
  const now = BigInt(Math.floor((parameters.now ?? new Date()).getTime() / 1000))
  const expiresAt = now + BigInt(parameters.ttlSeconds ?? defaultHelloTtlSeconds)
  const signature = await parameters.account.signTypedData({
    domain: sourceHelloDomain(hello),
    types: sourceHelloTypes,
    primaryType: 'SourceHello',
    message: helloMessage(hello, expiresAt),
  })
  return Messages.parse({ ...hello, expiresAt: expiresAt.toString(), signature: signature.toLowerCase() }, 'source-hello')
}

/**
 * Whether a hello is signed by its `source` and not expired at `now` (target side). Returns the refusal code, or
 * undefined when it holds: `source.signature` (absent, malformed or another signer), `source.expired`.
 */
export async function checkSourceHello(
  hello: Messages.SourceHello,
  parameters: { readonly now: Date; readonly maxTtlSeconds?: number },
): Promise<{ code: 'source.signature' | 'source.expired'; message: string } | undefined> {
  if (hello.signature === undefined || hello.expiresAt === undefined)
    return { code: 'source.signature', message: 'The hello is not signed by its source (signSourceHello).' }
  const expiresAt = BigInt(hello.expiresAt)
  let signer: string | undefined
  try {
    signer = await recoverTypedDataAddress({
      domain: sourceHelloDomain(hello),
      types: sourceHelloTypes,
      primaryType: 'SourceHello',
      message: helloMessage(hello, expiresAt),
      signature: hello.signature,
    })
  } catch {
    signer = undefined
  }
  if (signer?.toLowerCase() !== hello.source)
    return { code: 'source.signature', message: `The hello's signature is not by its source ${hello.source}.` }
  const now = BigInt(Math.floor(parameters.now.getTime() / 1000))
  if (expiresAt <= now) return { code: 'source.expired', message: `The hello expired at ${expiresAt} (now ${now}).` }
  if (expiresAt > now + BigInt(parameters.maxTtlSeconds ?? 3600))
    return { code: 'source.expired', message: `The hello is valid until ${expiresAt}, beyond the target's limit of one hour.` }
  return undefined
}

export type CreateTargetHelloParameters = {
  readonly sourceHello: Messages.SourceHello
  /** Where this target serves the protocol and, after handover, the agent. */
  readonly targetUrl: string
  /** This CVM's own KMS-derived wallet (`deriveWallet(client).address`). */
  readonly wallet: Hex
}

export type CreateTargetHelloReturnType = {
  readonly hello: Messages.TargetHello
  /** The X25519 private key that opens this session's envelopes. Keep it inside the CVM; wipe it after use. */
  readonly ephemeralPrivateKey: Uint8Array
  /** Transcript hash after SourceHello and TargetHello (the AD of the key envelope). */
  readonly transcript: Hex
}

/**
 * Answers a SourceHello (target side): a fresh X25519 key and a quote over `Messages.targetReportData`.
 *
 * @throws {Messages.InvalidMessageError} for a malformed URL; GuestAgentError / TransportError from the agent.
 * @example
 * const { hello, ephemeralPrivateKey } = await createTargetHello(client, { sourceHello, targetUrl, wallet: wallet.address })
 */
export async function createTargetHello(
  client: BaseTeeClient,
  parameters: CreateTargetHelloParameters,
): Promise<CreateTargetHelloReturnType> {
  const { sourceHello } = parameters
  const afterSource = Messages.appendTranscript(Messages.emptyTranscript, sourceHello)
  const pair = Envelope.createKeyPair()
  const binding = {
    ephemeralPublicKey: toHex(pair.publicKey),
    wallet: lower(parameters.wallet),
    targetUrl: parameters.targetUrl,
    sessionId: sourceHello.sessionId,
    nonce: sourceHello.nonce,
    transcript: afterSource,
  }
  const { quote, eventLog } = await getQuote(client, { reportData: Messages.targetReportData(binding) })
  const hello = Messages.parse(
    { version: Messages.version, type: 'target-hello', ...binding, quote: toHex(quote), eventLog },
    'target-hello',
  )
  return { hello, ephemeralPrivateKey: pair.privateKey, transcript: Messages.appendTranscript(afterSource, hello) }
}

/** What a verified target is, from its quote, its replayed event log and its hello. */
export type AttestedTarget = {
  readonly sessionId: Hex
  readonly mode: 'import' | 'rotate'
  /** The source address of the session. */
  readonly source: Hex
  readonly targetUrl: string
  readonly wallet: Hex
  readonly ephemeralPublicKey: Hex
  readonly appId: Hex
  readonly composeHash: Hex
  readonly instanceId: Hex
  /** The quote id, `quoteId(quote)` (RegentSuccession's `quoteHash`, the `newRA` of `Uplift`; docs/protocol.md "Quote id"). */
  readonly quoteHash: Hex
  readonly hardware: 'tdx' | 'sgx' | 'devnet'
  /** Transcript hash after SourceHello and TargetHello. */
  readonly transcript: Hex
}

export type VerifyTargetParameters = {
  readonly sourceHello: Messages.SourceHello
  readonly targetHello: Messages.TargetHello
  readonly collateral: Parameters<typeof verifyQuote>[1]['collateral'] | Collateral.Verified
  /** Default: the Intel SGX Root CA only (a devnet quote is then `target.untrusted_root`). */
  readonly trustedRoots?: Parameters<typeof verifyQuote>[1]['trustedRoots']
  readonly now: Date
  /** Quote policy: approved measurements (a list or a callback, e.g. RegentAppAuth on-chain), TCB status, … */
  readonly policy?: Omit<Policy.Options, 'eventLog' | 'expectedReportData'>
  /**
   * The OS image check (`OsImage.checker(client, { appAuth, appId })`): the quote's MRTD/RTMR0–2 must be those of an
   * approved, active OS image of the app (`os_image.measurement`); the `os-image-hash` event is only a claim.
   */
  readonly osImage?: OsImage.Check
}

export type TargetVerdict = {
  /** True only when `reasons` is empty. */
  readonly ok: boolean
  readonly reasons: readonly Reason[]
  /** The @regent-tee/attest verdict (undefined when the hello was refused before the quote was looked at). */
  readonly quote: Verdict | undefined
  /** Set only when `ok`. */
  readonly target: AttestedTarget | undefined
}

/**
 * Verifies a TargetHello for this session. Never throws for a bad target: every failure is a reason.
 *
 * Codes: `target.session` (another session id), `target.nonce` (not this session's nonce: a replayed hello),
 * `target.transcript` (the target saw another SourceHello), `target.untrusted_root` (no trusted root anchors the
 * quote, e.g. a devnet quote when only Intel is trusted), `target.quote` (any other DCAP failure),
 * `target.event_log` (RTMR3 does not replay), `target.measurement` (compose hash / OS image / app not approved,
 * or still in its timelock when the callback says so), `target.policy` (TCB status, advisories, debug, …),
 * `target.key_binding` (report_data does not commit to this hello's ephemeral key, wallet and URL: a quote bound
 * to another key), `target.stale_quote` (report_data does not commit to this hello's session, nonce and
 * transcript: a stale or replayed quote), `target.app_info` (the event log lacks app-id or compose-hash),
 * `os_image.measurement` (with `osImage`: MRTD/RTMR0–2 are not an approved, active OS image's).
 *
 * @example
 * const verdict = await verifyTarget({ sourceHello, targetHello, collateral, trustedRoots, now: new Date(), policy: { approvedMeasurements } })
 * if (!verdict.ok) console.log(verdict.reasons)
 */
export async function verifyTarget(parameters: VerifyTargetParameters): Promise<TargetVerdict> {
  const reasons: Reason[] = []
  const add = (code: string, message: string) => {
    if (!reasons.some((r) => r.code === code)) reasons.push({ code, message })
  }
  const { sourceHello: s, targetHello: t } = parameters
  const expectedTranscript = Messages.appendTranscript(Messages.emptyTranscript, s)
  if (t.sessionId !== s.sessionId) add('target.session', 'The hello belongs to another session.')
  if (t.nonce !== s.nonce) add('target.nonce', "The hello does not echo this session's nonce (a replayed hello).")
  if (t.transcript !== expectedTranscript) add('target.transcript', 'The target computed another transcript (it saw another SourceHello).')

  const quote = await verifyQuote(fromHex(t.quote, 'quote'), {
    collateral: parameters.collateral as Parameters<typeof verifyQuote>[1]['collateral'],
    now: parameters.now,
    ...(parameters.trustedRoots ? { trustedRoots: parameters.trustedRoots } : {}),
    policy: { ...parameters.policy, eventLog: t.eventLog },
  })
  const anchored = quote.root !== undefined
  for (const r of quote.reasons) {
    if (r.code === 'policy.measurement') add('target.measurement', r.message)
    else if (r.code === 'policy.event_log') add('target.event_log', r.message)
    else if (r.code.startsWith('policy.')) add('target.policy', `${r.code}: ${r.message}`)
    else if (!anchored) add('target.untrusted_root', `No trusted root anchors the quote (${r.code}: ${r.message}).`)
    else add('target.quote', `${r.code}: ${r.message}`)
  }
  if (!anchored) add('target.untrusted_root', 'No trusted root anchors the quote.')

  // report_data = keyCommitment ‖ freshCommitment over what the hello says (the echoes were compared above).
  const reportData = quote.measurements?.reportData
  if (reportData !== undefined) {
    const bytes = fromHex(reportData, 'reportData')
    if (!equal(bytes.subarray(0, 32), Messages.keyCommitment(t)))
      add('target.key_binding', "report_data does not commit to this hello's ephemeral key, wallet and URL (a quote bound to another key).")
    if (!equal(bytes.subarray(32, 64), Messages.freshCommitment(t)))
      add('target.stale_quote', "report_data does not commit to this hello's session, nonce and transcript (a stale or replayed quote).")
  } else if (reasons.length === 0) add('target.quote', 'The quote has no report_data.')

  const app = quote.app
  if (reasons.length === 0 && (!app?.appId || !app.composeHash)) add('target.app_info', 'The event log names no app-id or compose-hash.')
  if (reasons.length === 0 && parameters.osImage) for (const r of await parameters.osImage(quote)) add(r.code, r.message)
  if (reasons.length > 0 || !app?.appId || !app.composeHash) return { ok: false, reasons, quote, target: undefined }
  return {
    ok: true,
    reasons,
    quote,
    target: {
      sessionId: s.sessionId,
      mode: s.mode,
      source: s.source,
      targetUrl: t.targetUrl,
      wallet: t.wallet,
      ephemeralPublicKey: t.ephemeralPublicKey,
      appId: toHex(app.appId),
      composeHash: toHex(app.composeHash),
      instanceId: toHex(app.instanceId ?? new Uint8Array(0)),
      quoteHash: quoteId(t.quote),
      hardware: quote.hardware as AttestedTarget['hardware'],
      transcript: Messages.appendTranscript(expectedTranscript, t),
    },
  }
}

/** The associated data of a key envelope: label ‖ 0x00 ‖ transcript(32) ‖ address(20). */
function keyAd(transcript: Hex, address: Hex): Uint8Array {
  return concat([utf8(keyEnvelopeLabel), Uint8Array.of(0), fromHex(transcript, 'transcript'), fromHex(address, 'address')])
}

/**
 * Throws unless the verdict is ok: the gate in front of every step that lets something leave the source.
 *
 * @throws {UpliftRefusedError} with the verdict's reasons.
 */
export function assertTarget(verdict: TargetVerdict, step = 'target verification'): AttestedTarget {
  if (!verdict.ok || !verdict.target)
    throw new UpliftRefusedError({
      step,
      reasons: verdict.reasons.length ? verdict.reasons : [{ code: 'target.unverified', message: 'No verified target.' }],
    })
  return verdict.target
}

export type SealKeyParameters = {
  /** An `ok` verdict of {@link verifyTarget} for this session. */
  readonly verdict: TargetVerdict
  /** The source's wallet key (must be the session's `source` address). */
  readonly privateKey: PrivateKey
}

/**
 * The AEAD key of a sealed message to an attested target: a fresh X25519 sender key agreed with the target's
 * ephemeral key (the one its quote commits to), HKDF-SHA256 with the transcript as salt and `info`. The sender's
 * private key is wiped here; the caller wipes `key` and sends `senderPublicKey`.
 *
 * @throws {UpliftRefusedError} `target.key_binding` when the target's key is not a usable X25519 public key.
 */
export function keyToTarget(parameters: { target: AttestedTarget; transcript: Hex; info: string; step: string }): {
  key: Uint8Array
  senderPublicKey: Uint8Array
} {
  const sender = Envelope.createKeyPair()
  try {
    const key = Envelope.deriveKey({
      privateKey: sender.privateKey,
      peerPublicKey: fromHex(parameters.target.ephemeralPublicKey, 'ephemeralPublicKey'),
      salt: fromHex(parameters.transcript, 'transcript'),
      info: parameters.info,
    })
    return { key, senderPublicKey: sender.publicKey }
  } catch {
    throw new UpliftRefusedError({
      step: parameters.step,
      reasons: [{ code: 'target.key_binding', message: 'The ephemeral key is not a usable X25519 public key.' }],
    })
  } finally {
    sender.privateKey.fill(0)
  }
}

/**
 * Option A (source side): seals the wallet key to the verified target's ephemeral key.
 *
 * @throws {UpliftRefusedError} before anything is encrypted: the verdict's codes when it is not ok,
 *   `key.mode` for a `rotate` session, `key.address` when the key is not the session's source address,
 *   `target.key_binding` for an unusable (low-order) ephemeral key.
 * @example
 * const envelope = sealKey({ verdict, privateKey: wallet.privateKey })
 */
export function sealKey(parameters: SealKeyParameters): Messages.KeyEnvelope {
  const target = assertTarget(parameters.verdict, 'key transfer')
  const refuse = (code: string, message: string): never => {
    throw new UpliftRefusedError({ step: 'key transfer', reasons: [{ code, message }] })
  }
  if (target.mode !== 'import') refuse('key.mode', 'The session is a rotate session; the key stays where it is.')
  const address = parameters.privateKey.use((bytes) => lower(privateKeyToAddress(toHex(bytes))))
  if (address !== target.source)
    refuse('key.address', `The key is ${getAddress(address)}, not the session's source ${getAddress(target.source)}.`)
  const { key, senderPublicKey } = keyToTarget({ target, transcript: target.transcript, info: keyEnvelopeLabel, step: 'key transfer' })
  try {
    const { iv, ciphertext } = parameters.privateKey.use((bytes) => Envelope.encrypt(key, bytes, keyAd(target.transcript, address)))
    return Messages.parse(
      {
        version: Messages.version,
        type: 'key-envelope',
        sessionId: target.sessionId,
        address,
        senderPublicKey: toHex(senderPublicKey),
        iv: toHex(iv),
        ciphertext: toHex(ciphertext),
      },
      'key-envelope',
    )
  } finally {
    key.fill(0)
  }
}

export type OpenKeyParameters = {
  readonly envelope: Messages.KeyEnvelope
  /** From {@link createTargetHello}. */
  readonly ephemeralPrivateKey: Uint8Array
  /** Transcript hash after SourceHello and TargetHello ({@link createTargetHello}'s `transcript`). */
  readonly transcript: Hex
  /** The session's source address (SourceHello `source`): the key must be that wallet. */
  readonly expectedAddress: Hex
}

/**
 * Option A (target side): opens the key envelope.
 *
 * @returns The wallet key; the caller seals it (SealedState) and wipes it.
 * @throws {UpliftRefusedError} `key.address` (the envelope names another address than expected, or the key does
 *   not yield it), `key.decrypt` (wrong ephemeral key, other transcript, altered bytes).
 * @example
 * const key = openKey({ envelope, ephemeralPrivateKey, transcript, expectedAddress: sourceHello.source })
 */
export function openKey(parameters: OpenKeyParameters): PrivateKey {
  const { envelope } = parameters
  const refuse = (code: string, message: string): never => {
    throw new UpliftRefusedError({ step: 'key import', reasons: [{ code, message }] })
  }
  if (envelope.address !== lower(parameters.expectedAddress))
    refuse('key.address', 'The envelope is for another address than the session source.')
  let key: Uint8Array | undefined
  try {
    key = Envelope.deriveKey({
      privateKey: parameters.ephemeralPrivateKey,
      peerPublicKey: fromHex(envelope.senderPublicKey, 'senderPublicKey'),
      salt: fromHex(parameters.transcript, 'transcript'),
      info: keyEnvelopeLabel,
    })
  } catch {
    refuse('key.decrypt', 'The sender key is not a usable X25519 public key.')
  }
  const plain = Envelope.decrypt(
    key as Uint8Array,
    fromHex(envelope.iv, 'iv'),
    fromHex(envelope.ciphertext, 'ciphertext'),
    keyAd(parameters.transcript, envelope.address),
  )
  key?.fill(0)
  if (plain?.length !== 32) return refuse('key.decrypt', 'The key envelope did not decrypt: wrong key, other transcript or altered bytes.')
  try {
    const privateKey = new PrivateKey(plain)
    if (lower(privateKeyToAddress(toHex(plain))) !== envelope.address) {
      privateKey.wipe()
      refuse('key.address', 'The sealed key does not yield the envelope address.')
    }
    return privateKey
  } finally {
    plain.fill(0)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Option B: rotate

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
  /** An `ok` verdict of {@link verifyTarget} for a `rotate` session. */
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
