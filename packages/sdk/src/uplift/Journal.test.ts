import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import * as Journal from './Journal.js'

const key = new Uint8Array(32).fill(7)
const path = async () => join(await mkdtemp(join(tmpdir(), 'regent-journal-')), 'j.db')

describe('Journal.open', () => {
  test('default: steps are recorded in order and survive a reopen', async () => {
    const p = await path()
    const j = Journal.open({ path: p, role: 'source', key })
    j.put('hello', { type: 'source-hello', n: '1' }, '0xaa')
    j.put('target-hello', { type: 'target-hello' })
    j.close()
    const again = Journal.open({ path: p, role: 'source', key })
    expect(again.entries().map((e) => [e.step, e.status, e.data, e.transcript])).toEqual([
      ['hello', 'done', { type: 'source-hello', n: '1' }, '0xaa'],
      ['target-hello', 'done', { type: 'target-hello' }, undefined],
    ])
    expect(again.get('hello')).toEqual({ type: 'source-hello', n: '1' })
    expect(again.get('nothing')).toBeUndefined()
    again.close()
  })

  test('behavior: putAll records many rows in order, durably, keeping a done row as it was', async () => {
    const p = await path()
    const seen: string[] = []
    const j = Journal.open({ path: p, role: 'source', key, failpoint: (name) => void seen.push(name) })
    j.put('replayed:0', { status: 200 })
    j.putAll([
      ['replayed:0', { status: 500 }],
      ['replayed:1', { status: 200 }],
      ['replayed:2', { status: 409 }],
    ])
    j.putAll([])
    j.close()
    const again = Journal.open({ path: p, role: 'source', key })
    expect(again.entries().map((e) => [e.step, e.data])).toEqual([
      ['replayed:0', { status: 200 }],
      ['replayed:1', { status: 200 }],
      ['replayed:2', { status: 409 }],
    ])
    expect(seen).toEqual(['after:replayed:0', 'after:replayed:2'])
    again.close()
  })

  test('behavior: step runs its work once; a resumed step returns the journaled value', async () => {
    const p = await path()
    const j = Journal.open({ path: p, role: 'target', key })
    let runs = 0
    const first = await j.step('nonce', () => ({ nonce: `${++runs}` }))
    j.close()
    const resumed = Journal.open({ path: p, role: 'target', key })
    const second = await resumed.step('nonce', () => ({ nonce: `${++runs}` }))
    expect([first, second, runs]).toEqual([{ nonce: '1' }, { nonce: '1' }, 1])
    // A failing step records nothing.
    await expect(resumed.step('boom', () => Promise.reject(new Error('no')))).rejects.toThrow('no')
    expect(resumed.get('boom')).toBeUndefined()
    resumed.close()
  })

  test('behavior: secrets are stored only sealed and open only under the same key', async () => {
    const p = await path()
    const secret = new Uint8Array(32).fill(0x5a)
    const j = Journal.open({ path: p, role: 'target', key })
    j.putSecret('ephemeral', secret)
    expect(j.getSecret('ephemeral')).toEqual(secret)
    expect(j.getSecret('absent')).toBeUndefined()
    j.close()
    const file = await readFile(p)
    const wal = await readFile(`${p}-wal`).catch(() => Buffer.alloc(0))
    expect(Buffer.concat([file, wal]).includes(Buffer.from(secret))).toBe(false)
    const other = Journal.open({ path: p, role: 'target', key: new Uint8Array(32).fill(8) })
    expect(() => other.getSecret('ephemeral')).toThrowErrorMatchingInlineSnapshot(`
      [Journal.SecretError: The journaled secret "ephemeral" does not open under this key.
      Docs: docs/uplift.md#journal]
    `)
    other.close()
  })

  test('behavior: a journal opened as the other role is refused', async () => {
    const p = await path()
    Journal.open({ path: p, role: 'source', key }).close()
    expect(() => Journal.open({ path: p, role: 'target', key })).toThrow(Journal.JournalRoleError)
  })

  test('behavior: the file and its WAL are owner-only (0600), also when the file existed with a wider mode', async () => {
    const p = await path()
    await writeFile(p, '', { mode: 0o644 })
    const j = Journal.open({ path: p, role: 'source', key })
    j.put('hello', { n: 1 })
    expect((await stat(p)).mode & 0o777).toBe(0o600)
    expect((await stat(`${p}-wal`)).mode & 0o777).toBe(0o600)
    j.close()
  })

  test('behavior: the failpoint hook sees after:<step> once per new row and the named points', async () => {
    const seen: string[] = []
    const j = Journal.open({ path: await path(), role: 'source', key, failpoint: (point) => seen.push(point) })
    j.put('hello', { n: 1 })
    j.put('hello', { n: 2 }) // already done: no new row, no point
    await j.step('key', () => ({ k: 1 }))
    j.point('sent:key')
    expect(seen).toEqual(['after:hello', 'after:key', 'sent:key'])
    j.close()
  })

  test('behavior: list and transcript read names, times and transcript hashes without parsing the data', async () => {
    const j = Journal.open({ path: await path(), role: 'target', key })
    j.put('hello', { big: 'x'.repeat(10) }, '0xaa')
    j.put('chunk:0', { n: 0 })
    expect(j.list().map((e) => e.step)).toEqual(['hello', 'chunk:0'])
    expect(j.list()[0]?.at).toMatch(/^\d{4}-\d{2}-\d{2}T/)
    expect([j.transcript('hello'), j.transcript('chunk:0'), j.transcript('none')]).toEqual(['0xaa', undefined, undefined])
    j.close()
  })
})
