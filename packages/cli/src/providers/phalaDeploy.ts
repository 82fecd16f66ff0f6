/**
 * `regent deploy --target phala` (docs/targets/phala.md): build → push the bundle → pick node and image →
 * `POST /cvms/provision` → approve the SERVER's compose hash on-chain (the app registered in RegentAppAuth: Phala's app
 * id under its central KMS, or a RegentDstackApp under dstack's on-chain KMS) → env encrypted to the verified env key
 * → `POST /cvms` → follow the boot → verify the attestation here → the agent's /identity (key provenance to the
 * approved KMS root) → canonical in RegentSuccession. A rerun upgrades: `PATCH /cvms/{id}` prepared (`X-Prepare-Only`),
 * the 465 answer's compose hash approved, then confirmed with the approval's transaction hash.
 *
 * This version deploys against the devnet's chain and contracts, and pushes the bundle to the devnet's registry:
 * that is what CI verifies against the stand-in. Real Phala needs an image registry and a real chain (docs).
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { type Collateral, createTrustedRoot } from '@regent-tee/attest'
import { deployRegentDstackApp, dstackKmsAbi, regentAppAuthAbi } from '@regent-tee/contracts'
import { DevnetTd, status as devnetStatus, PhalaRegistry } from '@regent-tee/devnet'
import type { IdentityBundle } from '@regent-tee/sdk'
import type { RegentContracts } from '@regent-tee/sdk/chain'
import type { ListrTask } from 'listr2'
import { type Address, createWalletClient, type Hex, http, numberToHex } from 'viem'
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import type { CommandInput, CommandResult } from '../command.js'
import type { ProjectTarget } from '../commands/deployDstack.js'
import { CliError, UsageError } from '../errors.js'
import { progress } from '../progress.js'
import * as Admin from '../project/Admin.js'
import * as AppAuth from '../project/AppAuth.js'
import * as Build from '../project/Build.js'
import type * as Config from '../project/Config.js'
import { agentError } from '../project/CrashOutput.js'
import * as Phala from './phala.js'

const docs = 'docs/targets/phala.md'
const anvilMnemonic = 'test test test test test test test test test test test junk'

/** `<project>/.regent/phala.json`: the Phala deployment a rerun upgrades. */
export type PhalaRecord = {
  version: 1
  apiUrl: string
  chainId: number
  appAuth: Address
  kms: 'phala' | 'onchain'
  kmsId: string
  kmsRoot: string
  appId: string
  cvmId: string
  composeHash: string
  bundleDigest: string
  agentId: string
  wallet: string
  url: string
}

export type PhalaDeployOutput = {
  target: 'phala'
  name: string
  kms: 'phala' | 'onchain'
  agentId: string
  agentRegistry: string
  wallet: string
  appId: string
  composeHash: string
  bundleDigest: string
  cvmId: string
  node: string
  url: string
  epoch: string
  kmsRoot: string
  attestation: Phala.AttestationVerdict
  keyProvenance: { path: string; kmsRoot: string | null; verified: boolean }
  upgrade: boolean
  record: string
}

type Ctx = {
  build?: Build.Build
  digest?: string
  node?: Awaited<ReturnType<typeof Phala.pickNode>>
  appId?: string
  composeHash?: string
  kmsRoot?: string
  kmsId?: string
  cvmId?: string
  attestation?: Phala.AttestationVerdict
  url?: string
  health?: { agentId: string; wallet: string }
  identity?: IdentityBundle
  provenance?: { kmsRoot: string | null; verified: boolean }
  epoch?: bigint
}

