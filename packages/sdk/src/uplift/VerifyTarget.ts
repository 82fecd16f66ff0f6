/**
 * Verifying the target (DESIGN.md §10 step 1, the TargetHello; Steps.ts counts it as the opening of step 2, key;
 * docs/uplift.md "Sequence", "Refusal codes"). {@link verifyTarget} checks the target's hello against the caller's
 * policy (@regent-tee/attest `verifyQuote`: trusted roots, DCAP, RTMR3 replay of the event log, approved
 * measurements, TCB) and against this session (nonce, transcript, both report_data halves). Only an `ok` verdict
 * lets something leave the source: {@link assertTarget} is that gate, {@link keyToTarget} the key of a message only
 * the attested target opens (the key envelope of step 2A, the state envelopes of step 3).
 */
import { type Collateral, type Policy, type Verdict, verifyQuote } from '@regent-tee/attest'
import { Envelope } from '@regent-tee/core'
import { equalBytes, fromHex, type Hex, toHex } from '../internal/bytes.js'
import { addQuoteReasons } from '../internal/quoteReasons.js'
import type * as OsImage from '../OsImage.js'
import { quoteId } from '../quoteId.js'
import { type Reason, UpliftRefusedError } from './errors.js'
import * as Messages from './Messages.js'

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
  addQuoteReasons(quote, 'target', add)

  // report_data = keyCommitment ‖ freshCommitment over what the hello says (the echoes were compared above).
  const reportData = quote.measurements?.reportData
  if (reportData !== undefined) {
    const bytes = fromHex(reportData, 'reportData')
    if (!equalBytes(bytes.subarray(0, 32), Messages.keyCommitment(t)))
      add('target.key_binding', "report_data does not commit to this hello's ephemeral key, wallet and URL (a quote bound to another key).")
    if (!equalBytes(bytes.subarray(32, 64), Messages.freshCommitment(t)))
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

/**
 * The target's side of {@link keyToTarget}: the key of a message sent to its ephemeral key by `senderPublicKey`
 * under `transcript` and `info`; undefined when the sender key is not a usable X25519 key. The caller wipes it.
 */
export function keyFromSource(parameters: { ephemeralPrivateKey: Uint8Array; senderPublicKey: Hex; transcript: Hex; info: string }) {
  try {
    return Envelope.deriveKey({
      privateKey: parameters.ephemeralPrivateKey,
      peerPublicKey: fromHex(parameters.senderPublicKey, 'senderPublicKey'),
      salt: fromHex(parameters.transcript, 'transcript'),
      info: parameters.info,
    })
  } catch {
    return undefined
  }
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
