/**
 * A devnet CVM: a simulated TD that boots like dstack OS 0.5.x and answers the guest-agent operations.
 *
 * Boot (dstack `dstack-util/src/system_setup.rs`, facts in reference/dstack.md §4.4–§4.6):
 * 1. compose hash = SHA-256 of the exact app-compose.json bytes (nothing is re-serialized);
 * 2. effective key provider kind = compose `key_provider`, else kms if `kms_enabled`, else local if
 *    `local_key_provider_enabled`, else none; app id = the host's pinned id (kms only) else compose_hash[0..20];
 *    for a non-kms kind app id is forced to compose_hash[0..20];
 * 3. instance id = SHA-256(seed ‖ app id)[0..20] (seed from the host, else 20 random bytes; empty when the
 *    compose sets `no_instance_id`);
 * 4. MRCONFIGID as the VMM sets it (§4.2; V1 without `key_provider_id`, V2 with it) — DevnetTd.mrConfigId;
 * 5. RTMR3: system-preparing, app-id, compose-hash, instance-id, boot-mr-done; then the key request to the key
 *    provider with a quote taken at that point (report_data = SHA-512("ratls-cert:" ‖ SPKI) of an ephemeral
 *    P-256 key, as dstack's RA-TLS client certificate); then os-image-hash, key-provider
 *    (`{"name","id"}` compact JSON, id = hex of the provider id), storage-fs, system-ready.
 *
 * The devnet serves FULL event logs (RTMR3 digests present); dstack ≥ 0.5.6 blanks RTMR3 digests in GetQuote
 * (§1.6). Verifiers must recompute them either way (attest's EventLog.replay does).
 *
 * Fault injection ({@link Faults}) lets tests play a misbehaving host (issue 4).
 */
import { createHash, randomBytes } from 'node:crypto'
import { p256 } from '@noble/curves/nist'
import { BaseError, type EventLog, ReportData } from '@regent-tee/attest'
import { EnvEncryption, GetKey } from '@regent-tee/kms'
import * as Attestation from '../guest/Attestation.js'
import * as Certificate from '../guest/Certificate.js'
import * as DstackKeys from '../guest/DstackKeys.js'
import * as DevnetQe from '../tdx/DevnetQe.js'
import * as DevnetTd from '../tdx/DevnetTd.js'
import type { AppKeys, KeyProvider } from './KeyProvider.js'

/** Runtime event names dstack OS writes; {@link Cvm.emitEvent} refuses them. */
export const reservedEventNames: readonly string[] = [
  'system-preparing',
  'app-id',
  'compose-hash',
  'instance-id',
  'boot-mr-done',
  'mr-kms',
  'os-image-hash',
  'key-provider',
  'storage-fs',
  'system-ready',
  'init-script-hash',
  'gpu-policy-hash',
  'gpu-attestation',
]

/** The guest agent version the devnet reports (the dstack 0.5.x API it implements, EmitEvent included). */
export const version = { version: '0.5.8', rev: 'regent-devnet' } as const

/** Fault injection for tests of misbehaving hosts. */
export type Faults = {
  /** Serve the first quote this CVM produced, whatever report_data is asked for. */
  staleQuote?: boolean | undefined
  /** Report other app-compose bytes than were measured (`true`: the measured bytes plus a trailing newline). */
  alterComposeAfterMeasure?: boolean | Uint8Array | undefined
}

/** What Info reports about the CVM. */
export type Info = {
  readonly appId: Uint8Array
  readonly instanceId: Uint8Array
  readonly composeHash: Uint8Array
  readonly appName: string
  /** The `key-provider` event payload text, e.g. `{"name":"local-devnet","id":"3059…"}`. */
  readonly keyProviderInfo: string
  readonly keyProviderKind: 'none' | 'local' | 'kms' | 'tpm'
  readonly osImageHash: Uint8Array
  readonly vmConfig: string
  /** SHA-256 of empty input, as dstack ≥ 0.5.6 guest agents report (dstack.md §1.2 Info). */
  readonly deviceId: Uint8Array
  readonly mrConfigId: Uint8Array
}

/** A quote with what GetQuote returns beside it. */
export type QuoteResult = {
  readonly quote: Uint8Array
  /** Event log JSON, unstripped (full RTMR3 digests). */
  readonly eventLog: string
  /** The 64-byte padded report data. */
  readonly reportData: Uint8Array
  readonly vmConfig: string
}

