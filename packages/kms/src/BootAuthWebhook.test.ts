// The boot-auth webhook against a real RegentAppAuth on anvil: the whole scenario (timelocks, removal, TCB, KMS
// onboarding, hex forms, malformed bodies) with its expected answers — the same scenario check-auth-eth.ts asks of
// dstack's own auth-eth — plus GET /, the KMS-root option, fail-closed answers and the process (bin).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deployContract, regentAppAuthAbi, regentAppAuthBytecode } from '@regent-tee/contracts'
import { type Chain_, chainTest } from '@regent-tee/testing/chain'
import { role, wallet } from '@regent-tee/testing/regent-fixture'
import type { Address, PublicClient } from 'viem'
import { concat, createPublicClient, http, sha256 } from 'viem'
import { describe, expect, test } from 'vitest'
import { type Ask, kmsTimelock, runBootAuthScenario } from '../scripts/bootAuthScenario.js'
import { backendUnavailable, parseBootInfo, startBootAuthWebhook } from './BootAuthWebhook.js'

async function deployAppAuth(chain: Chain_): Promise<Address> {
  const { address } = await deployContract(wallet(chain, role.governance), chain.client, {
    name: 'RegentAppAuth',
    abi: regentAppAuthAbi,
    bytecode: regentAppAuthBytecode,
    args: [kmsTimelock],
  })
  return address
}

