/**
 * `regent monitor` and `regent monitor history` (issue 18; DESIGN.md §12; docs/cli/monitor.md): continuous
 * verification of agents with typed alerts on stdout, webhooks and the exit status, history in SQLite, and a local
 * dashboard. The monitor itself lives in `../monitor/` (Monitor.ts and its parts); this file turns flags into it and
 * its reports into lines.
 */
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createTrustedRoot, intelSgxRootCa, type TrustedRoot } from '@regent-tee/attest'
import { DevnetFile } from '@regent-tee/devnet'
import { type Address, createPublicClient, getAddress, http } from 'viem'
import { getChainId } from 'viem/actions'
import type { Command, CommandInput, CommandResult } from '../command.js'
import { CliError, UsageError } from '../errors.js'
import type { Alert, Transition } from '../monitor/Alert.js'
import { createCollateralWatch } from '../monitor/CollateralWatch.js'
import { type Dashboard, startDashboard } from '../monitor/Dashboard.js'
import { type TcbStatus, tcbOrder } from '../monitor/Findings.js'
import { type CheckReport, createMonitor, type Target, TargetError } from '../monitor/Monitor.js'
import { type CheckRow, type EventRow, openStore, openStoreReadOnly, StoreMismatchError } from '../monitor/Store.js'
import * as Webhook from '../monitor/Webhook.js'
import * as Record from '../project/Record.js'

const docs = 'docs/cli/monitor.md'
/** The environment variable that holds the webhook secret (never a flag: argv is visible to every local user). */
export const secretVariable = 'REGENT_MONITOR_WEBHOOK_SECRET'
const intelPcs = 'https://api.trustedservices.intel.com'

/** What `regent monitor --json` prints last (each check and alert came before it, one JSON line each). */
export type WatchSummary = {
  type: 'summary'
  ticks: number
  checks: number
  raised: number
  resolved: number
  open: Alert[]
  db: string
  ui: string | null
}

