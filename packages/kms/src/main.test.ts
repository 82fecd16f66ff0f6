import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type TdxMeasurements, verifyQuote } from '@regent-tee/attest'
import { regentAppAuthAbi } from '@regent-tee/contracts'
import { spawnGuarded } from '@regent-tee/core'
import {
  createCvm,
  createLocalKeyProvider,
  DevnetCollateral,
  DevnetPki,
  DevnetQe,
  DevnetTd,
  type GuestAgent,
  type KeyProvider,
  startGuestAgent,
} from '@regent-tee/devnet'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import { deployRegent, mined, wallet } from '@regent-tee/testing/regent-fixture'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterEach, describe, expect } from 'vitest'
import * as GetKey from './GetKey.js'
import * as KeyRelease from './KeyRelease.js'
import { createKmsClient } from './KmsClient.js'
import { sealingKeyPath } from './main.js'

const entry = fileURLToPath(new URL('../bin/kms-node.mjs', import.meta.url))
const pki = DevnetPki.create()
const devnetRoots = [DevnetPki.trustedRoot(pki)]
const collateral = DevnetCollateral.issue(pki)
const { osImageHash, measurements } = DevnetTd.published(DevnetTd.defaultImage)
const encoder = new TextEncoder()
/** The KMS app's compose: no instance id, so every instance of this build has one boot-time measurement. */
const kmsCompose = encoder.encode(JSON.stringify({ manifest_version: 2, name: 'regent-kms', no_instance_id: true, runner: 'node' }))

const cleanup: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'regent-kms-main-'))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A simulated TDX machine: its QE and the key provider its CVMs boot from (so GetKey is stable on it). */
function machine() {
  return { qe: DevnetQe.create({ pki }), keyProvider: createLocalKeyProvider({ pki }) as KeyProvider }
}

/** Boots the KMS app's CVM on `host` and serves its guest agent on a unix socket. */
async function kmsCvm(host: ReturnType<typeof machine>) {
  const cvm = await createCvm({ compose: kmsCompose, qe: host.qe, keyProvider: host.keyProvider })
  const agent: GuestAgent = await startGuestAgent(cvm, { socketPath: join(tempDir(), 'dstack.sock') })
  cleanup.push(() => agent.close())
  return { cvm, agent }
}

type Ready = { ready: true; url: string; address: Address; k256PublicKey: string; origin: string; nodeId: string }

/** Launches the real entry as a child process, as the devnet host launches a CVM's bundle; resolves on its first line. */
async function launch(o: { agent: GuestAgent; chain: Chain_; config: Record<string, unknown>; dataDir: string }) {
  const configPath = join(tempDir(), 'kms.json')
  writeFileSync(configPath, JSON.stringify(o.config))
  const child = spawnGuarded(process.execPath, [entry], {
    env: {
      PATH: process.env.PATH,
      DSTACK_SIMULATOR_ENDPOINT: o.agent.socketPath,
      PORT: '0',
      REGENT_RPC_URL: o.chain.anvil.rpcUrl,
      REGENT_KMS_CONFIG: configPath,
      REGENT_KMS_DATA: o.dataDir,
    },
  })
  cleanup.push(async () => {
    await child.stop()
  })
  let output: string
  let errors = ''
  child.child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString()
  })
  const lines = createInterface({ input: child.child.stdout })
  const first = await new Promise<string>((resolve) => {
    lines.once('line', resolve)
    lines.once('close', () => resolve(''))
  })
  output = `${first}\n`
  lines.on('line', (line) => {
    output += `${line}\n`
  })
  return { child, first: JSON.parse(first || '{}') as Ready | { ready: false; error: string }, output: () => output + errors }
}

async function deploy(chain: Chain_) {
  const { appAuth } = await deployRegent(chain)
  return appAuth
}

