import { randomBytes } from 'node:crypto'
import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PrivateKey } from '@regent-tee/sdk'
import { describe, expect, test } from 'vitest'
import { counts } from './Memory.js'
import { openAgentStore } from './Store.js'
import { WriteLogCorruptError } from './WriteLog.js'

const fresh = async () => ({ dataDir: await mkdtemp(join(tmpdir(), 'regent-store-')), key: new PrivateKey(randomBytes(32)) })

describe('openAgentStore', () => {
  test('default: an acknowledged write survives a crash (no snapshot since) through the log, once', async () => {
    const o = await fresh()
    const a = openAgentStore(o)
    a.remember([{ user: 'ana', text: 'tulips in spring' }])
    a.remember([
      { user: 'ana', text: 'roses', requestId: 'k1' },
      { user: 'ana', text: 'roses', requestId: 'k1' },
    ])
    const root = a.state.checkpoint().stateRoot
    // Crash: a is never closed or persisted; the snapshot on disk predates both writes.
    const b = openAgentStore(o)
    expect(counts(b.state.db).memories).toBe(2)
    expect(b.state.checkpoint().stateRoot).toBe(root)
    // Replayed once: opening again (after b folded the log into its snapshot) changes nothing.
    const c = openAgentStore(o)
    expect(c.state.checkpoint().stateRoot).toBe(root)
    expect((await readFile(join(o.dataDir, 'agent.log'))).length).toBe(0)
  })

  test('behavior: the log holds no plaintext; a torn last record is dropped, an altered one before the end is refused', async () => {
    const o = await fresh()
    const a = openAgentStore(o)
    a.remember([{ user: 'ana', text: 'secret-garden-words' }])
    a.remember([{ user: 'ana', text: 'second' }])
    const log = join(o.dataDir, 'agent.log')
    const bytes = await readFile(log)
    expect(bytes.includes(Buffer.from('secret-garden-words'))).toBe(false)
    await appendFile(log, Buffer.from([0, 0, 0, 200, 1, 2, 3])) // a record cut short by a crash
    expect(counts(openAgentStore(o).state.db).memories).toBe(2)

    const p = await fresh()
    const s = openAgentStore(p)
    s.remember([{ user: 'ana', text: 'one' }])
    s.remember([{ user: 'ana', text: 'two' }])
    const file = await readFile(join(p.dataDir, 'agent.log'))
    file[10] = (file[10] as number) ^ 1 // inside the first record
    await writeFile(join(p.dataDir, 'agent.log'), file)
    expect(() => openAgentStore(p)).toThrow(WriteLogCorruptError)
  })

  test('behavior: persist folds the log into the snapshot; a log from another key is refused', async () => {
    const o = await fresh()
    const a = openAgentStore(o)
    a.remember([{ user: 'ana', text: 'kept' }])
    a.persist()
    expect((await readFile(join(o.dataDir, 'agent.log'))).length).toBe(0)
    a.remember([{ user: 'ana', text: 'logged' }])
    a.remember([{ user: 'ana', text: 'logged too' }])
    expect(() => openAgentStore({ dataDir: o.dataDir, key: new PrivateKey(randomBytes(32)) })).toThrow()
    expect(counts(openAgentStore(o).state.db).memories).toBe(3)
  })
})
