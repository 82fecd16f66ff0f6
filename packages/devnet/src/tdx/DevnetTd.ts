/**
 * The devnet's simulated trust domain: builds TD 1.0 reports (584-byte TDREPORT body of a TDX v4 quote; layout
 * in attest's TdReport.ts, dcap.md §2.2) whose registers follow from a devnet "OS image" description, the
 * dstack MRCONFIGID rule and a running RTMR3.
 *
 * Measurement rule (devnet-only, permanent for label version v1; real MRTD/RTMR0–2 are produced by the TDX
 * module and firmware, which the devnet cannot reproduce):
 *   D(label, data) = SHA-384(utf8("regent-devnet/v1/" + label) ‖ 0x00 ‖ data)
 *   MRTD  = D("mrtd", firmware)
 *   RTMR0 = extend(0⁴⁸, D("rtmr0/hardware", utf8(JSON {"vcpus":n,"memoryMb":m})))   (the VM shape)
 *   RTMR1 = extend(0⁴⁸, D("rtmr1/kernel", kernel))
 *   RTMR2 = extend(extend(0⁴⁸, D("rtmr2/cmdline", utf8(cmdline))), D("rtmr2/initrd", initrd))
 * with extend(r, d) = SHA-384(r ‖ d), exactly the TDX RTMR extend, so the boot events ({@link bootEvents})
 * replay with attest's EventLog.replay like dstack's CCEL events do.
 *
 * As with dstack (reference/dstack.md §4.1, §4.8: RTMR0 holds the virtual hardware, so dstack-mr computes MRTD and
 * RTMR0–2 from the image *and* the VmConfig), an image's `os_image_hash` does not depend on the VM shape but its
 * RTMR0 does: an image publishes one measurement per shape ({@link published}), and that is what an approval of
 * the image records on-chain (RegentAppAuth `addOsImage(appId, osImageHash, measurements)`).
 *
 * RTMR3: dstack runtime events (dstack.md §4.3), digest by attest's EventLog.runtimeEventDigest, extended
 * in order by {@link extend}. MRCONFIGID: dstack-types `mr_config.rs` (dstack.md §4.2), see {@link mrConfigId}.
 * TD attributes: SEPT_VE_DISABLE (bit 28) set, DEBUG clear; XFAM as on the real Intel quotes seen;
 * MRSIGNERSEAM zero and SEAMATTRIBUTES zero, matching the devnet TCB info `tdxModule` (and dstack's
 * `mr_signer_seam == 0` policy).
 */
import { createHash } from 'node:crypto'
import { sha384 } from '@noble/hashes/sha2'
import { keccak_256 } from '@noble/hashes/sha3'
import { BaseError, EventLog, type TdReport } from '@regent-tee/attest'

/** A devnet OS image: what the simulated firmware, kernel and command line measure. Strings are hashed as UTF-8. */
export type OsImage = {
  readonly name: string
  readonly version: string
  readonly firmware: string | Uint8Array
  readonly kernel: string | Uint8Array
  readonly initrd: string | Uint8Array
  readonly cmdline: string
}

/** The virtual hardware of a CVM (dstack VmConfig `cpu_count`, `memory_size`): measured into RTMR0. */
export type VmShape = {
  readonly vcpus: number
  readonly memoryMb: number
}

/** The default devnet OS image. */
export const defaultImage: OsImage = {
  name: 'regent-devnet-os',
  version: '0.5.5',
  firmware: 'regent-devnet-ovmf',
  kernel: 'regent-devnet-kernel',
  initrd: 'regent-devnet-initramfs',
  cmdline: 'console=ttyS0 init=/init panic=1 regent.devnet=1',
}

/** The default VM shape (2 vCPUs, 2 GiB). */
export const defaultShape: VmShape = { vcpus: 2, memoryMb: 2048 }

/** The VM shapes the devnet's images publish measurements for (what an approval lists by default). */
export const publishedShapes: readonly VmShape[] = [defaultShape, { vcpus: 4, memoryMb: 4096 }]

/**
 * TEE_TCB_SVN of the devnet TDX module: [0] module SVN 5, [1] major version 1 (→ TCB info `TDX_01` module
 * identity), [2] late microcode SVN 2; the devnet TCB info's top level lists exactly these.
 */
export const defaultTeeTcbSvn: Uint8Array = Uint8Array.from([5, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])

