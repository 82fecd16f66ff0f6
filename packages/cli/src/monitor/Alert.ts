/**
 * Typed monitor alerts (issue 18 "Alerts"; DESIGN.md §12): what each code means, how bad it is, which part of a
 * check decides it, and the one rule that de-duplicates and resolves them.
 *
 * Two kinds of alert:
 * - **conditions** hold while a fact holds (a pending approval, a degraded TCB, an unreachable agent…): raised once
 *   when the fact starts to hold, resolved once when a check that could see the fact finds it gone;
 * - **events** report something that happened on-chain or in the attested code (an uplift, a new measurement, a
 *   treasury withdrawal, a new registration file): raised once per event, resolved once at the first later check
 *   in which the agent verifies (the identity function holds) — the agent is still itself after the change.
 * A check that could not see a domain (the chain did not answer, the agent did not, no collateral) neither raises
 * nor resolves that domain's conditions.
 */

/** Every alert code. */
export const codes = [
  'measurement.pending',
  'measurement.changed',
  'measurement.revoked',
  'canonical.changed',
  'attestation.failed',
  'score.dropped',
  'tcb.degraded',
  'tcb.recovery_pending',
  'collateral.expiring',
  'collateral.unavailable',
  'agent.unreachable',
  'state.stale',
  'treasury.moved',
  'registration.changed',
  'chain.unreachable',
] as const

export type Code = (typeof codes)[number]
export type Severity = 'critical' | 'warning' | 'info'
/**
 * What a check must have seen to decide a code: the chain, the verified instance, Intel collateral; `probe` (the
 * check asked the instance), `pcs` (it asked for collateral); `monitor` is always seen.
 */
export type Domain = 'chain' | 'instance' | 'collateral' | 'probe' | 'pcs' | 'monitor'

/** One line about each code (docs/cli/monitor.md lists the same). */
export const catalog: Record<Code, { kind: 'condition' | 'event'; domain: Domain; severity: Severity; summary: string }> = {
  'measurement.pending': {
    kind: 'condition',
    domain: 'chain',
    severity: 'warning',
    summary:
      "a compose hash, OS image or KMS root was approved for the agent's app and activates after its timelock: the users' exit window",
  },
  'measurement.changed': {
    kind: 'event',
    domain: 'instance',
    severity: 'warning',
    summary: 'the canonical instance attests a compose hash other than the one it attested before',
  },
  'measurement.revoked': {
    kind: 'condition',
    domain: 'chain',
    severity: 'critical',
    summary: "the compose hash the canonical instance runs is no longer approved for the agent's app",
  },
  'canonical.changed': {
    kind: 'event',
    domain: 'chain',
    severity: 'warning',
    summary: 'RegentSuccession names a new canonical instance (uplift, key rotation, upgrade): new epoch',
  },
  'attestation.failed': {
    kind: 'condition',
    domain: 'instance',
    severity: 'critical',
    summary: "the canonical instance fails the identity function (a)–(d) or its attestation does not verify; the verifier's reasons",
  },
  'score.dropped': {
    kind: 'condition',
    domain: 'instance',
    severity: 'warning',
    summary: 'the security score is below the best score seen at the current epoch',
  },
  'tcb.degraded': {
    kind: 'condition',
    domain: 'collateral',
    severity: 'warning',
    summary: "the TCB status of the instance's platform under Intel's standard TCB info is below the minimum (UpToDate by default)",
  },
  'tcb.recovery_pending': {
    kind: 'condition',
    domain: 'collateral',
    severity: 'warning',
    summary:
      "Intel's early TCB info rates the platform lower than the standard one: a TCB recovery is in progress and the platform will fall out of date at the next standard update",
  },
  'collateral.expiring': {
    kind: 'condition',
    domain: 'collateral',
    severity: 'warning',
    summary: 'the TCB info, QE identity or a CRL reaches its nextUpdate within the warning window (or has passed it)',
  },
  'collateral.unavailable': {
    kind: 'condition',
    domain: 'pcs',
    severity: 'warning',
    summary: 'the PCCS / Intel PCS did not give collateral for the platform',
  },
  'agent.unreachable': {
    kind: 'condition',
    domain: 'probe',
    severity: 'critical',
    summary: 'the canonical instance does not answer its identity endpoint',
  },
  'state.stale': {
    kind: 'condition',
    domain: 'chain',
    severity: 'warning',
    summary: 'the last state root committed on-chain is older than the allowed age',
  },
  'treasury.moved': {
    kind: 'event',
    domain: 'chain',
    severity: 'warning',
    summary: "funds left the agent's AgentTreasury (Withdrawn)",
  },
  'registration.changed': {
    kind: 'event',
    domain: 'chain',
    severity: 'warning',
    summary: "the agent's ERC-8004 registration changed: its registration file (URIUpdated), metadata or owner (Transfer)",
  },
  'chain.unreachable': {
    kind: 'condition',
    domain: 'monitor',
    severity: 'critical',
    summary: 'the monitor cannot read the chain, so it cannot vouch for the agent',
  },
}

