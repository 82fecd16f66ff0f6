// The target role's first door (docs/uplift.md "Target-side source checks"; issue 13 §3): an anonymous caller must
// not be able to lock a waiting target. Each case posts to a real createTarget (devnet CVM guest agent, anvil) over
// HTTP and asserts the answer and what the journal holds afterwards.
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import { createWalletClient, type Hex, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { type Target as Cvm, setupAgent, startTarget } from '../../test/uplift-fixtures.js'
import { toAccount } from '../Keys.js'
import { openSealedState } from '../SealedState.js'
import { createSourceHello, signSourceHello } from './Hello.js'
import * as Journal from './Journal.js'
import type * as Messages from './Messages.js'
import { createTarget } from './Target.js'

let cvm: Cvm
let dir: string
beforeAll(async () => {
  cvm = await startTarget({ name: 'target-door', seed: 21 })
  dir = await mkdtemp(join(tmpdir(), 'regent-target-door-'))
})
afterAll(async () => {
  cvm.close()
  await rm(dir, { recursive: true, force: true })
})

/** A target for a fresh agent whose canonical signer is `source`, served on loopback, with a settable clock. */
async function serve(chain: Chain_, name: string) {
  const sourceKey = generatePrivateKey()
  const source = privateKeyToAccount(sourceKey)
  const { contracts, agentId } = await setupAgent(chain, {
    composeHashes: [`0x${'ab'.repeat(32)}`, cvm.composeHash],
    signer: source.address,
  })
  const clock = { now: new Date() }
  const journal = Journal.open({ path: join(dir, `${name}.journal`), role: 'target', key: new Uint8Array(32).fill(7) })
  const target = createTarget({
    tee: cvm.client,
    wallet: cvm.wallet,
    walletClient: createWalletClient({ account: toAccount(cvm.wallet), chain: chain.chain, transport: http(chain.anvil.rpcUrl) }),
    client: chain.client,
    contracts,
    chainId: chain.chain.id,
    targetUrl: 'http://127.0.0.1:1/',
    journal,
    state: openSealedState({ path: join(dir, `${name}.state`), key: new Uint8Array(32).fill(8) }),
    now: () => clock.now,
  })
  const server: Server = createServer((req, res) => {
    void target.handle(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end()
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/uplift/v1`
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as { error?: { code: string }; type?: string; sessionId?: Hex } }
  }
  const hello = (mode: 'import' | 'rotate' = 'import') =>
    createSourceHello({ agentId, chainId: chain.chain.id, contracts, mode, source: source.address })
  return { source, clock, journal, post, hello, close: () => server.close() }
}

describe('the uplift target refuses hellos the canonical signer did not sign', () => {
  chainTest(
    'behavior: an unsigned hello naming the canonical signer is 403 source.signature; the real source then opens its session',
    async ({ chain }) => {
      const t = await serve(chain, 'unsigned')
      const stranger = await t.post('hello', t.hello())
      expect([stranger.status, stranger.body.error?.code]).toEqual([403, 'source.signature'])
      expect(t.journal.list()).toEqual([]) // nothing journaled: the target still waits
      const real = await signSourceHello(t.hello(), { account: t.source })
      const answer = await t.post('hello', real)
      expect([answer.status, answer.body.type, answer.body.sessionId]).toEqual([200, 'target-hello', real.sessionId])
      t.close()
    },
  )

  chainTest('behavior: a hello signed by another key, or re-signed fields (mode flipped), is 403 source.signature', async ({ chain }) => {
    const t = await serve(chain, 'forged')
    const other = privateKeyToAccount(generatePrivateKey())
    const byOther = await signSourceHello({ ...t.hello(), source: other.address.toLowerCase() as Hex }, { account: other })
    const forged = { ...byOther, source: t.source.address.toLowerCase() as Hex }
    expect((await t.post('hello', forged)).body.error?.code).toBe('source.signature')
    const signed = await signSourceHello(t.hello('import'), { account: t.source })
    const flipped: Messages.SourceHello = { ...signed, mode: 'rotate' }
    expect((await t.post('hello', flipped)).body.error?.code).toBe('source.signature')
    const malformed = { ...signed, signature: `0x${'00'.repeat(65)}` }
    expect((await t.post('hello', malformed)).body.error?.code).toBe('source.signature')
    expect(t.journal.list()).toEqual([])
    t.close()
  })

  chainTest('behavior: an expired hello, or one valid for more than an hour, is 422 source.expired', async ({ chain }) => {
    const t = await serve(chain, 'expired')
    const old = await signSourceHello(t.hello(), { account: t.source, now: new Date(Date.now() - 601_000) })
    expect([(await t.post('hello', old)).status, (await t.post('hello', old)).body.error?.code]).toEqual([422, 'source.expired'])
    const forever = await signSourceHello(t.hello(), { account: t.source, ttlSeconds: 7 * 24 * 3600 })
    expect((await t.post('hello', forever)).body.error?.code).toBe('source.expired')
    expect(t.journal.list()).toEqual([])
    t.close()
  })

  chainTest(
    'behavior: an open session is busy until its hello expires; then a new signed hello replaces it (no key step had happened)',
    async ({ chain }) => {
      const t = await serve(chain, 'stalled')
      const first = await signSourceHello(t.hello(), { account: t.source, ttlSeconds: 60 })
      expect((await t.post('hello', first)).status).toBe(200)
      // The same hello again: the same answer (a resumed source). Another one while it is valid: busy.
      expect((await t.post('hello', first)).body.sessionId).toBe(first.sessionId)
      const second = await signSourceHello(t.hello('rotate'), { account: t.source, ttlSeconds: 600 })
      expect((await t.post('hello', second)).body.error?.code).toBe('session.busy')
      // 61 s later the first session has expired without a key step: the second opens in its place.
      t.clock.now = new Date(t.clock.now.getTime() + 61_000)
      const third = await signSourceHello(t.hello('rotate'), { account: t.source, now: t.clock.now })
      const answer = await t.post('hello', third)
      expect([answer.status, answer.body.sessionId]).toEqual([200, third.sessionId])
      expect(t.journal.get<Messages.SourceHello>('source-hello')?.sessionId).toBe(third.sessionId)
      expect(t.journal.list().map((e) => e.step)).toEqual(['source-hello', 'target-hello'])
      t.close()
    },
  )

  chainTest('behavior: route names are own properties only (constructor, hasOwnProperty, __proto__ are 404)', async ({ chain }) => {
    const t = await serve(chain, 'routes')
    for (const name of ['constructor', 'hasOwnProperty', '__proto__', 'toString'])
      expect([name, (await t.post(name, {})).status, (await t.post(name, {})).body.error?.code]).toEqual([name, 404, 'not_found'])
    t.close()
  })
})
