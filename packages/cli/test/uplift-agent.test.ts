/**
 * `regent uplift --agent …`, `regent uplift resume` and `regent uplift status --agent` through the real binary, at the
 * CLI layer: usage errors, an unreachable agent, and the admin API contract (docs/cli/uplift.md "The agent's admin
 * API") answered by a small HTTP server on loopback that stands in for the agent and for a target launched by hand
 * (`--target-url`). The real flow, with the example agent and a devnet CVM, is the e2e test's (test/e2e).
 */

import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AdminRequest } from '@regent-tee/sdk/uplift'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

/** The stand-in agent's operator: the CLI signs with this key (REGENT_OPERATOR_KEY). */
const operatorKey = generatePrivateKey()
const operator = privateKeyToAccount(operatorKey)
const scope = { agentId: 7n, chainId: 31337, succession: '0x000000000000000000000000000000000000dEaD' as const }
const nonces = AdminRequest.createNonceStore()
const wallet = '0x1111111111111111111111111111111111111111'
const targetWallet = '0x2222222222222222222222222222222222222222'
const at = '2025-01-01T00:00:00.000Z'
const stepsImport = [
  'source-hello',
  'target-hello',
  'key-envelope',
  'commit',
  'state-offer',
  'challenge',
  'challenge-answer',
  'handover-tx',
  'registration',
  'handover',
]
const result = {
  signer: wallet,
  epoch: '2',
  stateRoot: `0x${'ab'.repeat(32)}`,
  seq: '2',
  transactionHash: `0x${'cd'.repeat(32)}`,
}
const table = 'factor  kind  p  value  weight  contribution\n…\nEV = -3.10 → do not proceed'

type Reply = [number, unknown]
type Route = (body: unknown) => Reply

/** The stand-in agent: /health, and the admin routes answered by `routes` (set per test) behind the operator's signature. */
let routes: Record<string, Route>
let health: unknown
let requests: { route: string; signed: boolean; body: unknown }[]
let agent: Server
let agentUrl: string
let target: Server
let targetUrl: string
let closedUrl: string
let root: string
let noDevnet: string

function idle() {
  return {
    state: 'idle',
    sessionId: null,
    mode: null,
    targetUrl: null,
    steps: [],
    next: null,
    decision: null,
    error: null,
    result: null,
  }
}

/** A session whose first `n` import steps are done. */
function running(n: number, state = 'running') {
  return {
    ...idle(),
    state,
    sessionId: `0x${'01'.repeat(32)}`,
    mode: 'import',
    targetUrl,
    steps: stepsImport.slice(0, n).map((step) => ({ step, at })),
    next: stepsImport[n] ?? null,
    decision: { ev: 16.9, proceed: true, table: 'EV = 16.90 → proceed' },
  }
}

/** GET /admin/uplift answers one more step each time, then `end`. */
function progressing(end: unknown): Route {
  let n = 0
  return () => {
    n++
    return [200, n <= stepsImport.length ? running(n) : end]
  }
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'regent-uplift-agent-'))
  noDevnet = join(root, 'no-devnet')
  agent = createServer(async (req, res) => {
    const route = `${req.method} ${req.url}`
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks)
    const body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined
    requests.push({ route, signed: typeof req.headers[AdminRequest.headers.signature] === 'string', body })
    const send = ([status, json]: Reply) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json))
    if (route === 'GET /health') return send([200, health])
    if (!route.includes('/admin/')) return send([404, { error: { code: 'not_found', message: 'no route' } }])
    if (route === 'GET /admin/info' && routes[route] === undefined)
      return send([200, { agentId: '7', chainId: scope.chainId, succession: scope.succession, operator: operator.address }])
    const verdict = await AdminRequest.verify(
      { method: req.method ?? 'GET', path: req.url ?? '/', body: raw, headers: req.headers },
      { ...scope, operator: operator.address, nonces },
    )
    if (!verdict.ok) return send([verdict.status, { error: { code: verdict.code, message: verdict.message } }])
    const handler = routes[route]
    return send(handler ? handler(body) : [404, { error: { code: 'not_found', message: 'no route' } }])
  })
  agentUrl = await listen(agent)
  target = createServer((_req, res) => {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ok: true, role: 'uplift-target', wallet: targetWallet }))
  })
  targetUrl = await listen(target)
  const closed = createServer()
  closedUrl = await listen(closed)
  await new Promise((resolve) => closed.close(resolve))
})

