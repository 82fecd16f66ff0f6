import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type TdxMeasurements, verifyQuote } from '@regent-tee/attest'
import { regentAppAuthAbi } from '@regent-tee/contracts'
import { createCvm, createLocalKeyProvider, DevnetCollateral, DevnetPki, DevnetQe, DevnetTd } from '@regent-tee/devnet'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import { deployRegent, mined, wallet } from '@regent-tee/testing/regent-fixture'
import Database from 'better-sqlite3'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterEach, describe, expect } from 'vitest'
import * as EnvEncryption from './EnvEncryption.js'
import * as GetKey from './GetKey.js'
import * as KeyRelease from './KeyRelease.js'
import { createKmsClient, RequestRefusedError } from './KmsClient.js'
import { type KmsNode, type StartKmsNodeOptions, startKmsNode } from './KmsNode.js'
import * as ReleaseLog from './ReleaseLog.js'
import * as ReleaseRequest from './ReleaseRequest.js'
import * as RootKeys from './RootKeys.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
// A second devnet host: its own QE and attestation key under the devnet root (as two TDX machines under Intel's).
const qe2 = DevnetQe.create({ pki })
const devnetRoots = [DevnetPki.trustedRoot(pki)]
const collateralFor = (p: DevnetPki.DevnetPki, o: DevnetCollateral.IssueOptions = {}) => DevnetCollateral.issue(p, o)
// The devnet image and the measurements it publishes (one per VM shape), as an approval records them.
const { osImageHash, measurements } = DevnetTd.published(DevnetTd.defaultImage)
/** Another OS image: another kernel, so other RTMR1 (and MRTD kept): what a hostile host boots instead. */
const otherImage: DevnetTd.OsImage = { ...DevnetTd.defaultImage, version: '0.5.5-evil', kernel: 'regent-devnet-kernel-with-a-backdoor' }
const sealingKey = new Uint8Array(32).fill(7)
const appOwner = 1
const encoder = new TextEncoder()

const dirs: string[] = []
const nodes: KmsNode[] = []
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'regent-kms-'))
  dirs.push(dir)
  return dir
}

async function node(chain: Chain_, appAuth: Address, options: Partial<StartKmsNodeOptions> = {}): Promise<KmsNode> {
  const started = await startKmsNode({
    dataDir: tempDir(),
    sealingKey,
    chain: { client: chain.client, appAuth },
    collateral: collateralFor(pki),
    trustedRoots: devnetRoots,
    ...options,
  })
  nodes.push(started)
  return started
}

type App = { appId: Address; compose: Uint8Array; composeHash: Hex }

async function registerApp(chain: Chain_, appAuth: Address, o: { salt?: string; timelock?: bigint } = {}): Promise<App> {
  const salt = `0x${Buffer.from(o.salt ?? 'app')
    .toString('hex')
    .padEnd(64, '0')}` as Hex
  const w = wallet(chain, appOwner)
  const appId = (await chain.client.readContract({
    address: appAuth,
    abi: regentAppAuthAbi,
    functionName: 'computeAppId',
    args: [w.account.address, salt],
  })) as Address
  await mined(
    chain,
    w.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'registerApp', args: [salt, o.timelock ?? 0n] }),
  )
  const compose = encoder.encode(
    JSON.stringify({ manifest_version: 2, name: `agent-${o.salt ?? 'app'}`, kms_enabled: true, runner: 'docker-compose' }),
  )
  const composeHash = `0x${Buffer.from(await crypto.subtle.digest('SHA-256', compose)).toString('hex')}` as Hex
  return { appId, compose, composeHash }
}

async function approve(chain: Chain_, appAuth: Address, app: App, o: { compose?: boolean; os?: boolean; kmsRoot?: Address }) {
  const w = wallet(chain, appOwner)
  if (o.compose !== false)
    await mined(
      chain,
      w.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [app.appId, app.composeHash] }),
    )
  if (o.os !== false)
    await mined(
      chain,
      w.writeContract({
        address: appAuth,
        abi: regentAppAuthAbi,
        functionName: 'addOsImage',
        args: [app.appId, osImageHash, measurements],
      }),
    )
  if (o.kmsRoot)
    await mined(
      chain,
      w.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'addKmsRoot', args: [app.appId, o.kmsRoot] }),
    )
}

/** A booted CVM of `app` (local provider for its own boot), used as the quote source of raw requests. */
async function cvmOf(app: App, o: { qe?: DevnetQe.DevnetQe; image?: DevnetTd.OsImage; shape?: DevnetTd.VmShape; vmConfig?: string } = {}) {
  const keyProvider = createLocalKeyProvider({ pki })
  return createCvm({
    compose: app.compose,
    appId: Buffer.from(app.appId.slice(2), 'hex'),
    qe: o.qe ?? qe,
    keyProvider,
    image: o.image,
    shape: o.shape,
    vmConfig: o.vmConfig,
  })
}

