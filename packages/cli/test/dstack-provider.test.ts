/**
 * The dstack provider (providers/dstack.ts) against the devnet's dstack-vmm API: the public-URL rule, the KMS-root
 * check of the env key (a VMM whose KMS is not the one the app trusts is refused before anything is created), the
 * bearer token, and the VMM's own errors surfacing as `dstack.request_failed`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1'
import { createHost, createLocalKeyProvider, DevnetPki, type Host, ImageError, startVmmApi, type VmmApi } from '@regent-tee/devnet'
import { toHex } from 'viem'
import { publicKeyToAddress } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CliError } from '../src/errors.js'
import { dstack, publicUrl } from '../src/providers/dstack.js'

const pki = DevnetPki.create()
const keyProvider = createLocalKeyProvider({ pki })
const rootAddress = publicKeyToAddress(toHex(secp256k1.ProjectivePoint.fromHex(keyProvider.k256PublicKey).toRawBytes(false)))
const compose = new TextEncoder().encode(
  JSON.stringify({
    manifest_version: 2,
    name: 'p',
    runner: 'docker-compose',
    docker_compose_file: `services:\n  a:\n    image: p@sha256:${'a'.repeat(64)}\n`,
    key_provider: 'kms',
  }),
)
let dir: string
let host: Host
let vmm: VmmApi

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regent-dstack-provider-'))
  host = createHost({ dir, rpcUrl: 'http://127.0.0.1:9', keyProvider, pki, hostUrl: () => 'http://127.0.0.1:9' })
  vmm = await startVmmApi({
    host,
    keyProvider,
    token: 'provider-test-token',
    resolveImage: async (d) => {
      throw new ImageError({ reason: `${d} is not in this host's store` })
    },
  })
})
afterAll(async () => {
  await vmm.close()
  await host.close()
  await rm(dir, { recursive: true, force: true })
})

const code = (error: unknown) => (error instanceof CliError ? [error.code, error.shortMessage] : [String(error)])
const launch = (p: ReturnType<typeof dstack>): Promise<unknown[]> =>
  p.launch({ compose, bundle: dir, appId: `0x${'cd'.repeat(20)}`, env: { FOO: 'bar' } }).then((t) => [t.id], code)

describe('dstack provider', () => {
  test('behavior: the env key must be signed by the KMS root the app trusts', async () => {
    const other = publicKeyToAddress(toHex(secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), false)))
    expect(await launch(dstack({ vmmUrl: vmm.url, token: 'provider-test-token', kmsRoot: other }))).toEqual([
      'dstack.env_key',
      'the app env key from the VMM is not signed by the expected KMS root',
    ])
    // The right root passes the key check; the VMM then refuses the image it cannot resolve (its message surfaces).
    const right = dstack({ vmmUrl: vmm.url, token: 'provider-test-token', kmsRoot: rootAddress })
    expect(await launch(right)).toEqual([
      'dstack.request_failed',
      `CreateVm: Image error: sha256:${'a'.repeat(64)} is not in this host's store.`,
    ])
    expect(right.lastEnvKey?.signer).toBe(`0x${Buffer.from(keyProvider.k256PublicKey).toString('hex')}`)
  })

  test('behavior: a wrong or missing token is dstack.unauthorized; an unreachable VMM is dstack.unreachable', async () => {
    expect((await launch(dstack({ vmmUrl: vmm.url, token: 'nope' })))[0]).toBe('dstack.unauthorized')
    expect((await launch(dstack({ vmmUrl: vmm.url })))[0]).toBe('dstack.unauthorized')
    expect((await launch(dstack({ vmmUrl: 'http://127.0.0.1:9', timeoutMs: 2_000 })))[0]).toBe('dstack.unreachable')
  })

  test('publicUrl: gateway form, then app_url, then the port mapping; none is an error', () => {
    const info = { id: 'vm', name: 'n', status: 'running', app_id: 'ab', instance_id: '1691ed1b47506cad7d08834668691d88246f5b1f' }
    expect(publicUrl(info, { gateway: { base_domain: 'dstack.example', port: 443 } }, 8080)).toBe(
      'https://1691ed1b47506cad7d08834668691d88246f5b1f-8080.dstack.example',
    )
    expect(publicUrl(info, { gateway: { base_domain: 'dstack.example', port: 9443 } }, 8080)).toBe(
      'https://1691ed1b47506cad7d08834668691d88246f5b1f-8080.dstack.example:9443',
    )
    expect(publicUrl({ ...info, app_url: 'https://x.example' }, {}, 8080)).toBe('https://x.example')
    const mapped = { ...info, configuration: { ports: [{ protocol: 'tcp', host_port: 31000, vm_port: 8080, host_address: '10.0.0.2' }] } }
    expect(publicUrl(mapped, {}, 8080)).toBe('http://10.0.0.2:31000')
    expect(() => publicUrl(info, {}, 8080)).toThrow('VM vm has neither a gateway URL nor a port mapping for port 8080')
  })
})
