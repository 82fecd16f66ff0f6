/**
 * Where the agent runs and where its keys come from (docs/uplift.md "Agents in the wild"):
 *   cvm   inside a TEE: the wallet and the sealing key are derived by the guest agent from the KMS (dstack GetKey);
 *         the instance facts come from the guest agent's Info and a boot quote.
 *   wild  a plain server: the wallet key lives in a Web3 Secret Storage v3 keystore in the data directory
 *         (created on first boot, never written unencrypted); the sealing key is HKDF-derived from it; the
 *         enrolled compose hash is that of `wild-compose.json` and there is no quote.
 */
import { createHash, hkdfSync } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  createTeeClient,
  type DerivedKey,
  deriveSealingKey,
  deriveWallet,
  getQuote,
  info,
  PrivateKey,
  quoteId,
  readKeystore,
  type TeeClient,
  fromEnv as teeFromEnv,
  toAccount,
  writeKeystore,
} from '@regent-tee/sdk'
import { getAddress, type Hex, keccak256, type LocalAccount, toBytes } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { Config } from './config.js'

export type Runtime = {
  readonly kind: 'cvm' | 'wild'
  /** The guest agent (cvm only). */
  readonly tee: TeeClient | undefined
  /** This instance's own wallet key as derived by the KMS (cvm only; carries the KMS provenance). */
  readonly wallet: DerivedKey | undefined
  readonly account: LocalAccount
  /** The wallet's private key, for an option-A uplift (import). The caller wipes it. */
  privateKey(): Promise<PrivateKey>
  /** Seals the agent's state and its uplift journal. */
  readonly sealingKey: PrivateKey
  /** The RegentAppAuth app this instance belongs to. */
  readonly appId: Hex
  /** This instance's id (dstack's, from Info; in the wild derived from its address): what a failover lease names. */
  readonly instanceId: Hex
  /** What RegentSuccession records for this instance when it enrolls (a CVM takes its boot quote here, once). */
  enrollment(): Promise<{ readonly composeHash: Hex; readonly instanceId: Hex; readonly quoteHash: Hex }>
}

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}` as Hex
/** HKDF info of a wild agent's sealing key. Permanent. */
const wildSealingInfo = 'regent-example/wild-sealing/v1'
const wildCompose = new URL('../wild-compose.json', import.meta.url)

/** Opens the runtime the configuration names. */
export function openRuntime(config: Config): Promise<Runtime> {
  return config.runtime === 'wild' ? openWild(config) : openCvm()
}

async function openCvm(): Promise<Runtime> {
  const tee = createTeeClient({ transport: teeFromEnv() })
  const app = await info(tee)
  const wallet = await deriveWallet(tee)
  let quoteHash: Hex | undefined
  return {
    kind: 'cvm',
    tee,
    wallet,
    account: toAccount(wallet),
    privateKey: async () => new PrivateKey(wallet.privateKey.use((b) => new Uint8Array(b))),
    sealingKey: await deriveSealingKey(tee),
    appId: hex(app.appId),
    instanceId: hex(app.instanceId),
    async enrollment() {
      quoteHash ??= quoteId((await getQuote(tee, { reportData: new Uint8Array(64) })).quote)
      return { composeHash: hex(app.composeHash), instanceId: hex(app.instanceId), quoteHash }
    },
  }
}

async function openWild(config: Config): Promise<Runtime> {
  const path = join(config.dataDir, 'keystore.json')
  const password = config.keystorePassword as string
  if (!existsSync(path)) {
    const fresh = new PrivateKey(toBytes(generatePrivateKey()))
    await writeKeystore(path, fresh, password)
    fresh.wipe()
  }
  const key = await readKeystore(path, password)
  const account = key.use((b) => privateKeyToAccount(hex(b)))
  const sealingKey = key.use((ikm) => new PrivateKey(new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), wildSealingInfo, 32))))
  const composeHash = `0x${createHash('sha256')
    .update(await readFile(wildCompose))
    .digest('hex')}` as Hex
  const instanceId = getAddress(`0x${keccak256(toBytes(`wild:${account.address}`)).slice(26)}`)
  return {
    kind: 'wild',
    tee: undefined,
    wallet: undefined,
    account,
    privateKey: () => readKeystore(path, password),
    sealingKey,
    appId: config.appId as Hex,
    instanceId,
    enrollment: async () => ({
      composeHash,
      instanceId,
      quoteHash: keccak256(toBytes(`no quote: ${account.address} runs in the wild`)),
    }),
  }
}