/** GetTlsKey options (dstack `GetTlsKeyArgs`). */
export type TlsKeyOptions = {
  subject?: string | undefined
  altNames?: readonly string[] | undefined
  usageRaTls?: boolean | undefined
  usageServerAuth?: boolean | undefined
  usageClientAuth?: boolean | undefined
  /** Unix seconds. @default now */
  notBefore?: number | undefined
  /** Unix seconds. @default notBefore + 10 years */
  notAfter?: number | undefined
  /**
   * Derive the P-256 key from the app key and this path instead of a fresh random seed: the legacy Tappd
   * `DeriveKey` (dstack v0.5.x `guest-agent/src/rpc_service.rs` `derive_key`: `derive_p256_key_pair_from_bytes(
   * k256_app_key, [path])`). @default a fresh random key (GetTlsKey)
   */
  derivePath?: string | undefined
}

/** Register values Info's tcb_info reports (hex). */
export type TcbInfo = {
  mrtd: string
  rtmr0: string
  rtmr1: string
  rtmr2: string
  rtmr3: string
  mr_aggregated: string
  os_image_hash: string
  compose_hash: string
  device_id: string
  event_log: unknown[]
  app_compose: string
}

/** A booted devnet CVM. */
export type Cvm = {
  readonly info: Info
  /** Faults to inject; mutate freely. */
  faults: Faults
  /** The app-compose.json bytes as the host reports them (altered under {@link Faults.alterComposeAfterMeasure}). */
  appCompose(): Uint8Array
  /** A quote over `reportData` (≤ 64 bytes, right-padded with zeros). @throws {ReportDataTooLongError} */
  quote(options: { reportData: Uint8Array }): QuoteResult
  /** dstack V0 attestation (SCALE) for `reportData`. @throws {ReportDataTooLongError} */
  attest(options: { reportData: Uint8Array }): Uint8Array
  /**
   * Extends RTMR3 with an app event.
   * @throws {InvalidEventError} for an empty or reserved name, or one with `:`, NUL or another control character
   *   ({@link assertEventName}).
   */
  emitEvent(options: { name: string; payload: Uint8Array }): void
  /** GetKey. @throws {DstackKeys.UnsupportedAlgorithmError} */
  getKey(options: { path: string; purpose: string; algorithm?: string | undefined }): {
    key: Uint8Array
    signatureChain: [Uint8Array, Uint8Array]
  }
  /** Sign with the `vms`/`signing` key. @throws {DstackKeys.UnsupportedAlgorithmError} {@link DstackKeys.InvalidSignInputError} */
  sign(options: { algorithm: string; data: Uint8Array }): { signature: Uint8Array; signatureChain: Uint8Array[]; publicKey: Uint8Array }
  /** Verify. @throws {DstackKeys.UnsupportedAlgorithmError} */
  verify(options: { algorithm: string; data: Uint8Array; signature: Uint8Array; publicKey: Uint8Array }): boolean
  /** A P-256 key (fresh and random, or derived with `derivePath`) and its chain `[leaf, app CA, root CA]` from the key provider. */
  tlsKey(options?: TlsKeyOptions): Promise<{ key: string; certificateChain: string[] }>
  /** The tcb_info document of Info (registers from a fresh local report). */
  tcbInfo(): TcbInfo
  /** The certificate chain of the "demo-cert" requested at boot (Info `app_cert`). */
  readonly appCert: string
  /**
   * Opens the host-provided encrypted env with the app's env key from the key provider, as dstack-util does inside
   * the CVM (reference/dstack.md §6.2): only keys the compose lists in `allowed_envs` are kept.
   * @throws {InvalidEnvError} the ciphertext does not open under this app's key or its content is malformed.
   */
  decryptEnv(ciphertext: Uint8Array): Record<string, string>
}

