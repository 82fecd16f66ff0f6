/** The human lines of `regent uplift` (docs/cli/uplift.md): the step titles, the summary, the status views. */
import type { CommandResult } from '../command.js'
import type { AgentStatusOutput, JournalStatusOutput, UpliftOutput } from './Output.js'

/** What the source step means for a human (the journal names are the contract). */
export const stepTitles: Record<string, string> = {
  'source-hello': 'session opened (fresh nonce)',
  'target-hello': "the target's hello and quote",
  'key-envelope': 'target attested; the key sealed to it (option A)',
  'key-offer': 'target attested; succession certificate signed (option B)',
  commit: 'state root committed on-chain',
  'state-offer': 'state sent, encrypted to the target',
  challenge: 'handshake challenge (fresh nonce, Merkle leaves)',
  'challenge-answer': "the target's answer (signature, leaves, fresh quote)",
  'handover-tx': 'on-chain handover (epoch + 1)',
  registration: 'ERC-8004 registration file points at the target',
  handover: 'the target is canonical; the source is demoted',
}

/** The summary of `regent uplift` and `regent uplift resume`: moved, refused or failed. */
export function render(result: CommandResult): string {
  const d = result.data as UpliftOutput
  const t = d.target
  if (d.state === 'refused')
    return [
      `✗ the agent ${d.agent.agentId} decided not to move${d.decision ? ` (EV = ${d.decision.ev})` : ''}: ${d.error?.message ?? ''}`,
      ...(d.decision ? ['', d.decision.table, ''] : []),
      ...(t?.id ? [`target ${t.id} ${t.stopped ? 'stopped' : 'NOT stopped (stop it: regent dev cvm stop)'}`] : []),
      `hint: ${d.hint}`,
    ].join('\n')
  if (d.state === 'failed') {
    const s = d.status
    return [
      `✗ the uplift of agent ${d.agent.agentId} failed${s?.next ? ` before ${s.next}` : ''}: ${d.error?.code}: ${d.error?.message}`,
      ...(s?.sessionId ? [`  session   ${s.sessionId}`] : []),
      ...(s ? [`  done      ${s.steps.map((e) => e.step).join(', ') || 'no step'}`] : []),
      ...(t ? [`  target    ${t.url}`] : []),
      `hint: ${d.hint}`,
    ].join('\n')
  }
  const r = d.result
  const v = d.verification
  return [
    `${result.ok ? '✓' : '✗'} agent ${d.agent.agentId} moved into ${t?.url ?? '?'} (--key ${d.key})`,
    `  signer    ${r?.signer}${d.sameWallet ? ' (same wallet)' : ` (rotated: was ${d.agent.wallet})`}`,
    `  epoch     ${r?.epoch}`,
    `  state     ${r?.stateRoot} (seq ${r?.seq})`,
    `  handover  tx ${r?.transactionHash}`,
    ...(d.status?.heldWrites
      ? [`  writes    ${d.status.heldWrites.held} accepted in the window, ${d.status.heldWrites.replayed} replayed at the target`]
      : []),
    `  target    ${t?.url ?? '?'}${t?.id ? ` (${t.provider} ${t.id})` : ''}${t?.wallet ? `, its own KMS wallet ${t.wallet}` : ''}`,
    ...(d.status?.sessionId ? [`  session   ${d.status.sessionId}`] : []),
    ...(v
      ? [
          v.served
            ? `outside verifier: identity function ${v.isAgent ? 'holds' : 'fails'}, security score ${v.score}${v.failures.length ? ` (${v.failures.join('; ')})` : ''}`
            : `outside verifier: ${v.note}\n  RegentSuccession: signer ${v.canonical.signer}, epoch ${v.canonical.epoch}, host ${v.canonical.host}${v.matches ? '' : ' — NOT what the agent reported'}`,
        ]
      : ['outside verifier: skipped (no devnet to read the chain from; see --devnet-dir)']),
  ].join('\n')
}

/** `regent uplift status --agent <url>`: the agent's session and its steps. */
export function renderAgentStatus(d: AgentStatusOutput): string {
  const head =
    d.state === 'idle'
      ? '– no uplift: the agent is idle'
      : d.state === 'running'
        ? `… uplift running: next step ${d.next ?? '?'}`
        : d.state === 'done'
          ? '✓ uplift done'
          : `✗ uplift failed${d.next ? ` before ${d.next}` : ''}${d.error ? `: ${d.error.code}: ${d.error.message}` : ''}`
  return [
    `${head}${d.mode ? ` (--key ${d.mode})` : ''}`,
    ...(d.sessionId ? [`  session ${d.sessionId}`] : []),
    ...(d.targetUrl ? [`  target  ${d.targetUrl}`] : []),
    ...d.steps.map((s) => `  ✓ ${s.step.padEnd(17)} ${s.at}`),
    ...(d.result
      ? [
          `  result  signer ${d.result.signer}, epoch ${d.result.epoch}, state ${d.result.stateRoot} (seq ${d.result.seq}), tx ${d.result.transactionHash}`,
        ]
      : []),
    ...(d.state === 'failed' ? [`hint: regent uplift resume --agent ${d.agent}`] : []),
  ].join('\n')
}

/** `regent uplift status --journal <file>`: the steps a source journal records. */
export function renderJournal(d: JournalStatusOutput): string {
  return [
    `${d.complete ? '✓ uplift complete' : `… uplift in progress: next step ${d.next}`}${d.mode ? ` (--key ${d.mode})` : ''}`,
    ...(d.sessionId ? [`  session ${d.sessionId}`] : []),
    ...d.steps.map((s) => `  ✓ ${s.step.padEnd(17)} ${s.at}`),
  ].join('\n')
}

/** A long hex shortened for a title: its first 10 and last 6 characters. */
export const short = (hex: string) => (hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex)
