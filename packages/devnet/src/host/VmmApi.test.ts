// The devnet's dstack-vmm API against a real host and the probe agent: the VM lifecycle over prpc JSON, env
// encrypted with the OFFICIAL @phala/dstack-sdk helper to the key GetAppEnvEncryptPubKey publishes (and its
// signature checked with the SDK), opened inside the CVM with only allowed_envs kept; bearer auth; bad input
// answered 400 {"error"} with nothing created; the bundle store refuses absent and tampered images.
import { createHash } from 'node:crypto'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encryptEnvVars } from '@phala/dstack-sdk/encrypt-env-vars'
import { verifyEnvEncryptPublicKey } from '@phala/dstack-sdk/verify-env-encrypt-public-key'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createLocalKeyProvider } from '../cvm/KeyProvider.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import * as Bundle from './Bundle.js'
import { createBundleStore } from './BundleStore.js'
import { createHost, type Host } from './Host.js'
import { bundleStoreResolver, startVmmApi, type VmmApi } from './VmmApi.js'

const probe = fileURLToPath(new URL('../../test/fixtures/probe-agent/', import.meta.url))
const token = 'devnet-test-token-0123456789'
const appId = 'ab'.repeat(20)
let dir: string
let host: Host
let vmm: VmmApi
let digest: string
const pki = DevnetPki.create()
const keyProvider = createLocalKeyProvider({ pki })

const composeFor = (image: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify(
    {
      manifest_version: 2,
      name: 'vmm-probe',
      runner: 'docker-compose',
      docker_compose_file: `services:\n  agent:\n    image: ${image}\n`,
      allowed_envs: ['FOO'],
      kms_enabled: true,
      key_provider: 'kms',
      ...extra,
    },
    null,
    2,
  )

async function rpc<T = Record<string, unknown>>(method: string, body: unknown = {}, auth: string | null = token) {
  const res = await fetch(`${vmm.url}/prpc/${method}?json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth === null ? {} : { authorization: `Bearer ${auth}` }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as T }
}

async function waitFor(url: string): Promise<Response> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const res = await fetch(url).catch(() => undefined)
    if (res?.ok) return res
    if (Date.now() > deadline) throw new Error(`${url} did not answer`)
    await new Promise((r) => setTimeout(r, 50)) // the agent is still starting
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-vmm-'))
  host = createHost({ dir, rpcUrl: 'http://127.0.0.1:9', keyProvider, pki, hostUrl: () => 'http://127.0.0.1:9' })
  // The probe agent with its dependencies, assembled into the host's bundle store (the devnet's registry).
  digest = (await host.bundles.assemble({ dir: probe })).digest
  vmm = await startVmmApi({ host, keyProvider, token, resolveImage: bundleStoreResolver(host.bundles) })
})

afterAll(async () => {
  await vmm.close()
  await host.close()
  await rm(dir, { recursive: true, force: true })
})

describe('VM lifecycle', () => {
  test('default: CreateVm with env encrypted by the dstack SDK → running under the pinned app id; only allowed_envs reach the agent', async () => {
    const key = await rpc<{ public_key: string; signature: string; timestamp: number; signature_v1: string }>('GetAppEnvEncryptPubKey', {
      app_id: `0x${appId}`,
    })
    expect(key.status).toBe(200)
    const signer = verifyEnvEncryptPublicKey(
      new Uint8Array(Buffer.from(key.body.public_key, 'hex')),
      new Uint8Array(Buffer.from(key.body.signature_v1, 'hex')),
      appId,
      key.body.timestamp,
    )
    expect(signer).toBe(`0x${Buffer.from(keyProvider.k256PublicKey).toString('hex')}`)
    const encrypted = await encryptEnvVars(
      [
        { key: 'FOO', value: 'from the encrypted env' },
        { key: 'BAR', value: 'not allowed' },
      ],
      key.body.public_key,
    )
    const compose = composeFor(`probe@${digest}`)
    const hash = await rpc<{ hash: string }>('GetComposeHash', { compose_file: compose })
    expect(hash.body.hash).toBe(createHash('sha256').update(compose).digest('hex'))
    const created = await rpc<{ id: string }>('CreateVm', {
      name: 'probe-1',
      image: 'dstack-0.5.8-devnet',
      compose_file: compose,
      app_id: appId,
      encrypted_env: encrypted,
      ports: [{ protocol: 'tcp', host_port: 0, vm_port: 8080, host_address: '127.0.0.1' }],
    })
    expect(created.body).toEqual({ id: expect.any(String) })
    const info = await rpc<{
      found: boolean
      info: { status: string; app_id: string; instance_id: string; configuration: { ports: { host_port: number; vm_port: number }[] } }
    }>('GetInfo', { id: created.body.id })
    expect([info.body.found, info.body.info.status, info.body.info.app_id]).toEqual([true, 'running', appId])
    expect(info.body.info.instance_id).toMatch(/^[0-9a-f]{40}$/)
    const port = info.body.info.configuration.ports[0]
    expect(port?.vm_port).toBe(8080)
    const base = `http://127.0.0.1:${port?.host_port}`
    const foo = (await (await waitFor(`${base}/env?name=FOO`)).json()) as { value: string | null }
    const bar = (await (await fetch(`${base}/env?name=BAR`)).json()) as { value: string | null }
    expect([foo.value, bar.value]).toEqual(['from the encrypted env', null])
    const probed = (await (await fetch(`${base}/probe`)).json()) as { info: { appId: string; composeHash: string } }
    expect([probed.info.appId, probed.info.composeHash]).toEqual([appId, hash.body.hash])

    // Status, logs, stop, start again (a fresh boot of the same VM), remove.
    const status = await rpc<{ vms: { id: string }[]; total: number }>('Status', {})
    expect(status.body.vms.map((v) => v.id)).toContain(created.body.id)
    const logs = await fetch(`${vmm.url}/logs?id=${created.body.id}&lines=5&ch=stdout`, { headers: { authorization: `Bearer ${token}` } })
    expect([logs.status, typeof (await logs.text())]).toEqual([200, 'string'])
    expect((await rpc('StopVm', { id: created.body.id })).status).toBe(200)
    expect((await rpc<{ info: { status: string } }>('GetInfo', { id: created.body.id })).body.info.status).toBe('stopped')
    expect((await rpc('StartVm', { id: created.body.id })).status).toBe(200)
    expect((await rpc<{ info: { status: string } }>('GetInfo', { id: created.body.id })).body.info.status).toBe('running')
    expect((await rpc('RemoveVm', { id: created.body.id })).status).toBe(200)
    expect((await rpc('GetInfo', { id: created.body.id })).body).toEqual({ found: false })
  })
})