export type CreateOptions = {
  /** The exact app-compose.json bytes. */
  compose: Uint8Array
  /** App id the host pins (20 bytes); only honoured for the kms key provider kind. */
  appId?: Uint8Array | undefined
  /** Host-provided instance id seed. @default 20 random bytes */
  instanceIdSeed?: Uint8Array | undefined
  /** The OS image the CVM boots (MRTD, RTMR1, RTMR2). @default DevnetTd.defaultImage */
  image?: DevnetTd.OsImage | undefined
  /** The VM shape (RTMR0). @default DevnetTd.defaultShape */
  shape?: DevnetTd.VmShape | undefined
  qe: DevnetQe.DevnetQe
  keyProvider: KeyProvider
  /**
   * VmConfig JSON, as the host writes it (so a hostile host may name any image here: nothing trusts it).
   * @default built from the image and shape (os_image_hash, cpu_count, memory_size, …)
   */
  vmConfig?: string | undefined
}

/**
 * Boots a CVM (see the module header for the sequence).
 *
 * @throws {InvalidComposeError} when the compose is not a JSON object with a string `name`, or a pinned app id
 *   conflicts with a non-kms key provider; {@link KeyProvider} errors when the provider refuses the keys.
 * @example
 * const cvm = await createCvm({ compose: new TextEncoder().encode(json), qe, keyProvider })
 */