async function registerApp(chain: Chain_, appAuth: Address, kmsRoot: Address) {
  const owner = wallet(chain, 1)
  const salt = `0x${'a1'.repeat(32)}` as Hex
  const appId = (await chain.client.readContract({
    address: appAuth,
    abi: regentAppAuthAbi,
    functionName: 'computeAppId',
    args: [owner.account.address, salt],
  })) as Address
  const compose = encoder.encode(JSON.stringify({ manifest_version: 2, name: 'agent', kms_enabled: true, runner: 'docker-compose' }))
  const composeHash = `0x${Buffer.from(await crypto.subtle.digest('SHA-256', compose)).toString('hex')}` as Hex
  const send = (functionName: string, args: readonly unknown[]) =>
    mined(chain, owner.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args } as never))
  await send('registerApp', [salt, 0n])
  await send('addComposeHash', [appId, composeHash])
  await send('addOsImage', [appId, osImageHash, measurements])
  await send('addKmsRoot', [appId, kmsRoot])
  return { appId, compose }
}

/** The app wallet a CVM of the app gets from the node at `url` (its GetKey wallet/ethereum key). */
async function walletFrom(url: string, app: { appId: Address; compose: Uint8Array }, host: ReturnType<typeof machine>) {
  const cvm = await createCvm({
    compose: app.compose,
    appId: Buffer.from(app.appId.slice(2), 'hex'),
    qe: host.qe,
    keyProvider: createLocalKeyProvider({ pki }),
  })
  const keys = await createKmsClient({ url }).releaseKeys({
    attest: (reportData) => cvm.quote({ reportData }),
    vmConfig: cvm.info.vmConfig,
    appId: cvm.info.appId,
  })
  const { key } = GetKey.derive({
    appK256Key: keys.k256Key,
    k256Signature: keys.k256Signature,
    path: 'wallet/ethereum',
    purpose: 'signing',
  })
  return {
    wallet: privateKeyToAccount(`0x${Buffer.from(key).toString('hex')}`).address,
    kmsRoot: Buffer.from(keys.kmsRootPublicKey).toString('hex'),
  }
}

