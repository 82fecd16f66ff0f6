/**
 * The devnet TEE host (DESIGN.md §5): one simulated TDX machine — its PKI, Quoting Enclave and
 * collateral — that launches CVMs. A CVM is an agent bundle run as a guarded child process, with its
 * own dstack-compatible guest agent (unix socket + loopback HTTP) and its own measured boot.
 *
 * The host can misbehave on purpose for tests (issue 4): serve stale quotes, serve a compose file
 * other than the measured one, cut a CVM off from the chain, kill a CVM.
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Collateral, TrustedRoot } from '@regent/attest'
import { type Guarded, spawnGuarded } from '@regent/contracts'
import { type Cvm, createCvm } from '../cvm/Cvm.js'
import type { KeyProvider } from '../cvm/KeyProvider.js'
import { BaseError } from '../errors.js'
import { type GuestAgent, startGuestAgent } from '../guest/GuestAgent.js'
import * as DevnetCollateral from '../tdx/DevnetCollateral.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import * as DevnetQe from '../tdx/DevnetQe.js'
import * as Bundle from './Bundle.js'

/** What the host knows about one CVM (also what `regent dev cvm list --json` prints). */
export type CvmRecord = {
  cvmId: string
  appId: string
  instanceId: string
  composeHash: string
  appName: string
  bundle: string
  bundleDigest: string
  /** The value to give `DSTACK_SIMULATOR_ENDPOINT` (the guest agent's unix socket). */
  endpoint: string
  /** The guest agent over loopback HTTP. */
  guestAgentUrl: string
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
  /** The exact app-compose.json bytes (their SHA-256 is the compose hash). */
  compose: Uint8Array
  /** Directory of the agent bundle. */
  bundle: string
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
}

export type Host = {
  pki: DevnetPki.DevnetPki
  qe: DevnetQe.DevnetQe
  trustedRoot: TrustedRoot
  /** Collateral (QuoteCollateralV3 JSON) that verifies devnet quotes under {@link Host.trustedRoot}. */
  collateral: Collateral.Json
  keyProvider: KeyProvider
  launch(params: LaunchParameters): Promise<CvmRecord>
  list(): CvmRecord[]
  get(cvmId: string): CvmRecord
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
   * Devnet faucet: raises `address`'s balance to at least `wei` (anvil_setBalance; there is no such
   * thing on a real chain). Resolves with the new balance.
   */
  fund(address: string, wei: bigint): Promise<bigint>
  /** The chain RPC URL a CVM may use now, or `undefined` while it is partitioned. */
  rpcFor(cvmId: string): string | undefined
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
}

/** `output` emits `line` for each stdout line (the first 1,000 are also kept in `lines`) and `exit`. */
type Entry = { record: CvmRecord; cvm: Cvm; agent: GuestAgent; process: Guarded; dir: string; lines: string[]; output: EventEmitter }

