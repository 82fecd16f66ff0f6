/**
 * The devnet TEE host (DESIGN.md §5): one simulated TDX machine — its PKI, Quoting Enclave and
 * collateral — that launches CVMs. A CVM is an agent bundle run as a guarded child process, with its
 * own dstack-compatible guest agent and its own measured boot.
 *
 * Isolation (DESIGN.md §14, docs/devnet.md "Isolation"): as on a real TEE, a CVM's guest agent is reachable by that
 * CVM alone. It listens on a unix socket in a per-CVM directory (mode 0700, a random name under a host directory
 * that cannot be listed, mode 0300) whose path only the CVM's own process receives (`DSTACK_SIMULATOR_ENDPOINT`); no
 * record, file or API of the host names it, and there is no TCP listener — unless the CVM is launched with the
 * explicit devnet debug flag `debugGuestAgent`, which adds a loopback URL and puts both in the record. (Processes
 * of the same OS user can still find a socket by other means, e.g. /proc: the devnet simulates the boundary, it does
 * not enforce it against the machine's own user.)
 *
 * Code comes from the host's bundle store (BundleStore.ts), the devnet's container registry: a compose must pin its
 * bundle (`image: <name>@sha256:<hex>`), and the CVM runs what the store holds for that digest — a bundle whose digest
 * is not the pinned one never runs (`bundle.digest_mismatch`), as docker refuses an image whose digest differs.
 * The program is confined to its bundle (confine.ts).
 *
 * The host can misbehave on purpose for tests (issue 4): serve stale quotes, serve a compose file
 * other than the measured one, cut a CVM off from the chain, kill a CVM.
 *
 * A CVM whose program has exited (stopped, killed, crashed) can be restarted as a dstack host reboots a
 * VM (dstack-vmm `StartVm` of a stopped VM): the same launch parameters — compose, app id, instance-id
 * seed, key provider, bundle — boot a fresh measured TD, so its registers and its keys are the ones of
 * the first boot, and its disk (`data/`), port and guest-agent socket are kept.
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { createWriteStream } from 'node:fs'
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Collateral, TrustedRoot } from '@regent-tee/attest'
import { type Guarded, spawnGuarded } from '@regent-tee/core'
import { type Cvm, createCvm, InvalidComposeError } from '../cvm/Cvm.js'
import type { KeyProvider } from '../cvm/KeyProvider.js'
import { BaseError } from '../errors.js'
import { type GuestAgent, startGuestAgent } from '../guest/GuestAgent.js'
import * as DevnetCollateral from '../tdx/DevnetCollateral.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import * as DevnetQe from '../tdx/DevnetQe.js'
import type * as DevnetTd from '../tdx/DevnetTd.js'
import * as Bundle from './Bundle.js'
import { type BundleStore, createBundleStore } from './BundleStore.js'

/**
 * The module every CVM program is started with (`node --import`): resolution confined to the bundle. Always the
 * compiled file (also when this module runs from its TypeScript source, as under vitest).
 */
const confine = fileURLToPath(new URL('../../dist/cvm/confine.js', import.meta.url))

/** What the host knows about one CVM (also what `regent dev cvm list --json` prints). */
export type CvmRecord = {
  cvmId: string
  appId: string
  instanceId: string
  composeHash: string
  appName: string
  /** The bundle the CVM runs: its directory in the host's bundle store. */
  bundle: string
  /** `sha256:<hex>`, the digest the compose pins. */
  bundleDigest: string
  /** Launched with the devnet debug flag: the host exposes this CVM's guest agent (`endpoint`, `guestAgentUrl`). */
  debugGuestAgent: boolean
  /** Only with `debugGuestAgent`: the guest agent's unix socket (a value for `DSTACK_SIMULATOR_ENDPOINT`). */
  endpoint?: string
  /** Only with `debugGuestAgent`: the guest agent over loopback HTTP. */
  guestAgentUrl?: string
  /** The CVM's own port (env `PORT`), where the agent serves. */
  port: number
  appUrl: string
  pid: number
  status: 'running' | 'exited' | 'stopped'
  exitCode: number | null
  startedAt: string
  faults: Faults
}

/** Misbehaviour switches for tests. */
export type Faults = {
  /** The guest agent serves a previously produced quote whatever report_data is asked for. */
  staleQuote: boolean
  /** Info/compose report different bytes than the ones measured at boot. */
  alterCompose: boolean
  /** The CVM's chain RPC answers 503 (cut off from the chain). */
  partitionChain: boolean
}

