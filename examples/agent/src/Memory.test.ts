import { Checkpoint } from '@regent-tee/sdk'
import Database from 'better-sqlite3'
import { describe, expect, test } from 'vitest'
import { counts, learn, setPreference, topics } from './Memory.js'

const fresh = () => {
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  return db
}

describe('learn', () => {
  test('default: remembers the text and learns the words a user mentions most', () => {
    const db = fresh()
    learn(db, { user: 'ana', text: 'I love sailing and sailing boats', at: new Date(0) })
    const r = learn(db, { user: 'ana', text: 'boats, boats, boats!', at: new Date(1000) })
    expect(r.topics).toEqual([
      { word: 'boats', weight: 4 },
      { word: 'sailing', weight: 2 },
      { word: 'and', weight: 1 },
      { word: 'love', weight: 1 },
    ])
    expect(topics(db, 'bob')).toEqual([])
    setPreference(db, 'tone', 'dry')
    setPreference(db, 'tone', 'warm')
    expect(counts(db)).toEqual({ memories: 2, preferences: 1, learned: 4 })
  })

  test('behavior: what it learned changes the checkpoint state root; the same history gives the same root', () => {
    const [a, b] = [fresh(), fresh()]
    for (const db of [a, b]) learn(db, { user: 'ana', text: 'hello world', at: new Date(0) })
    const root = (db: typeof a) => Checkpoint.exportState(db).stateRoot
    expect(root(a)).toBe(root(b))
    learn(b, { user: 'ana', text: 'more', at: new Date(0) })
    expect(root(a)).not.toBe(root(b))
  })

  test('behavior: a write with an idempotency key is applied once; a repeat answers duplicate and changes nothing', () => {
    const db = fresh()
    const first = learn(db, { user: 'ana', text: 'kites and kites', requestId: 'k-1', at: new Date(0) })
    const root = Checkpoint.exportState(db).stateRoot
    const again = learn(db, { user: 'ana', text: 'kites and kites', requestId: 'k-1', at: new Date(5000) })
    expect(first.duplicate).toBeUndefined()
    expect(again).toMatchObject({ duplicate: true, topics: first.topics })
    expect(Checkpoint.exportState(db).stateRoot).toBe(root)
    learn(db, { user: 'ana', text: 'kites and kites', requestId: 'k-2', at: new Date(0) })
    expect(counts(db).memories).toBe(2)
  })
})
