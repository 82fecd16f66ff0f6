/**
 * Real chains (DESIGN.md §14 "Chains are configuration"; docs/config.md "networks"): the Regent contracts are deployed
 * once per chain (`regent contracts deploy --rpc-url`) and recorded in `deployments/<chainId>.json`; `regent.json`
 * names networks `{ chainId, rpcUrl, deployment, confirmations? }` and `deploy --network <name>` picks one.
 *
 * A deployment identifies its chain by the chain id, the RegentAppAuth address AND the hash of its deployment block,
 * so two chains with the same id and the same addresses (two devnets, a reset testnet fork) are never taken for
 * one another: {@link connect} refuses a deployment whose block hash the RPC does not confirm. The deployer key
 * comes from `REGENT_DEPLOYER_KEY` only (never a flag, never printed); its account carries a nonce manager, so
 * concurrent sends from it do not reuse a nonce.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, normalize } from 'node:path'
import type { RegentDeployment } from '@regent-tee/contracts'
import {
  type Account,
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  type Hex,
  http,
  isAddress,
  nonceManager,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { CliError, UsageError } from '../errors.js'

const docs = 'docs/config.md'

/** `deployments/<chainId>.json` (version 1; no secrets). */
export type Deployment = {
  version: 1
  chainId: number
  contracts: RegentDeployment['contracts']
  /** Block of the first contract's deployment: every log scan starts here. */
  deploymentBlock: string
  /** Hash of that block: with the chain id and the RegentAppAuth address, what identifies the chain. */
  deploymentBlockHash: Hex
  deployer: Address
  kmsTimelock: string
  deployedAt: string
}

/** A network of `regent.json`, resolved. */
export type Network = {
  name: string
  chainId: number
  rpcUrl: string
  /** Path of the deployment file, relative to the project. */
  deployment: string
  /** Confirmation depth of every transaction sent on it. @default 1 */
  confirmations: number
}

/** A chain connection with the deployment verified against it. */
export type Connected = {
  chain: Chain
  publicClient: PublicClient<Transport, Chain>
  deployment: Deployment
  network: Network
}

export const deploymentPath = (dir: string, chainId: number) => join(dir, 'deployments', `${chainId}.json`)

/**
 * Reads `regent.json` "networks" (the rest of the file is Config.ts's).
 *
 * @throws {UsageError} `config.invalid` naming the field.
 */
export async function networks(dir: string): Promise<Record<string, Network>> {
  const text = await readFile(join(dir, 'regent.json'), 'utf8').catch(() => undefined)
  if (text === undefined) return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return {}
  }
  const raw = (value as { networks?: unknown }).networks
  if (raw === undefined) return {}
  const invalid = (field: string, message: string) =>
    new UsageError('config.invalid', `invalid regent.json: "${field}" ${message}`, { docs })
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('networks', 'must be an object of named networks')
  const out: Record<string, Network> = {}
  for (const [name, n] of Object.entries(raw as Record<string, unknown>)) {
    const f = `networks.${name}`
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) throw invalid(f, 'must be named with lowercase letters, digits and dashes')
    if (typeof n !== 'object' || n === null || Array.isArray(n)) throw invalid(f, 'must be an object')
    const o = n as Record<string, unknown>
    if (typeof o.chainId !== 'number' || !Number.isSafeInteger(o.chainId) || o.chainId < 1)
      throw invalid(`${f}.chainId`, 'must be a chain id')
    if (typeof o.rpcUrl !== 'string' || !/^https?:\/\/\S+$/.test(o.rpcUrl)) throw invalid(`${f}.rpcUrl`, 'must be an http(s) URL')
    const deployment = o.deployment ?? `deployments/${o.chainId}.json`
    if (typeof deployment !== 'string' || isAbsolute(deployment) || normalize(deployment).startsWith('..'))
      throw invalid(`${f}.deployment`, 'must be a path inside the project')
    const confirmations = o.confirmations ?? 1
    if (typeof confirmations !== 'number' || !Number.isSafeInteger(confirmations) || confirmations < 1 || confirmations > 64)
      throw invalid(`${f}.confirmations`, 'must be a whole number from 1 to 64')
    out[name] = { name, chainId: o.chainId, rpcUrl: o.rpcUrl, deployment, confirmations }
  }
  return out
}

/** The named network, or a usage error listing the known ones. */
export async function network(dir: string, name: string): Promise<Network> {
  const all = await networks(dir)
  const n = all[name]
  if (!n)
    throw new UsageError('network.unknown', `no network "${name}" in regent.json "networks"`, {
      hint: Object.keys(all).length
        ? `known: ${Object.keys(all).join(', ')}`
        : 'add one: { "networks": { "<name>": { "chainId", "rpcUrl" } } }',
      docs,
    })
  return n
}