/** Parameters of {@link Host.launch}. */
export type LaunchParameters = {
  /** The exact app-compose.json bytes (their SHA-256 is the compose hash); they pin the bundle's digest. */
  compose: Uint8Array
  /**
   * A bundle directory to push into the host's store first (its digest must be the one the compose pins). Without
   * it, the store must already hold the pinned bundle.
   */
  bundle?: string
  /** App id (20 bytes); default as dstack derives it. */
  appId?: Uint8Array
  /** Seed of the instance id (20 bytes); default random, i.e. a new instance. */
  instanceIdSeed?: Uint8Array
  /** Extra environment for the agent process. */
  env?: Record<string, string>
  /** The bundle file to run (default: Bundle.entry's rule). */
  entry?: string
  /** Key provider for this CVM (default: the host's). The devnet's KMS CVMs use the local provider. */
  keyProvider?: KeyProvider
  /**
   * dstack's encrypted env (`ephemeral_pk ‖ iv ‖ AES-GCM`, reference/dstack.md §6.2), opened inside the CVM with the
   * app's env key from the key provider; only the compose's `allowed_envs` are kept. Its `REGENT_RPC_URL`, when
   * present, is the chain the CVM's RPC proxy and faucet use (the agent itself still sees the proxy).
   */
  encryptedEnv?: Uint8Array
  /** The OS image to boot (default the devnet image): another image has other MRTD/RTMR1/RTMR2. */
  image?: DevnetTd.OsImage
  /** The VM shape (default 2 vCPUs, 2 GiB): measured into RTMR0. */
  shape?: DevnetTd.VmShape
  /** The vm_config the host hands the CVM (default: the image's and shape's). A host may write anything here. */
  vmConfig?: string
  /**
   * Devnet debugging only: expose the CVM's guest agent to the host — its socket path and a loopback TCP listener in
   * the record — which a real TEE never allows. Tests that need it say why. @default false
   */
  debugGuestAgent?: boolean
}

/** Options of {@link Host.restart}. */
export type RestartOptions = {
  /** Launch-env changes kept for later boots: a string sets the variable, `null` removes it. */
  env?: Record<string, string | null>
}

export type Host = {
  pki: DevnetPki.DevnetPki
  qe: DevnetQe.DevnetQe
  trustedRoot: TrustedRoot
  /** Collateral (QuoteCollateralV3 JSON) that verifies devnet quotes under {@link Host.trustedRoot}. */
  collateral: Collateral.Json
  keyProvider: KeyProvider
  /** The host's bundle store (the devnet's container registry). */
  bundles: BundleStore
  /**
   * Boots a CVM running the bundle its compose pins.
   *
   * @throws {BundleUnpinnedError} the compose pins no bundle digest (or more than one).
   * @throws {BundleDigestMismatchError} the pushed bundle's digest is not the pinned one.
   * @throws {BundleNotFoundError} the store does not hold the pinned bundle.
   */
  launch(params: LaunchParameters): Promise<CvmRecord>
  list(): CvmRecord[]
  get(cvmId: string): CvmRecord
  /**
   * The exact app-compose.json bytes the CVM was launched with (its compose hash is their SHA-256), as a dstack-vmm
   * keeps each VM's compose: what launches another instance of the same app (a failover standby).
   *
   * @throws {UnknownCvmError}
   */
  compose(cvmId: string): Uint8Array
  stop(cvmId: string): Promise<CvmRecord>
  logs(cvmId: string, options?: { tail?: number }): Promise<string>
  setFaults(cvmId: string, faults: Partial<Faults>): CvmRecord
  /**
   * Resolves with the first line the CVM's program writes to stdout (from now on or already written)
   * that satisfies `match`; rejects when the program exits first or after `timeoutMs`.
   */
  waitForLine(cvmId: string, match: (line: string) => boolean, options?: { timeoutMs?: number }): Promise<string>
  /** Kills the CVM's process abruptly (SIGKILL), as a crashing host would. */
  kill(cvmId: string): Promise<CvmRecord>
  /**
   * Freezes the CVM's program (SIGSTOP), as a host that pauses the VM: its sockets stay open, it runs no code and its
   * clocks keep going. `resume` thaws it (SIGCONT). The record stays `running`.
   */
  pause(cvmId: string): CvmRecord
  resume(cvmId: string): CvmRecord
  /**
   * Reboots a CVM whose program has exited (stopped, killed or crashed): a fresh measured boot from the
   * launch parameters (same cvm id, app id, instance id, compose hash, registers and keys), the same
   * data directory, port, app URL and guest-agent socket, a new process. Faults are kept as they were.
   *
   * @param options.env - changes to the launch env for this boot and later ones: a string sets the
   *   variable, `null` removes it (also when the host's own environment has it).
   * @throws {CvmRunningError} while the program still runs (or another restart is booting it).
   * @throws {UnknownCvmError} for an unknown id; key-provider errors when the provider refuses the keys
   *   (the CVM then stays exited and its launch env unchanged).
   * @example
   * await host.kill(cvmId)
   * const record = await host.restart(cvmId, { env: { FAULT: null } })
   */
  restart(cvmId: string, options?: RestartOptions): Promise<CvmRecord>
  /**
   * Devnet faucet: raises `address`'s balance to at least `wei` (anvil_setBalance; there is no such
   * thing on a real chain) on the host's chain, or on CVM `cvmId`'s chain. Resolves with the new balance.
   */
  fund(address: string, wei: bigint, cvmId?: string): Promise<bigint>
  /** The chain RPC URL a CVM may use now, or `undefined` while it is partitioned. */
  rpcFor(cvmId: string): string | undefined
  /**
   * The CVM's guest-agent methods that carry no key (`Info`, `GetQuote`, `Version`): what dstack's guest agent serves to
   * its host when an app makes its TCB info public (app-compose `public_tcbinfo`), and what a cloud's attestation API
   * reads. Nothing that uses the app's keys (GetKey, Sign, …) is reachable this way.
   *
   * @throws {UnknownCvmError}; an Error when the CVM is not running or the guest agent refuses.
   */
  publicGuestCall(cvmId: string, method: 'Info' | 'GetQuote' | 'Version', body: unknown): Promise<unknown>
  close(): Promise<void>
}

