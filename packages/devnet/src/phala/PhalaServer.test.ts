/**
 * The Phala Cloud stand-in driven by the OFFICIAL client, `@phala/cloud` 0.2.9: every response below goes through the
 * client's own zod schemas (a wrong shape fails the action), errors through its error classes. Central-KMS mode end to
 * end: provision → env key (signature checked with the client's dstack helper) → encrypted env → commit → the state
 * stream → a running devnet CVM whose env the CVM itself decrypted → attestation → update → stop → delete.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  AuthError,
  BusinessError,
  type Client,
  commitCvmProvision,
  createClient,
  deleteCvm,
  encryptEnvVars,
  getAppEnvEncryptPubKey,
  getAvailableNodes,
  getCurrentUser,
  getCvmAttestation,
  getCvmContainersStats,
  getCvmInfo,
  getCvmState,
  patchCvm,
  provisionCvm,
  ResourceError,
  stopCvm,
  ValidationError,
  verifyEnvEncryptPublicKey,
  watchCvmState,
} from '@phala/cloud'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { waitForHttp } from '../../test/http.js'
import { type Devnet, startDevnet } from '../Devnet.js'
import * as AppCompose from './AppCompose.js'

const probe = fileURLToPath(new URL('../../test/fixtures/probe-agent/', import.meta.url))

let devnet: Devnet
let client: Client
let digest: string

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'regent-phala-'))
  devnet = await startDevnet({ dir })
  client = createClient({ baseURL: devnet.file.phalaApiUrl as string, apiKey: devnet.file.phalaApiKey as string })
  digest = (await devnet.host.bundles.assemble({ dir: probe })).digest // the probe with its dependencies, in the registry
}, 120_000)
afterAll(async () => {
  await devnet?.stop()
})

const dockerCompose = () => `services:\n  agent:\n    image: probe-agent@${digest}\n`

describe('Phala Cloud stand-in', () => {
  test('default: auth, nodes and KMS list parse with the official schemas', async () => {
    expect(devnet.file.phalaApiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/)
    const me = await getCurrentUser(client)
    expect(me).toMatchObject({ user: { username: 'regent-devnet' }, workspace: { slug: 'regent-devnet' } })
    const nodes = await getAvailableNodes(client)
    expect(nodes.nodes[0]).toMatchObject({ teepod_id: 1, support_onchain_kms: true })
    expect(nodes.kms_list.map((k) => k.slug)).toEqual(['phala-devnet', 'base-devnet'])
    expect(nodes.kms_list[1]).toMatchObject({ chain_id: devnet.file.chainId, kms_contract_address: devnet.file.dstackKms })
  })

  test('behavior: a wrong key is an AuthError (401) and changes nothing', async () => {
    const stranger = createClient({ baseURL: devnet.file.phalaApiUrl as string, apiKey: 'phak_wrong' })
    await expect(getCurrentUser(stranger)).rejects.toBeInstanceOf(AuthError)
    await expect(getCurrentUser(stranger)).rejects.toMatchObject({ status: 401 })
  })

  test('behavior: a bad provision is a ValidationError (422) naming the field; a missing node a ResourceError (404)', async () => {
    const bad = client.post('/cvms/provision', { name: '1bad', compose_file: { docker_compose_file: dockerCompose() } })
    await expect(bad).rejects.toBeInstanceOf(ValidationError)
    await expect(bad).rejects.toMatchObject({ status: 422, validationErrors: [{ field: 'name' }] })
    const missing = provisionCvm(client, { name: 'agent-nowhere', node_id: 9, compose_file: { docker_compose_file: dockerCompose() } })
    await expect(missing).rejects.toBeInstanceOf(ResourceError)
    await expect(missing).rejects.toMatchObject({ status: 404, errorCode: 'ERR-01-001' })
  })

  test('default: provision → env key → commit → running CVM with the env it decrypted → attestation → update → delete', async () => {
    const provision = await provisionCvm(client, {
      name: 'probe-central',
      compose_file: { docker_compose_file: dockerCompose(), allowed_envs: ['PROBE_SECRET'] },
    })
    expect(provision.app_id).toMatch(/^[0-9a-f]{40}$/)
    const appId = provision.app_id as string
    // The server serialized the app-compose: its hash, not the hash of any client-side form.
    const expected = AppCompose.serialize(
      AppCompose.build({ docker_compose_file: dockerCompose(), allowed_envs: ['PROBE_SECRET'] }, { name: 'probe-central' }),
    )
    expect(provision.compose_hash).toBe(AppCompose.hash(expected))

    const key = await getAppEnvEncryptPubKey(client, { kms: 'phala-devnet', app_id: appId })
    expect(key.public_key).toBe(provision.app_env_encrypt_pubkey)
    const signer = await verifyEnvEncryptPublicKey(Buffer.from(key.public_key, 'hex'), Buffer.from(key.signature, 'hex'), appId)
    expect(signer).toBe(`0x${(provision.kms_info as unknown as { k256_pubkey: string }).k256_pubkey}`)

    const encrypted = await encryptEnvVars(
      [
        { key: 'PROBE_SECRET', value: 'sealed-to-the-app' },
        { key: 'NOT_ALLOWED', value: 'x' },
      ],
      key.public_key,
    )
    const vm = await commitCvmProvision(client, { app_id: appId, compose_hash: provision.compose_hash, encrypted_env: encrypted })
    expect(vm).toMatchObject({ app_id: appId, status: 'starting', teepod_id: 1 })
    const uuid = vm.vm_uuid as string

    const events: string[] = []
    const state = await watchCvmState(
      client,
      { id: uuid, target: 'running', interval: 5, timeout: 60, maxRetries: 1 },
      { onEvent: (e) => events.push(e.type) },
    )
    expect(state).toMatchObject({ status: 'running' })
    expect(events).toContain('complete')
    expect(await getCvmState(client, { id: uuid })).toMatchObject({ status: 'running', boot_progress: 'done' })

    const info = await getCvmInfo(client, { id: uuid })
    expect(info).toMatchObject({ app_id: appId, compose_hash: provision.compose_hash, kms_type: 'phala', status: 'running' })
    const url = (info as { endpoints: { app: string }[] }).endpoints[0]?.app as string
    await waitForHttp(`${url}/`) // "running" is the VM; the app inside starts listening after
    const env = async (name: string) => ((await (await fetch(`${url}/env?name=${name}`)).json()) as { value: string | null }).value
    expect(await env('PROBE_SECRET')).toBe('sealed-to-the-app')
    expect(await env('NOT_ALLOWED')).toBeNull() // dropped by the CVM: not in allowed_envs

    const attestation = await getCvmAttestation(client, { id: uuid })
    expect(attestation.is_online).toBe(true)
    expect(AppCompose.hash(new TextEncoder().encode(attestation.tcb_info?.app_compose))).toBe(provision.compose_hash)
    expect(attestation.app_certificates?.[0]?.quote).toMatch(/^[0-9a-f]+$/)
    expect(attestation.tcb_info?.event_log.some((e) => e.event === 'compose-hash' && e.event_payload === provision.compose_hash)).toBe(true)

    const composition = await getCvmContainersStats(client, { id: uuid })
    const logs = await fetch(composition.containers?.[0]?.log_endpoint as string)
    expect(logs.status).toBe(200)

    // Central KMS: an update needs no on-chain registration.
    const update = await patchCvm(client, { id: uuid, public_logs: false })
    expect(update).toMatchObject({ requiresOnChainHash: false })
    await watchCvmState(client, { id: uuid, target: 'running', interval: 5, timeout: 60, maxRetries: 1 })
    const updated = await getCvmInfo(client, { id: uuid })
    expect(updated.compose_hash).not.toBe(provision.compose_hash)

    // A second CVM of the same app is a conflict (409) until this one is gone.
    const again = commitCvmProvision(client, { app_id: appId, compose_hash: provision.compose_hash })
    await expect(again).rejects.toBeInstanceOf(BusinessError)

    expect(await stopCvm(client, { id: uuid })).toMatchObject({ status: 'stopped' })
    await deleteCvm(client, { id: uuid })
    await expect(getCvmInfo(client, { id: uuid })).rejects.toMatchObject({ status: 404, errorCode: 'ERR-03-001' })
  }, 120_000)
})
