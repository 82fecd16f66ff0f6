/**
 * `regent attest verify <quote-file>`: full offline DCAP verification of one quote with
 * `@regent-tee/attest` (docs/attest.md), printed as one JSON object with `--json`.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Collateral, createTrustedRoot, intelSgxRootCa, PckCertificate, Quote, type TrustedRoot, verifyQuote } from '@regent-tee/attest'
import type { CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'

/** Intel's PCS, where collateral comes from unless --pccs-url (or a trusted devnet) says otherwise. */
const intelPcs = 'https://api.trustedservices.intel.com'

/** What `--json` prints. */
export type AttestVerifyOutput = {
  ok: boolean
  status: string | undefined
  advisoryIds: readonly string[]
  tee: 'tdx' | 'sgx' | undefined
  version: number | undefined
  hardware: 'tdx' | 'sgx' | 'devnet' | undefined
  root: string | undefined
  measurements: Record<string, string | number> | undefined
  reasons: readonly { code: string; message: string }[]
  collateral: { source: 'file' | 'fetched'; nextUpdate: string | undefined; url?: string }
  app?: { appId?: string; composeHash?: string; instanceId?: string; osImageHash?: string; keyProvider?: string }
  error?: { code: string; message: string }
}

export async function run({ args, flags, note }: CommandInput): Promise<CommandResult<AttestVerifyOutput>> {
  const [quoteFile] = args
  if (!quoteFile) throw new UsageError('usage', 'missing <quote-file>')
  const now = parseNow(flags.now)
  // The devnet: --devnet-dir, $REGENT_DIR (older spelling), else found as every command finds it.
  const devnetDir = resolveDevnetDir(flags.devnetDir ?? process.env.REGENT_DIR).dir
  const trustedRoots = await parseTrust(flags.trust, devnetDir)
  const eventLog = typeof flags.eventLog === 'string' ? await readText(flags.eventLog, 'event log') : undefined

  const contents = await readBytes(quoteFile, 'quote')
  let quote: Quote.Quote
  try {
    quote = Quote.fromFileContents(contents)
  } catch (error) {
    const message = error instanceof Error ? ((error as { shortMessage?: string }).shortMessage ?? error.message) : String(error)
    const empty = { source: 'file' as const, nextUpdate: undefined }
    return failure({ code: 'quote.invalid', message }, empty)
  }

  let collateral: Collateral.Collateral
  let source: AttestVerifyOutput['collateral']
  if (typeof flags.collateral === 'string') {
    const text = await readText(flags.collateral, 'collateral')
    source = { source: 'file', nextUpdate: undefined }
    // Usage: a file that is not JSON or lacks a field of the shape. Signed parts that do not parse (a flipped byte in
    // the TCB info, a garbage CRL) are untrusted input failing verification, like a bad signature: exit 1.
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    try {
      collateral = Collateral.parse(json as Collateral.Json)
    } catch (error) {
      const key = error instanceof Collateral.InvalidCollateralError ? error.key : '(root)'
      const value = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)[key] : undefined
      const code = collateralCodes[key]
      if (code === undefined || typeof value !== 'string')
        throw new UsageError(
          'collateral.invalid',
          `${flags.collateral}: ${json === undefined ? 'Invalid collateral: the file is not JSON' : firstLine(error)}`,
          {
            hint: 'expected the QuoteCollateralV3 JSON shape (see docs/attest.md)',
          },
        )
      return failure({ code, message: firstLine(error) }, source)
    }
  } else {
    // With the devnet trusted and no PCCS named, its host is the PCS (it serves Intel's v4 paths for its platform).
    const pccsUrl =
      typeof flags.pccsUrl === 'string' ? flags.pccsUrl : flags.trust === 'devnet' ? await runningDevnetHost(devnetDir) : intelPcs
    const leaf = PckCertificate.from(Quote.pckCertChainPem(quote))
    const tee = quote.type === 'sgx' ? 'sgx' : 'tdx'
    note(`fetching collateral for FMSPC ${leaf.fmspc} (${tee}, ${leaf.ca ?? 'processor'} CA) from ${pccsUrl}`)
    try {
      collateral = await Collateral.fetch({ pccsUrl, fmspc: leaf.fmspc, ca: leaf.ca ?? 'processor', tee })
    } catch (error) {
      return failure({ code: 'collateral.fetch', message: firstLine(error) }, { source: 'fetched', nextUpdate: undefined, url: pccsUrl })
    }
    source = { source: 'fetched', nextUpdate: undefined, url: pccsUrl }
  }

  const verdict = await verifyQuote(quote, {
    collateral,
    now,
    trustedRoots,
    ...(eventLog === undefined ? {} : { policy: { eventLog } }),
  })
  const data: AttestVerifyOutput = {
    ok: verdict.ok,
    status: verdict.status,
    advisoryIds: verdict.advisoryIds,
    tee: verdict.tee,
    version: verdict.version,
    hardware: verdict.hardware,
    root: verdict.root,
    measurements: verdict.measurements ? { ...verdict.measurements } : undefined,
    reasons: verdict.reasons,
    collateral: { ...source, nextUpdate: verdict.collateralNextUpdate?.toISOString() },
    ...(verdict.app ? { app: appOf(verdict.app) } : {}),
    ...(verdict.reasons[0] ? { error: { code: verdict.reasons[0].code, message: verdict.reasons[0].message } } : {}),
  }
  return { ok: verdict.ok, data }
}

