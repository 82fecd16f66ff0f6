/**
 * `regent identity show|verify <agent-url|bundle-file>`: an agent's identity bundle (docs/protocol.md "Identity
 * bundle", "Identity endpoint") and the verdict of the identity function with its security score (DESIGN.md §7, §8),
 * computed as an outside verifier would (`verifyInstance` of @regent-tee/sdk). Docs: docs/cli/identity.md.
 */
import { ECDH, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Collateral, createTrustedRoot, intelSgxRootCa, PckCertificate, Quote, type TrustedRoot } from '@regent-tee/attest'
import { DevnetFile } from '@regent-tee/devnet'
import { type Evaluation, type IdentityBundle, type Reason, verifyInstance, verifyProvenance } from '@regent-tee/sdk'
import { type Address, createPublicClient, getAddress, type Hex, http } from 'viem'
import { publicKeyToAddress } from 'viem/accounts'
import { getChainId } from 'viem/actions'
import type { Command, CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'

const docs = 'docs/cli/identity.md'

/** What `identity show --json` prints. */
export type ShowOutput = {
  source: 'url' | 'file'
  /** The nonce this command sent (URL only). */
  nonce: Hex | null
  bundle: IdentityBundle
  keyProvenance: ProvenanceSummary
  attestation: AttestationSummary
}

type ProvenanceSummary = { path: string; purpose: string; chainLength: number; consistent: boolean; kmsRoot: Address | null }
type AttestationSummary = { purpose: string | null; nonce: string | null; quoteBytes: number; quoteType: string | null }

/** What `identity verify --json` prints. */
export type VerifyOutput = {
  isAgent: boolean
  score: number
  holds: Evaluation['holds']
  breakdown: Evaluation['breakdown']
  failures: string[]
  reasons: readonly Reason[]
  bundle: IdentityBundle | null
  source: 'url' | 'file'
  /** The nonce the bundle is attested over: fresh (picked by this command) for a URL, the saved one for a file. */
  nonce: string | null
  fresh: boolean
  chain: { chainId: number; rpcUrl: string; contracts: Contracts }
  trust: string
  notes: string[]
}

type Contracts = { identityRegistry: Address; appAuth: Address; succession: Address }

const isUrl = (s: string) => /^https?:\/\//i.test(s)

export const show: Command = {
  async run({ args }: CommandInput): Promise<CommandResult<ShowOutput>> {
    const source = args[0]
    if (!source) throw new UsageError('usage', 'missing <agent-url|bundle-file>')
    if (isUrl(source)) {
      const nonce = freshNonce()
      const bundle = await fetchBundle(source, nonce)
      return { ok: true, data: { source: 'url', nonce, bundle, ...summaries(bundle) } }
    }
    const bundle = await readBundle(source)
    return { ok: true, data: { source: 'file', nonce: null, bundle, ...summaries(bundle) } }
  },
  render(result) {
    const d = result.data as ShowOutput
    const b = d.bundle
    const p = d.keyProvenance
    const a = d.attestation
    const rows: [string, string][] = [
      ['version', b.version],
      ['agentRegistry', b.agentRegistry],
      ['agentId', b.agentId],
      ['wallet', checksummed(b.wallet)],
      ['appId', checksummed(b.appId)],
      ['instanceId', checksummed(b.instanceId)],
      ['composeHash', b.composeHash],
      ['osImageHash', b.osImageHash],
      ['stateRoot', `${b.stateRoot} (seq ${b.stateSeq})`],
      ['epoch', b.epoch],
      ['issuedAt', `${b.issuedAt} (${isoOf(b.issuedAt)})`],
      [
        'keyProvenance',
        `${p.path} (${p.purpose || 'no purpose'}); chain of ${p.chainLength}, ${p.consistent ? 'consistent' : 'NOT consistent'}; KMS root ${p.kmsRoot ?? '-'}`,
      ],
      ['attestation', `${a.purpose ?? '-'}; quote ${a.quoteType ?? 'unparsable'} (${a.quoteBytes} bytes); nonce ${short(a.nonce)}`],
    ]
    const head =
      d.source === 'url'
        ? `Identity bundle (fetched with nonce ${short(d.nonce)}; not verified: run \`regent identity verify\`)`
        : 'Identity bundle (from a file; not verified: run `regent identity verify`)'
    return [head, ...rows.map(([k, v]) => `  ${k.padEnd(14)} ${v}`)].join('\n')
  },
}

export const verify: Command = {
  async run({ args, flags, note }: CommandInput): Promise<CommandResult<VerifyOutput>> {
    const source = args[0]
    if (!source) throw new UsageError('usage', 'missing <agent-url|bundle-file>')
    const agentId = parseAgentId(flags.agentId)
    const saved = isUrl(source) ? undefined : await readBundle(source)
    const chain = await chainOf(flags)
    const client = createPublicClient({ transport: http(chain.rpcUrl) })
    const chainId = await getChainId(client).catch((cause: unknown) => {
      throw new CliError('chain.unreachable', `the chain at ${chain.rpcUrl} did not answer`, {
        hint: chain.devnet ? 'is the devnet running? `regent dev status`' : 'check --rpc-url',
        docs,
        cause,
      })
    })
    const trust = typeof flags.trust === 'string' ? flags.trust : chain.devnet ? 'devnet' : 'intel'
    const devnet = chain.devnet ?? (trust === 'devnet' ? await devnetFileOf(flags) : undefined)
    const trustedRoots = await trustedRootsOf(trust, devnet)
    const now = new Date()
    const notes: string[] = []

    if (!saved) {
      const collateral = await collateralOf(flags, trust, devnet, async () => fetchBundle(source, freshNonce()))
      note(`verifying ${source} with a fresh nonce against chain ${chainId} (${chain.rpcUrl})`)
      const result = await verifyInstance({
        url: source,
        contracts: chain.contracts,
        client,
        collateral,
        trustedRoots,
        now,
        ...(agentId === undefined ? {} : { agentId }),
      })
      const data = output(result.evaluation, result.reasons, result.bundle, { source: 'url', nonce: result.nonce, fresh: true })
      return { ok: result.evaluation.isAgent, data: { ...data, chain: { chainId, ...strip(chain) }, trust, notes } }
    }

    const bundle = saved
    notes.push(
      'a saved bundle proves nothing about freshness: its nonce was not chosen by this verifier, so (a) only says the key signed it once; verify the agent URL for a live answer',
    )
    const collateral = await collateralOf(flags, trust, devnet, async () => bundle)
    const nonce = savedNonce(bundle)
    const { evaluation, reasons } = await verifyInstance({
      fetch: async () => bundle,
      ...(nonce === undefined ? {} : { nonce }),
      id: 'bundle',
      client,
      contracts: chain.contracts,
      collateral,
      trustedRoots,
      now,
      ...(agentId === undefined ? {} : { agentId }),
    })
    const data = output(evaluation, reasons, bundle, { source: 'file', nonce: nonce ?? null, fresh: false })
    return { ok: evaluation.isAgent, data: { ...data, chain: { chainId, ...strip(chain) }, trust, notes } }
  },
  render(result, { color }) {
    const d = result.data as VerifyOutput
    const paint = (code: number, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s)
    const mark = (ok: boolean) => (ok ? paint(32, '✓') : paint(31, '✗'))
    const b = d.bundle
    const lines = [
      d.isAgent ? paint(32, `✓ the instance is agent ${b?.agentId}`) : paint(31, '✗ the instance is not the agent'),
      `  source         ${d.source === 'url' ? `URL, fresh nonce ${short(d.nonce)}` : `saved bundle, its own nonce ${short(d.nonce)}`}`,
      `  chain          ${d.chain.chainId} (${d.chain.rpcUrl}); trust ${d.trust}`,
    ]
    if (b) {
      lines.push(
        `  agent          ${b.agentId} in ${b.agentRegistry}`,
        `  wallet         ${checksummed(b.wallet)}`,
        `  stateRoot      ${b.stateRoot} (seq ${b.stateSeq}), epoch ${b.epoch}`,
      )
    }
    lines.push(
      '',
      'Identity function:',
      `  (a) controls the agent key        ${mark(d.holds.a)}`,
      `  (b) has the latest state root     ${mark(d.holds.b)}`,
      `  (c) approved code, attested       ${mark(d.holds.c)}`,
      `  (d) canonical in RegentSuccession ${mark(d.holds.d)}`,
      '',
      `Security score: ${d.score}/100${d.isAgent ? '' : ' (0: the identity function does not hold)'}`,
      `  ${'factor'.padEnd(20)} ${'points'.padStart(6)}  ${'max'.padEnd(4)} why`,
    )
    for (const item of d.breakdown)
      lines.push(`  ${item.factor.padEnd(20)} ${String(item.points).padStart(6)}  ${String(item.max).padEnd(4)} ${item.why}`)
    if (d.failures.length || d.reasons.length) lines.push('', 'Failed:')
    for (const f of d.failures) lines.push(paint(31, `  ✗ ${f}`))
    for (const r of d.reasons) lines.push(paint(31, `  ✗ ${r.code}: ${r.message}`))
    for (const n of d.notes) lines.push('', `note: ${n}`)
    return lines.join('\n')
  },
}

function output(
  e: Evaluation,
  reasons: readonly Reason[],
  bundle: IdentityBundle | undefined,
  from: { source: 'url' | 'file'; nonce: string | null; fresh: boolean },
): Omit<VerifyOutput, 'chain' | 'trust' | 'notes'> {
  return {
    isAgent: e.isAgent,
    score: e.score,
    holds: e.holds,
    breakdown: e.breakdown,
    failures: e.failures,
    reasons,
    bundle: bundle ?? null,
    ...from,
  }
}

type ChainContext = { rpcUrl: string; contracts: Contracts; devnet: DevnetFile.DevnetFile | undefined }

const strip = (c: ChainContext) => ({ rpcUrl: c.rpcUrl, contracts: c.contracts })

/** The chain and contracts to read: `--rpc-url` + `--contracts`, else the devnet's. */
async function chainOf(flags: CommandInput['flags']): Promise<ChainContext> {
  if (typeof flags.rpcUrl === 'string') {
    if (typeof flags.contracts !== 'string')
      throw new UsageError('usage', '--rpc-url needs --contracts <file>', {
        hint: 'a JSON file with identityRegistry, appAuth and succession addresses (devnet.json `contracts` fits)',
      })
    const text = await readText(flags.contracts, 'contracts')
    let contracts: Contracts
    try {
      const parsed = JSON.parse(text) as { contracts?: Record<string, string> } & Record<string, string>
      const c = parsed.contracts ?? parsed
      contracts = {
        identityRegistry: getAddress(c.identityRegistry ?? ''),
        appAuth: getAddress(c.appAuth ?? ''),
        succession: getAddress(c.succession ?? ''),
      }
    } catch {
      throw new UsageError('contracts.invalid', `${flags.contracts}: expected JSON with identityRegistry, appAuth and succession addresses`)
    }
    return { rpcUrl: flags.rpcUrl, contracts, devnet: undefined }
  }
  const dir = devnetDir(flags)
  const file = await devnetFileOf(flags)
  if (!file)
    throw new UsageError('devnet.missing', `no devnet in ${dir} and no --rpc-url`, {
      hint: 'start the devnet with `regent dev up` (or pass --devnet-dir), or give --rpc-url and --contracts',
      docs,
    })
  return { rpcUrl: file.rpcUrl, contracts: file.contracts, devnet: file }
}

const devnetDir = (flags: CommandInput['flags']) => resolveDevnetDir(flags.devnetDir).dir

async function devnetFileOf(flags: CommandInput['flags']): Promise<DevnetFile.DevnetFile | undefined> {
  try {
    return await DevnetFile.read(devnetDir(flags))
  } catch (error) {
    throw new UsageError('devnet.invalid', firstLine(error), { hint: 'run `regent dev up --fresh`' })
  }
}

async function trustedRootsOf(trust: string, devnet: DevnetFile.DevnetFile | undefined): Promise<TrustedRoot[]> {
  if (trust === 'intel') return [intelSgxRootCa]
  if (trust === 'devnet') {
    if (!devnet)
      throw new UsageError('devnet.missing', '--trust devnet needs a devnet', {
        hint: 'start one with `regent dev up` or pass --devnet-dir',
      })
    return [createTrustedRoot({ name: 'devnet', pem: devnet.rootCa })]
  }
  const pem = await readText(trust, 'root CA')
  try {
    return [createTrustedRoot({ name: trust, pem })]
  } catch (error) {
    throw new UsageError('trust.invalid', `${trust}: ${firstLine(error)}`, { hint: '--trust takes "devnet", "intel" or a PEM file' })
  }
}

/** `--collateral <file>`, the devnet's collateral under devnet trust, else fetched from Intel PCS for the bundle's quote. */
async function collateralOf(
  flags: CommandInput['flags'],
  trust: string,
  devnet: DevnetFile.DevnetFile | undefined,
  probe: () => Promise<IdentityBundle>,
): Promise<Collateral.Collateral> {
  if (typeof flags.collateral === 'string') {
    const text = await readText(flags.collateral, 'collateral')
    try {
      return Collateral.parse(text)
    } catch (error) {
      throw new UsageError('collateral.invalid', `${flags.collateral}: ${firstLine(error)}`, {
        hint: 'expected the QuoteCollateralV3 JSON shape (see docs/attest.md)',
      })
    }
  }
  if (trust === 'devnet' && devnet) {
    const text = await fetch(devnet.collateralUrl, { signal: AbortSignal.timeout(10_000) }).then(
      (r) => (r.ok ? r.text() : undefined),
      () => undefined,
    )
    if (text === undefined)
      throw new CliError('devnet.unreachable', `the devnet collateral at ${devnet.collateralUrl} did not answer`, {
        hint: 'check `regent dev status`',
        docs,
      })
    return Collateral.parse(text)
  }
  const bundle = await probe()
  try {
    const quote = Quote.parse(Buffer.from(String(bundle.attestation?.quote ?? '').replace(/^0x/, ''), 'hex'))
    const leaf = PckCertificate.from(Quote.pckCertChainPem(quote))
    const tee = quote.type === 'sgx' ? 'sgx' : 'tdx'
    return await Collateral.fetch({ pccsUrl: 'https://api.trustedservices.intel.com', fmspc: leaf.fmspc, ca: leaf.ca ?? 'processor', tee })
  } catch (error) {
    throw new CliError('collateral.fetch', `no collateral for the bundle's quote: ${firstLine(error)}`, {
      hint: 'pass --collateral <file>, or --trust devnet for a devnet agent',
      docs,
    })
  }
}

function summaries(bundle: IdentityBundle): { keyProvenance: ProvenanceSummary; attestation: AttestationSummary } {
  const p = bundle.keyProvenance
  // null: an imported key (option-A uplift) has no KMS chain to show.
  const v =
    p === null
      ? { ok: false, kmsRootPublicKey: undefined }
      : verifyProvenance({
          provenance: p,
          ...(typeof bundle.wallet === 'string' ? { address: bundle.wallet } : {}),
          ...(typeof bundle.appId === 'string' ? { appId: bundle.appId } : {}),
        })
  const quoteHex = String(bundle.attestation?.quote ?? '').replace(/^0x/, '')
  let quoteType: string | null = null
  try {
    quoteType = Quote.parse(Buffer.from(quoteHex, 'hex')).type
  } catch {}
  const statement = bundle.attestation?.statement
  return {
    keyProvenance: {
      path: p === null ? 'imported (no KMS provenance)' : String(p?.path ?? ''),
      purpose: String(p?.purpose ?? ''),
      chainLength: Array.isArray(p?.signatureChain) ? p.signatureChain.length : 0,
      consistent: v.ok,
      kmsRoot: v.kmsRootPublicKey ? rootAddress(v.kmsRootPublicKey) : null,
    },
    attestation: {
      purpose: typeof statement?.purpose === 'string' ? statement.purpose : null,
      nonce: typeof statement?.nonce === 'string' ? statement.nonce : null,
      quoteBytes: quoteHex.length / 2,
      quoteType,
    },
  }
}

function savedNonce(bundle: IdentityBundle): Hex | undefined {
  const n = bundle.attestation?.statement?.nonce
  return typeof n === 'string' && /^0x[0-9a-f]+$/i.test(n) ? (n as Hex) : undefined
}

function freshNonce(): Hex {
  return `0x${randomBytes(32).toString('hex')}`
}

async function fetchBundle(url: string, nonce: Hex): Promise<IdentityBundle> {
  const target = new URL('identity', url.endsWith('/') ? url : `${url}/`)
  target.searchParams.set('nonce', nonce)
  const response = await fetch(target, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) }).catch(
    (cause: unknown) => {
      throw new CliError('identity.fetch', `${target.origin} did not answer`, { hint: 'is the agent running at that URL?', docs, cause })
    },
  )
  if (!response.ok)
    throw new CliError('identity.fetch', `GET ${target.pathname} answered HTTP ${response.status}`, {
      hint: 'the URL must be the base URL of a Regent agent (it serves GET /identity?nonce=…)',
      docs,
    })
  const bundle = (await response.json().catch(() => undefined)) as IdentityBundle | undefined
  if (typeof bundle !== 'object' || bundle === null)
    throw new CliError('identity.fetch', `GET ${target.pathname} did not answer a JSON object`, { docs })
  return bundle
}

