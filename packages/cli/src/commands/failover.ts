/**
 * `regent failover enable | disable | status --agent <url>` (docs/cli/failover.md): the agent's lease on
 * RegentSuccession through its operator-signed admin API. With a lease, the canonical instance acknowledges a write
 * only once `k` attested standbys hold it and only inside its lease window; a standby claims the agent once the lease
 * expires (about one period after the canonical dies). Standbys: `regent standby` (commands/standby.ts).
 */
import type { Command, CommandInput, CommandResult } from '../command.js'
import { UsageError } from '../errors.js'
import * as Failover from '../project/Failover.js'

const docs = 'docs/cli/failover.md'

/** What `regent failover enable | disable | status --json` prints: the agent's URL and its failover status. */
export type FailoverOutput = { agent: string } & Failover.Status

/** `regent failover enable --agent <url> --period <s> [--k <n>] [--margin-ms <ms>]`. */
export const enable: Command = {
  async run(input): Promise<CommandResult<FailoverOutput>> {
    const agent = agentFlag(input, 'regent failover enable --agent http://127.0.0.1:8080 --period 10')
    const lease = leaseFlags({ period: input.flags.period, k: input.flags.k, marginMs: input.flags.marginMs })
    const status = await Failover.client(agent, Failover.operatorOnce()).setLease(lease)
    return { ok: true, data: { agent, ...status } }
  },
  render(result) {
    const d = result.data as FailoverOutput
    const standbys = d.replication?.standbys.length ?? 0
    return [
      `✓ failover on for agent ${d.agentId}: lease ${d.lease?.period ?? '?'} s, k ${d.replication?.k ?? '?'}; ${d.agent} holds it at epoch ${d.epoch}`,
      ...Failover.renderStatus(d.agent, d).slice(1),
      ...(standbys === 0
        ? [
            '',
            `No standby yet: writes are acknowledged with no copy elsewhere until one is attached (regent standby add --agent ${d.agent}).`,
          ]
        : []),
    ].join('\n')
  },
}

/** `regent failover disable --agent <url>`: clears the lease (period 0); standbys stop following. */
export const disable: Command = {
  async run(input): Promise<CommandResult<FailoverOutput>> {
    const agent = agentFlag(input, 'regent failover disable --agent http://127.0.0.1:8080')
    const status = await Failover.client(agent, Failover.operatorOnce()).setLease({ period: 0 })
    return { ok: true, data: { agent, ...status } }
  },
  render(result) {
    const d = result.data as FailoverOutput
    return [
      `✓ failover off for agent ${d.agentId}: no lease, ${d.agent} serves alone (its standbys no longer receive writes and never claim)`,
    ].join('\n')
  },
}

/** `regent failover status --agent <url>`: any instance (a standby answers from its public /health). */
export const status: Command = {
  async run(input): Promise<CommandResult<FailoverOutput>> {
    const agent = agentFlag(input, 'regent failover status --agent http://127.0.0.1:8080')
    return { ok: true, data: { agent, ...(await Failover.statusOf(agent, Failover.operatorOnce())) } }
  },
  render(result) {
    const d = result.data as FailoverOutput
    return Failover.renderStatus(d.agent, d).join('\n')
  },
}

const agentFlag = (input: CommandInput, example: string) => Failover.urlFlag(input.flags.agent, '--agent', example)

/**
 * The lease flags: `--period` 2–86400 s (required), `--k` 0–16 (default 1), `--margin-ms` below half the period
 * (default 1 s, or a quarter of a shorter period).
 *
 * @throws {UsageError} `usage`.
 */
export function leaseFlags(
  flags: { period: string | boolean | undefined; k: string | boolean | undefined; marginMs: string | boolean | undefined },
  names = { period: '--period', k: '--k', marginMs: '--margin-ms' },
): Failover.Lease {
  if (flags.period === undefined)
    throw new UsageError('usage', `${names.period} <seconds> is required (how long the lease lasts without a renewal)`, {
      hint: 'regent failover enable --agent http://127.0.0.1:8080 --period 10',
      docs,
    })
  const period = Failover.intFlag(flags.period, names.period, { min: 2, max: 86_400 })
  const k = Failover.intFlag(flags.k, names.k, { min: 0, max: 16, default: 1 })
  const marginMs = Failover.intFlag(flags.marginMs, names.marginMs, {
    min: 0,
    max: period * 500 - 1,
    default: Failover.defaultMarginMs(period),
  })
  return { period, k, marginMs }
}
