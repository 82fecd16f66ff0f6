/**
 * One boot-authorization scenario on a fresh RegentAppAuth, asked of one or more `bootAuth` webhooks at every
 * step (docs/targets/dstack.md "Compatibility with dstack's auth-eth"). Used by `BootAuthWebhook.test.ts` (our
 * webhook, expected answers asserted) and by `check-auth-eth.ts` (dstack's auth-eth and ours side by side on the
 * same chain, every answer compared).
 *
 * Steps: unregistered app → registered, no compose hash → compose hash pending its timelock (one second before,
 * and at, the activation time) → OS image → allowed → TCB required → compose hash removed (immediate);
 * KMS onboarding: OS image and aggregated MR pending `kmsTimelock`, then allowed. At each step several boot-fact
 * variants are asked (hex with and without `0x`, upper case, short values left-padded, an empty instance id, other
 * TCB statuses) and a few malformed bodies.
 */

import { regentAppAuthAbi } from '@regent-tee/contracts'
import { type Address, concat, type Hex, keccak256, type PublicClient, sha256, type TestClient, toHex, type WalletClient } from 'viem'

/** A webhook under test: POSTs `body` to `/bootAuth/<kind>` and returns the status and parsed JSON. */
export type Ask = (kind: 'app' | 'kms', body: unknown) => Promise<{ status: number; body: unknown }>

/** The part of an answer that must agree between webhooks. */
export type Answer = { status: number; isAllowed: unknown; reason: unknown; gatewayAppId: unknown }

/** One question asked at one step, with each webhook's answer. */
export type Row = { step: string; kind: 'app' | 'kms'; facts: string; answers: Record<string, Answer> }

/** What the scenario needs from the chain. */
export type ScenarioChain = {
  client: PublicClient
  testClient: TestClient<'anvil'>
  /** Deployed RegentAppAuth (fresh, owned by `governance`, kmsTimelock = {@link kmsTimelock}). */
  appAuth: Address
  governance: WalletClient
  appOwner: WalletClient
}

/** RegentAppAuth's kmsTimelock the scenario expects at deployment. */
export const kmsTimelock = 86_400n
/** The app's timelock. */
export const appTimelock = 3_600n
export const gatewayAppId = 'regent-gateway-app'

const b32 = (label: string): Hex => keccak256(toHex(label))
const salt = b32('boot-auth-scenario')
const compose = b32('compose:v1')
const osImage = b32('os-image:dstack-0.5.8')
const mrAggregated = b32('mr-aggregated:kms')
const kmsOsImage = b32('os-image:kms')
/** An OS image's expected registers (MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2) and dstack's mr_system of them: SHA-256(registers ‖ 0³²). */
const registersOf = (label: string): Hex =>
  concat([b32(`${label}:mrtd`), b32(`${label}:rtmr0`), b32(`${label}:rtmr1`), b32(`${label}:rtmr2`)]).padEnd(2 + 192 * 2, '0') as Hex
const imageRegisters = registersOf('app-image')
const kmsImageRegisters = registersOf('kms-image')
const mrSystemOf = (registers: Hex): Hex => sha256(concat([registers, `0x${'00'.repeat(32)}`]))