/** The deploy of `config` in `dir` to Phala Cloud (`--kms phala|onchain`, `--node`, `--os-image`). */
export async function deployPhala(
  input: CommandInput,
  params: { dir: string; config: Config.Config; timelock: number },
): Promise<CommandResult<PhalaDeployOutput>> {
  const { dir, config } = params
  const json = input.flags.json === true
  const env = Phala.envOf()
  const client = Phala.clientOf(env)
  const kmsFlag = input.flags.kms ?? 'phala'
  if (kmsFlag !== 'phala' && kmsFlag !== 'onchain') throw new UsageError('usage', '--kms takes phala or onchain', { docs })
  const nodeFlag = input.flags.node
  if (nodeFlag !== undefined && (typeof nodeFlag !== 'string' || !/^\d{1,9}$/.test(nodeFlag)))
    throw new UsageError('usage', '--node takes a node id (GET /teepods/available)', { docs })
  const devnetDir = typeof input.flags.devnetDir === 'string' ? input.flags.devnetDir : '.regent'
  const s = await devnetStatus({ dir: devnetDir })
  if (!s.running || !s.file)
    throw new CliError(
      'devnet.not_running',
      `no devnet is running in ${devnetDir}: this version deploys to Phala with the devnet's chain and registry`,
      {
        hint: 'start one with `regent dev up`',
        docs,
      },
    )
  const file = s.file
  if (file.phalaApiUrl?.replace(/\/+$/, '') !== env.baseUrl)
    throw new CliError(
      'phala.registry',
      `PHALA_CLOUD_API_PREFIX (${env.baseUrl}) is not the devnet's Phala API: pushing an image to a real registry is not in this version`,
      {
        hint: `use PHALA_CLOUD_API_PREFIX=${file.phalaApiUrl ?? '<phalaApiUrl of devnet.json>'}; docs/targets/phala.md says what a real account needs`,
        docs,
      },
    )
  const clients = AppAuth.clients(file)
  const collateral = (await (await fetch(file.collateralUrl)).json()) as Collateral.Json
  const trustedRoots = [createTrustedRoot({ name: 'Regent devnet root', pem: file.rootCa })]
  const recordPath = join(dir, '.regent', 'phala.json')
  const previous = await readFile(recordPath, 'utf8')
    .then((t) => JSON.parse(t) as PhalaRecord)
    .catch(() => undefined)
  const upgrade =
    previous?.chainId === file.chainId && previous.apiUrl === env.baseUrl && previous.appAuth === file.contracts.appAuth
      ? previous
      : undefined
  const kms: 'phala' | 'onchain' = upgrade ? upgrade.kms : kmsFlag

  const tasks: ListrTask<Ctx>[] = [
    {
      title: 'build: bundle, app-compose.json; push the bundle to the registry',
      task: async (ctx, task) => {
        // The agent's security settings are measured in its compose (Phala keeps docker_compose_file verbatim): its
        // operator, the chain and contracts, and the root its quotes chain to on the stand-in.
        const operator = Admin.operatorAddress()
        ctx.build = await Build.build(dir, config, {
          settings: {
            v: 1,
            ...(operator ? { operator } : {}),
            chainId: file.chainId,
            contracts: file.contracts,
            trustedRoots: [file.rootCa],
          },
        })
        ctx.digest = await PhalaRegistry.push({ dir: devnetDir, bundle: ctx.build.bundleDir })
        task.title = `build: bundle ${ctx.build.bundleDigest} pushed (registry of the devnet)`
      },
    },
    {
      title: 'phala: node and OS image',
      task: async (ctx, task) => {
        const me = await Phala.whoami(client)
        ctx.node = await Phala.pickNode(client, {
          ...(nodeFlag ? { node: Number(nodeFlag) } : {}),
          ...(typeof input.flags.osImage === 'string' ? { image: input.flags.osImage } : {}),
          kms,
        })
        task.title = `phala: ${me.username}@${me.workspace}, node ${ctx.node.nodeId} (${ctx.node.nodeName}), image ${ctx.node.image}`
      },
    },
    ...(upgrade ? upgradeTasks(upgrade) : createTasks()),
    {
      title: 'phala: boot (state stream)',
      task: async (ctx, task) => {
        await Phala.waitRunning(client, need(ctx.cvmId), { timeoutSeconds: 180, onState: (s) => (task.output = s) })
        task.title = `phala: CVM ${ctx.cvmId} running`
      },
    },
    {
      title: 'attestation: quote, RTMR3 replay, app id, compose hash (verified here)',
      task: async (ctx, task) => {
        ctx.attestation = await Phala.verifyAttestation(client, {
          id: need(ctx.cvmId),
          appId: need(ctx.appId),
          composeHash: need(ctx.composeHash),
          trustedRoots,
          collateral,
        })
        task.title = `attestation: ${ctx.attestation.hardware} quote verified, app ${ctx.attestation.appId}, compose hash ${short(ctx.attestation.composeHash)} = SHA-256(app_compose)`
      },
    },
    {
      title: 'identity: the agent, its wallet and key provenance',
      task: async (ctx, task) => {
        ctx.url = await Phala.appUrlOf(client, need(ctx.cvmId))
        ctx.health = await waitForHealth(ctx.url, { client, cvmId: need(ctx.cvmId) })
        const nonce = `0x${randomBytes(32).toString('hex')}`
        const res = await fetch(`${ctx.url}/identity?nonce=${nonce}`, { signal: AbortSignal.timeout(30_000) })
        if (!res.ok) throw new CliError('agent.identity', `the agent's /identity answered HTTP ${res.status}`, { docs })
        ctx.identity = (await res.json()) as IdentityBundle
        const { verifyProvenance } = await import('@regent-tee/sdk')
        const { readCanonical } = await import('@regent-tee/sdk/chain')
        const p = ctx.identity.keyProvenance
        if (!p) throw new CliError('agent.provenance', 'the agent serves a wallet key without KMS provenance', { docs })
        const verdict = verifyProvenance({
          provenance: p,
          appId: `0x${need(ctx.appId)}`,
          address: ctx.health.wallet as Hex,
          kmsRootPublicKey: `0x${need(ctx.kmsRoot)}`,
        })
        if (!verdict.ok)
          throw new CliError(
            'agent.provenance',
            `the wallet key does not chain to the approved KMS root: ${verdict.reasons.map((r) => r.code).join(', ')}`,
            {
              docs,
            },
          )
        ctx.provenance = { kmsRoot: verdict.kmsRootPublicKey ?? null, verified: true }
        const snapshot = await readCanonical(clients.publicClient, { contracts: file.contracts, agentId: BigInt(ctx.health.agentId) })
        if (snapshot.epoch === 0n || snapshot.instance.signer.toLowerCase() !== ctx.health.wallet.toLowerCase())
          throw new CliError('agent.not_canonical', `agent ${ctx.health.agentId} is not canonical with this instance`, { docs })
        ctx.epoch = snapshot.epoch
        task.title = `identity: agent ${ctx.health.agentId}, wallet ${ctx.health.wallet} (keys chain to KMS root ${short(need(ctx.kmsRoot))}), canonical at epoch ${snapshot.epoch}`
      },
    },
  ]

  function createTasks(): ListrTask<Ctx>[] {
    let provision: { compose_hash: string; app_id?: string | null; os_image_hash?: string | null; kms_info?: unknown } | undefined
    return [
      {
        title: 'phala: provision (the server builds app-compose and answers its hash)',
        task: async (ctx, task) => {
          const compose = JSON.parse(new TextDecoder().decode(need(ctx.build).compose)) as {
            docker_compose_file: string
            allowed_envs?: string[]
          }
          provision = (await Phala.provisionCvm(client, {
            name: hostname(config.name),
            node_id: need(ctx.node).nodeId,
            image: need(ctx.node).image,
            kms: kms === 'phala' ? 'PHALA' : 'BASE',
            compose_file: { docker_compose_file: compose.docker_compose_file, allowed_envs: compose.allowed_envs ?? [], public_logs: true },
          }).catch((e: unknown) => {
            throw Phala.apiError('POST /cvms/provision', e)
          })) as NonNullable<typeof provision>
          ctx.composeHash = provision.compose_hash
          const info = provision.kms_info as { id: string; slug: string | null; kms_contract_address: string | null; k256_pubkey?: string }
          ctx.kmsId = info.slug ?? info.id
          if (kms === 'onchain') {
            // The on-chain KMS root is read from the chain, at the contract this devnet deployed — not taken from the API.
            if (info.kms_contract_address?.toLowerCase() !== file.dstackKms?.toLowerCase())
              throw new CliError(
                'phala.kms_contract',
                `Phala names KMS contract ${info.kms_contract_address}, not the devnet's ${file.dstackKms}`,
                { docs },
              )
            const [k256] = await clients.publicClient.readContract({
              address: file.dstackKms as Address,
              abi: dstackKmsAbi,
              functionName: 'kmsInfo',
            })
            ctx.kmsRoot = k256.replace(/^0x/, '')
          } else {
            if (!info.k256_pubkey)
              throw new CliError('phala.kms_root', 'the provision answer names no KMS root (kms_info.k256_pubkey)', { docs })
            ctx.kmsRoot = info.k256_pubkey.replace(/^0x/, '')
          }
          task.title = `phala: provisioned, compose hash ${short(provision.compose_hash)} (the server's)`
        },
      },
      {
        title: "contracts: register the app and approve the server's compose hash before anything boots",
        task: async (ctx, task) => {
          const kmsRoot = Phala.kmsRootAddress(need(ctx.kmsRoot))
          if (kms === 'phala') {
            ctx.appId = need(provision?.app_id ?? undefined)
            await registerExternal(file, `0x${ctx.appId}`, clients.wallet.account.address, params.timelock)
          } else {
            const { appId } = await deployRegentDstackApp(clients.wallet as never, clients.publicClient as never, {
              appAuth: file.contracts.appAuth,
              dstackKms: file.dstackKms as Address,
              timelock: BigInt(params.timelock),
              kmsRoot,
            })
            ctx.appId = appId.slice(2).toLowerCase()
          }
          // The stand-in's CVMs boot the devnet image: its published measurements. (A real Phala account needs the
          // measurements of the node's OS image, from dstack-mr: docs/targets/phala.md.)
          const published = DevnetTd.published(DevnetTd.defaultImage)
          const osImageHash = (provision?.os_image_hash ? `0x${provision.os_image_hash}` : published.osImageHash) as Hex
          await AppAuth.approveMeasurement(clients, {
            appAuth: file.contracts.appAuth,
            appId: `0x${ctx.appId}`,
            composeHash: `0x${need(ctx.composeHash)}`,
            osImageHash,
            osImageMeasurements: published.measurements,
            kmsRoot,
            openEnrollment: true, // the agent enrolls itself in RegentSuccession at boot: the owner's consent
            docs,
          })
          task.title = `contracts: app 0x${ctx.appId} (${kms === 'phala' ? "Phala's id" : 'RegentDstackApp in DstackKms'}) approves compose hash ${short(need(ctx.composeHash))} and KMS root ${kmsRoot}`
        },
      },
      {
        title: "phala: env encrypted to the app's env key (KMS signature checked), commit",
        task: async (ctx, task) => {
          const key = await Phala.verifiedEnvKey(client, { kms: need(ctx.kmsId), appId: need(ctx.appId), kmsRoot: need(ctx.kmsRoot) })
          const vm = await Phala.commitCvmProvision(client, {
            app_id: need(ctx.appId),
            compose_hash: need(ctx.composeHash),
            encrypted_env: Phala.encryptEnv(agentEnv(file, config), key),
            kms_id: need(ctx.kmsId),
            ...(kms === 'onchain' ? { contract_address: `0x${ctx.appId}`, deployer_address: clients.wallet.account.address } : {}),
          }).catch((e: unknown) => {
            throw Phala.apiError('POST /cvms', e)
          })
          ctx.cvmId = vm.vm_uuid ?? String(vm.id)
          task.title = `phala: committed, CVM ${ctx.cvmId}`
        },
      },
    ]
  }

  function upgradeTasks(record: PhalaRecord): ListrTask<Ctx>[] {
    return [
      {
        title: 'phala: prepare the update (PATCH, prepare-only) and approve its compose hash (465 path)',
        task: async (ctx, task) => {
          ctx.appId = record.appId
          ctx.kmsRoot = record.kmsRoot
          ctx.kmsId = record.kmsId
          ctx.cvmId = record.cvmId
          const compose = JSON.parse(new TextDecoder().decode(need(ctx.build).compose)) as {
            docker_compose_file: string
            allowed_envs?: string[]
          }
          const key = await Phala.verifiedEnvKey(client, { kms: record.kmsId, appId: record.appId, kmsRoot: record.kmsRoot })
          const prepared = await Phala.patchCvm(client, {
            id: record.cvmId,
            docker_compose_file: compose.docker_compose_file,
            allowed_envs: compose.allowed_envs ?? [],
            encrypted_env: Phala.encryptEnv(agentEnv(file, config), key),
            prepareOnly: true,
          }).catch((e: unknown) => {
            throw Phala.apiError(`PATCH /cvms/${record.cvmId}`, e)
          })
          if (!prepared.requiresOnChainHash)
            throw new CliError('phala.prepare', 'the prepared update did not name its compose hash', { docs })
          ctx.composeHash = prepared.composeHash
          const approved = await clients.publicClient.readContract({
            address: file.contracts.appAuth,
            abi: regentAppAuthAbi,
            functionName: 'isComposeHashApproved',
            args: [`0x${record.appId}`, `0x${prepared.composeHash}`],
          })
          if (approved) {
            // Already approved (a rerun without code changes): the update needs no new registration.
            await Phala.patchCvm(client, { id: record.cvmId, encrypted_env: Phala.encryptEnv(agentEnv(file, config), key) }).catch(
              (e: unknown) => {
                throw Phala.apiError(`PATCH /cvms/${record.cvmId}`, e)
              },
            )
            task.title = `phala: update applied (compose hash ${short(prepared.composeHash)} already approved)`
            return
          }
          const tx = await addComposeHash(clients, file.contracts.appAuth, `0x${record.appId}`, `0x${prepared.composeHash}`)
          const { confirmCvmPatch } = await import('@phala/cloud')
          await confirmCvmPatch(client, { id: record.cvmId, composeHash: prepared.composeHash, transactionHash: tx }).catch(
            (e: unknown) => {
              throw Phala.apiError(`PATCH /cvms/${record.cvmId} (confirm)`, e)
            },
          )
          task.title = `phala: update confirmed: compose hash ${short(prepared.composeHash)} approved on-chain (tx ${short(tx)})`
        },
      },
    ]
  }

  const ctx = await progress(tasks, json).run({})
  const health = need(ctx.health)
  const record: PhalaRecord = {
    version: 1,
    apiUrl: env.baseUrl,
    chainId: file.chainId,
    appAuth: file.contracts.appAuth,
    kms,
    kmsId: need(ctx.kmsId),
    kmsRoot: need(ctx.kmsRoot),
    appId: need(ctx.appId),
    cvmId: need(ctx.cvmId),
    composeHash: need(ctx.composeHash),
    bundleDigest: need(ctx.build).bundleDigest,
    agentId: health.agentId,
    wallet: health.wallet,
    url: need(ctx.url),
  }
  await writeFile(recordPath, `${JSON.stringify(record, null, 2)}\n`)
  const rel = relative(process.cwd(), resolve(recordPath))
  return {
    ok: true,
    data: {
      target: 'phala',
      name: config.name,
      kms,
      agentId: health.agentId,
      agentRegistry: `eip155:${file.chainId}:${file.contracts.identityRegistry}`,
      wallet: health.wallet,
      appId: `0x${record.appId}`,
      composeHash: `0x${record.composeHash}`,
      bundleDigest: record.bundleDigest,
      cvmId: record.cvmId,
      node: `${need(ctx.node).nodeId} (${need(ctx.node).nodeName})`,
      url: record.url,
      epoch: String(ctx.epoch ?? 0n),
      kmsRoot: `0x${record.kmsRoot}`,
      attestation: need(ctx.attestation),
      keyProvenance: { path: ctx.identity?.keyProvenance?.path ?? '', ...need(ctx.provenance) },
      upgrade: upgrade !== undefined,
      record: rel.startsWith('..') ? resolve(recordPath) : rel,
    },
  }
}