export type CreateHostOptions = {
  /** State directory; CVMs live under `<dir>/cvms/<cvmId>/`. */
  dir: string
  /** The chain the CVMs use (through the host's per-CVM proxy). */
  rpcUrl: string
  keyProvider: KeyProvider
  /** Base URL of the host API, for the per-CVM chain proxy (`<hostUrl>/v1/cvms/<id>/rpc`). */
  hostUrl: () => string
  pki?: DevnetPki.DevnetPki
  /** The bundle store; default `<dir>/bundles`. */
  bundles?: BundleStore
}

/** What a CVM was launched with; every boot (launch, restart) is built from it. */
type Launch = {
  compose: Uint8Array
  bundle: string
  bundleDigest: string
  entry: string
  appId: Uint8Array | undefined
  /** Always set: generated at launch when none was given, so a restart reproduces the instance id. */
  instanceIdSeed: Uint8Array
  /** `null` removes a variable the host's own environment has. */
  env: Record<string, string | null>
  keyProvider: KeyProvider
  encryptedEnv: Uint8Array | undefined
  /** The chain behind this CVM's RPC proxy (default: the host's). */
  chainRpcUrl: string | undefined
  image: DevnetTd.OsImage | undefined
  shape: DevnetTd.VmShape | undefined
  vmConfig: string | undefined
  debugGuestAgent: boolean
}

/** One boot's program: `output` emits `line` for each stdout line (the first 1,000 are also kept in `lines`) and `exit`. */
type Run = { process: Guarded; lines: string[]; output: EventEmitter }

type Entry = Run & {
  record: CvmRecord
  cvm: Cvm
  agent: GuestAgent
  dir: string
  /** The guest agent's socket: in the CVM's private directory, given to the CVM's process only. */
  socketPath: string
  launch: Launch
  restarting: boolean
}