/** A vm_config naming `image` (what a host writes; never trusted). */
const vmConfigNaming = (image: Hex) => JSON.stringify({ os_image_hash: image.slice(2), cpu_count: 2, memory_size: 2 ** 31 })

const walletOf = (k256Key: Uint8Array, k256Signature: Uint8Array) => {
  const { key } = GetKey.derive({ appK256Key: k256Key, k256Signature, path: 'wallet/ethereum', purpose: 'signing', algorithm: 'secp256k1' })
  return privateKeyToAccount(`0x${Buffer.from(key).toString('hex')}`).address
}

async function refusal(call: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await call
  } catch (error) {
    if (error instanceof RequestRefusedError) return { status: error.status, code: error.code }
    throw error
  }
  throw new Error('expected a refusal')
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })
  return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } }
}

describe('startKmsNode', () => {
  chainTest('default: an approved CVM gets its app keys, signed by the node root; the release is logged', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth)
    const app = await registerApp(chain, appAuth)
    await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
    const cvm = await cvmOf(app)
    const keys = await createKmsClient({ url: a.url }).releaseKeys({
      attest: (reportData) => cvm.quote({ reportData }),
      vmConfig: cvm.info.vmConfig,
      appId: cvm.info.appId,
    })
    expect(Buffer.from(keys.kmsRootPublicKey).toString('hex')).toBe(Buffer.from(a.identity.k256PublicKey).toString('hex'))
    expect(keys.diskCryptKey.length).toBe(32)
    expect(`0x${Buffer.from(keys.osImageHash).toString('hex')}`).toBe(osImageHash)
    const [entry] = a.log.read()
    expect(entry).toMatchObject({
      seq: 0,
      kind: 'keys',
      outcome: 'released',
      code: '',
      appId: app.appId.slice(2).toLowerCase(),
      instanceId: Buffer.from(cvm.info.instanceId).toString('hex'),
      composeHash: app.composeHash.slice(2),
      prevHash: ReleaseLog.genesisHash,
    })
  })

  chainTest(
    'behavior: every refusal after the quote check names the check that failed, consumes the nonce and is logged',
    async ({ chain }) => {
      const { appAuth } = await deployRegent(chain)
      const a = await node(chain, appAuth)
      const client = createKmsClient({ url: a.url })
      const release = (app: App, o: { qe?: DevnetQe.DevnetQe } = {}) =>
        cvmOf(app, o).then((cvm) =>
          refusal(client.releaseKeys({ attest: (reportData) => cvm.quote({ reportData }), vmConfig: cvm.info.vmConfig })),
        )

      const unregistered: App = {
        ...(await registerApp(chain, appAuth, { salt: 'x' })),
        appId: '0x00000000000000000000000000000000000000aa',
      }
      expect(await release(unregistered)).toEqual({ status: 403, code: 'app.not_registered' })
      const noCompose = await registerApp(chain, appAuth, { salt: 'no-compose' })
      await approve(chain, appAuth, noCompose, { compose: false, kmsRoot: a.identity.address })
      expect(await release(noCompose)).toEqual({ status: 403, code: 'measurement.not_approved' })
      const locked = await registerApp(chain, appAuth, { salt: 'locked', timelock: 3600n })
      await approve(chain, appAuth, locked, { kmsRoot: a.identity.address })
      expect(await release(locked)).toEqual({ status: 403, code: 'measurement.timelock' })
      const noOs = await registerApp(chain, appAuth, { salt: 'no-os' })
      await approve(chain, appAuth, noOs, { os: false, kmsRoot: a.identity.address })
      expect(await release(noOs)).toEqual({ status: 403, code: 'os_image.measurement' })
      const otherKms = await registerApp(chain, appAuth, { salt: 'other-kms' })
      await approve(chain, appAuth, otherKms, { kmsRoot: '0x00000000000000000000000000000000000000bb' })
      expect(await release(otherKms)).toEqual({ status: 403, code: 'kms_root.not_allowed' })

      // The timelock elapses on chain: the same app is now served (no cross-block cache).
      await chain.testClient.increaseTime({ seconds: 3601 })
      await chain.testClient.mine({ blocks: 1 })
      const cvm = await cvmOf(locked)
      await expect(
        client.releaseKeys({ attest: (reportData) => cvm.quote({ reportData }), vmConfig: cvm.info.vmConfig }),
      ).resolves.toBeDefined()

      const entries = a.log.read({ limit: 1000 })
      expect(entries.map((e) => [e.outcome, e.code])).toEqual([
        ['refused', 'app.not_registered'],
        ['refused', 'measurement.not_approved'],
        ['refused', 'measurement.timelock'],
        ['refused', 'os_image.measurement'],
        ['refused', 'kms_root.not_allowed'],
        ['released', ''],
      ])
      expect(ReleaseLog.verify(entries)).toEqual({ ok: true, head: a.log.head().hash })
    },
  )

  chainTest(
    'behavior: replayed nonce, unknown nonce, quote bound to another key, tampered event log, TCB below policy',
    async ({ chain }) => {
      const { appAuth } = await deployRegent(chain)
      const a = await node(chain, appAuth)
      const app = await registerApp(chain, appAuth)
      await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
      const cvm = await cvmOf(app)
      const client = createKmsClient({ url: a.url })
      const build = async (o: { nonce?: Uint8Array; bindKey?: Uint8Array; eventLog?: (log: string) => string } = {}) => {
        const nonce = o.nonce ?? (await client.nonce()).nonce
        const { publicKey } = ReleaseRequest.createKeyPair()
        const q = cvm.quote({
          reportData: ReleaseRequest.toReportData({ purpose: 'keys', ephemeralPublicKey: o.bindKey ?? publicKey, nonce }),
        })
        return ReleaseRequest.serialize({
          quote: q.quote,
          eventLog: o.eventLog ? o.eventLog(q.eventLog) : q.eventLog,
          ephemeralPublicKey: publicKey,
          nonce,
          vmConfig: cvm.info.vmConfig,
        })
      }
      const nonce = (await client.nonce()).nonce
      const body = await build({ nonce })
      expect((await post(`${a.url}/v1/keys`, body)).status).toBe(200)
      expect(await post(`${a.url}/v1/keys`, body)).toMatchObject({ status: 403, body: { error: { code: 'nonce.used' } } })
      expect(await post(`${a.url}/v1/keys`, await build({ nonce: new Uint8Array(32).fill(9) }))).toMatchObject({
        status: 403,
        body: { error: { code: 'nonce.unknown' } },
      })
      expect(await post(`${a.url}/v1/keys`, await build({ bindKey: ReleaseRequest.createKeyPair().publicKey }))).toMatchObject({
        status: 403,
        body: { error: { code: 'quote.binding' } },
      })
      // A quote bound to another key does not spend the nonce it names (anyone could send one): the requester's own
      // request with that nonce is still served.
      const named = (await client.nonce()).nonce
      const wrong = await build({ nonce: named, bindKey: ReleaseRequest.createKeyPair().publicKey })
      expect((await post(`${a.url}/v1/keys`, wrong)).body.error?.code).toBe('quote.binding')
      expect((await post(`${a.url}/v1/keys`, await build({ nonce: named }))).status).toBe(200)
      // A request refused after its quote verified is not retried: its nonce is spent.
      const tampered = await build({
        eventLog: (log) =>
          log.replace(/"event":"compose-hash","event_payload":"[0-9a-f]+"/, `"event":"compose-hash","event_payload":"${'00'.repeat(32)}"`),
      })
      expect((await post(`${a.url}/v1/keys`, tampered)).body.error?.code).toBe('eventlog.replay')
      const spent = JSON.parse(tampered) as { nonce: string }
      expect((await post(`${a.url}/v1/keys`, await build({ nonce: Buffer.from(spent.nonce, 'hex') }))).body.error?.code).toBe('nonce.used')
      // Logged: the requests whose quote verified and bound their nonce; counted only: the others.
      expect(a.log.read().map((e) => [e.outcome, e.code])).toEqual([
        ['released', ''],
        ['released', ''],
        ['refused', 'eventlog.replay'],
      ])
      expect(a.stats().refused).toEqual({ 'nonce.used': 2, 'nonce.unknown': 1, 'quote.binding': 2 })

      const strict = await node(chain, appAuth, { collateral: collateralFor(pki, { platform: { status: 'SWHardeningNeeded' } }) })
      await approve(chain, appAuth, app, { compose: false, os: false, kmsRoot: strict.identity.address })
      expect(
        await refusal(
          createKmsClient({ url: strict.url }).releaseKeys({
            attest: (reportData) => cvm.quote({ reportData }),
            vmConfig: cvm.info.vmConfig,
          }),
        ),
      ).toEqual({
        status: 403,
        code: 'tcb.status',
      })
    },
  )

  chainTest('behavior: a devnet quote is refused as untrusted_root by a node that trusts only Intel', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const intelOnly = await node(chain, appAuth, { trustedRoots: undefined, collateral: collateralFor(pki) })
    const app = await registerApp(chain, appAuth)
    await approve(chain, appAuth, app, { kmsRoot: intelOnly.identity.address })
    const cvm = await cvmOf(app)
    expect(
      await refusal(
        createKmsClient({ url: intelOnly.url }).releaseKeys({
          attest: (reportData) => cvm.quote({ reportData }),
          vmConfig: cvm.info.vmConfig,
        }),
      ),
    ).toEqual({
      status: 403,
      code: 'untrusted_root',
    })
    expect((await createKmsClient({ url: intelOnly.url }).info()).trustedRoots).toEqual([{ name: 'intel', hardware: 'intel' }])
  })

  chainTest('behavior: bad input answers 4xx { error } and changes nothing', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth, { maxBodyBytes: 16_384 })
    const app = await registerApp(chain, appAuth)
    await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
    const cvm = await cvmOf(app)
    const client = createKmsClient({ url: a.url })
    const { nonce } = await client.nonce()
    const head = a.log.head()
    const code = async (path: string, init: RequestInit) => {
      const response = await fetch(`${a.url}${path}`, init)
      const json = (await response.json()) as { error: { code: string; message: string } }
      expect(json.error.message).not.toMatch(/at .*\.ts|node_modules/)
      return [response.status, json.error.code]
    }
    expect(await code('/v1/keys', { method: 'POST', body: '{"quote":' })).toEqual([400, 'request.malformed_json'])
    expect(
      await code('/v1/keys', {
        method: 'POST',
        body: JSON.stringify({ quote: 'zz', eventLog: '[]', ephemeralPublicKey: '00', nonce: ReleaseRequest.toHex(nonce) }),
      }),
    ).toEqual([400, 'request.invalid'])
    expect(
      await code('/v1/keys', {
        method: 'POST',
        body: JSON.stringify({ quote: 'aa', eventLog: '[]', ephemeralPublicKey: '00'.repeat(31), nonce: ReleaseRequest.toHex(nonce) }),
      }),
    ).toEqual([400, 'request.invalid'])
    expect(await code('/v1/keys', { method: 'POST', body: 'x'.repeat(20_000) })).toEqual([413, 'request.too_large'])
    expect(await code('/v1/nonce', { method: 'POST', body: '[1]' })).toEqual([400, 'request.invalid'])
    expect(await code('/v1/nowhere', { method: 'GET' })).toEqual([404, 'route.not_found'])
    expect(await code('/v1/keys', { method: 'GET' })).toEqual([405, 'request.method'])
    expect(await code('/v1/log?from=-1', { method: 'GET' })).toEqual([400, 'request.invalid'])
    expect(await code('/v1/log?limit=100000', { method: 'GET' })).toEqual([400, 'request.invalid'])
    // Nothing changed: no log entry, and the nonce named in the malformed requests is still good.
    expect(a.log.head()).toEqual(head)
    const { publicKey } = ReleaseRequest.createKeyPair()
    const q = cvm.quote({ reportData: ReleaseRequest.toReportData({ purpose: 'keys', ephemeralPublicKey: publicKey, nonce }) })
    const ok = await post(
      `${a.url}/v1/keys`,
      ReleaseRequest.serialize({ quote: q.quote, eventLog: q.eventLog, ephemeralPublicKey: publicKey, nonce, vmConfig: cvm.info.vmConfig }),
    )
    expect(ok.status).toBe(200)
    expect(await fetch(`${a.url}/health`).then((r) => r.json())).toEqual({ ok: true, nodeId: a.nodeId })
  })

  chainTest('behavior: editing any row of the release log database is detected', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const dataDir = tempDir()
    const a = await node(chain, appAuth, { dataDir })
    const app = await registerApp(chain, appAuth)
    await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
    const cvm = await cvmOf(app)
    const client = createKmsClient({ url: a.url })
    for (let i = 0; i < 3; i++) await client.releaseKeys({ attest: (reportData) => cvm.quote({ reportData }), vmConfig: cvm.info.vmConfig })
    const { entries } = await client.log({ from: 0, limit: 10 })
    expect(ReleaseLog.verify(entries).ok).toBe(true)
    await a.close()
    nodes.splice(nodes.indexOf(a), 1)
    const db = new Database(join(dataDir, 'release-log.sqlite'))
    db.prepare("UPDATE release_log SET outcome = 'refused' WHERE seq = 1").run()
    db.close()
    const reopened = ReleaseLog.open({ path: join(dataDir, 'release-log.sqlite') })
    expect(ReleaseLog.verify(reopened.read())).toEqual({ ok: false, seq: 1, reason: 'hash does not match the entry' })
    reopened.close()
  })
})

