/**
 * The monitor's history in embedded SQLite (better-sqlite3, WAL): the agents it watches and where it is in the
 * chain for each, every check, every on-chain event it read, the measurement timeline of each agent's app, every
 * alert (open and resolved) and every webhook delivery (issue 18 "History and dashboard"). One database per chain
 * and identity registry; nothing secret is stored (no keys, no webhook secret).
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { Alert, Code, Severity } from './Alert.js'

/** Schema version (`PRAGMA user_version`). */
export const schemaVersion = 1

/** One watched agent, with the monitor's memory of it. */
export type AgentRow = {
  /** ERC-8004 agentId, decimal: the key of everything else. */
  agent: string
  /** The URL the user gave (the canonical instance's on-chain host is preferred when it is an http(s) URL). */
  url: string | null
  appId: string | null
  addedAt: string
  /** First block the monitor alerts on (events before it are history, read without alerting). */
  watchFromBlock: number
  /** Last block whose events were read. */
  cursorBlock: number
  /** The best score seen at `bestEpoch` (baseline of score.dropped). */
  bestScore: number | null
  bestEpoch: string | null
  /** The compose hash the canonical instance last attested with a verified quote (baseline of measurement.changed). */
  attestedComposeHash: string | null
  /** The platform of the last quote (`tdx:<FMSPC>:<ca>`): whose collateral to watch. */
  platform: string | null
  /** The last identity bundle the instance served (public: quote, event log, key provenance), JSON. */
  lastBundle: string | null
  lastCheckAt: string | null
}

/** One check of one agent (a row of the history). */
export type CheckRow = {
  id: number
  agent: string
  tick: number
  at: string
  durationMs: number
  url: string | null
  reachable: boolean
  isAgent: boolean
  score: number | null
  holds: { a: boolean; b: boolean; c: boolean; d: boolean } | null
  epoch: string | null
  signer: string | null
  composeHash: string | null
  tcbStatus: string | null
  earlyTcbStatus: string | null
  advisoryIds: string[]
  collateralNextUpdate: string | null
  stateSeq: string | null
  reasons: { code: string; message: string }[]
  /** What the check could see: `chain`, `instance`, `collateral`. */
  seen: string[]
}

/** One on-chain event about an agent. */
export type EventRow = {
  agent: string
  block: number
  logIndex: number
  tx: string
  time: number
  contract: 'appAuth' | 'succession' | 'treasury' | 'identityRegistry'
  name: string
  args: Record<string, string | boolean>
}

/** One entry of an app's measurement timeline (compose hash, OS image, KMS root). */
export type MeasurementRow = {
  agent: string
  kind: 'composeHash' | 'osImage' | 'kmsRoot'
  value: string
  addedBlock: number
  addedAt: number
  addedTx: string
  activatesAt: number
  removedBlock: number | null
  removedAt: number | null
  removedTx: string | null
}

export type DeliveryRow = {
  alertId: number
  state: 'raised' | 'resolved'
  url: string
  attempts: number
  status: number | null
  error: string | null
  at: string
}

/** The better-sqlite3 handle (for callers' own read queries and transactions). */
export type Db = Database.Database

export type Store = ReturnType<typeof storeOver>

/**
 * Opens (creating it and its directory) the monitor database at `path` (`:memory:` for tests).
 *
 * @throws {StoreMismatchError} when the database belongs to another chain or identity registry.
 */
export function openStore(path: string, scope: { chainId: number; identityRegistry: string }): Store {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  migrate(db)
  const meta = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?')
  const chain = `${scope.chainId}:${scope.identityRegistry.toLowerCase()}`
  const existing = meta.get('scope')?.value
  if (existing === undefined) db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('scope', chain)
  else if (existing !== chain) {
    db.close()
    throw new StoreMismatchError({ path, expected: chain, actual: existing })
  }
  return storeOver(db)
}

/**
 * Opens an existing database read-only for `regent monitor history` (any scope).
 *
 * @throws the SQLite error when the file does not exist.
 */
