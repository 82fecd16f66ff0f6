/**
 * The per-side journal of an uplift session (DESIGN.md §10 "Every step is journaled on both sides (SQLite) and
 * idempotent"; docs/uplift.md "Journal"). One SQLite file per side holds, in order, every step with its status, the
 * wire message it sent or accepted (canonical JSON), the transcript hash after it and a timestamp. Secrets (the
 * target's ephemeral X25519 key, an imported wallet key, the source's checkpoint) are stored only sealed:
 * AES-256-GCM under HKDF-SHA256(caller key, info `regent-uplift-journal/v1`), AD = `label ‖ 0x00 ‖ name`.
 *
 * A step is done when its row says `done`; {@link Journal.step} runs the work only when it is not, so a resumed
 * side replays the journal instead of recomputing (and re-randomizing) a message.
 */
import { hkdfSync } from 'node:crypto'
import { chmodSync, closeSync, openSync } from 'node:fs'
import { Aead } from '@regent-tee/core'
import Database from 'better-sqlite3'
import { BaseError } from '../errors.js'
import { PrivateKey } from '../Keys.js'

/** HKDF info of the journal's secret key, and the AD label of every sealed secret. Permanent. */
export const label = 'regent-uplift-journal/v1'

export type Entry = {
  readonly step: string
  readonly status: 'done'
  /** The output of the step: a wire message or any JSON value. */
  readonly data: unknown
  /** Transcript hash after the step, when the step moved it. */
  readonly transcript: string | undefined
  readonly at: string
}

export type Journal = {
  readonly role: 'source' | 'target'
  /** The journaled output of `step`, or undefined when the step has not completed. */
  get<T = unknown>(step: string): T | undefined
  /** Records `step` as done with `data` (idempotent: a second put of a done step keeps the first value). */
  put(step: string, data: unknown, transcript?: string): void
  /** {@link Journal.put} of many rows in one transaction: one disk sync for all (a batch of replayed writes). */
  putAll(rows: readonly (readonly [step: string, data: unknown])[]): void
  /** Runs `run` unless `step` is done; returns the journaled value either way. */
  step<T>(step: string, run: () => Promise<T> | T, transcript?: (value: T) => string | undefined): Promise<T>
  /** Every completed step, in order. */
  entries(): Entry[]
  /** The transcript hash journaled with `step`, if any. */
  transcript(step: string): string | undefined
  /** The completed steps' names and times, in order, without their data (cheap to poll). */
  list(): { readonly step: string; readonly at: string }[]
  /**
   * A named point between a side effect and its journal row (e.g. `sent:commit`: the transaction is mined, the step
   * not yet recorded). Calls the `failpoint` hook, if any; does nothing otherwise.
   */
  point(name: string): void
  /** Seals and stores a secret under `name` (replaces an earlier one). */
  putSecret(name: string, secret: Uint8Array): void
  /** Opens a sealed secret, or undefined when none is stored. */
  getSecret(name: string): Uint8Array | undefined
  /**
   * Drops the rows of `steps` and the secrets named `secrets`, in one transaction: only for a session that is
   * abandoned before anything irreversible (the target replacing an expired hello that never reached its key step).
   */
  forget(steps: readonly string[], secrets: readonly string[]): void
  close(): void
}

export type OpenParameters = {
  /** The SQLite file (created if missing). */
  readonly path: string
  readonly role: 'source' | 'target'
  /** The sealing secret (e.g. `deriveSealingKey(client)` in a CVM), or its 32 bytes. */
  readonly key: PrivateKey | Uint8Array
  /**
   * Fault injection for crash tests (docs/uplift.md "Crash safety"): called with `after:<step>` once a step's row is
   * written, and with the names given to {@link Journal.point}. A test hook kills the process here (SIGKILL).
   */
  readonly failpoint?: (point: string) => void
}

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))

/**
 * Opens (or creates) a journal.
 *
 * @throws {JournalRoleError} the file belongs to the other role.
 * @throws {JournalSecretError} (on `getSecret`) a secret does not open under this key (another key, or altered).
 * @example
 * const journal = Journal.open({ path: 'uplift-source.db', role: 'source', key: sealingKey })
 * const hello = await journal.step('hello', () => createSourceHello({ ... }))
 */
