// The agent's security settings live in the measured compose, never in the environment (issue 13 §2; docs/sdk.md
// "Measured settings"). Round trip through the compose, every malformed field named, the environment refused, and
// read() through a real devnet CVM's guest agent (the compose it measured, checked against its compose hash).
import { afterAll, describe, expect, test } from 'vitest'
import { keyProvider, pki, qe } from '../test/uplift-fixtures.js'
import { createTeeClient } from './createTeeClient.js'
import * as MeasuredSettings from './MeasuredSettings.js'
import { http } from './transports/http.js'

const contracts = {
  identityRegistry: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  appAuth: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
  succession: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0',
  treasury: '0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9',
} as const
const settings: MeasuredSettings.Settings = {
  v: 1,
  operator: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  chainId: 31337,
  contracts,
  trustedRoots: [pki.root.certificate.pem],
}
const compose = (file: string) => JSON.stringify({ manifest_version: 2, name: 'a', runner: 'docker-compose', docker_compose_file: file })
const code = (run: () => unknown) => {
  try {
    run()
    return 'none'
  } catch (error) {
    return `${(error as { code?: string }).code}: ${(error as { field?: string }).field}`
  }
}

describe('MeasuredSettings', () => {
  test('default: insert → fromCompose gives back the same settings; the line replaces an earlier one', () => {
    const file = MeasuredSettings.insert('services:\n  agent:\n    image: a@sha256:00\n', settings)
    expect(file.split('\n')[0]).toMatch(/^x-regent: \{"v":1,"operator":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","chainId":31337,/)
    expect(MeasuredSettings.fromCompose(compose(file))).toEqual(settings)
    const again = MeasuredSettings.insert(file, { ...settings, chainId: 8453 })
    expect(again.split('\n').filter((l) => l.startsWith('x-regent:'))).toHaveLength(1)
    expect(MeasuredSettings.fromCompose(compose(again))?.chainId).toBe(8453)
    expect(MeasuredSettings.fromCompose(compose('services: {}\n'))).toBeUndefined()
  })

  test('bad input: every malformed field is named (settings.invalid)', () => {
    const line = (o: Record<string, unknown>) => () => MeasuredSettings.fromCompose(compose(`x-regent: ${JSON.stringify(o)}\n`))
    const good = { v: 1, chainId: 1, contracts }
    expect(code(() => MeasuredSettings.fromCompose('{'))).toBe('settings.invalid: app-compose')
    expect(code(() => MeasuredSettings.fromCompose(compose('x-regent: {\n')))).toBe('settings.invalid: x-regent')
    expect(code(() => MeasuredSettings.fromCompose(compose('x-regent: []\n')))).toBe('settings.invalid: x-regent')
    expect(code(() => MeasuredSettings.fromCompose(compose(`x-regent: ${JSON.stringify(good)}\nx-regent: ${JSON.stringify(good)}`)))).toBe(
      'settings.invalid: x-regent',
    )
    expect(code(line({ ...good, v: 2 }))).toBe('settings.invalid: v')
    expect(code(line({ ...good, admin: 'token' }))).toBe('settings.invalid: admin')
    expect(code(line({ ...good, operator: '0x1234' }))).toBe('settings.invalid: operator')
    expect(code(line({ ...good, chainId: 0 }))).toBe('settings.invalid: chainId')
    expect(code(line({ ...good, chainId: '1' }))).toBe('settings.invalid: chainId')
    expect(code(line({ ...good, contracts: { ...contracts, treasury: undefined } }))).toBe('settings.invalid: contracts.treasury')
    expect(code(line({ ...good, contracts: { ...contracts, appAuth: 'nope' } }))).toBe('settings.invalid: contracts.appAuth')
    expect(code(line({ ...good, trustedRoots: ['not a certificate'] }))).toBe('settings.invalid: trustedRoots')
    expect(code(line(good))).toBe('none')
  })

  test('behavior: a security setting in the environment is refused, naming it; harmless settings pass', () => {
    for (const name of MeasuredSettings.refusedEnvironment)
      expect(code(() => MeasuredSettings.assertNoSecurityEnvironment({ [name]: 'x' }))).toBe(`settings.invalid: ${name}`)
    expect(MeasuredSettings.refusedEnvironment).toEqual([
      'REGENT_ADMIN_TOKEN',
      'REGENT_OPERATOR',
      'REGENT_TRUSTED_ROOT_PEM',
      'REGENT_CHAIN_ID',
      'REGENT_CONTRACTS',
    ])
    expect(code(() => MeasuredSettings.assertNoSecurityEnvironment({ REGENT_RPC_URL: 'http://x', REGENT_OPERATOR: '' }))).toBe('none')
  })

  describe('read(): through a devnet CVM', async () => {
    const { createCvm, startGuestAgent } = await import('@regent-tee/devnet')
    const agents: { close(): unknown }[] = []
    afterAll(() => {
      for (const a of agents) a.close()
    })
    const boot = async (file: string) => {
      const cvm = await createCvm({ compose: new TextEncoder().encode(compose(file)), qe, keyProvider })
      const agent = await startGuestAgent(cvm, { port: 0 })
      agents.push(agent)
      return createTeeClient({ transport: http({ url: agent.url as string }) })
    }

    test('default: the measured compose gives the settings', async () => {
      const tee = await boot(MeasuredSettings.insert('services: {}\n', settings))
      expect(await MeasuredSettings.read(tee)).toEqual(settings)
    })

    test('behavior: a measured compose without x-regent is settings.invalid (x-regent)', async () => {
      const tee = await boot('services: {}\n')
      await expect(MeasuredSettings.read(tee)).rejects.toMatchObject({ code: 'settings.invalid', field: 'x-regent' })
    })
  })
})
