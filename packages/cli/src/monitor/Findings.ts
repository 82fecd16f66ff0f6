/**
 * What each alert code means in terms of facts (issue 18 "Alerts"): pure functions from what a check saw — events,
 * on-chain state, the verified instance, Intel collateral — to the findings (conditions that hold, events that
 * happened) that `Alert.reconcile` turns into raised and resolved alerts. No I/O here; Monitor.ts gathers the facts.
 */
import { TcbInfo } from '@regent-tee/attest'
import type { Evaluation, Reason } from '@regent-tee/sdk'
import type { Alert, Finding } from './Alert.js'
import type { Parts, Rating } from './CollateralWatch.js'
import type { EventRow, MeasurementRow } from './Store.js'

/** TCB statuses, best first (Intel's order; attest's list, docs/attest.md). */
export const tcbOrder = TcbInfo.statuses
export type TcbStatus = TcbInfo.Status

/** Rank of a status (0 = UpToDate); an unknown or missing status ranks below Revoked. */
export const tcbRank = (status: string | undefined) => {
  const i = tcbOrder.indexOf(status as TcbStatus)
  return i < 0 ? tcbOrder.length : i
}

const iso = (unix: number) => new Date(unix * 1000).toISOString()
const short = (hex: string) => (hex.length > 18 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex)
const kindName = { composeHash: 'compose hash', osImage: 'OS image', kmsRoot: 'KMS root' } as const

/** Event-derived findings: one per event worth an alert (events at or before `alertAfterBlock` are history only). */
export function eventFindings(
  agent: string,
  events: readonly EventRow[],
  context: { alertAfterBlock: number; previous: (e: EventRow) => EventRow | undefined },
): Finding[] {
  const findings: Finding[] = []
  const byTx = new Map<string, EventRow[]>()
  for (const e of events) byTx.set(e.tx, [...(byTx.get(e.tx) ?? []), e])
  for (const e of events) {
    if (e.block <= context.alertAfterBlock) continue
    const where = { tx: e.tx, block: e.block, at: iso(e.time) }
    if (e.name === 'CanonicalChanged') {
      const before = context.previous(e)
      const sameTx = byTx.get(e.tx) ?? []
      const uplift = sameTx.find((x) => x.name === 'Uplift')
      const succession = sameTx.find((x) => x.name === 'SuccessionRecorded')
      const how = succession ? 'key rotation (succession certificate)' : uplift ? 'uplift' : e.args.epoch === '1' ? 'enrolment' : 'change'
      findings.push({
        code: 'canonical.changed',
        subject: `epoch ${e.args.epoch}`,
        message: `agent ${agent}: new canonical instance at epoch ${e.args.epoch} (${how}) — signer ${e.args.signer}, compose hash ${short(String(e.args.composeHash))}, host ${e.args.host}`,
        facts: {
          epoch: e.args.epoch,
          how,
          signer: e.args.signer,
          composeHash: e.args.composeHash,
          instanceId: e.args.instanceId,
          quoteHash: e.args.quoteHash,
          host: e.args.host,
          previous: before
            ? { epoch: before.args.epoch, signer: before.args.signer, composeHash: before.args.composeHash, host: before.args.host }
            : null,
          ...(uplift ? { uplift: { oldHost: uplift.args.oldHost, newRA: uplift.args.newRA } } : {}),
          ...(succession ? { succession: { oldKey: succession.args.oldKey, newKey: succession.args.newKey } } : {}),
          ...where,
        },
      })
    } else if (e.name === 'Withdrawn') {
      const eth = e.args.token === '0x0000000000000000000000000000000000000000'
      findings.push({
        code: 'treasury.moved',
        subject: `${e.tx}:${e.logIndex}`,
        message: `agent ${agent}: ${e.args.amount} ${eth ? 'wei' : `units of token ${e.args.token}`} left the treasury to ${e.args.to} (epoch ${e.args.epoch})`,
        facts: { token: e.args.token, to: e.args.to, amount: e.args.amount, epoch: e.args.epoch, ...where },
      })
    } else if (
      e.name === 'URIUpdated' ||
      e.name === 'MetadataSet' ||
      (e.name === 'Transfer' && e.args.from !== '0x0000000000000000000000000000000000000000')
    ) {
      const what = e.name === 'URIUpdated' ? 'registration file' : e.name === 'MetadataSet' ? `metadata "${e.args.metadataKey}"` : 'owner'
      findings.push({
        code: 'registration.changed',
        subject: `${e.tx}:${e.logIndex}`,
        message: `agent ${agent}: ERC-8004 ${what} changed${e.name === 'Transfer' ? ` from ${e.args.from} to ${e.args.to}` : e.name === 'URIUpdated' ? ` by ${e.args.updatedBy}` : ''}`,
        facts: {
          what: e.name === 'URIUpdated' ? 'uri' : e.name === 'MetadataSet' ? 'metadata' : 'owner',
          ...(e.name === 'URIUpdated' ? { uri: e.args.newURI, updatedBy: e.args.updatedBy } : {}),
          ...(e.name === 'MetadataSet' ? { key: e.args.metadataKey, value: e.args.metadataValue } : {}),
          ...(e.name === 'Transfer' ? { from: e.args.from, to: e.args.to } : {}),
          ...where,
        },
      })
    }
  }
  return findings
}

