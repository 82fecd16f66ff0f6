/**
 * The identity function and the security score (DESIGN.md §7 "Identity function", §8).
 *
 * An instance IS agent X when it (a) controls K_agent, (b) has loaded S_latest, (c) runs in an
 * environment whose remote attestation reports an approved compose hash C, and (d) is recognised by
 * Regent (canonical in RegentSuccession) for agent X. Among instances that satisfy it, the agent
 * prefers the highest security score. The score is computed only from verified facts; an instance
 * that fails the identity function scores 0 whatever else it has.
 */
import type { TcbInfo } from '@regent-tee/attest'

/** TCB statuses as Intel names them (best first): attest's. */
export type TcbStatus = TcbInfo.Status

/** Verified facts about one instance (gather them with the verifier and on-chain reads, never from the instance's word). */
export type InstanceFacts = {
  /** A label for reports (URL, CVM id…). */
  id: string
  /** (a) A signature over the verifier's fresh nonce recovered to the agent's key. */
  controlsKey: boolean
  /** (b) The state root the instance attested to… */
  stateRoot: string | undefined
  /** …and the latest root committed on-chain for the agent. */
  latestStateRoot: string | undefined
  /** (c) The quote verified (`verdict.verified`), its trust root kind, TCB status and advisories. */
  attestation: {
    verified: boolean
    hardware: 'tdx' | 'sgx' | 'devnet' | undefined
    status: TcbStatus | undefined
    advisoryIds: readonly string[]
    /** Seconds since the quote was produced for the verifier's nonce. */
    ageSeconds: number
  }
  /** (c) The compose hash replayed from RTMR3 is approved and active in RegentAppAuth. */
  measurementApproved: boolean
  /** The key's signature chain verified back to an allowed KMS root. */
  kmsProvenanceVerified: boolean
  /** (d) The instance's key is the canonical signer of the agent's current epoch in RegentSuccession. */
  canonical: boolean
}

/** One line of the score breakdown. */
export type ScoreItem = { factor: string; points: number; max: number; why: string }

/** The outcome of {@link evaluateInstance}. */
export type Evaluation = {
  id: string
  holds: { a: boolean; b: boolean; c: boolean; d: boolean }
  /** (a) ∧ (b) ∧ (c) ∧ (d). */
  isAgent: boolean
  /** 0–100; 0 when `isAgent` is false. */
  score: number
  breakdown: ScoreItem[]
  /** Why the identity function failed (empty when it holds). */
  failures: string[]
}

/** Points per factor (sums to 100). Exported so that a report can show the scale. */
export const scoreWeights = {
  hardware: 30,
  tcbStatus: 20,
  advisories: 10,
  freshness: 10,
  measurementApproved: 10,
  kmsProvenance: 10,
  canonical: 10,
} as const

const hardwarePoints = { tdx: 30, sgx: 24, devnet: 10 } as const
const tcbPoints: Record<TcbStatus, number> = {
  UpToDate: 20,
  SWHardeningNeeded: 15,
  ConfigurationNeeded: 11,
  ConfigurationAndSWHardeningNeeded: 9,
  OutOfDate: 4,
  OutOfDateConfigurationNeeded: 2,
  Revoked: 0,
}
/** Attestations this fresh get full marks; the points fall linearly to 0 at {@link staleAfterSeconds}. */
export const freshForSeconds = 300
export const staleAfterSeconds = 86_400

/**
 * Evaluates one instance: which of (a)–(d) hold, and its security score with a breakdown.
 *
 * @example
 * const e = evaluateInstance(facts)
 * if (!e.isAgent) console.log(e.failures)
 */