/** Creates a host: a fresh simulated machine (PKI and attestation key live in memory only). */
export function createHost(options: CreateHostOptions): Host {
  const pki = options.pki ?? DevnetPki.create()
  const qe = DevnetQe.create({ pki })
  const collateral = DevnetCollateral.issue(pki)
  const cvms = new Map<string, Entry>()
  const bundles = options.bundles ?? createBundleStore({ dir: join(options.dir, 'bundles') })

  /** The store's directory of the bundle the compose pins (pushing `push` first). */
  const resolveBundle = async (compose: Uint8Array, push: string | undefined): Promise<{ dir: string; digest: string }> => {
    try {
      const value: unknown = JSON.parse(new TextDecoder().decode(compose))
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object')
    } catch (cause) {
      throw new InvalidComposeError({ reason: 'not a JSON object', cause })
    }
    const pinned = Bundle.pinnedDigests(compose)
    if (pinned.length !== 1) throw new BundleUnpinnedError({ count: pinned.length })
    const digest = pinned[0] as string
    if (push !== undefined) {
      const pushed = await bundles.put(resolve(push))
      if (pushed !== digest) throw new BundleDigestMismatchError({ pinned: digest, actual: pushed })
    }
    const dir = bundles.path(digest)
    if (!dir) throw new BundleNotFoundError({ digest })
    return { dir, digest }
  }

  const sockets = createSocketDirs()

  const entryOf = (cvmId: string): Entry => {
    const e = cvms.get(cvmId)
    if (!e) throw new UnknownCvmError({ cvmId })
    return e
  }

  /** A fresh measured boot (MRTD, RTMR0–3 from scratch) from the launch parameters. */
  const measure = (launch: Launch): Promise<Cvm> =>
    createCvm({
      compose: launch.compose,
      qe,
      keyProvider: launch.keyProvider,
      ...(launch.appId ? { appId: launch.appId } : {}),
      instanceIdSeed: launch.instanceIdSeed,
      image: launch.image,
      shape: launch.shape,
      vmConfig: launch.vmConfig,
    })

  /** Runs the bundle under the process guard; its output goes to `<dir>/log` (appended) and to the line buffer. */
  const spawnProgram = ({
    cvmId,
    dir,
    launch,
    socketPath,
    port,
  }: {
    cvmId: string
    dir: string
    launch: Launch
    socketPath: string
    port: number
  }): Run => {
    const log = createWriteStream(join(dir, 'log'), { flags: 'a' })
    const env: NodeJS.ProcessEnv = { ...process.env }
    for (const [name, value] of Object.entries(launch.env)) {
      if (value === null) delete env[name]
      else env[name] = value
    }
    Object.assign(env, {
      DSTACK_SIMULATOR_ENDPOINT: socketPath, // the CVM's own guest agent: only this process is told where it is
      TAPPD_SIMULATOR_ENDPOINT: socketPath, // the same agent serves the legacy /prpc/Tappd.* routes
      REGENT_RPC_URL: `${options.hostUrl()}/v1/cvms/${cvmId}/rpc`,
      REGENT_CVM_ID: cvmId,
      REGENT_FAUCET_URL: `${options.hostUrl()}/v1/faucet?cvm=${cvmId}`, // funds on this CVM's chain
      REGENT_DATA_DIR: join(dir, 'data'), // the CVM's own disk
      REGENT_DEVNET: '1',
      PORT: String(port),
    })
    const child = spawnGuarded(process.execPath, ['--import', confine, launch.entry], { cwd: launch.bundle, env })
    child.child.stdout.pipe(log, { end: false })
    child.child.stderr.pipe(log, { end: false })
    const lines: string[] = []
    const output = new EventEmitter()
    let partial = ''
    child.child.stdout.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n')
      partial = parts.pop() ?? ''
      if (lines.length < 1000) lines.push(...parts.slice(0, 1000 - lines.length))
      for (const line of parts) output.emit('line', line)
    })
    void child.exited.then(() => log.end())
    return { process: child, lines, output }
  }

  /** Records the exit of the entry's current program (status, exit code, cvm.json). */
  const watch = (e: Entry) => {
    const { process: child, output } = e
    void child.exited.then((code) => {
      output.emit('exit', code)
      if (e.process !== child) return // a later boot owns the record
      if (e.record.status === 'running') e.record.status = 'exited'
      e.record.exitCode = code
      void writeFile(join(e.dir, 'cvm.json'), `${JSON.stringify(e.record, null, 2)}\n`).catch(() => {})
    })
  }

  const host: Host = {
    pki,
    qe,
    trustedRoot: DevnetPki.trustedRoot(pki),
    collateral,
    keyProvider: options.keyProvider,
    bundles,

    async launch(params) {
      const { dir: bundle, digest: bundleDigest } = await resolveBundle(params.compose, params.bundle)
      const entry = params.entry ?? (await Bundle.entry(bundle))
      const cvmId = `cvm-${randomBytes(6).toString('hex')}`
      const dir = join(options.dir, 'cvms', cvmId)
      await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 })
      const launch: Launch = {
        compose: Uint8Array.from(params.compose),
        bundle,
        bundleDigest,
        entry,
        appId: params.appId ? Uint8Array.from(params.appId) : undefined,
        // createCvm's own default (20 random bytes), drawn here so that a restart boots the same instance.
        instanceIdSeed: params.instanceIdSeed ? Uint8Array.from(params.instanceIdSeed) : new Uint8Array(randomBytes(20)),
        env: { ...params.env },
        keyProvider: params.keyProvider ?? options.keyProvider,
        encryptedEnv: params.encryptedEnv ? Uint8Array.from(params.encryptedEnv) : undefined,
        chainRpcUrl: undefined,
        image: params.image,
        shape: params.shape,
        vmConfig: params.vmConfig,
        debugGuestAgent: params.debugGuestAgent === true,
      }
      const cvm = await measure(launch)
      if (launch.encryptedEnv) {
        const decrypted = cvm.decryptEnv(launch.encryptedEnv)
        Object.assign(launch.env, decrypted)
        if (decrypted.REGENT_RPC_URL) launch.chainRpcUrl = decrypted.REGENT_RPC_URL
      }
      const socketPath = await sockets.create()
      const agent = await startGuestAgent(cvm, {
        socketPath,
        socketMode: 0o600,
        ...(launch.debugGuestAgent ? { port: 0 } : {}),
      })
      const port = await freePort()
      const run = spawnProgram({ cvmId, dir, launch, socketPath, port })
      const info = cvm.info
      const record: CvmRecord = {
        cvmId,
        appId: hex(info.appId),
        instanceId: hex(info.instanceId),
        composeHash: hex(info.composeHash),
        appName: info.appName ?? '',
        bundle,
        bundleDigest,
        debugGuestAgent: launch.debugGuestAgent,
        ...(launch.debugGuestAgent ? { endpoint: socketPath, guestAgentUrl: agent.url ?? '' } : {}),
        port,
        appUrl: `http://127.0.0.1:${port}`,
        pid: run.process.pid,
        status: 'running',
        exitCode: null,
        startedAt: new Date().toISOString(),
        faults: { staleQuote: false, alterCompose: false, partitionChain: false },
      }
      const e: Entry = { record, cvm, agent, dir, socketPath, launch, restarting: false, ...run }
      watch(e)
      cvms.set(cvmId, e)
      await writeFile(join(dir, 'cvm.json'), `${JSON.stringify(record, null, 2)}\n`)
      return record
    },

    list: () => [...cvms.values()].map((e) => e.record),
    get: (cvmId) => entryOf(cvmId).record,
    compose: (cvmId) => Uint8Array.from(entryOf(cvmId).launch.compose),

    async stop(cvmId) {
      const e = entryOf(cvmId)
      if (e.record.status === 'running') e.record.status = 'stopped'
      await e.process.stop()
      await e.agent.close()
      return e.record
    },

    waitForLine(cvmId, match, { timeoutMs = 60_000 } = {}) {
      const e = entryOf(cvmId)
      return new Promise<string>((resolvePromise, reject) => {
        const earlier = e.lines.find(match)
        if (earlier !== undefined) return resolvePromise(earlier)
        if (e.record.status !== 'running') return reject(new CvmOutputError({ cvmId, reason: 'the program is not running' }))
        const cleanup = () => {
          clearTimeout(timer)
          e.output.off('line', onLine)
          e.output.off('exit', onExit)
        }
        const onLine = (line: string) => {
          if (!match(line)) return
          cleanup()
          resolvePromise(line)
        }
        const onExit = (code: number | null) => {
          cleanup()
          reject(new CvmOutputError({ cvmId, reason: `the program exited (code ${code}) first` }))
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new CvmOutputError({ cvmId, reason: `no such line within ${timeoutMs} ms` }))
        }, timeoutMs)
        e.output.on('line', onLine)
        e.output.once('exit', onExit)
      })
    },

    async kill(cvmId) {
      const e = entryOf(cvmId)
      if (e.record.status === 'running') e.record.status = 'exited'
      await e.process.kill() // SIGKILL to the agent: no chance to clean up, as when a host crashes
      await e.agent.close()
      return e.record
    },

    pause(cvmId) {
      const e = entryOf(cvmId)
      e.process.pause()
      return e.record
    },

    resume(cvmId) {
      const e = entryOf(cvmId)
      e.process.resume()
      return e.record
    },

    async restart(cvmId, { env } = {}) {
      const e = entryOf(cvmId)
      if (e.record.status === 'running' || e.restarting) throw new CvmRunningError({ cvmId })
      e.restarting = true
      try {
        await e.process.exited // a stop or kill may still be under way; its exit handler runs first
        await e.agent.close() // already closed after stop/kill; still open after a crash
        const launch: Launch = { ...e.launch, env: { ...e.launch.env, ...env } }
        const cvm = await measure(launch) // the bundle is the store's, by digest: immutable
        cvm.faults = cvmFaults(e.record.faults)
        const agent = await startAgentAgain(cvm, e)
        const run = spawnProgram({ cvmId, dir: e.dir, launch, socketPath: e.socketPath, port: e.record.port })
        Object.assign(e, { cvm, agent, launch, ...run })
        Object.assign(e.record, {
          ...(launch.debugGuestAgent ? { endpoint: e.socketPath, guestAgentUrl: agent.url ?? '' } : {}),
          pid: run.process.pid,
          status: 'running',
          exitCode: null,
          startedAt: new Date().toISOString(),
        } satisfies Partial<CvmRecord>)
        watch(e)
        await writeFile(join(e.dir, 'cvm.json'), `${JSON.stringify(e.record, null, 2)}\n`)
        return e.record
      } finally {
        e.restarting = false
      }
    },

    async logs(cvmId, { tail } = {}) {
      const e = entryOf(cvmId)
      const text = await readFile(join(e.dir, 'log'), 'utf8').catch(() => '')
      if (tail === undefined) return text
      const lines = text.split('\n')
      if (lines.at(-1) === '') lines.pop()
      return lines.slice(-tail).join('\n') + (lines.length > 0 ? '\n' : '')
    },

    setFaults(cvmId, faults) {
      const e = entryOf(cvmId)
      Object.assign(e.record.faults, faults)
      e.cvm.faults = cvmFaults(e.record.faults)
      return e.record
    },

    async fund(address, wei, cvmId) {
      const chain = cvmId === undefined ? options.rpcUrl : (entryOf(cvmId).launch.chainRpcUrl ?? options.rpcUrl)
      const rpc = async (method: string, params: unknown[]) => {
        const res = await fetch(chain, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
          signal: AbortSignal.timeout(30_000),
        })
        const body = (await res.json()) as { result?: string; error?: { message: string } }
        if (body.error || body.result === undefined) throw new Error(body.error?.message ?? 'no result')
        return body.result
      }
      const balance = BigInt(await rpc('eth_getBalance', [address, 'latest']))
      if (balance >= wei) return balance
      await rpc('anvil_setBalance', [address, `0x${wei.toString(16)}`])
      return wei
    },

    rpcFor(cvmId) {
      const e = entryOf(cvmId)
      return e.record.faults.partitionChain ? undefined : (e.launch.chainRpcUrl ?? options.rpcUrl)
    },

    publicGuestCall(cvmId, method, body) {
      if (!['Info', 'GetQuote', 'Version'].includes(method))
        return Promise.reject(new Error(`${method} is not a public guest-agent method`))
      const e = entryOf(cvmId)
      return new Promise((resolvePromise, reject) => {
        const text = JSON.stringify(body)
        const req = httpRequest(
          {
            socketPath: e.socketPath,
            path: `/${method}`,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
          },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => {
              const out = Buffer.concat(chunks).toString('utf8')
              if (res.statusCode !== 200) return reject(new Error(`guest agent ${method} answered ${res.statusCode}: ${out.slice(0, 200)}`))
              try {
                resolvePromise(JSON.parse(out))
              } catch {
                reject(new Error(`guest agent ${method} answered non-JSON`))
              }
            })
          },
        )
        req.setTimeout(30_000, () => req.destroy(new Error(`guest agent ${method} did not answer`)))
        req.on('error', reject)
        req.end(text)
      })
    },

    async close() {
      await Promise.all([...cvms.keys()].map((id) => host.stop(id).catch(() => undefined)))
      await sockets.remove()
    },
  }
  return host
}