async function serveCollateral(): Promise<string> {
  const server: Server = createServer((_req, res) => {
    const body = JSON.stringify(collateral)
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  )
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/collateral`
}

/** Every file under `dir`, as one buffer (for "the key is not on disk" checks). */
function allBytes(dir: string): Buffer {
  return Buffer.concat(
    readdirSync(dir, { recursive: true, encoding: 'utf8' }).flatMap((f) => {
      const path = join(dir, f)
      return statSync(path).isFile() ? [readFileSync(path)] : []
    }),
  )
}

describe('kms-node (the KMS as a TEE app)', () => {
  chainTest('default: ready line, key release over HTTP, restart on the same machine unseals the same root', async ({ chain }) => {
    const appAuth = await deploy(chain)
    const host = machine()
    const dataDir = tempDir()
    const config = { appAuth, trustedRootsPem: [pki.root.certificate.pem], collateral }
    const a = await kmsCvm(host)
    const first = await launch({ agent: a.agent, chain, config, dataDir })
    expect(first.first).toMatchObject({ ready: true, origin: 'generated', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) })
    const ready = first.first as Ready
    expect(ready.address).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect(ready.k256PublicKey).toMatch(/^0[23][0-9a-f]{64}$/)

    const app = await registerApp(chain, appAuth, ready.address)
    const released = await walletFrom(ready.url, app, host)
    expect(released.kmsRoot).toBe(ready.k256PublicKey)

    // SIGTERM closes cleanly.
    expect(await first.child.stop()).toBe(0)

    // Nothing secret left the TEE: the sealing key is in no file of the data dir and in no output line.
    const sealingKey = Buffer.from(a.cvm.getKey({ path: sealingKeyPath, purpose: 'sealing' }).key).toString('hex')
    expect(allBytes(dataDir).includes(Buffer.from(sealingKey, 'hex'))).toBe(false)
    expect(first.output()).not.toContain(sealingKey)
    expect(statSync(join(dataDir, 'root-keys.sealed')).mode & 0o777).toBe(0o600)

    // A new boot of the same KMS app on the same machine: same GetKey, so the same root unseals.
    const again = await launch({ agent: (await kmsCvm(host)).agent, chain, config, dataDir })
    expect(again.first).toMatchObject({ ready: true, origin: 'unsealed', address: ready.address, k256PublicKey: ready.k256PublicKey })
    expect((await walletFrom((again.first as Ready).url, app, host)).wallet).toBe(released.wallet)
    expect(await again.child.stop()).toBe(0)

    // On another machine the sealing key differs: the sealed root does not open, and the node says so in one line.
    const elsewhere = await launch({ agent: (await kmsCvm(machine())).agent, chain, config, dataDir })
    expect(elsewhere.first).toEqual({ ready: false, error: 'The sealed root keys do not open: wrong sealing key or altered bytes.' })
    expect(await elsewhere.child.exited).toBe(1)
  })

  chainTest('behavior: a second node onboards from the first once governance approves the KMS measurement', async ({ chain }) => {
    const appAuth = await deploy(chain)
    const hostA = machine()
    const hostB = machine()
    const collateralUrl = await serveCollateral()
    const a = await launch({
      agent: (await kmsCvm(hostA)).agent,
      chain,
      config: { appAuth, trustedRootsPem: [pki.root.certificate.pem], collateralUrl, nodeId: 'kms-a' },
      dataDir: tempDir(),
    })
    const readyA = a.first as Ready
    expect(readyA).toMatchObject({ ready: true, origin: 'generated', nodeId: 'kms-a' })

    const b = await kmsCvm(hostB)
    const joinConfig = { appAuth, trustedRootsPem: [pki.root.certificate.pem], collateralUrl, join: readyA.url }
    const dataDirB = tempDir()
    // Governance (the deployer) approves the KMS OS image, but not yet the measurement: A refuses, B exits 1 naming
    // the refusal and keeps nothing.
    const gov = wallet(chain, 0)
    const governance = (functionName: string, args: readonly unknown[]) =>
      mined(chain, gov.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args } as never))
    await governance('addKmsOsImage', [osImageHash, measurements])
    const refused = await launch({ agent: b.agent, chain, config: joinConfig, dataDir: dataDirB })
    expect(refused.first).toEqual({
      ready: false,
      error: 'KMS refused the request (403 measurement.not_approved): RegentAppAuth refused: Aggregated MR not allowed.',
    })
    expect(await refused.child.exited).toBe(1)
    expect(readdirSync(dataDirB)).not.toContain('root-keys.sealed')

    // Then the KMS measurement (boot-time mr_aggregated of the KMS app's CVM).
    const sample = b.cvm.quote({ reportData: new Uint8Array(64) })
    const verdict = await verifyQuote(sample.quote, { collateral, now: new Date(), trustedRoots: devnetRoots })
    const { mrAggregated } = KeyRelease.bootMeasurements({
      measurements: verdict.measurements as TdxMeasurements,
      eventLog: sample.eventLog,
    })
    await governance('addKmsMeasurement', [`0x${mrAggregated}`])

    const joined = await launch({ agent: b.agent, chain, config: joinConfig, dataDir: dataDirB })
    const readyB = joined.first as Ready
    expect(readyB).toMatchObject({ ready: true, origin: 'onboarded', address: readyA.address, k256PublicKey: readyA.k256PublicKey })
    const log = await createKmsClient({ url: readyA.url }).log()
    expect(log.entries.map((e) => [e.kind, e.outcome, e.code])).toEqual([
      ['onboard', 'refused', 'measurement.not_approved'],
      ['onboard', 'released', ''],
    ])

    // A CVM of an app gets the same wallet from either node.
    const app = await registerApp(chain, appAuth, readyA.address)
    const fromA = await walletFrom(readyA.url, app, hostA)
    const fromB = await walletFrom(readyB.url, app, hostB)
    expect(fromB.wallet).toBe(fromA.wallet)
  })

  chainTest('behavior: a bad environment or config exits 1 with a one-line reason', async ({ chain }) => {
    const { agent } = await kmsCvm(machine())
    const dataDir = tempDir()
    const bad = await launch({
      agent,
      chain,
      config: { appAuth: '0x1234', trustedRootsPem: [pki.root.certificate.pem], collateral },
      dataDir,
    })
    expect(bad.first).toEqual({ ready: false, error: 'Invalid KMS config: appAuth must be an address.' })
    expect(await bad.child.exited).toBe(1)
    const noRoot = await launch({
      agent,
      chain,
      config: { appAuth: '0x00000000000000000000000000000000000000aa', trustedRootsPem: ['x'], collateral },
      dataDir,
    })
    expect(noRoot.first).toEqual({ ready: false, error: 'Invalid KMS config: trustedRootsPem[0] is not a PEM certificate.' })
    expect(readdirSync(dataDir)).toEqual([])
  })
})
