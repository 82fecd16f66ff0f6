/**
 * The agent's memory: it remembers what it is told, learns which words matter to each user, and
 * keeps preferences — all in its sealed SQLite state (tables memory, preferences,
 * learned_behaviours from @regent-tee/sdk's checkpoint schema).
 */
import type { Database } from 'better-sqlite3'

/** Prefix of the preference rows that remember applied idempotency keys (they move with the state). */
const requestPrefix = 'regent.request:'

/**
 * Remembers `text` from `user`, strengthens the learned word weights, and answers with what it learned. With a
 * `requestId` (the request's idempotency key) the write is applied once: a repeat answers `duplicate: true`.
 */
export function learn(
  db: Database,
  { user, text, at = new Date(), requestId }: { user: string; text: string; at?: Date; requestId?: string },
) {
  const seconds = Math.floor(at.getTime() / 1000)
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 2)
  const find = db.prepare('SELECT id FROM learned_behaviours WHERE trigger = ? AND behaviour = ?')
  const bump = db.prepare('UPDATE learned_behaviours SET weight = weight + 1, updated_at = ? WHERE id = ?')
  const add = db.prepare("INSERT INTO learned_behaviours (trigger, behaviour, weight, updated_at) VALUES (?, 'mentions', 1, ?)")
  const duplicate = db.transaction(() => {
    if (requestId !== undefined) {
      const seen = db.prepare('SELECT 1 FROM preferences WHERE key = ?').get(`${requestPrefix}${requestId}`)
      if (seen !== undefined) return true
      db.prepare('INSERT INTO preferences (key, value) VALUES (?, ?)').run(`${requestPrefix}${requestId}`, String(seconds))
    }
    db.prepare('INSERT INTO memory (key, value, created_at) VALUES (?, ?, ?)').run(user, text, seconds)
    for (const w of words) {
      const row = find.get(`${user}:${w}`, 'mentions') as { id: number } | undefined
      if (row) bump.run(seconds, row.id)
      else add.run(`${user}:${w}`, seconds)
    }
    return false
  })()
  return { remembered: text, topics: topics(db, user), ...(duplicate ? { duplicate: true } : {}) }
}

/** The words `user` mentions most, best first. */
export function topics(db: Database, user: string, limit = 5): { word: string; weight: number }[] {
  const rows = db
    .prepare(
      "SELECT trigger, weight FROM learned_behaviours WHERE trigger LIKE ? AND behaviour = 'mentions' ORDER BY weight DESC, trigger ASC LIMIT ?",
    )
    .all(`${user}:%`, limit) as { trigger: string; weight: number }[]
  return rows.map((r) => ({ word: r.trigger.slice(user.length + 1), weight: r.weight }))
}

export function setPreference(db: Database, key: string, value: string): void {
  db.prepare('INSERT INTO preferences (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value)
}

export function counts(db: Database): { memories: number; preferences: number; learned: number } {
  const n = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n
  return { memories: n('memory'), preferences: n('preferences'), learned: n('learned_behaviours') }
}