/** Human output of {@link deployPhala}. */
export function renderPhala(d: PhalaDeployOutput): string {
  const rows: [string, string][] = [
    ['agentId', d.agentId],
    ['agentRegistry', d.agentRegistry],
    ['wallet', `${d.wallet}  (${d.keyProvenance.path}, KMS root ${short(d.kmsRoot)})`],
    [
      'appId',
      `${d.appId}  (${d.kms === 'phala' ? "Phala's central KMS: boot gating is Phala's" : 'dstack on-chain KMS: RegentAppAuth gates boots'})`,
    ],
    ['composeHash', `${d.composeHash}  (the server's; = SHA-256 of the attested app_compose)`],
    ['attestation', `${d.attestation.hardware} quote, TCB ${d.attestation.tcbStatus}, RTMR3 replayed`],
    ['bundleDigest', d.bundleDigest],
    ['cvmId', `${d.cvmId} on node ${d.node}`],
    ['epoch', d.epoch],
    ['url', d.url],
  ]
  return [
    `✓ ${d.name} deployed to Phala Cloud${d.upgrade ? ' (upgraded in place: same app id, same wallet)' : ''}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(14)} ${v}`),
    `  recorded in ${d.record}`,
  ].join('\n')
}

/** The agent's environment (encrypted to the app's env key; only `allowed_envs` reach the agent). */
function agentEnv(file: { collateralUrl: string }, config: Config.Config): Record<string, string> {
  return { REGENT_AGENT_NAME: config.name, REGENT_COLLATERAL_URL: file.collateralUrl }
}

