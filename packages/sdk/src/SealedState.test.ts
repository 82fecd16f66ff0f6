// Sealed state under keys derived by real devnet guest agents: the same app on another CVM reopens it, a
// different app cannot, and any modification of the file is detected.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCvm, createLocalKeyProvider, DevnetPki, DevnetQe, type GuestAgent, startGuestAgent } from '@regent-tee/devnet'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import * as Checkpoint from './Checkpoint.js'
import { createTeeClient, type TeeClient } from './createTeeClient.js'
import { deriveSealingKey, openSealedState, SealedStateCorruptError, WrongSealingKeyError } from './SealedState.js'
import { http } from './transports/http.js'

const pki = DevnetPki.create()
const qe = DevnetQe.create({ pki })
const keyProvider = createLocalKeyProvider({ pki })
const compose = new TextEncoder().encode('{"kms_enabled":true,"manifest_version":2,"name":"sealed","runner":"docker-compose"}')
const agents: GuestAgent[] = []
let dir: string
let appA1: TeeClient
let appA2: TeeClient
let appB: TeeClient

async function client(appByte: number, seed: number): Promise<TeeClient> {
  const cvm = await createCvm({
    compose,
    appId: new Uint8Array(20).fill(appByte),
    instanceIdSeed: new Uint8Array(20).fill(seed),
    qe,
    keyProvider,
  })
  const agent = await startGuestAgent(cvm, { port: 0 })
  agents.push(agent)
  return createTeeClient({ transport: http({ url: agent.url as string }) })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'regent-sealed-'))
  ;[appA1, appA2, appB] = await Promise.all([client(0xa1, 1), client(0xa1, 2), client(0xb2, 3)])
})

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()))
  rmSync(dir, { recursive: true, force: true })
})

describe('openSealedState', () => {
  test('default: state written on one CVM reopens on another CVM of the same app; the file holds no plaintext', async () => {
    const path = join(dir, 'a.sealed')
    const state = openSealedState({ path, key: await deriveSealingKey(appA1) })
    state.db.prepare('INSERT INTO memory (key, value, created_at) VALUES (?, ?, ?)').run('greeting', 'secret-memory-text', 1)
    state.db.prepare('INSERT INTO preferences (key, value) VALUES (?, ?)').run('tone', 'dry')
    state.db.prepare('INSERT INTO learned_behaviours (trigger, behaviour, weight) VALUES (?, ?, ?)').run('hi', 'wave', 0.5)
    const root = state.checkpoint().stateRoot
    state.close()
    const file = readFileSync(path)
    expect(file.subarray(0, 8).toString('latin1')).toBe('RGTSEAL1')
    expect(file.includes('secret-memory-text')).toBe(false)
    expect(file.includes('SQLite format')).toBe(false)

    const reopened = openSealedState({ path, key: await deriveSealingKey(appA2) })
    expect(reopened.db.prepare('SELECT value FROM memory WHERE key = ?').get('greeting')).toEqual({ value: 'secret-memory-text' })
    expect(reopened.checkpoint().stateRoot).toBe(root)
    reopened.close()
  })

  test('behavior: a different app cannot open it (WrongSealingKeyError)', async () => {
    const path = join(dir, 'b.sealed')
    openSealedState({ path, key: await deriveSealingKey(appA1) }).close()
    const key = await deriveSealingKey(appB)
    expect(() => openSealedState({ path, key })).toThrow(WrongSealingKeyError)
    expect(() => openSealedState({ path, key })).toThrow(
      'The sealed state was sealed under a different key (another app or KMS root); it cannot be opened here.',
    )
  })

  test('behavior: any flipped byte or truncation is SealedStateCorruptError (or WrongSealingKeyError in the key id)', async () => {
    const path = join(dir, 'c.sealed')
    const key = await deriveSealingKey(appA1)
    const s = openSealedState({ path, key })
    s.db.prepare('INSERT INTO preferences (key, value) VALUES (?, ?)').run('k', 'v')
    s.close()
    const original = readFileSync(path)
    for (const offset of [0, 9, 30, 40, original.length - 20, original.length - 1]) {
      const tampered = Buffer.from(original)
      tampered[offset] = (tampered[offset] as number) ^ 0x01
      writeFileSync(path, tampered)
      expect(() => openSealedState({ path, key })).toThrow(offset >= 8 && offset < 24 ? WrongSealingKeyError : SealedStateCorruptError)
    }
    writeFileSync(path, original.subarray(0, original.length - 1))
    expect(() => openSealedState({ path, key })).toThrow(SealedStateCorruptError)
  })

  test('behavior: restore verifies the root first; a bad root changes nothing', async () => {
    const key = await deriveSealingKey(appA1)
    const src = openSealedState({ path: join(dir, 'src.sealed'), key })
    src.db.prepare('INSERT INTO memory (key, value) VALUES (?, ?)').run('m', 'from-source')
    const cp = src.checkpoint({ chunkSize: 64 })
    const dst = openSealedState({ path: join(dir, 'dst.sealed'), key })
    dst.db.prepare('INSERT INTO memory (key, value) VALUES (?, ?)').run('m', 'local')
    expect(() => dst.restore({ ...cp, stateRoot: `0x${'ab'.repeat(32)}` })).toThrow(/nothing was loaded/)
    expect(dst.db.prepare('SELECT value FROM memory').all()).toEqual([{ value: 'local' }])
    dst.restore(cp)
    expect(dst.db.prepare('SELECT value FROM memory').all()).toEqual([{ value: 'from-source' }])
    expect(dst.checkpoint({ chunkSize: 64 }).stateRoot).toBe(cp.stateRoot)
    src.close()
    dst.close()
  })

  test('behavior: adopt takes an imported database as the whole state and seals it', async () => {
    const key = await deriveSealingKey(appA1)
    const src = openSealedState({ path: join(dir, 'adopt-src.sealed'), key })
    src.db.prepare('INSERT INTO memory (key, value) VALUES (?, ?)').run('m', 'moved')
    const cp = src.checkpoint({ chunkSize: 64 })
    const dst = openSealedState({ path: join(dir, 'adopt-dst.sealed'), key })
    dst.adopt(Checkpoint.importState(cp))
    dst.close()
    const reopened = openSealedState({ path: join(dir, 'adopt-dst.sealed'), key })
    expect(reopened.checkpoint({ chunkSize: 64 }).stateRoot).toBe(cp.stateRoot)
    reopened.close()
    src.close()
  })
})