describe('OS image (MRTD, RTMR0-2 bound to the approved image)', () => {
  chainTest('behavior: a CVM booted from another image that claims the approved one gets nothing', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth)
    const app = await registerApp(chain, appAuth)
    await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
    const client = createKmsClient({ url: a.url })
    const release = (cvm: Awaited<ReturnType<typeof cvmOf>>, vmConfig = cvm.info.vmConfig) =>
      client.releaseKeys({ attest: (reportData) => cvm.quote({ reportData }), vmConfig, appId: cvm.info.appId })
    // The host boots another image and writes the approved image's hash into vm_config.
    const impostor = await cvmOf(app, { image: otherImage, vmConfig: vmConfigNaming(osImageHash) })
    expect(await refusal(release(impostor))).toEqual({ status: 403, code: 'os_image.measurement' })
    // … or tells the truth (or nothing) about it.
    expect(await refusal(release(impostor, vmConfigNaming(`0x${Buffer.from(DevnetTd.osImageHash(otherImage)).toString('hex')}`)))).toEqual({
      status: 403,
      code: 'os_image.measurement',
    })
    expect(await refusal(release(impostor, ''))).toEqual({ status: 403, code: 'os_image.measurement' })
    // The approved image in another published shape is served; an unpublished shape is not.
    const bigger = await cvmOf(app, { shape: DevnetTd.publishedShapes[1] as DevnetTd.VmShape })
    const keys = await release(bigger)
    expect(`0x${Buffer.from(keys.osImageHash).toString('hex')}`).toBe(osImageHash)
    const odd = await cvmOf(app, { shape: { vcpus: 3, memoryMb: 3000 } })
    expect(await refusal(release(odd))).toEqual({ status: 403, code: 'os_image.measurement' })
    // An approved CVM whose host claims another image in vm_config is refused too (a claim never decides).
    const honest = await cvmOf(app)
    expect(await refusal(release(honest, vmConfigNaming(`0x${'11'.repeat(32)}`)))).toEqual({ status: 403, code: 'os_image.measurement' })
    await release(honest)
    expect(a.log.read().map((e) => [e.outcome, e.code])).toEqual([
      ['refused', 'os_image.measurement'],
      ['refused', 'os_image.measurement'],
      ['refused', 'os_image.measurement'],
      ['released', ''],
      ['refused', 'os_image.measurement'],
      ['refused', 'os_image.measurement'],
      ['released', ''],
    ])
  })

  chainTest('behavior: a revoked image, or one still in its timelock, cannot get keys by naming an approved image', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth)
    const app = await registerApp(chain, appAuth, { timelock: 3600n })
    await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
    const owner = wallet(chain, appOwner)
    const other = DevnetTd.published(otherImage)
    const add = (image: DevnetTd.Published) =>
      mined(
        chain,
        owner.writeContract({
          address: appAuth,
          abi: regentAppAuthAbi,
          functionName: 'addOsImage',
          args: [app.appId, image.osImageHash, image.measurements],
        }),
      )
    await add(other)
    await chain.testClient.increaseTime({ seconds: 3601 })
    await chain.testClient.mine({ blocks: 1 })
    const client = createKmsClient({ url: a.url })
    const release = (cvm: Awaited<ReturnType<typeof cvmOf>>) =>
      client.releaseKeys({ attest: (reportData) => cvm.quote({ reportData }), vmConfig: cvm.info.vmConfig })
    const fromOther = (vmConfig: string) => cvmOf(app, { image: otherImage, vmConfig })
    await expect(release(await fromOther(vmConfigNaming(other.osImageHash)))).resolves.toBeDefined()
    // Revoked: its CVMs get nothing, whichever image they name.
    await mined(
      chain,
      owner.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'removeOsImage', args: [app.appId, other.osImageHash] }),
    )
    expect(await refusal(release(await fromOther(vmConfigNaming(osImageHash))))).toEqual({ status: 403, code: 'os_image.measurement' })
    expect(await refusal(release(await fromOther(vmConfigNaming(other.osImageHash))))).toEqual({
      status: 403,
      code: 'os_image.measurement',
    })
    // Approved again: in its timelock, naming the active image does not help.
    await add(other)
    expect(await refusal(release(await fromOther(vmConfigNaming(osImageHash))))).toEqual({ status: 403, code: 'os_image.measurement' })
    expect(await refusal(release(await fromOther(vmConfigNaming(other.osImageHash))))).toEqual({ status: 403, code: 'os_image.timelock' })
    await expect(release(await cvmOf(app))).resolves.toBeDefined()
  })

  chainTest(
    'behavior: a PCK chain with the root left out is anchored by the same rule as attest (not untrusted_root)',
    async ({ chain }) => {
      const { appAuth } = await deployRegent(chain)
      const a = await node(chain, appAuth)
      const app = await registerApp(chain, appAuth)
      await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
      const dropped = await cvmOf(app, { qe: DevnetQe.create({ pki, omitRoot: true }) })
      await expect(
        createKmsClient({ url: a.url }).releaseKeys({
          attest: (reportData) => dropped.quote({ reportData }),
          vmConfig: dropped.info.vmConfig,
        }),
      ).resolves.toBeDefined()
      // Under a node that trusts only Intel the same quote is untrusted_root, as a full chain would be.
      const intelOnly = await node(chain, appAuth, { trustedRoots: undefined })
      await approve(chain, appAuth, app, { compose: false, os: false, kmsRoot: intelOnly.identity.address })
      expect(
        await refusal(
          createKmsClient({ url: intelOnly.url }).releaseKeys({
            attest: (reportData) => dropped.quote({ reportData }),
            vmConfig: dropped.info.vmConfig,
          }),
        ),
      ).toEqual({ status: 403, code: 'untrusted_root' })
    },
  )
})