const asker =
  (url: string): Ask =>
  async (kind, body) => {
    const res = await fetch(`${url}/bootAuth/${kind}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: await res.json() }
  }

describe('scenario', () => {
  chainTest('default: every step answers as RegentAppAuth decides, timelocks and removal included', async ({ chain }) => {
    const appAuth = await deployAppAuth(chain)
    const hook = await startBootAuthWebhook({ client: chain.client as PublicClient, appAuth })
    try {
      const rows = await runBootAuthScenario(
        {
          client: chain.client as PublicClient,
          testClient: chain.testClient as never,
          appAuth,
          governance: wallet(chain, role.governance),
          appOwner: wallet(chain, role.appOwner),
        },
        { regent: asker(hook.url) },
      )
      const table = rows.map((r) => {
        const a = r.answers.regent
        return `${r.step} | ${r.kind} | ${r.facts} | ${a?.status} ${a?.isAllowed} "${a?.reason}" "${a?.gatewayAppId}"`
      })
      expect(table).toMatchInlineSnapshot(`
        [
          "1 app not registered | app | valid | 200 false "App not registered" "regent-gateway-app"",
          "1 app not registered | kms | kms node | 200 false "OS image is not allowed" "regent-gateway-app"",
          "1 app not registered | kms | kms node, tcb SWHardeningNeeded | 200 false "TCB status not UpToDate" "regent-gateway-app"",
          "1 app not registered | app | missing appId | 400 false "invalid authorization request" """,
          "1 app not registered | app | appId longer than 20 bytes | 400 false "invalid authorization request" """,
          "1 app not registered | app | composeHash not hex | 400 false "invalid authorization request" """,
          "2 registered, no compose hash | app | valid | 200 false "Compose hash not allowed" "regent-gateway-app"",
          "3 compose hash + OS image pending timelock | app | valid | 200 false "Compose hash pending timelock" "regent-gateway-app"",
          "4 one second before activation | app | valid | 200 false "Compose hash pending timelock" "regent-gateway-app"",
          "5 at activation | app | valid | 200 true "" "regent-gateway-app"",
          "6 both active | app | valid | 200 true "" "regent-gateway-app"",
          "6 both active | app | hex without 0x, upper case | 200 true "" "regent-gateway-app"",
          "6 both active | app | empty instance id, no mrSystem/tcbStatus/advisoryIds | 200 false "OS image measurement mismatch" "regent-gateway-app"",
          "6 both active | app | other compose hash | 200 false "Compose hash not allowed" "regent-gateway-app"",
          "6 both active | app | short compose hash (left-padded) | 200 false "Compose hash not allowed" "regent-gateway-app"",
          "6 both active | app | tcb OutOfDate with advisories | 200 true "" "regent-gateway-app"",
          "7 TCB UpToDate required | app | valid | 200 true "" "regent-gateway-app"",
          "7 TCB UpToDate required | app | tcb OutOfDate with advisories | 200 false "TCB status not UpToDate" "regent-gateway-app"",
          "8 compose hash removed (immediate) | app | valid | 200 false "Compose hash not allowed" "regent-gateway-app"",
          "9 KMS image + MR pending kmsTimelock | kms | kms node | 200 false "OS image pending timelock" "regent-gateway-app"",
          "9 KMS image + MR pending kmsTimelock | kms | kms node, tcb SWHardeningNeeded | 200 false "TCB status not UpToDate" "regent-gateway-app"",
          "10 KMS image + MR active | kms | kms node | 200 true "" "regent-gateway-app"",
          "10 KMS image + MR active | kms | kms node, tcb SWHardeningNeeded | 200 false "TCB status not UpToDate" "regent-gateway-app"",
        ]
      `)
    } finally {
      await hook.close()
    }
  })
})

describe('GET /', () => {
  chainTest('default: auth-eth’s info document (chain id, contract, gateway app id, appImplementation 0)', async ({ chain }) => {
    const appAuth = await deployAppAuth(chain)
    const hook = await startBootAuthWebhook({
      client: chain.client as PublicClient,
      appAuth,
      rpcUrl: `${chain.anvil.rpcUrl}/secret-key-path`,
    })
    try {
      const info = await (await fetch(`${hook.url}/`)).json()
      expect(info).toEqual({
        status: 'ok',
        kmsContractAddr: appAuth,
        ethRpcUrl: new URL(chain.anvil.rpcUrl).origin, // never the path (a provider key may live there)
        gatewayAppId: '',
        chainId: chain.anvil.chainId,
        appAuthImplementation: '0x0000000000000000000000000000000000000000',
        appImplementation: '0x0000000000000000000000000000000000000000',
      })
    } finally {
      await hook.close()
    }
  })
})

describe('kmsRoot option', () => {
  chainTest('behavior: app boots also need the configured KMS root to be allowed (isAppAllowedWithKms)', async ({ chain }) => {
    const appAuth = await deployAppAuth(chain)
    const kmsRoot = wallet(chain, role.stranger).account.address
    const hook = await startBootAuthWebhook({ client: chain.client as PublicClient, appAuth, kmsRoot })
    const owner = wallet(chain, role.appOwner)
    const write = async (functionName: string, args: readonly unknown[]) =>
      chain.client.waitForTransactionReceipt({
        hash: await owner.writeContract({ address: appAuth, abi: regentAppAuthAbi, functionName, args } as never),
      })
    try {
      const salt = `0x${'11'.repeat(32)}` as const
      await write('registerApp', [salt, 0n])
      const appId = await chain.client.readContract({
        address: appAuth,
        abi: regentAppAuthAbi,
        functionName: 'computeAppId',
        args: [owner.account.address, salt],
      })
      const composeHash = `0x${'22'.repeat(32)}`
      const osImageHash = `0x${'33'.repeat(32)}`
      await write('addComposeHash', [appId, composeHash])
      const registers = `0x${'44'.repeat(192)}` as const // MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 of the image
      await write('addOsImage', [appId, osImageHash, [registers]])
      const mrSystem = sha256(concat([registers, `0x${'00'.repeat(32)}`]))
      const facts = { appId, composeHash, osImageHash, mrSystem, instanceId: '', deviceId: '', mrAggregated: '' }
      const ask = asker(hook.url)
      expect((await ask('app', facts)).body).toEqual({ isAllowed: false, reason: 'KMS root not allowed', gatewayAppId: '' })
      await write('addKmsRoot', [appId, kmsRoot])
      expect((await ask('app', facts)).body).toEqual({ isAllowed: true, reason: '', gatewayAppId: '' })
    } finally {
      await hook.close()
    }
  })
})

describe('fail closed', () => {
  test('behavior: a chain that does not answer → 200 isAllowed false "authorization backend unavailable"; GET / → 500', async () => {
    const client = createPublicClient({ transport: http('http://127.0.0.1:9/', { retryCount: 0, timeout: 2_000 }) }) as PublicClient
    const hook = await startBootAuthWebhook({ client, appAuth: '0x00000000000000000000000000000000000000aa' })
    try {
      const facts = { appId: '0x01', composeHash: '0x02', osImageHash: '', instanceId: '', deviceId: '', mrAggregated: '' }
      expect(await asker(hook.url)('app', facts)).toEqual({
        status: 200,
        body: { isAllowed: false, reason: backendUnavailable, gatewayAppId: '' },
      })
      expect(await asker(hook.url)('kms', facts)).toEqual({
        status: 200,
        body: { isAllowed: false, reason: backendUnavailable, gatewayAppId: '' },
      })
      const info = await fetch(`${hook.url}/`)
      expect([info.status, await info.json()]).toEqual([500, { status: 'error', message: backendUnavailable }])
    } finally {
      await hook.close()
    }
  })

  test('bad transport input: typed 4xx, isAllowed false, and the server keeps serving', async () => {
    const client = createPublicClient({ transport: http('http://127.0.0.1:9/', { retryCount: 0 }) }) as PublicClient
    const hook = await startBootAuthWebhook({ client, appAuth: '0x00000000000000000000000000000000000000aa' })
    const post = (path: string, body: string, type = 'application/json') =>
      fetch(`${hook.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body })
    try {
      const cases: [Promise<Response>, number, string][] = [
        [post('/bootAuth/app', '{"appId":'), 400, 'The request body is not valid JSON.'],
        [post('/bootAuth/app', '[]'), 400, 'Invalid boot info: (body) must be a JSON object.'],
        [post('/bootAuth/app', '{}', 'text/plain'), 400, 'Invalid boot info: (body) must be sent as application/json.'],
        [post('/bootAuth/kms', JSON.stringify({ appId: '0x01' })), 400, 'Invalid boot info: mrAggregated is required (a hex string).'],
        [post('/bootAuth/app', 'x'.repeat(70_000)), 413, 'Request body exceeds 65536 bytes'],
        [post('/nope', '{}'), 404, 'No route POST /nope'],
        [fetch(`${hook.url}/bootAuth/app`), 405, 'Use POST for /bootAuth/app'],
      ]
      for (const [reply, status, message] of cases) {
        const res = await reply
        const body = (await res.json()) as { error: { message: string }; isAllowed?: boolean }
        expect([res.status, body.error.message]).toEqual([status, message])
        if (status === 400 || status === 413) expect(body.isAllowed).toBe(false)
      }
      expect((await fetch(`${hook.url}/`)).status).toBe(500) // still serving (the chain is down, not the server)
    } finally {
      await hook.close()
    }
  })
})