/** Removes the CVM directories of a previous run. */
export async function wipe(dir: string): Promise<void> {
  await rm(join(dir, 'cvms'), { recursive: true, force: true })
}

/**
 * The guest agent of a reboot: the same socket, and (debug flag only) the same loopback port unless another process
 * took it.
 */
async function startAgentAgain(cvm: Cvm, { socketPath, record }: { socketPath: string; record: CvmRecord }): Promise<GuestAgent> {
  if (!record.debugGuestAgent) return startGuestAgent(cvm, { socketPath, socketMode: 0o600 })
  const port = record.guestAgentUrl ? Number(new URL(record.guestAgentUrl).port) : 0
  return startGuestAgent(cvm, { socketPath, socketMode: 0o600, port }).catch((error: unknown) => {
    if (port === 0 || (error as { code?: unknown }).code !== 'EADDRINUSE') throw error
    return startGuestAgent(cvm, { socketPath, socketMode: 0o600, port: 0 })
  })
}

/**
 * The host's guest-agent sockets: a directory under the OS temp dir (short enough for a unix socket path) that its
 * owner can traverse but not list (mode 0300), holding one directory per CVM with a random 128-bit name (mode 0700)
 * and the socket `dstack.sock` in it (mode 0600).
 */
function createSocketDirs(): { create(): Promise<string>; remove(): Promise<void> } {
  const base = join(tmpdir(), `regent-ga-${randomBytes(8).toString('hex')}`)
  let ready: Promise<void> | undefined
  return {
    async create() {
      ready ??= mkdir(base, { mode: 0o700 }).then(() => chmod(base, 0o300))
      await ready
      const dir = join(base, randomBytes(16).toString('hex'))
      await mkdir(dir, { mode: 0o700 })
      return join(dir, 'dstack.sock')
    },
    async remove() {
      if (!ready) return
      await chmod(base, 0o700).catch(() => undefined)
      await rm(base, { recursive: true, force: true })
    },
  }
}