export async function createCvm(options: CreateOptions): Promise<Cvm> {
  const composeBytes = Uint8Array.from(options.compose)
  let compose: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(composeBytes))
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object')
    compose = parsed as Record<string, unknown>
  } catch (cause) {
    throw new InvalidComposeError({ reason: 'app-compose.json is not a UTF-8 JSON object', cause })
  }
  if (typeof compose.name !== 'string') throw new InvalidComposeError({ reason: 'field "name" must be a string' })
  const kind = keyProviderKind(compose)
  const composeHash = sha256(composeBytes)
  let appId = composeHash.subarray(0, 20)
  if (options.appId !== undefined) {
    if (options.appId.length !== 20) throw new InvalidComposeError({ reason: `app id must be 20 bytes, got ${options.appId.length}` })
    if (kind === 'kms') appId = Uint8Array.from(options.appId)
    else if (!equal(options.appId, appId))
      throw new InvalidComposeError({
        reason: `key provider "${kind}" forces app id = compose_hash[0..20]; a different app id cannot be pinned`,
      })
  }
  const instanceId =
    compose.no_instance_id === true
      ? new Uint8Array(0)
      : sha256(concat(options.instanceIdSeed ?? new Uint8Array(randomBytes(20)), appId)).subarray(0, 20)
  const image = options.image ?? DevnetTd.defaultImage
  const shape = options.shape ?? DevnetTd.defaultShape
  const vmConfig =
    options.vmConfig ??
    JSON.stringify({
      os_image_hash: hex(DevnetTd.osImageHash(image)),
      cpu_count: shape.vcpus,
      memory_size: shape.memoryMb * 1024 * 1024,
      qemu_single_pass_add_pages: false,
      pic: false,
      pci_hole64_size: 0,
      hugepages: false,
      num_gpus: 0,
      num_nvswitches: 0,
      hotplug_off: false,
      image: `${image.name}-${image.version}`,
    })
  const keyProviderId = typeof compose.key_provider_id === 'string' ? hexToBytes(compose.key_provider_id) : undefined
  if (keyProviderId === null) throw new InvalidComposeError({ reason: 'field "key_provider_id" must be hex' })
  const mrConfigId = DevnetTd.mrConfigId({ composeHash, appId, keyProviderKind: kind, keyProviderId })
  const td = DevnetTd.create({ image, shape, mrConfigId })
  const { qe, keyProvider } = options

  const extend = (name: string, payload: Uint8Array) => DevnetTd.extend(td, { name, payload })
  const produce = (reportData: Uint8Array): QuoteResult => {
    const padded = new Uint8Array(64)
    padded.set(reportData)
    const quote = DevnetQe.quote(qe, { tdReport: DevnetTd.report(td, { reportData: padded }) })
    return { quote, eventLog: DevnetTd.eventLogJson(td, { stripped: false }), reportData: padded, vmConfig }
  }

  extend('system-preparing', new Uint8Array(0))
  extend('app-id', appId)
  extend('compose-hash', composeHash)
  extend('instance-id', instanceId)
  extend('boot-mr-done', new Uint8Array(0))
  // Key request: a quote bound to an ephemeral RA-TLS key, as dstack's KMS client certificate.
  const requestKey = p256.utils.randomPrivateKey()
  const requestQuote = produce(ReportData.fromRaTlsCertificate(Certificate.spkiOf(requestKey)))
  requestKey.fill(0)
  const keys: AppKeys = await keyProvider.appKeys({
    appId,
    instanceId,
    quote: requestQuote.quote,
    eventLog: requestQuote.eventLog,
    vmConfig,
    attest: (reportData) => {
      if (reportData.length > 64) throw new ReportDataTooLongError({ length: reportData.length })
      const q = produce(reportData)
      return { quote: q.quote, eventLog: q.eventLog }
    },
  })
  // dstack measures the os_image_hash its KMS answers; without a KMS the devnet logs what the host's vm_config
  // claims (self-reported either way: verifiers compare MRTD/RTMR0–2 with the approved image instead).
  const loggedImageHash = keys.osImageHash ?? claimedImageHash(vmConfig) ?? DevnetTd.osImageHash(image)
  extend('os-image-hash', loggedImageHash)
  const keyProviderInfo = JSON.stringify({ name: keyProvider.info.name, id: hex(keyProvider.info.id) })
  extend('key-provider', new TextEncoder().encode(keyProviderInfo))
  extend('storage-fs', new TextEncoder().encode(typeof compose.storage_fs === 'string' ? compose.storage_fs : 'zfs'))
  extend('system-ready', new Uint8Array(0))

  const info: Info = {
    appId,
    instanceId,
    composeHash,
    appName: compose.name,
    keyProviderInfo,
    keyProviderKind: kind,
    osImageHash: loggedImageHash,
    vmConfig,
    deviceId: sha256(new Uint8Array(0)),
    mrConfigId,
  }
  let first: QuoteResult | undefined
  const quote = (o: { reportData: Uint8Array }): QuoteResult => {
    if (o.reportData.length > 64) throw new ReportDataTooLongError({ length: o.reportData.length })
    if (cvm.faults.staleQuote && first) {
      const padded = new Uint8Array(64)
      padded.set(o.reportData)
      return { ...first, reportData: padded }
    }
    const result = produce(o.reportData)
    first ??= result
    return result
  }
  const getKey: Cvm['getKey'] = (o) => {
    const { key, signatureChain } = GetKey.derive({
      appK256Key: keys.k256Key,
      k256Signature: keys.k256Signature,
      path: o.path,
      purpose: o.purpose,
      algorithm: DstackKeys.keyAlgorithm(o.algorithm ?? ''),
    })
    return { key, signatureChain }
  }

  const tlsKey = async (o: TlsKeyOptions = {}): Promise<{ key: string; certificateChain: string[] }> => {
    const scalar = tlsKeyScalar(o.derivePath)
    try {
      const spki = Certificate.spkiOf(scalar)
      const q = produce(ReportData.fromRaTlsCertificate(spki))
      const notBefore = new Date((o.notBefore ?? Math.floor(Date.now() / 1000)) * 1000)
      const notAfter = o.notAfter !== undefined ? new Date(o.notAfter * 1000) : new Date(notBefore.getTime() + 10 * 365 * 86_400_000)
      if (!(notBefore.getTime() < notAfter.getTime())) throw new InvalidTlsOptionsError({ reason: 'not_after must be after not_before' })
      const extensions: { oid: string; value: Uint8Array }[] = [
        { oid: Certificate.oids.specialUsage, value: new TextEncoder().encode('app:custom') },
      ]
      if (o.usageRaTls) {
        const stripped = DevnetTd.eventLog(td).filter((e) => e.imr === 3)
        extensions.push({ oid: Certificate.oids.attestation, value: attestation(q, stripped) })
      }
      const certificateChain = await keyProvider.signCertificate({
        appId,
        instanceId,
        quote: q.quote,
        eventLog: q.eventLog,
        vmConfig,
        spki,
        subject: o.subject ?? '',
        altNames: o.altNames ?? [],
        usageServerAuth: o.usageServerAuth ?? true,
        usageClientAuth: o.usageClientAuth ?? false,
        extensions,
        notBefore,
        notAfter,
      })
      const pkcs8 = DstackKeys.p256Pkcs8({ privateKey: scalar })
      const key = Certificate.toPem(pkcs8, 'PRIVATE KEY')
      pkcs8.fill(0)
      return { key, certificateChain }
    } finally {
      scalar.fill(0)
    }
  }

  /** GetTlsKey: HKDF of a random seed with no context; Tappd.DeriveKey: HKDF of the app k256 key with the path. */
  const tlsKeyScalar = (derivePath: string | undefined): Uint8Array => {
    if (derivePath === undefined) {
      const seed = new Uint8Array(randomBytes(32))
      const scalar = DstackKeys.deriveKey({ ikm: seed, context: [] })
      seed.fill(0)
      return scalar
    }
    const scalar = DstackKeys.deriveKey({ ikm: keys.k256Key, context: [derivePath] })
    // p256::SecretKey::from_slice refuses 0 and values ≥ n ("failed to derive key"); odds ≈ 2^-32.
    const n = BigInt(`0x${hex(scalar)}`)
    if (n === 0n || n >= p256.CURVE.n) {
      scalar.fill(0)
      throw new InvalidTlsOptionsError({ reason: 'the derived P-256 scalar is out of range for this path' })
    }
    return scalar
  }

  const attestation = (q: QuoteResult, eventLog: readonly EventLog.Event[]) =>
    Attestation.serialize({
      quote: q.quote,
      eventLog,
      runtimeEvents: td.events.map((e) => ({ name: e.event, payload: e.payload })),
      reportData: q.reportData,
      config: q.vmConfig,
    })

  const appCert = (await tlsKey({ subject: 'demo-cert', usageRaTls: true })).certificateChain.join('')

  const cvm: Cvm = {
    info,
    faults: {},
    appCert,
    appCompose() {
      const altered = cvm.faults.alterComposeAfterMeasure
      if (altered instanceof Uint8Array) return Uint8Array.from(altered)
      if (altered) return concat(composeBytes, Uint8Array.of(0x0a))
      return Uint8Array.from(composeBytes)
    },
    quote,
    attest(o) {
      const q = quote(o)
      return attestation(q, DevnetTd.eventLog(td))
    },
    emitEvent(o) {
      assertEventName(o.name)
      extend(o.name, o.payload)
    },
    getKey,
    sign(o) {
      const algorithm = DstackKeys.signAlgorithm(o.algorithm)
      const keyAlgorithm = algorithm === 'ed25519' ? 'ed25519' : 'secp256k1'
      const { key, signatureChain } = getKey({ path: 'vms', purpose: 'signing', algorithm: keyAlgorithm })
      try {
        const signature = DstackKeys.sign({ key, algorithm, data: o.data })
        const publicKey = DstackKeys.publicKeyOf({ key, algorithm: keyAlgorithm })
        return { signature, signatureChain: [signature, ...signatureChain], publicKey }
      } finally {
        key.fill(0)
      }
    },
    verify(o) {
      return DstackKeys.verify({ ...o, algorithm: DstackKeys.signAlgorithm(o.algorithm) })
    },
    tlsKey,
    decryptEnv(ciphertext) {
      let envs: EnvEncryption.EnvVar[]
      try {
        envs = EnvEncryption.decrypt({ ciphertext, envCryptKey: keys.envCryptKey })
      } catch (cause) {
        throw new InvalidEnvError({ reason: 'the encrypted env does not open with this app’s env key', cause })
      }
      const allowed = Array.isArray(compose.allowed_envs) ? compose.allowed_envs.filter((k): k is string => typeof k === 'string') : []
      const out: Record<string, string> = {}
      for (const { key, value } of envs) if (allowed.includes(key)) out[key] = value
      return out
    },
    tcbInfo() {
      const report = DevnetTd.report(td, { reportData: new Uint8Array(64) })
      const config = concat(report.mrConfigId, report.mrOwner, report.mrOwnerConfig)
      const mrAggregated = sha256(
        concat(report.mrTd, report.rtmr0, report.rtmr1, report.rtmr2, report.rtmr3, ...(config.some((b) => b !== 0) ? [config] : [])),
      )
      return {
        mrtd: hex(report.mrTd),
        rtmr0: hex(report.rtmr0),
        rtmr1: hex(report.rtmr1),
        rtmr2: hex(report.rtmr2),
        rtmr3: hex(report.rtmr3),
        mr_aggregated: hex(mrAggregated),
        os_image_hash: hex(info.osImageHash),
        compose_hash: hex(info.composeHash),
        device_id: hex(info.deviceId),
        event_log: JSON.parse(DevnetTd.eventLogJson(td, { stripped: false })) as unknown[],
        app_compose: new TextDecoder().decode(cvm.appCompose()),
      }
    },
  }
  return cvm
}