/**
 * Registers Phala's app id in RegentAppAuth for `owner` (`registerExternalApp`): RegentAppAuth lets only its governance
 * register an id a hosted KMS assigns. On the devnet that is anvil's account 0; elsewhere `REGENT_GOVERNANCE_KEY`.
 */
async function registerExternal(
  file: { rpcUrl: string; chainId: number; contracts: { appAuth: Address } },
  appId: Hex,
  owner: Address,
  timelock: number,
) {
  const { publicClient } = AppAuth.clients(file)
  if (
    await publicClient.readContract({ address: file.contracts.appAuth, abi: regentAppAuthAbi, functionName: 'isRegistered', args: [appId] })
  )
    return
  const key = process.env.REGENT_GOVERNANCE_KEY
  const account = key ? privateKeyToAccount(key as Hex) : mnemonicToAccount(anvilMnemonic, { addressIndex: 0 })
  const governance = createWalletClient({ account, chain: publicClient.chain, transport: http(file.rpcUrl) })
  try {
    const hash = await governance.writeContract({
      address: file.contracts.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'registerExternalApp',
      args: [appId, owner, BigInt(timelock)],
    })
    const receipt = await publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error('reverted')
  } catch (cause) {
    throw new CliError(
      'chain.reverted',
      `RegentAppAuth.registerExternalApp(${appId}) failed: ${String((cause as Error).message).split('\n')[0]}`,
      {
        hint: "a hosted KMS's app id is registered by RegentAppAuth's governance (REGENT_GOVERNANCE_KEY)",
        docs,
        cause,
      },
    )
  }
}

