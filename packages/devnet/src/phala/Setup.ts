/**
 * The devnet's hook for the Phala Cloud stand-in (docs/targets/phala.md "The stand-in", docs/devnet.md): dstack's
 * DstackKms on the devnet chain (deployed once, reused while its code is on the chain; the devnet OS image allowed;
 * `kmsInfo` = the devnet KMS root), the central KMS, and the API server. `startDevnet` calls {@link ensureDstackKms}
 * before its KMS nodes start (they consult DstackKms) and {@link startPhala} once they run.
 */
import { randomBytes } from 'node:crypto'
import { deployDstackKms, dstackKmsAbi } from '@regent-tee/contracts'
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import type { Host } from '../host/Host.js'
import type { DevnetPki } from '../tdx/DevnetPki.js'
import * as DevnetTd from '../tdx/DevnetTd.js'
import { createCentralKms } from './CentralKms.js'
import { createPhalaCloud, type PhalaCloud } from './PhalaCloud.js'
import { type PhalaServer, startPhalaServer } from './PhalaServer.js'

type Wallet = WalletClient<Transport, Chain, Account>

/** DstackKms on the devnet chain: `previous` when its code is still there, else a fresh deployment (owner: governance). */
export async function ensureDstackKms(options: {
  client: PublicClient
  governance: Wallet
  previous?: Address | undefined
}): Promise<Address> {
  const { client, governance } = options
  if (options.previous && (await client.getCode({ address: options.previous }))) return options.previous
  const { kms } = await deployDstackKms(governance, client)
  const image = `0x${Buffer.from(DevnetTd.osImageHash(DevnetTd.defaultImage)).toString('hex')}` as Hex
  await send(client, governance.writeContract({ address: kms, abi: dstackKmsAbi, functionName: 'addOsImageHash', args: [image] }))
  return kms
}

/** The running stand-in. */
export type Phala = { cloud: PhalaCloud; server: PhalaServer; close(): Promise<void> }

/**
 * Records the devnet KMS node as DstackKms's KMS (`setKmsInfo`, k256 root) and starts the cloud and its API.
 */
export async function startPhala(options: {
  dir: string
  host: Host
  seed: Uint8Array
  pki: DevnetPki
  client: PublicClient
  chainId: number
  rpcUrl: string
  governance: Wallet
  dstackKms: Address
  /** The devnet KMS node serving the on-chain KMS (absent with `--kms-nodes 0`: no on-chain mode). */
  kmsNode?: { url: string; k256PublicKey: string } | undefined
}): Promise<Phala> {
  const { client, governance, dstackKms } = options
  const node = options.kmsNode
  if (node) {
    const [current] = await client.readContract({ address: dstackKms, abi: dstackKmsAbi, functionName: 'kmsInfo' })
    if (current.toLowerCase() !== `0x${node.k256PublicKey}`)
      await send(
        client,
        governance.writeContract({
          address: dstackKms,
          abi: dstackKmsAbi,
          functionName: 'setKmsInfo',
          args: [{ k256Pubkey: `0x${node.k256PublicKey}`, caPubkey: '0x', quote: '0x', eventlog: '0x' }],
        }),
      )
  }
  let baseUrl = ''
  const central = createCentralKms({
    seed: options.seed,
    pki: options.pki,
    allowed: (appId, hash) => cloud.app(appId)?.composeHashes.has(hash) ?? false,
  })
  const cloud = createPhalaCloud({
    host: options.host,
    dir: options.dir,
    central,
    chain: { client, chainId: options.chainId, rpcUrl: options.rpcUrl },
    onchain: node
      ? {
          dstackKms,
          k256PublicKey: new Uint8Array(Buffer.from(node.k256PublicKey, 'hex')),
          async envPublicKey(appId) {
            // dstack's GetAppEnvEncryptPubKey as the KMS node serves it (public; the root's legacy signature).
            const res = await fetch(`${node.url}/v1/app-env-key?app_id=${appId}`, { signal: AbortSignal.timeout(10_000) })
            if (!res.ok) throw new Error(`the KMS node answered HTTP ${res.status} for the env key of ${appId}`)
            const body = (await res.json()) as { public_key: string; signature: string }
            return {
              publicKey: new Uint8Array(Buffer.from(body.public_key.replace(/^0x/, ''), 'hex')),
              signature: new Uint8Array(Buffer.from(body.signature.replace(/^0x/, ''), 'hex')),
            }
          },
        }
      : undefined,
    baseUrl: () => baseUrl,
  })
  const server = await startPhalaServer(cloud, { apiKey: `phak_devnet_${randomBytes(24).toString('hex')}` })
  baseUrl = server.url
  return {
    cloud,
    server,
    async close() {
      await server.close()
      await cloud.close()
    },
  }
}

async function send(client: PublicClient, hash: Promise<Hex>): Promise<void> {
  const receipt = await client.waitForTransactionReceipt({ hash: await hash })
  if (receipt.status !== 'success') throw new Error(`transaction ${receipt.transactionHash} reverted`)
}
