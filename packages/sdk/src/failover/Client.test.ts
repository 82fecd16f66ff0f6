// createCanonicalClient against the real contracts on the worker's anvil and instances served on loopback: it goes
// where RegentSuccession says the agent is, follows the chain (an on-chain claim in the test) when an instance is
// gone or says it is not the agent, and nothing else: not an instance's `canonical` hint, not a redirect.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Chain_, chainTest, testAccounts } from '@regent-tee/testing/chain'
import { budget } from '@regent-tee/testing/profile'
import { type Account, createWalletClient, getAddress, type Hex, http, keccak256, toHex } from 'viem'
import { afterEach, describe, expect } from 'vitest'
import { closeServers, serve } from '../../test/failover-fixtures.js'
import { setupAgent } from '../../test/uplift-fixtures.js'
import { claimCanonical, readLease, setLease } from '../chain/lease.js'
import { createCanonicalClient } from './Client.js'

afterEach(closeServers)

const compose = keccak256(toHex('compose:failover-client'))

/** An instance on loopback answering with `answer`, counting its requests and telling the test when one arrives. */
async function instance(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const hits: string[] = []
  const waiting: (() => void)[] = []
  const served = await serve((req, res) => {
    hits.push(`${req.method} ${req.url}`)
    for (const w of waiting.splice(0)) w()
    answer(req, res)
  })
  return { ...served, hits, nextHit: () => new Promise<void>((r) => waiting.push(r)) }
}
const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (_req: IncomingMessage, res: ServerResponse) =>
    void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
const ok = json(200, { served: true })
const refusal = (status: number, code: string, extra: Record<string, unknown> = {}) =>
  json(status, { error: { code, message: `refused: ${code}`, ...extra } })

/** An agent enrolled on the chain with its canonical instance at `host`; `moveTo` hands it to another instance by a claim. */
async function agentAt(chain: Chain_, host: string) {
  const { contracts, agentId } = await setupAgent(chain, { composeHashes: [compose], host })
  // Key 3 (the agent's signer), polling for receipts every 50 ms.
  const key = createWalletClient({
    account: testAccounts[3] as Account,
    chain: chain.chain,
    transport: http(chain.anvil.rpcUrl),
    pollingInterval: 50,
  })
  let moves = 0
  return {
    contracts,
    agentId,
    /** The lease lapses (a block mined at its expiry) and another instance at `to` claims the agent. */
    async moveTo(to: string) {
      let lease = await readLease(chain.client, { contracts, agentId })
      if (lease.period === 0n) {
        await setLease(key, { contracts, agentId, period: 30 })
        lease = await readLease(chain.client, { contracts, agentId })
      }
      await chain.testClient.setNextBlockTimestamp({ timestamp: lease.expiresAt })
      await chain.testClient.mine({ blocks: 1 })
      moves++
      await claimCanonical(key, {
        contracts,
        agentId,
        epoch: lease.epoch,
        instance: {
          signer: key.account.address,
          composeHash: compose,
          instanceId: getAddress(`0x${keccak256(toHex(`instance:${moves}`)).slice(26)}`),
          quoteHash: keccak256(toHex(`quote:${moves}`)),
          host: to,
        },
      })
    },
  }
}

const client = (chain: Chain_, agent: { contracts: { succession: Hex }; agentId: bigint }, options = {}) =>
  createCanonicalClient({ client: chain.client, contracts: agent.contracts, agentId: agent.agentId, pollMs: 20, ...options })