export const watch: Command = {
  async run(input: CommandInput): Promise<CommandResult<WatchSummary>> {
    const { flags } = input
    const emit = input.emit ?? (() => undefined)
    const signal = input.signal ?? new AbortController().signal
    const json = flags.json === true
    const once = flags.once === true
    const interval = seconds(flags.interval, 'interval', { min: 0.2 })
    const settings = {
      collateralWarnMs: seconds(flags.collateralWarn, 'collateral-warn', { min: 0 }) * 1000,
      stateMaxAgeSeconds: seconds(flags.stateMaxAge, 'state-max-age', { min: 1 }),
      minTcbStatus: (typeof flags.minTcb === 'string' ? flags.minTcb : 'UpToDate') as TcbStatus,
    }
    if (!tcbOrder.includes(settings.minTcbStatus))
      throw new UsageError('usage', `--min-tcb must be one of ${tcbOrder.join(', ')}`, { docs })
    const refreshMs = seconds(flags.collateralRefresh, 'collateral-refresh', { min: 0 }) * 1000
    const fromBlock = flags.fromBlock === undefined ? undefined : blockNumber(flags.fromBlock)
    if (once && flags.ui === true)
      throw new UsageError('usage', '--ui serves a dashboard while monitoring: it does not go with --once', { docs })
    const port = Number(flags.port ?? 8787)
    if (!Number.isInteger(port) || port < 0 || port > 65_535)
      throw new UsageError('usage', '--port takes a port number (0–65535)', { docs })
    const webhooks = input.lists?.webhook ?? (typeof flags.webhook === 'string' ? [flags.webhook] : [])
    for (const url of webhooks)
      if (!/^https?:\/\/[^\s]+$/i.test(url)) throw new UsageError('usage', `--webhook takes an http(s) URL, got "${url}"`, { docs })
    const secret = process.env[secretVariable]
    if (webhooks.length > 0 && (secret === undefined || Buffer.byteLength(secret) < Webhook.minSecretLength))
      throw new UsageError('webhook.secret', `--webhook needs a secret of at least ${Webhook.minSecretLength} bytes in ${secretVariable}`, {
        hint: `export ${secretVariable}=$(openssl rand -hex 32), and give the same secret to the receiver`,
        docs,
      })

    const dir = resolve(typeof flags.dir === 'string' ? flags.dir : '.')
    const targets = await targetsOf(input, dir)
    const chain = await chainOf(flags)
    // Batching: a check's reads (canonical instance, approvals, state) share one HTTP request (about 40 % less CPU).
    const client = createPublicClient({ transport: http(chain.rpcUrl, { batch: { wait: 0 } }) })
    const chainId = await getChainId(client).catch((cause: unknown) => {
      throw new CliError('chain.unreachable', `the chain at ${chain.rpcUrl} did not answer`, {
        hint: chain.devnet ? 'is the devnet running? `regent dev status`' : 'check --rpc-url',
        docs,
        cause,
      })
    })
    const trust = typeof flags.trust === 'string' ? flags.trust : chain.devnet ? 'devnet' : 'intel'
    const trustedRoots = await trustedRootsOf(trust, chain.devnet)
    const pccsUrl = typeof flags.pccsUrl === 'string' ? flags.pccsUrl : trust === 'devnet' && chain.devnet ? chain.devnet.hostUrl : intelPcs
    const dbPath = typeof flags.db === 'string' ? resolve(flags.db) : join(dir, '.regent', 'monitor.db')
    let store: ReturnType<typeof openStore>
    try {
      store = openStore(dbPath, { chainId, identityRegistry: chain.contracts.identityRegistry })
    } catch (error) {
      if (error instanceof StoreMismatchError)
        throw new UsageError('db.mismatch', error.message, { hint: 'use another --db for this chain', docs })
      throw new CliError('db.open', `cannot open ${dbPath}: ${(error as Error).message}`, { docs })
    }
    const monitorId = monitorIdOf(store)

    const monitor = createMonitor({
      client,
      chainId,
      contracts: chain.contracts,
      store,
      trustedRoots,
      collateral: createCollateralWatch({ pccsUrl, trustedRoots, refreshMs }),
      ...(fromBlock === undefined ? {} : { fromBlock }),
      settings,
    })
    let dashboard: Dashboard | undefined
    const senders = webhooks.map((url) =>
      Webhook.createSender({
        url,
        secret: secret as string,
        onResult: (r) => {
          const [, alertId, state] = r.id.split(':')
          store.insertDelivery({
            alertId: Number(alertId),
            state: state as 'raised' | 'resolved',
            url: r.url,
            attempts: r.attempts,
            status: r.status,
            error: r.error,
            at: new Date().toISOString(),
          })
          if (!r.delivered) input.note(`webhook ${r.url}: ${r.id} not delivered after ${r.attempts} attempt(s): ${r.error}`)
        },
      }),
    )
    let watched = new Set<string>()
    const rounds = new Set<number>()
    let checks = 0
    let raised = 0
    let resolvedCount = 0
    try {
      try {
        const added = await monitor.add(targets)
        watched = new Set(added.map((a) => a.agent))
        input.note(
          `watching ${added.map((a) => `agent ${a.agent}`).join(', ')} on chain ${chainId} (${chain.rpcUrl}); history in ${dbPath}`,
        )
      } catch (error) {
        if (error instanceof TargetError)
          throw new CliError(error.code, error.message, {
            hint: 'check the URL or agentId, and the chain (--devnet-dir / --rpc-url)',
            docs,
          })
        throw error
      }
      monitor.subscribe({
        check: (c) => {
          checks++
          rounds.add(c.tick)
          if (json) emit({ type: 'check', ...c }, '')
          else input.note(checkLine(c))
        },
        transition: (t) => {
          if (t.state === 'raised') raised++
          else resolvedCount++
          emit({ type: 'alert', state: t.state, ...t.alert }, alertLine(t))
          const payload = {
            type: 'alert',
            id: `${monitorId}:${t.alert.id}:${t.state}`,
            state: t.state,
            alert: t.alert,
            monitor: { id: monitorId, chainId, identityRegistry: chain.contracts.identityRegistry },
            sentAt: new Date().toISOString(),
          }
          for (const s of senders) s.send(payload.id, payload)
        },
      })
      if (flags.ui === true) {
        const bind = typeof flags.bind === 'string' ? flags.bind : '127.0.0.1'
        dashboard = await startDashboard({ store, monitor, host: bind, port }).catch((cause: NodeJS.ErrnoException) => {
          throw new CliError('ui.listen', `cannot serve the dashboard on ${bind}:${port}: ${cause.code ?? cause.message}`, {
            hint: 'pick another --port (0: any free port)',
            docs,
          })
        })
        emit({ type: 'ui', url: dashboard.url }, `dashboard: ${dashboard.url}`)
        if (!['127.0.0.1', '::1', 'localhost'].includes(bind))
          input.note(`the dashboard listens on ${bind}: anyone who can reach it can read the agents' history (it has no login)`)
      }
      if (once) {
        await monitor.tick()
        await Promise.all(senders.map((s) => s.drain()))
      } else {
        await monitor.run({ intervalMs: interval * 1000, signal })
        for (const s of senders) s.close()
        await Promise.all(senders.map((s) => s.drain()))
      }
      // Only this run's agents: a shared database may hold alerts of agents watched by other runs.
      const open = store.alerts({ state: 'open' }).filter((a) => watched.has(a.agent))
      return {
        ok: once ? open.length === 0 : true,
        data: {
          type: 'summary',
          ticks: rounds.size,
          checks,
          raised,
          resolved: resolvedCount,
          open,
          db: dbPath,
          ui: dashboard?.url ?? null,
        },
      }
    } finally {
      await dashboard?.close()
      store.close()
    }
  },
  render(result) {
    const d = result.data as WatchSummary
    const lines = [
      `${d.checks} check(s) in ${d.ticks} round(s): ${d.raised} alert(s) raised, ${d.resolved} resolved; ${d.open.length} open`,
    ]
    for (const a of d.open) lines.push(`  open ${a.code.padEnd(22)} ${a.message}`)
    lines.push(`history: regent monitor history --db ${d.db}`)
    return lines.join('\n')
  },
}

