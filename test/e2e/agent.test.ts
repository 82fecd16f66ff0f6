/**
 * The example agent in a real devnet CVM (anvil, KMS node, TDX host, agent process): its HTTP API
 * answers bad input with 4xx and changes nothing, it learns and commits state, and an outside
 * verifier accepts it — and rejects a tampered bundle (issue 6).
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Collateral } from '@regent-tee/attest'
import { type CvmRecord, type Devnet, startDevnet } from '@regent-tee/devnet'
import { verifyInstance } from '@regent-tee/sdk'
import { createAdminClient } from '@regent-tee/sdk/uplift'
import { devnetSettings, exampleAgentApp } from '@regent-tee/testing/example-agent'
import { createPublicClient, defineChain, type Hex, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

/** The agent's operator (its address is in the measured compose). */
const operator = privateKeyToAccount(generatePrivateKey())
let devnet: Devnet
let cvm: CvmRecord

const post = (body: unknown, type = 'application/json'): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': type },
  body: typeof body === 'string' ? body : JSON.stringify(body),
})
const call = async (path: string, init?: RequestInit) => {
  const res = await fetch(`${cvm.appUrl}${path}`, init)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

beforeAll(async () => {
  devnet = await startDevnet({ dir: await mkdtemp(join(tmpdir(), 'regent-agent-')) })
  const { compose } = await exampleAgentApp(devnet.host.bundles.dir, devnetSettings(devnet, operator.address))
  const { appId } = await devnet.approveApp({ compose })
  cvm = await devnet.host.launch({
    compose,
    appId: Buffer.from(appId.slice(2), 'hex'),
    env: { REGENT_COLLATERAL_URL: devnet.file.collateralUrl },
  })
  await untilHealthy(cvm.cvmId) // the agent boots: registration, enrollment
})
afterAll(async () => {
  await devnet?.stop()
})

/** Waits until the CVM's program has exited (it refused to boot). */
async function untilExited(cvmId: string) {
  const deadline = Date.now() + 60_000
  while (devnet.host.get(cvmId).status === 'running') {
    if (Date.now() > deadline) throw new Error(`${cvmId} still running`)
    await new Promise((r) => setTimeout(r, 50)) // its process is exiting
  }
}

/** Waits until the agent answers /health (it boots, checks its settings, reads the chain). */
async function untilHealthy(cvmId: string) {
  const deadline = Date.now() + 60_000
  for (;;) {
    if (
      await fetch(`${cvm.appUrl}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return
    if (devnet.host.get(cvmId).status !== 'running' || Date.now() > deadline) throw new Error(await devnet.host.logs(cvmId))
    await new Promise((r) => setTimeout(r, 50)) // the agent is still booting
  }
}

describe('example agent', () => {
  test('behavior: bad input gets 4xx { error } and teaches the agent nothing', async () => {
    const before = (await call('/health')).body
    const cases: [string, RequestInit | undefined, number][] = [
      ['/remember', post('{nope'), 400],
      ['/remember', post({ user: 'ana', text: 'x' }, 'text/plain'), 415],
      ['/remember', post({ user: 'a b', text: 'x' }), 400],
      ['/remember', post({ user: 'ana', text: '' }), 400],
      ['/remember', post({ user: 'ana', text: 'y'.repeat(70_000) }), 413],
      ['/identity?nonce=zz', undefined, 400],
      ['/attest', undefined, 400],
      ['/nowhere', undefined, 404],
    ]
    for (const [path, init, status] of cases) {
      const r = await call(path, init)
      expect([path, r.status]).toEqual([path, status])
      expect(r.body.error).toEqual({ code: expect.any(String), message: expect.any(String) })
    }
    expect((await call('/health')).body).toEqual(before)
  })

  test('default: it learns, commits its state root on-chain, and an outside verifier finds it is the agent', async () => {
    const learned = await call('/remember', post({ user: 'ana', text: 'tea tea coffee' }))
    expect(learned.body.topics).toEqual([
      { word: 'tea', weight: 2 },
      { word: 'coffee', weight: 1 },
    ])
    // An anonymous caller cannot make the agent spend gas; its operator's signed request can.
    const anonymous = await call('/checkpoint', post({}))
    expect([anonymous.status, (anonymous.body.error as { code: string }).code]).toEqual([401, 'admin.unsigned'])
    const stranger = await createAdminClient({ url: cvm.appUrl, operator: privateKeyToAccount(generatePrivateKey()) }).request(
      'POST',
      '/checkpoint',
      {},
    )
    expect(stranger.ok ? 200 : [stranger.refusal.status, stranger.refusal.code]).toEqual([403, 'admin.not_operator'])
    const committed = await createAdminClient({ url: cvm.appUrl, operator }).request<Record<string, unknown>>('POST', '/checkpoint', {})
    const cp = { body: committed.ok ? committed.data : {} }
    expect(cp.body).toMatchObject({ stateRoot: expect.stringMatching(/^0x[0-9a-f]{64}$/), epoch: '1' })

    const chain = defineChain({
      id: devnet.file.chainId,
      name: 'devnet',
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [devnet.file.rpcUrl] } },
    })
    const client = createPublicClient({ chain, transport: http(devnet.file.rpcUrl) })
    const common = {
      contracts: devnet.file.contracts,
      client,
      collateral: Collateral.parse(devnet.host.collateral),
      trustedRoots: [devnet.host.trustedRoot],
      now: new Date(),
    }
    const genuine = await verifyInstance({ url: cvm.appUrl, ...common })
    expect(genuine.reasons).toEqual([])
    expect(genuine.evaluation).toMatchObject({ isAgent: true, score: 80 })
    expect(genuine.bundle?.stateRoot).toBe(cp.body.stateRoot)

    // A middleman that rewrites the state root in the bundle is caught.
    const tampered = await verifyInstance({
      ...common,
      fetch: async (nonce: Hex) => {
        const bundle = (await (await fetch(`${cvm.appUrl}/identity?nonce=${nonce}`)).json()) as Record<string, unknown>
        return { ...bundle, stateRoot: `0x${'11'.repeat(32)}` }
      },
    })
    expect(tampered.evaluation.isAgent).toBe(false)
    expect(tampered.reasons.map((r) => r.code)).toContain('bundle.signature')

    // Learning without a checkpoint leaves the committed root (what it attests to) unchanged.
    await call('/remember', post({ user: 'ana', text: 'more tea' }))
    const again = await verifyInstance({ url: cvm.appUrl, ...common })
    expect(again.evaluation.isAgent).toBe(true)
    expect(again.bundle?.stateRoot).toBe(cp.body.stateRoot)
  })

  test("behavior: the host restarts the agent's CVM with its own operator, admin token or trusted root in the environment: the agent refuses to boot (settings.invalid) and nobody administers it; restarted as measured, it serves again", async () => {
    const attacker = privateKeyToAccount(generatePrivateKey())
    const hostile: Record<string, string>[] = [
      { REGENT_OPERATOR: attacker.address },
      { REGENT_ADMIN_TOKEN: 'the-hosts-token' },
      { REGENT_TRUSTED_ROOT_PEM: devnet.host.trustedRoot.pem },
      { REGENT_CONTRACTS: JSON.stringify(devnet.file.contracts) },
    ]
    await devnet.host.stop(cvm.cvmId)
    let previous: string | undefined
    for (const env of hostile) {
      const name = Object.keys(env)[0] as string
      await devnet.host.restart(cvm.cvmId, { env: { ...(previous ? { [previous]: null } : {}), ...env } })
      previous = name
      await untilExited(cvm.cvmId)
      const said = (await devnet.host.logs(cvm.cvmId, { tail: 5 })).split('\n').filter((l) => l.includes('agent failed to boot'))
      expect(said.at(-1)).toContain(`Invalid measured settings: ${name} a security setting may not come from the environment`)
      // Nothing answers: the host's own admin key (or token) has no agent to talk to.
      expect(
        await fetch(`${cvm.appUrl}/health`).then(
          () => 'answered',
          () => 'refused',
        ),
      ).toBe('refused')
    }
    // As measured (no security setting in the env): the agent boots and its operator administers it again.
    await devnet.host.restart(cvm.cvmId, { env: { [previous as string]: null } })
    await untilHealthy(cvm.cvmId)
    const committed = await createAdminClient({ url: cvm.appUrl, operator }).request<Record<string, unknown>>('POST', '/checkpoint', {})
    expect(committed.ok).toBe(true)
    const foreign = await createAdminClient({ url: cvm.appUrl, operator: attacker }).request('POST', '/checkpoint', {})
    expect(foreign.ok ? 200 : foreign.refusal.code).toBe('admin.not_operator')
  })
})
