/**
 * The self-uplift protocol against adversarial targets, rollback and a fencing race (issue 7 "Properties that must
 * hold") on a real devnet (anvil, one KMS node, TDX host, example-agent CVMs in target mode, the source in-process).
 * Each refusal asserts its exact code and what did not happen. Refusals at the target's attestation: the source
 * journal stops before any key or state step, the target's journal shows no envelope, RegentSuccession is unchanged.
 * Refusals that can only come later by design (the handshake proves the loaded state; the target checks the seq when
 * it loads): no handover, the source stays canonical, the target is not canonical.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Collateral, intelSgxRootCa } from '@regent-tee/attest'
import { agentTreasuryAbi, regentAppAuthAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import { type CvmRecord, type Devnet, DevnetTd, startDevnet } from '@regent-tee/devnet'
import { Checkpoint, PrivateKey, quoteId } from '@regent-tee/sdk'
import { assertCanonical, commitState, NotCanonicalError, readCanonical, signSuccessionCertificate, withdraw } from '@regent-tee/sdk/chain'
import { Journal, Source, UpliftRefusedError } from '@regent-tee/sdk/uplift'
import Database from 'better-sqlite3'
import { createPublicClient, createWalletClient, type Hex, http, keccak256, toBytes, zeroAddress } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  devnetChain,
  devnetSettings,
  enrollWildAgent,
  exampleAgentApp,
  launchTarget as launchUpliftTarget,
  wildCompose,
} from './uplift-fixture.js'

const salt = keccak256(toBytes('regent uplift adversarial e2e'))
/** anvil's public test mnemonic; account 1 is the devnet's app developer (owner of the apps approveApp registers). */
const developer = mnemonicToAccount('test test test test test test test test test test test junk', { addressIndex: 1 })
let devnet: Devnet
let compose: Uint8Array
let composeHash: Hex
let appId: Hex
let dir: string
const servers: Server[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-uplift-adv-'))
  devnet = await startDevnet({ dir, kmsNodes: 1 })
  compose = (await exampleAgentApp(devnet.host.bundles.dir, devnetSettings(devnet, undefined))).compose
  ;({ appId, composeHash } = await devnet.approveApp({ compose, salt }))
  await devnet.approveApp({ compose: wildCompose, salt })
})
afterAll(async () => {
  for (const s of servers) s.close()
  await devnet?.stop()
})

const chain = () => devnetChain(devnet)
const publicClient = () => createPublicClient({ chain: chain(), transport: http(devnet.file.rpcUrl) })
const contracts = () => devnet.file.contracts
const trust = () => ({ collateral: Collateral.parse(devnet.host.collateral), trustedRoots: [devnet.host.trustedRoot] })

/**
 * An agent in the wild, enrolled with `app`, state committed at seq 1, treasury funded. With `learned`, the memory
 * has grown since the commit (the uplift then commits seq 2 first); without, the chain already has its final root.
 */
async function wildAgent(name: string, options: { app?: Hex; learned?: boolean } = {}) {
  const { key, account, wallet, agentId } = await enrollWildAgent(devnet, { name, appId: options.app ?? appId })
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  for (let i = 1; i <= 30; i++)
    db.prepare('INSERT INTO memory (id, key, value) VALUES (?, ?, ?)').run(i, `fact${i}`, `value ${i} `.repeat(30))
  const committed = Checkpoint.exportState(db, { chunkSize: 512 })
  await commitState(wallet, { contracts: contracts(), agentId, stateRoot: committed.stateRoot, seq: 1n })
  if (options.learned !== false)
    db.prepare('INSERT INTO memory (id, key, value) VALUES (?, ?, ?)').run(31, 'latest', 'learned before the uplift')
  const client = publicClient()
  await client.waitForTransactionReceipt({
    hash: await wallet.writeContract({
      address: contracts().treasury,
      abi: agentTreasuryAbi,
      functionName: 'deposit',
      args: [agentId],
      value: 10n ** 18n,
    }),
  })
  const before = await readCanonical(client, { contracts: contracts(), agentId })
  return { key, account, wallet, agentId, db, client, before }
}
type Wild = Awaited<ReturnType<typeof wildAgent>>

