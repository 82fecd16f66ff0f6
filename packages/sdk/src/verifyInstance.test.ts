// verifyInstance from the outside: a real devnet CVM and guest agent (in-process), an HTTP server on loopback that
// serves the agent's identity bundle (docs/protocol.md "Identity endpoint"), and the real contracts on anvil with the
// agent registered in ERC-8004, its app and compose hash approved, enrolled, and a checkpoint committed.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { deployRegent, regentAppAuthAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import {
  createCvm,
  createLocalKeyProvider,
  DevnetCollateral,
  DevnetPki,
  DevnetQe,
  DevnetTd,
  type GuestAgent,
  startGuestAgent,
} from '@regent-tee/devnet'
import { SignatureChain } from '@regent-tee/kms'
import { type Chain_, chainTest, testAccounts } from '@regent-tee/testing/chain'
import Database from 'better-sqlite3'
import { type Address, createWalletClient, encodeAbiParameters, getAddress, type Hex, keccak256, http as viemHttp, zeroHash } from 'viem'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import * as Checkpoint from './Checkpoint.js'
import { commitState } from './chain/commitState.js'
import { enroll } from './chain/enroll.js'
import { registerAgent } from './chain/registerAgent.js'
import { signSuccessionCertificate } from './chain/signSuccessionCertificate.js'
import type { RegentContracts } from './chain/transact.js'
import { createTeeClient, type TeeClient } from './createTeeClient.js'
import { createIdentityBundle, type IdentityBundle } from './IdentityBundle.js'
import { type DerivedKey, deriveWallet, toAccount } from './Keys.js'
import { http } from './transports/http.js'
import { verifyInstance } from './verifyInstance.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const collateral = DevnetCollateral.issue(pki)
const trustedRoots = [DevnetPki.trustedRoot(pki)]
const compose = new TextEncoder().encode('{"kms_enabled":true,"manifest_version":2,"name":"verify-instance","runner":"docker-compose"}')
const appOwner = testAccounts[1] as (typeof testAccounts)[number]
// RegentAppAuth's app id for (owner, salt 0): the CVM runs as exactly that app.
const appId = getAddress(
  `0x${keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'bytes32' }], [appOwner.address, zeroHash])).slice(26)}`,
)

let agent: GuestAgent
let tee: TeeClient
let wallet: DerivedKey
let composeHash: Hex
let server: Server
let url: string
/** What the agent's endpoint serves; the test sets it per chain. */
let served: { chainId: number; identityRegistry: Address; agentId: bigint; stateRoot: Hex; stateSeq: bigint; epoch: bigint } | undefined
/** When set, the endpoint replays the first bundle it produced (ignoring the new nonce). */
let replay: { first: IdentityBundle | undefined } | undefined
/** The same app booted by a hostile host from another OS image, its vm_config naming the approved one. */
let impostor: { agent: GuestAgent; tee: TeeClient; wallet: DerivedKey }
/** Which CVM answers at the endpoint. */
let answering: 'genuine' | 'impostor' = 'genuine'
const image = DevnetTd.published(DevnetTd.defaultImage)
const otherImage: DevnetTd.OsImage = { ...DevnetTd.defaultImage, version: '0.5.5-evil', kernel: 'a kernel with a backdoor' }

beforeAll(async () => {
  const cvm = await createCvm({
    compose,
    appId: Buffer.from(appId.slice(2), 'hex'),
    instanceIdSeed: new Uint8Array(20).fill(8),
    qe,
    keyProvider,
  })
  composeHash = `0x${Buffer.from(cvm.info.composeHash).toString('hex')}`
  agent = await startGuestAgent(cvm, { port: 0 })
  tee = createTeeClient({ transport: http({ url: agent.url as string }) })
  wallet = await deriveWallet(tee)
  const fake = await createCvm({
    compose,
    appId: Buffer.from(appId.slice(2), 'hex'),
    instanceIdSeed: new Uint8Array(20).fill(8),
    qe,
    keyProvider,
    image: otherImage,
    vmConfig: JSON.stringify({ os_image_hash: image.osImageHash.slice(2) }),
  })
  const fakeAgent = await startGuestAgent(fake, { port: 0 })
  const fakeTee = createTeeClient({ transport: http({ url: fakeAgent.url as string }) })
  impostor = { agent: fakeAgent, tee: fakeTee, wallet: await deriveWallet(fakeTee) }
  server = createServer(async (req, res) => {
    const target = new URL(req.url ?? '/', 'http://localhost')
    const nonce = target.searchParams.get('nonce') ?? ''
    if (req.method !== 'GET' || target.pathname !== '/identity' || !served || !/^0x([0-9a-f]{2}){1,1024}$/.test(nonce)) {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'bad_request', message: 'GET /identity?nonce=0x…' } }))
      return
    }
    const [t, k] = answering === 'genuine' ? [tee, wallet] : [impostor.tee, impostor.wallet]
    const bundle = replay?.first ?? (await createIdentityBundle(t, { wallet: k, account: toAccount(k), ...served, nonce: nonce as Hex }))
    if (replay && !replay.first) replay.first = bundle
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(bundle))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
  await agent.close()
  await impostor.agent.close()
})