async function readBundle(path: string): Promise<IdentityBundle> {
  const text = await readText(path, 'bundle')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new UsageError('bundle.invalid', `${path} is not JSON`, { hint: 'save a bundle with `regent identity show <url> --json`' })
  }
  const v = value as { bundle?: unknown; version?: unknown }
  // `identity show --json` output is accepted as is: its `bundle` field.
  const bundle = (
    typeof v === 'object' && v !== null && v.version === undefined && typeof v.bundle === 'object' ? v.bundle : value
  ) as IdentityBundle
  if (typeof bundle !== 'object' || bundle === null || typeof bundle.version !== 'string')
    throw new UsageError('bundle.invalid', `${path} is not an identity bundle (no "version")`, {
      hint: 'save a bundle with `regent identity show <url> --json`',
    })
  return bundle
}

function parseAgentId(value: string | boolean | undefined): bigint | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,76})$/.test(value)) throw new UsageError('usage', '--agent-id takes a decimal number')
  return BigInt(value)
}

function rootAddress(publicKey: Hex): Address {
  const uncompressed = ECDH.convertKey(publicKey.slice(2), 'secp256k1', 'hex', 'hex', 'uncompressed') as string
  return getAddress(publicKeyToAddress(`0x${uncompressed}`))
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    throw new UsageError('file.unreadable', `cannot read ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

const short = (hex: string | null) => (hex ? `${hex.slice(0, 18)}…` : '-')
const isoOf = (unix: string) => (/^\d+$/.test(unix) ? new Date(Number(unix) * 1000).toISOString() : 'invalid')

function firstLine(error: unknown): string {
  const e = error as { shortMessage?: string; message?: string }
  return (e.shortMessage ?? e.message ?? String(error)).split('\n')[0] ?? 'error'
}

/** An address as people read it (EIP-55 checksum); anything that is not an address, unchanged. */
function checksummed(value: string): string {
  return /^0x[0-9a-fA-F]{40}$/.test(value) ? getAddress(value) : value
}
