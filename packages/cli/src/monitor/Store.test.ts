import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { reconcile } from './Alert.js'
import { openStore, openStoreReadOnly, StoreMismatchError, schemaVersion } from './Store.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-monitor-store-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const scope = { chainId: 31337, identityRegistry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }
const check = (agent: string, tick: number, at: string) => ({
  agent,
  tick,
  at,
  durationMs: 12.5,
  url: 'http://a',
  reachable: true,
  isAgent: true,
  score: 80,
  holds: { a: true, b: true, c: true, d: true },
  epoch: '1',
  signer: '0xS',
  composeHash: '0xc1',
  tcbStatus: 'UpToDate',
  earlyTcbStatus: 'UpToDate',
  advisoryIds: [],
  collateralNextUpdate: null,
  stateSeq: '0',
  reasons: [],
  seen: ['chain'],
})

describe('openStore', () => {
  test('default: creates the schema and its directory; reopens with the history; another chain or registry is refused', () => {
    const path = join(dir, 'nested', 'monitor.db')
    const store = openStore(path, scope)
    expect(store.db.pragma('user_version', { simple: true })).toBe(schemaVersion)
    store.addAgent({ agent: '7', url: 'http://a', appId: null, addedAt: '2026-12-01T00:00:00Z', watchFromBlock: 9, cursorBlock: 0 })
    store.insertCheck(check('7', 1, '2026-12-01T00:00:01Z'))
    store.close()
    const again = openStore(path, { ...scope, identityRegistry: scope.identityRegistry.toLowerCase() })
    expect(again.agents().map((a) => [a.agent, a.url, a.watchFromBlock, a.cursorBlock])).toEqual([['7', 'http://a', 9, 0]])
    again.close()
    expect(() => openStore(path, { ...scope, chainId: 1 })).toThrowError(StoreMismatchError)
    expect(() => openStore(path, { ...scope, identityRegistry: `0x${'11'.repeat(20)}` })).toThrowError(
      `${path} holds the history of 31337:${scope.identityRegistry.toLowerCase()}, not 31337:0x${'11'.repeat(20)}`,
    )
    const ro = openStoreReadOnly(path)
    expect(ro.checks('7').map((c) => [c.tick, c.holds, c.isAgent])).toEqual([[1, { a: true, b: true, c: true, d: true }, true]])
    expect(() => ro.insertCheck(check('7', 2, '2026-12-01T00:00:02Z'))).toThrowError(/readonly/)
    ro.close()
    expect(() => openStoreReadOnly(join(dir, 'missing.db'))).toThrowError()
  })

  test('behavior: alerts round-trip through reconcile; at most one open alert per key; events are recorded once', () => {
    const store = openStore(':memory:', scope)
    const observation = {
      agent: '7',
      tick: 1,
      at: new Date('2026-12-01T00:00:00Z'),
      seen: new Set(['monitor', 'chain'] as const),
      verified: true,
      findings: [{ code: 'state.stale' as const, subject: '', message: 'stale', facts: { ageSeconds: 90 } }],
    }
    const first = reconcile(store.openAlerts('7'), observation)
    store.applyAlerts(first.transitions, first.updated)
    expect(first.transitions[0]?.alert.id).toBe(1)
    const again = reconcile(store.openAlerts('7'), {
      ...observation,
      tick: 2,
      findings: [{ ...observation.findings[0], facts: { ageSeconds: 95 } } as never],
    })
    store.applyAlerts(again.transitions, again.updated)
    expect(store.openAlerts('7').map((a) => [a.id, a.facts])).toEqual([[1, { ageSeconds: 95 }]])
    // The database refuses a second open alert under the same key, whatever the caller does.
    expect(() =>
      store.applyAlerts(
        first.transitions.map((t) => ({ ...t, alert: { ...t.alert } })),
        [],
      ),
    ).toThrowError(/UNIQUE/)
    const done = reconcile(store.openAlerts('7'), { ...observation, tick: 3, findings: [] })
    store.applyAlerts(done.transitions, done.updated)
    expect(store.alerts({ state: 'resolved' }).map((a) => [a.id, a.resolution])).toEqual([[1, 'no longer holds']])
    expect(store.alerts({ state: 'open' })).toEqual([])

    const e = {
      agent: '7',
      block: 5,
      logIndex: 2,
      tx: '0xt',
      time: 100,
      contract: 'succession' as const,
      name: 'StateCommitted',
      args: { seq: '1' },
    }
    store.insertEvents([e, e])
    store.insertEvents([e])
    expect(store.events('7')).toEqual([e])
    expect(store.events('7', { names: ['Uplift'] })).toEqual([])
    store.close()
  })

  test('behavior: a removal closes the latest open approval of the value at or before its block', () => {
    const store = openStore(':memory:', scope)
    const add = { agent: '7', kind: 'composeHash' as const, value: '0xc2', addedAt: 10, addedTx: '0xa', activatesAt: 700 }
    store.addMeasurement({ ...add, addedBlock: 3 })
    store.removeMeasurement({ agent: '7', kind: 'composeHash', value: '0xc2', block: 4, time: 20, tx: '0xr' })
    store.addMeasurement({ ...add, addedBlock: 8 })
    store.addMeasurement({ ...add, addedBlock: 8 })
    expect(store.measurements('7').map((m) => [m.addedBlock, m.removedBlock, m.removedTx])).toEqual([
      [3, 4, '0xr'],
      [8, null, null],
    ])
    store.close()
  })
})