export function openStoreReadOnly(path: string): Store {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  return storeOver(db)
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > schemaVersion) throw new Error(`monitor database schema ${version} is newer than this regent (${schemaVersion})`)
  if (version === schemaVersion) return
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS agents (
      agent TEXT PRIMARY KEY, url TEXT, app_id TEXT, added_at TEXT NOT NULL,
      watch_from_block INTEGER NOT NULL, cursor_block INTEGER NOT NULL,
      best_score REAL, best_epoch TEXT, attested_compose_hash TEXT, platform TEXT, last_bundle TEXT, last_check_at TEXT
    );
    CREATE TABLE IF NOT EXISTS checks (
      id INTEGER PRIMARY KEY, agent TEXT NOT NULL, tick INTEGER NOT NULL, at TEXT NOT NULL, duration_ms REAL NOT NULL,
      url TEXT, reachable INTEGER NOT NULL, is_agent INTEGER NOT NULL, score REAL, holds TEXT, epoch TEXT, signer TEXT,
      compose_hash TEXT, tcb_status TEXT, early_tcb_status TEXT, advisory_ids TEXT NOT NULL, collateral_next_update TEXT,
      state_seq TEXT, reasons TEXT NOT NULL, seen TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS checks_agent_at ON checks (agent, at);
    CREATE TABLE IF NOT EXISTS events (
      agent TEXT NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx TEXT NOT NULL, time INTEGER NOT NULL,
      contract TEXT NOT NULL, name TEXT NOT NULL, args TEXT NOT NULL, PRIMARY KEY (agent, block, log_index)
    );
    CREATE TABLE IF NOT EXISTS measurements (
      id INTEGER PRIMARY KEY, agent TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
      added_block INTEGER NOT NULL, added_at INTEGER NOT NULL, added_tx TEXT NOT NULL, activates_at INTEGER NOT NULL,
      removed_block INTEGER, removed_at INTEGER, removed_tx TEXT, UNIQUE (agent, kind, value, added_block)
    );
    CREATE TABLE IF NOT EXISTS alerts (
      id INTEGER PRIMARY KEY, key TEXT NOT NULL, agent TEXT NOT NULL, code TEXT NOT NULL, subject TEXT NOT NULL,
      severity TEXT NOT NULL, message TEXT NOT NULL, facts TEXT NOT NULL, raised_at TEXT NOT NULL, raised_tick INTEGER NOT NULL,
      resolved_at TEXT, resolution TEXT
    );
    CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_key ON alerts (key) WHERE resolved_at IS NULL;
    CREATE INDEX IF NOT EXISTS alerts_agent ON alerts (agent, raised_at);
    CREATE TABLE IF NOT EXISTS deliveries (
      id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id), state TEXT NOT NULL, url TEXT NOT NULL,
      attempts INTEGER NOT NULL, status INTEGER, error TEXT, at TEXT NOT NULL
    );
    PRAGMA user_version = ${schemaVersion};
  `)
}

type AlertRecord = {
  id: number
  key: string
  agent: string
  code: string
  subject: string
  severity: string
  message: string
  facts: string
  raised_at: string
  raised_tick: number
  resolved_at: string | null
  resolution: string | null
}

const toAlert = (r: AlertRecord): Alert => ({
  id: r.id,
  key: r.key,
  agent: r.agent,
  code: r.code as Code,
  subject: r.subject,
  severity: r.severity as Severity,
  message: r.message,
  facts: JSON.parse(r.facts) as Record<string, unknown>,
  raisedAt: r.raised_at,
  raisedTick: r.raised_tick,
  resolvedAt: r.resolved_at,
  resolution: r.resolution,
})

type CheckRecord = {
  id: number
  agent: string
  tick: number
  at: string
  duration_ms: number
  url: string | null
  reachable: number
  is_agent: number
  score: number | null
  holds: string | null
  epoch: string | null
  signer: string | null
  compose_hash: string | null
  tcb_status: string | null
  early_tcb_status: string | null
  advisory_ids: string
  collateral_next_update: string | null
  state_seq: string | null
  reasons: string
  seen: string
}

const toCheck = (r: CheckRecord): CheckRow => ({
  id: r.id,
  agent: r.agent,
  tick: r.tick,
  at: r.at,
  durationMs: r.duration_ms,
  url: r.url,
  reachable: r.reachable === 1,
  isAgent: r.is_agent === 1,
  score: r.score,
  holds: r.holds === null ? null : (JSON.parse(r.holds) as CheckRow['holds']),
  epoch: r.epoch,
  signer: r.signer,
  composeHash: r.compose_hash,
  tcbStatus: r.tcb_status,
  earlyTcbStatus: r.early_tcb_status,
  advisoryIds: JSON.parse(r.advisory_ids) as string[],
  collateralNextUpdate: r.collateral_next_update,
  stateSeq: r.state_seq,
  reasons: JSON.parse(r.reasons) as CheckRow['reasons'],
  seen: JSON.parse(r.seen) as string[],
})

type AgentRecord = {
  agent: string
  url: string | null
  app_id: string | null
  added_at: string
  watch_from_block: number
  cursor_block: number
  best_score: number | null
  best_epoch: string | null
  attested_compose_hash: string | null
  platform: string | null
  last_bundle: string | null
  last_check_at: string | null
}

const toAgent = (r: AgentRecord): AgentRow => ({
  agent: r.agent,
  url: r.url,
  appId: r.app_id,
  addedAt: r.added_at,
  watchFromBlock: r.watch_from_block,
  cursorBlock: r.cursor_block,
  bestScore: r.best_score,
  bestEpoch: r.best_epoch,
  attestedComposeHash: r.attested_compose_hash,
  platform: r.platform,
  lastBundle: r.last_bundle,
  lastCheckAt: r.last_check_at,
})

function storeOver(db: Db) {
  const q = {
    agent: db.prepare<[string], AgentRecord>('SELECT * FROM agents WHERE agent = ?'),
    agents: db.prepare<[], AgentRecord>('SELECT * FROM agents ORDER BY CAST(agent AS INTEGER)'),
    agentByUrl: db.prepare<[string], AgentRecord>('SELECT * FROM agents WHERE url = ?'),
    insertAgent: db.prepare(
      'INSERT INTO agents (agent, url, app_id, added_at, watch_from_block, cursor_block) VALUES (@agent, @url, @appId, @addedAt, @watchFromBlock, @cursorBlock)',
    ),
    openAlerts: db.prepare<[string], AlertRecord>('SELECT * FROM alerts WHERE agent = ? AND resolved_at IS NULL ORDER BY id'),
    insertAlert: db.prepare(
      'INSERT INTO alerts (key, agent, code, subject, severity, message, facts, raised_at, raised_tick) VALUES (@key, @agent, @code, @subject, @severity, @message, @facts, @raisedAt, @raisedTick)',
    ),
    resolveAlert: db.prepare(
      'UPDATE alerts SET resolved_at = @resolvedAt, resolution = @resolution WHERE id = @id AND resolved_at IS NULL',
    ),
    updateAlert: db.prepare('UPDATE alerts SET facts = @facts, message = @message, severity = @severity WHERE id = @id'),
    insertCheck:
      db.prepare(`INSERT INTO checks (agent, tick, at, duration_ms, url, reachable, is_agent, score, holds, epoch, signer, compose_hash,
      tcb_status, early_tcb_status, advisory_ids, collateral_next_update, state_seq, reasons, seen) VALUES (@agent, @tick, @at, @durationMs, @url,
      @reachable, @isAgent, @score, @holds, @epoch, @signer, @composeHash, @tcbStatus, @earlyTcbStatus, @advisoryIds, @collateralNextUpdate,
      @stateSeq, @reasons, @seen)`),
    insertEvent: db.prepare(
      'INSERT OR IGNORE INTO events (agent, block, log_index, tx, time, contract, name, args) VALUES (@agent, @block, @logIndex, @tx, @time, @contract, @name, @args)',
    ),
    addMeasurement: db.prepare(`INSERT OR IGNORE INTO measurements (agent, kind, value, added_block, added_at, added_tx, activates_at)
      VALUES (@agent, @kind, @value, @addedBlock, @addedAt, @addedTx, @activatesAt)`),
    removeMeasurement: db.prepare(`UPDATE measurements SET removed_block = @block, removed_at = @time, removed_tx = @tx
      WHERE id = (SELECT id FROM measurements WHERE agent = @agent AND kind = @kind AND value = @value AND removed_block IS NULL AND added_block <= @block ORDER BY added_block DESC LIMIT 1)`),
    insertDelivery: db.prepare(
      'INSERT INTO deliveries (alert_id, state, url, attempts, status, error, at) VALUES (@alertId, @state, @url, @attempts, @status, @error, @at)',
    ),
  }

  const applyAlerts = db.transaction((transitions: { state: 'raised' | 'resolved'; alert: Alert }[], updated: Alert[]) => {
    for (const t of transitions) {
      if (t.state === 'raised') {
        const info = q.insertAlert.run({ ...t.alert, facts: JSON.stringify(t.alert.facts) })
        t.alert.id = Number(info.lastInsertRowid)
      } else q.resolveAlert.run({ id: t.alert.id, resolvedAt: t.alert.resolvedAt, resolution: t.alert.resolution })
    }
    for (const a of updated) q.updateAlert.run({ id: a.id, facts: JSON.stringify(a.facts), message: a.message, severity: a.severity })
  })
  const insertEvents = db.transaction((rows: EventRow[]) => {
    for (const r of rows) q.insertEvent.run({ ...r, args: JSON.stringify(r.args) })
  })

  return {
    db: db as Db,
    close: (): void => void db.close(),
    /** Runs `f` in one SQLite transaction. */
    transaction: <T>(f: () => T): T => db.transaction(f)(),

    agent: (agent: string): AgentRow | undefined => {
      const r = q.agent.get(agent)
      return r && toAgent(r)
    },
    agents: (): AgentRow[] => q.agents.all().map(toAgent),
    agentByUrl: (url: string): AgentRow | undefined => {
      const r = q.agentByUrl.get(url)
      return r && toAgent(r)
    },
    /** Adds an agent (no change when it is already there, except a URL the user now gives). */
    addAgent(row: {
      agent: string
      url: string | null
      appId: string | null
      addedAt: string
      watchFromBlock: number
      cursorBlock: number
    }) {
      const existing = q.agent.get(row.agent)
      if (existing) {
        if (row.url && row.url !== existing.url) db.prepare('UPDATE agents SET url = ? WHERE agent = ?').run(row.url, row.agent)
        return
      }
      q.insertAgent.run(row)
    },
    /** Updates some columns of an agent's row. */
    updateAgent(agent: string, fields: Partial<Omit<AgentRow, 'agent' | 'addedAt'>>) {
      const columns: Record<string, string> = {
        url: 'url',
        appId: 'app_id',
        watchFromBlock: 'watch_from_block',
        cursorBlock: 'cursor_block',
        bestScore: 'best_score',
        bestEpoch: 'best_epoch',
        attestedComposeHash: 'attested_compose_hash',
        platform: 'platform',
        lastBundle: 'last_bundle',
        lastCheckAt: 'last_check_at',
      }
      const entries = Object.entries(fields).filter(([k, v]) => columns[k] && v !== undefined)
      if (entries.length === 0) return
      const sql = `UPDATE agents SET ${entries.map(([k]) => `${columns[k]} = @${k}`).join(', ')} WHERE agent = @agent`
      db.prepare(sql).run({ ...Object.fromEntries(entries), agent })
    },

    openAlerts: (agent: string): Alert[] => q.openAlerts.all(agent).map(toAlert),
    /** Records transitions and fact updates atomically; fills in the ids of raised alerts. */
    applyAlerts: (transitions: { state: 'raised' | 'resolved'; alert: Alert }[], updated: Alert[]): void =>
      void applyAlerts(transitions, updated),
    /** Alerts, newest first: `state` open / resolved / all, optionally of one agent and since a time. */
    alerts(filter: { state?: 'open' | 'resolved' | 'all'; agent?: string; since?: string; limit?: number } = {}): Alert[] {
      const where: string[] = []
      const params: Record<string, unknown> = { limit: filter.limit ?? 500 }
      if (filter.state === 'open') where.push('resolved_at IS NULL')
      if (filter.state === 'resolved') where.push('resolved_at IS NOT NULL')
      if (filter.agent !== undefined) {
        where.push('agent = @agent')
        params.agent = filter.agent
      }
      if (filter.since !== undefined) {
        where.push('(raised_at >= @since OR resolved_at >= @since)')
        params.since = filter.since
      }
      const sql = `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT @limit`
      return db.prepare<Record<string, unknown>, AlertRecord>(sql).all(params).map(toAlert)
    },

    insertCheck(row: Omit<CheckRow, 'id'>): number {
      const info = q.insertCheck.run({
        ...row,
        reachable: row.reachable ? 1 : 0,
        isAgent: row.isAgent ? 1 : 0,
        holds: row.holds === null ? null : JSON.stringify(row.holds),
        advisoryIds: JSON.stringify(row.advisoryIds),
        reasons: JSON.stringify(row.reasons),
        seen: JSON.stringify(row.seen),
      })
      return Number(info.lastInsertRowid)
    },
    /** Checks of an agent, oldest first, since a time; the last `limit` of them. */
    checks(agent: string, filter: { since?: string; limit?: number } = {}): CheckRow[] {
      const rows = db
        .prepare<Record<string, unknown>, CheckRecord>(
          'SELECT * FROM (SELECT * FROM checks WHERE agent = @agent AND at >= @since ORDER BY id DESC LIMIT @limit) ORDER BY id',
        )
        .all({ agent, since: filter.since ?? '', limit: filter.limit ?? 1000 })
      return rows.map(toCheck)
    },
    lastCheck(agent: string): CheckRow | undefined {
      const r = db.prepare<[string], CheckRecord>('SELECT * FROM checks WHERE agent = ? ORDER BY id DESC LIMIT 1').get(agent)
      return r && toCheck(r)
    },

    /** Records events (idempotent by agent, block and log index). */
    insertEvents: (rows: EventRow[]): void => void insertEvents(rows),
    events(agent: string, filter: { since?: number; names?: string[]; limit?: number } = {}): EventRow[] {
      const names = filter.names ?? []
      const sql = `SELECT * FROM (SELECT * FROM events WHERE agent = @agent AND time >= @since ${
        names.length ? `AND name IN (${names.map((_, i) => `@n${i}`).join(', ')})` : ''
      } ORDER BY block DESC, log_index DESC LIMIT @limit) ORDER BY block, log_index`
      const params: Record<string, unknown> = { agent, since: filter.since ?? 0, limit: filter.limit ?? 1000 }
      names.forEach((n, i) => {
        params[`n${i}`] = n
      })
      return db
        .prepare<Record<string, unknown>, Omit<EventRow, 'args' | 'logIndex'> & { args: string; log_index: number }>(sql)
        .all(params)
        .map((r) => ({
          agent: r.agent,
          block: r.block,
          logIndex: r.log_index,
          tx: r.tx,
          time: r.time,
          contract: r.contract,
          name: r.name,
          args: JSON.parse(r.args) as EventRow['args'],
        }))
    },

    addMeasurement: (row: Omit<MeasurementRow, 'removedBlock' | 'removedAt' | 'removedTx'>) => void q.addMeasurement.run(row),
    removeMeasurement: (row: { agent: string; kind: MeasurementRow['kind']; value: string; block: number; time: number; tx: string }) =>
      void q.removeMeasurement.run(row),
    measurements(agent: string): MeasurementRow[] {
      return db
        .prepare<
          [string],
          {
            agent: string
            kind: MeasurementRow['kind']
            value: string
            added_block: number
            added_at: number
            added_tx: string
            activates_at: number
            removed_block: number | null
            removed_at: number | null
            removed_tx: string | null
          }
        >('SELECT * FROM measurements WHERE agent = ? ORDER BY added_block, id')
        .all(agent)
        .map((r) => ({
          agent: r.agent,
          kind: r.kind,
          value: r.value,
          addedBlock: r.added_block,
          addedAt: r.added_at,
          addedTx: r.added_tx,
          activatesAt: r.activates_at,
          removedBlock: r.removed_block,
          removedAt: r.removed_at,
          removedTx: r.removed_tx,
        }))
    },

    insertDelivery: (row: DeliveryRow) => void q.insertDelivery.run(row),
    deliveries(alertId: number): DeliveryRow[] {
      return db
        .prepare<
          [number],
          {
            alert_id: number
            state: 'raised' | 'resolved'
            url: string
            attempts: number
            status: number | null
            error: string | null
            at: string
          }
        >('SELECT * FROM deliveries WHERE alert_id = ? ORDER BY id')
        .all(alertId)
        .map((r) => ({ alertId: r.alert_id, state: r.state, url: r.url, attempts: r.attempts, status: r.status, error: r.error, at: r.at }))
    },
  }
}

/** The database belongs to another chain or identity registry. */
export class StoreMismatchError extends Error {
  override name = 'Store.StoreMismatchError'
  constructor({ path, expected, actual }: { path: string; expected: string; actual: string }) {
    super(`${path} holds the history of ${actual}, not ${expected}`)
  }
}
