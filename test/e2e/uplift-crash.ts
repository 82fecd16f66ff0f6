import { agentTreasuryAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import type { Devnet } from '@regent-tee/devnet'
import { readCanonical } from '@regent-tee/sdk/chain'
import { testProfile } from '@regent-tee/testing/profile'
import { createPublicClient, type Hex, http, parseEventLogs, zeroAddress } from 'viem'
import { beforeAll, expect } from 'vitest'
import { admin, call, deposit, randomName, startWild, upliftLine, useAgentDevnet } from './agent-process.js'
import { devnetChain, launchTarget } from './uplift-fixture.js'

let devnet: Devnet
let compose: Uint8Array
let appId: Hex
let dir: string

/** Starts this file's devnet (`useAgentDevnet`) and points the scenario at it. */
export function useCrashDevnet(label: string): void {
  const env = useAgentDevnet(`uplift-crash-${label}`)
  beforeAll(() => {
    ;({ devnet, compose, appId, dir } = env)
  })
}

/** The source's points, in the order it reaches them (docs/uplift.md "Crash safety"). */
export const sourcePoints = (mode: 'import' | 'rotate') => [
  'after:session',
  'after:source-hello',
  'after:target-hello',
  mode === 'import' ? 'after:key-envelope' : 'after:key-offer',
  'sent:key',
  'sent:commit',
  'after:commit',
  'after:state-offer',
  'sent:state',
  'after:challenge',
  'after:challenge-answer',
  'sent:handover-tx',
  'after:handover-tx',
  'sent:agent-uri',
  'after:registration',
  'after:handover',
  'sent:handover',
]
/**
 * The (mode, point) cases a profile runs: `full` every point of both key options; `ci` every point once with the key
 * options alternating, and the points only one option has (its key step, option B's agent wallet) always.
 */
export function crashCases(points: (mode: 'import' | 'rotate') => string[]): { mode: 'import' | 'rotate'; point: string }[] {
  const all = (['import', 'rotate'] as const).flatMap((mode) => points(mode).map((point, i) => ({ mode, point, i })))
  const other = { import: points('rotate'), rotate: points('import') }
  return all
    .filter(({ mode, point, i }) => testProfile === 'full' || !other[mode].includes(point) || i % 2 === (mode === 'import' ? 0 : 1))
    .map(({ mode, point }) => ({ mode, point }))
}

/** The target's points: each kills it after it journaled a request, before it answered. */
export const targetPoints = (mode: 'import' | 'rotate') => [
  'after:source-hello',
  'after:target-hello',
  mode === 'import' ? 'after:key-envelope' : 'after:key-offer',
  'after:state-offer',
  'mid:state-stream',
  'after:state-loaded',
  'after:challenge',
  'after:challenge-answer',
  ...(mode === 'rotate' ? ['sent:agent-wallet'] : []),
  'after:handover',
]

const client = () => createPublicClient({ chain: devnetChain(devnet), transport: http(devnet.file.rpcUrl) })
const targetEnv: Record<string, string> = {}

/** One uplift in which `side` SIGKILLs itself at `point`; it must finish with every property checked. */
export async function scenario(side: 'source' | 'target', mode: 'import' | 'rotate', point: string) {
  const name = randomName(`crash-${side}`)
  const failpoint = { REGENT_FAILPOINT: point }
  const first = await startWild(devnet, dir, { name, appId, ...(side === 'source' ? { env: failpoint } : {}) })
  let source = first
  let writing = true
  try {
    for (let i = 0; i < 12; i++) await call(first.url, '/remember', { user: 'carol', text: `carol keeps bees ${i}` })
    const before = (await call(first.url, '/health')).body as { agentId: string; wallet: Hex; memories: number }
    const agentId = BigInt(before.agentId)
    // A deposit: the treasury must be exactly this afterwards.
    await deposit(devnet, agentId, 12345n)
    const cvm = await launchTarget(devnet, { compose, appId, env: { ...targetEnv, ...(side === 'target' ? failpoint : {}) } })
    const targetWallet = ((await call(cvm.appUrl, '/health')).body as { wallet: Hex }).wallet

    // A writer through the source's endpoint all along: every write it acknowledges must end up in the target.
    // A write whose answer never came (the source died in between) may or may not have been applied: `unknown`.
    let acked = 0
    let unknown = 0
    let up: Promise<unknown> = Promise.resolve()
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const r = await call(source.url, '/remember', { user: 'dave', text: `dave writes ${i}` }).catch(() => undefined)
        if (r?.status === 200) acked++
        else {
          unknown++
          await up.catch(() => undefined) // the source is down: wait until it is started again
        }
      }
    })()
    // (Killed at after:session, the source dies before it answers this request.)
    const started = await admin(first.url, 'uplift', { targetUrl: cvm.appUrl, key: mode }).catch(() => undefined)
    if (point !== 'after:session' || side !== 'source') expect(started?.status).toBe(202)
    if (side === 'source') {
      // The source dies at the point; started again on its disk, it resumes the journaled session by itself.
      await first.line((l) => l === `failpoint ${point}`)
      await first.process.exited
      up = startWild(devnet, dir, { name, appId, dataDir: first.dataDir, port: Number(new URL(first.url).port) })
      source = (await up) as typeof first
    } else {
      // The target dies at the point: the source's session fails; the host reboots the CVM; the operator resumes.
      await devnet.host.waitForLine(cvm.cvmId, (l) => l === `failpoint ${point}`)
      // Resolves when the CVM's program has exited (waitForLine rejects on exit; no line matches).
      const exit = await devnet.host.waitForLine(cvm.cvmId, () => false).catch((e: Error) => e.message)
      expect(exit).toMatch(/exited|not running/)
      await first.line(upliftLine('failed'))
      await devnet.host.restart(cvm.cvmId, { env: { REGENT_FAILPOINT: null } })
      await devnet.host.waitForLine(cvm.cvmId, (l) => l.startsWith('ready '))
      expect((await admin(first.url, 'uplift/resume', {})).status).toBe(202)
    }
    await source.line(upliftLine('done'))
    writing = false
    await writer

    const now = await readCanonical(client(), { contracts: devnet.file.contracts, agentId })
    expect(now.epoch).toBe(2n)
    expect(now.instance.host).toBe(cvm.appUrl)
    expect(now.instance.signer.toLowerCase()).toBe((mode === 'import' ? before.wallet : targetWallet).toLowerCase())
    // The reported handover transaction is the one that made this switch (also when it was found after a crash).
    const { result } = (await admin(source.url, 'uplift')).body as { result: { transactionHash: Hex } }
    const receipt = await client().getTransactionReceipt({ hash: result.transactionHash })
    const switched = parseEventLogs({ abi: regentSuccessionAbi, eventName: 'CanonicalChanged', logs: receipt.logs })
    expect(switched.map((l) => [l.args.agentId, l.args.epoch])).toEqual([[agentId, 2n]])
    const loaded = (await call(cvm.appUrl, '/uplift/v1/status')).body as { stateRoot: Hex; canonical: boolean }
    expect(loaded).toMatchObject({ stateRoot: now.stateRoot, canonical: true })
    // Every acknowledged write is there, and nothing that was never sent.
    const after = (await call(cvm.appUrl, '/health')).body as { role: string; memories: number }
    expect(after.role).toBe('agent')
    expect(after.memories).toBeGreaterThanOrEqual(before.memories + acked)
    expect(after.memories).toBeLessThanOrEqual(before.memories + acked + unknown)
    expect((await call(source.url, '/health')).body).toMatchObject({ role: 'demoted' })
    const treasury = await client().readContract({
      address: devnet.file.contracts.treasury,
      abi: agentTreasuryAbi,
      functionName: 'balanceOf',
      args: [agentId, zeroAddress],
    })
    expect(treasury).toBe(12345n)
    await devnet.host.stop(cvm.cvmId)
  } finally {
    writing = false
    await source.process.stop()
    await first.process.stop()
  }
}
