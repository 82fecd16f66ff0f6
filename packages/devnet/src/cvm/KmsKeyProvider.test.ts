import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { regentAppAuthAbi } from '@regent-tee/contracts'
import { SignatureChain, startKmsNode } from '@regent-tee/kms'
import { chainTest } from '@regent-tee/testing/chain'
import { deployRegent, mined, wallet } from '@regent-tee/testing/regent-fixture'
import type { Address, Hex } from 'viem'
import { describe, expect } from 'vitest'
import * as DevnetCollateral from '../tdx/DevnetCollateral.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import * as DevnetQe from '../tdx/DevnetQe.js'
import * as DevnetTd from '../tdx/DevnetTd.js'
import { createCvm } from './Cvm.js'
import { createLocalKeyProvider } from './KeyProvider.js'
import { createKmsKeyProvider } from './KmsKeyProvider.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('createKmsKeyProvider', () => {
  chainTest('default: a CVM boots with app keys from a KMS node; RTMR3 names the KMS; GetKey chains end at its root', async ({ chain }) => {
    const { appAuth } = await deployRegent(chain)
    const dataDir = mkdtempSync(join(tmpdir(), 'regent-kms-provider-'))
    const node = await startKmsNode({
      dataDir,
      sealingKey: new Uint8Array(32).fill(1),
      chain: { client: chain.client, appAuth },
      collateral: DevnetCollateral.issue(pki),
      trustedRoots: [DevnetPki.trustedRoot(pki)],
    })
    try {
      const owner = wallet(chain, 1)
      const salt = `0x${'11'.repeat(32)}` as Hex
      const appId = (await chain.client.readContract({
        address: appAuth,
        abi: regentAppAuthAbi,
        functionName: 'computeAppId',
        args: [owner.account.address, salt],
      })) as Address
      await mined(chain, owner.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName: 'registerApp', args: [salt, 0n] }))
      const compose = new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'agent', kms_enabled: true }))
      const composeHash = `0x${hex(new Uint8Array(await crypto.subtle.digest('SHA-256', compose)))}` as Hex
      const image = DevnetTd.published(DevnetTd.defaultImage)
      for (const [functionName, args] of [
        ['addComposeHash', [composeHash]],
        ['addOsImage', [image.osImageHash, image.measurements]],
        ['addKmsRoot', [node.identity.address]],
      ] as const)
        await mined(chain, owner.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args: [appId, ...args] as never }))

      const keyProvider = await createKmsKeyProvider({ url: node.url, certificates: createLocalKeyProvider({ pki }) })
      const cvm = await createCvm({ compose, appId: Buffer.from(appId.slice(2), 'hex'), qe, keyProvider })
      expect(JSON.parse(cvm.info.keyProviderInfo)).toEqual({ name: 'kms', id: hex(node.identity.caSpki) })
      const { key, signatureChain } = cvm.getKey({ path: 'wallet', purpose: 'signing' })
      const verified = SignatureChain.verify({ key, signatureChain, purpose: 'signing', appId: cvm.info.appId })
      expect(verified.kmsRootAddress).toBe(node.identity.address)
      expect(node.log.read().map((e) => [e.outcome, e.appId])).toEqual([['released', appId.slice(2).toLowerCase()]])

      // An app the chain does not approve does not boot; the refusal code reaches the CVM's error.
      const other = new TextEncoder().encode(JSON.stringify({ manifest_version: 2, name: 'unapproved', kms_enabled: true }))
      await expect(createCvm({ compose: other, appId: Buffer.from(appId.slice(2), 'hex'), qe, keyProvider })).rejects.toThrow(
        'Key request rejected: the KMS refused (measurement.not_approved)',
      )
    } finally {
      await node.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