/** `addComposeHash` as the app owner; the transaction hash is Phala's proof of registration (confirm of a 465). */
async function addComposeHash(clients: AppAuth.Clients, appAuth: Address, appId: Hex, composeHash: Hex): Promise<Hex> {
  const { publicClient, wallet } = clients
  try {
    const { request } = await publicClient.simulateContract({
      account: wallet.account,
      address: appAuth,
      abi: regentAppAuthAbi,
      functionName: 'addComposeHash',
      args: [appId, composeHash],
    })
    const hash = await wallet.writeContract(request)
    const receipt = await publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error('reverted')
    const at = await publicClient.readContract({
      address: appAuth,
      abi: regentAppAuthAbi,
      functionName: 'composeHashActivatesAt',
      args: [appId, composeHash],
    })
    const now = (await publicClient.getBlock()).timestamp
    if (at > now)
      throw new CliError(
        'timelock.pending',
        `compose hash ${composeHash} is approved for app ${appId} but activates in ${at - now} s (the app's timelock)`,
        {
          hint: 'confirm the update after that time; on the devnet use a 0 timelock',
          docs,
        },
      )
    return hash
  } catch (cause) {
    if (cause instanceof CliError) throw cause
    throw new CliError('chain.reverted', `RegentAppAuth.addComposeHash failed: ${String((cause as Error).message).split('\n')[0]}`, {
      docs,
      cause,
    })
  }
}