/** A viem chain for an RPC URL whose chain id is known. */
export function chainOf(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: `chain-${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  })
}

/** A public client with a bounded request time (public RPCs can hang). */
export function publicClientOf(chain: Chain, rpcUrl: string): PublicClient<Transport, Chain> {
  return createPublicClient({ chain, transport: http(rpcUrl, { timeout: 30_000, retryCount: 2 }) })
}

/**
 * The deployer from `REGENT_DEPLOYER_KEY` (0x + 64 hex), with a nonce manager.
 *
 * @throws {UsageError} `deployer.missing` / `deployer.invalid` (the key is never echoed).
 */
export function deployer(chain: Chain, rpcUrl: string, env: NodeJS.ProcessEnv = process.env): WalletClient<Transport, Chain, Account> {
  const key = env.REGENT_DEPLOYER_KEY
  if (!key)
    throw new UsageError('deployer.missing', 'REGENT_DEPLOYER_KEY is not set: the deployer key comes from the environment only', {
      hint: 'export REGENT_DEPLOYER_KEY=0x… (a funded key on this chain); it is never a flag so that it stays out of shell history and ps',
      docs: 'docs/targets/dstack.md',
    })
  if (!/^0x[0-9a-fA-F]{64}$/.test(key))
    throw new UsageError('deployer.invalid', 'REGENT_DEPLOYER_KEY must be 0x followed by 64 hex digits', { docs: 'docs/targets/dstack.md' })
  const account = privateKeyToAccount(key as Hex, { nonceManager })
  return createWalletClient({ account, chain, transport: http(rpcUrl, { timeout: 30_000, retryCount: 2 }) })
}

/** Reads a deployment file. @throws {UsageError} `deployment.missing` / `deployment.invalid`. */
export async function readDeployment(file: string): Promise<Deployment> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UsageError('deployment.missing', `no deployment file ${file}`, {
      hint: 'deploy the Regent contracts to this chain first: `regent contracts deploy --rpc-url <url>`',
      docs: 'docs/targets/dstack.md',
    })
  })
  let d: Partial<Deployment>
  try {
    d = JSON.parse(text) as Partial<Deployment>
  } catch {
    throw new UsageError('deployment.invalid', `${file} is not JSON`, { docs })
  }
  const addresses = ['identityRegistry', 'reputationRegistry', 'validationRegistry', 'appAuth', 'succession', 'treasury'] as const
  if (
    d.version !== 1 ||
    typeof d.chainId !== 'number' ||
    typeof d.contracts !== 'object' ||
    d.contracts === null ||
    addresses.some((k) => !isAddress((d.contracts as Record<string, string>)[k] ?? '', { strict: false })) ||
    typeof d.deploymentBlock !== 'string' ||
    !/^\d+$/.test(d.deploymentBlock) ||
    typeof d.deploymentBlockHash !== 'string' ||
    !/^0x[0-9a-f]{64}$/.test(d.deploymentBlockHash)
  )
    throw new UsageError(
      'deployment.invalid',
      `${file} is not a version-1 deployment file (chainId, contracts, deploymentBlock, deploymentBlockHash)`,
      { docs },
    )
  return d as Deployment
}

/** Writes a deployment file atomically. */
export async function writeDeployment(file: string, deployment: Deployment): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(deployment, null, 2)}\n`)
  await rename(tmp, file)
}

/**
 * Checks that `deployment` lives on the chain behind `client`: same chain id, the deployment block's hash is the one
 * recorded, and RegentAppAuth has code.
 *
 * @throws {CliError} `chain.mismatch` naming what differs.
 */
export async function verifyDeployment(client: PublicClient, deployment: Deployment, rpcLabel: string): Promise<void> {
  const chainId = await client.getChainId()
  if (chainId !== deployment.chainId)
    throw new CliError('chain.mismatch', `${rpcLabel} is chain ${chainId}, the deployment is for chain ${deployment.chainId}`, { docs })
  const block = await client.getBlock({ blockNumber: BigInt(deployment.deploymentBlock) }).catch(() => undefined)
  if (!block || block.hash !== deployment.deploymentBlockHash)
    throw new CliError(
      'chain.mismatch',
      `chain ${chainId} at ${rpcLabel} is not the chain the deployment was made on: block ${deployment.deploymentBlock} is ${block?.hash ?? 'absent'}, recorded ${deployment.deploymentBlockHash}`,
      {
        hint: 'another chain with the same id (a fresh devnet or fork)? deploy the contracts to it: `regent contracts deploy --rpc-url <url>`',
        docs,
      },
    )
  const code = await client.getCode({ address: deployment.contracts.appAuth })
  if (!code || code === '0x')
    throw new CliError('chain.mismatch', `no RegentAppAuth at ${deployment.contracts.appAuth} on chain ${chainId}`, { docs })
}

/**
 * Connects to a named network and verifies its deployment against the chain.
 *
 * @throws {UsageError} unknown network or deployment file; {CliError} `chain.mismatch`, `chain.unreachable`.
 */
export async function connect(dir: string, name: string): Promise<Connected> {
  const n = await network(dir, name)
  const deployment = await readDeployment(join(dir, n.deployment))
  if (deployment.chainId !== n.chainId)
    throw new UsageError(
      'config.invalid',
      `regent.json network "${name}" is chain ${n.chainId} but ${n.deployment} is for chain ${deployment.chainId}`,
      { docs },
    )
  const chain = chainOf(n.chainId, n.rpcUrl)
  const publicClient = publicClientOf(chain, n.rpcUrl)
  await verifyDeployment(publicClient, deployment, new URL(n.rpcUrl).origin).catch((error: unknown) => {
    if (error instanceof CliError) throw error
    throw new CliError('chain.unreachable', `the RPC of network "${name}" (${new URL(n.rpcUrl).origin}) did not answer`, {
      docs,
      cause: error,
    })
  })
  return { chain, publicClient, deployment, network: n }
}

/** The address list in the form the SDK and the agent take (`REGENT_CONTRACTS`). */
export function contractsOf(deployment: Deployment): Record<string, Address> {
  return Object.fromEntries(Object.entries(deployment.contracts).map(([k, v]) => [k, getAddress(v)]))
}