/** Creates a host: a fresh simulated machine (PKI and attestation key live in memory only). */
export function createHost(options: CreateHostOptions): Host {
  const pki = options.pki ?? DevnetPki.create()
  const qe = DevnetQe.create({ pki })
  const collateral = DevnetCollateral.issue(pki)
  const cvms = new Map<string, Entry>()

  const entryOf = (cvmId: string): Entry => {
    const e = cvms.get(cvmId)
    if (!e) throw new UnknownCvmError({ cvmId })
    return e
  }

  const host: Host = {
    pki,
    qe,
    trustedRoot: DevnetPki.trustedRoot(pki),
    collateral,
    keyProvider: options.keyProvider,

    async launch(params) {
      const bundle = resolve(params.bundle)
      const [bundleDigest, entry] = await Promise.all([Bundle.digest(bundle), params.entry ?? Bundle.entry(bundle)])
      const cvmId = `cvm-${randomBytes(6).toString('hex')}`
      const dir = join(options.dir, 'cvms', cvmId)
      await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 })
      const cvm = await createCvm({
        compose: params.compose,
        qe,
        keyProvider: params.keyProvider ?? options.keyProvider,
        ...(params.appId ? { appId: params.appId } : {}),
        ...(params.instanceIdSeed ? { instanceIdSeed: params.instanceIdSeed } : {}),
      })
      const agent = await startGuestAgent(cvm, { socketPath: socketPathFor(dir, cvmId), port: 0 })
      const port = await freePort()
      const log = createWriteStream(join(dir, 'log'), { flags: 'a' })
      const env = {
        ...process.env,
        ...params.env,
        DSTACK_SIMULATOR_ENDPOINT: agent.socketPath ?? '',
        REGENT_GUEST_AGENT_URL: agent.url ?? '',
        REGENT_RPC_URL: `${options.hostUrl()}/v1/cvms/${cvmId}/rpc`,
        REGENT_CVM_ID: cvmId,
        REGENT_FAUCET_URL: `${options.hostUrl()}/v1/faucet`,
        REGENT_DATA_DIR: join(dir, 'data'), // the CVM's own disk
        REGENT_DEVNET: '1',
        PORT: String(port),
      }
      const child = spawnGuarded(process.execPath, [entry], { cwd: bundle, env })
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
      const info = cvm.info
      const record: CvmRecord = {
        cvmId,
        appId: hex(info.appId),
        instanceId: hex(info.instanceId),
        composeHash: hex(info.composeHash),
        appName: info.appName ?? '',
        bundle,
        bundleDigest,
        endpoint: agent.socketPath ?? '',
        guestAgentUrl: agent.url ?? '',
        port,
        appUrl: `http://127.0.0.1:${port}`,
        pid: child.pid,
        status: 'running',
        exitCode: null,
        startedAt: new Date().toISOString(),
        faults: { staleQuote: false, alterCompose: false, partitionChain: false },
      }
      void child.exited.then((code) => {
        output.emit('exit', code)
        if (record.status === 'running') record.status = 'exited'
        record.exitCode = code
        log.end()
        void writeFile(join(dir, 'cvm.json'), `${JSON.stringify(record, null, 2)}\n`).catch(() => {})
      })
      cvms.set(cvmId, { record, cvm, agent, process: child, dir, lines, output })
      await writeFile(join(dir, 'cvm.json'), `${JSON.stringify(record, null, 2)}\n`)
      return record
    },

    list: () => [...cvms.values()].map((e) => e.record),
    get: (cvmId) => entryOf(cvmId).record,

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
      e.cvm.faults = { staleQuote: e.record.faults.staleQuote, alterComposeAfterMeasure: e.record.faults.alterCompose }
      return e.record
    },

    async fund(address, wei) {
      const rpc = async (method: string, params: unknown[]) => {
        const res = await fetch(options.rpcUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
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
      return e.record.faults.partitionChain ? undefined : options.rpcUrl
    },

    async close() {
      await Promise.all([...cvms.keys()].map((id) => host.stop(id).catch(() => undefined)))
    },
  }
  return host
}

/** Removes the CVM directories of a previous run. */
export async function wipe(dir: string): Promise<void> {
  await rm(join(dir, 'cvms'), { recursive: true, force: true })
}

/** `<cvm dir>/dstack.sock`, or a temp path when that is too long for a unix socket (108 bytes on Linux). */
function socketPathFor(dir: string, cvmId: string): string {
  const preferred = join(resolve(dir), 'dstack.sock')
  return Buffer.byteLength(preferred) <= 100 ? preferred : join(tmpdir(), `regent-${cvmId}.sock`)
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

/** A CVM's program did not print the awaited line. */
export class CvmOutputError extends BaseError {
  override name = 'Host.CvmOutputError'
  constructor({ cvmId, reason }: { cvmId: string; reason: string }) {
    super(`CVM ${cvmId} did not print the expected line: ${reason}.`)
  }
}

/** No CVM with that id on this host. */
export class UnknownCvmError extends BaseError {
  override name = 'Host.UnknownCvmError'
  constructor({ cvmId }: { cvmId: string }) {
    super(`no CVM "${cvmId}" on this host.`, { metaMessages: ['List CVMs with `regent dev cvm list`.'] })
  }
}
