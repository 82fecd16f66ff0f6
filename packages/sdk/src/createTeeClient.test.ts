// The TEE client against a real in-process devnet guest agent, over both transports, differential against the
// official @phala/dstack-sdk DstackClient on the same agent.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DstackClient } from '@phala/dstack-sdk'
import { EventLog, Quote } from '@regent-tee/attest'
import { createCvm, createLocalKeyProvider, DevnetPki, DevnetQe, type GuestAgent, startGuestAgent } from '@regent-tee/devnet'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTeeClient, type TeeClient } from './createTeeClient.js'
import { GuestAgentError, TimeoutError, TransportError } from './transports/createTransport.js'
import { fromEnv, NoEndpointError } from './transports/fromEnv.js'
import { http } from './transports/http.js'
import { unixSocket } from './transports/unixSocket.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const compose = new TextEncoder().encode('{"kms_enabled":true,"manifest_version":2,"name":"sdk-client","runner":"docker-compose"}')
const appId = new Uint8Array(20).fill(0x5a)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

let dir: string
let agent: GuestAgent

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'regent-sdk-client-'))
  const cvm = await createCvm({ compose, appId, instanceIdSeed: new Uint8Array(20).fill(3), qe, keyProvider })
  agent = await startGuestAgent(cvm, { socketPath: join(dir, 'dstack.sock'), port: 0 })
})

afterAll(async () => {
  await agent.close()
  rmSync(dir, { recursive: true, force: true })
})

describe.each(['unix', 'http'] as const)('createTeeClient over %s', (kind) => {
  const client = (): TeeClient =>
    createTeeClient({ transport: kind === 'unix' ? unixSocket({ path: agent.socketPath as string }) : http({ url: agent.url as string }) })
  const official = () => new DstackClient(kind === 'unix' ? agent.socketPath : agent.url)

  test('getKey: same key and chain as DstackClient; purpose changes only chain[0]', async () => {
    const ours = await client().getKey({ path: 'regent/v1/wallet', purpose: 'p' })
    const theirs = await official().getKey('regent/v1/wallet', 'p')
    expect(hex(ours.key)).toBe(hex(theirs.key))
    expect(ours.signatureChain.map(hex)).toEqual(theirs.signature_chain.map(hex))
    const other = await client().getKey({ path: 'regent/v1/wallet', purpose: 'q' })
    expect(hex(other.key)).toBe(hex(ours.key))
    expect(hex(other.signatureChain[0] as Uint8Array)).not.toBe(hex(ours.signatureChain[0] as Uint8Array))
    const ed = await client().getKey({ path: 'regent/v1/wallet', purpose: 'p', algorithm: 'ed25519' })
    const edTheirs = await official().getKey('regent/v1/wallet', 'p', 'ed25519')
    expect(ed.signatureChain.map(hex)).toEqual(edTheirs.signature_chain.map(hex))
  })

  test('getQuote: same report_data and event log as DstackClient; RTMR3 replays', async () => {
    const rd = new Uint8Array(40).fill(7)
    const ours = await client().getQuote({ reportData: rd })
    const theirs = await official().getQuote(rd)
    const padded = new Uint8Array(64)
    padded.set(rd)
    expect(hex(ours.reportData)).toBe(hex(padded))
    expect(theirs.report_data).toBe(hex(padded))
    expect(ours.eventLog).toBe(theirs.event_log)
    expect(ours.vmConfig).toBe(theirs.vm_config)
    const parsed = Quote.parse(ours.quote)
    expect(hex(Quote.reportData(parsed))).toBe(hex(padded))
    expect(hex(EventLog.replay(EventLog.parse(ours.eventLog))[3])).toBe(
      hex((Quote.rtmrs(parsed) as readonly Uint8Array[])[3] as Uint8Array),
    )
  })

  test('getQuote: hex string input equals bytes input; 65 bytes rejected before sending', async () => {
    const ours = await client().getQuote({ reportData: '0x0102' })
    expect(hex(ours.reportData).slice(0, 6)).toBe('010200')
    await expect(client().getQuote({ reportData: new Uint8Array(65) })).rejects.toThrow('report_data is 65 bytes; at most 64 are allowed.')
  })

  test('info: every field equals DstackClient.info()', async () => {
    const ours = await client().info()
    const theirs = await official().info()
    expect(hex(ours.appId)).toBe(theirs.app_id)
    expect(hex(ours.instanceId)).toBe(theirs.instance_id)
    expect(hex(ours.composeHash)).toBe(theirs.compose_hash)
    expect(hex(ours.deviceId)).toBe(theirs.device_id)
    expect(hex(ours.mrAggregated)).toBe(theirs.mr_aggregated)
    expect(hex(ours.osImageHash)).toBe(theirs.os_image_hash)
    expect([ours.appName, ours.appCert, ours.keyProviderInfo, ours.vmConfig]).toEqual([
      theirs.app_name,
      theirs.app_cert,
      theirs.key_provider_info,
      theirs.vm_config,
    ])
    expect(ours.tcbInfo).toEqual(theirs.tcb_info)
  })

  test('sign / verify: agent signatures verify through both clients', async () => {
    for (const algorithm of ['secp256k1', 'ed25519'] as const) {
      const data = new TextEncoder().encode(`hello ${kind}`)
      const ours = await client().sign({ algorithm, data })
      expect((await official().verify(algorithm, data, ours.signature, ours.publicKey)).valid).toBe(true)
      expect((await client().verify({ algorithm, data, signature: ours.signature, publicKey: ours.publicKey })).valid).toBe(true)
      const tampered = Uint8Array.from(data)
      tampered[0] = (tampered[0] as number) ^ 1
      expect((await client().verify({ algorithm, data: tampered, signature: ours.signature, publicKey: ours.publicKey })).valid).toBe(false)
      const theirs = await official().sign(algorithm, data)
      expect(hex(ours.publicKey)).toBe(hex(theirs.public_key))
      expect(ours.signatureChain.slice(1).map(hex)).toEqual(theirs.signature_chain.slice(1).map(hex))
    }
  })

  test('version, attest, emitEvent, getTlsKey', async () => {
    expect(await client().version()).toEqual({ version: (await official().version()).version, rev: 'regent-devnet' })
    const { attestation } = await client().attest({ reportData: '0xaa' })
    expect(attestation.length).toBeGreaterThan(1000)
    const before = (await client().info()).tcbInfo?.rtmr3
    await client().emitEvent({ event: `sdk-${kind}`, payload: '0x01' })
    const after = await client().info()
    expect(after.tcbInfo?.rtmr3).not.toBe(before)
    const log = EventLog.parse((await client().getQuote({ reportData: '0x00' })).eventLog)
    expect(EventLog.appInfo(log).appEvents.map((e) => e.name)).toContain(`sdk-${kind}`)
    const tls = await client().getTlsKey({ subject: 'agent.local', altNames: ['agent.local'] })
    expect(tls.key).toContain('-----BEGIN PRIVATE KEY-----')
    expect(tls.certificateChain.length).toBe(3)
  })

  test('behavior: guest-agent errors become GuestAgentError with the agent message', async () => {
    const error = await client()
      .getKey({ path: 'x', algorithm: 'rsa' as never })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(GuestAgentError)
    expect((error as GuestAgentError).status).toBe(400)
    expect((error as GuestAgentError).agentMessage).toMatch(/algorithm/i)
    await expect(client().emitEvent({ event: '', payload: '0x' })).rejects.toThrow('The event name must not be empty.')
  })
})

