/**
 * `regent contracts deploy --rpc-url <url>` (docs/targets/dstack.md "The chain"): deploys the Regent contracts to any
 * EVM chain once and records them in `<project>/deployments/<chainId>.json` (addresses, deployment block and its hash,
 * deployer, kmsTimelock). The deployer key comes from `REGENT_DEPLOYER_KEY` only. Idempotent: when the file exists and
 * the chain confirms it (same id, same block hash, code at RegentAppAuth), nothing is sent; when the file names
 * another chain with this id (a fresh devnet, a reset fork), it refuses unless `--replace`.
 */
import { join, relative, resolve } from 'node:path'
import { deployRegent } from '@regent-tee/contracts'
import type { CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import * as Network from '../project/Network.js'

const docs = 'docs/targets/dstack.md'

export type ContractsDeployOutput = {
  chainId: number
  rpc: string
  file: string
  deployed: boolean
  contracts: Record<string, string>
  deploymentBlock: string
  deploymentBlockHash: string
  deployer: string
}

export async function run(input: CommandInput): Promise<CommandResult<ContractsDeployOutput>> {
  const dir = resolve(typeof input.flags.dir === 'string' ? input.flags.dir : '.')
  const rpcUrl = input.flags.rpcUrl
  if (typeof rpcUrl !== 'string' || !/^https?:\/\/\S+$/.test(rpcUrl))
    throw new UsageError('usage', '--rpc-url <http(s) URL of the chain> is required', { docs })
  const kmsTimelockFlag = input.flags.kmsTimelock ?? '86400'
  if (typeof kmsTimelockFlag !== 'string' || !/^\d{1,8}$/.test(kmsTimelockFlag) || Number(kmsTimelockFlag) > 365 * 86_400)
    throw new UsageError('usage', '--kms-timelock takes seconds (at most one year)', { docs })
  const confirmationsFlag = input.flags.confirmations ?? '1'
  if (typeof confirmationsFlag !== 'string' || !/^\d{1,2}$/.test(confirmationsFlag) || Number(confirmationsFlag) < 1)
    throw new UsageError('usage', '--confirmations takes a whole number from 1 to 99', { docs })
  const origin = new URL(rpcUrl).origin
  const probe = Network.publicClientOf(Network.chainOf(1, rpcUrl), rpcUrl)
  const chainId = await probe.getChainId().catch((cause: unknown) => {
    throw new CliError('chain.unreachable', `the RPC at ${origin} did not answer eth_chainId`, { docs, cause })
  })
  const chain = Network.chainOf(chainId, rpcUrl)
  const client = Network.publicClientOf(chain, rpcUrl)
  const file = Network.deploymentPath(dir, chainId)
  const shown = relative(process.cwd(), file).startsWith('..') ? file : relative(process.cwd(), file)
  const existing = await Network.readDeployment(file).catch((error: unknown) => {
    if (error instanceof UsageError && error.code === 'deployment.missing') return undefined
    throw error
  })
  if (existing) {
    const verified = await Network.verifyDeployment(client, existing, origin).then(
      () => true,
      (error: unknown) => {
        if (error instanceof CliError && error.code === 'chain.mismatch' && input.flags.replace === true) return false
        throw error
      },
    )
    if (verified)
      return {
        ok: true,
        data: {
          chainId,
          rpc: origin,
          file: shown,
          deployed: false,
          contracts: existing.contracts,
          deploymentBlock: existing.deploymentBlock,
          deploymentBlockHash: existing.deploymentBlockHash,
          deployer: existing.deployer,
        },
      }
  }
  const wallet = Network.deployer(chain, rpcUrl)
  input.note(`deploying the Regent contracts to chain ${chainId} at ${origin} from ${wallet.account.address} …`)
  const before = await client.getBlockNumber()
  const result = await deployRegent(wallet, client, { kmsTimelock: BigInt(kmsTimelockFlag) })
  const deploymentBlock = before + 1n
  // Wait for the confirmation depth on top of the last deployment before recording the block hash.
  const target = (await client.getBlockNumber()) + BigInt(confirmationsFlag) - 1n
  while ((await client.getBlockNumber()) < target) await new Promise((r) => setTimeout(r, 1_000))
  const block = await client.getBlock({ blockNumber: deploymentBlock })
  const deployment: Network.Deployment = {
    version: 1,
    chainId,
    contracts: result.contracts,
    deploymentBlock: String(deploymentBlock),
    deploymentBlockHash: block.hash,
    deployer: wallet.account.address,
    kmsTimelock: kmsTimelockFlag,
    deployedAt: new Date().toISOString(),
  }
  await Network.writeDeployment(file, deployment)
  return {
    ok: true,
    data: {
      chainId,
      rpc: origin,
      file: shown,
      deployed: true,
      contracts: result.contracts,
      deploymentBlock: deployment.deploymentBlock,
      deploymentBlockHash: block.hash,
      deployer: wallet.account.address,
    },
  }
}

export function render(result: CommandResult): string {
  const d = result.data as ContractsDeployOutput
  return [
    d.deployed
      ? `✓ Regent contracts deployed to chain ${d.chainId} (${d.rpc})`
      : `✓ Regent contracts already deployed on chain ${d.chainId} (${d.rpc}); nothing sent`,
    ...Object.entries(d.contracts).map(([k, v]) => `  ${k.padEnd(19)} ${v}`),
    `  deployment block   ${d.deploymentBlock} (${d.deploymentBlockHash})`,
    `  deployer           ${d.deployer}`,
    `  recorded in ${d.file}`,
    '',
    `  add it to regent.json: "networks": { "<name>": { "chainId": ${d.chainId}, "rpcUrl": "<url>", "deployment": "${join('deployments', `${d.chainId}.json`)}" } }`,
  ].join('\n')
}
