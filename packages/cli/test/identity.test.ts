/**
 * `regent identity show|verify` through the real binary against a real detached devnet (anvil, KMS node, TDX host)
 * with the example agent in a CVM: it registers itself in ERC-8004 and becomes canonical as it boots (issue 8).
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DevnetFile } from '@regent-tee/devnet'
import { createAdminClient } from '@regent-tee/sdk/uplift'
import { exampleAgentApp } from '@regent-tee/testing/example-agent'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { regent } from './cli.js'

let dir: string
let work: string
/** The agent's operator (in its measured compose): commits are its signed requests. */
const operator = privateKeyToAccount(generatePrivateKey())
let file: DevnetFile.DevnetFile
let url: string
let health: { agentId: string; wallet: string }

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
})
async function call<T>(target: string, init?: RequestInit): Promise<T> {
  const res = await fetch(target, init)
  const body = (await res.json()) as T & { error?: { message: string } }
  if (!res.ok) throw new Error(`${target}: ${body.error?.message ?? res.status}`)
  return body
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-identity-'))
  work = await mkdtemp(join(tmpdir(), 'regent-identity-files-'))
  const up = await regent(['dev', 'up', '--dir', dir, '--json'])
  if (up.code !== 0) throw new Error(up.stderr)
  file = JSON.parse(up.stdout)
  // The same host calls as examples/agent/scripts/start.ts: approve the app on-chain, launch the agent in a CVM.
  const app = await exampleAgentApp(join(work, 'bundles'), {
    v: 1,
    operator: operator.address,
    chainId: file.chainId,
    contracts: file.contracts,
    trustedRoots: [file.rootCa],
  })
  const compose = Buffer.from(app.compose).toString('base64')
  const { appId } = await call<{ appId: string }>(`${file.hostUrl}/v1/apps`, post({ compose }))
  const cvm = await call<{ cvmId: string; appUrl: string }>(
    `${file.hostUrl}/v1/cvms`,
    post({
      compose,
      bundle: app.bundle,
      appId,
      env: {
        REGENT_AGENT_NAME: 'regent-cli-identity-test',
      },
    }),
  )
  url = cvm.appUrl
  // Bounded wait for the agent to serve (it registers and enrolls while booting); fails with its log.
  const deadline = Date.now() + 60_000
  for (;;) {
    const h = await fetch(`${url}/health`).then(
      (r) => (r.ok ? (r.json() as Promise<{ agentId: string; wallet: string }>) : undefined),
      () => undefined,
    )
    if (h) {
      health = h
      break
    }
    const status = await call<{ status: string }>(`${file.hostUrl}/v1/cvms/${cvm.cvmId}`)
    if (status.status !== 'running' || Date.now() > deadline)
      throw new Error(await fetch(`${file.hostUrl}/v1/cvms/${cvm.cvmId}/logs?tail=30`).then((r) => r.text()))
    await new Promise((r) => setTimeout(r, 100)) // the agent is still booting: poll again
  }
})
afterAll(async () => {
  if (dir) await regent(['dev', 'down', '--dir', dir])
})

