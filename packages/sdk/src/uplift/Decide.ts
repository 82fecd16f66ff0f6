/**
 * Step 0 of the self-uplift protocol (DESIGN.md §10 "Decide"; issue 7 step 0): an expected-value evaluation over
 * the pro/con table. Each factor has a probability that it materialises, a value (utility points if it does) and a
 * weight; its contribution is `± weight × probability × value` (+ for a pro, − for a con) and
 * `EV = Σ contributions`. The uplift proceeds when `EV > 0`, or when forced. Pure: no I/O, no clock, no randomness.
 *
 * Default inputs are for an agent in the wild (a plain server holding its own key) moving into a TEE; an agent
 * already in a TEE moving between hosts gains less key custody and attestation and should say so in `inputs`.
 */
import { BaseError } from '../errors.js'

/** The factors of the table, pros first. */
export const factors = ['keyCustody', 'attestation', 'survivability', 'regentBenefits', 'migrationComplexity', 'downtimeRisk'] as const

export type Factor = (typeof factors)[number]

/** Whether a factor counts for (`pro`) or against (`con`) the uplift. */
export const kinds: Readonly<Record<Factor, 'pro' | 'con'>> = {
  keyCustody: 'pro',
  attestation: 'pro',
  survivability: 'pro',
  regentBenefits: 'pro',
  migrationComplexity: 'con',
  downtimeRisk: 'con',
}

/** One factor's input: the probability it materialises (0–1) and its value in utility points (≥ 0). */
export type Input = { readonly probability: number; readonly value: number }

/**
 * Documented defaults (docs/uplift.md "Step 0"):
 *
 * | factor | p | value | why |
 * |---|---|---|---|
 * | keyCustody | 0.9 | 10 | the wallet key leaves the operator's reach (it lives only in the TEE afterwards) |
 * | attestation | 0.95 | 6 | counterparties can verify the code (quote + RTMR3 replay + on-chain approval) |
 * | survivability | 0.8 | 8 | same app config ⇒ same keys on any host; the agent can move again |
 * | regentBenefits | 0.7 | 4 | canonical on-chain identity, security score, reputation that follows the agent |
 * | migrationComplexity | 1 | 5 | a multi-step protocol always costs work, gas and operator attention |
 * | downtimeRisk | 0.1 | 20 | a failed handover would cost requests or funds; rare, but expensive |
 *
 * EV with these inputs and unit weights: 9 + 5.7 + 6.4 + 2.8 − 5 − 2 = 16.9 (proceed).
 */
export const defaultInputs: Readonly<Record<Factor, Input>> = {
  keyCustody: { probability: 0.9, value: 10 },
  attestation: { probability: 0.95, value: 6 },
  survivability: { probability: 0.8, value: 8 },
  regentBenefits: { probability: 0.7, value: 4 },
  migrationComplexity: { probability: 1, value: 5 },
  downtimeRisk: { probability: 0.1, value: 20 },
}

/** Default weights: 1 for every factor. */
export const defaultWeights: Readonly<Record<Factor, number>> = {
  keyCustody: 1,
  attestation: 1,
  survivability: 1,
  regentBenefits: 1,
  migrationComplexity: 1,
  downtimeRisk: 1,
}

export type Options = {
  /** Per-factor overrides of {@link defaultInputs} (each field separately). */
  readonly inputs?: { readonly [F in Factor]?: Partial<Input> }
  /** Per-factor overrides of {@link defaultWeights}. */
  readonly weights?: { readonly [F in Factor]?: number }
  /** Proceed whatever the EV. @default false */
  readonly force?: boolean
}

export type Row = {
  readonly factor: Factor
  readonly kind: 'pro' | 'con'
  readonly weight: number
  readonly probability: number
  readonly value: number
  /** `± weight × probability × value`. */
  readonly contribution: number
}

export type Result = {
  /** Σ contributions. */
  readonly ev: number
  /** One row per factor, in {@link factors} order. */
  readonly rows: readonly Row[]
  /** `ev > 0 || forced`. */
  readonly proceed: boolean
  readonly forced: boolean
}

/**
 * Evaluates the table.
 *
 * @throws {InvalidDecisionInputError} for an unknown factor, a probability outside [0, 1], or a negative or
 *   non-finite value or weight (the error names the field, e.g. `inputs.downtimeRisk.probability`).
 * @example
 * const result = Decide.evaluate({ weights: { downtimeRisk: 3 } })
 * if (!result.proceed) console.log(Decide.toTable(result))
 */
export function evaluate(options: Options = {}): Result {
  for (const key of Object.keys(options.inputs ?? {}))
    if (!factors.includes(key as Factor)) throw new InvalidDecisionInputError({ field: `inputs.${key}`, reason: 'is not a factor' })
  for (const key of Object.keys(options.weights ?? {}))
    if (!factors.includes(key as Factor)) throw new InvalidDecisionInputError({ field: `weights.${key}`, reason: 'is not a factor' })
  const rows = factors.map((factor): Row => {
    const probability = options.inputs?.[factor]?.probability ?? defaultInputs[factor].probability
    const value = options.inputs?.[factor]?.value ?? defaultInputs[factor].value
    const weight = options.weights?.[factor] ?? defaultWeights[factor]
    if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1))
      throw new InvalidDecisionInputError({ field: `inputs.${factor}.probability`, reason: 'must be a number in [0, 1]' })
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw new InvalidDecisionInputError({ field: `inputs.${factor}.value`, reason: 'must be a finite number ≥ 0' })
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0)
      throw new InvalidDecisionInputError({ field: `weights.${factor}`, reason: 'must be a finite number ≥ 0' })
    const kind = kinds[factor]
    const magnitude = weight * probability * value
    return { factor, kind, weight, probability, value, contribution: kind === 'pro' ? magnitude : -magnitude }
  })
  const ev = rows.reduce((sum, r) => sum + r.contribution, 0)
  const forced = options.force === true
  return { ev, rows, proceed: ev > 0 || forced, forced }
}

/**
 * The result as a plain-text table (fixed-width columns, two decimals, a final EV line and the decision).
 *
 * @example
 * Decide.toTable(Decide.evaluate())
 * // factor               kind  weight     p  value  contribution
 * // keyCustody           pro     1.00  0.90  10.00          9.00
 * // …
 * // EV = 16.90 → proceed
 */
export function toTable(result: Result): string {
  const header = ['factor', 'kind', 'weight', 'p', 'value', 'contribution']
  const body = result.rows.map((r) => [
    r.factor,
    r.kind,
    r.weight.toFixed(2),
    r.probability.toFixed(2),
    r.value.toFixed(2),
    r.contribution.toFixed(2),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd()
  const decision = result.ev > 0 ? 'proceed' : result.forced ? 'proceed (forced)' : 'do not proceed'
  return [line(header), ...body.map(line), `EV = ${result.ev.toFixed(2)} → ${decision}`].join('\n')
}

export class InvalidDecisionInputError extends BaseError {
  override name = 'Decide.InvalidDecisionInputError'
  readonly field: string
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid decision input ${field}: ${reason}.`)
    this.field = field
  }
}
