import type { Evaluation } from '@regent-tee/sdk'
import { describe, expect, test } from 'vitest'
import type { Alert } from './Alert.js'
import { type ChainView, chainFindings, chainResolution, collateralFindings, eventFindings, instanceFindings, tcbRank } from './Findings.js'
import type { EventRow, MeasurementRow } from './Store.js'

const chainTime = 1_800_000_000
const measurement = (over: Partial<MeasurementRow>): MeasurementRow => ({
  agent: '7',
  kind: 'composeHash',
  value: '0xc2',
  addedBlock: 40,
  addedAt: chainTime - 100,
  addedTx: '0xadd',
  activatesAt: chainTime + 500,
  removedBlock: null,
  removedAt: null,
  removedTx: null,
  ...over,
})
const view = (over: Partial<ChainView> = {}): ChainView => ({
  agent: '7',
  appId: '0xApp',
  epoch: 1n,
  canonicalComposeHash: '0xC1',
  canonicalApproved: true,
  stateSeq: 0n,
  stateRoot: `0x${'00'.repeat(32)}`,
  chainTime,
  measurements: [],
  lastCommit: undefined,
  ...over,
})
const event = (over: Partial<EventRow>): EventRow => ({
  agent: '7',
  block: 50,
  logIndex: 0,
  tx: '0xt',
  time: chainTime,
  contract: 'succession',
  name: 'CanonicalChanged',
  args: {},
  ...over,
})

describe('chainFindings', () => {
  test('default: a compose hash in its timelock is measurement.pending with its activation time and the time left', () => {
    const [f] = chainFindings(view({ measurements: [measurement({})] }), { stateMaxAgeSeconds: 3600 })
    expect(f).toEqual({
      code: 'measurement.pending',
      subject: 'composeHash:0xc2',
      message: `agent 7: compose hash 0xc2 approved for app 0xApp activates at ${new Date((chainTime + 500) * 1000).toISOString()} (in 500 s): the users' exit window`,
      facts: {
        kind: 'composeHash',
        value: '0xc2',
        appId: '0xApp',
        approvedAt: new Date((chainTime - 100) * 1000).toISOString(),
        activatesAt: new Date((chainTime + 500) * 1000).toISOString(),
        inSeconds: 500,
        tx: '0xadd',
        block: 40,
      },
    })
  })

  test('behavior: active or removed approvals are not pending; a removed running hash is measurement.revoked; an old commit is state.stale', () => {
    const settings = { stateMaxAgeSeconds: 3600 }
    expect(chainFindings(view({ measurements: [measurement({ activatesAt: chainTime })] }), settings)).toEqual([])
    expect(chainFindings(view({ measurements: [measurement({ removedBlock: 41, removedAt: chainTime - 50 })] }), settings)).toEqual([])
    const revoked = chainFindings(
      view({
        canonicalApproved: false,
        measurements: [
          measurement({ value: '0xc1', activatesAt: chainTime - 10, removedBlock: 60, removedAt: chainTime - 5, removedTx: '0xrm' }),
        ],
      }),
      settings,
    )
    expect(revoked.map((f) => [f.code, f.subject, f.severity, f.facts.tx])).toEqual([['measurement.revoked', '0xc1', 'critical', '0xrm']])
    const commit = event({ name: 'StateCommitted', time: chainTime - 3601 })
    expect(chainFindings(view({ stateSeq: 2n, lastCommit: commit }), settings).map((f) => [f.code, f.facts.ageSeconds])).toEqual([
      ['state.stale', 3601],
    ])
    expect(chainFindings(view({ stateSeq: 2n, lastCommit: { ...commit, time: chainTime - 3600 } }), settings)).toEqual([])
    // Never committed: nothing to be stale.
    expect(chainFindings(view({ stateSeq: 0n }), settings)).toEqual([])
  })

  test('behavior: resolutions say why (activated, withdrawn, approved again, committed)', () => {
    const alert = (code: Alert['code'], subject: string, facts: Record<string, unknown> = {}) => ({ code, subject, facts }) as Alert
    const pendingAlert = alert('measurement.pending', 'composeHash:0xc2', { block: 40 })
    expect(chainResolution(pendingAlert, view({ measurements: [measurement({ activatesAt: chainTime - 1 })] }))).toBe(
      `active since ${new Date((chainTime - 1) * 1000).toISOString()}`,
    )
    expect(
      chainResolution(pendingAlert, view({ measurements: [measurement({ removedBlock: 41, removedAt: chainTime, removedTx: '0xrm' })] })),
    ).toBe(`withdrawn before it activated (removed at ${new Date(chainTime * 1000).toISOString()}, tx 0xrm)`)
    expect(chainResolution(alert('measurement.revoked', '0xc1'), view())).toBe('compose hash 0xc1 is approved again')
  })
})

