/**
 * The monitor's dashboard in a real browser (issue 18 "Tested in a real browser"): headless Chromium (Debian's
 * `chromium`, driven by playwright-core through its executable path) loads `regent monitor --ui` watching an agent
 * deployed by `regent deploy` on a devnet; the values shown are checked against the chain; then an approval with a
 * timelock and an uplift (the redeploy's on-chain `uplift`) happen, and the alert and the new epoch appear on the
 * open page without a reload. Screenshots go to $REGENT_SCREENSHOT_DIR (docs/cli/monitor/ for the docs) or a
 * temporary directory.
 */

import { existsSync } from 'node:fs'
import { appendFile, mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { readCanonical } from '@regent-tee/sdk/chain'
import { budget } from '@regent-tee/testing/profile'
import { type Browser, chromium, type Page } from 'playwright-core'
import { createPublicClient, http } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { repoRoot } from '../../packages/cli/test/cli.js'
import { useAgentDevnet } from './agent-process.js'
import { deploy, initProject, type MonitorProcess, startMonitor, webhookReceiver } from './monitor-process.js'
import { devnetChain } from './uplift-fixture.js'

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it when missing), or $CHROMIUM_PATH. */
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Flags that work on a closed-network CI machine as root: no sandbox, no GPU, no background connections. */
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

const env = useAgentDevnet('monitor-browser')
const secret = 'browser-test-webhook-secret-0123456789'
let project: string
let deployed: { agentId: string; url: string; appId: string; composeHash: string; wallet: string }
let monitor: MonitorProcess
let hook: Awaited<ReturnType<typeof webhookReceiver>>
let browser: Browser
let page: Page
let ui: string
let shots: string
const errors: string[] = []

/** The top of the page (cards, canonical instance, chart, alerts): what the docs show. */
const shot = (name: string) => page.screenshot({ path: join(shots, name), fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1400 } })
const text = (testId: string) => page.getByTestId(testId).first().textContent()

beforeAll(async () => {
  if (!existsSync(chromiumPath))
    throw new Error(`no Chromium at ${chromiumPath}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH`)
  shots = resolve(repoRoot, process.env.REGENT_SCREENSHOT_DIR ?? join(env.dir, 'screenshots'))
  await mkdir(shots, { recursive: true })
  project = await initProject(env.dir, 'monitor-ui')
  const first = await deploy(project, env.dir)
  if (first.code !== 0) throw new Error(`regent deploy failed: ${first.stderr}`)
  deployed = first.data as unknown as typeof deployed
  hook = await webhookReceiver(secret)
  monitor = startMonitor(
    [
      '--agent',
      deployed.url,
      '--ui',
      '--port',
      '0',
      '--interval',
      '0.5',
      '--db',
      join(env.dir, 'ui.db'),
      '--devnet-dir',
      env.dir,
      '--webhook',
      hook.url,
    ],
    { REGENT_MONITOR_WEBHOOK_SECRET: secret },
  )
  ui = String((await monitor.next((l) => l.type === 'ui')).url)
  await monitor.next((l) => l.type === 'check' && l.isAgent === true)
  browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs })
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
}, 180_000)
afterAll(async () => {
  await browser?.close()
  await monitor?.stop()
  await hook?.close()
})

