import { describe, expect, test } from 'vitest'
import * as Decide from './Decide.js'

describe('Decide.evaluate', () => {
  test('default: the documented table gives EV 16.9 and proceeds', () => {
    const result = Decide.evaluate()
    expect(result.ev).toBeCloseTo(16.9, 10)
    expect(result.proceed).toBe(true)
    expect(result.forced).toBe(false)
    expect(result.rows.map((r) => [r.factor, r.kind, r.weight, r.probability, r.value])).toEqual([
      ['keyCustody', 'pro', 1, 0.9, 10],
      ['attestation', 'pro', 1, 0.95, 6],
      ['survivability', 'pro', 1, 0.8, 8],
      ['regentBenefits', 'pro', 1, 0.7, 4],
      ['migrationComplexity', 'con', 1, 1, 5],
      ['downtimeRisk', 'con', 1, 0.1, 20],
    ])
    expect(result.rows.map((r) => Number(r.contribution.toFixed(6)))).toEqual([9, 5.7, 6.4, 2.8, -5, -2])
  })

  test('behavior: weights flip the decision', () => {
    const result = Decide.evaluate({ weights: { downtimeRisk: 10 } })
    expect(result.ev).toBeCloseTo(16.9 - 18, 10)
    expect(result.proceed).toBe(false)
  })

  test('behavior: inputs flip the decision (a TEE-to-TEE move gains little custody or attestation)', () => {
    const result = Decide.evaluate({ inputs: { keyCustody: { value: 0 }, attestation: { value: 0 }, survivability: { probability: 0.1 } } })
    expect(result.ev).toBeCloseTo(0.8 + 2.8 - 5 - 2, 10)
    expect(result.proceed).toBe(false)
  })

  test('behavior: EV exactly 0 does not proceed; forced proceeds whatever the EV', () => {
    const zero = Decide.evaluate({
      weights: { keyCustody: 0, attestation: 0, survivability: 0, regentBenefits: 0, migrationComplexity: 0, downtimeRisk: 0 },
    })
    expect([zero.ev, zero.proceed]).toEqual([0, false])
    const forced = Decide.evaluate({ weights: { downtimeRisk: 10 }, force: true })
    expect([forced.ev < 0, forced.proceed, forced.forced]).toEqual([true, true, true])
  })

  test('behavior: invalid inputs name the field', () => {
    const fields = (options: Decide.Options) => {
      try {
        Decide.evaluate(options)
        return undefined
      } catch (error) {
        expect(error).toBeInstanceOf(Decide.InvalidDecisionInputError)
        return [(error as Decide.InvalidDecisionInputError).field, (error as Error).message]
      }
    }
    expect(fields({ inputs: { downtimeRisk: { probability: 1.5 } } })).toEqual([
      'inputs.downtimeRisk.probability',
      'Invalid decision input inputs.downtimeRisk.probability: must be a number in [0, 1].',
    ])
    expect(fields({ inputs: { keyCustody: { value: -1 } } })?.[0]).toBe('inputs.keyCustody.value')
    expect(fields({ weights: { attestation: Number.NaN } })?.[0]).toBe('weights.attestation')
    expect(fields({ weights: { luck: 1 } as never })?.[0]).toBe('weights.luck')
    expect(fields({ inputs: { luck: { value: 1 } } as never })?.[0]).toBe('inputs.luck')
  })
})

describe('Decide.toTable', () => {
  test('default: a fixed-width table with the EV and the decision', () => {
    expect(Decide.toTable(Decide.evaluate())).toMatchInlineSnapshot(`
      "factor               kind  weight     p  value  contribution
      keyCustody           pro     1.00  0.90  10.00          9.00
      attestation          pro     1.00  0.95   6.00          5.70
      survivability        pro     1.00  0.80   8.00          6.40
      regentBenefits       pro     1.00  0.70   4.00          2.80
      migrationComplexity  con     1.00  1.00   5.00         -5.00
      downtimeRisk         con     1.00  0.10  20.00         -2.00
      EV = 16.90 → proceed"
    `)
  })

  test('behavior: a negative EV says so, and forced says forced', () => {
    expect(
      Decide.toTable(Decide.evaluate({ weights: { downtimeRisk: 10 } }))
        .split('\n')
        .at(-1),
    ).toBe('EV = -1.10 → do not proceed')
    expect(
      Decide.toTable(Decide.evaluate({ weights: { downtimeRisk: 10 }, force: true }))
        .split('\n')
        .at(-1),
    ).toBe('EV = -1.10 → proceed (forced)')
  })
})