/** MRSEAM of the devnet TDX module: D("mrseam", empty). */
export const mrSeam: Uint8Array = measure('mrseam', new Uint8Array(0))
/** MRSIGNERSEAM: zero, as for Intel's module (equals the devnet TCB info tdxModule.mrsigner). */
export const mrSignerSeam: Uint8Array = new Uint8Array(48)
/** SEAMATTRIBUTES: zero (equals the devnet TCB info tdxModule.attributes under mask FF…FF). */
export const seamAttributes: Uint8Array = new Uint8Array(8)
/** TDATTRIBUTES: SEPT_VE_DISABLE (bit 28) set; DEBUG, PKS, KL, PERFMON clear. */
export const tdAttributes: Uint8Array = Uint8Array.from([0, 0, 0, 0x10, 0, 0, 0, 0])
/** XFAM as on real Intel TDX quotes (x87, SSE, AVX, AVX-512 state, PKRU, AMX). */
export const xfam: Uint8Array = Uint8Array.from([0xe7, 0x02, 0x06, 0, 0, 0, 0, 0])

/** Boot event type the devnet logs for RTMR0–2 (TCG EV_EVENT_TAG). */
export const bootEventType = 0x00000006

/** MRTD and RTMR0–2 of an image in a VM shape. */
export type Measurements = {
  readonly mrTd: Uint8Array
  readonly rtmr0: Uint8Array
  readonly rtmr1: Uint8Array
  readonly rtmr2: Uint8Array
}

/**
 * Computes MRTD and RTMR0–2 of an image in a VM shape by the module's rule.
 *
 * @throws {InvalidImageError} when vcpus or memoryMb is not a positive integer.
 * @example
 * const { mrTd } = DevnetTd.measurements(DevnetTd.defaultImage)
 */
export function measurements(image: OsImage, shape: VmShape = defaultShape): Measurements {
  const registers: Uint8Array[] = [new Uint8Array(48), new Uint8Array(48), new Uint8Array(48)]
  for (const event of bootEvents(image, shape)) {
    const index = event.imr as 0 | 1 | 2
    registers[index] = extendRegister(registers[index] as Uint8Array, event.digest as Uint8Array)
  }
  return {
    mrTd: measure('mrtd', bytes(image.firmware)),
    rtmr0: registers[0] as Uint8Array,
    rtmr1: registers[1] as Uint8Array,
    rtmr2: registers[2] as Uint8Array,
  }
}

/**
 * The RTMR0–2 boot events of an image in a VM shape (digests only, payloads stripped as dstack ≥ 0.5.6 returns them).
 *
 * @throws {InvalidImageError} when vcpus or memoryMb is not a positive integer.
 */
export function bootEvents(image: OsImage, shape: VmShape = defaultShape): EventLog.Event[] {
  if (!Number.isInteger(shape.vcpus) || shape.vcpus <= 0)
    throw new InvalidImageError({ field: 'vcpus', reason: 'must be a positive integer' })
  if (!Number.isInteger(shape.memoryMb) || shape.memoryMb <= 0)
    throw new InvalidImageError({ field: 'memoryMb', reason: 'must be a positive integer' })
  const hardware = new TextEncoder().encode(JSON.stringify({ vcpus: shape.vcpus, memoryMb: shape.memoryMb }))
  const event = (imr: 0 | 1 | 2, digest: Uint8Array): EventLog.Event => ({
    imr,
    eventType: bootEventType,
    digest,
    event: '',
    payload: new Uint8Array(0),
    version: 1,
  })
  return [
    event(0, measure('rtmr0/hardware', hardware)),
    event(1, measure('rtmr1/kernel', bytes(image.kernel))),
    event(2, measure('rtmr2/cmdline', bytes(image.cmdline))),
    event(2, measure('rtmr2/initrd', bytes(image.initrd))),
  ]
}

/**
 * The image's `os_image_hash` in dstack's sense (dstack.md §4.5: SHA-256 of the image's sha256sum.txt): here
 * SHA-256 over the text `"<sha256 hex>  <file>\n"` for ovmf.fd (firmware), bzImage (kernel), initramfs.cpio.gz
 * (initrd) and metadata.json (`{"name","version","cmdline"}`), in that order. The VM shape is not part of it.
 */
