import type { Devnet } from '@regent-tee/devnet'
import { readCanonical } from '@regent-tee/sdk/chain'
import { budget } from '@regent-tee/testing/profile'
import { createPublicClient, type Hex, http } from 'viem'
import { beforeAll, describe, expect, test } from 'vitest'
import { regent } from '../../packages/cli/test/cli.js'
import { admin, call, deposit, operatorKey, randomName, startWild, upliftLine, useAgentDevnet } from './agent-process.js'
import { devnetChain } from './uplift-fixture.js'

const env = useAgentDevnet('uplift-cli')
let devnet: Devnet
let appId: Hex
let dir: string
const wilds = env.wilds
beforeAll(() => {
  ;({ devnet, appId, dir } = env)
})

const cli = (args: string[], devnetDir = true) =>
  regent([...args, ...(devnetDir ? ['--devnet-dir', dir] : []), '--json'], { env: { REGENT_OPERATOR_KEY: operatorKey } })
const canonical = (agentId: bigint) =>
  readCanonical(createPublicClient({ chain: devnetChain(devnet), transport: http(devnet.file.rpcUrl) }), {
    contracts: devnet.file.contracts,
    agentId,
  })

async function wild(prefix: string, env: Record<string, string> = {}) {
  const w = await startWild(devnet, dir, { name: randomName(prefix), appId, env })
  wilds.push(w)
  for (let i = 0; i < 10; i++) await call(w.url, '/remember', { user: 'erin', text: `erin collects maps ${i}` })
  const health = (await call(w.url, '/health')).body as { agentId: string; wallet: Hex }
  return { w, agentId: BigInt(health.agentId), wallet: health.wallet }
}

describe('regent uplift against the example agent', () => {
  test(
    'default: --target local --key rotate moves the agent into a devnet CVM; status reads it back; resume reports it complete; the new agent moves again (TEE → TEE)',
    async () => {
      const { w, agentId, wallet } = await wild('cli-rotate')
      const r = await cli(['uplift', '--agent', w.url, '--target', 'local', '--key', 'rotate'])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout + r.stderr).not.toContain(operatorKey.slice(2)) // the operator's key never appears
      const d = JSON.parse(r.stdout)
      expect(d).toMatchObject({ state: 'done', key: 'rotate', sameWallet: false })
      const now = await canonical(agentId)
      expect([now.epoch, now.instance.host, now.instance.signer]).toEqual([2n, d.target.url, d.result.signer])
      expect(now.instance.signer.toLowerCase()).not.toBe(wallet.toLowerCase())
      expect(d.verification).toMatchObject({ served: true, isAgent: true })
      // The new agent keeps the operator's admin API (same operator, in its measured compose) and can pay from the treasury it now holds.
      const moved = await admin(d.target.url, 'uplift')
      expect([moved.status, moved.body.state]).toEqual([200, 'idle'])
      await deposit(devnet, agentId, 5000n)
      const paid = await admin(d.target.url, 'withdraw', { to: `0x${'22'.repeat(20)}`, amount: '5000' })
      expect([paid.status, paid.body.epoch]).toEqual([200, '2'])

      const status = await cli(['uplift', 'status', '--agent', w.url], false)
      expect(status.code).toBe(0)
      expect(JSON.parse(status.stdout)).toMatchObject({ state: 'done', mode: 'rotate', next: null })
      // Resuming a complete uplift changes nothing and reports it.
      const resume = await cli(['uplift', 'resume', '--agent', w.url])
      expect(resume.code, resume.stdout + resume.stderr).toBe(0)
      expect(JSON.parse(resume.stdout)).toMatchObject({ state: 'done', result: { signer: d.result.signer } })
      expect((await canonical(agentId)).epoch).toBe(2n)

      // TEE → TEE: the new agent (its own KMS key after rotate) moves again, into another CVM, with its key.
      const hop = await cli(['uplift', '--agent', d.target.url, '--target', 'local', '--key', 'import'])
      expect(hop.code, hop.stdout + hop.stderr).toBe(0)
      const h = JSON.parse(hop.stdout)
      const after = await canonical(agentId)
      expect([after.epoch, after.instance.host, after.instance.signer]).toEqual([3n, h.target.url, d.result.signer])
      expect(((await call(d.target.url, '/health')).body as { role: string }).role).toBe('demoted')
    },
    budget(180_000),
  )

  test(
    'behavior: the agent is SIGKILLed mid-uplift; started again it resumes, `regent uplift resume` follows it to the end; the CVM then moves on with the imported key',
    async () => {
      const point = 'after:challenge'
      const first = await wild('cli-crash', { REGENT_FAILPOINT: point })
      const r = await cli(['uplift', '--agent', first.w.url, '--target', 'local', '--key', 'import'])
      expect(r.code).not.toBe(0) // the agent died under the CLI
      await first.w.line((l) => l === `failpoint ${point}`)
      await first.w.process.exited
      const again = await startWild(devnet, dir, {
        name: 'unused',
        appId,
        dataDir: first.w.dataDir,
        port: Number(new URL(first.w.url).port),
      })
      wilds.push(again)
      const resume = await cli(['uplift', 'resume', '--agent', again.url])
      expect(resume.code, resume.stdout + resume.stderr).toBe(0)
      expect(JSON.parse(resume.stdout)).toMatchObject({ state: 'done' })
      await again.line(upliftLine('done'))
      const now = await canonical(first.agentId)
      expect([now.epoch, now.instance.signer.toLowerCase()]).toEqual([2n, first.wallet.toLowerCase()])

      // TEE → TEE with the imported key: the CVM that holds the wild key hands the same key on to another CVM.
      const d = JSON.parse(resume.stdout) as { target: { url: string } }
      const hop = await cli(['uplift', '--agent', d.target.url, '--target', 'local', '--key', 'import'])
      expect(hop.code, hop.stdout + hop.stderr).toBe(0)
      const after = await canonical(first.agentId)
      expect([after.epoch, after.instance.signer.toLowerCase()]).toEqual([3n, first.wallet.toLowerCase()])
    },
    budget(180_000),
  )

  test(
    "default: --target dstack launches the target through the devnet's dstack-vmm API (env encrypted to the KMS-signed app key, compose hash checked, pinned bundle), and the agent moves there",
    async () => {
      const { w, agentId } = await wild('cli-dstack')
      const r = await cli(['uplift', '--agent', w.url, '--target', 'dstack', '--key', 'import'])
      expect(r.code, r.stdout + r.stderr).toBe(0)
      const d = JSON.parse(r.stdout)
      expect(d).toMatchObject({ state: 'done', key: 'import', sameWallet: true, target: { provider: 'dstack' } })
      // The VMM knows the VM the CLI created, under the agent's app.
      const vms = (await (
        await fetch(`${devnet.file.vmmUrl}/prpc/Status?json`, {
          method: 'POST',
          headers: { authorization: `Bearer ${devnet.file.vmmToken}`, 'content-type': 'application/json' },
          body: '{}',
        })
      ).json()) as { vms: { id: string; app_id: string }[] }
      expect(
        vms.vms
          .find((v) => v.id === d.target.id)
          ?.app_id.replace(/^0x/, '')
          .toLowerCase(),
      ).toBe(appId.slice(2).toLowerCase())
      const now = await canonical(agentId)
      expect([now.epoch, now.instance.host]).toEqual([2n, d.target.url])
      expect(d.verification).toMatchObject({ served: true, isAgent: true })
    },
    budget(180_000),
  )
})
