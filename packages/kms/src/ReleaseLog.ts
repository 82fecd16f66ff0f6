/**
 * The KMS release log (DESIGN.md §6 "every key release is logged (append-only, hash-chained)"): one SQLite row
 * (better-sqlite3) per decision — a release, a refusal, an onboarding — each carrying the hash of the previous
 * entry, so that editing, inserting or deleting any row breaks the chain at that row (docs/kms.md "Release log").
 *
 * Entry hash (version 1) = SHA-256(utf8(JSON.stringify(["regent-kms-release-log/v1", seq, time, kind, outcome,
 * code, reason, appId, instanceId, composeHash, quoteHash, prevHash]))); the first entry's prevHash is 64 zeros.
 */
import { createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import { BaseError } from './errors.js'

/** Label of the entry hash. */
export const hashLabel = 'regent-kms-release-log/v1'

/** prevHash of the first entry. */
export const genesisHash = '0'.repeat(64)

/** What was asked. */
export type Kind = 'keys' | 'onboard'

/** One log entry; byte fields are lowercase hex ('' when unknown). */
export type Entry = {
  seq: number
  /** Unix milliseconds. */
  time: number
  kind: Kind
  outcome: 'released' | 'refused'
  /** Refusal code (`nonce.used`, …), '' for a release. */
  code: string
  reason: string
  appId: string
  instanceId: string
  composeHash: string
  /** SHA-256 of the request quote. */
  quoteHash: string
  prevHash: string
  hash: string
}

/** The fields a caller supplies to {@link ReleaseLog.append}. */
export type Record_ = Omit<Entry, 'seq' | 'time' | 'prevHash' | 'hash'> & { time?: number }

/** An open log. */
export type ReleaseLog = {
  /** Appends an entry and returns it (sequence and hashes filled in). */
  append(record: Record_): Entry
  /** Entries with `seq >= from` in order, at most `limit`. */
  read(options?: { from?: number; limit?: number }): Entry[]
  /** The last entry's hash and sequence (genesis and -1 for an empty log). */
  head(): { seq: number; hash: string }
  close(): void
}

/**
 * Opens (creating if needed) the log at `path` (`:memory:` for a throw-away log).
 *
 * @throws {CorruptLogError} when the stored head row is unreadable.
 * @example
 * const log = ReleaseLog.open({ path: join(dataDir, 'release-log.sqlite') })
 */
export function open(options: { path: string }): ReleaseLog {
  const db = new Database(options.path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`CREATE TABLE IF NOT EXISTS release_log (
    seq INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    app_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    compose_hash TEXT NOT NULL,
    quote_hash TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  )`)
  const insert = db.prepare(
    'INSERT INTO release_log (seq, time, kind, outcome, code, reason, app_id, instance_id, compose_hash, quote_hash, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  )
  const select = db.prepare('SELECT * FROM release_log WHERE seq >= ? ORDER BY seq LIMIT ?')
  const last = db.prepare('SELECT seq, hash FROM release_log ORDER BY seq DESC LIMIT 1')
  const row = last.get() as { seq: number; hash: string } | undefined
  if (row !== undefined && (typeof row.seq !== 'number' || typeof row.hash !== 'string')) throw new CorruptLogError()
  let head = row ?? { seq: -1, hash: genesisHash }

  return {
    append(record) {
      const seq = head.seq + 1
      const base = { ...record, seq, time: record.time ?? Date.now(), prevHash: head.hash }
      const entry: Entry = { ...base, hash: hashOf(base) }
      insert.run(
        entry.seq,
        entry.time,
        entry.kind,
        entry.outcome,
        entry.code,
        entry.reason,
        entry.appId,
        entry.instanceId,
        entry.composeHash,
        entry.quoteHash,
        entry.prevHash,
        entry.hash,
      )
      head = { seq, hash: entry.hash }
      return entry
    },
    read(readOptions = {}) {
      const rows = select.all(readOptions.from ?? 0, readOptions.limit ?? 100) as Record<string, unknown>[]
      return rows.map(fromRow)
    },
    head() {
      return { ...head }
    },
    close() {
      db.close()
    },
  }
}

/**
 * The hash of an entry (everything but `hash`).
 *
 * @example
 * ReleaseLog.hashOf(entry) === entry.hash
 */
export function hashOf(entry: Omit<Entry, 'hash'>): string {
  const fields = [
    hashLabel,
    entry.seq,
    entry.time,
    entry.kind,
    entry.outcome,
    entry.code,
    entry.reason,
    entry.appId,
    entry.instanceId,
    entry.composeHash,
    entry.quoteHash,
    entry.prevHash,
  ]
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex')
}

/** Result of {@link verify}. */
export type Verification = { ok: true; head: string } | { ok: false; seq: number; reason: string }

/**
 * Checks a run of consecutive entries: every hash recomputes, every prevHash is the previous hash, sequence
 * numbers are consecutive. A run that starts at seq 0 must start from the genesis hash; a later run is checked
 * from `options.prevHash` when given.
 *
 * @example
 * const result = ReleaseLog.verify(entries)
 * if (!result.ok) console.log(`broken at ${result.seq}: ${result.reason}`)
 */
export function verify(entries: readonly Entry[], options: { prevHash?: string } = {}): Verification {
  let prev = options.prevHash ?? (entries[0]?.seq === 0 ? genesisHash : entries[0]?.prevHash)
  let expectedSeq = entries[0]?.seq ?? 0
  for (const entry of entries) {
    if (entry.seq !== expectedSeq) return { ok: false, seq: entry.seq, reason: `sequence ${entry.seq} follows ${expectedSeq - 1}` }
    if (entry.prevHash !== prev) return { ok: false, seq: entry.seq, reason: 'prevHash is not the previous entry hash' }
    if (hashOf(entry) !== entry.hash) return { ok: false, seq: entry.seq, reason: 'hash does not match the entry' }
    prev = entry.hash
    expectedSeq++
  }
  return { ok: true, head: prev ?? genesisHash }
}

function fromRow(row: Record<string, unknown>): Entry {
  return {
    seq: row.seq as number,
    time: row.time as number,
    kind: row.kind as Kind,
    outcome: row.outcome as Entry['outcome'],
    code: row.code as string,
    reason: row.reason as string,
    appId: row.app_id as string,
    instanceId: row.instance_id as string,
    composeHash: row.compose_hash as string,
    quoteHash: row.quote_hash as string,
    prevHash: row.prev_hash as string,
    hash: row.hash as string,
  }
}

/** The stored log cannot be read. */
export class CorruptLogError extends BaseError {
  override name = 'ReleaseLog.CorruptLogError'
  constructor() {
    super('The release log database is corrupt: its last row is unreadable.')
  }
}
