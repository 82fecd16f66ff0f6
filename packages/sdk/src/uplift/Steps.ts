/**
 * The uplift's steps, numbered as DESIGN.md §10 numbers them, in every journal, status, log and CLI line:
 *
 *   0 decide      Decide.evaluate: EV > 0, or forced
 *   1 launch      the target CVM boots (a provider); hello: the source opens the session, the target answers attested
 *   2 key         the source verifies the target, then A `key-envelope` (import) or B `key-offer` (rotate)
 *   3 state       the frozen checkpoint is committed on-chain and moved (`commit`, `state-offer`)
 *   4 handshake   `challenge` → `challenge-answer`: signature over a fresh nonce, Merkle leaves, a fresh quote
 *   5 handover    `handover-tx` (uplift / rotate on-chain), `registration` (ERC-8004), `handover` (told to the target)
 */

/** One journaled step of the source. */
export type SourceStep = { readonly name: string; readonly phase: 1 | 2 | 3 | 4 | 5 }

/** The source's protocol steps in order (`key` stands for `key-envelope` or `key-offer`). */
export const sourceSteps: readonly SourceStep[] = [
  { name: 'source-hello', phase: 1 },
  { name: 'target-hello', phase: 1 },
  { name: 'key', phase: 2 },
  { name: 'commit', phase: 3 },
  { name: 'state-offer', phase: 3 },
  { name: 'challenge', phase: 4 },
  { name: 'challenge-answer', phase: 4 },
  { name: 'handover-tx', phase: 5 },
  { name: 'registration', phase: 5 },
  { name: 'handover', phase: 5 },
]

/** The names of the steps of each phase (what a person reads: "step 3, state"). */
export const phases = { 0: 'decide', 1: 'launch', 2: 'key', 3: 'state', 4: 'handshake', 5: 'handover' } as const

/** The protocol step a journal row is (undefined for the controller's own rows: session, writes, envelopes). */
export function stepOf(row: string): SourceStep | undefined {
  const name = row === 'key-envelope' || row === 'key-offer' ? 'key' : row
  return sourceSteps.find((s) => s.name === name)
}
