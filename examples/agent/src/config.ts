/** The agent's configuration, from its environment (set by the devnet host, by `regent deploy`, or by its operator). */
import { join } from 'node:path'
import type { RegentContracts } from '@regent-tee/sdk'
import type { Address, Hex } from 'viem'

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
  /** `cvm`: keys from the guest agent (dstack). `wild`: a plain server, its key in an encrypted keystore. */
  runtime: 'cvm' | 'wild'
  /** Wild only: the keystore password (REGENT_KEYSTORE_PASSWORD). */
  keystorePassword: string | undefined
  /** Wild only: the RegentAppAuth app the agent enrolls under (REGENT_APP_ID). */
  appId: Hex | undefined
  /** Enables `/admin/*` (bearer token, ≥ 16 characters); undefined: the admin API answers 404. */
  adminToken: string | undefined
  /** Uplift source: where the target's quote collateral is fetched (QuoteCollateralV3 JSON). */
  collateralUrl: string | undefined
  /** Uplift source: a root trusted besides Intel's (the devnet root CA, PEM). Without it only Intel hardware verifies. */
  trustedRootPem: string | undefined
  /** Test hook (docs/uplift.md "Crash safety"): the journal point at which the process SIGKILLs itself. */
  failpoint: string | undefined
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
  const runtime = env.REGENT_RUNTIME ?? 'cvm'
  if (runtime !== 'cvm' && runtime !== 'wild') throw new Error('REGENT_RUNTIME must be "cvm" or "wild"')
  const adminToken = env.REGENT_ADMIN_TOKEN || undefined
  if (adminToken !== undefined && adminToken.length < 16) throw new Error('REGENT_ADMIN_TOKEN must be at least 16 characters')
  const appId = env.REGENT_APP_ID || undefined
  if (appId !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(appId)) throw new Error('REGENT_APP_ID must be a 20-byte 0x hex app id')
  if (runtime === 'wild') {
    need('REGENT_KEYSTORE_PASSWORD')
    need('REGENT_APP_ID')
  }
  return {
    name: env.REGENT_AGENT_NAME ?? 'regent-example-agent',
    port,
    publicUrl: env.REGENT_PUBLIC_URL ?? `http://127.0.0.1:${port}`,
    rpcUrl: need('REGENT_RPC_URL'),
    chainId,
    contracts: contracts as unknown as RegentContracts,
    faucetUrl: env.REGENT_FAUCET_URL || undefined,
    dataDir: env.REGENT_DATA_DIR ?? join(process.cwd(), '.agent-data'),
    runtime,
    keystorePassword: env.REGENT_KEYSTORE_PASSWORD || undefined,
    appId: appId?.toLowerCase() as Hex | undefined,
    adminToken,
    collateralUrl: env.REGENT_COLLATERAL_URL || undefined,
    trustedRootPem: env.REGENT_TRUSTED_ROOT_PEM || undefined,
    failpoint: env.REGENT_FAILPOINT || undefined,
  }
}

/** The journal hook that kills this process (SIGKILL, no clean-up) at the configured point; undefined when none. */
export function failpointHook(config: Config): ((point: string) => void) | undefined {
  const at = config.failpoint
  if (at === undefined) return undefined
  return (point) => {
    if (point !== at) return
    process.stdout.write(`failpoint ${point}\n`)
    process.kill(process.pid, 'SIGKILL')
  }
}
