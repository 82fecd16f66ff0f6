/**
 * Restarting a CVM (docs/devnet.md "Restarting a CVM"): a killed or stopped CVM reboots as the same
 * instance — a fresh measured boot from its launch parameters, its disk, port and socket kept — through
 * `Host.restart` and `POST /v1/cvms/:id/restart`, with the probe agent (official dstack SDK) inside.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventLog, Quote, verifyQuote } from '@regent-tee/attest'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type Devnet, startDevnet } from '../src/Devnet.js'
import { type CvmRecord, CvmRunningError } from '../src/host/Host.js'
import { json, post, waitForHttp } from './http.js'
import { probeApp } from './probe.js'

type Probe = {
  key: string
  quote: string
  eventLog: string
  info: { appId: string; instanceId: string; composeHash: string }
}
type Refusal = { error: { code: string; message: string } }

let devnet: Devnet
let dir: string
let compose: Uint8Array
let bundle: string
let appId: string

const hostUrl = () => devnet.file.hostUrl
const cvmUrl = (cvm: CvmRecord, action = '') => `${hostUrl()}/v1/cvms/${cvm.cvmId}${action}`

async function launch(extra: Record<string, unknown> = {}): Promise<CvmRecord> {
  const r = await json<CvmRecord>(
    `${hostUrl()}/v1/cvms`,
    post({ compose: Buffer.from(compose).toString('base64'), bundle, appId, ...extra }),
  )
  expect(r.status).toBe(201)
  await waitForHttp(`${r.body.appUrl}/`)
  return r.body
}

/** `POST /v1/cvms/:id/restart` (no body unless given), then waits until the agent answers again. */
async function restart(cvm: CvmRecord, init: RequestInit = { method: 'POST' }): Promise<CvmRecord> {
  const r = await json<CvmRecord>(cvmUrl(cvm, '/restart'), init)
  expect(r.status).toBe(200)
  await waitForHttp(`${r.body.appUrl}/`)
  return r.body
}

const probe = async (cvm: CvmRecord, reportData = '00') => (await json<Probe>(`${cvm.appUrl}/probe?report_data=${reportData}`)).body
const envOf = async (cvm: CvmRecord, name: string) =>
  (await json<{ pid: number; value: string | null }>(`${cvm.appUrl}/env?name=${name}`)).body
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex')

/** MRTD, RTMR0–3 from the quote, RTMR0–3 replayed from its event log, and the RTMR3 event names. */
function measurements(p: Probe) {
  const quote = Quote.parse(Buffer.from(p.quote, 'hex'))
  const log = EventLog.parse(p.eventLog)
  return {
    mrTd: hex(Quote.mrTd(quote)),
    rtmrs: (Quote.rtmrs(quote) ?? []).map(hex),
    replayed: EventLog.replay(log).map(hex),
    events: log.filter((e) => e.imr === 3).map((e) => e.event),
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-cvm-restart-'))
  ;({ compose, bundle } = await probeApp(join(dir, 'probe-bundles')))
  devnet = await startDevnet({ dir })
  appId = (await devnet.approveApp({ compose })).appId.slice(2).toLowerCase()
})
afterAll(async () => {
  await devnet?.stop()
})

