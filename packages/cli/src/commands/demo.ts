/**
 * `regent demo`: the self-uplift story on the running devnet (issue 7 "CLI and demo", docs/uplift.md,
 * docs/cli/demo.md). An agent in the wild (its own generated key, never printed; registered in ERC-8004,
 * enrolled, a funded treasury and a memory DB) decides with the EV table, uplifts into the example agent in a
 * devnet CVM (REGENT_UPLIFT_ROLE=target), and the demo shows the handshake checks, the on-chain handover, the
 * fenced source and the new canonical instance. The same flow as test/e2e/uplift.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Collateral, createTrustedRoot } from '@regent/attest'
import { agentTreasuryAbi, regentSuccessionAbi } from '@regent/contracts'
import { type CvmRecord, type DevnetFile, status as devnetStatus } from '@regent/devnet'
import {
  assertCanonical,
  Checkpoint,
  commitState,
  Decide,
  enroll,
  NotCanonicalError,
  openUpliftJournal,
  PrivateKey,
  readCanonical,
  registerAgent,
  type UpliftMessages,
  uplift,
} from '@regent/sdk'
import Database from 'better-sqlite3'
import { createWalletClient, getAddress, type Hex, http, keccak256, parseEventLogs, toBytes, zeroAddress } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import { progress } from '../progress.js'
import * as AppAuth from '../project/AppAuth.js'
import * as Host from '../project/Host.js'

const docs = 'docs/cli/demo.md'
const agentDir = fileURLToPath(new URL('../../../../examples/agent/', import.meta.url))
const wildHost = 'https://wild.example'
const bootTimeoutMs = 120_000

/** What `regent demo --json` prints. */
export type DemoOutput = {
  key: 'import' | 'rotate'
  chainId: number
  appId: string
  composeHashes: { wild: string; target: string }
  wild: {
    agentId: string
    wallet: string
    host: string
    treasuryWei: string
    memoryRows: number
    committed: { stateRoot: string; seq: string }
  }
  decision: { ev: number; proceed: boolean; table: string }
  target: { cvmId: string; url: string; wallet: string }
  uplift: { sessionId: string; transactionHash: string; stateRoot: string; seq: string; journal: string }
  handshake: {
    epoch: string
    nonce: string
    leafIndexes: string[]
    checks: { check: string; ok: boolean }[]
  }
  chain: {
    events: string[]
    uplift: { agentId: string; oldHost: string; newRA: string } | null
    before: { epoch: string; signer: string }
    after: { epoch: string; signer: string; host: string; stateRoot: string; stateSeq: string }
    sameWallet: boolean
    treasuryWei: string
  }
  fencing: { refused: boolean; error: string; message: string; contract: string | null }
  verification:
    | { served: true; isAgent: boolean; score: number; failures: string[] }
    | { served: false; note: string; canonical: { epoch: string; signer: string; composeHash: string; quoteHash: string; host: string } }
}

type Ctx = Partial<{
  appId: Hex
  composeHashes: { wild: Hex; target: Hex }
  wild: Awaited<ReturnType<typeof startWild>>
  cvm: CvmRecord
  targetWallet: string
  result: Awaited<ReturnType<typeof uplift>>
  journalPath: string
  handshake: DemoOutput['handshake']
  chain: DemoOutput['chain']
  fencing: DemoOutput['fencing']
  verification: DemoOutput['verification']
}>

