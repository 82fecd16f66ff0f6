/**
 * The self-uplift protocol end to end (DESIGN.md §10, issue 7) on a real devnet (anvil, one KMS node, TDX host):
 * an agent in the wild (its own key, registered in ERC-8004 and owning its identity NFT, enrolled with an app that
 * approves both its wild compose hash and the example agent's, a funded treasury and a memory DB) uplifts into a
 * devnet CVM running the example agent in target mode. Option A (import) and option B (rotate), and an adversarial
 * target refused before any key or state leaves.
 */
import { mkdtemp } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Collateral } from '@regent-tee/attest'
import { agentTreasuryAbi, identityRegistryAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import { type CvmRecord, type Devnet, startDevnet } from '@regent-tee/devnet'
import { Checkpoint, PrivateKey } from '@regent-tee/sdk'
import {
  assertCanonical,
  commitState,
  fromAgentUri,
  NotCanonicalError,
  readCanonical,
  signSuccessionCertificate,
  withdraw,
} from '@regent-tee/sdk/chain'
import { Journal, Source, UpliftRefusedError } from '@regent-tee/sdk/uplift'
import Database from 'better-sqlite3'
import { createPublicClient, type Hex, http, keccak256, parseEventLogs, toBytes, zeroAddress } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  devnetChain,
  devnetSettings,
  enrollWildAgent,
  exampleAgentApp,
  launchTarget as launchUpliftTarget,
  wildCompose,
} from './uplift-fixture.js'

const salt = keccak256(toBytes('regent uplift e2e'))
let devnet: Devnet
let compose: Uint8Array
let appId: Hex
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-uplift-'))
  devnet = await startDevnet({ dir, kmsNodes: 1 })
  compose = (await exampleAgentApp(devnet.host.bundles.dir, devnetSettings(devnet, undefined))).compose
  ;({ appId } = await devnet.approveApp({ compose, salt }))
  const wild = await devnet.approveApp({ compose: wildCompose, salt })
  expect(wild.appId).toBe(appId)
})
afterAll(async () => {
  await devnet?.stop()
})

const chain = () => devnetChain(devnet)
const publicClient = () => createPublicClient({ chain: chain(), transport: http(devnet.file.rpcUrl) })
const contracts = () => devnet.file.contracts
const trust = () => ({ collateral: Collateral.parse(devnet.host.collateral), trustedRoots: [devnet.host.trustedRoot] })

/** An agent in the wild: its own key, self-registered (it owns the NFT), enrolled, state committed, treasury funded. */
async function wildAgent(name: string) {
  const { key, account, wallet, agentId } = await enrollWildAgent(devnet, { name, appId })
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  for (let i = 1; i <= 30; i++)
    db.prepare('INSERT INTO memory (id, key, value) VALUES (?, ?, ?)').run(i, `fact${i}`, `value ${i} `.repeat(30))
  const committed = Checkpoint.exportState(db, { chunkSize: 512 })
  await commitState(wallet, { contracts: contracts(), agentId, stateRoot: committed.stateRoot, seq: 1n })
  // Learned more since the last commit: the uplift commits the final checkpoint (seq 2) before it moves it.
  db.prepare('INSERT INTO memory (id, key, value) VALUES (?, ?, ?)').run(31, 'latest', 'learned just before the uplift')
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
  return { key, account, wallet, agentId, db, client }
}

/** The agent's ETH in AgentTreasury. */
const treasuryBalance = (w: { client: ReturnType<typeof publicClient>; agentId: bigint }) =>
  w.client.readContract({ address: contracts().treasury, abi: agentTreasuryAbi, functionName: 'balanceOf', args: [w.agentId, zeroAddress] })

const launchTarget = (options: { compose?: Uint8Array; appId?: Hex } = {}) =>
  launchUpliftTarget(devnet, { compose: options.compose ?? compose, appId: options.appId ?? appId })

const status = async (cvm: CvmRecord) =>
  (await (await fetch(`${cvm.appUrl}/uplift/v1/status`)).json()) as {
    steps: string[]
    wallet: Hex
    agentWallet: Hex | null
    stateRoot: Hex | null
    canonical: boolean
  }
const journal = async () =>
  Journal.open({ path: join(await mkdtemp(join(dir, 'src-')), 'uplift-source.db'), role: 'source', key: new Uint8Array(32).fill(1) })