describe('the dashboard in Chromium', () => {
  test('default: it shows the agent as the chain has it — epoch, signer, compose hash, host — and its verified attestation', async () => {
    expect(ui).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    await page.goto(ui)
    await expect.poll(() => text('live')).toBe('live')
    await page.getByTestId('epoch').waitFor()
    const onChain = await readCanonical(createPublicClient({ chain: devnetChain(env.devnet), transport: http(env.devnet.file.rpcUrl) }), {
      contracts: env.devnet.file.contracts,
      agentId: BigInt(deployed.agentId),
    })
    expect(await text('epoch')).toBe(onChain.epoch.toString())
    expect(await text('signer')).toBe(onChain.instance.signer)
    expect(await text('compose-hash')).toBe(onChain.instance.composeHash)
    expect(await text('host')).toBe(onChain.instance.host)
    expect(await text('is-agent')).toBe('holds')
    expect(await text('tcb')).toBe('UpToDate')
    const checks = (await (await fetch(`${ui}/api/agents/${deployed.agentId}/checks?limit=1`)).json()) as { checks: { score: number }[] }
    expect(Number(await text('score'))).toBeGreaterThan(0)
    expect(Number(await text('score'))).toBe(checks.checks[0]?.score)
    await expect.poll(() => page.locator('[data-testid="chart"] circle').count()).toBeGreaterThan(4)
    expect(await page.locator(`[data-testid="measurement"][data-value="${deployed.composeHash}"] td`).last().textContent()).toBe('epoch 1')
    await shot('dashboard.png')

    // The attestation in detail: the RTMR3 replay from the event log matches the quote; the KMS chain is laid out.
    await page.getByText('RTMR3 event log').click()
    expect(await text('rtmr3-match')).toBe('matches the quote')
    const events = await page.locator('[data-section="eventlog"] tbody td:first-child').allTextContents()
    expect(events).toEqual(expect.arrayContaining(['app-id', 'compose-hash', 'instance-id', 'key-provider', 'system-ready']))
    await page.getByText('Signature chain to the KMS root').click()
    await page.getByText('Quote header and TD report (MRTD, RTMR0–3, REPORTDATA)').click()
    await expect.poll(() => page.getByText('kmsRootAddress').count()).toBe(1)
    // The sections stay open across the live re-renders (a check lands every half second).
    const renders = async () => Number(await page.getByTestId('agent').getAttribute('data-renders'))
    const before = await renders()
    await expect.poll(renders).toBeGreaterThan(before + 1)
    expect(await page.locator('details[data-section][open]').count()).toBe(4)
    await page.locator('[data-testid="attestation"]').screenshot({ path: join(shots, 'attestation.png') })
  })

  test('behavior: an approval with a timelock shows as an open measurement.pending alert, live, without a reload', async () => {
    // A mark on the page's global object: it survives only if the page is never reloaded.
    await page.evaluate(() => {
      ;(globalThis as unknown as { stayed: boolean }).stayed = true
    })
    await appendFile(join(project, 'src', 'main.ts'), '// v2\n')
    const pending = await deploy(project, env.dir, '--timelock', '600')
    expect(pending.code).toBe(1)
    const row = page.locator('[data-testid="alert"][data-code="measurement.pending"][data-state="open"]')
    await row.waitFor({ timeout: 60_000 })
    expect(await row.textContent()).toContain("the users' exit window")
    await page.locator('[data-testid="open-alert"][data-code="measurement.pending"]').waitFor()
    expect(await page.evaluate(() => (globalThis as unknown as { stayed?: boolean }).stayed)).toBe(true)
    await shot('pending.png')
  })

  test(
    'behavior: the uplift shows the new epoch and canonical.changed live; the pending approval resolves',
    async () => {
      const up = await deploy(project, env.dir, '--wait-timelock')
      expect(up.code, up.stderr).toBe(0)
      await expect.poll(() => text('epoch'), { timeout: 60_000 }).toBe(up.data.epoch)
      await page.locator('[data-testid="alert"][data-code="canonical.changed"]').first().waitFor()
      await page.locator('[data-testid="alert"][data-code="measurement.pending"][data-state="resolved"]').waitFor()
      await expect.poll(() => text('compose-hash'), { timeout: 30_000 }).toBe(up.data.composeHash)
      expect(await page.locator(`[data-testid="epoch-row"][data-epoch="${up.data.epoch}"]`).count()).toBe(1)
      expect(await page.evaluate(() => (globalThis as unknown as { stayed?: boolean }).stayed)).toBe(true)
      await page.locator('[data-testid="alert"][data-code="canonical.changed"][data-state="resolved"]').first().waitFor({ timeout: 60_000 })
      await shot('uplift.png')
      // A redeploy (a real uplift into a new CVM) plus its waits: more than the default budget on a loaded machine.
    },
    budget(240_000),
  )

  test('behavior: no secret reaches the page or its API; the page ran without errors', async () => {
    const everything = await page.evaluate(async (agent) => {
      const paths = [
        '/',
        '/app.js',
        '/api/agents',
        `/api/agents/${agent}`,
        `/api/agents/${agent}/checks`,
        `/api/agents/${agent}/attestation`,
        '/api/alerts',
      ]
      const bodies = await Promise.all(paths.map((p) => fetch(p).then((r) => r.text())))
      const { document } = globalThis as unknown as { document: { documentElement: { outerHTML: string } } }
      return document.documentElement.outerHTML + bodies.join('\n')
    }, deployed.agentId)
    expect(everything).not.toContain(secret)
    expect(everything).not.toMatch(/privateKey|-----BEGIN [A-Z ]*PRIVATE KEY-----/)
    expect(hook.deliveries.length).toBeGreaterThan(0)
    expect(errors).toEqual([])
  })
})