const launchTarget = (options: { appId?: Hex } = {}) => launchUpliftTarget(devnet, { compose, appId: options.appId ?? appId })

const status = async (url: string) =>
  (await (await fetch(`${url}/uplift/v1/status`)).json()) as {
    steps: string[]
    wallet: Hex
    agentWallet: Hex | null
    stateRoot: Hex | null
    canonical: boolean
  }
const journal = async (key = 1) =>
  Journal.open({ path: join(await mkdtemp(join(dir, 'src-')), 'uplift-source.db'), role: 'source', key: new Uint8Array(32).fill(key) })

type Answer = { status: number; body: unknown }
/**
 * A proxy in front of a target: `before` may answer instead of the target (nothing forwarded); `after` sees the
 * target's answer and may replace it or hold it (by resolving later).
 */
async function proxy(
  targetUrl: string,
  hooks: { before?: (path: string) => Answer | undefined; after?: (path: string, answer: Answer) => Promise<Answer> },
): Promise<string> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const early = hooks.before?.(req.url ?? '/')
    if (early) return void res.writeHead(early.status, { 'content-type': 'application/json' }).end(JSON.stringify(early.body))
    const upstream = await fetch(`${targetUrl}${req.url}`, {
      method: req.method ?? 'GET',
      headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
      ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
    })
    const answer = { status: upstream.status, body: (await upstream.json()) as unknown }
    const out = hooks.after ? await hooks.after(req.url ?? '/', answer) : answer
    res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body))
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const importParameters = (w: Wild, targetUrl: string) => ({
  mode: 'import' as const,
  agentId: w.agentId,
  chainId: devnet.file.chainId,
  contracts: contracts(),
  wallet: w.wallet,
  privateKey: new PrivateKey(Buffer.from(w.key.slice(2), 'hex')),
  client: w.client,
  targetUrl,
  checkpoint: () => Checkpoint.exportState(w.db, { chunkSize: 512 }),
  ...trust(),
})

/** Nothing left the source: its journal stops at the hello, the target saw no envelope, the chain is unchanged. */
async function expectNothingLeft(w: Wild, j: Awaited<ReturnType<typeof journal>>, targetUrl: string) {
  expect(j.entries().map((e) => e.step)).toEqual(['source-hello', 'target-hello'])
  expect(j.getSecret('checkpoint')).toBeUndefined()
  const t = await status(targetUrl)
  expect([t.steps, t.agentWallet, t.stateRoot, t.canonical]).toEqual([['source-hello', 'target-hello'], null, null, false])
  expect(await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })).toEqual(w.before)
}