export async function run(input: CommandInput): Promise<CommandResult<DemoOutput>> {
  const keyFlag = input.flags.key ?? 'import'
  if (keyFlag !== 'import' && keyFlag !== 'rotate')
    throw new UsageError('usage', '--key takes "import" or "rotate"', { hint: 'regent demo --key import', docs })
  const mode = keyFlag
  const json = input.flags.json === true
  const devnetDir = typeof input.flags.devnetDir === 'string' ? input.flags.devnetDir : '.regent'
  const s = await devnetStatus({ dir: devnetDir })
  if (!s.running || !s.file)
    throw new CliError('devnet.not_running', `no devnet is running in ${devnetDir}`, {
      hint: 'start one with `regent dev up` (or point --devnet-dir at its directory)',
      docs,
    })
  const file = s.file
  const { publicClient: client } = AppAuth.clients(file)
  const contracts = file.contracts
  const targetCompose = new Uint8Array(await readFile(join(agentDir, 'app-compose.json')))
  const wildCompose = new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'wild-agent', runner: 'none' }))
  const salt = `0x${randomBytes(32).toString('hex')}` as Hex
  const ctx: Ctx = {}

  await progress<Ctx>(
    [
      {
        title: "contracts: one app approving both the wild agent's compose hash and the example agent's",
        task: async (_c, task) => {
          const a = await approve(file, targetCompose, salt)
          const b = await approve(file, wildCompose, salt)
          if (a.appId.toLowerCase() !== b.appId.toLowerCase()) throw new Error('the two approvals landed in different apps')
          ctx.appId = a.appId
          ctx.composeHashes = { wild: b.composeHash, target: a.composeHash }
          task.title = `contracts: app ${a.appId} approves ${short(b.composeHash)} (wild) and ${short(a.composeHash)} (example agent)`
        },
      },
      {
        title: 'wild: an agent in the wild with its own key, ERC-8004 identity, treasury and memory',
        task: async (_c, task) => {
          ctx.wild = await startWild(file, client, need(ctx.appId), need(ctx.composeHashes).wild)
          const w = ctx.wild
          task.title = `wild: agent ${w.agentId} at ${w.account.address} (registered, enrolled at epoch 1, 1 ETH in the treasury, ${w.rows} memory rows, root ${short(w.committed.stateRoot)} committed at seq 1)`
        },
      },
    ],
    json,
  ).run(ctx)

  const decision = Decide.evaluate()
  const table = Decide.toTable(decision)
  input.note(`\nStep 0, decide (expected value of moving into a TEE):\n${table}\n`)
  if (!decision.proceed) throw new CliError('decide.negative', 'the decision table says not to proceed', { docs })

  const w = need(ctx.wild)
  const before = await readCanonical(client, { contracts, agentId: w.agentId })
  await progress<Ctx>(
    [
      {
        title: 'tee: launch the example agent as an uplift target in a devnet CVM',
        task: async (_c, task) => {
          ctx.cvm = await Host.launch(file, {
            compose: targetCompose,
            bundle: agentDir,
            appId: need(ctx.appId),
            env: { REGENT_CHAIN_ID: String(file.chainId), REGENT_CONTRACTS: JSON.stringify(contracts), REGENT_UPLIFT_ROLE: 'target' },
          })
          ctx.targetWallet = await waitForTarget(file, ctx.cvm)
          task.title = `tee: ${ctx.cvm.cvmId} at ${ctx.cvm.appUrl} (its own KMS wallet ${ctx.targetWallet})`
        },
      },
      {
        title: `uplift --key ${mode}: hello, attestation, key, state, handshake, handover`,
        task: async (_c, task) => {
          const cvm = need(ctx.cvm)
          const dir = await mkdtemp(join(tmpdir(), 'regent-demo-'))
          ctx.journalPath = join(dir, 'uplift-source.db')
          const journal = openUpliftJournal({ path: ctx.journalPath, role: 'source', key: randomBytes(32) })
          try {
            ctx.result = await uplift({
              mode,
              agentId: w.agentId,
              chainId: file.chainId,
              contracts,
              wallet: w.wallet,
              ...(mode === 'import' ? { privateKey: new PrivateKey(Buffer.from(w.key.slice(2), 'hex')) } : {}),
              client,
              targetUrl: cvm.appUrl,
              journal,
              checkpoint: () => Checkpoint.exportState(w.db, { chunkSize: 512 }),
              collateral: Collateral.parse(await fetchText(file.collateralUrl)),
              trustedRoots: [createTrustedRoot({ name: 'devnet', pem: file.rootCa })],
            })
            const challenge = journal.get<UpliftMessages.Challenge>('challenge')
            const r = ctx.result
            ctx.handshake = {
              epoch: challenge?.epoch ?? String(before.epoch),
              nonce: challenge?.nonce ?? '',
              leafIndexes: [...(challenge?.leafIndexes ?? [])],
              checks: [
                { check: `(i) signature over the fresh nonce by ${r.signer}`, ok: true },
                {
                  check: `(ii) ${challenge?.leafIndexes.length ?? 0} Merkle-leaf challenges with proofs against ${short(r.stateRoot)}`,
                  ok: true,
                },
                { check: '(iii) a fresh RA quote over the nonce, verified against the devnet root and RegentAppAuth', ok: true },
              ],
            }
          } finally {
            journal.close()
          }
          const r = need(ctx.result)
          task.title = `uplift --key ${mode}: session ${short(r.sessionId)}, handshake verified, handover tx ${short(r.transactionHash)}`
        },
      },
      {
        title: 'chain: the Uplift event and the new canonical signer',
        task: async (_c, task) => {
          const r = need(ctx.result)
          const receipt = await client.getTransactionReceipt({ hash: r.transactionHash })
          const events = parseEventLogs({ abi: regentSuccessionAbi, logs: receipt.logs })
          const up = events.find((e) => e.eventName === 'Uplift')
          const after = await readCanonical(client, { contracts, agentId: w.agentId })
          const treasury = await client.readContract({
            address: contracts.treasury,
            abi: agentTreasuryAbi,
            functionName: 'balanceOf',
            args: [w.agentId, zeroAddress],
          })
          const upArgs = up?.args as { agentId: bigint; oldHost: string; newRA: Hex } | undefined
          ctx.chain = {
            events: events.map((e) => e.eventName),
            uplift: upArgs ? { agentId: String(upArgs.agentId), oldHost: upArgs.oldHost, newRA: upArgs.newRA } : null,
            before: { epoch: String(before.epoch), signer: before.instance.signer },
            after: {
              epoch: String(after.epoch),
              signer: after.instance.signer,
              host: after.instance.host,
              stateRoot: after.stateRoot,
              stateSeq: String(after.stateSeq),
            },
            sameWallet: after.instance.signer.toLowerCase() === before.instance.signer.toLowerCase(),
            treasuryWei: String(treasury),
          }
          const c = ctx.chain
          task.title = `chain: ${c.uplift ? `Uplift(agent ${c.uplift.agentId}, ${c.uplift.oldHost}, ${short(c.uplift.newRA)})` : c.events.join(', ')}; epoch ${c.before.epoch} → ${c.after.epoch}, signer ${c.after.signer}${c.sameWallet ? ' (same address)' : ' (new key)'}`
        },
      },
      {
        title: 'fencing: the demoted source tries to commit state',
        task: async (_c, task) => {
          ctx.fencing = await tryCommit(mode, w, client, contracts, before.epoch)
          const f = ctx.fencing
          task.title = `fencing: the demoted source is ${f.refused ? 'refused' : 'NOT refused'} (${f.error}${f.contract ? `; the contract reverts ${f.contract}` : ''})`
          if (!f.refused) throw new CliError('fencing.failed', 'the demoted source could still commit state', { docs })
        },
      },
      {
        title: 'verify: the new canonical instance, as an outside verifier',
        task: async (_c, task) => {
          ctx.verification = await verifyCanonical(need(ctx.cvm), w.agentId, client, contracts, devnetDir)
          const v = ctx.verification
          task.title = v.served
            ? `verify: identity function ${v.isAgent ? 'holds' : 'FAILS'}, security score ${v.score}`
            : `verify: ${v.note}; RegentSuccession names ${v.canonical.signer} at ${v.canonical.host} (epoch ${v.canonical.epoch})`
        },
      },
    ],
    json,
  ).run(ctx)

  const r = need(ctx.result)
  const cvm = need(ctx.cvm)
  const verification = need(ctx.verification)
  return {
    ok: need(ctx.fencing).refused && (!verification.served || verification.isAgent),
    data: {
      key: mode,
      chainId: file.chainId,
      appId: need(ctx.appId),
      composeHashes: need(ctx.composeHashes),
      wild: {
        agentId: String(w.agentId),
        wallet: w.account.address,
        host: wildHost,
        treasuryWei: String(w.treasuryWei),
        memoryRows: w.rows,
        committed: { stateRoot: w.committed.stateRoot, seq: '1' },
      },
      decision: { ev: decision.ev, proceed: decision.proceed, table },
      target: { cvmId: cvm.cvmId, url: cvm.appUrl, wallet: need(ctx.targetWallet) },
      uplift: {
        sessionId: r.sessionId,
        transactionHash: r.transactionHash,
        stateRoot: r.stateRoot,
        seq: String(r.seq),
        journal: need(ctx.journalPath),
      },
      handshake: need(ctx.handshake),
      chain: need(ctx.chain),
      fencing: need(ctx.fencing),
      verification,
    },
  }
}

