/**
 * Sign and attest (DESIGN.md §7): one call returns the wallet's EIP-712 signature over a {@link Statement} and a
 * quote whose report_data is `Statement.toReportData(statement)` (docs/protocol.md "Sign-and-attest report_data").
 * {@link verifySignedAttestation} checks the signature, the quote (@regent-tee/attest `verifyQuote`: DCAP, RTMR3
 * replay of the event log, measurement policy) and the binding of the quote to the statement and the nonce.
 */

import { sha256 } from '@noble/hashes/sha2'
import { type Collateral, type Policy, type TrustedRoot, type Verdict, verifyQuote } from '@regent-tee/attest'
/** A reason code and message (same shape as @regent-tee/attest's). */
import type { Reason } from '@regent-tee/core'
import { type Account, getAddress, type LocalAccount, recoverTypedDataAddress } from 'viem'
import { getQuote } from './actions/getQuote.js'
import type { BaseTeeClient } from './createTeeClient.js'
import { BaseError } from './errors.js'
import { type BytesLike, equalBytes, fromHex, type Hex, toBytes, toHex } from './internal/bytes.js'
import * as Statement from './Statement.js'

export type { Reason }

/** Format tag of {@link SignedAttestation}. Permanent. */
export const attestationVersion = 'regent.attestation/v1'

export type SignedAttestation = {
  readonly version: typeof attestationVersion
  readonly statement: Statement.Statement
  /** EIP-712 signature (65 bytes) by `statement.signer` over `Statement.toTypedData(statement)`. */
  readonly signature: Hex
  /** The raw quote. */
  readonly quote: Hex
  /** The guest agent's event log JSON text (replayed against RTMR3 by the verifier). */
  readonly eventLog: string
}

export type SignAndAttestParameters = {
  /** The wallet (K_agent) as a viem account that can sign typed data. */
  readonly account: LocalAccount | (Account & { signTypedData: LocalAccount['signTypedData'] })
  readonly payload: BytesLike
  /** The verifier's nonce. */
  readonly nonce: BytesLike
  readonly purpose: string
  /** @default Statement.emptyStateRoot */
  readonly stateRoot?: BytesLike
  /** @default 0n */
  readonly epoch?: bigint | number
}

/**
 * Signs a statement with the wallet and gets a quote committing to it.
 *
 * @throws {Statement.InvalidStatementError} for a malformed input; GuestAgentError / TransportError from the agent.
 * @example
 * const attestation = await signAndAttest(client, { account, payload, nonce, purpose: 'handshake', stateRoot, epoch: 1n })
 */
export async function signAndAttest(client: BaseTeeClient, parameters: SignAndAttestParameters): Promise<SignedAttestation> {
  const statement = Statement.from({
    purpose: parameters.purpose,
    signer: parameters.account.address,
    payload: parameters.payload,
    stateRoot: parameters.stateRoot ?? Statement.emptyStateRoot,
    epoch: parameters.epoch ?? 0n,
    nonce: parameters.nonce,
  })
  const [signature, quote] = await Promise.all([
    parameters.account.signTypedData(Statement.toTypedData(statement)),
    getQuote(client, { reportData: Statement.toReportData(statement) }),
  ])
  return { version: attestationVersion, statement, signature, quote: toHex(quote.quote), eventLog: quote.eventLog }
}

export type VerifySignedAttestationParameters = {
  readonly attestation: SignedAttestation
  /** The nonce this verifier issued. */
  readonly nonce: BytesLike
  /** The payload the verifier received; its SHA-256 must be the statement's payloadHash. */
  readonly payload?: BytesLike
  readonly expected?: {
    readonly signer?: Hex
    readonly stateRoot?: BytesLike
    readonly epoch?: bigint | number
    readonly purpose?: string
  }
  readonly collateral: Parameters<typeof verifyQuote>[1]['collateral'] | Collateral.Verified
  readonly trustedRoots?: readonly TrustedRoot[]
  readonly now: Date
  /** Quote policy (measurements, TCB status, …). `eventLog` and `expectedReportData` are set here and cannot be overridden. */
  readonly policy?: Omit<Policy.Options, 'eventLog' | 'expectedReportData'>
}

export type SignedAttestationVerdict = {
  /** True only when `reasons` is empty. */
  readonly ok: boolean
  readonly reasons: readonly Reason[]
  /** The address the signature recovers to. */
  readonly signer: Hex | undefined
  readonly statement: Statement.Statement | undefined
  /** The quote verdict of @regent-tee/attest (hardware kind, TCB status, app info from the replayed event log). */
  readonly quote: Verdict | undefined
}

/**
 * Verifies a signed attestation. Never throws for bad attestations: every failure is a reason.
 * Codes: `attestation.format`, `attestation.signature`, `attestation.signer`, `attestation.nonce`,
 * `attestation.payload`, `attestation.state_root`, `attestation.epoch`, `attestation.purpose`,
 * `attestation.binding`, and every reason of `verifyQuote` (e.g. `policy.measurement`, `policy.event_log`).
 *
 * @example
 * const verdict = await verifySignedAttestation({ attestation, nonce, expected: { signer }, collateral, trustedRoots, now: new Date() })
 */