test('behavior: a missing socket is a TransportError; a silent server is a TimeoutError', async () => {
  const missing = createTeeClient({ transport: unixSocket({ path: join(dir, 'missing.sock') }) })
  await expect(missing.info()).rejects.toBeInstanceOf(TransportError)
  const server: Server = createServer(() => {})
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  try {
    const port = (server.address() as { port: number }).port
    const slow = createTeeClient({ transport: http({ url: `http://127.0.0.1:${port}`, timeout: 50 }) })
    const error = await slow.version().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TimeoutError)
    expect((error as TimeoutError).shortMessage).toBe('The guest agent did not answer Version within 50 ms.')
  } finally {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  }
})

test('fromEnv: DSTACK_SIMULATOR_ENDPOINT as a path or URL; else the first existing socket; else NoEndpointError', async () => {
  const viaPath = createTeeClient({ transport: fromEnv({ env: { DSTACK_SIMULATOR_ENDPOINT: agent.socketPath } }) })
  expect([viaPath.transport.type, hex((await viaPath.info()).appId)]).toEqual(['unix', hex(appId)])
  const viaUrl = createTeeClient({ transport: fromEnv({ env: { DSTACK_SIMULATOR_ENDPOINT: agent.url } }) })
  expect([viaUrl.transport.type, hex((await viaUrl.info()).appId)]).toEqual(['http', hex(appId)])
  const probed = fromEnv({ env: {}, socketPaths: [join(dir, 'nope.sock'), agent.socketPath as string] })
  expect(probed.endpoint).toBe(agent.socketPath)
  expect(() => fromEnv({ env: {}, socketPaths: [join(dir, 'nope.sock')] })).toThrow(NoEndpointError)
})