export function osImageHash(image: OsImage): Uint8Array {
  const metadata = JSON.stringify({ name: image.name, version: image.version, cmdline: image.cmdline })
  const files: [string, Uint8Array][] = [
    ['ovmf.fd', bytes(image.firmware)],
    ['bzImage', bytes(image.kernel)],
    ['initramfs.cpio.gz', bytes(image.initrd)],
    ['metadata.json', bytes(metadata)],
  ]
  const text = files.map(([file, data]) => `${createHash('sha256').update(data).digest('hex')}  ${file}\n`).join('')
  return new Uint8Array(createHash('sha256').update(text).digest())
}

/**
 * One published measurement of an image: MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 (192 bytes), what RegentAppAuth's
 * `addOsImage` takes per VM shape.
 *
 * @throws {InvalidImageError} for a bad shape.
 * @example
 * const registers = DevnetTd.registers(DevnetTd.defaultImage, { vcpus: 2, memoryMb: 2048 })
 */
export function registers(image: OsImage, shape: VmShape = defaultShape): Uint8Array {
  const m = measurements(image, shape)
  const out = new Uint8Array(192)
  out.set(m.mrTd, 0)
  out.set(m.rtmr0, 48)
  out.set(m.rtmr1, 96)
  out.set(m.rtmr2, 144)
  return out
}

/**
 * dstack's `mr_system` of a boot before its key provider is measured (reference/dstack.md §4.5): SHA-256(MRTD ‖
 * RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ 0³²) — the key RegentAppAuth files an image's measurement under.
 *
 * @example
 * const mr = DevnetTd.mrSystem(DevnetTd.measurements(image, shape))
 */
export function mrSystem(m: Measurements): Uint8Array {
  return new Uint8Array(
    createHash('sha256').update(m.mrTd).update(m.rtmr0).update(m.rtmr1).update(m.rtmr2).update(new Uint8Array(32)).digest(),
  )
}

/** What an image publishes for its approval: its hash and one measurement per VM shape (hex with `0x`). */
export type Published = {
  readonly osImageHash: `0x${string}`
  readonly measurements: readonly `0x${string}`[]
}

/**
 * The image's hash and its measurements for `shapes` (default {@link publishedShapes}), ready for RegentAppAuth
 * `addOsImage(appId, osImageHash, measurements)` / `addKmsOsImage(osImageHash, measurements)`.
 *
 * @throws {InvalidImageError} for a bad shape.
 * @example
 * const { osImageHash, measurements } = DevnetTd.published(DevnetTd.defaultImage)
 */