const w = (chain: Chain_, i: number) => chain.wallets[i] as Chain_['wallets'][number]

async function mined(chain: Chain_, hash: Promise<Hex>) {
  expect((await chain.client.waitForTransactionReceipt({ hash: await hash })).status).toBe('success')
}

function stateRootOf(label: string): Hex {
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  db.prepare('INSERT INTO memory (key, value) VALUES (?, ?)').run('fact', label)
  const { stateRoot } = Checkpoint.exportState(db)
  db.close()
  return stateRoot
}

/** The agent's own world: deployed contracts, app approved, the agent registered by its wallet, enrolled, a checkpoint committed. */
async function launch(chain: Chain_) {
  const { contracts } = await deployRegent(w(chain, 0), chain.client)
  const owner = w(chain, 1)
  await mined(
    chain,
    owner.writeContract({ address: contracts.appAuth, abi: regentAppAuthAbi, functionName: 'registerApp', args: [zeroHash, 0n] }),
  )
  await mined(
    chain,
    owner.writeContract({ address: contracts.appAuth, abi: regentAppAuthAbi, functionName: 'addComposeHash', args: [appId, composeHash] }),
  )
  await mined(
    chain,
    owner.writeContract({
      address: contracts.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'addOsImage',
      args: [appId, image.osImageHash, image.measurements],
    }),
  )
  const agentWallet = createWalletClient({ account: toAccount(wallet), chain: chain.chain, transport: viemHttp(chain.anvil.rpcUrl) })
  await chain.testClient.setBalance({ address: wallet.address, value: 10n ** 19n })
  const { agentId } = await registerAgent(agentWallet, {
    contracts,
    registration: { name: 'verify-me', description: 'an agent', services: [{ name: 'regent-identity', endpoint: url, version: '1' }] },
  })
  const app = await tee.info()
  await mined(
    chain,
    owner.writeContract({
      address: contracts.appAuth,
      abi: regentAppAuthAbi,
      functionName: 'setEnrollmentConsent',
      args: [appId, agentId, true],
    }),
  )
  await enroll(agentWallet, {
    contracts,
    agentId,
    appId,
    instance: {
      signer: wallet.address,
      composeHash,
      instanceId: getAddress(`0x${Buffer.from(app.instanceId).toString('hex')}`),
      quoteHash: keccak256(new TextEncoder().encode('boot quote')),
      host: url,
    },
  })
  const stateRoot = stateRootOf('one')
  await commitState(agentWallet, { contracts, agentId, stateRoot, seq: 1n })
  served = { chainId: chain.chain.id, identityRegistry: contracts.identityRegistry, agentId, stateRoot, stateSeq: 1n, epoch: 1n }
  replay = undefined
  answering = 'genuine'
  return { contracts: contracts as RegentContracts, agentId, agentWallet }
}

const verify = (
  chain: Chain_,
  contracts: RegentContracts,
  extra: Partial<Parameters<typeof verifyInstance>[0]> = {},
  trustKmsRoot = true,
) =>
  verifyInstance({
    url,
    contracts,
    client: chain.client,
    collateral,
    trustedRoots,
    now: new Date(),
    ...(trustKmsRoot ? { kmsRootPublicKey: keyProvider.k256PublicKey } : {}),
    ...extra,
  })

