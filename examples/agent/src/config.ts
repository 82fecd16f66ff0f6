/**
 * The agent's configuration. Two kinds of settings (docs/sdk.md "Measured settings"):
 *
 * - **Security settings** — the operator who administers it, the chain and contracts it answers to, the roots of
 *   trust it accepts besides Intel's. In a CVM they come from the measured compose (`x-regent`, read through the
 *   guest agent), never from the environment: the host sets the environment, and the agent refuses to boot when one of
 *   them is there. In the wild the operator is also the host, and they come from the environment.
 * - **Host settings** whose change cannot hurt the agent: its port and public URL, the chain RPC (checked against the
 *   measured chain id), where quote collateral is fetched (it is signed), its data directory, the devnet faucet.
 */
import { join } from 'node:path'
import { MeasuredSettings } from '@regent-tee/sdk'

/** Host settings (from the environment). */
export type Config = {
  name: string
  port: number
  /** Where clients reach this instance (its public endpoint). */
  publicUrl: string
  rpcUrl: string
  /** Devnet only: asks for gas when the wallet is empty. */
  faucetUrl: string | undefined
  dataDir: string
  /** `cvm`: keys and settings from the guest agent (dstack). `wild`: a plain server, its key in an encrypted keystore. */
  runtime: 'cvm' | 'wild'
  /** `target`: a fresh CVM waiting to be handed the agent. `standby`: one waiting for the canonical to attach it. */
  role: 'agent' | 'target' | 'standby'
  /** Failover: how long after the lease expired this standby waits before it claims (orders claimants; 0 by default). */
  claimDelayMs: number
  /** Wild only: the keystore password (REGENT_KEYSTORE_PASSWORD). */
  keystorePassword: string | undefined
  /** Wild only: the RegentAppAuth app the agent enrolls under (REGENT_APP_ID). */
  appId: `0x${string}` | undefined
  /** Where quote collateral is fetched (QuoteCollateralV3 JSON; signed, so any source will do). */
  collateralUrl: string | undefined
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
  const runtime = env.REGENT_RUNTIME ?? 'cvm'
  if (runtime !== 'cvm' && runtime !== 'wild') throw new Error('REGENT_RUNTIME must be "cvm" or "wild"')
  const role = env.REGENT_UPLIFT_ROLE === 'target' ? 'target' : env.REGENT_UPLIFT_ROLE === 'standby' ? 'standby' : 'agent'
  const claimDelayMs = Number(env.REGENT_FAILOVER_CLAIM_DELAY_MS ?? 0)
  if (!Number.isInteger(claimDelayMs) || claimDelayMs < 0 || claimDelayMs > 600_000)
    throw new Error('REGENT_FAILOVER_CLAIM_DELAY_MS must be whole milliseconds, 0–600000')
  const appId = env.REGENT_APP_ID || undefined
  if (appId !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(appId)) throw new Error('REGENT_APP_ID must be a 20-byte 0x hex app id')
  if (runtime === 'wild') {
    need('REGENT_KEYSTORE_PASSWORD')
    need('REGENT_APP_ID')
  } else MeasuredSettings.assertNoSecurityEnvironment(env)
  return {
    name: env.REGENT_AGENT_NAME ?? 'regent-example-agent',
    port,
    publicUrl: env.REGENT_PUBLIC_URL ?? `http://127.0.0.1:${port}`,
    rpcUrl: need('REGENT_RPC_URL'),
    faucetUrl: env.REGENT_FAUCET_URL || undefined,
    dataDir: env.REGENT_DATA_DIR ?? join(process.cwd(), '.agent-data'),
    runtime,
    role,
    keystorePassword: env.REGENT_KEYSTORE_PASSWORD || undefined,
    appId: appId?.toLowerCase() as `0x${string}` | undefined,
    collateralUrl: env.REGENT_COLLATERAL_URL || undefined,
    failpoint: env.REGENT_FAILPOINT || undefined,
    claimDelayMs,
  }
}

/**
 * The security settings of an agent in the wild, from its environment (its operator runs it): REGENT_OPERATOR,
 * REGENT_CHAIN_ID, REGENT_CONTRACTS (JSON), REGENT_TRUSTED_ROOT_PEM (a root accepted besides Intel's).
 */
export function wildSettings(env: NodeJS.ProcessEnv = process.env): MeasuredSettings.Settings {
  let contracts: unknown
  try {
    contracts = JSON.parse(env.REGENT_CONTRACTS ?? '')
  } catch {
    throw new Error('REGENT_CONTRACTS must be the JSON of the deployment addresses')
  }
  return MeasuredSettings.parse({
    v: 1,
    ...(env.REGENT_OPERATOR ? { operator: env.REGENT_OPERATOR } : {}),
    chainId: Number(env.REGENT_CHAIN_ID),
    contracts,
    ...(env.REGENT_TRUSTED_ROOT_PEM ? { trustedRoots: [env.REGENT_TRUSTED_ROOT_PEM] } : {}),
  })
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