export function render(result: CommandResult, { color }: { color: boolean }): string {
  const d = result.data as AttestVerifyOutput
  const paint = (code: number, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s)
  const lines = [
    d.ok ? paint(32, '✓ quote verifies') : paint(31, '✗ quote does not verify'),
    `  tee           ${d.tee ?? '-'} (quote v${d.version ?? '?'})`,
    `  hardware      ${d.hardware ?? '-'}${d.root ? ` (root: ${d.root})` : ''}`,
    `  status        ${d.status ?? '-'}${d.advisoryIds.length ? ` [${d.advisoryIds.join(', ')}]` : ''}`,
  ]
  for (const [k, v] of Object.entries(d.measurements ?? {})) lines.push(`  ${k.padEnd(13)} ${v}`)
  if (d.app) for (const [k, v] of Object.entries(d.app)) lines.push(`  ${k.padEnd(13)} ${v}`)
  for (const r of d.reasons) lines.push(paint(31, `  ✗ ${r.code}: ${r.message}`))
  return lines.join('\n')
}

function failure(
  error: { code: string; message: string },
  collateral: AttestVerifyOutput['collateral'],
): CommandResult<AttestVerifyOutput> {
  return {
    ok: false,
    data: {
      ok: false,
      status: undefined,
      advisoryIds: [],
      tee: undefined,
      version: undefined,
      hardware: undefined,
      root: undefined,
      measurements: undefined,
      reasons: [error],
      collateral,
      error,
    },
  }
}

function appOf(app: { appId?: unknown; composeHash?: unknown; instanceId?: unknown; osImageHash?: unknown; keyProvider?: unknown }) {
  const hex = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'string' ? v : undefined)
  const out: Record<string, string> = {}
  for (const key of ['appId', 'composeHash', 'instanceId', 'osImageHash'] as const) {
    const v = hex(app[key])
    if (v !== undefined) out[key] = v
  }
  const kp = app.keyProvider as { name?: string } | undefined
  if (kp?.name) out.keyProvider = kp.name
  return out
}

/** The verification code of a signed collateral part that does not parse (attest's codes for the same parts). */
const collateralCodes: Record<string, string> = {
  root_ca_crl: 'collateral.crl',
  pck_crl: 'collateral.crl',
  tcb_info: 'collateral.tcb_info',
  tcb_info_signature: 'collateral.tcb_info',
  qe_identity: 'collateral.qe_identity',
  qe_identity_signature: 'collateral.qe_identity',
}

function parseNow(value: string | boolean | undefined): Date {
  if (value === undefined) return new Date()
  if (typeof value !== 'string' || !/^\d{1,12}$/.test(value)) {
    throw new UsageError('usage', `--now takes unix seconds (digits only), got "${String(value)}"`)
  }
  return new Date(Number(value) * 1000)
}

/** The host URL of the devnet in `dir`, which must be running (its PCS answers there). */
async function runningDevnetHost(dir: string): Promise<string> {
  const file = JSON.parse(await readFile(join(dir, 'devnet.json'), 'utf8')) as { hostUrl?: string; pid?: number }
  const alive = (() => {
    try {
      return typeof file.pid === 'number' && process.kill(file.pid, 0)
    } catch {
      return false
    }
  })()
  if (!alive || typeof file.hostUrl !== 'string')
    throw new CliError('devnet.not_running', `no devnet is running in ${dir} to fetch collateral from`, {
      hint: 'start it with `regent dev up`, or pass --collateral <file> or --pccs-url <url>',
      docs: 'docs/cli/attest.md',
    })
  return file.hostUrl
}

async function parseTrust(value: string | boolean | undefined, devnetDir: string): Promise<TrustedRoot[]> {
  if (value === undefined || value === 'intel') return [intelSgxRootCa]
  if (value === 'devnet') {
    const path = join(devnetDir, 'devnet.json')
    const text = await readFile(path, 'utf8').catch(() => undefined)
    const pem = text === undefined ? undefined : (JSON.parse(text) as { rootCa?: string }).rootCa
    if (!pem)
      throw new UsageError('devnet.missing', `no devnet root CA in ${path}`, {
        hint: 'start the devnet with `regent dev up`, or pass --trust <root.pem>',
      })
    return [createTrustedRoot({ name: 'devnet', pem })]
  }
  if (typeof value !== 'string') throw new UsageError('usage', '--trust takes "intel", "devnet" or a PEM file')
  const pem = await readText(value, 'root CA')
  try {
    return [createTrustedRoot({ name: value, pem })]
  } catch (error) {
    throw new UsageError('trust.invalid', `${value}: ${firstLine(error)}`)
  }
}

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (error) {
    throw new UsageError('file.unreadable', `cannot read ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

async function readText(path: string, what: string): Promise<string> {
  return Buffer.from(await readBytes(path, what)).toString('utf8')
}

function firstLine(error: unknown): string {
  const e = error as { shortMessage?: string; message?: string }
  return (e.shortMessage ?? e.message ?? String(error)).split('\n')[0] ?? 'error'
}