describe('uplift: adversarial targets are refused before any key or state leaves', () => {
  test.each([
    ['compose hash', 'ComposeHash', 'target.measurement'],
    ['OS image', 'OsImage', 'os_image.measurement'],
  ] as const)('behavior: a target whose %s is still in the app timelock is refused (%s)', async (what, kind, code) => {
    // The agent's own app: the target boots while its measurement is active (the KMS releases its keys), then the app
    // owner raises the timelock and lists it again: it is now pending, which is what an approval in its timelock is.
    const app = await devnet.approveApp({ compose, salt: keccak256(toBytes(`regent uplift adversarial e2e: timelocked ${kind}`)) })
    await devnet.approveApp({ compose: wildCompose, salt: keccak256(toBytes(`regent uplift adversarial e2e: timelocked ${kind}`)) })
    const cvm = await launchTarget({ appId: app.appId })
    const image = DevnetTd.published(DevnetTd.defaultImage)
    const measurement = kind === 'ComposeHash' ? app.composeHash : image.osImageHash
    const owner = createWalletClient({ account: developer, chain: chain(), transport: http(devnet.file.rpcUrl) })
    const client = publicClient()
    for (const [functionName, args] of [
      [`remove${kind}`, [app.appId, measurement]],
      ['setTimelock', [app.appId, 3600n]],
      [`add${kind}`, kind === 'ComposeHash' ? [app.appId, measurement] : [app.appId, measurement, image.measurements]],
    ] as const)
      await client.waitForTransactionReceipt({
        hash: await owner.writeContract({ address: contracts().appAuth, abi: regentAppAuthAbi, functionName, args } as never),
      })
    const read = (functionName: string) =>
      client.readContract({ address: contracts().appAuth, abi: regentAppAuthAbi, functionName, args: [app.appId, measurement] } as never)
    const { timestamp } = await client.getBlock()
    expect(await read(`is${kind}Approved`)).toBe(false)
    expect(await read(`${kind[0]?.toLowerCase()}${kind.slice(1)}ActivatesAt`)).toBeGreaterThan(timestamp)

    const w = await wildAgent(`timelock-${kind}-bot`, { app: app.appId })
    const j = await journal()
    const run = Source.uplift({ ...importParameters(w, cvm.appUrl), journal: j })
    await expect(run).rejects.toThrow(UpliftRefusedError)
    await expect(run).rejects.toMatchObject({ code })
    await expect(run).rejects.toMatchObject({
      reasons: [expect.objectContaining({ message: expect.stringMatching(new RegExp(`${what}.*timelock`)) })],
    })
    await expectNothingLeft(w, j, cvm.appUrl)
    j.close()
  })

  test('behavior: a devnet quote when only the Intel root is trusted is refused (target.untrusted_root)', async () => {
    const w = await wildAgent('intel-only-bot')
    const cvm = await launchTarget()
    const j = await journal()
    const run = Source.uplift({ ...importParameters(w, cvm.appUrl), trustedRoots: [intelSgxRootCa], journal: j })
    await expect(run).rejects.toThrow(UpliftRefusedError)
    await expect(run).rejects.toMatchObject({ code: 'target.untrusted_root' })
    await expectNothingLeft(w, j, cvm.appUrl)
    j.close()
  })

  test('behavior: a quote replayed from another session at the hello is refused (target.stale_quote)', async () => {
    // A host in the middle answers a new session with a real TargetHello (quote, event log, key, wallet, URL) from an
    // earlier session, echoing the new session's id, nonce and transcript so that only the quote is stale.
    const earlier = await wildAgent('earlier-bot')
    const old = await launchTarget()
    const j0 = await journal()
    await expect(
      Source.uplift({ ...importParameters(earlier, old.appUrl), trustedRoots: [intelSgxRootCa], journal: j0 }),
    ).rejects.toMatchObject({
      code: 'target.untrusted_root',
    })
    const replayed = j0.get<Record<string, unknown>>('target-hello') as Record<string, unknown>
    j0.close()

    const w = await wildAgent('replay-bot')
    const cvm = await launchTarget()
    const url = await proxy(cvm.appUrl, {
      after: async (path, answer) => {
        if (path !== '/uplift/v1/hello' || answer.status !== 200) return answer
        const { quote, eventLog, ephemeralPublicKey, wallet, targetUrl } = replayed
        return { status: 200, body: { ...(answer.body as object), quote, eventLog, ephemeralPublicKey, wallet, targetUrl } }
      },
    })
    const j = await journal()
    const run = Source.uplift({ ...importParameters(w, url), journal: j })
    await expect(run).rejects.toThrow(UpliftRefusedError)
    await expect(run).rejects.toMatchObject({
      code: 'target.stale_quote',
      reasons: [expect.objectContaining({ code: 'target.stale_quote' })],
    })
    await expectNothingLeft(w, j, cvm.appUrl)
    j.close()
  })

  test('behavior: a quote bound to another key (the host substitutes the ephemeral key) is refused (target.key_binding)', async () => {
    const w = await wildAgent('swap-bot')
    const cvm = await launchTarget()
    const mitm = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x as string
    const url = await proxy(cvm.appUrl, {
      after: async (path, answer) => {
        if (path !== '/uplift/v1/hello' || answer.status !== 200) return answer
        return {
          status: 200,
          body: { ...(answer.body as object), ephemeralPublicKey: `0x${Buffer.from(mitm, 'base64url').toString('hex')}` },
        }
      },
    })
    const j = await journal()
    const run = Source.uplift({ ...importParameters(w, url), journal: j })
    await expect(run).rejects.toThrow(UpliftRefusedError)
    await expect(run).rejects.toMatchObject({
      code: 'target.key_binding',
      reasons: [expect.objectContaining({ code: 'target.key_binding' })],
    })
    await expectNothingLeft(w, j, cvm.appUrl)
    j.close()
  })

  test('behavior: the host staleQuote fault (it replays the first quote of the CVM) is refused at the handshake (handshake.stale_quote)', async () => {
    // A fresh target's first quote is its hello's, so the devnet fault can only replay it from the second quote on:
    // the handshake's. Key and state reached the (genuine, attested) target; the handover did not happen.
    const w = await wildAgent('stale-quote-bot')
    const cvm = await launchTarget()
    const fault = await fetch(`${devnet.file.hostUrl}/v1/cvms/${cvm.cvmId}/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ staleQuote: true }),
    })
    expect(fault.ok).toBe(true)
    const j = await journal()
    const run = Source.uplift({ ...importParameters(w, cvm.appUrl), journal: j })
    await expect(run).rejects.toThrow(UpliftRefusedError)
    await expect(run).rejects.toMatchObject({ code: 'handshake.stale_quote' })
    expect(j.entries().map((e) => e.step)).not.toContain('handover-tx')
    const after = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    expect([after.epoch, after.instance]).toEqual([w.before.epoch, w.before.instance])
    expect((await status(cvm.appUrl)).canonical).toBe(false)
    j.close()
  })

  test('behavior: a target that answers the Merkle challenges wrongly is refused before the handover (handshake.proof)', async () => {
    // The handshake is after the key and state steps by design (it proves the loaded state), so this target received
    // them; what must not happen is the handover: no Uplift, the source stays canonical, the target is not canonical.
    const w = await wildAgent('merkle-liar-bot')
    const cvm = await launchTarget()
    const url = await proxy(cvm.appUrl, {
      after: async (path, answer) => {
        if (path !== '/uplift/v1/challenge' || answer.status !== 200) return answer
        const [first] = (answer.body as { leaves: { siblings: Hex[] }[] }).leaves
        if (!first?.siblings[0]) throw new Error('the answer has no sibling to alter')
        first.siblings[0] = `0x${(BigInt(first.siblings[0]) ^ 1n).toString(16).padStart(64, '0')}`
        return answer
      },
    })
    const j = await journal()
    const run = Source.uplift({ ...importParameters(w, url), journal: j })
    await expect(run).rejects.toThrow(UpliftRefusedError)
    await expect(run).rejects.toMatchObject({ code: 'handshake.proof' })
    expect(j.entries().map((e) => e.step)).not.toContain('handover-tx')
    const after = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    expect([after.epoch, after.instance]).toEqual([w.before.epoch, w.before.instance])
    expect((await status(cvm.appUrl)).canonical).toBe(false)
    j.close()
  })
})

describe('uplift: anti-rollback', () => {
  test('behavior: a checkpoint whose seq is not above the on-chain seq cannot become canonical (state.stale_seq)', async () => {
    // The source froze and committed checkpoint seq 2, then lost the link before the target loaded it; meanwhile the
    // agent committed seq 3. The resumed session resends the journaled (now stale) seq-2 offer: the target refuses it.
    const w = await wildAgent('rollback-bot')
    const cvm = await launchTarget()
    let cut = true
    const url = await proxy(cvm.appUrl, {
      before: (path) => {
        if (!cut || path !== '/uplift/v1/state/stream') return undefined
        cut = false
        return { status: 503, body: { error: { code: 'link.down', message: 'cut' } } }
      },
    })
    const path = join(await mkdtemp(join(dir, 'src-')), 'uplift-source.db')
    const key = new Uint8Array(32).fill(3)
    const first = Journal.open({ path, role: 'source', key })
    await expect(Source.uplift({ ...importParameters(w, url), journal: first })).rejects.toMatchObject({ code: 'link.down' })
    expect(first.list().map((e) => e.step)).toEqual(['source-hello', 'target-hello', 'key-envelope', 'commit', 'state-offer'])
    first.close()
    expect((await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })).stateSeq).toBe(2n)

    w.db.prepare('INSERT INTO memory (id, key, value) VALUES (?, ?, ?)').run(99, 'newer', 'committed while the link was down')
    const newer = Checkpoint.exportState(w.db, { chunkSize: 512 })
    await commitState(w.wallet, { contracts: contracts(), agentId: w.agentId, stateRoot: newer.stateRoot, seq: 3n })

    const resumed = Journal.open({ path, role: 'source', key })
    const run = Source.uplift({ ...importParameters(w, url), journal: resumed })
    await expect(run).rejects.toThrow(UpliftRefusedError)
    await expect(run).rejects.toMatchObject({ code: 'state.stale_seq' })
    expect(resumed.list().map((e) => e.step)).not.toContain('challenge')
    resumed.close()
    const t = await status(cvm.appUrl)
    expect([t.steps.includes('state-loaded'), t.stateRoot, t.canonical]).toEqual([false, null, false])
    const after = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    expect([after.epoch, after.instance.signer, after.stateRoot, after.stateSeq]).toEqual([
      w.before.epoch,
      w.account.address,
      newer.stateRoot,
      3n,
    ])
  })
})

/**
 * Two sessions of one source toward two targets: both pass the whole handshake while the source holds epoch 1; the
 * targets' challenge answers are held until both are in, then released one after the other, so both handovers are
 * sent for epoch 1. The epoch is the fencing token: the second must be refused by RegentSuccession.
 */
async function race(mode: 'import' | 'rotate', name: string) {
  const w = await wildAgent(name, { learned: false }) // the chain already has the final root: no commit tx to race
  const [t1, t2] = (await Promise.all([launchTarget(), launchTarget()])) as [CvmRecord, CvmRecord]
  let answered = 0
  let bothAnswered: () => void = () => undefined
  const barrier = new Promise<void>((r) => {
    bothAnswered = r
  })
  const gates = [0, 1].map(() => {
    let open: () => void = () => undefined
    const opened = new Promise<void>((r) => {
      open = r
    })
    return { opened, open: () => open() }
  })
  const hold = (i: number) => async (path: string, answer: Answer) => {
    if (path !== '/uplift/v1/challenge') return answer
    if (++answered === 2) bothAnswered()
    await gates[i]?.opened
    return answer
  }
  const urls = [await proxy(t1.appUrl, { after: hold(0) }), await proxy(t2.appUrl, { after: hold(1) })]
  const js = [await journal(4), await journal(5)] as const
  const run = (i: 0 | 1) => {
    const { privateKey, ...common } = importParameters(w, urls[i] as string)
    return Source.uplift({ ...common, mode, ...(mode === 'import' ? { privateKey } : {}), journal: js[i] })
  }
  const first = run(0)
  const second = run(1)
  second.catch(() => undefined) // asserted below, once the first has won
  await barrier
  gates[0]?.open()
  const won = await first
  gates[1]?.open()
  const lost = await second.then(
    () => undefined,
    (error: unknown) => error,
  )
  const [s1, s2] = [await status(t1.appUrl), await status(t2.appUrl)]
  const after = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })

  // Exactly one won: the chain names the first target's instance (its quote, its URL) at epoch + 1.
  expect([after.epoch, after.instance.signer, after.instance.quoteHash, after.instance.host]).toEqual([
    w.before.epoch + 1n,
    won.signer,
    won.target.quoteHash,
    t1.appUrl,
  ])
  const loserHello = js[1].get<{ quote: Hex }>('target-hello') as { quote: Hex }
  expect(after.instance.quoteHash).not.toBe(quoteId(loserHello.quote))
  expect([s1.canonical, s2.canonical]).toEqual([true, false])
  expect(s2.steps).toContain('challenge-answer')
  expect(s2.steps).not.toContain('handover')
  expect(js[1].entries().map((e) => e.step)).not.toContain('handover-tx')

  // The loser refuses the winner's Handover: RegentSuccession does not name it (handover.not_canonical).
  const refused = await fetch(`${t2.appUrl}/uplift/v1/handover`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(js[0].get('handover')),
  })
  expect([refused.status, ((await refused.json()) as { error: { code: string } }).error.code]).toEqual([409, 'handover.not_canonical'])
  expect((await status(t2.appUrl)).canonical).toBe(false)

  const balance = await w.client.readContract({
    address: contracts().treasury,
    abi: agentTreasuryAbi,
    functionName: 'balanceOf',
    args: [w.agentId, zeroAddress],
  })
  expect(balance).toBe(10n ** 18n)
  for (const j of js) j.close()
  return { w, s1, s2, after, lost }
}

describe('uplift: fencing', () => {
  test('behavior: option B — two targets race to become canonical, exactly one wins (StaleCertificate); the demoted source is fenced', async () => {
    const { w, s1, s2, after, lost } = await race('rotate', 'race-b-bot')
    expect(lost).toMatchObject({ name: 'Chain.ContractRevertedError', functionName: 'rotate', errorName: 'StaleCertificate' })
    expect(after.instance.signer).toBe(s1.wallet)
    // Both targets run the agent's app and the KMS derives one wallet per app: the loser holds the winner's key, so
    // the chain (which fences by signer and epoch) cannot tell them apart; the loser's fence is its own role.
    expect(s2.wallet).toBe(s1.wallet)

    // The demoted source's key is retired: no state commit, no withdrawal, no succession certificate.
    await expect(
      commitState(w.wallet, { contracts: contracts(), agentId: w.agentId, stateRoot: `0x${'22'.repeat(32)}`, seq: 9n }),
    ).rejects.toThrow(NotCanonicalError)
    await expect(withdraw(w.wallet, { contracts: contracts(), agentId: w.agentId, to: w.account.address, amount: 1n })).rejects.toThrow(
      NotCanonicalError,
    )
    await expect(
      signSuccessionCertificate(w.wallet, {
        contracts: contracts(),
        agentId: w.agentId,
        newKey: w.account.address,
        newComposeHash: composeHash,
        quoteHash: after.instance.quoteHash,
        deadline: 2n ** 40n,
      }),
    ).rejects.toThrow(NotCanonicalError)
    await expect(
      w.client.simulateContract({
        account: w.account.address,
        address: contracts().succession,
        abi: regentSuccessionAbi,
        functionName: 'commitState',
        args: [w.agentId, after.epoch, `0x${'11'.repeat(32)}`, 9n],
      }),
    ).rejects.toThrow(/NotCanonicalSigner/)
  })

  test('behavior: option A — two targets race to become canonical, exactly one wins (StaleEpoch); the old epoch is fenced', async () => {
    const { w, s2, after, lost } = await race('import', 'race-a-bot')
    expect(lost).toMatchObject({ name: 'Chain.ContractRevertedError', functionName: 'uplift', errorName: 'StaleEpoch' })
    expect(after.instance.signer).toBe(w.account.address)
    // Option A moves the agent's key: the loser holds it too (sealed); only the epoch and its role fence it.
    expect(s2.agentWallet).toBe(w.account.address)
    const held = w.before.epoch
    await expect(
      assertCanonical(w.client, { contracts: contracts(), agentId: w.agentId, signer: w.account.address, epoch: held }),
    ).rejects.toThrow(NotCanonicalError)
    for (const [functionName, args] of [
      ['commitState', [w.agentId, held, `0x${'11'.repeat(32)}`, 9n]],
      ['uplift', [w.agentId, held, after.instance]],
    ] as const)
      await expect(
        w.client.simulateContract({
          account: w.account.address,
          address: contracts().succession,
          abi: regentSuccessionAbi,
          functionName,
          args,
        } as never),
      ).rejects.toThrow(/StaleEpoch/)
    await expect(
      w.client.simulateContract({
        account: w.account.address,
        address: contracts().treasury,
        abi: agentTreasuryAbi,
        functionName: 'withdraw',
        args: [w.agentId, held, w.account.address, 1n],
      }),
    ).rejects.toThrow()
  })
})