describe('eventFindings', () => {
  test('default: an uplift after the watch started is canonical.changed with the previous instance; older events are history', () => {
    const previous = event({ block: 10, args: { epoch: '1', signer: '0xS1', composeHash: '0xC1', host: 'http://a' } })
    const events = [
      event({ block: 9, name: 'CanonicalChanged', args: { epoch: '1' } }),
      event({ block: 50, logIndex: 0, name: 'Uplift', args: { agentId: '7', oldHost: 'http://a', newRA: '0xq' } }),
      event({
        block: 50,
        logIndex: 1,
        args: { agentId: '7', epoch: '2', signer: '0xS1', composeHash: '0xC2', instanceId: '0xI', quoteHash: '0xq', host: 'http://b' },
      }),
      event({
        block: 51,
        tx: '0xw',
        contract: 'treasury',
        name: 'Withdrawn',
        args: { token: '0x0000000000000000000000000000000000000000', to: '0xTo', amount: '5', epoch: '2' },
      }),
      event({
        block: 52,
        tx: '0xmint',
        contract: 'identityRegistry',
        name: 'Transfer',
        args: { from: '0x0000000000000000000000000000000000000000', to: '0xO', tokenId: '7' },
      }),
      event({ block: 53, tx: '0xuri', contract: 'identityRegistry', name: 'URIUpdated', args: { newURI: 'ipfs://x', updatedBy: '0xO' } }),
    ]
    const found = eventFindings('7', events, { alertAfterBlock: 20, previous: () => previous })
    expect(found.map((f) => [f.code, f.subject])).toEqual([
      ['canonical.changed', 'epoch 2'],
      ['treasury.moved', '0xw:0'],
      ['registration.changed', '0xuri:0'],
    ])
    expect(found[0]?.facts).toMatchObject({
      how: 'uplift',
      previous: { epoch: '1', host: 'http://a' },
      uplift: { oldHost: 'http://a', newRA: '0xq' },
      host: 'http://b',
    })
    expect(found[1]?.message).toBe('agent 7: 5 wei left the treasury to 0xTo (epoch 2)')
  })
})

describe('instanceFindings', () => {
  const evaluation = (score: number, isAgent = true): Evaluation => ({
    id: 'x',
    holds: { a: true, b: true, c: isAgent, d: true },
    isAgent,
    score,
    breakdown: [{ factor: 'tcbStatus', points: 4, max: 20, why: 'OutOfDate' }],
    failures: isAgent ? [] : ['(c) the attested compose hash is not approved on-chain'],
  })
  const base = {
    agent: '7',
    url: 'http://a',
    reasons: [],
    epoch: 3n,
    attestedComposeHash: '0xc1',
    previousComposeHash: '0xc1',
    bestScore: 80,
  }
  test('default: a verified agent at its best score and measurement finds nothing', () => {
    expect(instanceFindings({ ...base, evaluation: evaluation(80) })).toEqual([])
  })
  test('behavior: failing the identity function, a lower score, another attested compose hash', () => {
    const found = instanceFindings({
      ...base,
      evaluation: evaluation(0, false),
      reasons: [{ code: 'policy.measurement', message: 'not approved' }],
      attestedComposeHash: '0xc2',
    })
    expect(found.map((f) => f.code)).toEqual(['attestation.failed', 'score.dropped', 'measurement.changed'])
    expect(found[0]?.message).toBe(
      'agent 7: http://a fails the identity function: (c) the attested compose hash is not approved on-chain [policy.measurement]',
    )
    expect(found[2]?.facts).toEqual({ from: '0xc1', to: '0xc2', url: 'http://a', epoch: '3' })
    // No baseline yet (first check, or a new epoch): no score.dropped, no measurement.changed.
    expect(
      instanceFindings({ ...base, evaluation: evaluation(60), bestScore: null, previousComposeHash: null, attestedComposeHash: '0xc9' }),
    ).toEqual([])
  })
})

