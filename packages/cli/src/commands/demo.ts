/**
 * `regent demo`: the self-uplift story on the running devnet (issue 7 "CLI and demo", DESIGN.md §10, docs/uplift.md,
 * docs/cli/demo.md). The example agent runs in the wild as a real process (REGENT_RUNTIME=wild: its own key in an
 * encrypted keystore, registered in ERC-8004, enrolled, a memory DB, a funded treasury); the demo then moves it into
 * a devnet CVM through the same code as `regent uplift --agent <url> --target local` ({@link upliftAgent}) and shows
 * the decision table, the handshake checks, the on-chain handover, the demoted source, the treasury, and the new
 * canonical instance as an outside verifier sees it (`verifyInstance`: identity function, security score).
 */

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, createWriteStream, openSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { Collateral, createTrustedRoot } from '@regent-tee/attest'
import { agentTreasuryAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import { type Guarded, spawnGuarded } from '@regent-tee/core'
import { type DevnetFile, status as devnetStatus } from '@regent-tee/devnet'
import { verifyInstance } from '@regent-tee/sdk'
import { readCanonical } from '@regent-tee/sdk/chain'
import { type Address, createWalletClient, type Hex, http, parseEventLogs, zeroAddress } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import { count, eth, leaves } from '../format.js'
import { onInterrupt, stillRunning } from '../interrupt.js'
import { progress } from '../progress.js'
import * as Admin from '../project/Admin.js'
import * as AgentApp from '../project/AgentApp.js'
import * as AppAuth from '../project/AppAuth.js'
import { resolveDevnetDir } from '../project/DevnetDir.js'
import * as ExampleAgent from '../project/ExampleAgent.js'
import * as Host from '../project/Host.js'
import { type FailoverDemoOutput, renderFailover, runFailover } from './demoFailover.js'
import { type UpliftOutput, upliftAgent } from './uplift.js'

const docs = 'docs/cli/demo.md'
const agentDir = ExampleAgent.dir
/** How long the wild agent may take to answer (it registers and enrolls on boot). */
const readyTimeoutMs = 120_000
/** What the demo deposits into the agent's treasury (wei). */
const deposit = 10n ** 18n
/** What the agent is told before it moves (user, text): its memory DB. */
const memories: readonly [string, string][] = [
  ['ana', 'I sail on Sundays and love old wooden boats'],
  ['ana', 'keep answers short, I read them on my phone'],
  ['ben', 'I trade ETH at night when gas is cheap'],
  ['ben', 'the treasury pays for my inference, not my card'],
  ['cleo', 'I am learning Rust and like small examples'],
]

/** What `regent demo --json` prints (docs/cli/demo.md). */
export type DemoOutput = {
  key: 'import' | 'rotate'
  chainId: number
  appId: string
  composeHashes: { wild: string; target: string }
  /** The example agent as a process in the wild (REGENT_RUNTIME=wild). */
  wild: {
    agentId: string
    wallet: string
    url: string
    pid: number
    dataDir: string
    memories: number
    committed: { stateRoot: string; seq: string; epoch: string }
    treasuryWei: string
    /** `--keep`: still running when the demo returns; otherwise stopped (SIGTERM) at the end. */
    kept: boolean
  }
  /** The agent's own decision table (its `GET /admin/uplift` `decision`). */
  decision: { ev: number; proceed: boolean; table: string }
  target: { cvmId: string; url: string; wallet: string }
  uplift: { sessionId: string; transactionHash: string; stateRoot: string; seq: string; journal: string; steps: string[] }
  handshake: { epoch: string; nonce: string; leafIndexes: string[]; checks: { check: string; ok: boolean }[] }
  chain: {
    events: string[]
    uplift: { agentId: string; oldHost: string; newRA: string } | null
    succession: { oldKey: string; newKey: string; nextEpoch: string } | null
    before: { epoch: string; signer: string; host: string }
    after: { epoch: string; signer: string; host: string; stateRoot: string; stateSeq: string }
    sameWallet: boolean
  }
  /** The wild process after the handover: its /health and its refused withdrawal. */
  demoted: { role: string; forwardingTo: string | null; withdraw: { status: number; code: string | null }; refused: boolean }
  treasury: { beforeWei: string; afterWei: string; intact: boolean }
  verification: {
    isAgent: boolean
    score: number
    holds: { a: boolean; b: boolean; c: boolean; d: boolean }
    breakdown: { factor: string; points: number; max: number; why: string }[]
    reasons: { code: string; message: string }[]
    failures: string[]
  }
}

/** The running wild agent: where it answers, its process and its data directory. */
type Wild = { url: string; dataDir: string; pid: number; agentId: bigint; wallet: string; stop: () => Promise<void> }
type Ctx = Partial<{
  appId: Hex
  composeHashes: { wild: Hex; target: Hex }
  wild: Wild
  committed: DemoOutput['wild']['committed']
  memories: number
  before: DemoOutput['chain']['before']
  treasuryBefore: bigint
  handshake: DemoOutput['handshake']
  chain: DemoOutput['chain']
  demoted: DemoOutput['demoted']
  treasury: DemoOutput['treasury']
  verification: DemoOutput['verification']
}>

export async function run(input: CommandInput): Promise<CommandResult<DemoOutput | FailoverDemoOutput>> {
  // --failover: the other story, operator-free failover (demoFailover.ts).
  if (input.flags.failover === true) return runFailover(input)
  const keyFlag = input.flags.key ?? 'import'
  if (keyFlag !== 'import' && keyFlag !== 'rotate')
    throw new UsageError('usage', '--key takes "import" or "rotate"', { hint: 'regent demo --key import', docs })
  const mode = keyFlag
  const json = input.flags.json === true
  const keep = input.flags.keep === true
  const devnetDir = resolveDevnetDir(input.flags.devnetDir).dir
  const s = await devnetStatus({ dir: devnetDir })
  if (!s.running || !s.file)
    throw new CliError('devnet.not_running', `no devnet is running in ${devnetDir}`, {
      hint: 'start one with `regent dev up` (or point --devnet-dir at its directory)',
      docs,
    })
  const file = s.file
  const { publicClient: client } = AppAuth.clients(file)
  const contracts = file.contracts
  const salt = `0x${randomBytes(32).toString('hex')}` as Hex
  // The agent's operator secrets: generated here, handed to the process in its environment, never printed.
  // The agent's operator: a key made for this demo, kept in this process (only its signatures reach the agent).
  const operator = privateKeyToAccount(generatePrivateKey())
  const ctx: Ctx = {}
  const treasuryOf = (agentId: bigint) =>
    client.readContract({ address: contracts.treasury, abi: agentTreasuryAbi, functionName: 'balanceOf', args: [agentId, zeroAddress] })

  try {
    await progress<Ctx>(
      [
        {
          title: "contracts: one app approving both the wild agent's compose hash and the example agent's",
          task: async (_c, task) => {
            // The example agent's bundle with its dependencies, its digest pinned in the compose that gets approved.
            // Its measured settings: the demo's operator, the devnet chain and contracts, the devnet root (what
            // `regent uplift` writes into the target's compose: the same bytes, so the same compose hash).
            const app = await AgentApp.build({
              dir: agentDir,
              out: resolve(devnetDir, 'builds'),
              settings: { v: 1, operator: operator.address, chainId: file.chainId, contracts: file.contracts, trustedRoots: [file.rootCa] },
            })
            const target = await approve(file, app.compose, salt)
            const wild = await approve(file, await readFile(join(agentDir, 'wild-compose.json')), salt)
            if (target.appId.toLowerCase() !== wild.appId.toLowerCase()) throw new Error('the two approvals landed in different apps')
            ctx.appId = target.appId
            ctx.composeHashes = { wild: wild.composeHash, target: target.composeHash }
            task.title = `contracts: app ${target.appId} approves ${short(wild.composeHash)} (wild) and ${short(target.composeHash)} (example agent)`
          },
        },
        {
          title: 'wild: start the example agent as a plain process (REGENT_RUNTIME=wild, its key in an encrypted keystore)',
          task: async (_c, task) => {
            ctx.wild = await startWild(file, { appId: need(ctx.appId), operator: operator.address, devnetDir, keep })
            const w = ctx.wild
            // Interrupted from here on: the wild agent is stopped (or, with --keep, named as still running).
            if (keep) stillRunning(`the wild agent at ${w.url} (pid ${w.pid}; stop it with \`kill ${w.pid}\`)`)
            else onInterrupt(() => w.stop())
            task.title = `wild: agent ${w.agentId} at ${w.url} (pid ${w.pid}, wallet ${w.wallet}; registered in ERC-8004, canonical at epoch 1)`
          },
        },
        {
          title: 'memory: the agent learns from requests and commits its state root',
          task: async (_c, task) => {
            const w = need(ctx.wild)
            for (const [user, text] of memories) await agentCall(w.url, '/remember', { user, text })
            // A commit spends the agent's gas: only its operator may ask (a signed request).
            const committed = await Admin.client(w.url, operator).request<{ stateRoot: string; seq: string; epoch: string }>(
              'POST',
              '/checkpoint',
              {},
            )
            if (!committed.ok)
              throw new CliError(
                'wild.request_failed',
                `/checkpoint answered ${committed.refusal.status}: ${committed.refusal.code} ${committed.refusal.message}`,
                { docs },
              )
            const cp = committed.data
            ctx.committed = { stateRoot: cp.stateRoot, seq: cp.seq, epoch: cp.epoch }
            ctx.memories = (await agentCall<{ memories: number }>(w.url, '/health')).memories
            task.title = `memory: ${ctx.memories} memories; state root ${short(cp.stateRoot)} committed at seq ${cp.seq}`
          },
        },
        {
          title: "treasury: a faucet-funded account deposits 1 ETH into the agent's treasury",
          task: async (_c, task) => {
            const w = need(ctx.wild)
            const account = privateKeyToAccount(generatePrivateKey())
            await Host.call(file, '/v1/faucet', { address: account.address })
            const wallet = createWalletClient({ account, chain: client.chain, transport: http(file.rpcUrl) })
            const hash = await wallet.writeContract({
              address: contracts.treasury,
              abi: agentTreasuryAbi,
              functionName: 'deposit',
              args: [w.agentId],
              value: deposit,
            })
            await client.waitForTransactionReceipt({ hash })
            ctx.treasuryBefore = await treasuryOf(w.agentId)
            const c = await readCanonical(client, { contracts, agentId: w.agentId })
            ctx.before = { epoch: String(c.epoch), signer: c.instance.signer, host: c.instance.host }
            task.title = `treasury: ${eth(ctx.treasuryBefore)} for agent ${w.agentId} (from ${account.address})`
          },
        },
      ],
      json,
    ).run(ctx)

    const w = need(ctx.wild)
    // The same code path as `regent uplift --agent <url> --target local`; the outside check comes last, below.
    const moved = await upliftAgent({
      agent: w.url,
      operator: () => operator,
      key: mode,
      target: 'local',
      bundle: agentDir,
      devnetDir,
      json,
      note: input.note,
      verify: false,
    })
    const up = moved.data
    if (up.state !== 'done' || !up.result)
      throw new CliError(
        up.error?.code ?? 'uplift.failed',
        `the uplift did not finish (${up.state}${up.status?.next ? ` before ${up.status.next}` : ''}): ${up.error?.message ?? ''}`,
        {
          hint: keep
            ? `regent uplift resume --agent ${w.url} (signed by the demo's operator key, which is gone: run the demo again)`
            : 'run `regent demo` again',
          docs,
        },
      )
    const result = up.result

    await progress<Ctx>(
      [
        {
          title: 'handshake: the challenge the source sent and verified',
          task: async (_c, task) => {
            const r = await Admin.client(w.url, operator).status()
            if (!r.ok) throw new CliError('wild.request_failed', `/admin/uplift answered ${r.refusal.code}: ${r.refusal.message}`, { docs })
            const status = r.data
            ctx.handshake = handshakeOf(status.handshake ?? null, up, result)
            task.title = `handshake: epoch ${ctx.handshake.epoch}, nonce ${short(ctx.handshake.nonce)}, ${leaves(ctx.handshake.leafIndexes.length)}; all three checks passed`
          },
        },
        {
          title: 'chain: the handover transaction in RegentSuccession',
          task: async (_c, task) => {
            const receipt = await client.getTransactionReceipt({ hash: result.transactionHash as Hex })
            const events = parseEventLogs({ abi: regentSuccessionAbi, logs: receipt.logs })
            const upliftEvent = events.find((e) => e.eventName === 'Uplift')?.args as
              | { agentId: bigint; oldHost: string; newRA: Hex }
              | undefined
            const succession = events.find((e) => e.eventName === 'SuccessionRecorded')?.args as
              | { oldKey: string; newKey: string; nextEpoch: bigint }
              | undefined
            const after = await readCanonical(client, { contracts, agentId: w.agentId })
            const before = need(ctx.before)
            ctx.chain = {
              events: events.map((e) => e.eventName),
              uplift: upliftEvent ? { agentId: String(upliftEvent.agentId), oldHost: upliftEvent.oldHost, newRA: upliftEvent.newRA } : null,
              succession: succession
                ? { oldKey: succession.oldKey, newKey: succession.newKey, nextEpoch: String(succession.nextEpoch) }
                : null,
              before,
              after: {
                epoch: String(after.epoch),
                signer: after.instance.signer,
                host: after.instance.host,
                stateRoot: after.stateRoot,
                stateSeq: String(after.stateSeq),
              },
              sameWallet: after.instance.signer.toLowerCase() === before.signer.toLowerCase(),
            }
            const c = ctx.chain
            task.title = `chain: ${c.events.join(', ')}; epoch ${c.before.epoch} → ${c.after.epoch}, signer ${c.after.signer}${c.sameWallet ? ' (same address)' : ' (new key)'}`
          },
        },
        {
          title: 'demoted: the wild process after the handover',
          task: async (_c, task) => {
            const h = await agentCall<{ role: string; forwardingTo?: string }>(w.url, '/health')
            const payee = privateKeyToAccount(generatePrivateKey()).address
            // The operator itself asks the demoted source to pay: it refuses (it no longer acts for the agent).
            const paid = await Admin.client(w.url, operator).withdraw({ to: payee, amount: 1000n })
            const status = paid.ok ? paid.status : paid.refusal.status
            const code = paid.ok ? null : paid.refusal.code
            ctx.demoted = {
              role: h.role,
              forwardingTo: h.forwardingTo ?? null,
              withdraw: { status, code },
              refused: status === 409 && code === 'agent.demoted',
            }
            const d = ctx.demoted
            task.title = `demoted: role ${d.role}, forwarding to ${d.forwardingTo}; withdraw → ${d.withdraw.status} ${d.withdraw.code}`
            if (!d.refused || d.role !== 'demoted')
              throw new CliError('fencing.failed', `the source is not fenced (role ${d.role}, withdraw answered ${d.withdraw.status})`, {
                docs,
              })
          },
        },
        {
          title: 'treasury: still the agent’s',
          task: async (_c, task) => {
            const after = await treasuryOf(w.agentId)
            const before = need(ctx.treasuryBefore)
            ctx.treasury = { beforeWei: String(before), afterWei: String(after), intact: after === before }
            task.title = `treasury: ${eth(after)} (${after === before ? 'intact' : 'CHANGED'})`
          },
        },
        {
          title: 'verify: the new canonical instance, as an outside verifier (verifyInstance)',
          task: async (_c, task) => {
            const r = await verifyInstance({
              url: need(up.target).url,
              agentId: w.agentId,
              contracts,
              client,
              collateral: Collateral.parse(await fetchText(file.collateralUrl)),
              trustedRoots: [createTrustedRoot({ name: 'devnet', pem: file.rootCa })],
              now: new Date(),
            })
            const e = r.evaluation
            ctx.verification = {
              isAgent: e.isAgent,
              score: e.score,
              holds: e.holds,
              breakdown: e.breakdown.map((b) => ({ factor: b.factor, points: b.points, max: b.max, why: b.why })),
              reasons: r.reasons.map((x) => ({ code: x.code, message: x.message })),
              failures: e.failures,
            }
            task.title = `verify: identity function ${e.isAgent ? 'holds' : 'FAILS'}, security score ${e.score}/100`
          },
        },
      ],
      json,
    ).run(ctx)

    const t = need(up.target)
    const v = need(ctx.verification)
    const demoted = need(ctx.demoted)
    const treasury = need(ctx.treasury)
    return {
      ok: v.isAgent && demoted.refused && treasury.intact,
      data: {
        key: mode,
        chainId: file.chainId,
        appId: need(ctx.appId),
        composeHashes: need(ctx.composeHashes),
        wild: {
          agentId: String(w.agentId),
          wallet: w.wallet,
          url: w.url,
          pid: w.pid,
          dataDir: w.dataDir,
          memories: need(ctx.memories),
          committed: need(ctx.committed),
          treasuryWei: String(need(ctx.treasuryBefore)),
          kept: keep,
        },
        decision: need(up.decision),
        target: { cvmId: t.id ?? '', url: t.url, wallet: t.wallet ?? '' },
        uplift: {
          sessionId: up.status?.sessionId ?? '',
          transactionHash: result.transactionHash,
          stateRoot: result.stateRoot,
          seq: result.seq,
          journal: join(w.dataDir, 'uplift-source.db'),
          steps: (up.status?.steps ?? []).map((e) => e.step),
        },
        handshake: need(ctx.handshake),
        chain: need(ctx.chain),
        demoted,
        treasury,
        verification: v,
      },
    }
  } finally {
    // Stopped on every path unless --keep (a failed run does not leave a stray agent behind).
    if (!keep) await ctx.wild?.stop()
  }
}

export function render(result: CommandResult): string {
  if ((result.data as { demo?: string }).demo === 'failover') return renderFailover(result)
  const d = result.data as DemoOutput
  const v = d.verification
  const c = d.chain
  const kms = v.breakdown.find((b) => b.factor === 'kmsProvenance')
  return [
    `${result.ok ? '✓' : '✗'} agent ${d.wild.agentId} uplifted from the wild (${d.wild.url}) into ${d.target.cvmId} (--key ${d.key})`,
    '',
    `Step 0 (decide), the agent's decision table (expected value of moving into a TEE):`,
    d.decision.table,
    '',
    `Step 4 (handshake), epoch ${d.handshake.epoch}, nonce ${d.handshake.nonce}, ${leaves(d.handshake.leafIndexes.length)}${d.handshake.leafIndexes.length ? ` (${d.handshake.leafIndexes.join(', ')})` : ''}:`,
    ...d.handshake.checks.map((x) => `  ${x.ok ? '✓' : '✗'} ${x.check}`),
    '',
    'Step 5 (handover), on-chain (RegentSuccession, the handover transaction):',
    `  events        ${c.events.join(', ')}`,
    ...(c.uplift ? [`  Uplift        agent ${c.uplift.agentId}, oldHost ${c.uplift.oldHost}, newRA ${c.uplift.newRA}`] : []),
    ...(c.succession
      ? [`  Succession    ${c.succession.oldKey} → ${c.succession.newKey} (next epoch ${c.succession.nextEpoch}; the old key is retired)`]
      : []),
    `  epoch         ${c.before.epoch} → ${c.after.epoch}`,
    `  signer        ${c.before.signer} → ${c.after.signer}${c.sameWallet ? ' (same address)' : ' (new key)'}`,
    `  host          ${c.before.host} → ${c.after.host}`,
    `  state         ${c.after.stateRoot} (seq ${c.after.stateSeq})`,
    `  transaction   ${d.uplift.transactionHash}`,
    '',
    `Demoted source: GET /health → role ${d.demoted.role}, forwarding to ${d.demoted.forwardingTo}; POST /admin/withdraw → ${d.demoted.withdraw.status} ${d.demoted.withdraw.code}${d.demoted.refused ? ' (refused)' : ' (NOT refused)'}`,
    `Treasury: ${eth(BigInt(d.treasury.afterWei))} (${d.treasury.intact ? 'intact' : `CHANGED from ${eth(BigInt(d.treasury.beforeWei))}`})`,
    '',
    `Outside verifier (verifyInstance on ${d.target.url}):`,
    `  identity function: (a) key ${mark(v.holds.a)}  (b) latest state ${mark(v.holds.b)}  (c) approved code ${mark(v.holds.c)}  (d) canonical ${mark(v.holds.d)}  → ${v.isAgent ? 'it is the agent' : 'NOT the agent'}`,
    `  security score: ${v.score}/100`,
    ...v.breakdown.map((b) => `    ${b.factor.padEnd(20)} ${String(b.points).padStart(3)} / ${String(b.max).padEnd(3)} ${b.why}`),
    ...v.failures.map((f) => `  ✗ ${f}`),
    ...v.reasons.map((r) => `  note ${r.code}: ${r.message}`),
    ...(d.key === 'import' && kms && kms.points === 0
      ? ['  (no KMS-provenance points: the key was imported from the wild, so no KMS derived it for this CVM)']
      : []),
    '',
    d.wild.kept
      ? `The wild agent keeps running (demoted, forwarding): ${d.wild.url}, pid ${d.wild.pid}; stop it with \`kill ${d.wild.pid}\`.`
      : `The wild agent (pid ${d.wild.pid}) was stopped (SIGTERM). Its source journal: ${d.uplift.journal} (\`regent uplift status --journal <file>\`).`,
  ].join('\n')
}

/** The handshake as the agent journaled it; the checks passed because the source posts the handover only after them. */
function handshakeOf(
  h: { epoch: string; nonce: string; leafIndexes: string[] } | null,
  up: UpliftOutput,
  result: NonNullable<UpliftOutput['result']>,
): DemoOutput['handshake'] {
  const passed = up.state === 'done' && (up.status?.steps ?? []).some((s) => s.step === 'handover-tx')
  const picked = h?.leafIndexes ?? []
  return {
    epoch: h?.epoch ?? '',
    nonce: h?.nonce ?? '',
    leafIndexes: [...picked],
    checks: [
      { check: `(i) signature over the fresh nonce by the new signer ${result.signer}`, ok: passed && h !== null },
      {
        check: `(ii) ${count(picked.length, 'Merkle-leaf challenge', 'Merkle-leaf challenges')} (random chunks of the checkpoint, at most 8) with proofs against the state root ${short(result.stateRoot)}`,
        ok: passed && h !== null,
      },
      { check: '(iii) a fresh RA quote over the nonce, verified against the devnet root and RegentAppAuth', ok: passed && h !== null },
    ],
  }
}

async function approve(file: DevnetFile.DevnetFile, compose: Uint8Array, salt: Hex) {
  return Host.call<{ appId: Hex; composeHash: Hex }>(file, '/v1/apps', { compose: Buffer.from(compose).toString('base64'), salt })
}

/**
 * The example agent as a process in the wild on a free loopback port, its data under `<devnet dir>/demo/`. Resolves
 * once it serves (its `ready` line; with `keep`, a detached process that outlives the demo, once its /health answers).
 */
async function startWild(
  file: DevnetFile.DevnetFile,
  params: { appId: Hex; operator: Address; devnetDir: string; keep: boolean },
): Promise<Wild> {
  const port = await freePort()
  const name = `demo-wild-${randomBytes(4).toString('hex')}`
  const dataDir = resolve(params.devnetDir, 'demo', name)
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGENT_'))) as Record<string, string>
  const env: Record<string, string> = {
    ...inherited,
    PORT: String(port),
    REGENT_RUNTIME: 'wild',
    REGENT_AGENT_NAME: name,
    REGENT_APP_ID: params.appId,
    REGENT_KEYSTORE_PASSWORD: randomBytes(24).toString('base64url'),
    REGENT_OPERATOR: params.operator,
    REGENT_RPC_URL: file.rpcUrl,
    REGENT_CHAIN_ID: String(file.chainId),
    REGENT_CONTRACTS: JSON.stringify(file.contracts),
    REGENT_FAUCET_URL: `${file.hostUrl}/v1/faucet`,
    REGENT_DATA_DIR: dataDir,
    REGENT_COLLATERAL_URL: file.collateralUrl,
    REGENT_TRUSTED_ROOT_PEM: file.rootCa,
  }
  const url = `http://127.0.0.1:${port}`
  const entry = ExampleAgent.entry
  const failed = (why: string, output: string) =>
    new CliError(
      'wild.boot_failed',
      `the agent in the wild did not start: ${why}${output ? `\n${output.trim().split('\n').slice(-15).join('\n')}` : ''}`,
      {
        hint: `its data directory: ${dataDir}`,
        docs,
      },
    )

  if (params.keep) {
    // Detached, its output in a log file: it must outlive this command.
    const log = openSync(join(dataDir, 'agent.log'), 'a', 0o600)
    const child = spawn(process.execPath, [entry], { cwd: agentDir, env, detached: true, stdio: ['ignore', log, log] })
    closeSync(log)
    child.unref()
    let exited: number | null | undefined
    child.once('exit', (code) => {
      exited = code
    })
    const logText = () => readFile(join(dataDir, 'agent.log'), 'utf8').catch(() => '')
    const deadline = Date.now() + readyTimeoutMs
    for (;;) {
      const h = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) }).then(
        (r) => (r.ok ? (r.json() as Promise<{ agentId?: string; wallet?: string }>) : undefined),
        () => undefined,
      )
      if (h?.agentId && h.wallet)
        return { url, dataDir, pid: child.pid ?? -1, agentId: BigInt(h.agentId), wallet: h.wallet, stop: async () => {} }
      if (exited !== undefined) throw failed(`it exited (${exited})`, await logText())
      if (Date.now() > deadline) {
        child.kill('SIGTERM') // a detached agent that never answered is not left behind
        throw failed(`no answer within ${readyTimeoutMs / 1000} s`, await logText())
      }
      await new Promise((r) => setTimeout(r, 200)) // the poll interval of its /health (it registers and enrolls on boot)
    }
  }

  const p: Guarded = spawnGuarded(process.execPath, [entry], { cwd: agentDir, env })
  // Its output also goes to agent.log in its data directory (no secrets: it prints its address, never its key).
  const log = createWriteStream(join(dataDir, 'agent.log'), { flags: 'a', mode: 0o600 })
  p.child.stdout.pipe(log)
  p.child.stderr.pipe(log)
  let output = '' // the end of its output, for an error
  const keepTail = (text: string) => {
    output = (output + text).slice(-16_384)
  }
  p.child.stderr.on('data', (c: Buffer) => keepTail(c.toString('utf8')))
  const ready = await new Promise<string>((resolveReady, reject) => {
    let partial = ''
    const timer = setTimeout(() => reject(failed(`no ready line within ${readyTimeoutMs / 1000} s`, output)), readyTimeoutMs)
    p.child.stdout.on('data', (c: Buffer) => {
      const text = c.toString('utf8')
      keepTail(text)
      const parts = (partial + text).split('\n')
      partial = parts.pop() ?? ''
      const line = parts.find((l) => l.startsWith('ready '))
      if (line === undefined) return
      clearTimeout(timer)
      resolveReady(line)
    })
    void p.exited.then((code) => {
      clearTimeout(timer)
      reject(failed(`it exited (${code})`, output))
    })
  }).catch(async (error: unknown) => {
    await p.stop()
    throw error
  })
  const r = JSON.parse(ready.slice('ready '.length)) as { agentId: string; wallet: string }
  return { url, dataDir, pid: p.pid, agentId: BigInt(r.agentId), wallet: r.wallet, stop: () => p.stop().then(() => {}) }
}

/** JSON on the agent's public API; a non-2xx answer fails the step. */
async function agentCall<T>(url: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(60_000),
  })
  const json = (await res.json().catch(() => ({}))) as T & { error?: { code?: string; message?: string } }
  if (!res.ok)
    throw new CliError('wild.request_failed', `${path} answered ${res.status}: ${json.error?.code ?? ''} ${json.error?.message ?? ''}`, {
      docs,
    })
  return json
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  await new Promise((r) => server.close(r))
  return port
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
  if (!res?.ok) throw new CliError('devnet.unreachable', `${url} did not answer`, { hint: 'check `regent dev status`', docs })
  return res.text()
}

function need<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('a demo step ran before the step it depends on')
  return value
}

const mark = (ok: boolean) => (ok ? '✓' : '✗')
const short = (hex: string) => (hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex)