/**
 * Polls (bounded) until the agent answers /health with its agent id and wallet; a CVM that stops first, or the
 * deadline, fails with the last lines of its output.
 */
async function waitForHealth(
  url: string,
  cvm: { client: ReturnType<typeof Phala.clientOf>; cvmId: string },
): Promise<{ agentId: string; wallet: string }> {
  const deadline = Date.now() + 120_000
  for (;;) {
    const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => (r.ok ? (r.json() as Promise<{ agentId?: unknown; wallet?: unknown }>) : undefined),
      () => undefined,
    )
    if (health && typeof health.agentId === 'string' && typeof health.wallet === 'string')
      return { agentId: health.agentId, wallet: health.wallet }
    const status = await Phala.getCvmInfo(cvm.client, { id: cvm.cvmId }).then(
      (i) => (i as { status?: string }).status,
      () => undefined,
    )
    const stopped = status === 'exited' || status === 'stopped' || status === 'deleted'
    if (stopped || Date.now() > deadline) {
      const tail = agentError(await Phala.logs(cvm.client, cvm.cvmId, 40).catch(() => ''))
      throw new CliError(
        'agent.boot_failed',
        `the agent at ${url} ${stopped ? `stopped (${status})` : 'did not answer /health within 120 s'}${tail ? `: ${tail}` : ''}`,
        { hint: `its output: the log endpoint of CVM ${cvm.cvmId}`, docs },
      )
    }
    await new Promise((r) => setTimeout(r, 250)) // the agent is still booting
  }
}

