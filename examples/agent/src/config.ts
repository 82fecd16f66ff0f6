/** The agent's configuration, from its environment (set by the devnet host or by `regent deploy`). */
import { join } from 'node:path'
import type { RegentContracts } from '@regent/sdk'
import type { Address } from 'viem'

export type Config = {
  name: string
  port: number
  /** Where clients reach this instance (its public endpoint). */
  publicUrl: string
  rpcUrl: string
  chainId: number
  contracts: RegentContracts
  /** Devnet only: asks for gas when the wallet is empty. */
  faucetUrl: string | undefined
  dataDir: string
}

/** Reads and checks the environment; throws with the name of the first missing or malformed variable. */
export function fromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const need = (name: string) => {
    const v = env[name]
    if (v === undefined || v === '') throw new Error(`missing environment variable ${name}`)
    return v
  }
  const port = Number(need('PORT'))
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('PORT must be a port number')
  const chainId = Number(need('REGENT_CHAIN_ID'))
  if (!Number.isSafeInteger(chainId) || chainId < 1) throw new Error('REGENT_CHAIN_ID must be a chain id')
  let contracts: Record<string, Address>
  try {
    contracts = JSON.parse(need('REGENT_CONTRACTS')) as Record<string, Address>
  } catch {
    throw new Error('REGENT_CONTRACTS must be the JSON of the deployment addresses')
  }
  for (const k of ['identityRegistry', 'appAuth', 'succession', 'treasury'])
    if (!/^0x[0-9a-fA-F]{40}$/.test(contracts[k] ?? '')) throw new Error(`REGENT_CONTRACTS.${k} is not an address`)
  return {
    name: env.REGENT_AGENT_NAME ?? 'regent-example-agent',
    port,
    publicUrl: env.REGENT_PUBLIC_URL ?? `http://127.0.0.1:${port}`,
    rpcUrl: need('REGENT_RPC_URL'),
    chainId,
    contracts: contracts as unknown as RegentContracts,
    faucetUrl: env.REGENT_FAUCET_URL || undefined,
    dataDir: env.REGENT_DATA_DIR ?? join(process.cwd(), '.agent-data'),
  }
}
