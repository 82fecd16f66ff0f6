/**
 * Is this quote's OS image an approved one? (DESIGN.md §14 "an approved OS image is a set of expected measurements
 * (MRTD, RTMR0–2) compared with the quote"; docs/protocol.md "OS image measurements".)
 *
 * An OS image is approved in RegentAppAuth together with its measurements, one per VM shape, each filed under dstack's
 * `mr_system` of the boot before its key provider is measured (reference/dstack.md §4.5):
 * `SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ 0³²)`. A verifier holding a verified quote computes that value from the
 * quote's own registers and asks the contract which approved image it belongs to (`osImageOfMeasurement`). The
 * image a CVM names — its `os-image-hash` event, which the OS writes about itself, or the host's vm_config — decides
 * nothing; when it names another image than the measured one the instance is refused as well.
 *
 * Used by the uplift source before anything leaves (`verifyTarget`'s `osImage` check) and by `verifyInstance`
 * (`regent identity verify`). Refusal code: `os_image.measurement`.
 */
import { createHash } from 'node:crypto'
import { regentAppAuthAbi } from '@regent-tee/contracts'
import type { Address, Client } from 'viem'
import { getBlock, readContract } from 'viem/actions'
import { BaseError } from './errors.js'
import { type Hex, toHex } from './internal/bytes.js'
import type { Reason } from './signAndAttest.js'

/** The OS image registers of a TDX quote, lowercase hex (as @regent-tee/attest's verdict gives them). */
export type Measurements = { readonly mrTd: string; readonly rtmr0: string; readonly rtmr1: string; readonly rtmr2: string }

/** The refusal code of a quote whose MRTD/RTMR0–2 are not those of an approved, active OS image. */
export const code = 'os_image.measurement'

/**
 * dstack's `mr_system` with no key provider measured: SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ 0³²), the key under which
 * RegentAppAuth files an OS image measurement.
 *
 * @throws {InvalidMeasurementsError} when a register is not 48 bytes of hex.
 * @example
 * const mr = OsImage.mrSystem(verdict.measurements)
 */
export function mrSystem(measurements: Measurements): Hex {
  const hash = createHash('sha256')
  for (const name of ['mrTd', 'rtmr0', 'rtmr1', 'rtmr2'] as const) {
    const value = measurements[name]
    if (typeof value !== 'string' || !/^(0x)?[0-9a-fA-F]{96}$/.test(value)) throw new InvalidMeasurementsError({ register: name })
    hash.update(Buffer.from(value.replace(/^0x/, ''), 'hex'))
  }
  return toHex(new Uint8Array(hash.update(new Uint8Array(32)).digest()))
}

export type VerifyOsImageParameters = {
  /** RegentAppAuth. */
  readonly appAuth: Address
  /** The app whose approvals count (the zero address: the KMS nodes' table). */
  readonly appId: Address
  /** The verified quote's registers. */
  readonly measurements: Measurements
  /** The image the instance names for itself (its `os-image-hash` event, or a vm_config), if any: a claim only. */
  readonly claimed?: Hex | string | undefined
}

export type VerifyOsImageReturnType =
  | { readonly ok: true; readonly osImageHash: Hex; readonly reason: undefined }
  | { readonly ok: false; readonly osImageHash: undefined; readonly reason: Reason }

/**
 * Finds the approved, active OS image of `appId` whose measurement the quote's registers are, at the latest block.
 * Never throws for a bad instance; chain read errors of the caller's own client propagate.
 *
 * @example
 * const image = await verifyOsImage(client, { appAuth, appId, measurements: verdict.measurements, claimed })
 * if (!image.ok) refuse(image.reason) // os_image.measurement
 */
export async function verifyOsImage(client: Client, parameters: VerifyOsImageParameters): Promise<VerifyOsImageReturnType> {
  const refuse = (message: string): VerifyOsImageReturnType => ({ ok: false, osImageHash: undefined, reason: { code, message } })
  let mr: Hex
  try {
    mr = mrSystem(parameters.measurements)
  } catch {
    return refuse('The quote has no TDX MRTD/RTMR0-2 to compare with an approved OS image.')
  }
  const block = await getBlock(client, { blockTag: 'latest' })
  const [osImageHash, activatesAt] = (await readContract(client, {
    address: parameters.appAuth,
    abi: regentAppAuthAbi,
    functionName: 'osImageOfMeasurement',
    args: [parameters.appId, mr],
    blockNumber: block.number,
  })) as readonly [Hex, bigint]
  const whose = /^0x0{40}$/.test(parameters.appId) ? 'the KMS nodes' : `app ${parameters.appId}`
  if (/^0x0{64}$/.test(osImageHash))
    return refuse(`The quote's MRTD/RTMR0-2 (mr_system ${mr}) are not a measurement of any OS image approved for ${whose}.`)
  if (block.timestamp < activatesAt)
    return refuse(`The quote measures OS image ${osImageHash}, still in its timelock for ${whose} (active at ${activatesAt}).`)
  const claimed = parameters.claimed === undefined ? undefined : `0x${String(parameters.claimed).replace(/^0x/, '').toLowerCase()}`
  if (claimed !== undefined && claimed !== osImageHash.toLowerCase())
    return refuse(`The instance names OS image ${claimed}, but the quote's MRTD/RTMR0-2 are those of ${osImageHash}.`)
  return { ok: true, osImageHash: osImageHash.toLowerCase() as Hex, reason: undefined }
}

/** A check `verifyTarget` runs on a verified target quote: no reasons when its OS image is approved and active. */
export type Check = (quote: {
  readonly measurements?: unknown
  readonly app?: { readonly osImageHash?: Uint8Array | undefined } | undefined
}) => Promise<readonly Reason[]>

/**
 * The {@link Check} of an app against RegentAppAuth on `client`'s chain (what the uplift source passes to
 * `verifyTarget` as `osImage`). The quote's `os-image-hash` event, if any, is compared as a claim.
 *
 * @example
 * const verdict = await verifyTarget({ ..., osImage: OsImage.checker(client, { appAuth, appId }) })
 */
export function checker(client: Client, parameters: { appAuth: Address; appId: Address }): Check {
  return async (quote) => {
    const m = quote.measurements as Partial<Measurements> | undefined
    if (!m || typeof m.mrTd !== 'string')
      return [{ code, message: 'The quote has no TDX MRTD/RTMR0-2 to compare with an approved OS image.' }]
    const claimed = quote.app?.osImageHash
    const result = await verifyOsImage(client, {
      ...parameters,
      measurements: m as Measurements,
      claimed: claimed && claimed.length > 0 ? toHex(claimed) : undefined,
    })
    return result.ok ? [] : [result.reason]
  }
}

/** A register is not 48 bytes of hex. */
export class InvalidMeasurementsError extends BaseError {
  override name = 'OsImage.InvalidMeasurementsError'
  constructor({ register }: { register: string }) {
    super(`Invalid measurement: ${register} must be 48 bytes of hex.`)
  }
}
