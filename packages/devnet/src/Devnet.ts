/**
 * The embedded devnet in one process (DESIGN.md §3, §5): a real anvil with every Regent contract,
 * the key provider, and the simulated TDX host with its HTTP API. `regent dev up` runs this inside a
 * detached supervisor (supervisor.ts); tests may run it in-process.
 */
import { mkdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { type Anvil, deployRegent, identityRegistryAbi, startAnvil } from '@regent/contracts'
import { createPublicClient, createWalletClient, defineChain, http } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { createLocalKeyProvider } from './cvm/KeyProvider.js'
import * as DevnetFile from './DevnetFile.js'
import { createHost, type Host, wipe } from './host/Host.js'
import { type HostServer, startHostServer } from './host/HostServer.js'
import * as DevnetPki from './tdx/DevnetPki.js'

/** Options of {@link startDevnet}. */
export type StartDevnetOptions = {
  /** State directory (default `.regent`). */
  dir?: string
  /** Wipe chain state and CVMs of a previous run first. */
  fresh?: boolean
  /** Chain id of the devnet chain (default 31337). */
  chainId?: number
}

/** A running devnet. */
export type Devnet = {
  file: DevnetFile.DevnetFile
  host: Host
  anvil: Anvil
  server: HostServer
  /** Milliseconds spent in each start-up phase. */
  timings: Record<'anvil' | 'contracts' | 'host', number>
  stop(): Promise<void>
}

/** anvil's first public test account deploys the devnet contracts (a public key on a local chain). */
const deployerMnemonic = 'test test test test test test test test test test test junk'

/**
 * Starts anvil (state persisted in `<dir>/anvil-state.json`), deploys the contracts (or reuses a
 * previous deployment whose code is still on the chain), starts the host, writes `<dir>/devnet.json`.
 */
export async function startDevnet(options: StartDevnetOptions = {}): Promise<Devnet> {
  const dir = resolve(options.dir ?? '.regent') // CVMs run elsewhere: every path we hand out is absolute
  await mkdir(dir, { recursive: true })
  const previous = options.fresh ? undefined : await DevnetFile.read(dir).catch(() => undefined)
  if (options.fresh) {
    await rm(join(dir, 'anvil-state.json'), { force: true })
    await rm(DevnetFile.path(dir), { force: true })
    await wipe(dir)
  }

  const t0 = performance.now()
  const anvil = await startAnvil({ chainId: options.chainId ?? 31337, statePath: join(dir, 'anvil-state.json') })
  const t1 = performance.now()
  try {
    const chain = defineChain({
      id: anvil.chainId,
      name: 'regent-devnet',
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [anvil.rpcUrl] } },
    })
    const transport = http(anvil.rpcUrl)
    const client = createPublicClient({ chain, transport })
    const wallet = createWalletClient({ chain, transport, account: mnemonicToAccount(deployerMnemonic) })
    let contracts = previous?.chainId === anvil.chainId ? previous.contracts : undefined
    if (contracts) {
      const alive = await client
        .readContract({ address: contracts.identityRegistry, abi: identityRegistryAbi, functionName: 'getVersion' })
        .then(
          () => true,
          () => false,
        )
      if (!alive) contracts = undefined
    }
    contracts ??= (await deployRegent(wallet, client)).contracts
    const t2 = performance.now()

    const pki = DevnetPki.create()
    const keyProvider = createLocalKeyProvider({ pki })
    let hostUrl = ''
    const host = createHost({ dir, rpcUrl: anvil.rpcUrl, keyProvider, pki, hostUrl: () => hostUrl })
    const server = await startHostServer(host, { info: () => ({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, contracts }) })
    hostUrl = server.url
    const t3 = performance.now()

    const file: DevnetFile.DevnetFile = {
      version: 1,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      contracts,
      kmsUrls: [],
      keyProvider: { name: keyProvider.info.name, id: Buffer.from(keyProvider.info.id).toString('hex') },
      hostUrl: server.url,
      rootCa: host.pki.root.certificate.pem,
      collateralUrl: `${server.url}/v1/collateral`,
    }
    await DevnetFile.write(dir, file)
    let stopping: Promise<void> | undefined
    return {
      file,
      host,
      anvil,
      server,
      timings: { anvil: t1 - t0, contracts: t2 - t1, host: t3 - t2 },
      stop() {
        stopping ??= (async () => {
          await host.close()
          await server.close()
          await anvil.stop()
        })()
        return stopping
      },
    }
  } catch (error) {
    await anvil.stop()
    throw error
  }
}
