/**
 * The devnet end to end, in-process: anvil + contracts + host + CVMs running a real agent process
 * that talks to its guest agent through the official dstack SDK (DESIGN.md §5, issue 4).
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { DstackClient } from '@phala/dstack-sdk'
import { EventLog, intelSgxRootCa, Quote, verifyQuote } from '@regent-tee/attest'
import { createKmsClient, KmsClient } from '@regent-tee/kms'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type Devnet, startDevnet } from '../src/Devnet.js'
import * as DevnetFile from '../src/DevnetFile.js'
import * as Bundle from '../src/host/Bundle.js'
import type { CvmRecord } from '../src/host/Host.js'
import * as DevnetTd from '../src/tdx/DevnetTd.js'
import { json, post, waitForHttp } from './http.js'
import { probeApp } from './probe.js'

type Probe = {
  key: string
  signatureChain: string[]
  quote: string
  eventLog: string
  info: { appId: string; instanceId: string; composeHash: string; appCompose: string }
}

let devnet: Devnet
let dir: string
let compose: Uint8Array
let bundle: string
let digest: string
let appId: string

async function launch(extra: Record<string, unknown> = {}): Promise<CvmRecord> {
  const r = await json<CvmRecord>(
    `${devnet.file.hostUrl}/v1/cvms`,
    post({ compose: Buffer.from(compose).toString('base64'), bundle, appId, ...extra }),
  )
  expect(r.status).toBe(201)
  await waitForHttp(`${r.body.appUrl}/`)
  return r.body
}

const probe = async (cvm: CvmRecord, reportData = '00') => (await json<Probe>(`${cvm.appUrl}/probe?report_data=${reportData}`)).body

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-devnet-'))
  ;({ compose, bundle, digest } = await probeApp(join(dir, 'probe-bundles')))
  devnet = await startDevnet({ dir, kmsNodes: 2 })
  appId = (await devnet.approveApp({ compose })).appId.slice(2).toLowerCase()
})
afterAll(async () => {
  await devnet?.stop()
})

describe('startDevnet', () => {
  test('default: writes devnet.json with the chain, contracts, KMS nodes, host and devnet root', async () => {
    const file = await DevnetFile.read(dir)
    expect(file).toEqual(devnet.file)
    expect(file?.rootCa).toMatch(/^-----BEGIN CERTIFICATE-----/)
    expect(file?.keyProvider.name).toBe('kms')
    expect(file?.kmsUrls).toHaveLength(2)
    expect(devnet.kms.map((n) => n.origin)).toEqual(['generated', 'onboarded']) // node 1 joined node 0 by attestation
    expect(devnet.kms[1]?.address).toBe(devnet.kms[0]?.address)
    expect(file?.kmsRoot).toBe(devnet.kms[0]?.address)
    const health = await json(`${devnet.file.hostUrl}/health`)
    expect(health).toEqual({ status: 200, body: { ok: true } })
    const collateral = await json<Record<string, string>>(devnet.file.collateralUrl)
    expect(Object.keys(collateral.body)).toEqual(expect.arrayContaining(['tcb_info', 'qe_identity', 'pck_crl', 'root_ca_crl']))
  })
})

describe('CVM', () => {
  test('default: the official dstack SDK inside the CVM gets a quote that verifies under the devnet root only, and its RTMR3 replays', async () => {
    const cvm = await launch()
    expect(cvm.composeHash).toBe(createHash('sha256').update(compose).digest('hex'))
    expect(cvm.appId).toBe(appId)
    const reportData = 'ab'.repeat(32)
    const p = await probe(cvm, reportData)
    expect(p.info).toMatchObject({ appId, instanceId: cvm.instanceId, composeHash: cvm.composeHash })

    const quote = Buffer.from(p.quote, 'hex')
    const asDevnet = await verifyQuote(quote, {
      collateral: devnet.host.collateral,
      now: new Date(),
      trustedRoots: [devnet.host.trustedRoot],
      policy: { eventLog: p.eventLog, expectedReportData: Buffer.from(reportData.padEnd(128, '0'), 'hex') },
    })
    expect(asDevnet.reasons).toEqual([])
    expect(asDevnet).toMatchObject({ ok: true, hardware: 'devnet', status: 'UpToDate' })
    const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex')
    expect([hex(asDevnet.app?.composeHash), hex(asDevnet.app?.appId), hex(asDevnet.app?.instanceId)]).toEqual([
      cvm.composeHash,
      appId,
      cvm.instanceId,
    ])

    const asIntel = await verifyQuote(quote, { collateral: devnet.host.collateral, now: new Date(), trustedRoots: [intelSgxRootCa] })
    expect(asIntel.ok).toBe(false)
    expect(asIntel.hardware).toBeUndefined()

    const replayed = EventLog.replay(EventLog.parse(p.eventLog))
    const rtmrs = Quote.rtmrs(Quote.parse(quote))
    expect(Buffer.from(replayed[3]).toString('hex')).toBe(Buffer.from(rtmrs?.[3] ?? []).toString('hex'))
  })

  test('behavior: two CVMs of the same app (same compose and app id) derive the same key; instance ids differ', async () => {
    const [a, b] = [await launch(), await launch()]
    expect(a.instanceId).not.toBe(b.instanceId)
    const [pa, pb] = [await probe(a), await probe(b)]
    expect(pa.key).toBe(pb.key)
    expect(pa.key).toMatch(/^[0-9a-f]{64}$/)
  })

  test('behavior: GET /v1/cvms/:id/compose answers the exact launch bytes; launched again they boot another instance of the app', async () => {
    const a = await launch()
    const res = await fetch(`${devnet.file.hostUrl}/v1/cvms/${a.cvmId}/compose`)
    expect([res.status, res.headers.get('content-type')]).toEqual([200, 'application/json'])
    const bytes = new Uint8Array(await res.arrayBuffer())
    expect(Buffer.from(bytes).equals(Buffer.from(compose))).toBe(true)
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(a.composeHash)
    // No bundle pushed: the compose pins the one the store holds (what `regent standby add` launches).
    const b = await json<CvmRecord>(`${devnet.file.hostUrl}/v1/cvms`, post({ compose: Buffer.from(bytes).toString('base64'), appId }))
    expect(b.status).toBe(201)
    await waitForHttp(`${b.body.appUrl}/`)
    expect([b.body.appId, b.body.composeHash]).toEqual([a.appId, a.composeHash])
    expect((await probe(b.body)).key).toBe((await probe(a)).key)
    expect(await json(`${devnet.file.hostUrl}/v1/cvms/cvm-nope/compose`)).toEqual({
      status: 404,
      body: { error: { code: 'unknown_cvm', message: 'no CVM "cvm-nope" on this host.' } },
    })
  })

  test('behavior: a CVM cut off from the chain gets 503 from its RPC; reconnected it gets the chain id', async () => {
    const cvm = await launch()
    const before = await json<{ status: number; body: string }>(`${cvm.appUrl}/chain`)
    expect(before.body.status).toBe(200)
    expect(JSON.parse(before.body.body).result).toBe('0x7a69')
    await json(`${devnet.file.hostUrl}/v1/cvms/${cvm.cvmId}/faults`, post({ partitionChain: true }))
    const cut = await json<{ status: number; body: string }>(`${cvm.appUrl}/chain`)
    expect(cut.body.status).toBe(503)
    expect(JSON.parse(cut.body.body)).toEqual({ error: { code: 'partitioned', message: `CVM ${cvm.cvmId} is cut off from the chain` } })
    await json(`${devnet.file.hostUrl}/v1/cvms/${cvm.cvmId}/faults`, post({ partitionChain: false }))
    expect((await json<{ status: number }>(`${cvm.appUrl}/chain`)).body.status).toBe(200)
  })

  test('behavior: a stale quote is detectable (report_data is not the one asked for)', async () => {
    const cvm = await launch()
    const first = await probe(cvm, '11'.repeat(32))
    await json(`${devnet.file.hostUrl}/v1/cvms/${cvm.cvmId}/faults`, post({ staleQuote: true }))
    const asked = '22'.repeat(32)
    const stale = await probe(cvm, asked)
    const verdict = await verifyQuote(Buffer.from(stale.quote, 'hex'), {
      collateral: devnet.host.collateral,
      now: new Date(),
      trustedRoots: [devnet.host.trustedRoot],
      policy: { expectedReportData: Buffer.from(asked.padEnd(128, '0'), 'hex') },
    })
    expect(verdict.verified).toBe(true) // a genuine quote…
    expect(verdict.ok).toBe(false) // …but not for this request
    expect(verdict.reasons.map((r) => r.code)).toContain('policy.report_data')
    expect(stale.quote).toBe(first.quote)
  })

  test('behavior: a compose file altered after measurement is detectable (served bytes ≠ measured compose hash)', async () => {
    const cvm = await launch()
    await json(`${devnet.file.hostUrl}/v1/cvms/${cvm.cvmId}/faults`, post({ alterCompose: true }))
    const p = await probe(cvm)
    const served = createHash('sha256').update(p.info.appCompose).digest('hex')
    const measured = EventLog.appInfo(EventLog.parse(p.eventLog)).composeHash
    expect(Buffer.from(measured ?? []).toString('hex')).toBe(cvm.composeHash)
    expect(served).not.toBe(cvm.composeHash)
  })

  test('behavior: a killed CVM is reported exited; stop and logs work; unknown ids are 404', async () => {
    const cvm = await launch()
    const killed = await json<CvmRecord>(`${devnet.file.hostUrl}/v1/cvms/${cvm.cvmId}/kill`, post({}))
    expect(killed.body.status).toBe('exited')
    await expect(fetch(`${cvm.appUrl}/`)).rejects.toThrow()
    const logs = await fetch(`${devnet.file.hostUrl}/v1/cvms/${cvm.cvmId}/logs?tail=5`).then((r) => r.text())
    expect(logs).toContain(`probe agent listening on ${cvm.port}`)
    expect(await json(`${devnet.file.hostUrl}/v1/cvms/cvm-nope`)).toEqual({
      status: 404,
      body: { error: { code: 'unknown_cvm', message: 'no CVM "cvm-nope" on this host.' } },
    })
  })
})

describe('KMS', () => {
  test('behavior: an app that is not approved on-chain gets no keys: the CVM does not boot, nothing is launched', async () => {
    const other = Bundle.pin(
      {
        manifest_version: 2,
        name: 'not-approved',
        runner: 'docker-compose',
        docker_compose_file: 'services:\n  a:\n    image: a@{{bundleDigest}}\n',
        key_provider: 'kms',
      },
      digest,
    )
    const before = (await json<{ cvms: unknown[] }>(`${devnet.file.hostUrl}/v1/cvms`)).body.cvms.length
    const r = await json<{ error: { code: string; message: string } }>(
      `${devnet.file.hostUrl}/v1/cvms`,
      post({ compose: Buffer.from(other).toString('base64'), bundle, appId: 'b0b0000000000000000000000000000000000002' }),
    )
    expect(r.status).toBe(400)
    expect(r.body.error.message).toContain('app.not_registered')
    expect((await json<{ cvms: unknown[] }>(`${devnet.file.hostUrl}/v1/cvms`)).body.cvms.length).toBe(before)
    const log = await json<{ entries: { outcome: string }[] }>(`${devnet.kms[0]?.url}/v1/log?from=0&limit=1000`)
    expect(log.body.entries.at(-1)).toMatchObject({ outcome: 'refused' })
  })

  test('behavior: a CVM the host boots from another OS image gets no keys, whatever its vm_config names', async () => {
    const before = (await json<{ cvms: unknown[] }>(`${devnet.file.hostUrl}/v1/cvms`)).body.cvms.length
    const image = { ...DevnetTd.defaultImage, version: '0.5.5-evil', kernel: 'a kernel with a backdoor' }
    const named = DevnetTd.published(DevnetTd.defaultImage).osImageHash.slice(2)
    for (const extra of [{ image }, { image, vmConfig: JSON.stringify({ os_image_hash: named }) }]) {
      const r = await json<{ error: { code: string; message: string } }>(
        `${devnet.file.hostUrl}/v1/cvms`,
        post({ compose: Buffer.from(compose).toString('base64'), bundle, appId, ...extra }),
      )
      expect(r.status).toBe(400)
      expect(r.body.error.message).toContain('os_image.measurement')
    }
    // The approved image in its other published shape boots.
    const bigger = await launch({ shape: DevnetTd.publishedShapes[1] })
    expect((await probe(bigger)).key).toMatch(/^[0-9a-f]{64}$/)
    const cvms = (await json<{ cvms: unknown[] }>(`${devnet.file.hostUrl}/v1/cvms`)).body.cvms
    expect(cvms.length).toBe(before + 1)
  })
})

describe('isolation', () => {
  test('behavior: no host API, record or file hands out a CVM’s guest agent; only its own process knows its socket', async () => {
    const cvm = await launch()
    const socket = (await json<{ value: string | null }>(`${cvm.appUrl}/env?name=DSTACK_SIMULATOR_ENDPOINT`)).body.value as string
    expect(socket).toMatch(/\/dstack\.sock$/)
    expect((await json<{ value: string | null }>(`${cvm.appUrl}/env?name=REGENT_GUEST_AGENT_URL`)).body.value).toBe(null)
    // The attack starts from GET /v1/cvms: the KMS CVMs are listed, but nothing there reaches their guest agents.
    const { cvms } = (await json<{ cvms: CvmRecord[] }>(`${devnet.file.hostUrl}/v1/cvms`)).body
    expect(cvms.map((c) => c.cvmId)).toEqual(expect.arrayContaining(devnet.kms.map((k) => k.cvmId)))
    for (const record of cvms) {
      expect(record.debugGuestAgent).toBe(false)
      expect(record).not.toHaveProperty('endpoint')
      expect(record).not.toHaveProperty('guestAgentUrl')
      expect(JSON.stringify({ ...record, appUrl: '' })).not.toMatch(/\.sock|https?:/) // the app's own URL is the only one
    }
    // Nor does any file the host writes.
    const files = await readdir(dir, { recursive: true })
    for (const file of files.filter((f) => /cvm\.json$|devnet\.json$/.test(f)))
      expect(await readFile(join(dir, file), 'utf8')).not.toContain(socket)
    // The socket's directory is the CVM's (0700), inside a host directory nobody can list (0300).
    expect((await stat(dirname(socket))).mode & 0o777).toBe(0o700)
    expect((await stat(dirname(dirname(socket)))).mode & 0o777).toBe(0o300)
    expect((await stat(socket)).mode & 0o777).toBe(0o600)
  })

  test('behavior: onboarding stays bound to the KMS measurement: a quote from a guest agent a local process can reach gets no root keys', async () => {
    // The most a local process can reach is a CVM launched with the devnet debug flag (its own, here an app CVM).
    const reachable = await launch({ debugGuestAgent: true })
    expect(reachable.endpoint).toMatch(/dstack\.sock$/)
    const kms = createKmsClient({ url: devnet.kms[0]?.url as string })
    const client = new DstackClient(reachable.endpoint as string)
    const refused = await kms
      .onboard({
        attest: async (reportData) => {
          const q = await client.getQuote(reportData)
          return { quote: Buffer.from(q.quote, 'hex'), eventLog: q.event_log }
        },
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      )
    expect(refused).toBeInstanceOf(KmsClient.RequestRefusedError)
    expect((refused as KmsClient.RequestRefusedError).code).toBe('measurement.not_approved')
  })
})

describe('bundles', () => {
  test('behavior: a CVM runs only its bundle — an import that resolves outside it (a node_modules above) fails the boot', async () => {
    // A package a parent directory of the bundle store provides: Node's lookup would walk up to it.
    await mkdir(join(dir, 'node_modules', 'leak'), { recursive: true })
    await writeFile(join(dir, 'node_modules', 'leak', 'package.json'), '{"name":"leak","type":"module","main":"index.js"}')
    await writeFile(join(dir, 'node_modules', 'leak', 'index.js'), "export default 'unmeasured code'\n")
    const app = join(dir, 'leaky-app')
    await mkdir(app, { recursive: true })
    await writeFile(join(app, 'package.json'), '{"name":"leaky","type":"module","main":"index.mjs"}')
    await writeFile(join(app, 'index.mjs'), "import leak from 'leak'\nconsole.log('loaded', leak)\n")
    const leaky = await Bundle.assemble({ dir: app, files: ['package.json', 'index.mjs'], out: join(dir, 'probe-bundles') })
    const template = JSON.parse(new TextDecoder().decode(compose)) as Record<string, unknown>
    const leakyCompose = Bundle.pin(
      { ...template, name: 'leaky', docker_compose_file: 'services:\n  a:\n    image: leaky@{{bundleDigest}}\n' },
      leaky.digest,
    )
    const { appId: leakyApp } = await devnet.approveApp({ compose: leakyCompose })
    const r = await json<CvmRecord>(
      `${devnet.file.hostUrl}/v1/cvms`,
      post({ compose: Buffer.from(leakyCompose).toString('base64'), bundle: leaky.dir, appId: leakyApp.slice(2) }),
    )
    expect([r.status, r.body.bundleDigest]).toEqual([201, leaky.digest])
    await expect(devnet.host.waitForLine(r.body.cvmId, (l) => l.startsWith('loaded'))).rejects.toThrow('exited (code 1) first')
    expect(await devnet.host.logs(r.body.cvmId)).toContain("outside this CVM's bundle")
  })
})

describe('faucet', () => {
  test('default: raises a balance to the amount asked (devnet only); bad addresses and amounts are refused', async () => {
    const address = '0x00000000000000000000000000000000000fa0ce'
    const r = await json<{ balance: string }>(`${devnet.file.hostUrl}/v1/faucet`, post({ address, wei: '5000' }))
    expect(r).toEqual({ status: 200, body: { address, balance: '5000' } })
    const rpc = await json<{ result: string }>(
      devnet.file.rpcUrl,
      post({ jsonrpc: '2.0', id: 1, method: 'eth_getBalance', params: [address, 'latest'] }),
    )
    expect(BigInt(rpc.body.result)).toBe(5000n)
    expect((await json(`${devnet.file.hostUrl}/v1/faucet`, post({ address: '0x1234' }))).status).toBe(400)
    expect((await json(`${devnet.file.hostUrl}/v1/faucet`, post({ address, wei: '1e30' }))).status).toBe(400)
    expect((await json(`${devnet.file.hostUrl}/v1/faucet`, post({ address, wei: (10n ** 25n).toString() }))).status).toBe(400)
  })
})

describe('host API', () => {
  test('behavior: bad input gets a 4xx with { error: { code, message } } and launches nothing', async () => {
    const template = JSON.parse(new TextDecoder().decode(compose)) as Record<string, unknown>
    const unpinned = new TextEncoder().encode(
      JSON.stringify({ ...template, docker_compose_file: 'services:\n  a:\n    image: a:latest\n' }),
    )
    const otherDigest = new TextEncoder().encode(
      JSON.stringify({ ...template, docker_compose_file: `services:\n  a:\n    image: a@sha256:${'ab'.repeat(32)}\n` }),
    )
    const before = (await json<{ cvms: unknown[] }>(`${devnet.file.hostUrl}/v1/cvms`)).body.cvms.length
    const url = `${devnet.file.hostUrl}/v1/cvms`
    const cases: [RequestInit, number, string][] = [
      [post('{not json'), 400, 'request.malformed_json'],
      [post({ compose: 'x', bundle }, 'text/plain'), 415, 'request.media_type'],
      [post([]), 400, 'invalid_request'],
      [post({ compose: '!!!', bundle }), 400, 'invalid_request'],
      [post({ compose: Buffer.from(unpinned).toString('base64'), bundle }), 400, 'bundle.unpinned'],
      [post({ compose: Buffer.from(otherDigest).toString('base64'), bundle }), 400, 'bundle.digest_mismatch'],
      [post({ compose: Buffer.from(otherDigest).toString('base64') }), 400, 'bundle.not_found'],
      [post({ compose: Buffer.from(compose).toString('base64'), bundle, appId: 'zz' }), 400, 'invalid_request'],
      [post({ compose: Buffer.from(compose).toString('base64'), bundle, env: { A: 1 } }), 400, 'invalid_request'],
      [post({ compose: Buffer.from(compose).toString('base64'), bundle: join(dir, 'no-such-bundle') }), 400, 'bundle.invalid'],
      [post({ compose: Buffer.from('not json').toString('base64'), bundle }), 400, 'invalid_request'],
      [post('x'.repeat((1 << 20) + 10)), 413, 'request.too_large'],
    ]
    for (const [init, status, code] of cases) {
      const r = await json<{ error: { code: string; message: string } }>(url, init)
      expect([r.status, r.body.error.code]).toEqual([status, code])
      expect(r.body.error.message).not.toMatch(/\n\s+at /) // no stack traces
    }
    expect((await json(`${devnet.file.hostUrl}/v2/nothing`)).status).toBe(404)
    expect((await json(`${devnet.file.hostUrl}/v1/cvms/x/faults`, post({ teleport: true }))).status).toBe(400)
    expect((await json<{ cvms: unknown[] }>(url)).body.cvms.length).toBe(before)
  })
})
