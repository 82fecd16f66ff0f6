/**
 * The on-chain test harness: one real anvil per test worker (random loopback port), viem clients on
 * it, anvil's public test accounts, and a per-test EVM snapshot so that every test starts from the
 * same chain state. Use `chainTest` instead of vitest's `test` in files that need a chain.
 */

import { type Anvil, anvilMnemonic, startAnvil } from '@regent-tee/contracts'
import {
  type Account,
  type Chain,
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  type PublicClient,
  type TestClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { test as base } from 'vitest'

export type Chain_ = {
  anvil: Anvil
  chain: Chain
  client: PublicClient<Transport, Chain>
  testClient: TestClient<'anvil', Transport, Chain>
  /** Wallet clients for anvil's first ten accounts; [0] is the deployer. */
  wallets: WalletClient<Transport, Chain, Account>[]
}

/** anvil's deterministic test accounts (public keys of a public test mnemonic; never real funds). */
export const testAccounts = Array.from({ length: 10 }, (_, i) => mnemonicToAccount(anvilMnemonic, { addressIndex: i }))

async function connect(anvil: Anvil): Promise<Chain_> {
  const chain = defineChain({
    id: anvil.chainId,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [anvil.rpcUrl] } },
  })
  const transport = http(anvil.rpcUrl)
  return {
    anvil,
    chain,
    client: createPublicClient({ chain, transport }),
    testClient: createTestClient({ chain, transport, mode: 'anvil' }),
    wallets: testAccounts.map((account) => createWalletClient({ account, chain, transport })),
  }
}

/**
 * vitest `test` with a worker-scoped anvil (`worker`) and a test-scoped `chain` that reverts every
 * change the test made when it ends.
 */
export const chainTest = base.extend<{ $test: { chain: Chain_ }; $worker: { worker: Chain_ } }>({
  worker: [
    // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take their dependencies by destructuring
    async ({}, use) => {
      const anvil = await startAnvil()
      try {
        await use(await connect(anvil))
      } finally {
        await anvil.stop()
      }
    },
    { scope: 'worker' },
  ],
  chain: async ({ worker }, use) => {
    const id: Hex = await worker.testClient.snapshot()
    try {
      await use(worker)
    } finally {
      await worker.testClient.revert({ id })
    }
  },
})