export async function verifySignedAttestation(parameters: VerifySignedAttestationParameters): Promise<SignedAttestationVerdict> {
  const reasons: Reason[] = []
  const add = (code: string, message: string) => reasons.push({ code, message })
  const a = parameters.attestation
  let statement: Statement.Statement
  let quoteBytes: Uint8Array
  try {
    if (a.version !== attestationVersion) throw new InvalidAttestationError({ reason: `unknown version "${String(a.version)}"` })
    Statement.assert(a.statement)
    statement = a.statement
    quoteBytes = fromHex(a.quote, 'quote')
    if (typeof a.eventLog !== 'string') throw new InvalidAttestationError({ reason: 'eventLog is not a string' })
    if (!/^0x[0-9a-fA-F]{130}$/.test(a.signature)) throw new InvalidAttestationError({ reason: 'signature is not 65 bytes of hex' })
  } catch (error) {
    add('attestation.format', (error as BaseError).shortMessage ?? String(error))
    return { ok: false, reasons, signer: undefined, statement: undefined, quote: undefined }
  }

  // The statement's own claims against what this verifier expects.
  let signer: Hex | undefined
  try {
    signer = await recoverTypedDataAddress({ ...Statement.toTypedData(statement), signature: a.signature })
  } catch {
    signer = undefined
  }
  if (!signer || signer !== getAddress(statement.signer))
    add('attestation.signature', 'The signature does not recover to the statement signer.')
  const expected = parameters.expected ?? {}
  if (expected.signer !== undefined && getAddress(expected.signer) !== getAddress(statement.signer))
    add('attestation.signer', `Signed by ${statement.signer}, expected ${getAddress(expected.signer)}.`)
  if (!equalBytes(toBytes(parameters.nonce, 'nonce'), fromHex(statement.nonce, 'nonce')))
    add('attestation.nonce', "The statement does not carry this verifier's nonce.")
  if (parameters.payload !== undefined && toHex(sha256(toBytes(parameters.payload, 'payload'))) !== statement.payloadHash.toLowerCase())
    add('attestation.payload', 'The payload does not hash to the signed payloadHash.')
  if (expected.stateRoot !== undefined && !equalBytes(toBytes(expected.stateRoot, 'stateRoot'), fromHex(statement.stateRoot, 'stateRoot')))
    add('attestation.state_root', `The statement's state root ${statement.stateRoot} is not the expected one.`)
  if (expected.epoch !== undefined && BigInt(expected.epoch) !== statement.epoch)
    add('attestation.epoch', `The statement's epoch ${statement.epoch} is not the expected ${BigInt(expected.epoch)}.`)
  if (expected.purpose !== undefined && expected.purpose !== statement.purpose)
    add('attestation.purpose', `The statement's purpose "${statement.purpose}" is not "${expected.purpose}".`)

  // The quote: DCAP, RTMR3 replay, measurements; and its report_data must be the statement's commitment.
  const commitment = Statement.toReportData(statement)
  const quote = await verifyQuote(quoteBytes, {
    collateral: parameters.collateral as Parameters<typeof verifyQuote>[1]['collateral'],
    now: parameters.now,
    ...(parameters.trustedRoots ? { trustedRoots: parameters.trustedRoots } : {}),
    policy: {
      ...parameters.policy,
      eventLog: a.eventLog,
      expectedReportData: (reportData) =>
        equalBytes(reportData, commitment) ? true : 'REPORTDATA is not the commitment to this statement (regent/sign-and-attest/v1).',
    },
  })
  for (const r of quote.reasons) {
    if (r.code === 'policy.report_data') add('attestation.binding', r.message)
    else reasons.push(r)
  }
  return { ok: reasons.length === 0, reasons, signer, statement, quote }
}

/** JSON form of a {@link SignedAttestation} (the statement's epoch as a decimal string). */
export type SignedAttestationJson = Omit<SignedAttestation, 'statement'> & { readonly statement: Statement.Json }

/** The JSON form. */
export function attestationToJson(attestation: SignedAttestation): SignedAttestationJson {
  return { ...attestation, statement: Statement.toJson(attestation.statement) }
}

/**
 * Parses the JSON form.
 *
 * @throws {InvalidAttestationError} / {@link Statement.InvalidStatementError}
 */
export function attestationFromJson(json: unknown): SignedAttestation {
  if (typeof json !== 'object' || json === null) throw new InvalidAttestationError({ reason: 'not an object' })
  const j = json as Record<string, unknown>
  if (j.version !== attestationVersion) throw new InvalidAttestationError({ reason: `unknown version "${String(j.version)}"` })
  if (typeof j.signature !== 'string' || typeof j.quote !== 'string' || typeof j.eventLog !== 'string')
    throw new InvalidAttestationError({ reason: 'signature, quote and eventLog must be strings' })
  return {
    version: attestationVersion,
    statement: Statement.fromJson(j.statement),
    signature: j.signature as Hex,
    quote: j.quote as Hex,
    eventLog: j.eventLog,
  }
}

export class InvalidAttestationError extends BaseError {
  override name = 'InvalidAttestationError'
  constructor({ reason }: { reason: string }) {
    super(`Invalid signed attestation: ${reason}.`)
  }
}
