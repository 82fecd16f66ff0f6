/**
 * The monitor's chain scan on a real anvil with the real contracts: events of two agents (two apps) decoded and
 * assigned to the right agent only, through ranges of a few blocks; and the bounded log scan against a node
 * (a proxy in front of anvil) that refuses large ranges, compared with one unbounded eth_getLogs.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { agentTreasuryAbi, identityRegistryAbi, regentAppAuthAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import { account, b32, deployRegent, instance, mined, role, setupAgent, wallet } from '@regent-tee/testing/regent-fixture'
import { createPublicClient, type Hex, http, parseEther, toHex } from 'viem'
import { describe, expect } from 'vitest'
import { scan } from './ChainWatch.js'
import { measurementChanges } from './Findings.js'
import { getLogsBounded } from './internal/getLogsBounded.js'

/** A JSON-RPC proxy that answers eth_getLogs over more than `maxBlocks` blocks with a range error, as hosted nodes do. */
async function rangeLimitingProxy(upstream: string, maxBlocks: number) {
  const seen: { from: number; to: number; refused: boolean }[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        id: number
        method: string
        params: [{ fromBlock: Hex; toBlock: Hex }]
      }
      if (body.method === 'eth_getLogs') {
        const from = Number(body.params[0].fromBlock)
        const to = Number(body.params[0].toBlock)
        const refused = to - from + 1 > maxBlocks
        seen.push({ from, to, refused })
        if (refused)
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              jsonrpc: '2.0',
              id: body.id,
              error: { code: -32005, message: `query exceeds max block range ${maxBlocks}` },
            }),
          )
      }
      const answer = await fetch(upstream, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      res.writeHead(200, { 'content-type': 'application/json' }).end(await answer.text())
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

async function story(chain: Chain_) {
  const regent = await deployRegent(chain)
  const a = await setupAgent(chain, regent, { salt: b32('app-a') })
  const b = await setupAgent(chain, regent, { salt: b32('app-b') })
  const owner = wallet(chain, role.appOwner)
  const key = wallet(chain, role.agentKey)
  const agentOwner = wallet(chain, role.agentOwner)
  const contracts = { identityRegistry: regent.identity, appAuth: regent.appAuth, succession: regent.succession, treasury: regent.treasury }
  await mined(
    chain,
    owner.writeContract({ address: regent.appAuth, abi: regentAppAuthAbi, functionName: 'setTimelock', args: [a.appId, 3600n] }),
  )
  await mined(
    chain,
    owner.writeContract({
      address: regent.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'addComposeHash',
      args: [a.appId, b32('compose:v2')],
    }),
  )
  await mined(
    chain,
    owner.writeContract({
      address: regent.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'addComposeHash',
      args: [b.appId, b32('compose:b2')],
    }),
  )
  await chain.testClient.mine({ blocks: 7 })
  await mined(
    chain,
    key.writeContract({
      address: regent.succession,
      abi: regentSuccessionAbi,
      functionName: 'commitState',
      args: [a.agentId, 1n, b32('root-1'), 1n],
    }),
  )
  await mined(
    chain,
    agentOwner.writeContract({
      address: regent.treasury,
      abi: agentTreasuryAbi,
      functionName: 'deposit',
      args: [a.agentId],
      value: parseEther('1'),
    }),
  )
  await mined(
    chain,
    key.writeContract({
      address: regent.treasury,
      abi: agentTreasuryAbi,
      functionName: 'withdraw',
      args: [a.agentId, 1n, account(role.stranger).address, 5n],
    }),
  )
  await mined(
    chain,
    owner.writeContract({
      address: regent.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'removeComposeHash',
      args: [a.appId, b32('compose:v2')],
    }),
  )
  await mined(
    chain,
    key.writeContract({
      address: regent.succession,
      abi: regentSuccessionAbi,
      functionName: 'uplift',
      args: [a.agentId, 1n, instance(account(role.agentKey).address, a.first.composeHash, 'second')],
    }),
  )
  await mined(
    chain,
    agentOwner.writeContract({
      address: regent.identity,
      abi: identityRegistryAbi,
      functionName: 'setAgentURI',
      args: [a.agentId, 'ipfs://moved'],
    }),
  )
  await mined(
    chain,
    agentOwner.writeContract({
      address: regent.identity,
      abi: identityRegistryAbi,
      functionName: 'transferFrom',
      args: [account(role.agentOwner).address, account(role.stranger).address, a.agentId],
    }),
  )
  return { regent, a, b, contracts }
}

describe('scan', () => {
  chainTest(
    'default: every event of each agent, decoded, in order, assigned to its agent only, through 3-block ranges',
    async ({ chain }) => {
      const { a, b, contracts } = await story(chain)
      const head = await chain.client.getBlockNumber({ cacheTime: 0 })
      const out = await scan(chain.client, {
        contracts,
        toBlock: head,
        maxRange: 3n,
        agents: [
          { agent: a.agentId.toString(), appId: a.appId, fromBlock: 0n },
          { agent: b.agentId.toString(), appId: b.appId, fromBlock: 0n },
        ],
      })
      const names = (agent: bigint) => out.get(agent.toString())?.map((e) => `${e.contract}.${e.name}`)
      expect(names(a.agentId)).toEqual([
        'appAuth.AppRegistered',
        'appAuth.ComposeHashAdded',
        'identityRegistry.Transfer',
        'identityRegistry.Registered',
        'identityRegistry.MetadataSet',
        'succession.AgentEnrolled',
        'succession.CanonicalChanged',
        'appAuth.TimelockChanged',
        'appAuth.ComposeHashAdded',
        'succession.StateCommitted',
        'treasury.Deposited',
        'treasury.Withdrawn',
        'appAuth.ComposeHashRemoved',
        'succession.Uplift',
        'succession.CanonicalChanged',
        'identityRegistry.URIUpdated',
        'identityRegistry.MetadataSet',
        'identityRegistry.Transfer',
      ])
      expect(names(b.agentId)).toEqual([
        'appAuth.AppRegistered',
        'appAuth.ComposeHashAdded',
        'identityRegistry.Transfer',
        'identityRegistry.Registered',
        'identityRegistry.MetadataSet',
        'succession.AgentEnrolled',
        'succession.CanonicalChanged',
        'appAuth.ComposeHashAdded',
      ])
      const events = out.get(a.agentId.toString()) ?? []
      const withdrawn = events.find((e) => e.name === 'Withdrawn')
      expect(withdrawn?.args).toEqual({
        agentId: a.agentId.toString(),
        token: '0x0000000000000000000000000000000000000000',
        to: account(role.stranger).address,
        amount: '5',
        epoch: '1',
      })
      const blocks = events.map((e) => e.block)
      expect(blocks).toEqual([...blocks].sort((x, y) => x - y))
      for (const e of events) expect(e.time).toBe(Number((await chain.client.getBlock({ blockNumber: BigInt(e.block) })).timestamp))
      // The timeline: v1 active, v2 added with the 3600 s timelock and removed before it activated.
      const changes = measurementChanges(events)
      expect(changes.map((c) => [c.op, c.row.value])).toEqual([
        ['add', a.first.composeHash.toLowerCase()],
        ['add', b32('compose:v2').toLowerCase()],
        ['remove', b32('compose:v2').toLowerCase()],
      ])
      const added = changes[1]?.row as { addedAt: number; activatesAt: number }
      expect(added.activatesAt - added.addedAt).toBe(3600)
    },
  )

  chainTest(
    'behavior: a cursor past some events reads only the later ones; an agent whose cursor is past the head reads nothing',
    async ({ chain }) => {
      const { a, contracts } = await story(chain)
      const head = await chain.client.getBlockNumber({ cacheTime: 0 })
      const all =
        (
          await scan(chain.client, { contracts, toBlock: head, agents: [{ agent: a.agentId.toString(), appId: a.appId, fromBlock: 0n }] })
        ).get(a.agentId.toString()) ?? []
      const cut = all.findIndex((e) => e.name === 'Withdrawn')
      const from = BigInt((all[cut] as { block: number }).block)
      const later = await scan(chain.client, {
        contracts,
        toBlock: head,
        agents: [{ agent: a.agentId.toString(), appId: a.appId, fromBlock: from }],
      })
      expect(later.get(a.agentId.toString())?.map((e) => e.name)).toEqual(all.slice(cut).map((e) => e.name))
      const none = await scan(chain.client, {
        contracts,
        toBlock: head,
        agents: [{ agent: a.agentId.toString(), appId: a.appId, fromBlock: head + 1n }],
      })
      expect(none.get(a.agentId.toString())).toEqual([])
    },
  )
})

describe('getLogsBounded', () => {
  chainTest(
    'default: against a node that refuses more than 4 blocks, halving gives exactly the logs of one unbounded request',
    async ({ chain }) => {
      const { contracts } = await story(chain)
      const head = await chain.client.getBlockNumber({ cacheTime: 0 })
      const filter = {
        address: [contracts.appAuth, contracts.succession, contracts.treasury, contracts.identityRegistry],
        topics: [] as Hex[],
      }
      const direct = await chain.client.request({ method: 'eth_getLogs', params: [{ ...filter, fromBlock: '0x0', toBlock: toHex(head) }] })
      const proxy = await rangeLimitingProxy(chain.anvil.rpcUrl, 4)
      try {
        const client = createPublicClient({ transport: http(proxy.url, { retryCount: 0 }) })
        const ranges: { fromBlock: bigint; toBlock: bigint }[] = []
        const logs = await getLogsBounded(client, {
          ...filter,
          fromBlock: 0n,
          toBlock: head,
          maxRange: 16n,
          onRange: (r) => ranges.push(r),
        })
        expect(logs).toEqual(direct)
        expect(proxy.seen.some((s) => s.refused)).toBe(true)
        expect(ranges.every((r) => r.toBlock - r.fromBlock + 1n <= 4n)).toBe(true)
        expect(ranges[0]?.fromBlock).toBe(0n)
        expect(ranges.at(-1)?.toBlock).toBe(head)
      } finally {
        await proxy.close()
      }
    },
  )

  chainTest('behavior: an error that is not about the range is thrown at once; maxRange below 1 is refused', async ({ chain }) => {
    const client = createPublicClient({ transport: http('http://127.0.0.1:9', { retryCount: 0 }) })
    await expect(
      getLogsBounded(client, { address: chain.anvil.rpcUrl as Hex, topics: [], fromBlock: 0n, toBlock: 10n }),
    ).rejects.toThrowError(/HTTP request failed/)
    await expect(getLogsBounded(chain.client, { address: [], topics: [], fromBlock: 0n, toBlock: 1n, maxRange: 0n })).rejects.toThrowError(
      'maxRange must be at least 1',
    )
  })
})
