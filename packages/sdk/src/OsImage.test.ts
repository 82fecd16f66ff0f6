// OsImage against real devnet quotes and RegentAppAuth on anvil: the quote's MRTD/RTMR0–2 decide which approved image
// an instance runs, never the os-image-hash it names; and the same check stops an uplift target before a key leaves.
import { type TdxMeasurements, verifyQuote } from '@regent-tee/attest'
import { deployRegent, regentAppAuthAbi } from '@regent-tee/contracts'
import { createCvm, createLocalKeyProvider, DevnetCollateral, DevnetPki, DevnetQe, DevnetTd, startGuestAgent } from '@regent-tee/devnet'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import { type Address, getAddress, type Hex, zeroAddress } from 'viem'
import { describe, expect, test } from 'vitest'
import { createTeeClient } from './createTeeClient.js'
import { deriveWallet } from './Keys.js'
import * as OsImage from './OsImage.js'
import { http } from './transports/http.js'
import { createSourceHello, createTargetHello } from './uplift/Hello.js'
import { verifyTarget } from './uplift/VerifyTarget.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const collateral = DevnetCollateral.issue(pki)
const trustedRoots = [DevnetPki.trustedRoot(pki)]
const compose = new TextEncoder().encode('{"kms_enabled":true,"manifest_version":2,"name":"os-image","runner":"docker-compose"}')
const image = DevnetTd.published(DevnetTd.defaultImage)
const otherImage: DevnetTd.OsImage = { ...DevnetTd.defaultImage, version: '0.5.5-evil', cmdline: 'console=ttyS0 init=/evil' }
const other = DevnetTd.published(otherImage)
const w = (chain: Chain_, i: number) => chain.wallets[i] as Chain_['wallets'][number]

/** RegentAppAuth with an app of owner 1 (timelock `timelock`) approving the compose and `images`. */
async function app(chain: Chain_, options: { timelock?: bigint } = {}) {
  const { contracts } = await deployRegent(w(chain, 0), chain.client)
  const owner = w(chain, 1)
  const salt = `0x${'0a'.repeat(32)}` as Hex
  const appId = (await chain.client.readContract({
    address: contracts.appAuth,
    abi: regentAppAuthAbi,
    functionName: 'computeAppId',
    args: [owner.account.address, salt],
  })) as Address
  const send = async (functionName: string, args: readonly unknown[]) =>
    chain.client.waitForTransactionReceipt({
      hash: await owner.writeContract({ address: contracts.appAuth, abi: regentAppAuthAbi, functionName, args } as never),
    })
  await send('registerApp', [salt, options.timelock ?? 0n])
  return { appAuth: contracts.appAuth, appId, send }
}

/** A CVM of `appId` booted from `bootImage` whose host names `named` in vm_config; its verified quote's registers. */
async function measured(appId: Address, bootImage: DevnetTd.OsImage, named: Hex) {
  const cvm = await createCvm({
    compose,
    appId: Buffer.from(appId.slice(2), 'hex'),
    qe,
    keyProvider,
    image: bootImage,
    vmConfig: JSON.stringify({ os_image_hash: named.slice(2) }),
  })
  const { quote } = cvm.quote({ reportData: new Uint8Array(64) })
  const verdict = await verifyQuote(quote, { collateral, now: new Date(), trustedRoots })
  return { cvm, measurements: verdict.measurements as TdxMeasurements }
}

describe('mrSystem', () => {
  test('default: SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ 0³²), as the devnet image publishes it', () => {
    const m = DevnetTd.measurements(DevnetTd.defaultImage)
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
    expect(OsImage.mrSystem({ mrTd: hex(m.mrTd), rtmr0: hex(m.rtmr0), rtmr1: hex(m.rtmr1), rtmr2: hex(m.rtmr2) })).toBe(
      `0x${hex(DevnetTd.mrSystem(m))}`,
    )
    expect(() => OsImage.mrSystem({ mrTd: '00', rtmr0: '', rtmr1: '', rtmr2: '' })).toThrowError(
      'Invalid measurement: mrTd must be 48 bytes of hex.',
    )
  })
})