export function published(image: OsImage, shapes: readonly VmShape[] = publishedShapes): Published {
  const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}` as const
  return { osImageHash: hex(osImageHash(image)), measurements: shapes.map((shape) => hex(registers(image, shape))) }
}

/** dstack key provider kinds and their MRCONFIGID V2 codes. */
export const keyProviderKinds = { none: 0, local: 1, kms: 2, tpm: 3 } as const

export type MrConfigIdOptions = {
  /** SHA-256 of the app-compose.json bytes (32 bytes). */
  composeHash: Uint8Array
  /** 20 bytes (V2 only). */
  appId?: Uint8Array | undefined
  /** @default 'none' (V2 only). */
  keyProviderKind?: keyof typeof keyProviderKinds | undefined
  /** KMS root CA SPKI DER (kms) or SGX MRENCLAVE (local). Empty or absent → V1. */
  keyProviderId?: Uint8Array | undefined
}

/**
 * MRCONFIGID as dstack's VMM sets it (dstack-types `mr_config.rs`, dstack.md §4.2), 48 bytes:
 * V1 (app-compose `key_provider_id` empty): `0x01 ‖ composeHash ‖ 0¹⁵`;
 * V2: `0x02 ‖ Keccak-256(composeHash ‖ appId ‖ u8(kind) ‖ keyProviderId) ‖ 0¹⁵`, kind none 0, local 1, kms 2, tpm 3.
 *
 * @throws {InvalidMrConfigIdError} for a compose hash that is not 32 bytes, or a V2 app id that is not 20 bytes.
 * @example
 * DevnetTd.mrConfigId({ composeHash, appId, keyProviderKind: 'kms', keyProviderId: kmsRootSpki })
 */
export function mrConfigId(options: MrConfigIdOptions): Uint8Array {
  if (options.composeHash.length !== 32)
    throw new InvalidMrConfigIdError({ field: 'composeHash', reason: `must be 32 bytes, got ${options.composeHash.length}` })
  const out = new Uint8Array(48)
  if (!options.keyProviderId || options.keyProviderId.length === 0) {
    out[0] = 0x01
    out.set(options.composeHash, 1)
    return out
  }
  const appId = options.appId
  if (appId === undefined || appId.length !== 20)
    throw new InvalidMrConfigIdError({ field: 'appId', reason: `must be 20 bytes for a V2 config id, got ${appId?.length ?? 0}` })
  const kind = keyProviderKinds[options.keyProviderKind ?? 'none']
  const preimage = new Uint8Array(32 + 20 + 1 + options.keyProviderId.length)
  preimage.set(options.composeHash, 0)
  preimage.set(appId, 32)
  preimage[52] = kind
  preimage.set(options.keyProviderId, 53)
  out[0] = 0x02
  out.set(keccak_256(preimage), 1)
  return out
}

/** A simulated TD: its fixed registers and its running RTMR3 with the runtime events that built it. */
export type DevnetTd = {
  readonly image: OsImage
  readonly shape: VmShape
  readonly measurements: Measurements
  readonly teeTcbSvn: Uint8Array
  readonly mrConfigId: Uint8Array
  readonly mrOwner: Uint8Array
  readonly mrOwnerConfig: Uint8Array
  /** The current RTMR3 (replaced on every {@link extend}). */
  rtmr3: Uint8Array
  /** Runtime (RTMR3) events in order, each with its digest. */
  readonly events: EventLog.Event[]
}

export type CreateOptions = {
  /** @default {@link defaultImage} */
  image?: OsImage | undefined
  /** @default {@link defaultShape} */
  shape?: VmShape | undefined
  /** @default {@link defaultTeeTcbSvn} */
  teeTcbSvn?: Uint8Array | undefined
  /** 48 bytes (e.g. from {@link mrConfigId}). @default zero (no config id) */
  mrConfigId?: Uint8Array | undefined
  /** 48 bytes. @default zero */
  mrOwner?: Uint8Array | undefined
  /** 48 bytes. @default zero */
  mrOwnerConfig?: Uint8Array | undefined
}

/**
 * Creates a TD with RTMR3 at zero (before any runtime event).
 *
 * @throws {InvalidImageError} for a bad image; {@link InvalidRegisterError} for a register of the wrong size.
 * @example
 * const td = DevnetTd.create({ mrConfigId: DevnetTd.mrConfigId({ composeHash }) })
 */
export function create(options: CreateOptions = {}): DevnetTd {
  const image = options.image ?? defaultImage
  const shape = options.shape ?? defaultShape
  const sized = (field: string, value: Uint8Array | undefined, size: number): Uint8Array => {
    if (value === undefined) return new Uint8Array(size)
    if (value.length !== size) throw new InvalidRegisterError({ field, size, actual: value.length })
    return Uint8Array.from(value)
  }
  return {
    image,
    shape,
    measurements: measurements(image, shape),
    teeTcbSvn: options.teeTcbSvn ? sized('teeTcbSvn', options.teeTcbSvn, 16) : Uint8Array.from(defaultTeeTcbSvn),
    mrConfigId: sized('mrConfigId', options.mrConfigId, 48),
    mrOwner: sized('mrOwner', options.mrOwner, 48),
    mrOwnerConfig: sized('mrOwnerConfig', options.mrOwnerConfig, 48),
    rtmr3: new Uint8Array(48),
    events: [],
  }
}

/**
 * Extends RTMR3 with a dstack runtime event (`RTMR3 = SHA-384(RTMR3 ‖ digest)`, digest by
 * EventLog.runtimeEventDigest, V1 unless `version: 2`) and records the event.
 *
 * @returns The logged event (imr 3, type 0x08000001, with its digest).
 * @example
 * DevnetTd.extend(td, { name: 'compose-hash', payload: composeHash })
 */
export function extend(td: DevnetTd, event: { name: string; payload: Uint8Array; version?: 1 | 2 | undefined }): EventLog.Event {
  const version = event.version ?? 1
  const digest = EventLog.runtimeEventDigest({ name: event.name, payload: event.payload, version })
  td.rtmr3 = extendRegister(td.rtmr3, digest)
  const logged: EventLog.Event = {
    imr: 3,
    eventType: EventLog.runtimeEventType,
    digest,
    event: event.name,
    payload: Uint8Array.from(event.payload),
    version,
  }
  td.events.push(logged)
  return logged
}

/** The full event log: boot events (RTMR0–2) then runtime events (RTMR3). Replays to the report's RTMRs. */
export function eventLog(td: DevnetTd): EventLog.Event[] {
  return [...bootEvents(td.image, td.shape), ...td.events]
}

/**
 * The event log as dstack's GetQuote returns it (JSON array of `{imr, event_type, digest, event, event_payload}`,
 * hex fields; dstack.md §1.6). `stripped` (default true, as dstack ≥ 0.5.6): boot events keep the digest with
 * an empty payload, runtime events keep the payload with an empty digest.
 */
export function eventLogJson(td: DevnetTd, options: { stripped?: boolean | undefined } = {}): string {
  const stripped = options.stripped ?? true
  const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : '')
  return JSON.stringify(
    eventLog(td).map((e) => ({
      imr: e.imr,
      event_type: e.eventType,
      digest: stripped && e.imr === 3 ? '' : hex(e.digest),
      event: e.event,
      event_payload: hex(e.payload),
      ...(e.version === 2 ? { version: 2 } : {}),
    })),
  )
}

/**
 * The TD 1.0 report body for the TD's current registers.
 *
 * @param options.reportData - Up to 64 bytes, right-padded with zeros (dstack's GetQuote rule).
 * @throws {InvalidRegisterError} when reportData is longer than 64 bytes.
 * @example
 * const body = DevnetTd.report(td, { reportData: nonce })
 */
export function report(td: DevnetTd, options: { reportData: Uint8Array }): TdReport.TdReport10 {
  if (options.reportData.length > 64) throw new InvalidRegisterError({ field: 'reportData', size: 64, actual: options.reportData.length })
  const reportData = new Uint8Array(64)
  reportData.set(options.reportData)
  return {
    type: 'td10',
    teeTcbSvn: Uint8Array.from(td.teeTcbSvn),
    mrSeam: Uint8Array.from(mrSeam),
    mrSignerSeam: Uint8Array.from(mrSignerSeam),
    seamAttributes: Uint8Array.from(seamAttributes),
    tdAttributes: Uint8Array.from(tdAttributes),
    xfam: Uint8Array.from(xfam),
    mrTd: Uint8Array.from(td.measurements.mrTd),
    mrConfigId: Uint8Array.from(td.mrConfigId),
    mrOwner: Uint8Array.from(td.mrOwner),
    mrOwnerConfig: Uint8Array.from(td.mrOwnerConfig),
    rtmr0: Uint8Array.from(td.measurements.rtmr0),
    rtmr1: Uint8Array.from(td.measurements.rtmr1),
    rtmr2: Uint8Array.from(td.measurements.rtmr2),
    rtmr3: Uint8Array.from(td.rtmr3),
    reportData,
  }
}

function extendRegister(register: Uint8Array, digest: Uint8Array): Uint8Array {
  const joined = new Uint8Array(96)
  joined.set(register)
  joined.set(digest, 48)
  return sha384(joined)
}

function measure(label: string, data: Uint8Array): Uint8Array {
  const prefix = new TextEncoder().encode(`regent-devnet/v1/${label}`)
  const preimage = new Uint8Array(prefix.length + 1 + data.length)
  preimage.set(prefix)
  preimage.set(data, prefix.length + 1)
  return sha384(preimage)
}

function bytes(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? new TextEncoder().encode(value) : value
}

/** The OS image description is invalid. */
export class InvalidImageError extends BaseError {
  override name = 'DevnetTd.InvalidImageError'
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid devnet OS image: ${field} ${reason}.`)
  }
}

/** A register value has the wrong size. */
export class InvalidRegisterError extends BaseError {
  override name = 'DevnetTd.InvalidRegisterError'
  constructor({ field, size, actual }: { field: string; size: number; actual: number }) {
    super(`Invalid TD register ${field}: expected ${field === 'reportData' ? 'at most ' : ''}${size} bytes, got ${actual}.`)
  }
}

/** MRCONFIGID inputs are invalid. */
export class InvalidMrConfigIdError extends BaseError {
  override name = 'DevnetTd.InvalidMrConfigIdError'
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid MRCONFIGID input: ${field} ${reason}.`)
  }
}