describe('collateralFindings', () => {
  const now = new Date('2026-12-01T00:00:00Z')
  const inDays = (d: number) => new Date(now.getTime() + d * 86_400_000)
  const rating = (status: string, n = 17, advisoryIds: string[] = []) => ({ status, advisoryIds, tcbEvaluationDataNumber: n, reasons: [] })
  const parts = { tcbInfo: inDays(30), qeIdentity: inDays(30), pckCrl: inDays(20), rootCaCrl: inDays(30) }
  const settings = { minTcbStatus: 'UpToDate' as const, collateralWarnMs: 7 * 86_400_000 }
  const base = { agent: '7', fmspc: 'DE7ED0000000', standard: rating('UpToDate'), early: rating('UpToDate'), parts, error: undefined, now }

  test('default: UpToDate under both, collateral valid for weeks: nothing', () => {
    expect(collateralFindings(base, settings)).toEqual([])
    expect(tcbRank('UpToDate')).toBeLessThan(tcbRank('OutOfDate'))
    expect(tcbRank(undefined)).toBeGreaterThan(tcbRank('Revoked'))
  })

  test('behavior: OutOfDate is tcb.degraded (Revoked critical); early worse than standard is tcb.recovery_pending with the date', () => {
    const found = collateralFindings({ ...base, standard: rating('OutOfDate', 17, ['SA-1']), early: rating('Revoked', 18) }, settings)
    expect(found.map((f) => [f.code, f.severity])).toEqual([
      ['tcb.degraded', undefined],
      ['tcb.recovery_pending', undefined],
    ])
    expect(found[1]?.facts).toEqual({
      standardStatus: 'OutOfDate',
      earlyStatus: 'Revoked',
      standardTcbEvaluationDataNumber: 17,
      earlyTcbEvaluationDataNumber: 18,
      earlyAdvisoryIds: [],
      standardNextUpdate: inDays(30).toISOString(),
      fmspc: 'DE7ED0000000',
    })
    expect(collateralFindings({ ...base, standard: rating('Revoked') }, settings)[0]?.severity).toBe('critical')
    expect(
      collateralFindings({ ...base, standard: rating('SWHardeningNeeded') }, { ...settings, minTcbStatus: 'SWHardeningNeeded' }),
    ).toEqual([])
  })

  test('behavior: collateral expiring within the window, or expired (critical), names the earliest part', () => {
    const soon = collateralFindings({ ...base, parts: { ...parts, pckCrl: inDays(2) } }, settings)
    expect(soon.map((f) => [f.code, f.facts.part, f.facts.expired, f.facts.inSeconds, f.severity])).toEqual([
      ['collateral.expiring', 'pckCrl', false, 172_800, undefined],
    ])
    const gone = collateralFindings({ ...base, parts: { ...parts, qeIdentity: inDays(-1) }, error: 'qeIdentity: expired' }, settings)
    expect(gone.map((f) => [f.code, f.facts.part, f.facts.expired, f.severity, f.facts.error])).toEqual([
      ['collateral.expiring', 'qeIdentity', true, 'critical', 'qeIdentity: expired'],
    ])
  })
})