describe('anonymous callers', () => {
  chainTest(
    'behavior: 300 requests with free nonces, garbage quotes and unique 240 KiB event logs keep nothing: no log row, no cached log, no used nonce',
    async ({ chain }) => {
      const { appAuth } = await deployRegent(chain)
      const a = await node(chain, appAuth)
      const client = createKmsClient({ url: a.url })
      const head = a.log.head()
      const before = a.stats()
      const garbage = ReleaseRequest.toHex(new Uint8Array(4096).fill(0x5a))
      for (let i = 0; i < 300; i++) {
        const { nonce } = await client.nonce()
        const eventLog = JSON.stringify([
          { imr: 3, event_type: 134217729, digest: '', event: `junk-${i}`, event_payload: 'ab'.repeat(120 * 1024) },
        ])
        const body = JSON.stringify({
          quote: garbage,
          eventLog,
          ephemeralPublicKey: ReleaseRequest.toHex(ReleaseRequest.createKeyPair().publicKey),
          nonce: ReleaseRequest.toHex(nonce),
          vmConfig: '{}',
        })
        const answer = await post(`${a.url}/v1/keys`, body)
        expect([answer.status, answer.body.error?.code]).toEqual([403, 'quote.invalid'])
      }
      expect(a.log.head()).toEqual(head)
      expect(before).toEqual({ refused: {}, eventLogs: 0, usedNonces: { keys: 0, onboard: 0 } })
      expect(a.stats()).toEqual({ refused: { 'quote.invalid': 300 }, eventLogs: 0, usedNonces: { keys: 0, onboard: 0 } })
      expect((await client.info()).refused).toEqual({ 'quote.invalid': 300 })
    },
  )

  chainTest('behavior: a vmconfig.invalid 400 consumes no nonce and writes no log entry', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth)
    const app = await registerApp(chain, appAuth)
    await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
    const cvm = await cvmOf(app)
    const { nonce } = await createKmsClient({ url: a.url }).nonce()
    const { publicKey } = ReleaseRequest.createKeyPair()
    const q = cvm.quote({ reportData: ReleaseRequest.toReportData({ purpose: 'keys', ephemeralPublicKey: publicKey, nonce }) })
    const body = (vmConfig: string) =>
      ReleaseRequest.serialize({ quote: q.quote, eventLog: q.eventLog, ephemeralPublicKey: publicKey, nonce, vmConfig })
    for (const vmConfig of ['{', '[]', '{"os_image_hash":"xyz"}'])
      expect(await post(`${a.url}/v1/keys`, body(vmConfig))).toMatchObject({ status: 400, body: { error: { code: 'vmconfig.invalid' } } })
    expect(a.log.read()).toEqual([])
    expect(a.stats().usedNonces.keys).toBe(0)
    expect((await post(`${a.url}/v1/keys`, body(cvm.info.vmConfig))).status).toBe(200)
    expect(a.log.read().map((e) => e.outcome)).toEqual(['released'])
  })

  chainTest('behavior: nonces cannot be exhausted: issuing keeps no state, forged or foreign ones are unknown', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth)
    const b = await node(chain, appAuth)
    const app = await registerApp(chain, appAuth)
    await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
    const client = createKmsClient({ url: a.url })
    const issued: { nonce: Uint8Array }[] = []
    for (let i = 0; i < 20; i++) issued.push(...(await Promise.all(Array.from({ length: 100 }, () => client.nonce()))))
    expect(new Set(issued.map((n) => ReleaseRequest.toHex(n.nonce))).size).toBe(2000)
    expect(a.stats().usedNonces).toEqual({ keys: 0, onboard: 0 })
    const cvm = await cvmOf(app)
    // A nonce of another node, and a nonce with one bit flipped, are unknown here.
    const send = async (nonce: Uint8Array) => {
      const { publicKey } = ReleaseRequest.createKeyPair()
      const q = cvm.quote({ reportData: ReleaseRequest.toReportData({ purpose: 'keys', ephemeralPublicKey: publicKey, nonce }) })
      return post(
        `${a.url}/v1/keys`,
        ReleaseRequest.serialize({
          quote: q.quote,
          eventLog: q.eventLog,
          ephemeralPublicKey: publicKey,
          nonce,
          vmConfig: cvm.info.vmConfig,
        }),
      )
    }
    const foreign = (await createKmsClient({ url: b.url }).nonce()).nonce
    expect((await send(foreign)).body.error?.code).toBe('nonce.unknown')
    const flipped = Uint8Array.from(issued[0]?.nonce ?? [])
    flipped[10] = (flipped[10] ?? 0) ^ 1
    expect((await send(flipped)).body.error?.code).toBe('nonce.unknown')
    const onboardNonce = (await client.nonce({ purpose: 'onboard' })).nonce
    expect((await send(onboardNonce)).body.error?.code).toBe('nonce.unknown')
    expect((await send(issued[1999]?.nonce ?? new Uint8Array(0))).status).toBe(200)
  })

  chainTest('behavior: a request whose headers or body stall is closed within the node timeouts', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth, { headersTimeoutMs: 500, requestTimeoutMs: 1000 })
    const stall = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(a.port, '127.0.0.1', () => socket.write(text))
        let answer = ''
        socket.on('data', (chunk) => {
          answer += chunk.toString('latin1')
        })
        socket.on('close', () => resolve(answer))
        socket.on('error', reject)
      })
    // The body never arrives in full; the headers never end.
    const body = await stall(
      `POST /v1/keys HTTP/1.1\r\nhost: kms\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"quote":`,
    )
    expect(body).toMatch(/^HTTP\/1\.1 408 /)
    const headers = await stall('POST /v1/keys HTTP/1.1\r\nhost: kms\r\n')
    expect(headers).toMatch(/^(HTTP\/1\.1 408 |$)/)
    expect(await fetch(`${a.url}/health`).then((r) => r.status)).toBe(200)
  })
})

