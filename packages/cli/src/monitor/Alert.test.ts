import { describe, expect, test } from 'vitest'
import { type Alert, catalog, codes, type Domain, type Finding, keyOf, type Observation, reconcile } from './Alert.js'

const at = new Date('2026-12-01T00:00:00Z')
const all = new Set<Domain>(['monitor', 'chain', 'instance', 'collateral', 'probe', 'pcs'])
const pending: Finding = { code: 'measurement.pending', subject: 'composeHash:0xab', message: 'pending', facts: { inSeconds: 600 } }
const moved: Finding = { code: 'treasury.moved', subject: '0xtx:1', message: 'moved', facts: { amount: '5' } }

function observe(open: Alert[], partial: Partial<Observation>) {
  const { transitions, updated } = reconcile(open, { agent: '7', tick: 1, at, seen: all, verified: true, findings: [], ...partial })
  let id = open.reduce((m, a) => Math.max(m, a.id), 0)
  for (const t of transitions) if (t.state === 'raised') t.alert.id = ++id
  const next = [
    ...open
      .filter((a) => !transitions.some((t) => t.state === 'resolved' && t.alert.key === a.key))
      .map((a) => updated.find((u) => u.key === a.key) ?? a),
    ...transitions.filter((t) => t.state === 'raised').map((t) => t.alert),
  ]
  return { transitions, updated, open: next }
}

describe('catalog', () => {
  test('default: every code has a kind, a domain, a severity and a summary', () => {
    expect(Object.keys(catalog).sort()).toEqual([...codes].sort())
    for (const c of codes) expect(catalog[c].summary.length).toBeGreaterThan(20)
  })
})

describe('reconcile', () => {
  test('default: a condition is raised once, kept (not raised again) while it holds, resolved once when it stops', () => {
    const first = observe([], { findings: [pending] })
    expect(first.transitions.map((t) => [t.state, t.alert.code, t.alert.key, t.alert.severity])).toEqual([
      ['raised', 'measurement.pending', keyOf('7', 'measurement.pending', 'composeHash:0xab'), 'warning'],
    ])
    const again = observe(first.open, { tick: 2, findings: [pending] })
    expect(again.transitions).toEqual([])
    const gone = observe(again.open, { tick: 3, findings: [], why: (a) => `${a.code} activated` })
    expect(gone.transitions.map((t) => [t.state, t.alert.resolution, t.alert.resolvedAt])).toEqual([
      ['resolved', 'measurement.pending activated', at.toISOString()],
    ])
    expect(observe(gone.open, { tick: 4 }).transitions).toEqual([])
  })

  test('behavior: a condition whose domain the check could not see is neither raised nor resolved', () => {
    const raised = observe([], { findings: [pending] })
    const blind = observe(raised.open, { tick: 2, seen: new Set<Domain>(['monitor', 'instance']) })
    expect(blind.transitions).toEqual([])
    expect(blind.open).toHaveLength(1)
  })

  test('behavior: changed facts of an open alert are an update, not a new alert', () => {
    const raised = observe([], { findings: [pending] })
    const later = observe(raised.open, { tick: 2, findings: [{ ...pending, facts: { inSeconds: 300 }, message: 'pending, 300 s' }] })
    expect(later.transitions).toEqual([])
    expect(later.updated.map((a) => [a.id, a.facts, a.message])).toEqual([[1, { inSeconds: 300 }, 'pending, 300 s']])
  })

  test('behavior: an event is resolved only by a later check in which the agent verifies', () => {
    const raised = observe([], { tick: 5, findings: [moved], verified: true })
    expect(raised.transitions.map((t) => t.state)).toEqual(['raised'])
    expect(observe(raised.open, { tick: 6, verified: false }).transitions).toEqual([])
    const resolved = observe(raised.open, { tick: 6, verified: true })
    expect(resolved.transitions.map((t) => [t.state, t.alert.resolution])).toEqual([
      ['resolved', 'verified after the change: the identity function holds (check 6)'],
    ])
  })

  test('behavior: two subjects of one code are two alerts; a severity override sticks', () => {
    const r = observe([], {
      findings: [
        pending,
        { ...pending, subject: 'osImage:0xcd' },
        { code: 'tcb.degraded', subject: '', message: 'Revoked', facts: {}, severity: 'critical' },
      ],
    })
    expect(r.transitions.map((t) => [t.alert.subject, t.alert.severity])).toEqual([
      ['composeHash:0xab', 'warning'],
      ['osImage:0xcd', 'warning'],
      ['', 'critical'],
    ])
  })

  test('behavior: monitor-domain conditions (chain.unreachable) resolve whenever the check ran', () => {
    const down = observe([], {
      findings: [{ code: 'chain.unreachable', subject: '', message: 'down', facts: {} }],
      seen: new Set<Domain>(['monitor']),
    })
    const up = observe(down.open, { tick: 2, seen: new Set<Domain>(['monitor']), why: () => 'the chain answers again' })
    expect(up.transitions.map((t) => [t.state, t.alert.resolution])).toEqual([['resolved', 'the chain answers again']])
  })
})
