/**
 * What `regent uplift`, `regent uplift resume` and `regent uplift status` print with --json (docs/cli/uplift.md):
 * the shapes Run.ts fills and Render.ts turns into lines.
 */
import type * as Admin from '../project/Admin.js'

/** The outside check of the new canonical instance (only with a devnet to read the chain from). */
export type Verification =
  | { served: true; isAgent: boolean; score: number; failures: string[] }
  | {
      served: false
      note: string
      /** RegentSuccession names the signer and epoch the agent reported. */
      matches: boolean
      canonical: { epoch: string; signer: string; host: string; composeHash: string; quoteHash: string }
    }

/** What `regent uplift --json` and `regent uplift resume --json` print. */
export type UpliftOutput = {
  /** `done`; `failed` (the agent's error, resume it); `refused` (the agent's decision table says no). */
  state: 'done' | 'failed' | 'refused'
  agent: { url: string; agentId: string; wallet: string }
  key: 'import' | 'rotate' | null
  target: { url: string; wallet: string | null; provider: string | null; id: string | null; stopped: boolean } | null
  /** The agent's app in RegentAppAuth and the target's compose hash (launches only). */
  appId: string | null
  composeHash: string | null
  /** What `--approve` added to the app (empty when it was already approved). */
  approved: string[]
  decision: Admin.Decision | null
  /** The agent's last uplift status. */
  status: Admin.UpliftStatus | null
  result: Admin.UpliftStatus['result']
  /** The new signer is the agent's wallet before the uplift (option A); null until done. */
  sameWallet: boolean | null
  verification: Verification | null
  error: { code: string; message: string } | null
  hint: string | null
}

/** What `regent uplift status --journal <file> --json` prints. */
export type JournalStatusOutput = {
  journal: string
  sessionId: string | null
  mode: 'import' | 'rotate' | null
  steps: { step: string; at: string }[]
  /** The next source step to run, or null when the uplift is complete. */
  next: string | null
  complete: boolean
}

/** What `regent uplift status --agent <url> --json` prints: the agent's `GET /admin/uplift`. */
export type AgentStatusOutput = { agent: string } & Admin.UpliftStatus