describe('onboarding', () => {
  /** A KMS node's own CVM: fixed compose, no instance id, so its boot-time measurement is the same on every host. */
  async function kmsCvm(o: { qe?: DevnetQe.DevnetQe; compose?: string } = {}) {
    const compose = encoder.encode(
      o.compose ?? JSON.stringify({ manifest_version: 2, name: 'regent-kms', no_instance_id: true, runner: 'docker-compose' }),
    )
    const cvm = await createCvm({ compose, qe: o.qe ?? qe, keyProvider: createLocalKeyProvider({ pki }) })
    const attest = (reportData: Uint8Array) => cvm.quote({ reportData })
    const sample = cvm.quote({ reportData: new Uint8Array(64) })
    const verdict = await verifyQuote(sample.quote, { collateral: collateralFor(pki), now: new Date(), trustedRoots: devnetRoots })
    const { mrAggregated } = KeyRelease.bootMeasurements({
      measurements: verdict.measurements as TdxMeasurements,
      eventLog: sample.eventLog,
    })
    return { cvm, attest, mrAggregated: `0x${mrAggregated}` as Hex, vmConfig: cvm.info.vmConfig }
  }

  async function approveKms(chain: Chain_, appAuth: Address, mrAggregated: Hex) {
    const gov = wallet(chain, 0)
    await mined(
      chain,
      gov.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'addKmsMeasurement', args: [mrAggregated] }),
    )
    await mined(
      chain,
      gov.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'addKmsOsImage', args: [osImageHash, measurements] }),
    )
  }

  chainTest('default: A generates, B joins from A, C from B; CVMs on two hosts asking any node get the same wallet', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth)
    const kmsB = await kmsCvm()
    const kmsC = await kmsCvm({ qe: qe2 })
    expect(kmsC.mrAggregated).toBe(kmsB.mrAggregated)
    await approveKms(chain, appAuth, kmsB.mrAggregated)
    const b = await node(chain, appAuth, { join: { url: a.url, attest: kmsB.attest, vmConfig: kmsB.vmConfig } })
    const c = await node(chain, appAuth, { join: { url: b.url, attest: kmsC.attest, vmConfig: kmsC.vmConfig } })
    expect([a.origin, b.origin, c.origin]).toEqual(['generated', 'onboarded', 'onboarded'])
    expect(b.identity.address).toBe(a.identity.address)
    expect(c.identity.address).toBe(a.identity.address)
    expect(a.log.read().map((e) => [e.kind, e.outcome])).toEqual([['onboard', 'released']])

    const app = await registerApp(chain, appAuth)
    await approve(chain, appAuth, app, { kmsRoot: a.identity.address })
    const wallets = new Set<string>()
    for (const [n, host] of [
      [a, qe],
      [b, qe2],
      [c, qe],
      [c, qe2],
    ] as const) {
      const cvm = await cvmOf(app, { qe: host })
      const keys = await createKmsClient({ url: n.url }).releaseKeys({
        attest: (reportData) => cvm.quote({ reportData }),
        vmConfig: cvm.info.vmConfig,
        appId: cvm.info.appId,
      })
      wallets.add(walletOf(keys.k256Key, keys.k256Signature))
    }
    expect(wallets.size).toBe(1)

    // B restarts from its sealed copy; the wrong sealing key does not open it.
    const dataDir = tempDir()
    const d = await node(chain, appAuth, { dataDir, join: { url: a.url, attest: (await kmsCvm()).attest, vmConfig: kmsB.vmConfig } })
    await d.close()
    nodes.splice(nodes.indexOf(d), 1)
    const again = await node(chain, appAuth, { dataDir })
    expect([again.origin, again.identity.address]).toEqual(['unsealed', a.identity.address])
    await expect(
      startKmsNode({ dataDir, sealingKey: new Uint8Array(32), chain: { client: chain.client, appAuth }, collateral: collateralFor(pki) }),
    ).rejects.toThrow(RootKeys.UnsealError)
  })

  chainTest('behavior: a KMS CVM booted from an image outside the KMS table cannot onboard (os_image.measurement)', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth)
    const good = await kmsCvm()
    await approveKms(chain, appAuth, good.mrAggregated)
    const compose = encoder.encode(
      JSON.stringify({ manifest_version: 2, name: 'regent-kms', no_instance_id: true, runner: 'docker-compose' }),
    )
    const impostor = await createCvm({
      compose,
      qe,
      keyProvider: createLocalKeyProvider({ pki }),
      image: otherImage,
      vmConfig: vmConfigNaming(osImageHash),
    })
    expect(await refusal(createKmsClient({ url: a.url }).onboard({ attest: (reportData) => impostor.quote({ reportData }) }))).toEqual({
      status: 403,
      code: 'os_image.measurement',
    })
    await expect(createKmsClient({ url: a.url }).onboard({ attest: good.attest, vmConfig: good.vmConfig })).resolves.toBeDefined()
    expect(a.log.read().map((e) => [e.kind, e.outcome, e.code])).toEqual([
      ['onboard', 'refused', 'os_image.measurement'],
      ['onboard', 'released', ''],
    ])
  })

  chainTest('behavior: an unapproved or time-locked KMS measurement cannot onboard', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain, { kmsTimelock: 3600n })
    const a = await node(chain, appAuth)
    const kmsB = await kmsCvm()
    const join = (k: Awaited<ReturnType<typeof kmsCvm>>) =>
      refusal(createKmsClient({ url: a.url }).onboard({ attest: k.attest, vmConfig: k.vmConfig }))
    const gov = wallet(chain, 0)
    await mined(
      chain,
      gov.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'addKmsOsImage', args: [osImageHash, measurements] }),
    )
    await chain.testClient.increaseTime({ seconds: 3601 })
    await chain.testClient.mine({ blocks: 1 })
    expect(await join(kmsB)).toEqual({ status: 403, code: 'measurement.not_approved' })
    await mined(
      chain,
      gov.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'addKmsMeasurement', args: [kmsB.mrAggregated] }),
    )
    expect(await join(kmsB)).toEqual({ status: 403, code: 'measurement.timelock' })
    const other = await kmsCvm({ compose: JSON.stringify({ manifest_version: 2, name: 'evil-kms', no_instance_id: true }) })
    await chain.testClient.increaseTime({ seconds: 3601 })
    await chain.testClient.mine({ blocks: 1 })
    expect(await join(other)).toEqual({ status: 403, code: 'measurement.not_approved' })
    await expect(createKmsClient({ url: a.url }).onboard({ attest: kmsB.attest, vmConfig: kmsB.vmConfig })).resolves.toBeDefined()
    expect(a.log.read().map((e) => [e.kind, e.outcome, e.code])).toEqual([
      ['onboard', 'refused', 'measurement.not_approved'],
      ['onboard', 'refused', 'measurement.timelock'],
      ['onboard', 'refused', 'measurement.not_approved'],
      ['onboard', 'released', ''],
    ])
  })
})