/** Applies approval events to the measurement timeline (RegentAppAuth adds with their activation time, removals). */
export type MeasurementChange =
  | { op: 'add'; row: Omit<MeasurementRow, 'removedBlock' | 'removedAt' | 'removedTx'> }
  | { op: 'remove'; row: { agent: string; kind: MeasurementRow['kind']; value: string; block: number; time: number; tx: string } }

export function measurementChanges(events: readonly EventRow[]): MeasurementChange[] {
  const kinds: Record<string, [MeasurementRow['kind'], string, 'add' | 'remove']> = {
    ComposeHashAdded: ['composeHash', 'composeHash', 'add'],
    ComposeHashRemoved: ['composeHash', 'composeHash', 'remove'],
    OsImageAdded: ['osImage', 'osImageHash', 'add'],
    OsImageRemoved: ['osImage', 'osImageHash', 'remove'],
    KmsRootAdded: ['kmsRoot', 'kmsRoot', 'add'],
    KmsRootRemoved: ['kmsRoot', 'kmsRoot', 'remove'],
  }
  return events.flatMap((e): MeasurementChange[] => {
    const k = kinds[e.name]
    if (!k) return []
    const [kind, arg, op] = k
    const value = String(e.args[arg]).toLowerCase()
    return op === 'add'
      ? [
          {
            op,
            row: {
              agent: e.agent,
              kind,
              value,
              addedBlock: e.block,
              addedAt: e.time,
              addedTx: e.tx,
              activatesAt: Number(e.args.activatesAt),
            },
          },
        ]
      : [{ op, row: { agent: e.agent, kind, value, block: e.block, time: e.time, tx: e.tx } }]
  })
}

/** The on-chain view of one agent a check reads. */
export type ChainView = {
  agent: string
  appId: string
  epoch: bigint
  canonicalComposeHash: string
  /** Whether `canonicalComposeHash` is approved and active now (RegentAppAuth). */
  canonicalApproved: boolean
  stateSeq: bigint
  stateRoot: string
  /** Timestamp of the head block (the chain's clock: timelocks and state age are measured on it). */
  chainTime: number
  measurements: readonly MeasurementRow[]
  /** The last StateCommitted event of the agent. */
  lastCommit: EventRow | undefined
}