afterAll(async () => {
  agent.closeAllConnections()
  target.closeAllConnections()
  await new Promise((resolve) => agent.close(resolve))
  await new Promise((resolve) => target.close(resolve))
  await rm(root, { recursive: true, force: true })
})

beforeEach(() => {
  health = { ok: true, agentId: '7', wallet, role: 'agent', runtime: 'wild' }
  routes = { 'GET /admin/uplift': () => [200, idle()] }
  requests = []
})

/** `regent uplift --agent <stand-in> --target-url <stand-in target> …` with the operator's key in the environment. */
const move = (args: string[] = [], env: Record<string, string> = { REGENT_OPERATOR_KEY: operatorKey }) =>
  regent(['uplift', '--agent', agentUrl, '--target-url', targetUrl, '--devnet-dir', noDevnet, ...args], { env })

describe('regent uplift (usage)', () => {
  test('behavior: a missing --agent exits 2', async () => {
    const r = await regent(['uplift', '--target', 'local', '--json'])
    expect([r.code, JSON.parse(r.stdout)]).toEqual([
      2,
      {
        ok: false,
        error: { code: 'usage', message: '--agent <url> is required', hint: 'regent uplift --agent http://127.0.0.1:8080 --target local' },
      },
    ])
  })

  test('behavior: a bad --key exits 2', async () => {
    const r = await regent(['uplift', '--agent', 'http://127.0.0.1:8080', '--key', 'copy', '--json'])
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([
      2,
      { code: 'usage', message: '--key takes "import" or "rotate"', hint: 'regent uplift --agent http://127.0.0.1:8080 --key import' },
    ])
  })

  test('behavior: --agent must be an http(s) URL', async () => {
    const r = await regent(['uplift', '--agent', 'ftp://agent', '--json'])
    expect([r.code, JSON.parse(r.stdout).error.message]).toEqual([2, '--agent takes a base URL (http or https), not "ftp://agent"'])
  })

  test('behavior: --target eigenx is not available (target.unsupported, exit 1); --target phala needs --dir (exit 2); --dir is not for --target-url', async () => {
    const r = await regent(['uplift', '--agent', 'http://127.0.0.1:8080', '--target', 'eigenx'])
    expect([r.code, r.stdout]).toEqual([1, ''])
    expect(r.stderr).toBe(
      'error: launching on eigenx is not available in this version\nhint: use --target local (the devnet)\ndocs: docs/providers.md\n',
    )
    const phala = await regent(['uplift', '--agent', 'http://127.0.0.1:8080', '--target', 'phala'])
    expect([phala.code, phala.stderr.split('\n')[0]]).toEqual([
      2,
      'error: --target phala moves the agent to a new instance of its Phala app: pass --dir <project>',
    ])
    const both = await regent(['uplift', '--agent', 'http://127.0.0.1:8080', '--target-url', 'http://127.0.0.1:9', '--dir', '.'])
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('--dir (a project to launch the target from) goes with --target local|dstack|phala')
  })

  test('behavior: an unknown --target exits 2', async () => {
    const r = await regent(['uplift', '--agent', 'http://127.0.0.1:8080', '--target', 'aws'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^error: option '--target <target>' argument 'aws' is invalid/)
  })

  test('behavior: --target and --target-url together exit 2', async () => {
    const r = await regent(['uplift', '--agent', 'http://127.0.0.1:8080', '--target', 'local', '--target-url', targetUrl, '--json'])
    expect([r.code, JSON.parse(r.stdout).error.message]).toEqual([
      2,
      'pass either --target (launch a target) or --target-url (one you launched), not both',
    ])
  })

  test('behavior: status takes exactly one of --agent and --journal', async () => {
    const both = await regent(['uplift', 'status', '--agent', 'http://127.0.0.1:8080', '--journal', 'x.db', '--json'])
    expect([both.code, JSON.parse(both.stdout).error.message]).toEqual([2, 'pass either --agent or --journal, not both'])
    const neither = await regent(['uplift', 'status', '--json'])
    expect([neither.code, JSON.parse(neither.stdout).error.message]).toEqual([2, '--agent <url> or --journal <file> is required'])
  })

  test('behavior: resume needs --agent', async () => {
    const r = await regent(['uplift', 'resume', '--json'])
    expect([r.code, JSON.parse(r.stdout).error.code]).toEqual([2, 'usage'])
  })
})

describe('regent uplift (the agent)', () => {
  test('behavior: an agent that does not answer (a closed loopback port) exits 1 naming it', async () => {
    const r = await regent(['uplift', '--agent', closedUrl, '--target', 'local', '--devnet-dir', noDevnet])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(
      `error: the agent at ${closedUrl} did not answer (ECONNREFUSED)\nhint: is it running, and is the URL right?\n`,
    )
  })

  test('behavior: an uplift target is not the agent', async () => {
    health = { ok: true, role: 'uplift-target', wallet: targetWallet }
    const r = await move(['--json'])
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([
      1,
      {
        code: 'agent.uplift_target',
        message: `${agentUrl} is an uplift target (a CVM waiting for an agent), not the agent`,
        hint: 'pass the URL of the running agent that should move',
      },
    ])
  })

  test('behavior: a server without /health is not an agent', async () => {
    health = { hello: 'world' }
    const r = await move(['--json'])
    expect([r.code, JSON.parse(r.stdout).error.code]).toEqual([1, 'agent.not_agent'])
  })

  test("behavior: a key that is not the agent's operator → admin.not_operator; no key → operator.missing; a key is never printed", async () => {
    const stranger = generatePrivateKey()
    const r = await move([], { REGENT_OPERATOR_KEY: stranger })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`\nerror: the agent at ${agentUrl} refused: Signed by 0x`)
    expect(r.stderr).toContain("not by this agent's operator.\nhint: REGENT_OPERATOR_KEY must be the key of the operator")
    expect(requests.at(-1)?.signed).toBe(true)
    expect(r.stdout + r.stderr).not.toContain(stranger.slice(2))
    const none = await move(['--json'], { REGENT_OPERATOR_KEY: '' })
    expect([none.code, JSON.parse(none.stdout).error.code]).toEqual([2, 'operator.missing'])
    const bad = await move(['--json'], { REGENT_OPERATOR_KEY: '0x1234' })
    expect([bad.code, JSON.parse(bad.stdout).error.code]).toEqual([2, 'operator.invalid'])
  })

  test('behavior: an agent without an operator → admin.disabled', async () => {
    routes['GET /admin/uplift'] = () => [404, { error: { code: 'admin.disabled', message: 'no operator' } }]
    const r = await move(['--json'])
    expect([r.code, JSON.parse(r.stdout).error.code]).toEqual([1, 'admin.disabled'])
  })

  test('behavior: 422 decide.negative prints the decision table and exits 1 (hint --force)', async () => {
    routes['POST /admin/uplift'] = () => [
      422,
      { error: { code: 'decide.negative', message: 'the expected value is not positive' }, decision: { ev: -3.1, proceed: false, table } },
    ]
    const r = await move()
    expect(r.code).toBe(1)
    expect(r.stdout).toBe(
      `✗ the agent 7 decided not to move (EV = -3.1): the expected value is not positive\n\n${table}\n\nhint: pass --force to move anyway: regent uplift --agent ${agentUrl} --force\n`,
    )
    expect(requests.find((q) => q.route === 'POST /admin/uplift')?.body).toEqual({ targetUrl, key: 'import' })

    const j = await move(['--json', '--key', 'rotate', '--force'])
    expect(j.code).toBe(1)
    expect(JSON.parse(j.stdout)).toMatchObject({
      state: 'refused',
      decision: { ev: -3.1, proceed: false, table },
      error: { code: 'decide.negative' },
    })
    expect(requests.at(-1)?.body).toEqual({ targetUrl, key: 'rotate', force: true })
  })

  test('behavior: 409 uplift.busy → an error with the hint to resume', async () => {
    routes['POST /admin/uplift'] = () => [409, { error: { code: 'uplift.busy', message: 'a session is unfinished: resume it' } }]
    const r = await move()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(
      `error: the agent at ${agentUrl} has an uplift running or unfinished (a session is unfinished: resume it)\nhint: regent uplift resume --agent ${agentUrl}\n`,
    )
  })

  test('behavior: an unfinished session is found before anything is launched', async () => {
    routes['GET /admin/uplift'] = () => [
      200,
      { ...running(4, 'failed'), error: { code: 'target.unreachable', message: 'the target did not answer' } },
    ]
    const r = await move(['--json'])
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([
      1,
      {
        code: 'uplift.unfinished',
        message: `the agent at ${agentUrl} has an unfinished uplift (session 0x${'01'.repeat(32)}, stopped before state-offer: target.unreachable: the target did not answer)`,
        hint: `regent uplift resume --agent ${agentUrl}`,
      },
    ])
    expect(requests.some((q) => q.route === 'POST /admin/uplift')).toBe(false)
  })

  test('behavior: a session that failed before its key step does not stop a new one (the agent abandons it)', async () => {
    routes['GET /admin/uplift'] = () => [200, { ...running(1, 'failed'), error: { code: 'target.unreachable', message: 'gone' } }]
    routes['POST /admin/uplift'] = () => [
      422,
      { error: { code: 'decide.negative', message: 'the expected value is not positive' }, decision: { ev: -3.1, proceed: false, table } },
    ]
    const r = await move(['--json'])
    expect([r.code, JSON.parse(r.stdout).state]).toEqual([1, 'refused'])
    expect(requests.some((q) => q.route === 'POST /admin/uplift')).toBe(true)
  })

  test('default: the agent moves; each step is shown, then the summary', async () => {
    // Before the POST the agent is idle; after it, each poll shows one more step, then done.
    let follow: Route = () => [200, idle()]
    routes['GET /admin/uplift'] = (b) => follow(b)
    routes['POST /admin/uplift'] = () => {
      follow = progressing({ ...running(10, 'done'), next: null, result })
      return [202, running(0)]
    }
    const r = await move(['--json'])
    expect(r.code).toBe(0)
    const d = JSON.parse(r.stdout)
    expect(d).toMatchObject({
      state: 'done',
      agent: { url: agentUrl, agentId: '7', wallet },
      key: 'import',
      target: { url: targetUrl, wallet: targetWallet, provider: null, id: null, stopped: false },
      result,
      sameWallet: true,
      verification: null,
      error: null,
    })
    expect(d.status.steps.map((s: { step: string }) => s.step)).toEqual(stepsImport)
    for (const step of stepsImport) expect(r.stderr).toMatch(new RegExp(`✔ step \\d \\(\\w+\\) ${step}: `))
    expect(r.stdout + r.stderr).not.toContain(operatorKey.slice(2))

    follow = () => [200, idle()]
    const human = await move()
    expect(human.code).toBe(0)
    expect(human.stdout).toBe(
      [
        `✓ agent 7 moved into ${targetUrl} (--key import)`,
        `  signer    ${wallet} (same wallet)`,
        '  epoch     2',
        `  state     ${result.stateRoot} (seq 2)`,
        `  handover  tx ${result.transactionHash}`,
        `  target    ${targetUrl}, its own KMS wallet ${targetWallet}`,
        `  session   0x${'01'.repeat(32)}`,
        'outside verifier: skipped (no devnet to read the chain from; see --devnet-dir)',
        '',
      ].join('\n'),
    )
  })

  test('behavior: the agent fails mid-way → exit 1 with its error and the hint to resume', async () => {
    const failed = { ...running(5, 'failed'), error: { code: 'handshake.stale_quote', message: 'the quote is stale' } }
    let polls = -1 // -1: before the POST
    routes['GET /admin/uplift'] = () => [200, polls < 0 ? idle() : ++polls < 3 ? running(2) : failed]
    routes['POST /admin/uplift'] = () => {
      polls = 0
      return [202, running(0)]
    }
    const r = await move()
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n')[0]).toBe(`✗ the uplift of agent 7 failed before challenge: handshake.stale_quote: the quote is stale`)
    expect(r.stdout).toContain(`\nhint: regent uplift resume --agent ${agentUrl}\n`)
  })
})

