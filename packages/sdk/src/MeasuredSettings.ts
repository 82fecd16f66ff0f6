/**
 * An agent's security settings, measured (DESIGN.md §14 "The host is the adversary"; docs/sdk.md "Measured
 * settings"): who may administer it, which chain and contracts it answers to, and which roots of trust it accepts
 * besides Intel's. They live in the app's compose, so the compose hash — measured into RTMR3, quoted by the hardware
 * and approved on-chain with a timelock — covers them, and a host that changes one changes the app's identity: its
 * KMS keys stop being released. The host still sets the environment, so nothing here is ever read from it.
 *
 * Where: one line of the compose's `docker_compose_file`, a Compose extension field (ignored by docker and by dstack),
 * written in JSON flow style so the exact bytes survive any re-serialization of the app-compose around them:
 *
 *   x-regent: {"v":1,"operator":"0x…","chainId":31337,"contracts":{…},"trustedRoots":["-----BEGIN CERTIFICATE-----…"]}
 *
 * In a CVM the agent reads it through its guest agent (`Info`: the measured app-compose, checked against the compose
 * hash); in the wild the operator is also the host, and the agent takes the same settings from its own configuration.
 */
import { createHash } from 'node:crypto'
import { type Address, getAddress, isAddress } from 'viem'
import { info } from './actions/info.js'
import type { RegentContracts } from './chain/transact.js'
import type { BaseTeeClient } from './createTeeClient.js'
import { BaseError } from './errors.js'

/** The settings (version 1). */
export type Settings = {
  readonly v: 1
  /** The address whose EIP-712 signatures administer the agent (admin API); none: no admin API. */
  readonly operator?: Address | undefined
  readonly chainId: number
  readonly contracts: RegentContracts
  /**
   * Roots of trust accepted besides the Intel SGX Root CA, as PEM (e.g. a devnet's root CA). They add to Intel's root;
   * a quote under one of them still verifies as `hardware: "devnet"`, never as TDX.
   */
  readonly trustedRoots?: readonly string[] | undefined
}

const prefix = 'x-regent:'
const requiredContracts = ['identityRegistry', 'appAuth', 'succession', 'treasury'] as const

/** The `x-regent` line for these settings (compact JSON, keys in a fixed order). */
export function toLine(settings: Settings): string {
  const contracts = Object.fromEntries(Object.entries(settings.contracts).sort(([a], [b]) => (a < b ? -1 : 1)))
  return `${prefix} ${JSON.stringify({
    v: 1,
    ...(settings.operator ? { operator: getAddress(settings.operator) } : {}),
    chainId: settings.chainId,
    contracts,
    ...(settings.trustedRoots?.length ? { trustedRoots: settings.trustedRoots } : {}),
  })}`
}

/** A docker_compose_file with the settings line first (replacing one already there). */
export function insert(dockerComposeFile: string, settings: Settings): string {
  const rest = dockerComposeFile.split('\n').filter((l) => !l.startsWith(prefix))
  return [toLine(settings), ...rest].join('\n')
}

/**
 * The settings of an app-compose (its JSON text), or `undefined` when it has none.
 *
 * @throws {InvalidSettingsError} the line is there but malformed (names the field).
 */
export function fromCompose(appCompose: string): Settings | undefined {
  let compose: unknown
  try {
    compose = JSON.parse(appCompose)
  } catch {
    throw new InvalidSettingsError({ field: 'app-compose', reason: 'not JSON' })
  }
  const file = (compose as { docker_compose_file?: unknown } | null)?.docker_compose_file
  if (typeof file !== 'string') return undefined
  const lines = file.split('\n').filter((l) => l.startsWith(prefix))
  if (lines.length === 0) return undefined
  if (lines.length > 1) throw new InvalidSettingsError({ field: 'x-regent', reason: 'more than one x-regent line' })
  return parse((lines[0] as string).slice(prefix.length).trim())
}

/**
 * Parses and checks the JSON of the settings.
 *
 * @throws {InvalidSettingsError} naming the field.
 */