describe('uplift', () => {
  test('behavior: a checkpoint whose chunks exceed 512 KiB stops with state.chunk_size before it is journaled or committed', async () => {
    const w = await wildAgent('big-chunk-bot')
    const cvm = await launchTarget()
    const before = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    const j = await journal()
    const run = Source.uplift({
      mode: 'rotate',
      agentId: w.agentId,
      chainId: devnet.file.chainId,
      contracts: contracts(),
      wallet: w.wallet,
      client: w.client,
      targetUrl: cvm.appUrl,
      journal: j,
      checkpoint: () => Checkpoint.exportState(w.db, { chunkSize: 1024 * 1024 }),
      ...trust(),
    })
    await expect(run).rejects.toMatchObject({ code: 'state.chunk_size' })
    expect(j.getSecret('checkpoint')).toBeUndefined()
    expect(j.list().map((e) => e.step)).not.toContain('commit')
    expect(await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })).toEqual(before)
    expect((await status(cvm)).stateRoot).toBeNull()
    j.close()
  })

  test('default: option A (import) — same address, same state root, Uplift at epoch + 1, the old instance fenced', async () => {
    const w = await wildAgent('import-bot')
    const cvm = await launchTarget()
    const before = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    const expected = Checkpoint.exportState(w.db, { chunkSize: 512 })
    const j = await journal()
    const r = await Source.uplift({
      mode: 'import',
      agentId: w.agentId,
      chainId: devnet.file.chainId,
      contracts: contracts(),
      wallet: w.wallet,
      privateKey: new PrivateKey(Buffer.from(w.key.slice(2), 'hex')),
      client: w.client,
      targetUrl: cvm.appUrl,
      journal: j,
      checkpoint: () => Checkpoint.exportState(w.db, { chunkSize: 512 }),
      ...trust(),
    })
    expect(r.signer).toBe(w.account.address)
    expect(r.epoch).toBe(before.epoch + 1n)

    const after = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    expect([after.epoch, after.instance.signer, after.instance.host, after.stateRoot, after.stateSeq]).toEqual([
      before.epoch + 1n,
      w.account.address,
      cvm.appUrl,
      expected.stateRoot,
      2n,
    ])
    const receipt = await w.client.getTransactionReceipt({ hash: r.transactionHash })
    const [event] = parseEventLogs({ abi: regentSuccessionAbi, logs: receipt.logs, eventName: 'Uplift' })
    expect(event?.args).toEqual({ agentId: w.agentId, oldHost: 'https://wild.example', newRA: after.instance.quoteHash })

    const t = await status(cvm)
    expect([t.agentWallet, t.stateRoot, t.canonical]).toEqual([w.account.address, expected.stateRoot, true])
    expect(t.steps).toEqual([
      'source-hello',
      'target-hello',
      'key-envelope',
      'state-offer',
      'state-loaded',
      'challenge',
      'challenge-answer',
      'handover',
    ])
    // The registration file points at the target.
    const uri = await w.client.readContract({
      address: contracts().identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'tokenURI',
      args: [w.agentId],
    })
    expect(fromAgentUri(uri).services.map((s) => s.endpoint)).toEqual([cvm.appUrl])

    // The demoted source holds epoch `before.epoch`: the fenced actions refuse it, and so does the contract.
    await expect(
      assertCanonical(w.client, { contracts: contracts(), agentId: w.agentId, signer: w.account.address, epoch: before.epoch }),
    ).rejects.toThrow(NotCanonicalError)
    await expect(
      w.client.simulateContract({
        account: w.account,
        address: contracts().succession,
        abi: regentSuccessionAbi,
        functionName: 'commitState',
        args: [w.agentId, before.epoch, `0x${'11'.repeat(32)}`, 3n],
      }),
    ).rejects.toThrow(/StaleEpoch/)
    await expect(
      w.client.simulateContract({
        account: w.account,
        address: contracts().treasury,
        abi: agentTreasuryAbi,
        functionName: 'withdraw',
        args: [w.agentId, before.epoch, w.account.address, 1n],
      }),
    ).rejects.toThrow()
    expect(await treasuryBalance(w)).toBe(10n ** 18n)
    j.close()
  })

  test('behavior: option B (rotate) — the target key is canonical, owns the NFT and is agentWallet; the old key is retired', async () => {
    const w = await wildAgent('rotate-bot')
    const cvm = await launchTarget()
    const before = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    const j = await journal()
    const r = await Source.uplift({
      mode: 'rotate',
      agentId: w.agentId,
      chainId: devnet.file.chainId,
      contracts: contracts(),
      wallet: w.wallet,
      client: w.client,
      targetUrl: cvm.appUrl,
      journal: j,
      checkpoint: () => Checkpoint.exportState(w.db, { chunkSize: 512 }),
      ...trust(),
    })
    const t = await status(cvm)
    expect(r.signer).toBe(t.wallet)
    expect(t.wallet).not.toBe(w.account.address)
    const after = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    expect([after.epoch, after.instance.signer, after.stateRoot]).toEqual([before.epoch + 1n, t.wallet, r.stateRoot])
    expect([t.agentWallet, t.stateRoot, t.canonical]).toEqual([t.wallet, r.stateRoot, true])
    const read = (functionName: 'ownerOf' | 'getAgentWallet') =>
      w.client.readContract({ address: contracts().identityRegistry, abi: identityRegistryAbi, functionName, args: [w.agentId] })
    expect([await read('ownerOf'), await read('getAgentWallet')]).toEqual([t.wallet, t.wallet])

    // The old key is retired: it can neither withdraw nor sign another succession.
    await expect(withdraw(w.wallet, { contracts: contracts(), agentId: w.agentId, to: w.account.address, amount: 1n })).rejects.toThrow(
      NotCanonicalError,
    )
    await expect(
      signSuccessionCertificate(w.wallet, {
        contracts: contracts(),
        agentId: w.agentId,
        newKey: w.account.address,
        newComposeHash: after.instance.composeHash,
        quoteHash: after.instance.quoteHash,
        deadline: 2n ** 40n,
      }),
    ).rejects.toThrow(NotCanonicalError)
    expect(await treasuryBalance(w)).toBe(10n ** 18n)
    j.close()
  })

  test('behavior: a target whose compose hash is not approved for the agent is refused before any key or state leaves', async () => {
    const w = await wildAgent('careful-bot')
    // The same bundle under another name: another compose hash, approved only for its own app.
    const evilCompose = new TextEncoder().encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(compose)), name: 'evil-target' }))
    const evil = await devnet.approveApp({ compose: evilCompose }) // approved for its own app, not the agent's
    const cvm = await launchTarget({ compose: evilCompose, appId: evil.appId })
    const j = await journal()
    const run = Source.uplift({
      mode: 'import',
      agentId: w.agentId,
      chainId: devnet.file.chainId,
      contracts: contracts(),
      wallet: w.wallet,
      privateKey: new PrivateKey(Buffer.from(w.key.slice(2), 'hex')),
      client: w.client,
      targetUrl: cvm.appUrl,
      journal: j,
      checkpoint: () => Checkpoint.exportState(w.db, { chunkSize: 512 }),
      ...trust(),
    })
    await expect(run).rejects.toThrow(UpliftRefusedError)
    await expect(run).rejects.toMatchObject({ code: 'target.measurement' })
    expect(j.entries().map((e) => e.step)).toEqual(['source-hello', 'target-hello'])
    expect(j.getSecret('checkpoint')).toBeUndefined()
    expect((await status(cvm)).steps).toEqual(['source-hello', 'target-hello'])
    const after = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    expect([after.epoch, after.instance.signer, after.stateSeq]).toEqual([1n, w.account.address, 1n])
    j.close()
  })
  test('behavior: a source interrupted after the state transfer resumes from its journal (same session, same messages) and finishes', async () => {
    const w = await wildAgent('resume-bot')
    const cvm = await launchTarget()
    // A proxy in front of the target that cuts the link at the handshake, once: the source stops mid-session.
    let cut = true
    const proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      if (cut && req.url === '/uplift/v1/challenge') {
        cut = false
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"link.down","message":"cut"}}')
        return
      }
      const upstream = await fetch(`${cvm.appUrl}${req.url}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
      })
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(Buffer.from(await upstream.arrayBuffer()))
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
    const path = join(await mkdtemp(join(dir, 'src-')), 'uplift-source.db')
    const key = new Uint8Array(32).fill(2)
    const parameters = {
      mode: 'import' as const,
      agentId: w.agentId,
      chainId: devnet.file.chainId,
      contracts: contracts(),
      wallet: w.wallet,
      privateKey: new PrivateKey(Buffer.from(w.key.slice(2), 'hex')),
      client: w.client,
      targetUrl: proxyUrl,
      checkpoint: () => Checkpoint.exportState(w.db, { chunkSize: 512 }),
      ...trust(),
    }
    const first = Journal.open({ path, role: 'source', key })
    await expect(Source.uplift({ ...parameters, journal: first })).rejects.toMatchObject({ code: 'link.down' })
    const journaled = first.entries()
    const streamKey = (o: { data: { offer: { senderPublicKey: Hex } } }) => first.getSecret(`state-key:${o.data.offer.senderPublicKey}`)
    expect(streamKey(journaled[4] as never)).toHaveLength(32)
    first.close()
    // The protocol's steps: the state went as one stream, re-created from the journaled offer, checkpoint and stream
    // key; no frame or envelope is journaled.
    expect(journaled.map((e) => e.step)).toEqual(['source-hello', 'target-hello', 'key-envelope', 'commit', 'state-offer', 'challenge'])

    // The agent learns more meanwhile; the resumed source still moves the journaled (frozen, committed) checkpoint.
    w.db.prepare('INSERT INTO memory (id, key, value) VALUES (?, ?, ?)').run(99, 'late', 'after the freeze')
    const resumed = Journal.open({ path, role: 'source', key })
    const r = await Source.uplift({ ...parameters, journal: resumed })
    expect(resumed.entries().slice(0, journaled.length)).toEqual(journaled)
    expect(r.sessionId).toBe((journaled[0] as { data: { sessionId: Hex } }).data.sessionId)
    const after = await readCanonical(w.client, { contracts: contracts(), agentId: w.agentId })
    const t = await status(cvm)
    expect([after.epoch, after.instance.signer, after.stateRoot, after.stateSeq]).toEqual([2n, w.account.address, r.stateRoot, 2n])
    expect([t.stateRoot, t.canonical]).toEqual([r.stateRoot, true])
    // Running it again is a no-op: every step is journaled and the chain already says so.
    expect(await Source.uplift({ ...parameters, journal: resumed })).toEqual(r)
    resumed.close()
    proxy.close()
  })
})
