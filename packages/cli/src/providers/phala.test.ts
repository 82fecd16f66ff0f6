/**
 * A hostile Phala Cloud (the stand-in with its faults on) against the provider's checks: a swapped env key, an
 * attestation whose app_compose is not the measured one, and a quote of another app — each refused with a typed
 * error before any secret is encrypted or the instance is trusted.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commitCvmProvision, provisionCvm } from '@phala/cloud'
import { createTrustedRoot } from '@regent-tee/attest'
import { type Devnet, startDevnet } from '@regent-tee/devnet'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import * as Phala from './phala.js'

const probe = fileURLToPath(new URL('../../../devnet/test/fixtures/probe-agent/', import.meta.url))
let devnet: Devnet
let client: ReturnType<typeof Phala.clientOf>
let cvm: { id: string; appId: string; composeHash: string; kmsRoot: string }

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'regent-phala-provider-'))
  devnet = await startDevnet({ dir })
  client = Phala.clientOf(Phala.envOf({ PHALA_CLOUD_API_KEY: devnet.file.phalaApiKey, PHALA_CLOUD_API_PREFIX: devnet.file.phalaApiUrl }))
  const digest = (await devnet.host.bundles.assemble({ dir: probe })).digest // the probe with its dependencies, in the registry
  const p = await provisionCvm(client, {
    name: 'probe-hostile',
    compose_file: { docker_compose_file: `services:\n  agent:\n    image: probe@${digest}\n` },
  })
  const vm = await commitCvmProvision(client, { app_id: p.app_id as string, compose_hash: p.compose_hash })
  cvm = {
    id: vm.vm_uuid as string,
    appId: p.app_id as string,
    composeHash: p.compose_hash,
    kmsRoot: (p.kms_info as unknown as { k256_pubkey: string }).k256_pubkey,
  }
  await Phala.waitRunning(client, cvm.id, { timeoutSeconds: 60 })
}, 120_000)
afterAll(async () => {
  await devnet?.stop()
})

const verify = async () =>
  Phala.verifyAttestation(client, {
    id: cvm.id,
    appId: cvm.appId,
    composeHash: cvm.composeHash,
    trustedRoots: [createTrustedRoot({ name: 'devnet', pem: devnet.file.rootCa })],
    collateral: devnet.host.collateral,
  })
const code = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: { code?: string }) => e.code,
  )

describe('Phala provider against a hostile cloud', () => {
  test('default: the honest attestation verifies (devnet hardware, the approved compose hash)', async () => {
    expect(await verify()).toMatchObject({ hardware: 'devnet', appId: cvm.appId, composeHash: cvm.composeHash })
    expect(await Phala.verifiedEnvKey(client, { kms: 'phala-devnet', appId: cvm.appId, kmsRoot: cvm.kmsRoot })).toMatch(/^[0-9a-f]{64}$/)
  })

  test('behavior: an env key not signed by the KMS root is refused (phala.env_key) before anything is encrypted', async () => {
    devnet.phala.cloud.faults.swapEnvKey = true
    try {
      expect(await code(Phala.verifiedEnvKey(client, { kms: 'phala-devnet', appId: cvm.appId, kmsRoot: cvm.kmsRoot }))).toBe(
        'phala.env_key',
      )
    } finally {
      devnet.phala.cloud.faults.swapEnvKey = false
    }
  })

  test('behavior: an attested app_compose other than the approved bytes is refused (phala.attestation_app_compose)', async () => {
    devnet.phala.cloud.faults.alterAttestedCompose = true
    try {
      expect(await code(verify())).toBe('phala.attestation_app_compose')
    } finally {
      devnet.phala.cloud.faults.alterAttestedCompose = false
    }
  })

  test("behavior: another app's quote is refused (phala.attestation_app)", async () => {
    devnet.phala.cloud.faults.attestationFrom = devnet.kms[0]?.cvmId
    try {
      expect(await code(verify())).toBe('phala.attestation_app')
    } finally {
      devnet.phala.cloud.faults.attestationFrom = undefined
    }
  })

  test('behavior: an attestation under a root the caller does not trust is refused (phala.attestation_quote)', async () => {
    const { intelSgxRootCa } = await import('@regent-tee/attest')
    const r = Phala.verifyAttestation(client, {
      id: cvm.id,
      appId: cvm.appId,
      composeHash: cvm.composeHash,
      trustedRoots: [intelSgxRootCa],
      collateral: devnet.host.collateral,
    })
    expect(await code(r)).toBe('phala.attestation_quote')
  })
})

describe('regent doctor: phala check', () => {
  test('default: a good key and prefix pass; a wrong key says what is wrong; nothing set reports nothing', async () => {
    const { phalaCheck } = await import('../commands/doctor.js')
    const good = { PHALA_CLOUD_API_KEY: devnet.file.phalaApiKey, PHALA_CLOUD_API_PREFIX: devnet.file.phalaApiUrl }
    expect(await phalaCheck(good)).toMatchObject([{ check: 'phala', ok: true }])
    const bad = await phalaCheck({ ...good, PHALA_CLOUD_API_KEY: 'phak_wrong' })
    expect(bad).toMatchObject([{ check: 'phala', ok: false }])
    expect(bad[0]?.detail).toContain('refused the API key (HTTP 401)')
    expect(await phalaCheck({ PHALA_CLOUD_API_PREFIX: devnet.file.phalaApiUrl })).toMatchObject([
      { ok: false, detail: 'PHALA_CLOUD_API_KEY is not set' },
    ])
    expect(await phalaCheck({})).toEqual([])
  })
})
