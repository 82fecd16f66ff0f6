/** `GetTlsKey` (dstack.md §1.2): a fresh random P-256 key with a certificate chain issued by the app CA. */
import type { BaseTeeClient } from '../createTeeClient.js'
import { type Json, str, strArray } from './internal.js'

export type GetTlsKeyParameters = {
  readonly subject?: string
  readonly altNames?: readonly string[]
  /** Embed the quote in the certificate (RA-TLS). @default false */
  readonly usageRaTls?: boolean
  /** @default true */
  readonly usageServerAuth?: boolean
  /** @default false */
  readonly usageClientAuth?: boolean
  /** Unix seconds (v0.5.6+). */
  readonly notBefore?: number
  readonly notAfter?: number
  readonly withAppInfo?: boolean
  readonly timeout?: number
}

export type GetTlsKeyReturnType = {
  /** PKCS#8 PEM private key. */
  readonly key: string
  /** PEM certificates, leaf first. */
  readonly certificateChain: readonly string[]
}

/**
 * Asks for a TLS key and certificate chain.
 *
 * @throws {GuestAgentError} when the agent rejects the request.
 * @example
 * const { key, certificateChain } = await getTlsKey(client, { subject: 'agent.example', altNames: ['agent.example'] })
 */
export async function getTlsKey(client: BaseTeeClient, parameters: GetTlsKeyParameters = {}): Promise<GetTlsKeyReturnType> {
  const body: Record<string, unknown> = {
    subject: parameters.subject ?? '',
    usage_ra_tls: parameters.usageRaTls ?? false,
    usage_server_auth: parameters.usageServerAuth ?? true,
    usage_client_auth: parameters.usageClientAuth ?? false,
  }
  if (parameters.altNames?.length) body.alt_names = parameters.altNames
  if (parameters.notBefore !== undefined) body.not_before = parameters.notBefore
  if (parameters.notAfter !== undefined) body.not_after = parameters.notAfter
  if (parameters.withAppInfo !== undefined) body.with_app_info = parameters.withAppInfo
  const json = (await client.request({ method: 'GetTlsKey', body, timeout: parameters.timeout })) as Json
  return { key: str(json, 'GetTlsKey', 'key'), certificateChain: strArray(json, 'GetTlsKey', 'certificate_chain') }
}