/** Conditions decided by the chain: pending approvals, a revoked running measurement, a stale state root. */
export function chainFindings(view: ChainView, settings: { stateMaxAgeSeconds: number }): Finding[] {
  const findings: Finding[] = []
  const { agent } = view
  for (const m of view.measurements) {
    if (m.removedBlock !== null || m.activatesAt <= view.chainTime) continue
    const inSeconds = m.activatesAt - view.chainTime
    findings.push({
      code: 'measurement.pending',
      subject: `${m.kind}:${m.value}`,
      message: `agent ${agent}: ${kindName[m.kind]} ${short(m.value)} approved for app ${view.appId} activates at ${iso(m.activatesAt)} (in ${inSeconds} s): the users' exit window`,
      facts: {
        kind: m.kind,
        value: m.value,
        appId: view.appId,
        approvedAt: iso(m.addedAt),
        activatesAt: iso(m.activatesAt),
        inSeconds,
        tx: m.addedTx,
        block: m.addedBlock,
      },
    })
  }
  if (view.epoch > 0n && !view.canonicalApproved) {
    const removal = [...view.measurements]
      .reverse()
      .find((m) => m.kind === 'composeHash' && m.value === view.canonicalComposeHash.toLowerCase())
    findings.push({
      code: 'measurement.revoked',
      subject: view.canonicalComposeHash.toLowerCase(),
      message: `agent ${agent}: the canonical instance's compose hash ${short(view.canonicalComposeHash)} is not approved for app ${view.appId}${
        removal?.removedAt ? ` (removed at ${iso(removal.removedAt)})` : ''
      }`,
      facts: {
        composeHash: view.canonicalComposeHash.toLowerCase(),
        appId: view.appId,
        epoch: view.epoch.toString(),
        removedAt: removal?.removedAt ? iso(removal.removedAt) : null,
        tx: removal?.removedTx ?? null,
      },
      severity: 'critical',
    })
  }
  if (view.stateSeq > 0n && view.lastCommit) {
    const age = view.chainTime - view.lastCommit.time
    if (age > settings.stateMaxAgeSeconds)
      findings.push({
        code: 'state.stale',
        subject: '',
        message: `agent ${agent}: the last state root (seq ${view.stateSeq}) was committed ${age} s ago, over the ${settings.stateMaxAgeSeconds} s allowed`,
        facts: {
          seq: view.stateSeq.toString(),
          stateRoot: view.stateRoot,
          committedAt: iso(view.lastCommit.time),
          ageSeconds: age,
          maxAgeSeconds: settings.stateMaxAgeSeconds,
        },
      })
  }
  return findings
}

/** Why a chain or instance condition stopped holding (the resolution line). */
export function chainResolution(alert: Alert, view: ChainView | undefined): string | undefined {
  if (!view) return undefined
  if (alert.code === 'measurement.pending') {
    const [kind, value] = alert.subject.split(':') as [MeasurementRow['kind'], string]
    const m = [...view.measurements].reverse().find((x) => x.kind === kind && x.value === value && x.addedBlock === alert.facts.block)
    if (m?.removedAt) return `withdrawn before it activated (removed at ${iso(m.removedAt)}, tx ${m.removedTx})`
    if (m && m.activatesAt <= view.chainTime) return `active since ${iso(m.activatesAt)}`
  }
  if (alert.code === 'measurement.revoked')
    return view.canonicalComposeHash.toLowerCase() === alert.subject
      ? `compose hash ${short(alert.subject)} is approved again`
      : `the canonical instance now runs ${short(view.canonicalComposeHash)}, which is approved`
  if (alert.code === 'state.stale' && view.lastCommit)
    return `a state root was committed (seq ${view.stateSeq} at ${iso(view.lastCommit.time)})`
  return undefined
}

/** What a check learnt from the running instance. */
export type InstanceView = {
  agent: string
  url: string
  evaluation: Evaluation
  reasons: readonly Reason[]
  epoch: bigint
  /** The compose hash the instance attested with a verified quote (undefined when the quote did not verify). */
  attestedComposeHash: string | undefined
  /** Baselines: the last verified compose hash, and the best score at the current epoch. */
  previousComposeHash: string | null
  bestScore: number | null
}

/** Conditions decided by verifying the instance: identity function, score, measurement change. */
export function instanceFindings(view: InstanceView): Finding[] {
  const findings: Finding[] = []
  const { agent, evaluation: e } = view
  if (!e.isAgent) {
    const codes = [...new Set(view.reasons.map((r) => r.code))]
    findings.push({
      code: 'attestation.failed',
      subject: '',
      message: `agent ${agent}: ${view.url} fails the identity function: ${e.failures[0] ?? 'not the agent'}${codes.length ? ` [${codes.join(', ')}]` : ''}`,
      facts: {
        url: view.url,
        epoch: view.epoch.toString(),
        holds: e.holds,
        failures: e.failures,
        reasons: view.reasons.map((r) => ({ code: r.code, message: r.message })),
      },
    })
  }
  if (view.bestScore !== null && e.score < view.bestScore) {
    const dropped = e.breakdown
      .filter((item) => item.points < item.max)
      .map((item) => ({ factor: item.factor, points: item.points, max: item.max, why: item.why }))
    findings.push({
      code: 'score.dropped',
      subject: '',
      message: `agent ${agent}: security score ${e.score} is below ${view.bestScore}, the best at epoch ${view.epoch}`,
      facts: { score: e.score, best: view.bestScore, epoch: view.epoch.toString(), below: dropped },
    })
  }
  if (view.attestedComposeHash && view.previousComposeHash && view.attestedComposeHash !== view.previousComposeHash)
    findings.push({
      code: 'measurement.changed',
      subject: view.attestedComposeHash,
      message: `agent ${agent}: the canonical instance now attests compose hash ${short(view.attestedComposeHash)} (was ${short(view.previousComposeHash)})`,
      facts: { from: view.previousComposeHash, to: view.attestedComposeHash, url: view.url, epoch: view.epoch.toString() },
    })
  return findings
}

