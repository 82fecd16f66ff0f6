/** Keys survive the devnet: after `down`/`up` the KMS unseals its root and an app gets the same wallet. */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { startDevnet } from '../src/Devnet.js'
import type { CvmRecord } from '../src/host/Host.js'
import { json, post, waitForHttp } from './http.js'
import { probeApp } from './probe.js'

describe('startDevnet (restart)', () => {
  test('behavior: a restarted devnet unseals the same KMS root and reuses the contracts: same app, same key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regent-restart-'))
    const { compose, bundle } = await probeApp(join(dir, 'probe-bundles'))
    const keyOnce = async () => {
      const devnet = await startDevnet({ dir })
      try {
        const { appId } = await devnet.approveApp({ compose })
        const r = await json<CvmRecord>(
          `${devnet.file.hostUrl}/v1/cvms`,
          post({ compose: Buffer.from(compose).toString('base64'), bundle, appId }),
        )
        await waitForHttp(`${r.body.appUrl}/`)
        const probe = await json<{ key: string }>(`${r.body.appUrl}/probe`)
        return {
          key: probe.body.key,
          origin: devnet.kms[0]?.origin,
          root: devnet.kms[0]?.address,
          contracts: devnet.file.contracts,
        }
      } finally {
        await devnet.stop()
      }
    }
    const first = await keyOnce()
    const second = await keyOnce()
    expect([first.origin, second.origin]).toEqual(['generated', 'unsealed'])
    expect(second.root).toBe(first.root)
    expect(second.contracts).toEqual(first.contracts)
    expect(second.key).toBe(first.key)
  })
})
