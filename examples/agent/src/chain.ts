/** The agent's chain clients, and (devnet only) gas from the faucet when its wallet is empty. */
import {
  type Account,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import type { Config } from './config.js'

export type ChainClients = { publicClient: PublicClient<Transport, Chain>; walletClient: WalletClient<Transport, Chain, Account> }

/** Public and wallet clients on the agent's chain for `account`. */
export function connect(config: Config, account: Account): ChainClients {
  const chain = defineChain({
    id: config.chainId,
    name: 'regent',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } },
  })
  const transport = http(config.rpcUrl)
  return { publicClient: createPublicClient({ chain, transport }), walletClient: createWalletClient({ account, chain, transport }) }
}

/** Asks the devnet faucet for gas when the wallet holds nothing; resolves whether it asked. */
export async function fundIfEmpty(config: Config, client: ChainClients['publicClient'], address: `0x${string}`): Promise<boolean> {
  if (!config.faucetUrl || (await client.getBalance({ address })) !== 0n) return false
  const res = await fetch(config.faucetUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address }),
  })
  if (!res.ok) throw new Error(`faucet answered ${res.status}`)
  return true
}
