/**
 * `regent demo` and `regent uplift status` through the real binary (issue 7 "CLI and demo"), on a fresh devnet: the
 * example agent runs as a real process in the wild and moves into a devnet CVM. Option A: the same wallet before and
 * after, the Uplift event, the demoted source (forwarding, withdraw refused), the treasury intact, the new instance is
 * the agent with a score but no KMS-provenance points (`provenance.none`), the wild process stopped; its journal read
 * back by `uplift status`. Option B with --keep: the succession event, the target's own key, full provenance, and the
 * demoted process left running. The errors: no devnet (exit 1 + hint), a bad --key (exit 2), a missing journal (exit 2).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

let root: string
let devnet: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-demo-'))
  devnet = join(root, 'devnet')
  const up = await regent(['dev', 'up', '--dir', devnet, '--json'])
  expect(up.code).toBe(0)
}, 180_000)
afterAll(async () => {
  await regent(['dev', 'down', '--dir', devnet])
  await rm(root, { recursive: true, force: true })
})

const ok = (url: string) =>
  fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) }).then(
    (r) => r.ok,
    () => false,
  )

describe('regent demo', () => {
  test('default: --key import — the wild process moves into a CVM, is demoted and stopped; the new instance is the agent', async () => {
    const r = await regent(['demo', '--devnet-dir', devnet, '--key', 'import', '--json'])
    expect(r.code).toBe(0)
    const d = JSON.parse(r.stdout)
    expect(d.key).toBe('import')
    expect([d.decision.ev.toFixed(2), d.decision.proceed]).toEqual(['16.90', true])
    expect(d.decision.table).toMatch(/EV = 16\.90 → proceed$/)
    expect(d.wild).toMatchObject({ memories: 5, treasuryWei: '1000000000000000000', kept: false, committed: { epoch: '1' } })
    expect(d.wild.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(d.chain.before).toEqual({ epoch: '1', signer: d.wild.wallet, host: d.wild.url })
    expect(d.chain.after).toMatchObject({ epoch: '2', signer: d.wild.wallet, host: d.target.url, stateRoot: d.uplift.stateRoot })
    expect([d.chain.sameWallet, d.chain.events, d.chain.succession]).toEqual([true, ['Uplift', 'CanonicalChanged'], null])
    expect(d.chain.uplift).toMatchObject({ agentId: d.wild.agentId, oldHost: d.wild.url })
    expect(d.handshake.epoch).toBe('1')
    expect(d.handshake.nonce).toMatch(/^0x[0-9a-f]{64}$/)
    expect(d.handshake.leafIndexes.length).toBeGreaterThan(0)
    expect(d.handshake.checks.map((c: { ok: boolean }) => c.ok)).toEqual([true, true, true])
    expect(d.demoted).toEqual({
      role: 'demoted',
      forwardingTo: d.target.url,
      withdraw: { status: 409, code: 'agent.demoted' },
      refused: true,
    })
    expect(d.treasury).toEqual({ beforeWei: '1000000000000000000', afterWei: '1000000000000000000', intact: true })
    expect(d.verification.isAgent).toBe(true)
    expect(d.verification.score).toBeGreaterThan(0)
    expect(d.verification.reasons.map((x: { code: string }) => x.code)).toEqual(['provenance.none'])
    expect(d.verification.breakdown.find((b: { factor: string }) => b.factor === 'kmsProvenance')).toMatchObject({ points: 0 })
    // The wild process was stopped at the end; its secrets (key, keystore password, admin token) are never printed.
    expect(await ok(d.wild.url)).toBe(false)
    expect(r.stdout + r.stderr).not.toMatch(/private|password|bearer/i)

    const s = await regent(['uplift', 'status', '--journal', d.uplift.journal, '--json'])
    expect(s.code).toBe(0)
    const st = JSON.parse(s.stdout)
    expect([st.complete, st.next, st.mode, st.sessionId]).toEqual([true, null, 'import', d.uplift.sessionId])
    expect(st.steps.map((e: { step: string }) => e.step)).toEqual([
      'source-hello',
      'target-hello',
      'key-envelope',
      'commit',
      'state-offer',
      'challenge',
      'challenge-answer',
      'handover-tx',
      'registration',
      'handover',
    ])
    expect(d.uplift.steps).toEqual(st.steps.map((e: { step: string }) => e.step))
  }, 180_000)

  test('behavior: --key rotate --keep — the succession event, the TEE key with KMS provenance; the demoted process keeps running', async () => {
    const r = await regent(['demo', '--devnet-dir', devnet, '--key', 'rotate', '--keep', '--json'])
    expect(r.code).toBe(0)
    const d = JSON.parse(r.stdout)
    expect(d.chain.events).toEqual(['SuccessionRecorded', 'Uplift', 'CanonicalChanged'])
    expect(d.chain.succession).toEqual({ oldKey: d.wild.wallet, newKey: d.target.wallet, nextEpoch: '2' })
    expect(d.chain.after).toMatchObject({ epoch: '2', signer: d.target.wallet, host: d.target.url })
    expect(d.chain.sameWallet).toBe(false)
    expect(d.demoted).toMatchObject({ role: 'demoted', forwardingTo: d.target.url, refused: true })
    expect(d.treasury.intact).toBe(true)
    expect(d.verification.isAgent).toBe(true)
    expect(d.verification.reasons).toEqual([])
    const kms = d.verification.breakdown.find((b: { factor: string }) => b.factor === 'kmsProvenance')
    expect(kms.points).toBe(kms.max)
    // --keep: still serving (demoted), until its operator stops it with the pid the demo printed.
    expect(d.wild.kept).toBe(true)
    const health = await fetch(`${d.wild.url}/health`).then((x) => x.json())
    expect(health).toMatchObject({ role: 'demoted', forwardingTo: d.target.url })
    process.kill(d.wild.pid, 'SIGTERM')
    const deadline = Date.now() + 30_000
    while ((await ok(d.wild.url)) && Date.now() < deadline);
    expect(await ok(d.wild.url)).toBe(false)
  }, 180_000)

  test('behavior: without a running devnet it exits 1 with a hint', async () => {
    const none = join(root, 'none')
    const r = await regent(['demo', '--devnet-dir', none])
    expect([r.code, r.stdout]).toEqual([1, ''])
    expect(r.stderr).toBe(
      `error: no devnet is running in ${none}\nhint: start one with \`regent dev up\` (or point --devnet-dir at its directory)\ndocs: docs/cli/demo.md\n`,
    )
  })

  test('behavior: a bad --key exits 2', async () => {
    const r = await regent(['demo', '--devnet-dir', devnet, '--key', 'copy', '--json'])
    expect([r.code, JSON.parse(r.stdout)]).toEqual([
      2,
      { ok: false, error: { code: 'usage', message: '--key takes "import" or "rotate"', hint: 'regent demo --key import' } },
    ])
  })
})

describe('regent uplift status', () => {
  test('behavior: a missing journal exits 2', async () => {
    const r = await regent(['uplift', 'status', '--journal', join(root, 'nope.db')])
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, `error: no journal at ${join(root, 'nope.db')}`])
  })
})