describe('GET /v1/app-env-key (dstack GetAppEnvEncryptPubKey)', () => {
  chainTest('default: the app env key, signed by the node root in both forms; bad app ids are 400', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const a = await node(chain, appAuth)
    const appId = 'cd'.repeat(20)
    const res = await fetch(`${a.url}/v1/app-env-key?app_id=0x${appId}`)
    const body = (await res.json()) as { public_key: string; signature: string; timestamp: number; signature_v1: string }
    expect(res.status).toBe(200)
    const h = (x: string) => new Uint8Array(Buffer.from(x, 'hex'))
    const app = h(appId)
    expect(
      Buffer.from(EnvEncryption.verifyPublicKey({ publicKey: h(body.public_key), signature: h(body.signature), appId: app })).toString(
        'hex',
      ),
    ).toBe(Buffer.from(a.identity.k256PublicKey).toString('hex'))
    expect(
      Buffer.from(
        EnvEncryption.verifyPublicKey({
          publicKey: h(body.public_key),
          signature: h(body.signature_v1),
          appId: app,
          timestamp: BigInt(body.timestamp),
        }),
      ).toString('hex'),
    ).toBe(Buffer.from(a.identity.k256PublicKey).toString('hex'))
    for (const bad of ['', 'abcd', `0x${'zz'.repeat(20)}`]) {
      const r = await fetch(`${a.url}/v1/app-env-key?app_id=${bad}`)
      expect([r.status, ((await r.json()) as { error: { code: string } }).error.code]).toEqual([400, 'request.invalid'])
    }
  })
})