/** A Phala CVM name (hostname rule: 5–63 characters, starts with a letter). */
export function hostname(name: string): string {
  const n = /^[a-z]/.test(name) && name.length >= 5 ? name : `regent-${name}`
  return n.slice(0, 63).replace(/-+$/, '')
}

function need<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('a deploy step ran before the step it depends on')
  return value
}

const short = (hex: string) => (hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex)

export { numberToHex }

/**
 * The target of `regent uplift --agent <url> --target phala --dir <project>`: a new instance of the project's Phala
 * app (`POST /apps/{id}/instances`, the deploy's record in `.regent/phala.json`), booted in the target role with its
 * env encrypted to the app's verified env key. Its compose is the app's own, rebuilt from the project with the
 * agent's measured settings: if the project changed since the deploy, the uplift is refused (`phala.changed`) —
 * deploy the change first, then move.
 *
 * @throws {CliError} `devnet.not_running`, `phala.registry` (as deploy), `phala.not_deployed` (no record for this
 *   chain and API).
 */
export async function phalaProjectTarget(input: CommandInput, config: Config.Config, dir: string): Promise<ProjectTarget> {
  const env = Phala.envOf()
  const devnetDir = typeof input.flags.devnetDir === 'string' ? input.flags.devnetDir : '.regent'
  const s = await devnetStatus({ dir: devnetDir })
  if (!s.running || !s.file)
    throw new CliError('devnet.not_running', `no devnet is running in ${devnetDir}: this version moves to Phala on the devnet's chain`, {
      hint: 'start one with `regent dev up`',
      docs,
    })
  const file = s.file
  if (file.phalaApiUrl?.replace(/\/+$/, '') !== env.baseUrl)
    throw new CliError('phala.registry', `PHALA_CLOUD_API_PREFIX (${env.baseUrl}) is not the devnet's Phala API`, { docs })
  const record = await readFile(join(dir, '.regent', 'phala.json'), 'utf8')
    .then((t) => JSON.parse(t) as PhalaRecord)
    .catch(() => undefined)
  if (!record || record.chainId !== file.chainId || record.apiUrl !== env.baseUrl || record.appAuth !== file.contracts.appAuth)
    throw new CliError('phala.not_deployed', `the project in ${dir} has no Phala deployment on this chain and API`, {
      hint: 'deploy it first: `regent deploy --target phala`',
      docs,
    })
  const clients = AppAuth.clients(file)
  let built: Build.Build | undefined
  const provider = Phala.phala({ kmsRoot: async () => record.kmsRoot, kms: async () => record.kmsId })
  return {
    label: 'devnet',
    chainId: file.chainId,
    contracts: file.contracts as unknown as RegentContracts,
    publicClient: clients.publicClient,
    provider,
    async approve(operator) {
      built = await Build.build(dir, config, {
        settings: { v: 1, operator, chainId: file.chainId, contracts: file.contracts, trustedRoots: [file.rootCa] },
      })
      if (built.bundleDigest !== record.bundleDigest)
        throw new CliError('phala.changed', `the project's bundle is ${built.bundleDigest}, the app runs ${record.bundleDigest}`, {
          hint: 'deploy the change first (`regent deploy --target phala`), then move the agent',
          docs,
        })
      const approved = await clients.publicClient.readContract({
        address: file.contracts.appAuth,
        abi: regentAppAuthAbi,
        functionName: 'isComposeHashApproved',
        args: [`0x${record.appId}`, `0x${record.composeHash}`],
      })
      if (!approved)
        throw new CliError('target.unapproved', `the app 0x${record.appId} no longer approves compose hash 0x${record.composeHash}`, {
          docs,
        })
      return { appId: `0x${record.appId}` as Hex, composeHash: `0x${record.composeHash}` as Hex, added: [] }
    },
    async launch(appId) {
      const b = built
      if (!b) throw new CliError('internal', 'launch before approve', { docs })
      return provider.launch({
        compose: b.compose,
        bundle: b.bundleDir,
        appId,
        env: { ...agentEnv(file, config), REGENT_UPLIFT_ROLE: 'target' },
      })
    },
  }
}
