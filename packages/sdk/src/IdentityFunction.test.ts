import { describe, expect, test } from 'vitest'
import { evaluateInstance, type InstanceFacts, preferInstance, scoreWeights as weights } from './IdentityFunction.js'

const root = `0x${'ab'.repeat(32)}`
const good = (over: Partial<InstanceFacts> = {}): InstanceFacts => ({
  id: 'cvm-1',
  controlsKey: true,
  stateRoot: root,
  latestStateRoot: root,
  attestation: { verified: true, hardware: 'tdx', status: 'UpToDate', advisoryIds: [], ageSeconds: 10 },
  measurementApproved: true,
  kmsProvenanceVerified: true,
  canonical: true,
  ...over,
})

describe('evaluateInstance', () => {
  test('default: a canonical, up-to-date TDX instance with the latest state scores 100', () => {
    const e = evaluateInstance(good())
    expect(e).toMatchObject({ isAgent: true, score: 100, holds: { a: true, b: true, c: true, d: true }, failures: [] })
    expect(e.breakdown.reduce((s, i) => s + i.max, 0)).toBe(100)
    expect(Object.values(weights).reduce((s, w) => s + w, 0)).toBe(100)
    expect(evaluateInstance(good({ latestStateRoot: root.toUpperCase().replace('0X', '') })).holds.b).toBe(true) // hex case and 0x do not matter
  })

  test('behavior: each failing clause makes the instance not the agent and scores 0, naming the clause', () => {
    const cases: [Partial<InstanceFacts>, string][] = [
      [{ controlsKey: false }, '(a) no proof of control of the agent key over the verifier nonce'],
      [{ stateRoot: `0x${'cd'.repeat(32)}` }, `(b) state root 0x${'cd'.repeat(32)} is not the latest committed (${root})`],
      [{ stateRoot: undefined }, `(b) state root none is not the latest committed (${root})`],
      [{ measurementApproved: false }, '(c) the attested compose hash is not approved on-chain'],
      [
        { attestation: { verified: false, hardware: undefined, status: undefined, advisoryIds: [], ageSeconds: 1 } },
        '(c) the attestation did not verify',
      ],
      [
        { attestation: { verified: true, hardware: 'tdx', status: 'Revoked', advisoryIds: [], ageSeconds: 1 } },
        '(c) the platform TCB is revoked',
      ],
      [{ canonical: false }, '(d) not the canonical instance of the current epoch in RegentSuccession'],
    ]
    for (const [over, failure] of cases) {
      const e = evaluateInstance(good(over))
      expect([e.isAgent, e.score, e.failures]).toEqual([false, 0, [failure]])
    }
  })

  test('behavior: the score ranks hardware, TCB status, advisories and age', () => {
    const devnet = evaluateInstance(
      good({ attestation: { verified: true, hardware: 'devnet', status: 'UpToDate', advisoryIds: [], ageSeconds: 10 } }),
    )
    expect(devnet.score).toBe(80)
    const outdated = evaluateInstance(
      good({
        attestation: {
          verified: true,
          hardware: 'tdx',
          status: 'OutOfDate',
          advisoryIds: ['INTEL-SA-00960', 'INTEL-SA-00982'],
          ageSeconds: 10,
        },
      }),
    )
    expect(outdated.score).toBe(100 - 16 - 4)
    const stale = evaluateInstance(
      good({ attestation: { verified: true, hardware: 'tdx', status: 'UpToDate', advisoryIds: [], ageSeconds: 86_400 } }),
    )
    expect(stale.score).toBe(90)
    const halfway = evaluateInstance(
      good({ attestation: { verified: true, hardware: 'tdx', status: 'UpToDate', advisoryIds: [], ageSeconds: 300 + (86_400 - 300) / 2 } }),
    )
    expect(halfway.score).toBe(95)
    const order = [
      'SWHardeningNeeded',
      'ConfigurationNeeded',
      'ConfigurationAndSWHardeningNeeded',
      'OutOfDate',
      'OutOfDateConfigurationNeeded',
    ] as const
    const scores = order.map(
      (status) =>
        evaluateInstance(good({ attestation: { verified: true, hardware: 'tdx', status, advisoryIds: [], ageSeconds: 0 } })).score,
    )
    expect(scores).toEqual([...scores].sort((x, y) => y - x))
    expect(new Set(scores).size).toBe(scores.length)
  })
})

describe('preferInstance', () => {
  test('default: the highest-scoring instance that is the agent wins; non-agents never win', () => {
    const tdx = good({ id: 'tdx' })
    const devnet = good({
      id: 'devnet',
      attestation: { verified: true, hardware: 'devnet', status: 'UpToDate', advisoryIds: [], ageSeconds: 1 },
    })
    const impostor = good({ id: 'impostor', canonical: false })
    const { chosen, ranked } = preferInstance([impostor, devnet, tdx])
    expect(chosen?.id).toBe('tdx')
    expect(ranked.map((r) => r.id)).toEqual(['tdx', 'devnet', 'impostor'])
    expect(preferInstance([impostor]).chosen).toBeUndefined()
  })

  test('behavior: ties go to the freshest attestation, then to the first given', () => {
    const older = good({
      id: 'older',
      attestation: { verified: true, hardware: 'tdx', status: 'UpToDate', advisoryIds: [], ageSeconds: 200 },
    })
    const newer = good({
      id: 'newer',
      attestation: { verified: true, hardware: 'tdx', status: 'UpToDate', advisoryIds: [], ageSeconds: 20 },
    })
    expect(preferInstance([older, newer]).chosen?.id).toBe('newer')
    expect(preferInstance([good({ id: 'x' }), good({ id: 'y' })]).chosen?.id).toBe('x')
  })
})