export function render(result: CommandResult): string {
  const d = result.data as DemoOutput
  const v = d.verification
  return [
    `${result.ok ? '✓' : '✗'} agent ${d.wild.agentId} uplifted from the wild into ${d.target.cvmId} (--key ${d.key})`,
    '',
    'handshake:',
    ...d.handshake.checks.map((c) => `  ${c.ok ? '✓' : '✗'} ${c.check}`),
    '',
    'on-chain:',
    `  events        ${d.chain.events.join(', ')}`,
    ...(d.chain.uplift
      ? [`  Uplift        agent ${d.chain.uplift.agentId}, oldHost ${d.chain.uplift.oldHost}, newRA ${d.chain.uplift.newRA}`]
      : []),
    `  epoch         ${d.chain.before.epoch} → ${d.chain.after.epoch}`,
    `  signer        ${d.chain.before.signer} → ${d.chain.after.signer}${d.chain.sameWallet ? ' (same address)' : ' (new key)'}`,
    `  host          ${d.chain.after.host}`,
    `  state         ${d.chain.after.stateRoot} (seq ${d.chain.after.stateSeq})`,
    `  treasury      ${d.chain.treasuryWei} wei (intact)`,
    '',
    `demoted source: ${d.fencing.refused ? 'refused' : 'NOT refused'} — ${d.fencing.error}: ${d.fencing.message}${d.fencing.contract ? ` (contract: ${d.fencing.contract})` : ''}`,
    '',
    v.served
      ? `outside verifier: identity function ${v.isAgent ? 'holds' : 'fails'}, security score ${v.score}${v.failures.length ? ` (${v.failures.join('; ')})` : ''}`
      : `outside verifier: ${v.note}\n  RegentSuccession canonical instance: signer ${v.canonical.signer}, host ${v.canonical.host}, epoch ${v.canonical.epoch}, compose hash ${v.canonical.composeHash}, quote hash ${v.canonical.quoteHash}`,
    '',
    `source journal: ${d.uplift.journal} (\`regent uplift status --journal <file>\`)`,
  ].join('\n')
}