describe('Host.restart', () => {
  test('default: a killed CVM reboots as the same instance: identity, registers, keys, disk, port and socket', async () => {
    const cvm = await launch()
    const reportData = 'cd'.repeat(32)
    const before = await probe(cvm, reportData)
    // The guest agent's socket is the CVM's own: only its process knows where it is.
    const socket = (await envOf(cvm, 'DSTACK_SIMULATOR_ENDPOINT')).value
    const put = await fetch(`${cvm.appUrl}/data/note.txt`, { method: 'PUT', body: 'written before the kill' })
    expect(put.status).toBe(204)
    const killed = await json<CvmRecord>(cvmUrl(cvm, '/kill'), post({}))
    expect(killed.body.status).toBe('exited')

    const after = await restart(cvm)
    expect(after).toMatchObject({
      cvmId: cvm.cvmId,
      appId: cvm.appId,
      instanceId: cvm.instanceId,
      composeHash: cvm.composeHash,
      bundleDigest: cvm.bundleDigest,
      debugGuestAgent: false,
      port: cvm.port,
      appUrl: cvm.appUrl,
      status: 'running',
      exitCode: null,
      faults: { staleQuote: false, alterCompose: false, partitionChain: false },
    })
    expect(after.pid).not.toBe(cvm.pid)
    expect(after).not.toHaveProperty('endpoint')
    expect((await envOf(after, 'DSTACK_SIMULATOR_ENDPOINT')).value).toBe(socket)
    expect(Date.parse(after.startedAt)).toBeGreaterThanOrEqual(Date.parse(cvm.startedAt))
    expect((await json<CvmRecord>(cvmUrl(cvm))).body).toEqual(after)

    // The guest agent answers again, for the same instance, with the same key.
    const again = await probe(after, reportData)
    expect(again.info).toEqual(before.info)
    expect(again.key).toBe(before.key)

    // A fresh measured boot: the same registers, RTMR3 replays from one boot's events (not two boots' worth).
    const [m0, m1] = [measurements(before), measurements(again)]
    expect(m1).toEqual(m0)
    expect(m1.replayed).toEqual(m1.rtmrs)
    expect(m1.events).toEqual([
      'system-preparing',
      'app-id',
      'compose-hash',
      'instance-id',
      'boot-mr-done',
      'os-image-hash',
      'key-provider',
      'storage-fs',
      'system-ready',
    ])
    const verdict = await verifyQuote(Buffer.from(again.quote, 'hex'), {
      collateral: devnet.host.collateral,
      now: new Date(),
      trustedRoots: [devnet.host.trustedRoot],
      policy: { eventLog: again.eventLog, expectedReportData: Buffer.from(reportData.padEnd(128, '0'), 'hex') },
    })
    expect(verdict.reasons).toEqual([])
    expect([hex(verdict.app?.appId), hex(verdict.app?.instanceId), hex(verdict.app?.composeHash)]).toEqual([
      cvm.appId,
      cvm.instanceId,
      cvm.composeHash,
    ])

    // The disk persisted, and the log of both boots is in one file.
    expect(await fetch(`${after.appUrl}/data/note.txt`).then((r) => r.text())).toBe('written before the kill')
    const logs = await fetch(cvmUrl(cvm, '/logs')).then((r) => r.text())
    expect(logs.match(new RegExp(`^probe agent listening on ${cvm.port} `, 'gm'))).toHaveLength(2)
  })

  test('behavior: restarting a running CVM is refused (CvmRunningError, HTTP 409) and changes nothing; unknown ids are 404', async () => {
    const cvm = await launch()
    const error = await devnet.host.restart(cvm.cvmId).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CvmRunningError)
    expect(error).toMatchObject({ name: 'Host.CvmRunningError', shortMessage: `CVM ${cvm.cvmId} is still running.` })
    expect((error as CvmRunningError).metaMessages).toEqual(['Stop or kill it first (`regent dev cvm stop`), then restart it.'])

    const r = await json<Refusal>(cvmUrl(cvm, '/restart'), post({}))
    expect(r).toEqual({ status: 409, body: { error: { code: 'cvm_running', message: `CVM ${cvm.cvmId} is still running.` } } })
    expect((await json<CvmRecord>(cvmUrl(cvm))).body).toEqual(cvm)
    expect((await envOf(cvm, 'PORT')).value).toBe(String(cvm.port))

    const unknown = await json<Refusal>(`${hostUrl()}/v1/cvms/cvm-nope/restart`, { method: 'POST' })
    expect(unknown).toEqual({ status: 404, body: { error: { code: 'unknown_cvm', message: 'no CVM "cvm-nope" on this host.' } } })
    await expect(devnet.host.restart('cvm-nope')).rejects.toMatchObject({ name: 'Host.UnknownCvmError' })
  })

  test('behavior: env changes apply to this boot and later ones; null removes a variable', async () => {
    const cvm = await launch({ env: { PROBE_FAULT: 'drop-quotes', KEPT: 'yes' } })
    expect((await envOf(cvm, 'PROBE_FAULT')).value).toBe('drop-quotes')

    await json(cvmUrl(cvm, '/stop'), post({}))
    const second = await restart(cvm, post({ env: { PROBE_FAULT: null, ADDED: 'new' } }))
    expect(second.status).toBe('running')
    expect(await Promise.all(['PROBE_FAULT', 'KEPT', 'ADDED'].map(async (n) => (await envOf(second, n)).value))).toEqual([
      null,
      'yes',
      'new',
    ])

    await json(cvmUrl(cvm, '/kill'), post({}))
    const third = await restart(cvm)
    expect(await Promise.all(['PROBE_FAULT', 'KEPT', 'ADDED'].map(async (n) => (await envOf(third, n)).value))).toEqual([
      null,
      'yes',
      'new',
    ])
  })

  test("behavior: waitForLine after a restart matches only the new boot's output", async () => {
    const cvm = await launch()
    const isListening = (line: string) => line.startsWith('probe agent listening on ')
    const first = await devnet.host.waitForLine(cvm.cvmId, isListening)
    expect(first).toBe(`probe agent listening on ${cvm.port} (pid ${(await envOf(cvm, 'PORT')).pid})`)
    await devnet.host.kill(cvm.cvmId)

    const record = await devnet.host.restart(cvm.cvmId)
    const second = await devnet.host.waitForLine(cvm.cvmId, isListening)
    await waitForHttp(`${record.appUrl}/`)
    expect(second).toBe(`probe agent listening on ${cvm.port} (pid ${(await envOf(record, 'PORT')).pid})`)
    expect(second).not.toBe(first)
  })

  test('behavior: bad restart bodies get a 4xx with { error: { code, message } } and the CVM stays as it was', async () => {
    const cvm = await launch()
    await json(cvmUrl(cvm, '/kill'), post({}))
    const exited = (await json<CvmRecord>(cvmUrl(cvm))).body
    expect(exited.status).toBe('exited')

    const cases: [RequestInit, number, string][] = [
      [post('{not json'), 400, 'request.malformed_json'],
      [post([]), 400, 'invalid_request'],
      [post('"env"'), 400, 'invalid_request'],
      [post({ env: 'A=1' }), 400, 'invalid_request'],
      [post({ env: ['A'] }), 400, 'invalid_request'],
      [post({ env: { A: 1 } }), 400, 'invalid_request'],
      [post({ env: { A: ['x'] } }), 400, 'invalid_request'],
      [post({ env: { A: false } }), 400, 'invalid_request'],
      [post({ env: { 'A=B': 'x' } }), 400, 'invalid_request'],
      [post({ env: { '': 'x' } }), 400, 'invalid_request'],
      [post({ env: { A: 'x\u0000y' } }), 400, 'invalid_request'],
      [post({ env: {}, compose: 'x' }), 400, 'invalid_request'],
      [post({ env: {} }, 'text/plain'), 415, 'request.media_type'],
      [post('x'.repeat((1 << 20) + 10)), 413, 'request.too_large'],
    ]
    for (const [init, status, code] of cases) {
      const r = await json<Refusal>(cvmUrl(cvm, '/restart'), init)
      expect([String(init.body).slice(0, 40), r.status, r.body.error.code]).toEqual([String(init.body).slice(0, 40), status, code])
      expect(r.body.error.message).not.toMatch(/\n\s+at /)
    }
    expect((await json<CvmRecord>(cvmUrl(cvm))).body).toEqual(exited)
    await expect(fetch(`${cvm.appUrl}/`)).rejects.toThrow()

    // Still restartable, and none of the refused env changes took effect.
    const after = await restart(cvm, post({ env: {} }))
    expect(after.status).toBe('running')
    expect((await envOf(after, 'A')).value).toBeNull()
  })
})
