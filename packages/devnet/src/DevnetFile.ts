/**
 * `.regent/devnet.json`: how every tool finds the running devnet (DESIGN.md §5). Written by the
 * supervisor once everything is ready; read by the CLI, the SDK's devnet transport and tests.
 * Version 1. Contains no secrets: the root CA certificate is public, its key never leaves memory.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Address } from 'viem'
import { BaseError } from './errors.js'

/** The contents of `devnet.json`. */
export type DevnetFile = {
  version: 1
  /** Supervisor process id (ends everything when signalled). */
  pid: number
  startedAt: string
  rpcUrl: string
  chainId: number
  contracts: {
    identityRegistry: Address
    reputationRegistry: Address
    validationRegistry: Address
    appAuth: Address
    succession: Address
    treasury: Address
  }
  /** KMS node URLs (empty until the KMS service runs in the devnet). */
  kmsUrls: string[]
  /** The key provider app CVMs use: `kms` (KMS nodes) or `local-devnet` (`--kms-nodes 0`). */
  keyProvider: { name: string; id: string }
  /** Ethereum address of the KMS root key (what RegentAppAuth's `addKmsRoot` takes); absent without KMS. */
  kmsRoot?: Address
  /** The TEE host's HTTP API. */
  hostUrl: string
  /** The devnet root CA (PEM): trust it explicitly to verify devnet quotes; they never verify as hardware. */
  rootCa: string
  /** Collateral for devnet quotes (QuoteCollateralV3 JSON), also served at `${hostUrl}/v1/collateral`. */
  collateralUrl: string
  /** The host's dstack-vmm API (`POST {vmmUrl}/prpc/<Method>?json`), for `regent deploy --target dstack`. */
  vmmUrl?: string
  /** Its bearer token (`REGENT_DSTACK_TOKEN`): a loopback devnet credential, not a key. */
  vmmToken?: string
  /** The Phala Cloud–compatible API (`PHALA_CLOUD_API_PREFIX`; docs/targets/phala.md "The stand-in"). */
  phalaApiUrl?: string
  /** Its API key (`PHALA_CLOUD_API_KEY`): a devnet credential, good for this devnet's loopback API only. */
  phalaApiKey?: string
  /** dstack's DstackKms (proxy) on the devnet chain: the devnet's on-chain KMS, served by its KMS node. */
  dstackKms?: Address
}

export const fileName = 'devnet.json'

/** Path of the devnet file in a state directory. */
export function path(dir: string): string {
  return join(dir, fileName)
}

/**
 * Reads and validates the devnet file; `undefined` when there is none.
 *
 * @throws {InvalidDevnetFileError} the file exists but is not a version-1 devnet file.
 */
export async function read(dir: string): Promise<DevnetFile | undefined> {
  let text: string
  try {
    text = await readFile(path(dir), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new InvalidDevnetFileError({ path: path(dir), reason: 'not JSON' })
  }
  const f = value as Partial<DevnetFile>
  const missing = (['pid', 'rpcUrl', 'chainId', 'contracts', 'hostUrl', 'rootCa', 'collateralUrl'] as const).filter(
    (k) => f[k] === undefined,
  )
  if (f.version !== 1) throw new InvalidDevnetFileError({ path: path(dir), reason: `unsupported version ${String(f.version)}` })
  if (missing.length > 0) throw new InvalidDevnetFileError({ path: path(dir), reason: `missing ${missing.join(', ')}` })
  return f as DevnetFile
}

/** Writes the devnet file atomically (temp file + rename), mode 0644: it holds no secret. */
export async function write(dir: string, file: DevnetFile): Promise<void> {
  await mkdir(dir, { recursive: true })
  const tmp = `${path(dir)}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o644 })
  await rename(tmp, path(dir))
}

/** `devnet.json` exists but cannot be used. */
export class InvalidDevnetFileError extends BaseError {
  override name = 'DevnetFile.InvalidDevnetFileError'
  constructor({ path, reason }: { path: string; reason: string }) {
    super(`${path} is not a valid devnet file: ${reason}.`, { metaMessages: ['Run `regent dev up --fresh` to start a new devnet.'] })
  }
}