function cvmFaults(faults: Faults): Cvm['faults'] {
  return { staleQuote: faults.staleQuote, alterComposeAfterMeasure: faults.alterCompose }
}

function hex(v: Uint8Array | string | undefined): string {
  if (v === undefined) return ''
  return typeof v === 'string' ? v.replace(/^0x/, '') : Buffer.from(v).toString('hex')
}

/** A port the kernel considers free right now on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolvePort(port))
    })
  })
}

/** The compose pins no bundle (or several): the host would not know what code to run. */
export class BundleUnpinnedError extends BaseError {
  override name = 'Host.BundleUnpinnedError'
  override readonly code = 'bundle.unpinned'
  constructor({ count }: { count: number }) {
    super(`the compose pins ${count === 0 ? 'no' : count} bundle digest${count === 1 ? '' : 's'}; it must pin exactly one.`, {
      metaMessages: ['Pin the code as `image: <name>@sha256:<hex>` in docker_compose_file (regent deploy does it).'],
    })
  }
}

/** The pushed bundle is not the one the compose pins. */
export class BundleDigestMismatchError extends BaseError {
  override name = 'Host.BundleDigestMismatchError'
  override readonly code = 'bundle.digest_mismatch'
  constructor({ pinned, actual }: { pinned: string; actual: string }) {
    super(`the bundle's digest ${actual} is not the one the compose pins (${pinned}).`)
  }
}