async function approve(file: DevnetFile.DevnetFile, compose: Uint8Array, salt: Hex) {
  return Host.call<{ appId: Hex; composeHash: Hex }>(file, '/v1/apps', { compose: Buffer.from(compose).toString('base64'), salt })
}

/** An agent in the wild: its own key (kept in memory only), self-registered, enrolled, state committed, treasury funded. */
async function startWild(file: DevnetFile.DevnetFile, client: AppAuth.Clients['publicClient'], appId: Hex, composeHash: Hex) {
  const key = generatePrivateKey()
  const account = privateKeyToAccount(key)
  await Host.call(file, '/v1/faucet', { address: account.address })
  const wallet = createWalletClient({ account, chain: client.chain, transport: http(file.rpcUrl) })
  const contracts = file.contracts
  const { agentId } = await registerAgent(wallet, {
    contracts,
    registration: {
      name: `demo-wild-${account.address.slice(2, 8).toLowerCase()}`,
      description: 'an agent in the wild',
      services: [{ name: 'web', endpoint: wildHost, version: '1' }],
    },
  })
  await enroll(wallet, {
    contracts,
    agentId,
    appId,
    instance: {
      signer: account.address,
      composeHash,
      instanceId: getAddress(`0x${keccak256(toBytes(`wild:${account.address}`)).slice(26)}`),
      quoteHash: keccak256(toBytes('no quote: this agent runs in the wild')),
      host: wildHost,
    },
  })
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  const insert = db.prepare('INSERT INTO memory (id, key, value) VALUES (?, ?, ?)')
  const learned = ['the user prefers short answers', 'ETH gas is cheapest at night UTC', 'the treasury pays for inference']
  for (let i = 1; i <= 30; i++) insert.run(i, `fact${i}`, `${learned[i % learned.length]} (${i})`)
  const committed = Checkpoint.exportState(db, { chunkSize: 512 })
  await commitState(wallet, { contracts, agentId, stateRoot: committed.stateRoot, seq: 1n })
  insert.run(31, 'latest', 'learned just before the uplift')
  const treasuryWei = 10n ** 18n
  await client.waitForTransactionReceipt({
    hash: await wallet.writeContract({
      address: contracts.treasury,
      abi: agentTreasuryAbi,
      functionName: 'deposit',
      args: [agentId],
      value: treasuryWei,
    }),
  })
  return { key, account, wallet, agentId, db, committed, rows: 31, treasuryWei }
}