/** What a check learnt from Intel collateral about the instance's platform. */
export type CollateralView = {
  agent: string
  fmspc: string
  standard: Rating
  early: Rating
  parts: Parts
  /** Standard collateral failed verification (expired, …): the reason. */
  error: string | undefined
  now: Date
}

/** Conditions decided by collateral: TCB status, a TCB recovery in progress, expiring collateral. */
export function collateralFindings(view: CollateralView, settings: { minTcbStatus: TcbStatus; collateralWarnMs: number }): Finding[] {
  const findings: Finding[] = []
  const { agent, standard, early } = view
  if (standard.status !== undefined && tcbRank(standard.status) > tcbRank(settings.minTcbStatus))
    findings.push({
      code: 'tcb.degraded',
      subject: '',
      message: `agent ${agent}: platform ${view.fmspc} is ${standard.status}${standard.advisoryIds.length ? ` (${standard.advisoryIds.join(', ')})` : ''}, below ${settings.minTcbStatus}`,
      facts: {
        status: standard.status,
        advisoryIds: standard.advisoryIds,
        minimum: settings.minTcbStatus,
        fmspc: view.fmspc,
        tcbEvaluationDataNumber: standard.tcbEvaluationDataNumber,
      },
      ...(standard.status === 'Revoked' ? { severity: 'critical' as const } : {}),
    })
  if (early.status !== undefined && standard.status !== undefined && tcbRank(early.status) > tcbRank(standard.status))
    findings.push({
      code: 'tcb.recovery_pending',
      subject: '',
      message: `agent ${agent}: a TCB recovery is in progress: Intel's early TCB info (evaluation ${early.tcbEvaluationDataNumber}) rates platform ${view.fmspc} ${early.status}, the standard one (evaluation ${standard.tcbEvaluationDataNumber}) ${standard.status}; it falls out of date at the next standard update, at the latest once the standard TCB info in hand expires (${view.parts.tcbInfo.toISOString()})`,
      facts: {
        standardStatus: standard.status,
        earlyStatus: early.status,
        standardTcbEvaluationDataNumber: standard.tcbEvaluationDataNumber,
        earlyTcbEvaluationDataNumber: early.tcbEvaluationDataNumber,
        earlyAdvisoryIds: early.advisoryIds,
        standardNextUpdate: view.parts.tcbInfo.toISOString(),
        fmspc: view.fmspc,
      },
    })
  const entries = Object.entries(view.parts) as [keyof Parts, Date][]
  const [firstPart, first] = entries.reduce((a, b) => (b[1].getTime() < a[1].getTime() ? b : a))
  const left = first.getTime() - view.now.getTime()
  if (left < settings.collateralWarnMs) {
    const expired = left <= 0
    findings.push({
      code: 'collateral.expiring',
      subject: '',
      message: expired
        ? `agent ${agent}: the collateral of platform ${view.fmspc} expired at ${first.toISOString()} (${firstPart}): quotes no longer verify`
        : `agent ${agent}: the collateral of platform ${view.fmspc} expires at ${first.toISOString()} (${firstPart}, in ${Math.round(left / 1000)} s)`,
      facts: {
        expired,
        earliest: first.toISOString(),
        part: firstPart,
        inSeconds: Math.round(left / 1000),
        nextUpdate: Object.fromEntries(entries.map(([k, d]) => [k, d.toISOString()])),
        fmspc: view.fmspc,
        ...(view.error ? { error: view.error } : {}),
      },
      ...(expired ? { severity: 'critical' as const } : {}),
    })
  }
  return findings
}