/** The store does not hold the bundle the compose pins. */
export class BundleNotFoundError extends BaseError {
  override name = 'Host.BundleNotFoundError'
  override readonly code = 'bundle.not_found'
  constructor({ digest }: { digest: string }) {
    super(`the host's bundle store has no bundle ${digest}.`, { metaMessages: ['Push it first (launch with its directory).'] })
  }
}

/** A CVM's program did not print the awaited line. */
export class CvmOutputError extends BaseError {
  override name = 'Host.CvmOutputError'
  constructor({ cvmId, reason }: { cvmId: string; reason: string }) {
    super(`CVM ${cvmId} did not print the expected line: ${reason}.`)
  }
}

/** A CVM cannot be restarted while its program runs. */
export class CvmRunningError extends BaseError {
  override name = 'Host.CvmRunningError'
  constructor({ cvmId }: { cvmId: string }) {
    super(`CVM ${cvmId} is still running.`, {
      metaMessages: ['Stop or kill it first (`regent dev cvm stop`), then restart it.'],
    })
  }
}

/** No CVM with that id on this host. */
export class UnknownCvmError extends BaseError {
  override name = 'Host.UnknownCvmError'
  constructor({ cvmId }: { cvmId: string }) {
    super(`no CVM "${cvmId}" on this host.`, { metaMessages: ['List CVMs with `regent dev cvm list`.'] })
  }
}
