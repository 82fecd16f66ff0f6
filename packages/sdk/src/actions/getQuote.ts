/** `GetQuote` (dstack.md §1.2, §1.5): a TDX quote over `report_data` (≤ 64 bytes, right-padded with zeros). */
import type { BaseTeeClient } from '../createTeeClient.js'
import { BaseError } from '../errors.js'
import { type BytesLike, toBytes, toHexRaw } from '../internal/bytes.js'
import { hexField, type Json, str } from './internal.js'

export type GetQuoteParameters = {
  /** At most 64 bytes (bytes or `0x` hex). */
  readonly reportData: BytesLike
  readonly timeout?: number
}

export type GetQuoteReturnType = {
  /** Raw quote (TDX v4 on dstack 0.5.x). */
  readonly quote: Uint8Array
  /** The event log JSON text (parse with `EventLog.parse` from @regent-tee/attest). */
  readonly eventLog: string
  /** The 64 bytes the quote carries. */
  readonly reportData: Uint8Array
  /** VmConfig JSON text ('' when the agent does not send it). */
  readonly vmConfig: string
}

/**
 * Asks the guest agent for a quote.
 *
 * @throws {ReportDataTooLongError} when `reportData` exceeds 64 bytes (checked before sending).
 * @throws {GuestAgentError} when the agent rejects the request.
 * @example
 * const { quote, eventLog } = await getQuote(client, { reportData: commitment })
 */
export async function getQuote(client: BaseTeeClient, parameters: GetQuoteParameters): Promise<GetQuoteReturnType> {
  const reportData = toBytes(parameters.reportData, 'reportData')
  if (reportData.length > 64) throw new ReportDataTooLongError({ length: reportData.length })
  const json = (await client.request({
    method: 'GetQuote',
    body: { report_data: toHexRaw(reportData) },
    timeout: parameters.timeout,
  })) as Json
  return {
    quote: hexField(json, 'GetQuote', 'quote'),
    eventLog: str(json, 'GetQuote', 'event_log'),
    reportData: hexField(json, 'GetQuote', 'report_data'),
    vmConfig: str(json, 'GetQuote', 'vm_config', ''),
  }
}

export class ReportDataTooLongError extends BaseError {
  override name = 'ReportDataTooLongError'
  constructor({ length }: { length: number }) {
    super(`report_data is ${length} bytes; at most 64 are allowed.`, { metaMessages: ['Hash longer data first.'] })
  }
}
