/**
 * Registering the app and approving its measurement in RegentAppAuth (docs/contracts.md, docs/cli/deploy.md
 * "Contracts"): app id = computeAppId(owner, keccak256(project name)); the compose hash, the OS image and the
 * KMS root are added and take effect after the app's timelock. On the devnet the owner is anvil's public
 * developer account (index 1); a real chain takes the owner's key from REGENT_DEPLOYER_KEY (never a flag).
 */
import { regentAppAuthAbi } from '@regent/contracts'
import {
  type Account,
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  keccak256,
  numberToHex,
  type PublicClient,
  stringToBytes,
  type Transport,
  type WalletClient,
} from 'viem'
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { CliError } from '../errors.js'

const docs = 'docs/cli/deploy.md'
const anvilMnemonic = 'test test test test test test test test test test test junk'

export type Clients = { publicClient: PublicClient<Transport, Chain>; wallet: WalletClient<Transport, Chain, Account> }

/** viem clients for the devnet chain; the owner key from REGENT_DEPLOYER_KEY, else anvil's developer account. */
export function clients({ rpcUrl, chainId }: { rpcUrl: string; chainId: number }): Clients {
  const chain = defineChain({
    id: chainId,
    name: 'regent-devnet',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  })
  const key = process.env.REGENT_DEPLOYER_KEY
  if (key !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(key))
    throw new CliError('config.deployer_key', 'REGENT_DEPLOYER_KEY is not a 0x-prefixed 32-byte hex private key', { docs, exitCode: 2 })
  const account = key ? privateKeyToAccount(key as Hex) : mnemonicToAccount(anvilMnemonic, { addressIndex: 1 })
  const transport = http(rpcUrl)
  return {
    publicClient: createPublicClient({ chain, transport }) as PublicClient<Transport, Chain>,
    wallet: createWalletClient({ account, chain, transport }),
  }
}

export type Approval = {
  appId: Address
  owner: Address
  /** true when this run registered the app. */
  registered: boolean
  timelock: number
  /** What this run added (the rest was already listed). */
  added: ('composeHash' | 'osImage' | 'kmsRoot')[]
  /** Unix seconds at which everything needed is active (≤ chain time once approved). */
  activatesAt: number
  /** Seconds the chain clock was advanced (`--wait-timelock`), 0 otherwise. */
  advanced: number
}

/**
 * Registers the app (salt = keccak256(name)) and approves compose hash, OS image and KMS root.
 *
 * @throws {CliError} `timelock.pending` when an approval is not active yet and `waitTimelock` is false;
 *   `chain.reverted` when a transaction reverts (e.g. the app id belongs to another owner).
 */
export async function approve(
  { publicClient, wallet }: Clients,
  params: {
    appAuth: Address
    name: string
    composeHash: Hex
    osImageHash: Hex
    kmsRoot: Address | undefined
    timelock: number
    /** Set the timelock of an existing app to `timelock` (an explicit --timelock). */
    setTimelock: boolean
    waitTimelock: boolean
  },
): Promise<Approval> {
  const { appAuth } = params
  const owner = wallet.account.address
  const salt = keccak256(stringToBytes(params.name))
  const read = <T>(functionName: string, args: readonly unknown[]) =>
    publicClient.readContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args } as never) as Promise<T>
  const write = async (functionName: string, args: readonly unknown[]) => {
    try {
      const { request } = await publicClient.simulateContract({
        account: wallet.account,
        address: appAuth,
        abi: regentAppAuthAbi,
        functionName,
        args,
      } as never)
      const receipt = await publicClient.waitForTransactionReceipt({ hash: await wallet.writeContract(request as never) })
      if (receipt.status !== 'success') throw new Error(`${functionName} reverted`)
    } catch (cause) {
      const reason = (cause as { shortMessage?: string }).shortMessage ?? (cause as Error).message
      throw new CliError('chain.reverted', `RegentAppAuth.${functionName} failed: ${reason.split('\n')[0]}`, { docs, cause })
    }
  }

  const appId = await read<Address>('computeAppId', [owner, salt])
  let registered = false
  if (!(await read<boolean>('isRegistered', [appId]))) {
    await write('registerApp', [salt, BigInt(params.timelock)])
    registered = true
  } else {
    const appOwner = await read<Address>('appOwner', [appId])
    if (appOwner.toLowerCase() !== owner.toLowerCase())
      throw new CliError('app.not_owner', `app ${appId} is owned by ${appOwner}, not ${owner}`, { docs })
    if (params.setTimelock && Number(await read<bigint>('timelockOf', [appId])) !== params.timelock)
      await write('setTimelock', [appId, BigInt(params.timelock)])
  }
  const timelock = Number(await read<bigint>('timelockOf', [appId]))

  const added: Approval['added'] = []
  const items: { kind: Approval['added'][number]; value: Hex; at: string; add: string }[] = [
    { kind: 'composeHash', value: params.composeHash, at: 'composeHashActivatesAt', add: 'addComposeHash' },
    { kind: 'osImage', value: params.osImageHash, at: 'osImageActivatesAt', add: 'addOsImage' },
    ...(params.kmsRoot ? [{ kind: 'kmsRoot' as const, value: params.kmsRoot, at: 'kmsRootActivatesAt', add: 'addKmsRoot' }] : []),
  ]
  let activatesAt = 0
  for (const item of items) {
    let at = Number(await read<bigint>(item.at, [appId, item.value]))
    if (at === 0) {
      await write(item.add, [appId, item.value])
      added.push(item.kind)
      at = Number(await read<bigint>(item.at, [appId, item.value]))
    }
    activatesAt = Math.max(activatesAt, at)
  }

  let advanced = 0
  const now = Number((await publicClient.getBlock({ blockTag: 'latest' })).timestamp)
  if (activatesAt > now) {
    if (!params.waitTimelock)
      throw new CliError(
        'timelock.pending',
        `compose hash ${params.composeHash} is approved for app ${appId} but pending: it activates at ${new Date(activatesAt * 1000).toISOString()} (in ${activatesAt - now} s; app timelock ${timelock} s)`,
        {
          hint: 'run `regent deploy` again after that time (the approval is recorded), or on the devnet add --wait-timelock to advance the chain clock',
          docs,
        },
      )
    advanced = activatesAt - now
    await publicClient.request({ method: 'evm_increaseTime', params: [numberToHex(advanced)] } as never)
    await publicClient.request({ method: 'evm_mine', params: [] } as never)
  }
  return { appId, owner, registered, timelock, added, activatesAt, advanced }
}
