/**
 * `regent keys derive --path <p>`: derives a key through a dstack guest agent (in a CVM, or a devnet CVM's endpoint)
 * with @regent-tee/sdk `deriveKey`, and checks its provenance (dstack signature chain to the KMS root; docs/sdk.md "Keys",
 * docs/protocol.md). The private key is shown only with `--reveal` on a terminal, never under `--json`.
 * Docs: docs/cli/keys.md.
 */
import { ECDH } from 'node:crypto'
import { DevnetFile } from '@regent-tee/devnet'
import {
  createTeeClient,
  type DerivedKey,
  deriveKey,
  fromEnv,
  GuestAgentError,
  http,
  NoEndpointError,
  type Transport,
  TransportError,
  unixSocket,
  verifyProvenance,
} from '@regent-tee/sdk'
import { type Address, getAddress, type Hex } from 'viem'
import { publicKeyToAddress } from 'viem/accounts'
import type { Command, CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'

const docs = 'docs/cli/keys.md'

/** What `keys derive --json` prints (never a private key). */
export type DeriveOutput = {
  endpoint: string
  path: string
  purpose: string
  address: Address
  publicKey: Hex
  appId: Hex
  signatureChain: readonly Hex[]
  provenance: {
    /** The chain recovers, and to this key's address and app id. */
    ok: boolean
    kmsRootPublicKey: Hex | null
    kmsRoot: Address | null
    /** With a devnet that runs a KMS (`--devnet-dir`): whether the chain ends at its KMS root (`kmsRoot` in devnet.json). */
    devnet: { kmsRoot: Address; matches: boolean } | null
    reasons: readonly { code: string; message: string }[]
  }
}

export const derive: Command = {
  async run({ flags }: CommandInput): Promise<CommandResult<DeriveOutput & { privateKey?: Hex }>> {
    const path = flags.path
    if (typeof path !== 'string' || path.length === 0)
      throw new UsageError('usage', 'missing --path <path>', { hint: 'e.g. --path regent/v1/wallet' })
    if (typeof flags.name === 'string' && typeof flags.purpose === 'string' && flags.name !== flags.purpose)
      throw new UsageError('usage', '--name and --purpose are the same thing: give one')
    const purpose = typeof flags.name === 'string' ? flags.name : typeof flags.purpose === 'string' ? flags.purpose : ''
    // --reveal: refused before anything is derived unless a person is looking at a terminal.
    const reveal = flags.reveal === true
    if (reveal && flags.json === true)
      throw new UsageError(
        'reveal.refused',
        '--reveal is never honoured with --json (a private key must not reach a machine-readable stream)',
        {
          hint: 'drop --json, and run on a terminal',
        },
      )
    if (reveal && !process.stdout.isTTY)
      throw new UsageError('reveal.refused', '--reveal needs stdout to be a terminal; refusing to write a private key to a pipe or file', {
        hint: 'run it on a terminal without redirecting stdout',
      })

    const { transport, endpoint } = transportOf(flags.endpoint)
    const client = createTeeClient({ transport })
    let key: DerivedKey
    try {
      key = await deriveKey(client, { path, purpose })
    } catch (error) {
      if (error instanceof TransportError || (error as Error).name === 'TimeoutError')
        throw new CliError('endpoint.unreachable', `no guest agent answers at ${endpoint}`, {
          hint: 'inside a CVM set DSTACK_SIMULATOR_ENDPOINT or mount the dstack socket; on the devnet pass --endpoint <the CVM record endpoint> (`regent dev cvm list --json`)',
          docs,
        })
      if (error instanceof GuestAgentError)
        throw new CliError('key.refused', `the guest agent refused GetKey: ${error.agentMessage ?? error.shortMessage}`, { docs })
      throw error
    }
    try {
      const verdict = verifyProvenance({ provenance: key.provenance, address: key.address, appId: key.provenance.appId })
      const kmsRoot = verdict.kmsRootPublicKey ? rootAddress(verdict.kmsRootPublicKey) : null
      const devnet = await devnetOf(flags)
      // A devnet without KMS nodes (`--kms-nodes 0`) has no KMS root to compare with.
      const expected = devnet?.kmsRoot ? getAddress(devnet.kmsRoot) : null
      const data: DeriveOutput = {
        endpoint,
        path: key.path,
        purpose: key.purpose,
        address: getAddress(key.address),
        publicKey: key.publicKey,
        appId: key.provenance.appId,
        signatureChain: key.signatureChain,
        provenance: {
          ok: verdict.ok,
          kmsRootPublicKey: verdict.kmsRootPublicKey ?? null,
          kmsRoot,
          devnet: expected ? { kmsRoot: expected, matches: expected === kmsRoot } : null,
          reasons: verdict.reasons,
        },
      }
      const ok = verdict.ok && (data.provenance.devnet === null || data.provenance.devnet.matches)
      // The key leaves the PrivateKey wrapper only for a person at a terminal who asked for it.
      return { ok, data: reveal ? { ...data, privateKey: key.privateKey.toHex() } : data }
    } finally {
      key.privateKey.wipe()
    }
  },
  render(result, { color }) {
    const d = result.data as DeriveOutput & { privateKey?: Hex }
    const paint = (code: number, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s)
    const p = d.provenance
    const lines = [
      `key ${d.path}${d.purpose ? ` (purpose "${d.purpose}")` : ''} from ${d.endpoint}`,
      `  address        ${d.address}`,
      `  publicKey      ${d.publicKey}`,
      `  appId          ${d.appId}`,
      `  chain[0] app   ${d.signatureChain[0] ?? '-'}`,
      `  chain[1] KMS   ${d.signatureChain[1] ?? '-'}`,
      `  KMS root       ${p.kmsRoot ?? '-'}${p.kmsRootPublicKey ? ` (${p.kmsRootPublicKey})` : ''}`,
      p.ok
        ? paint(32, '✓ provenance: the signature chain verifies to that KMS root for this app and address')
        : paint(31, '✗ provenance does not verify'),
    ]
    if (p.devnet)
      lines.push(
        p.devnet.matches
          ? paint(32, `✓ the KMS root is the devnet's (${p.devnet.kmsRoot})`)
          : paint(31, `✗ the KMS root is not the devnet's (${p.devnet.kmsRoot})`),
      )
    for (const r of p.reasons) lines.push(paint(31, `  ✗ ${r.code}: ${r.message}`))
    if (d.privateKey) lines.push('', paint(33, `privateKey     ${d.privateKey}   (secret: anyone with it controls ${d.address})`))
    return lines.join('\n')
  },
}

function transportOf(value: string | boolean | undefined): { transport: Transport; endpoint: string } {
  if (value === undefined) {
    try {
      return { transport: fromEnv(), endpoint: process.env.DSTACK_SIMULATOR_ENDPOINT || 'the dstack socket' }
    } catch (error) {
      if (error instanceof NoEndpointError)
        throw new UsageError('endpoint.missing', 'no guest agent: DSTACK_SIMULATOR_ENDPOINT is unset and no dstack socket exists', {
          hint: 'run inside a CVM, or pass --endpoint <socket|url> (on the devnet: the CVM record endpoint, `regent dev cvm list --json`)',
          docs,
        })
      throw error
    }
  }
  if (typeof value !== 'string' || value.length === 0) throw new UsageError('usage', '--endpoint takes a socket path or an http(s) URL')
  return { transport: /^https?:\/\//i.test(value) ? http({ url: value }) : unixSocket({ path: value }), endpoint: value }
}

async function devnetOf(flags: CommandInput['flags']): Promise<DevnetFile.DevnetFile | undefined> {
  try {
    return await DevnetFile.read(resolveDevnetDir(flags.devnetDir).dir)
  } catch {
    return undefined
  }
}

function rootAddress(publicKey: Hex): Address {
  const uncompressed = ECDH.convertKey(publicKey.slice(2), 'secp256k1', 'hex', 'hex', 'uncompressed') as string
  return getAddress(publicKeyToAddress(`0x${uncompressed}`))
}
