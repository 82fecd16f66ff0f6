/**
 * The agent's state on disk: the sealed snapshot (`agent.sealed`, @regent-tee/sdk SealedState) plus the write-ahead log
 * (`agent.log`, `WriteLog.ts`). A write is applied in one transaction that also advances `regent.log.seq`, then its
 * record is appended and fsynced before it is answered; the snapshot is renewed (and the log emptied) at boot, on
 * every commit and checkpoint, when the log passes 4 MiB, and on close.
 *
 * Failover (docs/failover.md "The agent's part") sees the same store as a replicated state: each write's record is
 * what goes to the standbys (`remember` returns it), a standby applies them (`apply`) or a whole snapshot (`restore`).
 */
import { join } from 'node:path'
import { openSealedState, type PrivateKey, type SealedState } from '@regent-tee/sdk'
import type { LogRecord, ReplicatedState } from '@regent-tee/sdk/failover'
import Database from 'better-sqlite3'
import { learn, setPreference } from './Memory.js'
import { openWriteLog, seqPreference, type WriteLog, type WriteRecord } from './WriteLog.js'

/** The log is folded into a new snapshot once it passes this size. */
const maxLogBytes = 4 * 1024 * 1024

export type Write = { readonly user: string; readonly text: string; readonly requestId?: string }

export type AgentStore = ReplicatedState & {
  readonly state: SealedState
  /**
   * Applies the writes (one transaction; each idempotency key once) and makes them durable; what `learn` answers, and
   * the log records they made (none for a duplicate).
   */
  remember(writes: readonly Write[]): { results: ReturnType<typeof learn>[]; records: LogRecord[] }
  /** Renews the snapshot and empties the log. */
  persist(): void
  close(): void
}

export function openAgentStore({ dataDir, key }: { dataDir: string; key: PrivateKey }): AgentStore {
  const state = openSealedState({ path: join(dataDir, 'agent.sealed'), key })
  const log: WriteLog = openWriteLog({ path: join(dataDir, 'agent.log'), key })
  const db = () => state.db
  const seq = () =>
    Number((db().prepare('SELECT value FROM preferences WHERE key = ?').get(seqPreference) as { value: string } | undefined)?.value ?? 0)

  // Boot: what the snapshot does not hold yet is in the log (seq above the snapshot's).
  const replay = (records: readonly WriteRecord[]) =>
    db().transaction(() => {
      for (const r of records) learn(db(), { user: r.user, text: r.text, at: new Date(r.at), ...(r.key ? { requestId: r.key } : {}) })
      setPreference(db(), seqPreference, String(records.at(-1)?.seq))
    })()
  const pending = log.records().filter((r) => r.seq > seq())
  if (pending.length > 0) replay(pending)
  const persist = () => {
    state.save()
    log.clear()
  }
  if (pending.length > 0 || log.size() > 0) persist()

  return {
    state,
    remember(writes) {
      const records: WriteRecord[] = []
      const at = Date.now()
      const results = db().transaction(() => {
        let n = seq()
        const out = writes.map((w) => {
          const r = learn(db(), { user: w.user, text: w.text, at: new Date(at), ...(w.requestId ? { requestId: w.requestId } : {}) })
          if (r.duplicate !== true) records.push({ seq: ++n, user: w.user, text: w.text, at, ...(w.requestId ? { key: w.requestId } : {}) })
          return r
        })
        setPreference(db(), seqPreference, String(n))
        return out
      })()
      if (records.length > 0) log.append(records)
      if (log.size() > maxLogBytes) persist()
      return { results, records: records.map(toLogRecord) }
    },
    head: seq,
    snapshot: () => ({ seq: seq(), data: db().serialize() }),
    restore({ data }) {
      state.adopt(new Database(Buffer.from(data)))
      log.clear()
    },
    apply(replicated) {
      const records = replicated.map((r) => JSON.parse(Buffer.from(r.data).toString('utf8')) as WriteRecord)
      log.append(records)
      replay(records)
      if (log.size() > maxLogBytes) persist()
    },
    persist,
    close() {
      state.close()
      log.clear()
      log.close()
    },
  }
}

const toLogRecord = (r: WriteRecord): LogRecord => ({ seq: r.seq, data: new TextEncoder().encode(JSON.stringify(r)) })
