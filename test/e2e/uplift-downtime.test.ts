/**
 * Zero downtime (issue 7; docs/uplift.md "Zero downtime") on a real devnet: a client reads the agent's public
 * endpoint in a loop throughout an uplift. The endpoint is the source's forwarding layer (examples/agent/src/
 * Handover.ts): the wild source serves its own memory until its journal shows the on-chain switch, then forwards to
 * the target CVM, which serves the same routes on the state it loaded. No request may fail, and every answer is
 * the same (the same state). The longest latency is reported, never asserted.
 */
import { mkdtemp, readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Collateral } from '@regent/attest'
import { type Devnet, startDevnet } from '@regent/devnet'
import { Checkpoint, commitState, openUpliftJournal, PrivateKey, readCanonical, uplift } from '@regent/sdk'
import Database from 'better-sqlite3'
import { createPublicClient, type Hex, http, keccak256, toBytes } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createForwarder, serveMemory } from '../../examples/agent/src/Handover.js'
import { learn } from '../../examples/agent/src/Memory.js'
import { agentDir, devnetChain, enrollWildAgent, launchTarget as launchUpliftTarget, wildCompose } from './uplift-fixture.js'

const salt = keccak256(toBytes('regent uplift downtime e2e'))
let devnet: Devnet
let compose: Uint8Array
let appId: Hex
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-uplift-downtime-'))
  devnet = await startDevnet({ dir, kmsNodes: 1 })
  compose = new Uint8Array(await readFile(join(agentDir, 'app-compose.json')))
  ;({ appId } = await devnet.approveApp({ compose, salt }))
  await devnet.approveApp({ compose: wildCompose, salt })
})
afterAll(async () => {
  await devnet?.stop()
})

const chain = () => devnetChain(devnet)

async function wildAgent(name: string) {
  const contracts = devnet.file.contracts
  const { key, account, wallet, agentId } = await enrollWildAgent(devnet, { name, appId })
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  for (let i = 0; i < 40; i++) learn(db, { user: 'alice', text: `alice likes tea, trains and tea number ${i}` })
  await commitState(wallet, { contracts, agentId, stateRoot: Checkpoint.exportState(db, { chunkSize: 4096 }).stateRoot, seq: 1n })
  return { key, account, wallet, agentId, db, client: createPublicClient({ chain: chain(), transport: http(devnet.file.rpcUrl) }) }
}

const launchTarget = () => launchUpliftTarget(devnet, { compose, appId })

describe('uplift: zero downtime', () => {
  for (const mode of ['import', 'rotate'] as const)
    test(`default: a client reading the public endpoint throughout an uplift (${mode}) sees no failed request`, async () => {
      const w = await wildAgent(`steady-${mode}`)
      const cvm = await launchTarget()
      const journal = openUpliftJournal({
        path: join(await mkdtemp(join(dir, 'src-')), 'uplift-source.db'),
        role: 'source',
        key: new Uint8Array(32).fill(3),
      })
      const switched = () => journal.get('handover-tx') !== undefined
      const endpoint = createServer(
        createForwarder({
          serve: (req, res) => {
            serveMemory(w.db, req, res).then(
              (served) => void (served || res.writeHead(404).end()),
              () => res.writeHead(500).end(),
            )
          },
          switched: () => switched(),
          targetUrl: cvm.appUrl,
        }),
      )
      await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r))
      const url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/topics?user=alice`
      const expected = await (await fetch(url)).text()

      const results: { ok: boolean; ms: number; body: string; forwarded: boolean }[] = []
      let running = true
      const client = (async () => {
        while (running) {
          const t = performance.now()
          const forwarded = switched()
          const r = await fetch(url).then(
            async (res) => ({ ok: res.ok, body: await res.text() }),
            (e: Error) => ({ ok: false, body: e.message }),
          )
          results.push({ ...r, ms: performance.now() - t, forwarded })
        }
      })()
      const r = await uplift({
        mode,
        agentId: w.agentId,
        chainId: devnet.file.chainId,
        contracts: devnet.file.contracts,
        wallet: w.wallet,
        ...(mode === 'import' ? { privateKey: new PrivateKey(Buffer.from(w.key.slice(2), 'hex')) } : {}),
        client: w.client,
        targetUrl: cvm.appUrl,
        journal,
        checkpoint: () => Checkpoint.exportState(w.db, { chunkSize: 4096 }),
        collateral: Collateral.parse(devnet.host.collateral),
        trustedRoots: [devnet.host.trustedRoot],
      })
      await new Promise((done) => setTimeout(done, 300)) // keep reading through the forwarder after the handover
      running = false
      await client
      endpoint.close()
      journal.close()

      const after = await readCanonical(w.client, { contracts: devnet.file.contracts, agentId: w.agentId })
      expect([after.instance.host, after.instance.signer]).toEqual([cvm.appUrl, r.signer])
      // Requests after the switch reached the target, which answers from the same state.
      expect(await (await fetch(`${cvm.appUrl}/topics?user=alice`)).text()).toBe(expected)
      const failed = results.filter((x) => !x.ok || x.body !== expected)
      const longest = Math.max(...results.map((x) => x.ms))
      const forwarded = results.filter((x) => x.forwarded).length
      process.stdout.write(
        `uplift ${mode}: ${results.length} requests (${forwarded} forwarded to the target), ${failed.length} failed, longest ${longest.toFixed(1)} ms\n`,
      )
      expect(failed).toEqual([])
      expect(forwarded).toBeGreaterThan(0)
      expect(results.length).toBeGreaterThan(forwarded)
    })
})
