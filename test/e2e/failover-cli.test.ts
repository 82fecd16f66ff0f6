/**
 * Operator-free failover from the command line (issue 19; docs/cli/failover.md, docs/cli/demo.md "Failover",
 * docs/cli/deploy.md "Standbys"), through the real `regent` binary against one devnet: `regent failover enable` and
 * `regent standby add | ls | rm` on a canonical CVM of the example agent, refused standbys with the agent's typed
 * reasons, `regent deploy --standbys`, and `regent demo --failover` (SIGKILL, claim, no acknowledged write lost).
 */
import { cp, mkdtemp, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CvmRecord } from '@regent-tee/devnet'
import { readCanonical, readLease } from '@regent-tee/sdk/chain'
import { agentDir } from '@regent-tee/testing/example-agent'
import { budget } from '@regent-tee/testing/profile'
import { beforeAll, describe, expect, onTestFailed, test } from 'vitest'
import { regent, repoRoot } from '../../packages/cli/test/cli.js'
import { call, operatorKey, randomName, useAgentDevnet } from './agent-process.js'
import { launchInstance, publicClient } from './failover-fixture.js'

const env = useAgentDevnet('failover-cli')
const cli = (args: string[]) => regent([...args, '--json'], { env: { REGENT_OPERATOR_KEY: operatorKey } })
const json = (r: { stdout: string }) => JSON.parse(r.stdout) as Record<string, unknown> & { error?: { code: string; message: string } }
const running = () => env.devnet.host.list().filter((c) => c.status === 'running').length

/** The example agent as a canonical CVM of the file's app (its operator: the tests' operator key). */
let agent: CvmRecord
beforeAll(async () => {
  agent = await launchInstance(
    env.devnet,
    {
      compose: env.compose,
      appId: env.appId,
      env: { REGENT_COLLATERAL_URL: env.devnet.file.collateralUrl, REGENT_AGENT_NAME: randomName('failover-cli') },
    },
    (h) => typeof h.agentId === 'string' && h.role === 'agent',
  )
})

describe('regent failover and regent standby', () => {
  test(
    'default: standby add launches a standby CVM of the agent’s app and attaches it; ls lists it with what it holds; rm --stop detaches and stops it',
    async () => {
      onTestFailed(async () => {
        process.stdout.write(`${await env.devnet.host.logs(agent.cvmId, { tail: 60 })}\n`)
      })
      // Without a lease there is nothing to attach to: refused before any CVM is launched.
      const before = running()
      const off = await cli(['standby', 'add', '--agent', agent.appUrl, '--devnet-dir', env.dir])
      expect([off.code, json(off).error?.code]).toEqual([1, 'failover.off'])
      expect(running()).toBe(before)

      const enabled = await cli(['failover', 'enable', '--agent', agent.appUrl, '--period', '10'])
      expect(enabled.code, enabled.stdout + enabled.stderr).toBe(0)
      expect(json(enabled)).toMatchObject({ role: 'canonical', lease: { period: '10' }, replication: { k: 1, standbys: [] } })

      const added = await cli(['standby', 'add', '--agent', agent.appUrl, '--devnet-dir', env.dir])
      expect(added.code, added.stdout + added.stderr).toBe(0)
      const standby = json(added).standby as { url: string; cvmId: string; state: string; launched: boolean; instanceId: string }
      expect(standby).toMatchObject({ state: 'streaming', launched: true })
      // Another instance of the agent's own app: the same app id and compose hash, its own instance id.
      const record = env.devnet.host.get(standby.cvmId)
      expect([record.appId, record.composeHash, record.appUrl]).toEqual([agent.appId, agent.composeHash, standby.url])
      expect(standby.instanceId.slice(2).toLowerCase()).toBe(record.instanceId)
      const health = (await call(standby.url, '/health')).body as { role: string; failover: { following: { leaderUrl: string } } }
      expect([health.role, health.failover.following.leaderUrl]).toEqual(['standby', agent.appUrl])

      // A write is acknowledged once the standby holds it: ls shows the standby at the write's seq.
      const wrote = await call(agent.appUrl, '/remember', { user: 'erin', text: 'erin keeps a spare key' })
      expect([wrote.status, wrote.body.epoch]).toEqual([200, '1'])
      const ls = await cli(['standby', 'ls', '--agent', agent.appUrl])
      expect(ls.code, ls.stderr).toBe(0)
      expect(json(ls).standbys).toEqual([expect.objectContaining({ url: standby.url, state: 'streaming', acked: wrote.body.seq })])
      const status = await cli(['failover', 'status', '--agent', standby.url])
      expect(json(status)).toMatchObject({ role: 'standby', canonical: agent.appUrl })

      const rm = await cli(['standby', 'rm', '--agent', agent.appUrl, '--url', standby.url, '--stop', '--devnet-dir', env.dir])
      expect(rm.code, rm.stderr).toBe(0)
      expect(json(rm)).toMatchObject({ removed: standby.url, stopped: standby.cvmId, standbys: [] })
      expect(env.devnet.host.get(standby.cvmId).status).toBe('stopped')
    },
    budget(120_000),
  )

  test(
    "behavior: a URL that is not a standby is refused with the agent's typed reasons, exit 1; nothing is attached",
    async () => {
      expect((await cli(['failover', 'enable', '--agent', agent.appUrl, '--period', '10'])).code).toBe(0)
      // The canonical itself: it answers the hello, but as no standby.
      const self = await cli(['standby', 'add', '--agent', agent.appUrl, '--url', agent.appUrl])
      expect(self.code).toBe(1)
      expect(json(self).error).toMatchObject({ code: 'standby.refused' })
      expect(json(self).error?.message).toContain('failover.not_standby')
      // Nothing answers there: the agent says so, by code, on a human's terminal too.
      const gone = await regent(['standby', 'add', '--agent', agent.appUrl, '--url', 'http://127.0.0.1:1'], {
        env: { REGENT_OPERATOR_KEY: operatorKey },
      })
      expect(gone.code).toBe(1)
      expect(gone.stderr).toMatch(
        /^error: the agent at .* refused the standby at http:\/\/127\.0\.0\.1:1 \(unreachable\): standby\.unreachable/m,
      )
      expect(gone.stderr).toContain('docs: docs/cli/failover.md')
      const ls = await cli(['standby', 'ls', '--agent', agent.appUrl])
      expect(json(ls).standbys).toEqual([])
      // Usage and unsupported targets: refused before anything is asked.
      expect((await cli(['failover', 'enable', '--agent', agent.appUrl, '--period', '1'])).code).toBe(2)
      const dstack = await cli(['standby', 'add', '--agent', agent.appUrl, '--target', 'dstack'])
      expect([dstack.code, json(dstack).error?.code]).toEqual([1, 'target.unsupported'])
    },
    budget(60_000),
  )
})

