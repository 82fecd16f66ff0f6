import { Collateral } from '@regent-tee/attest'
import { agentTreasuryAbi } from '@regent-tee/contracts'
import type { CvmRecord, Devnet } from '@regent-tee/devnet'
import { verifyInstance } from '@regent-tee/sdk'
import { readCanonical } from '@regent-tee/sdk/chain'
import { AdminRequest } from '@regent-tee/sdk/uplift'
import { createPublicClient, type Hex, http, keccak256, toBytes, zeroAddress } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { beforeAll, describe, expect, test } from 'vitest'
import { admin, call, deposit, operator, randomName, signed, startWild, upliftLine, useAgentDevnet } from './agent-process.js'
import { devnetChain, launchTarget } from './uplift-fixture.js'

const env = useAgentDevnet('uplift-agent')
let devnet: Devnet
let compose: Uint8Array
let appId: Hex
let dir: string
const wilds = env.wilds
beforeAll(() => {
  ;({ devnet, compose, appId, dir } = env)
})

const client = () => createPublicClient({ chain: devnetChain(devnet), transport: http(devnet.file.rpcUrl) })
const treasuryBalance = (agentId: bigint) =>
  client().readContract({
    address: devnet.file.contracts.treasury,
    abi: agentTreasuryAbi,
    functionName: 'balanceOf',
    args: [agentId, zeroAddress],
  })

/** The example agent in the wild with memories, a committed root and 1 ETH in its treasury. */
async function wildAgent(prefix: string) {
  const w = await startWild(devnet, dir, { name: randomName(prefix), appId })
  wilds.push(w)
  for (let i = 0; i < 25; i++)
    expect((await call(w.url, '/remember', { user: 'alice', text: `alice likes tea and trains ${i}` })).status).toBe(200)
  expect((await signed(w.url, '/checkpoint', {})).status).toBe(200)
  const health = (await call(w.url, '/health')).body as { agentId: string; wallet: Hex; memories: number }
  const agentId = BigInt(health.agentId)
  await deposit(devnet, agentId, 10n ** 18n)
  return { w, agentId, wallet: health.wallet, memories: health.memories }
}

/** A target's host settings (its operator and trusted roots are in its measured compose). */
const targetEnv = () => ({ REGENT_COLLATERAL_URL: devnet.file.collateralUrl })