describe('regent identity show', () => {
  test('default: fetches a bundle with a fresh nonce and prints it as JSON and as a table', async () => {
    const r = await regent(['identity', 'show', url, '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(Object.keys(out)).toEqual(['source', 'nonce', 'bundle', 'keyProvenance', 'attestation'])
    expect(out.source).toBe('url')
    expect(out.nonce).toMatch(/^0x[0-9a-f]{64}$/)
    expect(out.bundle).toMatchObject({
      version: 'regent.identity/v1',
      agentRegistry: `eip155:${file.chainId}:${file.contracts.identityRegistry?.toLowerCase()}`,
      agentId: health.agentId,
      wallet: health.wallet.toLowerCase(),
      epoch: '1',
    })
    expect(out.bundle.attestation.statement.nonce).toBe(out.nonce)
    expect(out.keyProvenance).toMatchObject({ path: 'regent/v1/wallet', purpose: 'regent-wallet', chainLength: 2, consistent: true })
    expect(out.keyProvenance.kmsRoot).toBe((JSON.parse(await readFile(join(dir, 'devnet.json'), 'utf8')) as { kmsRoot: string }).kmsRoot)
    expect(out.attestation).toMatchObject({ purpose: 'regent.identity/v1', nonce: out.nonce, quoteType: 'td10' })

    const again = JSON.parse((await regent(['identity', 'show', url, '--json'])).stdout)
    expect(again.nonce).not.toBe(out.nonce)

    const human = await regent(['identity', 'show', url])
    expect(human.code).toBe(0)
    const lines = human.stdout.split('\n')
    expect(lines[0]).toMatch(/^Identity bundle \(fetched with nonce 0x[0-9a-f]{16}…; not verified: run `regent identity verify`\)$/)
    for (const field of [
      'agentRegistry',
      'agentId',
      'wallet',
      'appId',
      'instanceId',
      'composeHash',
      'osImageHash',
      'stateRoot',
      'epoch',
      'issuedAt',
      'keyProvenance',
      'attestation',
    ])
      expect(lines.some((l) => l.startsWith(`  ${field.padEnd(14)} `))).toBe(true)
  })

  test('behavior: reads a saved bundle (raw, or `show --json` output); errors name the cause', async () => {
    const saved = JSON.parse((await regent(['identity', 'show', url, '--json'])).stdout)
    await writeFile(join(work, 'raw.json'), JSON.stringify(saved.bundle))
    const raw = await regent(['identity', 'show', join(work, 'raw.json'), '--json'])
    expect(raw.code).toBe(0)
    expect(JSON.parse(raw.stdout)).toMatchObject({ source: 'file', nonce: null, bundle: saved.bundle })

    const missing = await regent(['identity', 'show', join(work, 'nope.json')])
    expect([missing.code, missing.stderr]).toEqual([
      2,
      `error: cannot read bundle file ${join(work, 'nope.json')}: ENOENT\ndocs: docs/cli/identity.md\n`,
    ])
    await writeFile(join(work, 'junk.json'), '{nope')
    const junk = await regent(['identity', 'show', join(work, 'junk.json'), '--json'])
    expect(junk.code).toBe(2)
    expect(JSON.parse(junk.stdout).error).toMatchObject({ code: 'bundle.invalid', message: `${join(work, 'junk.json')} is not JSON` })
    const down = await regent(['identity', 'show', 'http://127.0.0.1:1'])
    expect(down.code).toBe(1)
    expect(down.stderr).toBe(
      'error: http://127.0.0.1:1 did not answer\nhint: is the agent running at that URL?\ndocs: docs/cli/identity.md\n',
    )
    const notAgent = await regent(['identity', 'show', `${file.hostUrl}/v1`])
    expect(notAgent.code).toBe(1)
    expect(notAgent.stderr).toContain('error: GET /v1/identity answered HTTP 404')
  })
})

describe('regent identity verify', () => {
  test('default: the agent at its URL is the agent: (a)–(d) hold, score 80 on the devnet, exit 0', async () => {
    const r = await regent(['identity', 'verify', url, '--devnet-dir', dir, '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({
      isAgent: true,
      score: 80,
      holds: { a: true, b: true, c: true, d: true },
      failures: [],
      reasons: [],
      source: 'url',
      fresh: true,
      trust: 'devnet',
      chain: { chainId: file.chainId, rpcUrl: file.rpcUrl },
    })
    expect(Object.keys(out)).toEqual(expect.arrayContaining(['isAgent', 'score', 'holds', 'breakdown', 'failures', 'reasons', 'bundle']))
    expect(out.breakdown.map((b: { factor: string }) => b.factor)).toEqual([
      'hardware',
      'tcbStatus',
      'advisories',
      'freshness',
      'measurementApproved',
      'kmsProvenance',
      'canonical',
    ])
    expect(out.breakdown[0]).toEqual({ factor: 'hardware', points: 10, max: 30, why: 'devnet root of trust' })
    expect(out.bundle.agentId).toBe(health.agentId)
    expect(out.bundle.attestation.statement.nonce).toBe(out.nonce)

    const human = await regent(['identity', 'verify', url, '--devnet-dir', dir])
    expect(human.code).toBe(0)
    expect(human.stdout).toContain(`✓ the instance is agent ${health.agentId}`)
    for (const clause of [
      '(a) controls the agent key',
      '(b) has the latest state root',
      '(c) approved code, attested',
      '(d) canonical in RegentSuccession',
    ])
      expect(human.stdout).toMatch(new RegExp(`${clause.replace(/[()]/g, '\\$&')}\\s+✓`))
    expect(human.stdout).toContain('Security score: 80/100')
    expect(human.stdout).toMatch(/hardware\s+10\s+30\s+devnet root of trust/)

    // Another chain's RPC and contracts file: the same verdict (here the devnet's, given explicitly).
    const explicit = await regent([
      'identity',
      'verify',
      url,
      '--rpc-url',
      file.rpcUrl,
      '--contracts',
      join(dir, 'devnet.json'),
      '--trust',
      'devnet',
      '--devnet-dir',
      dir,
      '--json',
    ])
    expect([explicit.code, JSON.parse(explicit.stdout).isAgent]).toEqual([0, true])
  })

  test('behavior: another agent id, or the Intel root for a devnet quote: not the agent, every reason listed, exit 1', async () => {
    const other = await regent(['identity', 'verify', url, '--devnet-dir', dir, '--agent-id', '999', '--json'])
    expect(other.code).toBe(1)
    const o = JSON.parse(other.stdout)
    expect(o).toMatchObject({ isAgent: false, score: 0, holds: { d: false } })
    expect(o.reasons.map((r: { code: string }) => r.code)).toEqual(expect.arrayContaining(['bundle.expected', 'instance.not_canonical']))
    expect(o.failures).toContain('(d) not the canonical instance of the current epoch in RegentSuccession')

    const gone = await regent(['identity', 'verify', 'http://127.0.0.1:1', '--devnet-dir', dir, '--json'])
    expect(gone.code).toBe(1)
    const g = JSON.parse(gone.stdout)
    expect(g).toMatchObject({ isAgent: false, score: 0, holds: { a: false, b: false, c: false, d: false }, bundle: null })
    expect(g.reasons.map((x: { code: string }) => x.code)).toEqual(['instance.fetch'])

    const deadChain = await regent(['identity', 'verify', url, '--rpc-url', 'http://127.0.0.1:1', '--contracts', join(dir, 'devnet.json')])
    expect([deadChain.code, deadChain.stderr]).toEqual([
      1,
      'error: the chain at http://127.0.0.1:1 did not answer\nhint: check --rpc-url\ndocs: docs/cli/identity.md\n',
    ])

    const collateral = join(work, 'devnet-collateral.json')
    await writeFile(collateral, await (await fetch(`${file.hostUrl}/v1/collateral`)).text())
    const intel = await regent(['identity', 'verify', url, '--devnet-dir', dir, '--trust', 'intel', '--collateral', collateral])
    expect(intel.code).toBe(1)
    expect(intel.stdout).toContain('✗ the instance is not the agent')
    expect(intel.stdout).toMatch(/\(c\) approved code, attested\s+✗/)
    expect(intel.stdout).toContain('✗ (c) the attestation did not verify')
    expect(intel.stdout).toContain('Security score: 0/100 (0: the identity function does not hold)')
  })

  test('behavior: a saved bundle is checked with its own nonce and says it proves nothing about freshness; tampering and staleness fail', async () => {
    const saved = JSON.parse((await regent(['identity', 'show', url, '--json'])).stdout)
    const path = join(work, 'bundle.json')
    await writeFile(path, JSON.stringify(saved))
    const r = await regent(['identity', 'verify', path, '--devnet-dir', dir, '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ isAgent: true, score: 80, source: 'file', fresh: false, nonce: saved.nonce })
    expect(out.notes).toEqual([expect.stringContaining('a saved bundle proves nothing about freshness')])
    const human = await regent(['identity', 'verify', path, '--devnet-dir', dir])
    expect(human.stdout).toContain(`saved bundle, its own nonce ${saved.nonce.slice(0, 18)}…`)
    expect(human.stdout).toContain('note: a saved bundle proves nothing about freshness')

    const tampered = join(work, 'tampered.json')
    await writeFile(tampered, JSON.stringify({ ...saved.bundle, stateRoot: `0x${'11'.repeat(32)}` }))
    const t = await regent(['identity', 'verify', tampered, '--devnet-dir', dir, '--json'])
    expect(t.code).toBe(1)
    const tv = JSON.parse(t.stdout)
    expect(tv).toMatchObject({ isAgent: false, score: 0, holds: { a: false } })
    expect(tv.reasons.map((x: { code: string }) => x.code)).toContain('bundle.signature')

    // The agent commits a new state root: the saved bundle is now stale (b), the live agent still verifies.
    await call(`${url}/remember`, post({ user: 'ana', text: 'tea tea coffee' }))
    const committed = await createAdminClient({ url, operator }).request('POST', '/checkpoint', {}) // the operator's signed request
    expect(committed.ok).toBe(true)
    const stale = await regent(['identity', 'verify', path, '--devnet-dir', dir, '--json'])
    expect(stale.code).toBe(1)
    const sv = JSON.parse(stale.stdout)
    expect(sv.holds).toEqual({ a: true, b: false, c: true, d: true })
    expect(sv.reasons.map((x: { code: string }) => x.code)).toEqual(['instance.stale_state'])
    const live = await regent(['identity', 'verify', url, '--devnet-dir', dir, '--json'])
    expect([live.code, JSON.parse(live.stdout).isAgent]).toEqual([0, true])
  })

  test('behavior: usage errors exit 2 with a cause, a hint and a docs pointer', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'regent-identity-empty-'))
    const noDevnet = await regent(['identity', 'verify', url, '--devnet-dir', empty])
    expect([noDevnet.code, noDevnet.stderr]).toEqual([
      2,
      `error: no devnet in ${empty} and no --rpc-url\nhint: start the devnet with \`regent dev up\` (or pass --devnet-dir), or give --rpc-url and --contracts\ndocs: docs/cli/identity.md\n`,
    ])
    const noContracts = await regent(['identity', 'verify', url, '--rpc-url', file.rpcUrl, '--json'])
    expect(noContracts.code).toBe(2)
    expect(JSON.parse(noContracts.stdout).error).toMatchObject({ code: 'usage', message: '--rpc-url needs --contracts <file>' })
    const badId = await regent(['identity', 'verify', url, '--devnet-dir', dir, '--agent-id', 'x'])
    expect([badId.code, badId.stderr]).toEqual([2, 'error: --agent-id takes a decimal number\ndocs: docs/cli/identity.md\n'])
    const noArg = await regent(['identity', 'verify', '--json'])
    expect([noArg.code, JSON.parse(noArg.stdout).error.code]).toEqual([2, 'usage'])
    const badTrust = await regent(['identity', 'verify', url, '--devnet-dir', dir, '--trust', join(work, 'no-root.pem')])
    expect(badTrust.code).toBe(2)
    expect(badTrust.stderr).toContain(`error: cannot read root CA file ${join(work, 'no-root.pem')}: ENOENT`)
  })
})