describe('regent deploy --standbys', () => {
  test(
    'default: the deployed agent holds a lease and its standbys are attached; other targets are refused first',
    async () => {
      // The example agent as a project (regent.json beside its package), deployed under its own app.
      const project = await mkdtemp(join(env.dir, 'project-'))
      for (const f of ['package.json', 'app-compose.json']) await cp(join(agentDir, f), join(project, f))
      await cp(join(agentDir, 'dist'), join(project, 'dist'), { recursive: true })
      await symlink(join(repoRoot, 'node_modules'), join(project, 'node_modules'))
      const config = {
        version: 1,
        name: randomName('standbys'),
        target: 'local',
        paths: { compose: 'app-compose.json', bundle: ['package.json', 'dist'] },
        local: { timelock: 0 },
      }
      await writeFile(join(project, 'regent.json'), JSON.stringify(config))

      const refused = await cli(['deploy', '--dir', project, '--target', 'dstack', '--standbys', '1'])
      expect([refused.code, json(refused).error?.code]).toEqual([2, 'usage'])

      const r = await cli(['deploy', '--dir', project, '--devnet-dir', env.dir, '--standbys', '1', '--lease-period', '6'])
      expect(r.code, r.stdout + r.stderr).toBe(0)
      const d = json(r) as {
        agentId: string
        url: string
        instanceId: string
        failover: { lease: unknown; standbys: { url: string; state: string }[] }
      }
      expect(d.failover).toMatchObject({ lease: { period: 6, k: 1 }, standbys: [{ state: 'streaming' }] })
      const client = publicClient(env.devnet)
      const lease = await readLease(client, { contracts: env.devnet.file.contracts, agentId: BigInt(d.agentId) })
      expect([lease.period, lease.holder.toLowerCase()]).toEqual([6n, d.instanceId.toLowerCase()])
      const health = (await call(d.failover.standbys[0]?.url as string, '/health')).body as { role: string }
      expect(health.role).toBe('standby')
    },
    budget(150_000),
  )
})

describe('regent demo --failover', () => {
  test(
    'default: the canonical is SIGKILLed, a standby claims at the next epoch, the client follows it, no acknowledged write is lost',
    async () => {
      const r = await regent(['demo', '--failover', '--devnet-dir', env.dir, '--json'])
      expect(r.code, r.stdout + r.stderr).toBe(0)
      const d = json(r) as {
        agentId: string
        canonical: { url: string; cvmId: string }
        standbys: { url: string; cvmId: string }[]
        claim: { url: string; epochBefore: string; epochAfter: string }
        acks: { url: string; epoch: string }[]
        failoverMs: number
        lostAcknowledgedWrites: number
        splitBrainWrites: number
        registration: { pointsAtNewCanonical: boolean }
        kept: boolean
      }
      process.stdout.write(
        `regent demo --failover: ${d.failoverMs} ms from the SIGKILL to the first write acknowledged by the new canonical\n`,
      )
      expect(d).toMatchObject({ lostAcknowledgedWrites: 0, splitBrainWrites: 0, registration: { pointsAtNewCanonical: true }, kept: false })
      expect(BigInt(d.claim.epochAfter)).toBe(BigInt(d.claim.epochBefore) + 1n)
      expect(d.standbys.map((s) => s.url)).toContain(d.claim.url)
      // The client saw writes acknowledged on both sides of the failover, each side at its own epoch.
      expect(new Set(d.acks.filter((a) => a.url === d.canonical.url).map((a) => a.epoch))).toEqual(new Set([d.claim.epochBefore]))
      expect(new Set(d.acks.filter((a) => a.url === d.claim.url).map((a) => a.epoch))).toEqual(new Set([d.claim.epochAfter]))
      expect(d.failoverMs).toBeGreaterThan(0)
      // The chain agrees, and the demo left nothing running.
      const now = await readCanonical(publicClient(env.devnet), { contracts: env.devnet.file.contracts, agentId: BigInt(d.agentId) })
      expect([now.instance.host, String(now.epoch)]).toEqual([d.claim.url, d.claim.epochAfter])
      for (const id of [d.canonical.cvmId, ...d.standbys.map((s) => s.cvmId)]) expect(env.devnet.host.get(id).status).not.toBe('running')
    },
    budget(180_000),
  )
})
