/** `Attest` (dstack.md §1.2, §4.7; v0.5.6+): a versioned attestation container over `report_data` (≤ 64 bytes). */
import type { BaseTeeClient } from '../createTeeClient.js'
import { type BytesLike, toBytes, toHexRaw } from '../internal/bytes.js'
import { ReportDataTooLongError } from './getQuote.js'
import { hexField, type Json } from './internal.js'

export type AttestParameters = { readonly reportData: BytesLike; readonly timeout?: number }
export type AttestReturnType = { readonly attestation: Uint8Array }

/**
 * Asks the guest agent for an attestation container (dstack-verifier input).
 *
 * @throws {ReportDataTooLongError} when `reportData` exceeds 64 bytes.
 * @throws {GuestAgentError} when the agent rejects the request.
 * @example
 * const { attestation } = await attest(client, { reportData: '0x01' })
 */
export async function attest(client: BaseTeeClient, parameters: AttestParameters): Promise<AttestReturnType> {
  const reportData = toBytes(parameters.reportData, 'reportData')
  if (reportData.length > 64) throw new ReportDataTooLongError({ length: reportData.length })
  const json = (await client.request({
    method: 'Attest',
    body: { report_data: toHexRaw(reportData) },
    timeout: parameters.timeout,
  })) as Json
  return { attestation: hexField(json, 'Attest', 'attestation') }
}
