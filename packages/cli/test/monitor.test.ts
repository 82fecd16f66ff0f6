/**
 * `regent monitor` and `regent monitor history` usage through the real binary: help, and every usage error exiting 2
 * with a message that names the problem, before anything is read or written. (The monitor against a running devnet:
 * test/e2e/monitor.test.ts and monitor-browser.test.ts.)
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sinceOf } from '../src/commands/monitor.js'
import { regent } from './cli.js'

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-monitor-cli-'))
})
afterAll(() => rm(root, { recursive: true, force: true }))

const run = (args: string[], env: Record<string, string> = {}) =>
  regent(['monitor', ...args, '--dir', root, '--devnet-dir', join(root, 'none')], { env })

describe('regent monitor', () => {
  test('default: --help shows every flag, examples and the docs page; the top-level help lists the group', async () => {
    const help = await regent(['monitor', '--help'])
    expect(help.code).toBe(0)
    for (const flag of [
      '--agent <url|id>',
      '--interval <seconds>',
      '--once',
      '--webhook <url>',
      '--ui',
      '--port <port>',
      '--db <file>',
      '--min-tcb <status>',
    ])
      expect(help.stdout).toContain(flag)
    expect(help.stdout).toContain('REGENT_MONITOR_WEBHOOK_SECRET')
    expect(help.stdout).toContain('Docs: docs/cli/monitor.md')
    expect((await regent(['--help'])).stdout).toMatch(/monitor \[options\]\s+watch agents continuously/)
    expect((await regent(['monitor', 'history', '--help'])).stdout).toContain('--since <time>')
  })

  test('behavior: usage errors exit 2 naming the problem, and create nothing', async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [['--agent', '1', '--interval', '0.1'], {}, 'error: --interval takes a number of seconds (at least 0.2)'],
      [['--agent', '1', '--interval', 'often'], {}, 'error: --interval takes a number of seconds (at least 0.2)'],
      [
        ['--agent', 'ftp://agent.example'],
        {},
        'error: --agent takes an http(s) URL or a decimal ERC-8004 agentId, got "ftp://agent.example"',
      ],
      [['--agent', '-3'], {}, 'error: --agent takes an http(s) URL or a decimal ERC-8004 agentId, got "-3"'],
      [['--agent', '1', '--ui', '--once'], {}, 'error: --ui serves a dashboard while monitoring: it does not go with --once'],
      [['--agent', '1', '--port', '70000'], {}, 'error: --port takes a port number (0–65535)'],
      [['--agent', '1', '--webhook', 'mailto:ops@example.com'], {}, 'error: --webhook takes an http(s) URL, got "mailto:ops@example.com"'],
      [
        ['--agent', '1', '--webhook', 'https://ops.example/hook'],
        {},
        'error: --webhook needs a secret of at least 16 bytes in REGENT_MONITOR_WEBHOOK_SECRET',
      ],
      [
        ['--agent', '1', '--webhook', 'https://ops.example/hook'],
        { REGENT_MONITOR_WEBHOOK_SECRET: 'short' },
        'error: --webhook needs a secret of at least 16 bytes in REGENT_MONITOR_WEBHOOK_SECRET',
      ],
      [['--agent', '1', '--from-block', 'genesis'], {}, 'error: --from-block takes a block number'],
      [
        ['--agent', '1', '--min-tcb', 'Great'],
        {},
        "error: option '--min-tcb <status>' argument 'Great' is invalid. Allowed choices are UpToDate, SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate, OutOfDateConfigurationNeeded.",
      ],
      [[], {}, 'error: no agent to watch: give --agent <url|id>, or run in a project deployed with `regent deploy` (--dir)'],
      [['--agent', '1'], {}, `error: no devnet in ${join(root, 'none')} and no --rpc-url`],
      [['--agent', '1', '--rpc-url', 'http://127.0.0.1:9'], {}, 'error: --rpc-url needs --contracts <file>'],
    ]
    for (const [args, env, message] of cases) {
      const r = await run(args, env)
      expect([args.join(' '), r.code, r.stderr.split('\n')[0]]).toEqual([args.join(' '), 2, message])
    }
    const json = await run(['--agent', '1', '--webhook', 'https://ops.example/hook', '--json'])
    expect([json.code, JSON.parse(json.stdout).error.code]).toEqual([2, 'webhook.secret'])
    expect(JSON.parse(json.stdout).error.hint).toContain('openssl rand -hex 32')
    expect(await readdir(root)).toEqual([])
  })

  test('behavior: a chain that does not answer is exit 1 with a hint, before any database is created', async () => {
    const contracts = join(root, 'contracts.json')
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(
        contracts,
        JSON.stringify({ identityRegistry: `0x${'11'.repeat(20)}`, appAuth: `0x${'22'.repeat(20)}`, succession: `0x${'33'.repeat(20)}` }),
      ),
    )
    const r = await run(['--agent', '1', '--rpc-url', 'http://127.0.0.1:9', '--contracts', contracts])
    expect([r.code, r.stderr.split('\n').slice(0, 2)]).toEqual([
      1,
      ['error: the chain at http://127.0.0.1:9 did not answer', 'hint: check --rpc-url'],
    ])
    expect(await readdir(root)).toEqual(['contracts.json'])
    await rm(contracts)
  })
})

describe('regent monitor history', () => {
  test('behavior: no database, a bad --since or --limit exit 2', async () => {
    const missing = await regent(['monitor', 'history', '--agent', '1', '--db', join(root, 'none.db')])
    expect([missing.code, missing.stderr.split('\n')[0]]).toEqual([2, `error: no monitor history at ${join(root, 'none.db')}`])
    const since = await regent(['monitor', 'history', '--agent', '1', '--since', 'last week'])
    expect([since.code, since.stderr.split('\n')[0]]).toEqual([
      2,
      'error: --since takes an ISO time, unix seconds or a duration like 15m, 6h, 7d; got "last week"',
    ])
    const limit = await regent(['monitor', 'history', '--limit', '0'])
    expect(limit.code).toBe(2)
  })

  test('default: --since takes durations, unix seconds and ISO times', () => {
    const now = new Date('2026-12-01T12:00:00Z')
    expect(sinceOf('90s', now).toISOString()).toBe('2026-12-01T11:58:30.000Z')
    expect(sinceOf('6h', now).toISOString()).toBe('2026-12-01T06:00:00.000Z')
    expect(sinceOf('7d', now).toISOString()).toBe('2026-11-24T12:00:00.000Z')
    expect(sinceOf('1764590400', now).toISOString()).toBe('2025-12-01T12:00:00.000Z')
    expect(sinceOf('2026-11-30', now).toISOString()).toBe('2026-11-30T00:00:00.000Z')
  })
})
