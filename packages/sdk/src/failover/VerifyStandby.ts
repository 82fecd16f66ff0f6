/**
 * Verifying a standby before the canonical sends it anything (docs/failover.md "Attaching a standby"): its quote is
 * checked like an uplift target's (@regent-tee/attest `verifyQuote`: trusted roots, DCAP, RTMR3 replay of the event
 * log, the app's approved compose hash and OS image on-chain, TCB), its report_data must commit to this hello and to
 * the X25519 key and URL it answered with, and it must be another instance of the agent's own app. Never throws for a
 * bad standby: every failure is a reason.
 *
 * Codes: `standby.bad_answer` (the answer's fields are missing or malformed: nothing else is looked at),
 * `standby.untrusted_root` (no trusted root anchors the quote: a devnet quote where only Intel is trusted),
 * `standby.quote`, `standby.event_log`, `standby.measurement` (app, compose hash or OS image not approved),
 * `standby.policy` (TCB, debug, …), `standby.key_binding` (report_data is not this hello, key and URL),
 * `standby.app_info` (no app id or instance id in the event log), `standby.self` (the canonical's own instance).
 */
import { type Policy, verifyQuote } from '@regent-tee/attest'
import type { Hex } from 'viem'
import type { AppPolicy } from '../AppPolicy.js'
import { equalBytes, fromHex, toHex } from '../internal/bytes.js'
import { addQuoteReasons } from '../internal/quoteReasons.js'
import type { Reason } from '../uplift/errors.js'
import * as Wire from './Wire.js'

export type VerifyStandbyParameters = {
  readonly hello: Wire.Hello
  readonly answer: Wire.Answer
  /** Verified, parsed or JSON collateral, as `verifyQuote` takes it. */
  readonly collateral: Parameters<typeof verifyQuote>[1]['collateral']
  readonly trustedRoots?: Parameters<typeof verifyQuote>[1]['trustedRoots']
  readonly now: Date
  /** The agent's app on-chain (`appPolicy`). */
  readonly app: AppPolicy
  /** Quote policy besides measurements (TCB status, …). */
  readonly policy?: Omit<Policy.Options, 'eventLog' | 'expectedReportData' | 'approvedMeasurements'>
}

export type StandbyVerdict = {
  readonly ok: boolean
  readonly reasons: readonly Reason[]
  /** Set only when ok. */
  readonly standby: { readonly instanceId: Hex; readonly hardware: string; readonly url: string } | undefined
}

export async function verifyStandby(parameters: VerifyStandbyParameters): Promise<StandbyVerdict> {
  const { hello, answer } = parameters
  const reasons: Reason[] = []
  const add = (code: string, message: string) => {
    if (!reasons.some((r) => r.code === code)) reasons.push({ code, message })
  }
  if (!Wire.validateAnswer(answer))
    return {
      ok: false,
      reasons: [{ code: 'standby.bad_answer', message: 'The answer is not a standby answer (its fields or their form).' }],
      standby: undefined,
    }
  const quote = await verifyQuote(fromHex(answer.quote, 'quote'), {
    collateral: parameters.collateral,
    now: parameters.now,
    ...(parameters.trustedRoots ? { trustedRoots: parameters.trustedRoots } : {}),
    policy: { ...parameters.policy, approvedMeasurements: parameters.app.approvedMeasurements, eventLog: answer.eventLog },
  })
  addQuoteReasons(quote, 'standby', add)
  const reportData = quote.measurements?.reportData
  if (reportData !== undefined) {
    const expected = Wire.standbyReportData({
      sessionId: Wire.helloDigest(hello),
      publicKey: answer.publicKey,
      standbyUrl: answer.standbyUrl,
    })
    if (!equalBytes(fromHex(reportData, 'reportData'), expected))
      add('standby.key_binding', "report_data does not commit to this hello, the standby's key and its URL (a replayed or foreign quote).")
  } else add('standby.quote', 'The quote has no report_data.')
  const app = quote.app
  if (reasons.length === 0 && (!app?.instanceId || app.instanceId.length === 0))
    add('standby.app_info', 'The event log names no instance id.')
  if (reasons.length === 0) for (const r of await parameters.app.osImage(quote)) add('standby.measurement', `${r.code}: ${r.message}`)
  const instanceId = app?.instanceId && app.instanceId.length > 0 ? toHex(app.instanceId) : undefined
  if (reasons.length === 0 && instanceId?.toLowerCase() === hello.leaderInstanceId.toLowerCase())
    add('standby.self', 'The standby is the canonical instance itself.')
  if (reasons.length > 0 || instanceId === undefined) return { ok: false, reasons, standby: undefined }
  return { ok: true, reasons, standby: { instanceId, hardware: quote.hardware ?? 'unknown', url: answer.standbyUrl } }
}