/** The os_image_hash a vm_config names (32 bytes), or undefined. */
function claimedImageHash(vmConfig: string): Uint8Array | undefined {
  try {
    const value = (JSON.parse(vmConfig) as { os_image_hash?: unknown }).os_image_hash
    return typeof value === 'string' && /^[0-9a-fA-F]{64}$/.test(value) ? new Uint8Array(Buffer.from(value, 'hex')) : undefined
  } catch {
    return undefined
  }
}

/**
 * The rule for app event names (docs/devnet-guest-agent.md "EmitEvent"): not empty, not one of dstack OS's own
 * {@link reservedEventNames}, and no `:` (dstack's V1 digest is SHA-384(type ‖ ":" ‖ name ‖ ":" ‖ payload), so a `:` in a
 * name lets two different (name, payload) pairs share one digest — an event log could then name another event than
 * the one measured), no NUL and no control character (C0, DEL, C1: they truncate or split names in logs and tools).
 * dstack's own guest agent (0.5.5–0.5.11) checks none of this; its HEAD removed EmitEvent.
 *
 * @throws {InvalidEventError} naming the rule broken.
 * @example
 * assertEventName('model-digest') // ok
 */
export function assertEventName(name: string): void {
  if (name === '') throw new InvalidEventError({ reason: 'the event name is empty' })
  if (reservedEventNames.includes(name)) throw new InvalidEventError({ reason: `"${name}" is reserved for dstack OS` })
  if (name.includes(':')) throw new InvalidEventError({ reason: 'the event name contains ":" (the digest separator)' })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is about control characters
  const control = /[\u0000-\u001f\u007f-\u009f]/.exec(name)
  if (control)
    throw new InvalidEventError({
      reason: `the event name contains the control character U+${(control[0].codePointAt(0) ?? 0).toString(16).padStart(4, '0').toUpperCase()}`,
    })
}

