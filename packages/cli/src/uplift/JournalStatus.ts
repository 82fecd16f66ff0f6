/**
 * `regent uplift status --journal <file>`: a source journal read offline (docs/cli/uplift.md, docs/uplift.md
 * "Journal"). Only its `steps` table: sealed secrets are never opened, so no key is needed.
 */
import { stat } from 'node:fs/promises'
import { Journal, sourceSteps } from '@regent-tee/sdk/uplift'
import { UsageError } from '../errors.js'
import type { JournalStatusOutput } from './Output.js'

const docs = 'docs/cli/uplift.md'

/** The steps a source journal records and the next one to run. */
export async function journalStatus(path: string): Promise<JournalStatusOutput> {
  if (
    !(await stat(path).then(
      (s) => s.isFile(),
      () => false,
    ))
  )
    throw new UsageError('journal.missing', `no journal at ${path}`, { hint: "pass the source's uplift journal (SQLite)", docs })
  let journal: ReturnType<typeof Journal.open>
  try {
    // The key only opens sealed secrets, which status never reads.
    journal = Journal.open({ path, role: 'source', key: new Uint8Array(32) })
  } catch (error) {
    if (error instanceof Journal.JournalRoleError)
      throw new UsageError('journal.role', `${path} is not a source journal`, { hint: "the target's journal lives inside its CVM", docs })
    throw new UsageError('journal.invalid', `${path} is not an uplift journal`, { docs })
  }
  try {
    // Only the protocol's steps: an agent's journal also holds its own rows (`session`, `complete`, state chunks).
    const names = new Set<string>([...sourceSteps.map((x) => x.name), 'key-envelope', 'key-offer'])
    const entries = journal.list().filter((e) => names.has(e.step))
    const done = new Set(entries.map((e) => (e.step === 'key-envelope' || e.step === 'key-offer' ? 'key' : e.step)))
    const first = journal.get<{ sessionId?: unknown }>('source-hello')
    const mode = entries.some((e) => e.step === 'key-envelope') ? 'import' : entries.some((e) => e.step === 'key-offer') ? 'rotate' : null
    const next = sourceSteps.find((s) => !done.has(s.name))?.name ?? null
    return {
      journal: path,
      sessionId: typeof first?.sessionId === 'string' ? first.sessionId : null,
      mode,
      steps: entries.map((e) => ({ step: e.step, at: e.at })),
      next: next === 'key' ? 'key-envelope | key-offer' : next,
      complete: next === null,
    }
  } finally {
    journal.close()
  }
}