describe('uplift driven by the agent process', () => {
  for (const mode of ['import', 'rotate'] as const)
    test(`--key ${mode}: reads and writes throughout see no failure, nothing is lost, the target is the agent`, async () => {
      const { w, agentId, wallet, memories } = await wildAgent(`agent-${mode}`)
      const cvm: CvmRecord = await launchTarget(devnet, { compose, appId, env: targetEnv() })
      const targetWallet = ((await call(cvm.appUrl, '/health')).body as { wallet: Hex }).wallet

      // A client on the agent's public endpoint: a write, then a read, again and again.
      const results: { kind: 'write' | 'read'; ok: boolean; ms: number; status: number }[] = []
      let writes = 0
      let stopAt = Number.POSITIVE_INFINITY
      const loop = (async () => {
        for (let i = 0; results.length < stopAt; i++) {
          const write = i % 2 === 0
          const t = performance.now()
          const r = await (write
            ? call(w.url, '/remember', { user: 'bob', text: `bob note ${i}` })
            : call(w.url, '/topics?user=alice')
          ).then(
            (x) => x.status,
            () => 0,
          )
          results.push({ kind: write ? 'write' : 'read', ok: r === 200, ms: performance.now() - t, status: r })
          if (write && r === 200) writes++
        }
      })()

      const started = await admin(w.url, 'uplift', { targetUrl: cvm.appUrl, key: mode })
      expect(started.status).toBe(202)
      expect(started.body).toMatchObject({ state: 'running', mode, targetUrl: cvm.appUrl })
      await w.line(upliftLine('done'))
      stopAt = results.length + 30 // keep going through the forwarder after the handover
      await loop

      const failed = results.filter((r) => !r.ok)
      const longest = (kind: string) => Math.max(0, ...results.filter((r) => r.kind === kind).map((r) => r.ms))
      process.stdout.write(
        `uplift ${mode} (agent process): ${results.length} requests, ${writes} writes, ${failed.length} failed, longest read ${longest('read').toFixed(0)} ms, longest write ${longest('write').toFixed(0)} ms\n`,
      )
      expect(failed).toEqual([])

      // One canonical instance: the target, with the same address (A) or its own key (B), the same state root.
      const status = (await admin(w.url, 'uplift')).body as {
        state: string
        result: { signer: Hex; stateRoot: Hex }
        heldWrites: { held: number; replayed: number }
      }
      expect(status.state).toBe('done')
      // Writes that arrived in the window (after the checkpoint, before the switch) were replayed at the target.
      expect(status.heldWrites.held).toBeGreaterThan(0)
      expect(status.heldWrites.replayed).toBe(status.heldWrites.held)
      const now = await readCanonical(client(), { contracts: devnet.file.contracts, agentId })
      expect(now.epoch).toBe(2n)
      expect(now.instance.host).toBe(cvm.appUrl)
      expect(now.instance.signer.toLowerCase()).toBe((mode === 'import' ? wallet : targetWallet).toLowerCase())
      expect(now.stateRoot).toBe(status.result.stateRoot)
      const loaded = (await call(cvm.appUrl, '/uplift/v1/status')).body as { stateRoot: Hex; canonical: boolean }
      expect(loaded).toMatchObject({ stateRoot: now.stateRoot, canonical: true })

      // Nothing lost: every acknowledged write is in the target's memory (25 before + the client's).
      const th = (await call(cvm.appUrl, '/health')).body as { role: string; agentId: string; memories: number; wallet: Hex }
      expect(th).toMatchObject({ role: 'agent', agentId: agentId.toString(), memories: memories + writes })
      const sh = (await call(w.url, '/health')).body as { role: string; forwardingTo: string }
      expect(sh).toMatchObject({ role: 'demoted', forwardingTo: cvm.appUrl })

      // The treasury followed the agent: intact, and only the new canonical instance pays out.
      expect(await treasuryBalance(agentId)).toBe(10n ** 18n)
      const payee = privateKeyToAccount(generatePrivateKey()).address
      const refused = await admin(w.url, 'withdraw', { to: payee, amount: '1000' })
      expect([refused.status, refused.body.error?.code]).toEqual([409, 'agent.demoted'])
      const paid = await admin(cvm.appUrl, 'withdraw', { to: payee, amount: '1000' })
      expect(paid.status).toBe(200)
      expect(await client().getBalance({ address: payee })).toBe(1000n)
      expect(await treasuryBalance(agentId)).toBe(10n ** 18n - 1000n)

      // The new instance commits state as the canonical signer (its checkpoint route, through the source too).
      const commit = await signed(w.url, '/checkpoint', {})
      expect(commit.status).toBe(200)
      expect((commit.body as { epoch: string }).epoch).toBe('2')

      // An outside verifier accepts the new instance; option A's imported key has no KMS provenance (fewer points).
      const verdict = await verifyInstance({
        url: cvm.appUrl,
        client: client(),
        contracts: devnet.file.contracts,
        collateral: Collateral.parse(devnet.host.collateral),
        trustedRoots: [devnet.host.trustedRoot],
        now: new Date(),
      })
      expect(verdict.evaluation.isAgent).toBe(true)
      expect(verdict.bundle?.epoch).toBe('2')
      expect(verdict.reasons.map((r) => r.code)).toEqual(mode === 'import' ? ['provenance.none'] : [])
      const kms = verdict.evaluation.breakdown.find((b) => b.factor === 'kmsProvenance')
      expect(kms?.points).toBe(mode === 'import' ? 0 : kms?.max)
    })
})

