import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DstackClient } from '@phala/dstack-sdk'
import { type GuestAgent as Agent, createCvm, createLocalKeyProvider, DevnetPki, DevnetQe, startGuestAgent } from '@regent-tee/devnet'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import * as GuestAgent from './guestAgent.js'

const pki = DevnetPki.create()
let dir: string
let agent: Agent
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'regent-kms-agent-'))
  const compose = new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'regent-kms', no_instance_id: true }))
  const cvm = await createCvm({ compose, qe: DevnetQe.create({ pki }), keyProvider: createLocalKeyProvider({ pki }) })
  agent = await startGuestAgent(cvm, { socketPath: join(dir, 'dstack.sock'), port: 0 })
})
afterAll(async () => {
  await agent.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('GuestAgent.fromEnv', () => {
  test.each(['socket', 'url'] as const)('default: GetKey and GetQuote over the %s agree with the official dstack SDK', async (kind) => {
    const endpoint = (kind === 'socket' ? agent.socketPath : agent.url) as string
    const ours = GuestAgent.fromEnv({ env: { DSTACK_SIMULATOR_ENDPOINT: endpoint } })
    const official = new DstackClient(endpoint)
    const key = await ours.getKey({ path: 'regent/kms/v1/sealing', purpose: 'sealing' })
    expect(Buffer.from(key).toString('hex')).toBe(
      Buffer.from((await official.getKey('regent/kms/v1/sealing', 'sealing')).key).toString('hex'),
    )
    const reportData = new Uint8Array(64).fill(5)
    const quote = await ours.getQuote({ reportData })
    const reference = await official.getQuote(reportData)
    expect(quote.eventLog).toBe(reference.event_log)
    expect(quote.vmConfig).toBe(reference.vm_config)
    expect(Buffer.from(quote.quote.subarray(568, 568 + 64)).toString('hex')).toBe(Buffer.from(reportData).toString('hex'))
  })

  test('behavior: no endpoint, an unreachable one and a refused call are typed errors', async () => {
    expect(() => GuestAgent.fromEnv({ env: {} })).toThrow(GuestAgent.NoEndpointError)
    await expect(
      GuestAgent.fromEnv({ env: { DSTACK_SIMULATOR_ENDPOINT: join(dir, 'none.sock') } }).getKey({ path: 'x', purpose: '' }),
    ).rejects.toThrow(/Guest agent GetKey failed: cannot reach/)
    await expect(
      GuestAgent.fromEnv({ env: { DSTACK_SIMULATOR_ENDPOINT: agent.socketPath } }).getQuote({ reportData: new Uint8Array(65) }),
    ).rejects.toThrow(/Guest agent GetQuote failed: HTTP 400/)
  })
})