describe('verifyOsImage', () => {
  chainTest('default: the approved image is found by the quote’s registers', async ({ chain }) => {
    const a = await app(chain)
    await a.send('addOsImage', [a.appId, image.osImageHash, image.measurements])
    const { measurements } = await measured(a.appId, DevnetTd.defaultImage, image.osImageHash)
    expect(
      await OsImage.verifyOsImage(chain.client, { appAuth: a.appAuth, appId: a.appId, measurements, claimed: image.osImageHash }),
    ).toEqual({
      ok: true,
      osImageHash: image.osImageHash,
      reason: undefined,
    })
    // The KMS table (app id 0) is another table.
    const kms = await OsImage.verifyOsImage(chain.client, { appAuth: a.appAuth, appId: zeroAddress, measurements })
    expect(kms.reason?.code).toBe('os_image.measurement')
  })

  chainTest(
    'behavior: another image claiming the approved one, a revoked image, and one in its timelock are refused',
    async ({ chain }) => {
      const a = await app(chain, { timelock: 3600n })
      await a.send('addOsImage', [a.appId, image.osImageHash, image.measurements])
      await chain.testClient.increaseTime({ seconds: 3600 })
      await chain.testClient.mine({ blocks: 1 })
      const impostor = await measured(a.appId, otherImage, image.osImageHash)
      const check = (measurements: TdxMeasurements, claimed?: Hex) =>
        OsImage.verifyOsImage(chain.client, { appAuth: a.appAuth, appId: a.appId, measurements, claimed }).then(
          (r) => r.reason?.code ?? 'ok',
        )
      expect(await check(impostor.measurements, image.osImageHash)).toBe('os_image.measurement')
      expect(await check(impostor.measurements)).toBe('os_image.measurement')
      await a.send('addOsImage', [a.appId, other.osImageHash, other.measurements]) // pending for an hour
      expect(await check(impostor.measurements, image.osImageHash)).toBe('os_image.measurement')
      expect(await check(impostor.measurements, other.osImageHash)).toBe('os_image.measurement')
      await chain.testClient.increaseTime({ seconds: 3600 })
      await chain.testClient.mine({ blocks: 1 })
      expect(await check(impostor.measurements, other.osImageHash)).toBe('ok')
      expect(await check(impostor.measurements, image.osImageHash)).toBe('os_image.measurement') // the claim must agree
      await a.send('removeOsImage', [a.appId, other.osImageHash])
      expect(await check(impostor.measurements, image.osImageHash)).toBe('os_image.measurement')
    },
  )
})

describe('checker (verifyTarget)', () => {
  chainTest(
    'behavior: an uplift target booted from another image that claims the approved one is refused before any key leaves',
    async ({ chain }) => {
      const a = await app(chain)
      await a.send('addOsImage', [a.appId, image.osImageHash, image.measurements])
      const sourceHello = createSourceHello({
        agentId: 7n,
        chainId: 31337,
        contracts: { succession: '0x00000000000000000000000000000000000000aa' },
        mode: 'import',
        source: getAddress('0x0000000000000000000000000000000000000bbb'),
      })
      const run = async (bootImage: DevnetTd.OsImage) => {
        const { cvm } = await measured(a.appId, bootImage, image.osImageHash)
        const agent = await startGuestAgent(cvm, { port: 0 })
        try {
          const client = createTeeClient({ transport: http({ url: agent.url as string }) })
          const { hello } = await createTargetHello(client, {
            sourceHello,
            targetUrl: 'http://127.0.0.1:9/uplift',
            wallet: (await deriveWallet(client)).address,
          })
          return verifyTarget({
            sourceHello,
            targetHello: hello,
            collateral,
            trustedRoots,
            now: new Date(),
            osImage: OsImage.checker(chain.client, { appAuth: a.appAuth, appId: a.appId }),
          })
        } finally {
          await agent.close()
        }
      }
      const impostor = await run(otherImage)
      expect(impostor.quote?.app?.osImageHash && `0x${Buffer.from(impostor.quote.app.osImageHash).toString('hex')}`).toBe(image.osImageHash)
      expect([impostor.ok, impostor.reasons.map((r) => r.code), impostor.target]).toEqual([false, ['os_image.measurement'], undefined])
      const genuine = await run(DevnetTd.defaultImage)
      expect([genuine.ok, genuine.reasons]).toEqual([true, []])
    },
  )
})