/** A fact that holds now (a condition) or an event seen now, as a check reports it. */
export type Finding = {
  code: Code
  /** What distinguishes two alerts of one code for one agent (a compose hash, a transaction…); '' for one per agent. */
  subject: string
  message: string
  facts: Record<string, unknown>
  /** Overrides the code's default severity (e.g. Revoked TCB, expired collateral). */
  severity?: Severity
}

/** An alert as stored and delivered. */
export type Alert = {
  id: number
  /** `<agent>/<code>/<subject>`: at most one open alert per key. */
  key: string
  agent: string
  code: Code
  subject: string
  severity: Severity
  message: string
  facts: Record<string, unknown>
  raisedAt: string
  raisedTick: number
  resolvedAt: string | null
  resolution: string | null
}

/** A change of an alert: what stdout, webhooks and the dashboard receive. */
export type Transition = { state: 'raised' | 'resolved'; alert: Alert }

export const keyOf = (agent: string, code: Code, subject: string) => `${agent}/${code}/${subject}`

/** What one check of one agent could see, and what it found. */
export type Observation = {
  agent: string
  tick: number
  at: Date
  /** Domains the check could see (a condition of a domain not seen is neither raised nor resolved). */
  seen: ReadonlySet<Domain>
  /** The identity function held in this check. */
  verified: boolean
  findings: readonly Finding[]
  /** Why a condition no longer holds, for its resolution line. */
  why?: (alert: Alert) => string
}

/**
 * The de-duplication and resolution rule: the transitions that `observation` causes given the agent's open alerts.
 * Pure; the caller stores the new alerts (ids are assigned by the store: `id` 0 here) and the resolutions.
 *
 * @returns raised (new keys), resolved (open keys that stop holding), and `updated`: open alerts whose facts moved (stored, not delivered).
 */
export function reconcile(open: readonly Alert[], observation: Observation): { transitions: Transition[]; updated: Alert[] } {
  const { agent, tick, at, seen } = observation
  const now = at.toISOString()
  const byKey = new Map(open.map((a) => [a.key, a]))
  const found = new Map<string, Finding>()
  for (const f of observation.findings) found.set(keyOf(agent, f.code, f.subject), f)
  const transitions: Transition[] = []
  const updated: Alert[] = []

  for (const [key, f] of found) {
    const existing = byKey.get(key)
    const severity = f.severity ?? catalog[f.code].severity
    if (existing) {
      if (JSON.stringify(existing.facts) !== JSON.stringify(f.facts) || existing.message !== f.message || existing.severity !== severity)
        updated.push({ ...existing, facts: f.facts, message: f.message, severity })
      continue
    }
    transitions.push({
      state: 'raised',
      alert: {
        id: 0,
        key,
        agent,
        code: f.code,
        subject: f.subject,
        severity,
        message: f.message,
        facts: f.facts,
        raisedAt: now,
        raisedTick: tick,
        resolvedAt: null,
        resolution: null,
      },
    })
  }
  for (const alert of open) {
    if (found.has(alert.key)) continue
    const entry = catalog[alert.code]
    const resolves =
      entry.kind === 'event' ? observation.verified && tick > alert.raisedTick : entry.domain === 'monitor' || seen.has(entry.domain)
    if (!resolves) continue
    const resolution =
      entry.kind === 'event'
        ? `verified after the change: the identity function holds (check ${tick})`
        : (observation.why?.(alert) ?? 'no longer holds')
    transitions.push({ state: 'resolved', alert: { ...alert, resolvedAt: now, resolution } })
  }
  return { transitions, updated }
}