describe('createCanonicalClient', () => {
  chainTest('default: requests go to the instance the chain names canonical', async ({ chain }) => {
    const a = await instance(ok)
    const agent = await agentAt(chain, `${a.url}/`)
    const c = client(chain, agent)
    expect(await c.url()).toBe(a.url)
    const { response, url } = await c.request('/chat?x=1', { method: 'POST', body: 'hi' })
    expect([response.status, await response.json(), url]).toEqual([200, { served: true }, a.url])
    expect(a.hits).toEqual(['POST /chat?x=1'])
  })

  for (const [status, code] of [
    [409, 'failover.standby'],
    [503, 'failover.fenced'],
    [503, 'failover.claiming'],
  ] as const)
    chainTest(`behavior: ${status} ${code} → it reads the chain until it names another instance, and goes there`, async ({ chain }) => {
      const a = await instance(refusal(status, code))
      const b = await instance(ok)
      const agent = await agentAt(chain, a.url)
      const c = client(chain, agent, { followMs: budget(30_000) })
      const first = a.nextHit()
      const pending = c.request('/chat')
      await first
      // The chain still names A: the client keeps asking it; then the agent moves on-chain.
      await agent.moveTo(b.url)
      const { response, url } = await pending
      expect([response.status, url]).toEqual([200, b.url])
      expect(b.hits).toEqual(['GET /chat'])
      expect(await c.url()).toBe(b.url)
    })

  chainTest('behavior: a refused connection → it reads the chain and follows', async ({ chain }) => {
    const a = await instance(ok)
    const b = await instance(ok)
    const agent = await agentAt(chain, a.url)
    const c = client(chain, agent)
    expect(await c.url()).toBe(a.url) // cached
    await a.close()
    await agent.moveTo(b.url)
    const { response, url } = await c.request('/chat')
    expect([response.status, url]).toEqual([200, b.url])
  })

  chainTest('behavior: it follows more than once (A → B → C)', async ({ chain }) => {
    const a = await instance(refusal(409, 'failover.standby'))
    const b = await instance(refusal(503, 'failover.fenced'))
    const cc = await instance(ok)
    const agent = await agentAt(chain, a.url)
    const c = client(chain, agent)
    expect(await c.url()).toBe(a.url)
    await agent.moveTo(b.url)
    const atB = b.nextHit()
    const pending = c.request('/chat')
    await atB
    await agent.moveTo(cc.url)
    expect((await pending).url).toBe(cc.url)
    expect([a.hits.length, cc.hits.length]).toEqual([1, 1])
  })

  chainTest('behavior: other answers are returned as they are, from the instance the chain names', async ({ chain }) => {
    const answers = [
      refusal(409, 'failover.stale_epoch'),
      refusal(503, 'overloaded'),
      refusal(500, 'failover.standby'),
      refusal(400, 'bad_request'),
      json(404, { error: { code: 'not_found' } }),
      (_req: IncomingMessage, res: ServerResponse) => void res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>busy</h1>'),
      (_req: IncomingMessage, res: ServerResponse) => void res.writeHead(409).end('{"error":'),
    ]
    let next = 0
    const a = await instance((req, res) => (answers[next++] as (typeof answers)[number])(req, res))
    const b = await instance(ok)
    const agent = await agentAt(chain, a.url)
    const c = client(chain, agent)
    for (const status of [409, 503, 500, 400, 404, 503, 409]) {
      const { response, url } = await c.request('/chat')
      expect([response.status, url]).toEqual([status, a.url])
    }
    expect([a.hits.length, b.hits.length]).toEqual([answers.length, 0])
  })

  chainTest('behavior: it gives up after followMs with the last error', async ({ chain }) => {
    const a = await instance(refusal(409, 'failover.standby'))
    const agent = await agentAt(chain, a.url)
    const c = client(chain, agent, { followMs: 300 })
    const started = performance.now()
    await expect(c.request('/chat')).rejects.toThrow(new Error(`${a.url} answered 409 failover.standby`))
    const waited = performance.now() - started
    expect(waited).toBeGreaterThanOrEqual(300)
    expect(waited).toBeLessThan(300 + budget(2000))
    expect(a.hits.length).toBeGreaterThan(1)
  })

  chainTest('behavior: a frozen instance times out after requestTimeoutMs, then the chain is followed', async ({ chain }) => {
    const frozen = await instance(() => {})
    const b = await instance(ok)
    const agent = await agentAt(chain, frozen.url)
    const alone = client(chain, agent, { requestTimeoutMs: 200, followMs: 0 })
    const started = performance.now()
    const error = await alone.request('/chat').then(
      () => undefined,
      (e: unknown) => e as Error,
    )
    expect(error?.name).toBe('TimeoutError')
    const waited = performance.now() - started
    expect(waited).toBeGreaterThanOrEqual(195)
    expect(waited).toBeLessThan(200 + budget(2000))
    // With time to follow: after the timeout it reads the chain, which now names B.
    const c = client(chain, agent, { requestTimeoutMs: 200 })
    expect(await c.url()).toBe(frozen.url)
    await agent.moveTo(b.url)
    expect((await c.request('/chat')).url).toBe(b.url)
  })

  chainTest('behavior: an instance’s own word is never followed: not its canonical hint, not a redirect', async ({ chain }) => {
    const elsewhere = await instance(ok)
    const hint = await instance(refusal(409, 'failover.standby', { canonical: elsewhere.url }))
    const agent = await agentAt(chain, hint.url)
    const c = client(chain, agent, { followMs: 200 })
    await expect(c.request('/chat')).rejects.toThrow(`${hint.url} answered 409 failover.standby`)
    expect(elsewhere.hits).toEqual([])

    const redirect = await instance(json(307, {}, { location: `${elsewhere.url}/chat` }))
    await agent.moveTo(redirect.url)
    const { response, url } = await client(chain, agent).request('/chat', { method: 'POST', body: 'secret' })
    expect([response.status, response.headers.get('location'), url]).toEqual([307, `${elsewhere.url}/chat`, redirect.url])
    expect(elsewhere.hits).toEqual([])
  })
})