describe("the agent's admin API", () => {
  test('behavior: unsigned, foreign, expired, replayed or malformed requests are refused with a code and change nothing; no operator → admin.disabled', async () => {
    const { w, agentId } = await wildAgent('admin-input')
    const scope = { chainId: devnet.file.chainId, succession: devnet.file.contracts.succession, agentId }
    const raw = (path: string, init: RequestInit) =>
      fetch(`${w.url}/admin/${path}`, init).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { error?: { code: string } },
      }))
    /** A request signed by `who` over exactly these bytes (the scheme of docs/uplift.md "Admin API"). */
    const sign = async (method: string, path: string, body: string, options: { who?: typeof operator; now?: Date } = {}) =>
      AdminRequest.sign(options.who ?? operator, {
        ...scope,
        method,
        path: `/admin/${path}`,
        body: new TextEncoder().encode(body),
        ...(options.now ? { now: options.now } : {}),
      })
    const json = { 'content-type': 'application/json' }
    const stranger = privateKeyToAccount(generatePrivateKey())
    const once = await sign('GET', 'uplift', '')
    const cases: [string, Promise<{ status: number; body: { error?: { code: string } } }>, number, string][] = [
      ['unsigned', raw('uplift', { method: 'GET' }), 401, 'admin.unsigned'],
      [
        'signed by a stranger',
        raw('uplift', { method: 'GET', headers: await sign('GET', 'uplift', '', { who: stranger }) }),
        403,
        'admin.not_operator',
      ],
      [
        'expired',
        raw('uplift', { method: 'GET', headers: await sign('GET', 'uplift', '', { now: new Date(Date.now() - 120_000) }) }),
        401,
        'admin.expired',
      ],
      [
        'signed for another route',
        raw('uplift/resume', { method: 'POST', headers: { ...json, ...(await sign('POST', 'withdraw', '{}')) }, body: '{}' }),
        403,
        'admin.not_operator',
      ],
      [
        'not JSON',
        raw('uplift', { method: 'POST', headers: { ...json, ...(await sign('POST', 'uplift', '{')) }, body: '{' }),
        400,
        'request.malformed_json',
      ],
      [
        'not JSON type',
        raw('uplift', { method: 'POST', headers: { 'content-type': 'text/plain', ...(await sign('POST', 'uplift', '{}')) }, body: '{}' }),
        415,
        'request.media_type',
      ],
      [
        'oversized',
        raw('uplift', {
          method: 'POST',
          headers: { ...json, ...(await sign('POST', 'uplift', '')) },
          body: JSON.stringify({ pad: 'x'.repeat(70_000) }),
        }),
        413,
        'request.too_large',
      ],
      ['bad URL', admin(w.url, 'uplift', { targetUrl: 'ftp://x', key: 'import' }), 400, 'bad_request'],
      ['bad key', admin(w.url, 'uplift', { targetUrl: 'http://127.0.0.1:1', key: 'copy' }), 400, 'bad_request'],
      ['bad force', admin(w.url, 'uplift', { targetUrl: 'http://127.0.0.1:1', key: 'import', force: 'yes' }), 400, 'bad_request'],
      [
        'bad weight',
        admin(w.url, 'uplift', { targetUrl: 'http://127.0.0.1:1', key: 'import', decision: { weights: { luck: 1 } } }),
        400,
        'bad_request',
      ],
      ['nothing to resume', admin(w.url, 'uplift/resume', {}), 409, 'uplift.none'],
      ['bad payee', admin(w.url, 'withdraw', { to: '0x12', amount: '1' }), 400, 'bad_request'],
      ['zero amount', admin(w.url, 'withdraw', { to: `0x${'11'.repeat(20)}`, amount: '0' }), 400, 'bad_request'],
      ['unknown route', admin(w.url, 'reboot', {}), 404, 'not_found'],
      [
        'empty batch',
        call(w.url, '/remember/batch', { items: [] }).then((r) => ({ status: r.status, body: r.body as { error?: { code: string } } })),
        400,
        'bad_request',
      ],
      [
        'batch without keys',
        call(w.url, '/remember/batch', { items: [{ user: 'a', text: 'b' }] }).then((r) => ({
          status: r.status,
          body: r.body as { error?: { code: string } },
        })),
        400,
        'bad_request',
      ],
      [
        'bad idempotency key',
        raw('../remember', {
          method: 'POST',
          headers: { ...json, 'idempotency-key': 'has space' },
          body: JSON.stringify({ user: 'a', text: 'b' }),
        }),
        400,
        'bad_request',
      ],
    ]
    for (const [name, answer, status, code] of cases) {
      const r = await answer
      expect([name, r.status, r.body.error?.code]).toEqual([name, status, code])
    }
    // A signed request is good once: the same headers again are a replay.
    expect((await raw('uplift', { method: 'GET', headers: once })).status).toBe(200)
    const replayed = await raw('uplift', { method: 'GET', headers: once })
    expect([replayed.status, replayed.body.error?.code]).toEqual([401, 'admin.replayed'])
    // A negative expected value is refused with the table (and forced, it would proceed).
    const noPros = { weights: { keyCustody: 0, attestation: 0, survivability: 0, regentBenefits: 0 } }
    const negative = await admin(w.url, 'uplift', { targetUrl: 'http://127.0.0.1:1', key: 'import', decision: noPros })
    expect([negative.status, negative.body.error?.code]).toEqual([422, 'decide.negative'])
    expect((negative.body.decision as { ev: number; table: string }).ev).toBeLessThan(0)
    expect((negative.body.decision as { table: string }).table).toContain('downtimeRisk')
    // Nothing changed: no session, the agent serves.
    const after = await admin(w.url, 'uplift')
    expect(after.body).toMatchObject({ state: 'idle', sessionId: null, mode: null, steps: [] })
    expect((await call(w.url, '/topics?user=alice')).status).toBe(200)

    const closed = await startWild(devnet, dir, { name: randomName('admin-off'), appId, env: { REGENT_OPERATOR: '' } })
    wilds.push(closed)
    const off = await admin(closed.url, 'uplift')
    expect([off.status, off.body.error?.code]).toEqual([404, 'admin.disabled'])
  })

  test('behavior: a target of another app is refused before the key or the state leaves; the agent then uplifts elsewhere', async () => {
    const { w, agentId, wallet } = await wildAgent('admin-refused')
    // The same code approved under another app: a genuine CVM, but not one the agent's app approves.
    const other = await devnet.approveApp({ compose, salt: keccak256(toBytes('regent uplift agent e2e: another app')) })
    const rogue = await launchTarget(devnet, { compose, appId: other.appId })
    expect((await admin(w.url, 'uplift', { targetUrl: rogue.appUrl, key: 'import' })).status).toBe(202)
    const failed = JSON.parse((await w.line(upliftLine('failed'))).slice('uplift '.length)) as { error: { code: string } }
    expect(failed.error.code).toBe('target.measurement')
    // The rogue target saw the hello only: no key, no state.
    const seen = (await call(rogue.appUrl, '/uplift/v1/status')).body as { steps: string[]; agentWallet: Hex | null; stateRoot: Hex | null }
    expect(seen).toMatchObject({ steps: ['source-hello', 'target-hello'], agentWallet: null, stateRoot: null })
    // Not frozen: writes are served by the agent itself, which is still canonical.
    expect((await call(w.url, '/remember', { user: 'alice', text: 'still here' })).status).toBe(200)
    const still = await readCanonical(client(), { contracts: devnet.file.contracts, agentId })
    expect([still.epoch, still.instance.signer.toLowerCase()]).toEqual([1n, wallet.toLowerCase()])

    const good = await launchTarget(devnet, { compose, appId, env: targetEnv() })
    expect((await admin(w.url, 'uplift', { targetUrl: good.appUrl, key: 'import' })).status).toBe(202)
    await w.line(upliftLine('done'))
    const now = await readCanonical(client(), { contracts: devnet.file.contracts, agentId })
    expect([now.epoch, now.instance.host]).toEqual([2n, good.appUrl])
  })
})