describe('verifyInstance', () => {
  chainTest('default: the genuine instance is the agent, with its score', async ({ chain }) => {
    const { contracts, agentId } = await launch(chain)
    const r = await verify(chain, contracts)
    expect(r.reasons).toEqual([])
    expect(r.bundle?.agentId).toBe(agentId.toString())
    expect(r.bundle?.attestation.statement.nonce).toBe(r.nonce)
    expect(r.evaluation.holds).toEqual({ a: true, b: true, c: true, d: true })
    expect(r.evaluation.isAgent).toBe(true)
    expect(r.facts).toMatchObject({ controlsKey: true, measurementApproved: true, kmsProvenanceVerified: true, canonical: true })
    expect(r.facts.attestation).toMatchObject({ verified: true, hardware: 'devnet', status: 'UpToDate', advisoryIds: [] })
    expect(r.evaluation.score).toBe(80)
    // Without a trusted KMS root, the root must be allowed for the app on-chain.
    const open = await verify(chain, contracts, {}, false)
    expect(open.reasons.map((x) => x.code)).toEqual(['instance.kms_root'])
    expect(open.evaluation).toMatchObject({ isAgent: true, score: 70 })
    const root = SignatureChain.kmsRootAddress(keyProvider.k256PublicKey)
    await mined(
      chain,
      w(chain, 1).writeContract({ address: contracts.appAuth, abi: regentAppAuthAbi, functionName: 'addKmsRoot', args: [appId, root] }),
    )
    const allowed = await verify(chain, contracts, {}, false)
    expect(allowed.reasons).toEqual([])
    expect(allowed.evaluation).toMatchObject({ isAgent: true, score: 80 })
  })

  chainTest('behavior: a rotated-away (non-canonical) key fails (d)', async ({ chain }) => {
    const { contracts, agentId, agentWallet } = await launch(chain)
    const next = {
      signer: testAccounts[4]?.address as Address,
      composeHash,
      instanceId: appId,
      quoteHash: keccak256('0x01'),
      host: 'https://next.example',
    }
    const { certificate, signature } = await signSuccessionCertificate(agentWallet, {
      contracts,
      agentId,
      newKey: next.signer,
      newComposeHash: next.composeHash,
      quoteHash: next.quoteHash,
      deadline: (await chain.client.getBlock()).timestamp + 600n,
    })
    await mined(
      chain,
      w(chain, 9).writeContract({
        address: contracts.succession,
        abi: regentSuccessionAbi,
        functionName: 'rotate',
        args: [agentId, certificate, signature, next],
      }),
    )
    const r = await verify(chain, contracts)
    expect(r.reasons.map((x) => x.code)).toEqual(['instance.not_canonical'])
    expect(r.evaluation).toMatchObject({ holds: { a: true, b: true, c: true, d: false }, isAgent: false, score: 0 })
  })

  chainTest('behavior: a stale state root fails (b)', async ({ chain }) => {
    const { contracts, agentId, agentWallet } = await launch(chain)
    await commitState(agentWallet, { contracts, agentId, stateRoot: stateRootOf('two'), seq: 2n })
    const r = await verify(chain, contracts)
    expect(r.reasons.map((x) => x.code)).toEqual(['instance.stale_state'])
    expect(r.evaluation).toMatchObject({ holds: { a: true, b: false, c: true, d: true }, isAgent: false, score: 0 })
  })

  chainTest('behavior: an unapproved compose hash fails (c)', async ({ chain }) => {
    const { contracts } = await launch(chain)
    await mined(
      chain,
      w(chain, 1).writeContract({
        address: contracts.appAuth,
        abi: regentAppAuthAbi,
        functionName: 'removeComposeHash',
        args: [appId, composeHash],
      }),
    )
    const r = await verify(chain, contracts)
    expect(r.reasons.map((x) => x.code)).toEqual(['policy.measurement'])
    expect(r.reasons[0]?.message).toBe(`Compose hash ${composeHash} is not approved and active for app ${appId} in RegentAppAuth.`)
    expect(r.evaluation).toMatchObject({ holds: { a: true, b: true, c: false, d: true }, isAgent: false, score: 0 })
    expect(r.facts.measurementApproved).toBe(false)
  })

  chainTest(
    'behavior: the same app booted from another OS image, claiming the approved one, fails (c): os_image.measurement',
    async ({ chain }) => {
      const { contracts } = await launch(chain)
      answering = 'impostor'
      expect(impostor.wallet.address).toBe(wallet.address) // same app, same keys: only the OS image tells them apart
      const r = await verify(chain, contracts)
      expect(r.bundle?.osImageHash).toBe(image.osImageHash) // the os-image-hash event claims the approved image
      expect(r.reasons.map((x) => x.code)).toEqual(['os_image.measurement'])
      expect(r.evaluation).toMatchObject({ holds: { a: true, b: true, c: false, d: true }, isAgent: false, score: 0 })
      expect(r.facts.measurementApproved).toBe(false)
      // The genuine image, once its approval is revoked, fails the same way.
      answering = 'genuine'
      await mined(
        chain,
        w(chain, 1).writeContract({
          address: contracts.appAuth,
          abi: regentAppAuthAbi,
          functionName: 'removeOsImage',
          args: [appId, image.osImageHash],
        }),
      )
      expect((await verify(chain, contracts)).reasons.map((x) => x.code)).toEqual(['os_image.measurement'])
    },
  )

  chainTest('behavior: a replayed bundle (an old nonce) fails (a)', async ({ chain }) => {
    const { contracts } = await launch(chain)
    replay = { first: undefined }
    const first = await verify(chain, contracts)
    expect(first.evaluation.isAgent).toBe(true)
    const r = await verify(chain, contracts)
    expect(r.nonce).not.toBe(first.nonce)
    expect(r.reasons.map((x) => x.code)).toEqual(['attestation.nonce'])
    expect(r.evaluation).toMatchObject({ holds: { a: false, b: true, c: true, d: true }, isAgent: false, score: 0 })
  })

  chainTest('behavior: an endpoint that serves no bundle fails everything with instance.fetch', async ({ chain }) => {
    const { contracts, agentId } = await launch(chain)
    const r = await verify(chain, contracts, { url: `${url}/nothing-here`, agentId })
    expect(r.reasons.map((x) => x.code)).toEqual(['instance.fetch'])
    expect(r.bundle).toBeUndefined()
    expect(r.evaluation).toMatchObject({ holds: { a: false, b: false, c: false, d: false }, isAgent: false, score: 0 })
  })
})