/** What `regent monitor history --json` prints. */
export type HistoryOutput = {
  agent: string
  url: string | null
  since: string | null
  checks: CheckRow[]
  alerts: Alert[]
  events: EventRow[]
}

export const history: Command = {
  async run({ flags }: CommandInput): Promise<CommandResult<HistoryOutput>> {
    const dir = resolve(typeof flags.dir === 'string' ? flags.dir : '.')
    const dbPath = typeof flags.db === 'string' ? resolve(flags.db) : join(dir, '.regent', 'monitor.db')
    const since = typeof flags.since === 'string' ? sinceOf(flags.since) : undefined
    const limit = Number(flags.limit ?? 200)
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
      throw new UsageError('usage', '--limit takes a whole number from 1 to 100000', { docs })
    let store: ReturnType<typeof openStoreReadOnly>
    try {
      store = openStoreReadOnly(dbPath)
    } catch {
      throw new UsageError('db.missing', `no monitor history at ${dbPath}`, {
        hint: 'run `regent monitor` first (or point --db at its database)',
        docs,
      })
    }
    try {
      let agent: string | undefined
      const a = typeof flags.agent === 'string' ? flags.agent : undefined
      if (a === undefined) agent = (await Record.read(dir))?.agentId
      else if (/^(0|[1-9][0-9]{0,76})$/.test(a)) agent = a
      else if (/^https?:\/\//i.test(a)) agent = store.agentByUrl(a)?.agent
      else throw new UsageError('usage', `--agent takes a URL or a decimal agentId, got "${a}"`, { docs })
      if (agent === undefined || !store.agent(agent))
        throw new UsageError('agent.unknown', `${a ?? 'the project agent'} is not in ${dbPath}`, {
          hint: `watched agents: ${
            store
              .agents()
              .map((x) => x.agent)
              .join(', ') || 'none'
          }`,
          docs,
        })
      const row = store.agent(agent)
      const checks = store.checks(agent, { limit, ...(since ? { since: since.toISOString() } : {}) })
      const alerts = store.alerts({ agent, state: 'all', limit: 10_000, ...(since ? { since: since.toISOString() } : {}) }).reverse()
      const events = store.events(agent, { limit: 10_000, ...(since ? { since: Math.floor(since.getTime() / 1000) } : {}) })
      return { ok: true, data: { agent, url: row?.url ?? null, since: since?.toISOString() ?? null, checks, alerts, events } }
    } finally {
      store.close()
    }
  },
  render(result) {
    const d = result.data as HistoryOutput
    const rows: [string, string][] = [
      ...d.checks.map((c): [string, string] => [
        c.at,
        `check   ${c.reachable ? (c.isAgent ? '✓ agent' : '✗ not the agent') : '✗ unreachable'}  score ${c.score ?? '–'}  epoch ${c.epoch ?? '–'}  tcb ${c.tcbStatus ?? '–'}${c.reasons.length ? `  [${[...new Set(c.reasons.map((r) => r.code))].join(', ')}]` : ''}`,
      ]),
      ...d.alerts.flatMap((a): [string, string][] => [
        [a.raisedAt, `ALERT   ${a.code}: ${a.message}`],
        ...(a.resolvedAt ? [[a.resolvedAt, `RESOLVED ${a.code}: ${a.resolution}`] as [string, string]] : []),
      ]),
      ...d.events.map((e): [string, string] => [
        new Date(e.time * 1000).toISOString(),
        `event   ${e.name} (block ${e.block}) ${eventSummary(e)}`,
      ]),
    ].sort((x, y) => x[0].localeCompare(y[0]))
    return [
      `agent ${d.agent}${d.url ? ` (${d.url})` : ''}${d.since ? ` since ${d.since}` : ''}`,
      ...rows.map(([t, s]) => `${t}  ${s}`),
    ].join('\n')
  },
}

function checkLine(c: CheckReport): string {
  const state = !c.seen.includes('chain')
    ? '? chain unreachable'
    : !c.reachable
      ? '✗ unreachable'
      : c.isAgent
        ? '✓ agent'
        : '✗ not the agent'
  return `${c.at} check agent ${c.agent}: ${state}, score ${c.score ?? '–'}, epoch ${c.epoch ?? '–'}, tcb ${c.tcbStatus ?? '–'} (${c.durationMs} ms)`
}

function alertLine(t: Transition): string {
  const a = t.alert
  return t.state === 'raised'
    ? `${a.raisedAt} ALERT    ${a.severity.padEnd(8)} ${a.code.padEnd(22)} ${a.message}`
    : `${a.resolvedAt} RESOLVED ${''.padEnd(8)} ${a.code.padEnd(22)} agent ${a.agent}: ${a.resolution}`
}

function eventSummary(e: EventRow): string {
  const keep = ['epoch', 'signer', 'composeHash', 'activatesAt', 'osImageHash', 'kmsRoot', 'seq', 'amount', 'to', 'oldHost', 'host', 'from']
  return keep
    .filter((k) => e.args[k] !== undefined)
    .map((k) => `${k}=${String(e.args[k])}`)
    .join(' ')
}

async function targetsOf(input: CommandInput, dir: string): Promise<Target[]> {
  const values = input.lists?.agent ?? (typeof input.flags.agent === 'string' ? [input.flags.agent] : [])
  if (values.length === 0) {
    const record = await Record.read(dir)
    if (!record)
      throw new UsageError('usage', 'no agent to watch: give --agent <url|id>, or run in a project deployed with `regent deploy` (--dir)', {
        docs,
      })
    return [{ agentId: BigInt(record.agentId), url: record.url }]
  }
  return values.map((v): Target => {
    if (/^https?:\/\//i.test(v)) {
      try {
        return { url: new URL(v).toString().replace(/\/$/, '') }
      } catch {
        throw new UsageError('usage', `--agent ${v} is not a valid URL`, { docs })
      }
    }
    if (/^(0|[1-9][0-9]{0,76})$/.test(v)) return { agentId: BigInt(v) }
    throw new UsageError('usage', `--agent takes an http(s) URL or a decimal ERC-8004 agentId, got "${v}"`, { docs })
  })
}

type Contracts = { identityRegistry: Address; appAuth: Address; succession: Address; treasury?: Address }
type ChainContext = { rpcUrl: string; contracts: Contracts; devnet: DevnetFile.DevnetFile | undefined }

async function chainOf(flags: CommandInput['flags']): Promise<ChainContext> {
  if (typeof flags.rpcUrl === 'string') {
    if (typeof flags.contracts !== 'string')
      throw new UsageError('usage', '--rpc-url needs --contracts <file>', {
        hint: 'a JSON file with identityRegistry, appAuth, succession and treasury addresses (devnet.json `contracts` fits)',
        docs,
      })
    const text = await readFile(flags.contracts, 'utf8').catch(() => {
      throw new UsageError('file.unreadable', `cannot read contracts file ${flags.contracts}`, { docs })
    })
    try {
      const parsed = JSON.parse(text) as { contracts?: Record<string, string> } & Record<string, string>
      const c = parsed.contracts ?? parsed
      return {
        rpcUrl: flags.rpcUrl,
        devnet: undefined,
        contracts: {
          identityRegistry: getAddress(c.identityRegistry ?? ''),
          appAuth: getAddress(c.appAuth ?? ''),
          succession: getAddress(c.succession ?? ''),
          ...(c.treasury ? { treasury: getAddress(c.treasury) } : {}),
        },
      }
    } catch {
      throw new UsageError(
        'contracts.invalid',
        `${flags.contracts}: expected JSON with identityRegistry, appAuth and succession addresses`,
        { docs },
      )
    }
  }
  const dir = String(flags.devnetDir ?? '.regent')
  const file = await DevnetFile.read(dir).catch((error: Error) => {
    throw new UsageError('devnet.invalid', error.message.split('\n')[0] ?? 'invalid devnet file', {
      hint: 'run `regent dev up --fresh`',
      docs,
    })
  })
  if (!file)
    throw new UsageError('devnet.missing', `no devnet in ${dir} and no --rpc-url`, {
      hint: 'start the devnet with `regent dev up` (or pass --devnet-dir), or give --rpc-url and --contracts',
      docs,
    })
  return { rpcUrl: file.rpcUrl, contracts: file.contracts, devnet: file }
}

async function trustedRootsOf(trust: string, devnet: DevnetFile.DevnetFile | undefined): Promise<TrustedRoot[]> {
  if (trust === 'intel') return [intelSgxRootCa]
  if (trust === 'devnet') {
    if (!devnet) throw new UsageError('devnet.missing', '--trust devnet needs a devnet', { hint: 'start one with `regent dev up`', docs })
    return [createTrustedRoot({ name: 'devnet', pem: devnet.rootCa })]
  }
  const pem = await readFile(trust, 'utf8').catch(() => {
    throw new UsageError('file.unreadable', `cannot read root CA file ${trust}`, {
      hint: '--trust takes "devnet", "intel" or a PEM file',
      docs,
    })
  })
  try {
    return [createTrustedRoot({ name: trust, pem })]
  } catch (error) {
    throw new UsageError('trust.invalid', `${trust}: ${(error as Error).message.split('\n')[0]}`, { docs })
  }
}

function monitorIdOf(store: ReturnType<typeof openStore>): string {
  const row = store.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'monitorId'").get()
  if (row) return row.value
  const id = `mon_${Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex')}`
  store.db.prepare("INSERT INTO meta (key, value) VALUES ('monitorId', ?)").run(id)
  return id
}

function seconds(value: string | boolean | undefined, flag: string, { min }: { min: number }): number {
  const v = typeof value === 'string' ? value : undefined
  if (v === undefined || !/^\d{1,9}(\.\d{1,3})?$/.test(v) || Number(v) < min)
    throw new UsageError('usage', `--${flag} takes a number of seconds${min > 0 ? ` (at least ${min})` : ''}`, { docs })
  return Number(v)
}

function blockNumber(value: string | boolean): bigint {
  if (typeof value !== 'string' || !/^\d{1,18}$/.test(value)) throw new UsageError('usage', '--from-block takes a block number', { docs })
  return BigInt(value)
}

/** `--since`: ISO time, unix seconds, or a duration back from now (90s, 15m, 6h, 7d). */
export function sinceOf(value: string, now = new Date()): Date {
  const duration = /^(\d{1,9})(s|m|h|d)$/.exec(value)
  if (duration) {
    const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[duration[2] as 's' | 'm' | 'h' | 'd']
    return new Date(now.getTime() - Number(duration[1]) * unit * 1000)
  }
  if (/^\d{9,11}$/.test(value)) return new Date(Number(value) * 1000)
  if (/^\d{4}-\d\d-\d\d(T[\d:.]+(Z|[+-]\d\d:\d\d)?)?$/.test(value) && !Number.isNaN(Date.parse(value))) return new Date(value)
  throw new UsageError('usage', `--since takes an ISO time, unix seconds or a duration like 15m, 6h, 7d; got "${value}"`, { docs })
}
