/**
 * The recent write-ahead records an instance keeps in memory (docs/failover.md "Replication"): the canonical sends a
 * standby what it lacks from here, a new canonical pulls the tails its peers hold from theirs. Bounded by bytes; what
 * fell out (or came before the last snapshot) is a gap, and a gap is closed with a whole snapshot.
 */
import type { LogRecord } from './Wire.js'

export type RecordBuffer = {
  /** Appends records that extend the buffer (seq = last + 1, …); others are ignored (already held). */
  append(records: readonly LogRecord[]): void
  /** The records after `seq`, or undefined when the buffer no longer (or never) held `seq + 1`. */
  since(seq: number): LogRecord[] | undefined
  /** Forgets everything: the state is now a snapshot at `seq`. */
  reset(seq: number): void
  /** The seq of the last record (or of the snapshot when none came after it). */
  last(): number
}

export function createRecordBuffer({ base = 0, maxBytes = 64 * 1024 * 1024 }: { base?: number; maxBytes?: number } = {}): RecordBuffer {
  let records: LogRecord[] = []
  let first = base + 1 // the seq records[0] has (or would have)
  let bytes = 0
  const last = () => first + records.length - 1
  return {
    append(more) {
      for (const r of more) {
        if (r.seq !== last() + 1) continue
        records.push(r)
        bytes += r.data.length + 16
      }
      while (bytes > maxBytes && records.length > 0) {
        const dropped = records.shift() as LogRecord
        bytes -= dropped.data.length + 16
        first++
      }
    },
    since(seq) {
      if (seq < first - 1 || seq > last()) return undefined
      return records.slice(seq - first + 1)
    },
    reset(seq) {
      records = []
      bytes = 0
      first = seq + 1
    },
    last,
  }
}