describe('regent uplift resume', () => {
  test('behavior: nothing to resume (409 uplift.none) exits 1 with a hint', async () => {
    routes['POST /admin/uplift/resume'] = () => [409, { error: { code: 'uplift.none', message: 'no unfinished session' } }]
    const r = await regent(['uplift', 'resume', '--agent', agentUrl, '--json'], { env: { REGENT_OPERATOR_KEY: operatorKey } })
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([
      1,
      {
        code: 'uplift.none',
        message: `the agent at ${agentUrl} has no uplift to resume (no unfinished session)`,
        hint: `start one: regent uplift --agent ${agentUrl} --target local`,
      },
    ])
    expect(requests.find((q) => q.route === 'POST /admin/uplift/resume')?.body).toEqual({})
  })

  test('default: the agent resumes and finishes', async () => {
    const follow = progressing({ ...running(10, 'done'), next: null, result: { ...result, signer: targetWallet } })
    routes['POST /admin/uplift/resume'] = () => [202, running(4)]
    routes['GET /admin/uplift'] = follow
    const r = await regent(['uplift', 'resume', '--agent', agentUrl, '--devnet-dir', noDevnet, '--json'], {
      env: { REGENT_OPERATOR_KEY: operatorKey },
    })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'done', key: 'import', sameWallet: false, target: { url: targetUrl } })
  })
})