/** dstack's effective key provider kind of a compose (§4.6). */
export function keyProviderKind(compose: Record<string, unknown>): 'none' | 'local' | 'kms' | 'tpm' {
  const named = compose.key_provider
  if (named === 'none' || named === 'local' || named === 'kms' || named === 'tpm') return named
  if (compose.kms_enabled === true) return 'kms'
  if (compose.local_key_provider_enabled === true) return 'local'
  return 'none'
}

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest())
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

function hexToBytes(text: string): Uint8Array | null {
  const h = text.startsWith('0x') ? text.slice(2) : text
  if (h.length % 2 !== 0 || /[^0-9a-fA-F]/.test(h)) return null
  return new Uint8Array(Buffer.from(h, 'hex'))
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

const concat = DstackKeys.concat

/** The app-compose.json (or a host option derived from it) is unusable. */
export class InvalidComposeError extends BaseError {
  override name = 'Cvm.InvalidComposeError'
  constructor({ reason, cause }: { reason: string; cause?: unknown }) {
    super(`Invalid app compose: ${reason}.`, cause === undefined ? {} : { cause })
  }
}

/** report_data is longer than 64 bytes (dstack answers "Report data is too long"). */
export class ReportDataTooLongError extends BaseError {
  override name = 'Cvm.ReportDataTooLongError'
  constructor({ length }: { length: number }) {
    super('Report data is too long', { details: `${length} bytes; at most 64 are allowed` })
  }
}

/** An EmitEvent request is refused. */
export class InvalidEventError extends BaseError {
  override name = 'Cvm.InvalidEventError'
  constructor({ reason }: { reason: string }) {
    super(`Invalid event: ${reason}.`)
  }
}

/** The encrypted env cannot be used. */
export class InvalidEnvError extends BaseError {
  override name = 'Cvm.InvalidEnvError'
  constructor({ reason, cause }: { reason: string; cause?: unknown }) {
    super(`Invalid encrypted env: ${reason}.`, cause === undefined ? {} : { cause })
  }
}

/** GetTlsKey options are inconsistent. */
export class InvalidTlsOptionsError extends BaseError {
  override name = 'Cvm.InvalidTlsOptionsError'
  constructor({ reason }: { reason: string }) {
    super(`Invalid TLS key options: ${reason}.`)
  }
}