/** Runs the scenario, asking every webhook of `askers` the same questions at each step. */
export async function runBootAuthScenario(chain: ScenarioChain, askers: Record<string, Ask>): Promise<Row[]> {
  const rows: Row[] = []
  const contract = { address: chain.appAuth, abi: regentAppAuthAbi } as const
  const send = async (wallet: WalletClient, call: (w: WalletClient) => Promise<Hex>) => {
    const receipt = await chain.client.waitForTransactionReceipt({ hash: await call(wallet) })
    if (receipt.status !== 'success') throw new Error('scenario transaction reverted')
    return receipt
  }
  const write = (wallet: WalletClient, functionName: string, args: readonly unknown[]) =>
    send(wallet, (w) => w.writeContract({ ...contract, functionName, args, account: w.account ?? null, chain: w.chain } as never))
  const owner = chain.appOwner.account?.address as Address
  const appId = (await chain.client.readContract({ ...contract, functionName: 'computeAppId', args: [owner, salt] })) as Address
  const facts = (over: Record<string, unknown> = {}) => ({
    appId,
    composeHash: compose,
    instanceId: '0x1691ed1b47506cad7d08834668691d88246f5b1f',
    deviceId: b32('device'),
    mrAggregated: b32('mr-aggregated:app'),
    mrSystem: mrSystemOf(imageRegisters),
    osImageHash: osImage,
    tcbStatus: 'UpToDate',
    advisoryIds: [],
    // What a dstack KMS adds (dstack `PolicyBootInfo`); both webhooks must ignore it.
    teeVariant: 'DstackTdx',
    keyProviderInfo: '7b7d',
    ...over,
  })
  const variants: Record<string, unknown> = {
    valid: facts(),
    'hex without 0x, upper case': facts({ appId: appId.slice(2).toUpperCase(), composeHash: compose.slice(2).toUpperCase() }),
    'empty instance id, no mrSystem/tcbStatus/advisoryIds': (() => {
      const { mrSystem: _m, tcbStatus: _t, advisoryIds: _a, ...rest } = facts({ instanceId: '' })
      return rest
    })(),
    'other compose hash': facts({ composeHash: b32('compose:v2') }),
    'short compose hash (left-padded)': facts({ composeHash: '0x01' }),
    'tcb OutOfDate with advisories': facts({ tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00837'] }),
  }
  const kmsVariants: Record<string, unknown> = {
    'kms node': facts({ mrAggregated, osImageHash: kmsOsImage, mrSystem: mrSystemOf(kmsImageRegisters) }),
    'kms node, tcb SWHardeningNeeded': facts({
      mrAggregated,
      osImageHash: kmsOsImage,
      mrSystem: mrSystemOf(kmsImageRegisters),
      tcbStatus: 'SWHardeningNeeded',
    }),
  }
  const malformed: Record<string, unknown> = {
    'missing appId': (() => {
      const { appId: _a, ...rest } = facts()
      return rest
    })(),
    'appId longer than 20 bytes': facts({ appId: `0x${'ab'.repeat(21)}` }),
    'composeHash not hex': facts({ composeHash: '0xzz' }),
  }

  const ask = async (step: string, kind: 'app' | 'kms', questions: Record<string, unknown>) => {
    for (const [label, body] of Object.entries(questions)) {
      const answers: Record<string, Answer> = {}
      for (const [name, askOne] of Object.entries(askers)) {
        const r = await askOne(kind, body)
        const b = (r.body ?? {}) as Record<string, unknown>
        answers[name] = { status: r.status, isAllowed: b.isAllowed, reason: b.reason, gatewayAppId: b.gatewayAppId }
      }
      rows.push({ step, kind, facts: label, answers })
    }
  }
  const latest = async () => (await chain.client.getBlock()).timestamp
  const mineAt = async (timestamp: bigint) => {
    await chain.testClient.setNextBlockTimestamp({ timestamp })
    await chain.testClient.mine({ blocks: 1 })
  }

  await write(chain.governance, 'setGatewayAppId', [gatewayAppId])
  await ask('1 app not registered', 'app', { valid: variants.valid })
  await ask('1 app not registered', 'kms', kmsVariants)
  await ask('1 app not registered', 'app', malformed)

  await write(chain.appOwner, 'registerApp', [salt, appTimelock])
  await ask('2 registered, no compose hash', 'app', { valid: variants.valid })

  // The OS image first, the compose hash last: the compose hash's timelock is the later one, whatever the seconds
  // between the two blocks (a loaded machine mines them in different seconds).
  await write(chain.appOwner, 'addOsImage', [appId, osImage, [imageRegisters]])
  const added = await write(chain.appOwner, 'addComposeHash', [appId, compose])
  const addedAt = (await chain.client.getBlock({ blockNumber: added.blockNumber })).timestamp
  await ask('3 compose hash + OS image pending timelock', 'app', { valid: variants.valid })
  await mineAt(addedAt + appTimelock - 1n)
  await ask('4 one second before activation', 'app', { valid: variants.valid })
  await mineAt(addedAt + appTimelock)
  await ask('5 at activation', 'app', { valid: variants.valid })
  await mineAt((await latest()) + appTimelock)
  await ask('6 both active', 'app', variants)

  await write(chain.appOwner, 'setRequireTcbUpToDate', [appId, true])
  await ask('7 TCB UpToDate required', 'app', {
    valid: variants.valid,
    'tcb OutOfDate with advisories': variants['tcb OutOfDate with advisories'],
  })

  await write(chain.appOwner, 'removeComposeHash', [appId, compose])
  await ask('8 compose hash removed (immediate)', 'app', { valid: variants.valid })

  await write(chain.governance, 'addKmsOsImage', [kmsOsImage, [kmsImageRegisters]])
  await write(chain.governance, 'addKmsMeasurement', [mrAggregated])
  await ask('9 KMS image + MR pending kmsTimelock', 'kms', kmsVariants)
  await mineAt((await latest()) + kmsTimelock)
  await ask('10 KMS image + MR active', 'kms', kmsVariants)
  return rows
}

/** Rows where the webhooks disagree (empty when they all answer alike). */
export function disagreements(rows: readonly Row[]): Row[] {
  return rows.filter((row) => {
    const answers = Object.values(row.answers).map((a) => JSON.stringify(a))
    return answers.some((a) => a !== answers[0])
  })
}