export function open(parameters: OpenParameters): Journal {
  const secretKey = (parameters.key instanceof PrivateKey ? parameters.key : new PrivateKey(parameters.key)).use(
    (ikm) => new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), label, 32)),
  )
  // Owner-only, like the sealed state: the secrets are sealed, but the steps (session, messages) are the owner's
  // business. SQLite gives its -wal/-shm files the database file's mode.
  closeSync(openSync(parameters.path, 'a', 0o600))
  chmodSync(parameters.path, 0o600)
  const db = new Database(parameters.path)
  db.pragma('journal_mode = WAL')
  db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS steps (n INTEGER PRIMARY KEY AUTOINCREMENT, step TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
      data TEXT NOT NULL, transcript TEXT, at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, iv BLOB NOT NULL, ciphertext BLOB NOT NULL);`)
  db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('role', parameters.role)
  const role = (db.prepare('SELECT value FROM meta WHERE key = ?').get('role') as { value: string }).value
  if (role !== parameters.role) {
    db.close()
    throw new JournalRoleError({ path: parameters.path, role, expected: parameters.role })
  }
  const ad = (name: string) => Buffer.concat([Buffer.from(label), Buffer.of(0), Buffer.from(name)])
  type Row = { step: string; status: 'done'; data: string; transcript: string | null; at: string }
  const journal: Journal = {
    role: parameters.role,
    get<T>(step: string) {
      const row = db.prepare('SELECT data FROM steps WHERE step = ? AND status = ?').get(step, 'done') as { data: string } | undefined
      return row === undefined ? undefined : (JSON.parse(row.data) as T)
    },
    put(step, data, transcript) {
      const inserted = db
        .prepare('INSERT OR IGNORE INTO steps (step, status, data, transcript, at) VALUES (?, ?, ?, ?, ?)')
        .run(step, 'done', json(data), transcript ?? null, new Date().toISOString())
      if (inserted.changes > 0) parameters.failpoint?.(`after:${step}`)
    },
    putAll(rows) {
      const insert = db.prepare('INSERT OR IGNORE INTO steps (step, status, data, transcript, at) VALUES (?, ?, ?, NULL, ?)')
      const at = new Date().toISOString()
      db.transaction(() => {
        for (const [step, data] of rows) insert.run(step, 'done', json(data), at)
      })()
      if (rows.length > 0) parameters.failpoint?.(`after:${rows.at(-1)?.[0]}`)
    },
    point(name) {
      parameters.failpoint?.(name)
    },
    async step<T>(step: string, run: () => Promise<T> | T, transcript?: (value: T) => string | undefined) {
      const done = journal.get<T>(step)
      if (done !== undefined) return done
      const value = await run()
      journal.put(step, value, transcript?.(value))
      return journal.get<T>(step) as T
    },
    transcript(step) {
      const row = db.prepare('SELECT transcript FROM steps WHERE step = ?').get(step) as { transcript: string | null } | undefined
      return row?.transcript ?? undefined
    },
    list() {
      return db.prepare('SELECT step, at FROM steps ORDER BY n').all() as { step: string; at: string }[]
    },
    entries() {
      return (db.prepare('SELECT step, status, data, transcript, at FROM steps ORDER BY n').all() as Row[]).map((r) => ({
        step: r.step,
        status: r.status,
        data: JSON.parse(r.data) as unknown,
        transcript: r.transcript ?? undefined,
        at: r.at,
      }))
    },
    putSecret(name, secret) {
      const { iv, ciphertext } = Aead.sealJoined(secretKey, secret, { ad: ad(name) })
      db.prepare('INSERT OR REPLACE INTO secrets (name, iv, ciphertext) VALUES (?, ?, ?)').run(
        name,
        Buffer.from(iv),
        Buffer.from(ciphertext),
      )
    },
    getSecret(name) {
      const row = db.prepare('SELECT iv, ciphertext FROM secrets WHERE name = ?').get(name) as
        | { iv: Buffer; ciphertext: Buffer }
        | undefined
      if (row === undefined) return undefined
      const secret = Aead.openJoined(secretKey, row.iv, row.ciphertext, { ad: ad(name) })
      if (!secret) throw new JournalSecretError({ name })
      return secret
    },
    forget(steps, secrets) {
      db.transaction(() => {
        for (const step of steps) db.prepare('DELETE FROM steps WHERE step = ?').run(step)
        for (const name of secrets) db.prepare('DELETE FROM secrets WHERE name = ?').run(name)
      })()
    },
    close() {
      secretKey.fill(0)
      db.close()
    },
  }
  return journal
}

/** The journal file was written by the other role (a source journal opened as a target, or the reverse). */
export class JournalRoleError extends BaseError {
  override name = 'Journal.RoleError'
  constructor({ path, role, expected }: { path: string; role: string; expected: string }) {
    super(`The journal ${path} belongs to the ${role}, not the ${expected}.`, { docsPath: 'docs/uplift.md#journal' })
  }
}

/** A sealed secret does not open under this key: another key, or the file was altered. Nothing is returned. */
export class JournalSecretError extends BaseError {
  override name = 'Journal.SecretError'
  constructor({ name }: { name: string }) {
    super(`The journaled secret "${name}" does not open under this key.`, { docsPath: 'docs/uplift.md#journal' })
  }
}