describe('regent uplift status --agent', () => {
  test('default: renders the session', async () => {
    routes['GET /admin/uplift'] = () => [200, { ...running(3, 'failed'), error: { code: 'commit.reverted', message: 'StaleSeq' } }]
    const r = await regent(['uplift', 'status', '--agent', agentUrl], { env: { REGENT_OPERATOR_KEY: operatorKey } })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(
      [
        '✗ uplift failed before commit: commit.reverted: StaleSeq (--key import)',
        `  session 0x${'01'.repeat(32)}`,
        `  target  ${targetUrl}`,
        `  ✓ source-hello      ${at}`,
        `  ✓ target-hello      ${at}`,
        `  ✓ key-envelope      ${at}`,
        `hint: regent uplift resume --agent ${agentUrl}`,
        '',
      ].join('\n'),
    )
    const j = await regent(['uplift', 'status', '--agent', agentUrl, '--json'], { env: { REGENT_OPERATOR_KEY: operatorKey } })
    expect(JSON.parse(j.stdout)).toMatchObject({ agent: agentUrl, state: 'failed', next: 'commit', mode: 'import' })
  })

  test('behavior: idle', async () => {
    const r = await regent(['uplift', 'status', '--agent', `${agentUrl}/`], { env: { REGENT_OPERATOR_KEY: operatorKey } })
    expect([r.code, r.stdout]).toEqual([0, '– no uplift: the agent is idle\n'])
  })
})