describe('parseBootInfo', () => {
  test('default: 0x optional, case-folded, left-padded to the field size; optional fields default', () => {
    const info = parseBootInfo({ appId: 'AB', composeHash: '0x01', instanceId: '', deviceId: '', mrAggregated: '', osImageHash: '' })
    expect(info.appId).toBe(`0x${'0'.repeat(38)}ab`)
    expect(info.composeHash).toBe(`0x${'0'.repeat(62)}01`)
    expect([info.mrSystem, info.tcbStatus, info.advisoryIds]).toEqual([`0x${'0'.repeat(64)}`, '', []])
  })

  test('bad input names the field', () => {
    const base = { appId: '0x01', composeHash: '0x02', instanceId: '', deviceId: '', mrAggregated: '', osImageHash: '' }
    expect(() => parseBootInfo({ ...base, instanceId: `0x${'00'.repeat(21)}` })).toThrow(
      'Invalid boot info: instanceId must be hex of at most 20 bytes.',
    )
    expect(() => parseBootInfo({ ...base, mrSystem: 5 })).toThrow('Invalid boot info: mrSystem must be a hex string.')
    expect(() => parseBootInfo({ ...base, tcbStatus: 'x'.repeat(129) })).toThrow(
      'Invalid boot info: tcbStatus must be a string of at most 128 characters.',
    )
    expect(() => parseBootInfo({ ...base, advisoryIds: 'INTEL-SA-1' })).toThrow(
      'Invalid boot info: advisoryIds must be at most 128 strings of at most 256 characters.',
    )
  })
})

describe('regent-boot-auth (bin)', () => {
  chainTest(
    'default: prints its ready line, answers, and exits 0 on SIGTERM; a bad env prints ready:false and exits 1',
    async ({ chain }) => {
      const appAuth = await deployAppAuth(chain)
      const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'regent-boot-auth.mjs')
      const child = spawn(process.execPath, [bin], {
        env: { ...process.env, REGENT_RPC_URL: chain.anvil.rpcUrl, REGENT_APP_AUTH: appAuth, PORT: '0' },
      })
      const [line] = (await once(child.stdout, 'data')) as [Buffer]
      const ready = JSON.parse(line.toString()) as { ready: boolean; url: string; chainId: number }
      expect([ready.ready, ready.chainId]).toEqual([true, chain.anvil.chainId])
      const facts = { appId: '0x01', composeHash: '0x02', osImageHash: '', instanceId: '', deviceId: '', mrAggregated: '' }
      expect((await asker(ready.url)('app', facts)).body).toEqual({ isAllowed: false, reason: 'App not registered', gatewayAppId: '' })
      child.kill('SIGTERM')
      expect((await once(child, 'exit'))[0]).toBe(0)

      const bad = spawn(process.execPath, [bin], {
        env: {
          ...process.env,
          REGENT_RPC_URL: chain.anvil.rpcUrl,
          REGENT_APP_AUTH: '0x00000000000000000000000000000000000000aa',
          PORT: '0',
        },
      })
      const [badLine] = (await once(bad.stdout, 'data')) as [Buffer]
      expect(JSON.parse(badLine.toString())).toEqual({
        ready: false,
        error: `The boot-auth webhook cannot start: no contract at REGENT_APP_AUTH 0x00000000000000000000000000000000000000AA on chain ${chain.anvil.chainId}.`,
      })
      expect((await once(bad, 'exit'))[0]).toBe(1)
    },
  )
})
