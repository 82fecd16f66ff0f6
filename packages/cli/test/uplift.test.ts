/**
 * `regent demo` and `regent uplift status` through the real binary (issue 7 "CLI and demo"): the demo on a fresh
 * devnet (option A: same wallet before and after, epoch 2, the source fenced), its journal read back by
 * `uplift status`, and the errors: no devnet (exit 1 + hint), a bad --key (exit 2), a missing journal (exit 2).
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

describe('regent demo', () => {
  test('default: --key import on a fresh devnet — same wallet, epoch 2, source fenced; uplift status reads its journal', async () => {
    const r = await regent(['demo', '--devnet-dir', devnet, '--key', 'import', '--json'])
    expect(r.code).toBe(0)
    const d = JSON.parse(r.stdout)
    expect(d.key).toBe('import')
    expect([d.decision.ev.toFixed(2), d.decision.proceed]).toEqual(['16.90', true])
    expect(d.decision.table).toMatch(/EV = 16\.90 → proceed$/)
    expect(d.wild).toMatchObject({ host: 'https://wild.example', treasuryWei: '1000000000000000000', memoryRows: 31 })
    expect(d.chain.before).toEqual({ epoch: '1', signer: d.wild.wallet })
    expect(d.chain.after).toMatchObject({
      epoch: '2',
      signer: d.wild.wallet,
      host: d.target.url,
      stateRoot: d.uplift.stateRoot,
      stateSeq: '2',
    })
    expect([d.chain.sameWallet, d.chain.treasuryWei, d.chain.events]).toEqual([true, '1000000000000000000', ['Uplift', 'CanonicalChanged']])
    expect(d.chain.uplift).toMatchObject({ agentId: d.wild.agentId, oldHost: 'https://wild.example' })
    expect(d.handshake.epoch).toBe('1')
    expect(d.handshake.checks.map((c: { ok: boolean }) => c.ok)).toEqual([true, true, true])
    expect(d.fencing).toMatchObject({ refused: true, error: 'Chain.NotCanonicalError', contract: 'StaleEpoch' })
    expect(d.verification).toMatchObject({ served: false, canonical: { epoch: '2', signer: d.wild.wallet, host: d.target.url } })
    // The generated key is never printed (no field or line names it).
    expect(r.stdout + r.stderr).not.toMatch(/private/i)

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