/** The demoted source tries to commit: A holds the old epoch (assertCanonical + the contract), B's key is retired. */
async function tryCommit(
  mode: 'import' | 'rotate',
  w: Awaited<ReturnType<typeof startWild>>,
  client: AppAuth.Clients['publicClient'],
  contracts: DevnetFile.DevnetFile['contracts'],
  heldEpoch: bigint,
): Promise<DemoOutput['fencing']> {
  const stateRoot = `0x${'11'.repeat(32)}` as Hex
  const attempt =
    mode === 'import'
      ? assertCanonical(client, { contracts, agentId: w.agentId, signer: w.account.address, epoch: heldEpoch })
      : commitState(w.wallet, { contracts, agentId: w.agentId, stateRoot, seq: 99n })
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  )
  const contract = await client
    .simulateContract({
      account: w.account,
      address: contracts.succession,
      abi: regentSuccessionAbi,
      functionName: 'commitState',
      args: [w.agentId, heldEpoch, stateRoot, 99n],
    })
    .then(
      () => null,
      (e: unknown) => (e as { cause?: { data?: { errorName?: string } } }).cause?.data?.errorName ?? 'reverted',
    )
  return {
    refused: error instanceof NotCanonicalError && contract !== null,
    error: error instanceof Error ? error.name : 'none',
    message: error instanceof Error ? ((error as { shortMessage?: string }).shortMessage ?? error.message.split('\n')[0] ?? '') : '',
    contract,
  }
}

/** `/identity` of the new instance through `regent identity verify`, or (when it serves none) RegentSuccession's record. */
async function verifyCanonical(
  cvm: CvmRecord,
  agentId: bigint,
  client: AppAuth.Clients['publicClient'],
  contracts: DevnetFile.DevnetFile['contracts'],
  devnetDir: string,
): Promise<DemoOutput['verification']> {
  const nonce = `0x${randomBytes(32).toString('hex')}`
  const served = await fetch(`${cvm.appUrl}/identity?nonce=${nonce}`, { signal: AbortSignal.timeout(30_000) }).then(
    (r) => r.ok,
    () => false,
  )
  if (served) {
    const { verify } = await import('./identity.js')
    const r = await verify.run({ args: [cvm.appUrl], flags: { devnetDir }, note: () => {} })
    const d = r.data as { isAgent: boolean; score: number; failures: string[] }
    return { served: true, isAgent: d.isAgent, score: d.score, failures: d.failures }
  }
  const c = await readCanonical(client, { contracts, agentId })
  return {
    served: false,
    note: 'the target serves the uplift API but no /identity endpoint yet, so the identity function cannot be run on it',
    canonical: {
      epoch: String(c.epoch),
      signer: c.instance.signer,
      composeHash: c.instance.composeHash,
      quoteHash: c.instance.quoteHash,
      host: c.instance.host,
    },
  }
}

/** Polls (bounded) until the target answers /health; fails early when its CVM exits. Returns its wallet. */
async function waitForTarget(file: DevnetFile.DevnetFile, cvm: CvmRecord): Promise<string> {
  const deadline = Date.now() + bootTimeoutMs
  for (;;) {
    const health = await fetch(`${cvm.appUrl}/health`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => (r.ok ? (r.json() as Promise<{ wallet?: unknown }>) : undefined),
      () => undefined,
    )
    if (health && typeof health.wallet === 'string') return health.wallet
    const now = await Host.get(file, cvm.cvmId)
    if (now.status !== 'running' || Date.now() > deadline)
      throw new CliError('target.boot_failed', `the target in ${cvm.cvmId} did not start (${now.status})`, {
        hint: `see its output: \`regent dev cvm logs ${cvm.cvmId}\``,
        docs,
      })
    await new Promise((r) => setTimeout(r, 200)) // the target is still booting (KMS keys)
  }
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
  if (!res?.ok) throw new CliError('devnet.unreachable', `${url} did not answer`, { hint: 'check `regent dev status`', docs })
  return res.text()
}

function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('a demo step ran before the step it depends on')
  return value
}

const short = (hex: string) => (hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex)