export function parse(json: string | unknown): Settings {
  let value: unknown = json
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json)
    } catch {
      throw new InvalidSettingsError({ field: 'x-regent', reason: 'not JSON' })
    }
  }
  const bad = (field: string, reason: string): never => {
    throw new InvalidSettingsError({ field, reason })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('x-regent', 'not a JSON object')
  const v = value as Record<string, unknown>
  for (const k of Object.keys(v))
    if (!['v', 'operator', 'chainId', 'contracts', 'trustedRoots'].includes(k))
      bad(k, 'unknown field (version 1 has v, operator, chainId, contracts, trustedRoots)')
  if (v.v !== 1) bad('v', 'must be 1')
  if (v.operator !== undefined && (typeof v.operator !== 'string' || !isAddress(v.operator))) bad('operator', 'must be an address')
  if (typeof v.chainId !== 'number' || !Number.isSafeInteger(v.chainId) || v.chainId < 1) bad('chainId', 'must be a chain id')
  const c = v.contracts
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return bad('contracts', 'must be an object of addresses')
  for (const [k, a] of Object.entries(c)) if (typeof a !== 'string' || !isAddress(a)) bad(`contracts.${k}`, 'must be an address')
  for (const k of requiredContracts) if ((c as Record<string, unknown>)[k] === undefined) bad(`contracts.${k}`, 'is missing')
  const roots = v.trustedRoots
  if (
    roots !== undefined &&
    (!Array.isArray(roots) || roots.some((r) => typeof r !== 'string' || !r.includes('-----BEGIN CERTIFICATE-----')))
  )
    bad('trustedRoots', 'must be a list of PEM certificates')
  return {
    v: 1,
    ...(v.operator ? { operator: getAddress(v.operator as string) } : {}),
    chainId: v.chainId as number,
    contracts: Object.fromEntries(
      Object.entries(c as Record<string, string>).map(([k, a]) => [k, getAddress(a)]),
    ) as unknown as RegentContracts,
    ...(roots ? { trustedRoots: roots as string[] } : {}),
  }
}

/**
 * Reads this CVM's measured settings through its guest agent: the app-compose the OS measured, checked against the
 * measured compose hash.
 *
 * @throws {InvalidSettingsError} no app-compose, a compose that does not hash to the measured compose hash, no
 *   `x-regent` line, or a malformed one.
 * @example
 * const settings = await MeasuredSettings.read(tee)   // { operator, chainId, contracts, trustedRoots }
 */
export async function read(tee: BaseTeeClient): Promise<Settings> {
  const app = await info(tee)
  const compose = app.tcbInfo?.app_compose
  if (typeof compose !== 'string' || compose === '')
    throw new InvalidSettingsError({ field: 'app-compose', reason: 'the guest agent reports none' })
  const hash = createHash('sha256').update(compose).digest()
  if (!hash.equals(Buffer.from(app.composeHash)))
    throw new InvalidSettingsError({ field: 'app-compose', reason: 'it does not hash to the measured compose hash' })
  return fromCompose(compose) ?? fail()
}

const fail = (): never => {
  throw new InvalidSettingsError({ field: 'x-regent', reason: 'the measured compose has no x-regent line (regent deploy writes it)' })
}

/**
 * Environment variables that would be security settings: an agent refuses to boot when one is set, so that a host
 * cannot believe it changed one (docs/sdk.md "Measured settings").
 */
export const refusedEnvironment = [
  'REGENT_ADMIN_TOKEN',
  'REGENT_OPERATOR',
  'REGENT_TRUSTED_ROOT_PEM',
  'REGENT_CHAIN_ID',
  'REGENT_CONTRACTS',
] as const

/**
 * Throws when the environment carries a security setting.
 *
 * @throws {InvalidSettingsError} naming the variable.
 */
export function assertNoSecurityEnvironment(env: Record<string, string | undefined> = process.env): void {
  for (const name of refusedEnvironment)
    if (env[name] !== undefined && env[name] !== '')
      throw new InvalidSettingsError({
        field: name,
        reason: 'a security setting may not come from the environment (the host sets it); it belongs in the measured compose (x-regent)',
      })
}

/** Malformed or missing measured settings. */
export class InvalidSettingsError extends BaseError {
  override name = 'MeasuredSettings.InvalidSettingsError'
  override readonly code = 'settings.invalid'
  readonly field: string
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid measured settings: ${field} ${reason}.`)
    this.field = field
  }
}
