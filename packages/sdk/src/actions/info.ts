/** `Info` (dstack.md §1.2): app identity, measurements and the TCB info document (computed from an unverified local quote). */
import type { BaseTeeClient } from '../createTeeClient.js'
import { InvalidResponseError } from '../transports/createTransport.js'
import { hexField, type Json, str } from './internal.js'

export type TcbInfo = {
  readonly mrtd: string
  readonly rtmr0: string
  readonly rtmr1: string
  readonly rtmr2: string
  readonly rtmr3: string
  readonly mr_aggregated?: string
  readonly os_image_hash?: string
  readonly compose_hash?: string
  readonly device_id?: string
  readonly event_log: readonly Record<string, unknown>[]
  readonly app_compose: string
  readonly [key: string]: unknown
}

export type InfoReturnType = {
  readonly appId: Uint8Array
  /** Empty when the app has no instance id. */
  readonly instanceId: Uint8Array
  readonly appCert: string
  /** Parsed `tcb_info`; undefined when the agent sent an empty string. */
  readonly tcbInfo: TcbInfo | undefined
  readonly appName: string
  readonly deviceId: Uint8Array
  readonly mrAggregated: Uint8Array
  readonly osImageHash: Uint8Array
  /** The raw `key-provider` event payload JSON. */
  readonly keyProviderInfo: string
  readonly composeHash: Uint8Array
  readonly vmConfig: string
}

/**
 * Reads the app info. Not evidence: verify a quote for anything that matters.
 *
 * @throws {InvalidResponseError} when `tcb_info` is not JSON.
 * @example
 * const { appId, composeHash } = await info(client)
 */
export async function info(client: BaseTeeClient): Promise<InfoReturnType> {
  const json = (await client.request({ method: 'Info', body: {} })) as Json
  const tcbText = str(json, 'Info', 'tcb_info', '')
  let tcbInfo: TcbInfo | undefined
  if (tcbText) {
    try {
      tcbInfo = JSON.parse(tcbText) as TcbInfo
    } catch {
      throw new InvalidResponseError({ method: 'Info', reason: 'tcb_info is not JSON' })
    }
  }
  return {
    appId: hexField(json, 'Info', 'app_id'),
    instanceId: hexField(json, 'Info', 'instance_id', true),
    appCert: str(json, 'Info', 'app_cert', ''),
    tcbInfo,
    appName: str(json, 'Info', 'app_name', ''),
    deviceId: hexField(json, 'Info', 'device_id', true),
    mrAggregated: hexField(json, 'Info', 'mr_aggregated', true),
    osImageHash: hexField(json, 'Info', 'os_image_hash', true),
    keyProviderInfo: str(json, 'Info', 'key_provider_info', ''),
    composeHash: hexField(json, 'Info', 'compose_hash', true),
    vmConfig: str(json, 'Info', 'vm_config', ''),
  }
}
