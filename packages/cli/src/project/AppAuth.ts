/**
 * Registering the app and approving its measurement in RegentAppAuth (docs/contracts.md, docs/cli/deploy.md
 * "Contracts"): app id = computeAppId(owner, keccak256(project name)); the compose hash, the OS image (with its
 * published measurements, one per VM shape) and the KMS root are added and take effect after the app's timelock;
 * enrollment is opened to the app's agents (the owner's consent, RegentAppAuth `setOpenEnrollment`). On the devnet the owner is anvil's public
 * developer account (index 1); a real chain takes the owner's key from REGENT_DEPLOYER_KEY (never a flag).
 */
import { createHash } from 'node:crypto'
import { regentAppAuthAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import { type DevnetFile, DevnetTd } from '@regent-tee/devnet'
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
  /** What this run added (the rest was already listed); `enrollment`: it opened the app's enrollment. */
  added: ('composeHash' | 'osImage' | 'kmsRoot' | 'enrollment')[]
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
    /** The OS image's measurements (MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 per VM shape) recorded with its approval. */
    osImageMeasurements: readonly Hex[]
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

  // The developer's consent to the app's agents enrolling in RegentSuccession (they enroll themselves at boot).
  if (!(await read<boolean>('isEnrollmentOpen', [appId]))) await write('setOpenEnrollment', [appId, true])

  const added: Approval['added'] = []
  const items: { kind: Approval['added'][number]; value: Hex; at: string; add: string; extra?: readonly unknown[] }[] = [
    { kind: 'composeHash', value: params.composeHash, at: 'composeHashActivatesAt', add: 'addComposeHash' },
    { kind: 'osImage', value: params.osImageHash, at: 'osImageActivatesAt', add: 'addOsImage', extra: [params.osImageMeasurements] },
    ...(params.kmsRoot ? [{ kind: 'kmsRoot' as const, value: params.kmsRoot, at: 'kmsRootActivatesAt', add: 'addKmsRoot' }] : []),
  ]
  let activatesAt = 0
  for (const item of items) {
    let at = Number(await read<bigint>(item.at, [appId, item.value]))
    if (at === 0) {
      await write(item.add, [appId, item.value, ...(item.extra ?? [])])
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

/** Whether an existing app approves a measurement now (RegentAppAuth views); `kmsRoot` is null when none is given. */
export type MeasurementApproval = { composeHash: boolean; osImage: boolean; kmsRoot: boolean | null }

/**
 * Reads whether `appId` approves `composeHash`, `osImageHash` and (when given) `kmsRoot`, active now.
 *
 * @example
 * const a = await AppAuth.measurement(publicClient, { appAuth, appId, composeHash, osImageHash, kmsRoot })
 */
export async function measurement(
  publicClient: Clients['publicClient'],
  params: { appAuth: Address; appId: Address; composeHash: Hex; osImageHash: Hex; kmsRoot: Address | undefined },
): Promise<MeasurementApproval> {
  const read = (functionName: string, args: readonly unknown[]) =>
    publicClient.readContract({ address: params.appAuth, abi: regentAppAuthAbi, functionName, args } as never) as Promise<boolean>
  const [composeHash, osImage, kmsRoot] = await Promise.all([
    read('isComposeHashApproved', [params.appId, params.composeHash]),
    read('isOsImageApproved', [params.appId, params.osImageHash]),
    params.kmsRoot ? read('isKmsRootAllowed', [params.appId, params.kmsRoot]) : Promise.resolve(null),
  ])
  return { composeHash, osImage, kmsRoot }
}

/**
 * Approves a measurement for an app that already exists (its id from RegentSuccession, not from a project name):
 * adds the compose hash, the OS image and the KMS root that are not listed yet. The signer must be the app's owner
 * (on the devnet anvil's developer account, which owns every app `regent deploy`, `regent demo` and
 * `regent dev cvm launch --approve` register). Does not advance the chain clock.
 *
 * @throws {CliError} `app.not_owner` (another owner, or no such app), `chain.reverted`, `timelock.pending` (listed
 *   but not active yet: the app has a timelock).
 */
export async function approveMeasurement(
  { publicClient, wallet }: Clients,
  params: {
    appAuth: Address
    appId: Address
    composeHash: Hex
    osImageHash: Hex
    /** The OS image's measurements (one per VM shape), recorded with its approval. */
    osImageMeasurements: readonly Hex[]
    kmsRoot: Address | undefined
    /** Also open the app's enrollment (its agents enroll themselves at boot): a first deploy under this app. */
    openEnrollment?: boolean
    docs: string
  },
): Promise<{ added: Approval['added'] }> {
  const { appAuth, appId, docs } = params
  const read = <T>(functionName: string, args: readonly unknown[]) =>
    publicClient.readContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args } as never) as Promise<T>
  const owner = await read<Address>('appOwner', [appId])
  if (owner.toLowerCase() !== wallet.account.address.toLowerCase())
    throw new CliError(
      'app.not_owner',
      `app ${appId} is owned by ${owner}, not by ${wallet.account.address}: only its owner can approve a measurement`,
      { hint: "approve the target's compose hash with the app owner's key (REGENT_DEPLOYER_KEY)", docs },
    )
  const items: { kind: Approval['added'][number]; value: Hex; at: string; add: string; extra?: readonly unknown[] }[] = [
    { kind: 'composeHash', value: params.composeHash, at: 'composeHashActivatesAt', add: 'addComposeHash' },
    { kind: 'osImage', value: params.osImageHash, at: 'osImageActivatesAt', add: 'addOsImage', extra: [params.osImageMeasurements] },
    ...(params.kmsRoot ? [{ kind: 'kmsRoot' as const, value: params.kmsRoot, at: 'kmsRootActivatesAt', add: 'addKmsRoot' }] : []),
  ]
  // The owner's consent to the app's agents enrolling in RegentSuccession (they enroll themselves at boot).
  if (params.openEnrollment && !(await read<boolean>('isEnrollmentOpen', [appId])))
    items.unshift({ kind: 'enrollment', value: '0x01', at: '', add: 'setOpenEnrollment' })
  const added: Approval['added'] = []
  let activatesAt = 0
  for (const item of items) {
    let at = item.kind === 'enrollment' ? 0 : Number(await read<bigint>(item.at, [appId, item.value]))
    if (at === 0) {
      try {
        const { request } = await publicClient.simulateContract({
          account: wallet.account,
          address: appAuth,
          abi: regentAppAuthAbi,
          functionName: item.add,
          args: item.kind === 'enrollment' ? [appId, true] : [appId, item.value, ...(item.extra ?? [])],
        } as never)
        const receipt = await publicClient.waitForTransactionReceipt({ hash: await wallet.writeContract(request as never) })
        if (receipt.status !== 'success') throw new Error(`${item.add} reverted`)
      } catch (cause) {
        const reason = (cause as { shortMessage?: string }).shortMessage ?? (cause as Error).message
        throw new CliError('chain.reverted', `RegentAppAuth.${item.add} failed: ${reason.split('\n')[0]}`, { docs, cause })
      }
      added.push(item.kind)
      if (item.kind !== 'enrollment') at = Number(await read<bigint>(item.at, [appId, item.value]))
    }
    activatesAt = Math.max(activatesAt, at)
  }
  const now = Number((await publicClient.getBlock({ blockTag: 'latest' })).timestamp)
  if (activatesAt > now)
    throw new CliError(
      'timelock.pending',
      `the measurement is approved for app ${appId} but pending: it activates at ${new Date(activatesAt * 1000).toISOString()} (in ${activatesAt - now} s)`,
      { hint: 'run the same command again after that time (the approval is recorded)', docs },
    )
  return { added }
}

/**
 * The uplift target's measurement on the devnet (`regent uplift --target local`, docs/cli/uplift.md): the agent's app
 * (RegentSuccession.appOf) approves the target's compose hash, the devnet OS image and KMS root, or `approve` (the
 * `--approve` flag) adds what is missing as the app owner.
 *
 * @throws {CliError} `agent.no_app`, `target.unapproved`, and what {@link approveMeasurement} throws.
 */
export async function agentAppApproval(
  file: DevnetFile.DevnetFile,
  params: { agentId: bigint; compose: Uint8Array; approve: boolean; docs: string },
) {
  const { docs } = params
  const { publicClient } = clients(file)
  const appId = (await publicClient.readContract({
    address: file.contracts.succession,
    abi: regentSuccessionAbi,
    functionName: 'appOf',
    args: [params.agentId],
  })) as Address
  if (/^0x0{40}$/.test(appId))
    throw new CliError('agent.no_app', `agent ${params.agentId} has no app in RegentSuccession on this chain`, {
      hint: 'is the agent enrolled on the devnet this command reads (--devnet-dir)?',
      docs,
    })
  const composeHash = `0x${createHash('sha256').update(params.compose).digest('hex')}` as Hex
  const measured = {
    appAuth: file.contracts.appAuth,
    appId,
    composeHash,
    osImageHash: DevnetTd.published(DevnetTd.defaultImage).osImageHash,
    osImageMeasurements: DevnetTd.published(DevnetTd.defaultImage).measurements,
    kmsRoot: file.kmsRoot,
  }
  const a = await measurement(publicClient, measured)
  const missing = [
    ...(a.composeHash ? [] : [`compose hash ${composeHash}`]),
    ...(a.osImage ? [] : ['the devnet OS image']),
    ...(a.kmsRoot === false ? ['the KMS root'] : []),
  ]
  if (missing.length > 0 && params.approve) {
    const { added } = await approveMeasurement(clients(file), { ...measured, docs })
    return { appId, composeHash, added: added as string[] }
  }
  if (missing.length > 0)
    throw new CliError('target.unapproved', `the agent's app ${appId} does not approve ${missing.join(', ')} (active now)`, {
      hint: 'on the devnet add --approve to approve it as the app owner; elsewhere the app owner approves it in RegentAppAuth',
      docs,
    })
  return { appId, composeHash, added: [] as string[] }
}

/**
 * Revokes `composeHash` in the app (RegentAppAuth.removeComposeHash, as its owner): what a failed deploy undoes when it
 * approved code whose CVM never became healthy.
 *
 * @throws {CliError} `chain.reverted`.
 */
export async function revokeComposeHash(
  { publicClient, wallet }: Clients,
  params: { appAuth: Address; appId: Address; composeHash: Hex },
): Promise<Hex> {
  try {
    const { request } = await publicClient.simulateContract({
      account: wallet.account,
      address: params.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'removeComposeHash',
      args: [params.appId, params.composeHash],
    })
    const hash = await wallet.writeContract(request as never)
    const receipt = await publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error('removeComposeHash reverted')
    return hash
  } catch (cause) {
    const reason = (cause as { shortMessage?: string }).shortMessage ?? (cause as Error).message
    throw new CliError('chain.reverted', `RegentAppAuth.removeComposeHash failed: ${reason.split('\n')[0]}`, { docs, cause })
  }
}
