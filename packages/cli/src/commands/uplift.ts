/**
 * `regent uplift status --journal <file>`: the steps a source's uplift journal records (docs/uplift.md "Journal",
 * docs/cli/uplift.md). Reads only the `steps` table: sealed secrets are never opened, so no key is needed.
 */
import { stat } from 'node:fs/promises'
import { JournalRoleError, openUpliftJournal } from '@regent/sdk'
import type { CommandInput, CommandResult } from '../command.js'
import { UsageError } from '../errors.js'

const docs = 'docs/cli/uplift.md'

/** The source's steps, in order (docs/uplift.md "Journal"); the key step is one of the two. */
const sourceSteps = [
  'source-hello',
  'target-hello',
  'key',
  'commit',
  'state-offer',
  'challenge',
  'challenge-answer',
  'handover-tx',
  'registration',
  'handover',
] as const

/** What `regent uplift status --json` prints. */
export type StatusOutput = {
  journal: string
  sessionId: string | null
  mode: 'import' | 'rotate' | null
  steps: { step: string; at: string }[]
  /** The next source step to run, or null when the uplift is complete. */
  next: string | null
  complete: boolean
}

export async function status(input: CommandInput): Promise<CommandResult<StatusOutput>> {
  const path = input.flags.journal
  if (typeof path !== 'string')
    throw new UsageError('usage', '--journal <file> is required', { hint: 'regent uplift status --journal uplift-source.db', docs })
  if (
    !(await stat(path).then(
      (s) => s.isFile(),
      () => false,
    ))
  )
    throw new UsageError('journal.missing', `no journal at ${path}`, { hint: "pass the source's uplift journal (SQLite)", docs })
  let journal: ReturnType<typeof openUpliftJournal>
  try {
    // The key only opens sealed secrets, which status never reads.
    journal = openUpliftJournal({ path, role: 'source', key: new Uint8Array(32) })
  } catch (error) {
    if (error instanceof JournalRoleError)
      throw new UsageError('journal.role', `${path} is not a source journal`, { hint: "the target's journal lives inside its CVM", docs })
    throw new UsageError('journal.invalid', `${path} is not an uplift journal`, { docs })
  }
  try {
    const entries = journal.entries()
    const done = new Set(entries.map((e) => (e.step === 'key-envelope' || e.step === 'key-offer' ? 'key' : e.step)))
    const first = entries[0]?.data as { sessionId?: unknown; mode?: unknown } | undefined
    const mode = entries.some((e) => e.step === 'key-envelope') ? 'import' : entries.some((e) => e.step === 'key-offer') ? 'rotate' : null
    const next = sourceSteps.find((s) => !done.has(s)) ?? null
    return {
      ok: true,
      data: {
        journal: path,
        sessionId: typeof first?.sessionId === 'string' ? first.sessionId : null,
        mode,
        steps: entries.map((e) => ({ step: e.step, at: e.at })),
        next: next === 'key' ? 'key-envelope | key-offer' : next,
        complete: next === null,
      },
    }
  } finally {
    journal.close()
  }
}

export function render(result: CommandResult): string {
  const d = result.data as StatusOutput
  return [
    `${d.complete ? '✓ uplift complete' : `… uplift in progress: next step ${d.next}`}${d.mode ? ` (--key ${d.mode})` : ''}`,
    ...(d.sessionId ? [`  session ${d.sessionId}`] : []),
    ...d.steps.map((s) => `  ✓ ${s.step.padEnd(17)} ${s.at}`),
  ].join('\n')
}