describe('bad input', () => {
  test('auth: no token or a wrong one → 401, nothing served', async () => {
    expect((await rpc('Version', {}, null)).status).toBe(401)
    expect((await rpc('Version', {}, 'wrong')).status).toBe(401)
    expect((await rpc('Version')).body).toEqual({ version: '0.5.8', rev: 'regent-devnet' })
  })

  test('400 {"error"} naming the problem; a refused CreateVm leaves no VM', async () => {
    const total = async () => (await rpc<{ total: number }>('Status')).body.total
    const before = await total()
    const cases: [string, unknown, string][] = [
      [
        'CreateVm',
        { name: 'x', compose_file: composeFor('probe:latest') },
        'Image error: image probe:latest is not pinned by digest (name@sha256:<64 hex>).',
      ],
      [
        'CreateVm',
        { name: 'x', compose_file: composeFor(`probe@sha256:${'0'.repeat(64)}`) },
        `Image error: sha256:${'0'.repeat(64)} is not in the devnet bundle store (push the bundle first).`,
      ],
      ['CreateVm', { name: 'x', compose_file: '{"no":"name"}' }, 'compose_file must be an app-compose.json object with a string "name"'],
      [
        'CreateVm',
        { name: 'x', compose_file: composeFor(`probe@${'sha256:'}${'1'.repeat(64)}`), app_id: 'zz' },
        'Field "app_id" must be a hex string',
      ],
      [
        'CreateVm',
        { name: 'bad name!', compose_file: composeFor(`probe@${digest}`) },
        'Field "name" must be a label (letters, digits, . _ -)',
      ],
      [
        'CreateVm',
        { name: 'x', image: 'ubuntu', compose_file: composeFor(`probe@${digest}`) },
        'Image not found: ubuntu (this host offers dstack-0.5.8-devnet)',
      ],
      [
        'CreateVm',
        { name: 'x', compose_file: composeFor(`probe@${digest}`), app_id: appId, encrypted_env: 'ab'.repeat(80) },
        'Invalid encrypted env: the encrypted env does not open with this app’s env key.',
      ],
      ['StartVm', { id: 'nope' }, 'VM not found: nope'],
      ['GetAppEnvEncryptPubKey', { app_id: 'abcd' }, 'app_id must be 20 bytes'],
      ['CreateVm', '[1]', 'The JSON body must be an object'],
      ['CreateVm', '{"name":', 'Invalid JSON body'],
    ]
    for (const [method, body, message] of cases)
      expect([method, await rpc(method, body)]).toEqual([method, { status: 400, body: { error: message } }])
    expect(await total()).toBe(before)
    expect((await rpc('Nope')).status).toBe(404)
    const protobuf = await fetch(`${vmm.url}/prpc/Version`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: 'x',
    })
    expect([protobuf.status, await protobuf.json()]).toEqual([
      400,
      { error: 'protobuf bodies are not supported by the devnet VMM: send JSON (?json)' },
    ])
    const logs = await fetch(`${vmm.url}/logs?id=nope`, { headers: { authorization: `Bearer ${token}` } })
    expect([logs.status, await logs.text()]).toEqual([404, 'VM not found'])
    expect((await rpc('GetInfo', { id: 'nope' })).body).toEqual({ found: false })
  })
})

describe('bundleStoreResolver', () => {
  test('an image is the store directory of its digest, pushed (and digested) first; absent and malformed digests are refused', async () => {
    const store = createBundleStore({ dir: join(dir, 'bundles-resolver') })
    const src = join(dir, 'src-bundle')
    await cp(probe, src, { recursive: true })
    const d = await Bundle.digest(src)
    const resolve = bundleStoreResolver(store)
    await expect(resolve(d)).rejects.toThrow(`Image error: ${d} is not in the devnet bundle store (push the bundle first).`)
    expect(await store.put(src)).toBe(d)
    expect(await resolve(d)).toBe(join(store.dir, d.slice('sha256:'.length)))
    await expect(resolve('sha256:xyz')).rejects.toThrow('is not a sha256 digest')
  })
})
