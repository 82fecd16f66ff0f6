/** The agent's chain clients, and (devnet only) gas from the faucet when its wallet is empty. */
import type { RegentContracts } from '@regent-tee/sdk/chain'
import {
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'

/** The chain the agent answers to: its id and contracts (security settings) and the RPC it reaches it through. */
export type ChainSettings = { readonly chainId: number; readonly contracts: RegentContracts; readonly rpcUrl: string }

export type ChainClients = {
  publicClient: PublicClient<Transport, Chain>
  walletFor(account: LocalAccount): WalletClient<Transport, Chain, LocalAccount>
}

/** Clients on the agent's chain (every request bounded by a timeout). */
export function connect(settings: ChainSettings): ChainClients {
  const chain = defineChain({
    id: settings.chainId,
    name: 'regent',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [settings.rpcUrl] } },
  })
  const transport = http(settings.rpcUrl, { timeout: 30_000 })
  return {
    publicClient: createPublicClient({ chain, transport }),
    walletFor: (account) => createWalletClient({ account, chain, transport }),
  }
}

/** Asks the devnet faucet for gas when the wallet holds nothing; resolves whether it asked. */
export async function fundIfEmpty(
  faucetUrl: string | undefined,
  client: ChainClients['publicClient'],
  address: `0x${string}`,
): Promise<boolean> {
  if (!faucetUrl || (await client.getBalance({ address })) !== 0n) return false
  const res = await fetch(faucetUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address }),
    signal: AbortSignal.timeout(30_000),
  })
  if (!res.ok) throw new Error(`faucet answered ${res.status}`)
  return true
}
