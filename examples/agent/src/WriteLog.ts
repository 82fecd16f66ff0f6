/**
 * The agent's write-ahead log (docs/uplift.md "Zero downtime"): a write is durable once its sealed record is appended
 * and fsynced here, so a write no longer re-seals the whole state (which costs O(state) per write). The sealed state
 * is a snapshot; every record whose `seq` is above the snapshot's (preference `regent.log.seq`, set in the same
 * transaction as the write) is applied again at boot, then the snapshot is renewed and the log emptied.
 *
 * File: records back to back, each `u32 BE length ‖ iv (12) ‖ AES-256-GCM(JSON record) ‖ tag (16)`, key
 * HKDF-SHA256(sealing key, info `regent-example/write-log/v1`), AD the same label. A torn last record (a crash while
 * appending, never acknowledged) is cut off; a bad record before the end is refused (fail closed).
 */
import { hkdfSync } from 'node:crypto'
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs'
import { Aead } from '@regent-tee/core'
import type { PrivateKey } from '@regent-tee/sdk'

/** HKDF info and AD of the log. Permanent. */
const label = 'regent-example/write-log/v1'
/** Preference row holding the seq of the last write applied to the state. */
export const seqPreference = 'regent.log.seq'

export type WriteRecord = { readonly seq: number; readonly user: string; readonly text: string; readonly key?: string; readonly at: number }

export type WriteLog = {
  /** Appends and fsyncs the records (one fsync for all). */
  append(records: readonly WriteRecord[]): void
  /** Every record in the file, in order. */
  records(): WriteRecord[]
  /** Bytes in the file. */
  size(): number
  /** Empties the file (after a snapshot that holds every record). */
  clear(): void
  close(): void
}

export class WriteLogCorruptError extends Error {
  override name = 'WriteLogCorruptError'
}

export function openWriteLog({ path, key }: { path: string; key: PrivateKey }): WriteLog {
  const secret = key.use((ikm) => new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), label, 32)))
  const ad = Buffer.from(label)
  const fd = openSync(path, existsSync(path) ? 'r+' : 'w+', 0o600)
  let end = 0
  const parse = (): WriteRecord[] => {
    const file = readFileSync(path)
    const out: WriteRecord[] = []
    let at = 0
    while (at < file.length) {
      const torn = () => at + 4 > file.length || at + 4 + file.readUInt32BE(at) > file.length
      if (torn()) break // a crash while appending: never acknowledged
      const len = file.readUInt32BE(at)
      const body = file.subarray(at + 4, at + 4 + len)
      const plain = Aead.openBytes(secret, body, { ad })
      try {
        if (!plain) throw new Error('not authentic')
        out.push(JSON.parse(Buffer.from(plain).toString('utf8')) as WriteRecord)
      } catch {
        if (at + 4 + len === file.length) break // the torn record was the last one
        throw new WriteLogCorruptError(`the write log ${path} is altered at byte ${at}`)
      }
      at += 4 + len
    }
    if (at < file.length) ftruncateSync(fd, at)
    end = at
    return out
  }
  parse()
  return {
    append(records) {
      const parts: Uint8Array[] = []
      for (const r of records) {
        const sealed = Aead.sealBytes(secret, new TextEncoder().encode(JSON.stringify(r)), { ad })
        const len = Buffer.alloc(4)
        len.writeUInt32BE(sealed.length)
        parts.push(len, sealed)
      }
      const bytes = Buffer.concat(parts)
      writeSync(fd, bytes, 0, bytes.length, end)
      fsyncSync(fd)
      end += bytes.length
    },
    records: parse,
    size: () => fstatSync(fd).size,
    clear() {
      ftruncateSync(fd, 0)
      fsyncSync(fd)
      end = 0
    },
    close() {
      closeSync(fd)
      secret.fill(0)
    },
  }
}