export function evaluateInstance(facts: InstanceFacts): Evaluation {
  const { attestation: att } = facts
  const failures: string[] = []
  const a = facts.controlsKey
  if (!a) failures.push('(a) no proof of control of the agent key over the verifier nonce')
  const b = facts.stateRoot !== undefined && facts.latestStateRoot !== undefined && same(facts.stateRoot, facts.latestStateRoot)
  if (!b) failures.push(`(b) state root ${facts.stateRoot ?? 'none'} is not the latest committed (${facts.latestStateRoot ?? 'none'})`)
  const c = att.verified && att.hardware !== undefined && att.status !== 'Revoked' && facts.measurementApproved
  if (!c)
    failures.push(
      !att.verified || att.hardware === undefined
        ? '(c) the attestation did not verify'
        : att.status === 'Revoked'
          ? '(c) the platform TCB is revoked'
          : '(c) the attested compose hash is not approved on-chain',
    )
  const d = facts.canonical
  if (!d) failures.push('(d) not the canonical instance of the current epoch in RegentSuccession')

  const breakdown: ScoreItem[] = [
    {
      factor: 'hardware',
      points: att.verified && att.hardware ? hardwarePoints[att.hardware] : 0,
      max: scoreWeights.hardware,
      why: att.verified && att.hardware ? `${att.hardware} root of trust` : 'no verified attestation',
    },
    {
      factor: 'tcbStatus',
      points: att.verified && att.status ? tcbPoints[att.status] : 0,
      max: scoreWeights.tcbStatus,
      why: att.status ?? 'unknown',
    },
    {
      factor: 'advisories',
      points: att.verified ? Math.max(0, scoreWeights.advisories - 2 * att.advisoryIds.length) : 0,
      max: scoreWeights.advisories,
      why: att.advisoryIds.length === 0 ? 'none' : att.advisoryIds.join(', '),
    },
    {
      factor: 'freshness',
      points: att.verified ? freshness(att.ageSeconds) : 0,
      max: scoreWeights.freshness,
      why: `attested ${Math.round(att.ageSeconds)} s ago`,
    },
    {
      factor: 'measurementApproved',
      points: facts.measurementApproved ? scoreWeights.measurementApproved : 0,
      max: scoreWeights.measurementApproved,
      why: facts.measurementApproved ? 'compose hash approved on-chain' : 'not approved',
    },
    {
      factor: 'kmsProvenance',
      points: facts.kmsProvenanceVerified ? scoreWeights.kmsProvenance : 0,
      max: scoreWeights.kmsProvenance,
      why: facts.kmsProvenanceVerified ? 'key chain verifies to an allowed KMS root' : 'not verified',
    },
    {
      factor: 'canonical',
      points: facts.canonical ? scoreWeights.canonical : 0,
      max: scoreWeights.canonical,
      why: facts.canonical ? 'canonical for the current epoch' : 'not canonical',
    },
  ]
  const isAgent = a && b && c && d
  const score = isAgent ? Math.round(breakdown.reduce((sum, item) => sum + item.points, 0) * 10) / 10 : 0
  return { id: facts.id, holds: { a, b, c, d }, isAgent, score, breakdown, failures }
}

/**
 * Among candidates that satisfy the identity function, the one with the highest score (ties: the
 * freshest attestation, then the first given). `undefined` when none satisfies it.
 */
export function preferInstance(candidates: readonly InstanceFacts[]): { chosen: Evaluation | undefined; ranked: Evaluation[] } {
  const evaluated = candidates.map((facts, index) => ({ facts, index, e: evaluateInstance(facts) }))
  const ranked = [...evaluated]
    .sort(
      (x, y) =>
        Number(y.e.isAgent) - Number(x.e.isAgent) ||
        y.e.score - x.e.score ||
        x.facts.attestation.ageSeconds - y.facts.attestation.ageSeconds ||
        x.index - y.index,
    )
    .map((r) => r.e)
  return { chosen: ranked[0]?.isAgent ? ranked[0] : undefined, ranked }
}

function freshness(ageSeconds: number): number {
  if (ageSeconds <= freshForSeconds) return scoreWeights.freshness
  if (ageSeconds >= staleAfterSeconds) return 0
  return Math.round(scoreWeights.freshness * (1 - (ageSeconds - freshForSeconds) / (staleAfterSeconds - freshForSeconds)) * 10) / 10
}

function same(x: string, y: string): boolean {
  return x.toLowerCase().replace(/^0x/, '') === y.toLowerCase().replace(/^0x/, '')
}
