import { createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import * as Checkpoint from './Checkpoint.js'
import * as Merkle from './Merkle.js'

const ROOT_ABC = '0xb9c39373efc8f239bcb9d2b7b469b8572431d36589ed31823767cee99c03f687'

type Rows = { memory: [string, string, number][]; prefs: [string, string][]; learned: [string, string, number][] }

function dbWith(rows: Rows): Database.Database {
  const db = new Database(':memory:')
  Checkpoint.createSchema(db)
  for (const [k, v, t] of rows.memory) db.prepare('INSERT INTO memory (key, value, created_at) VALUES (?, ?, ?)').run(k, v, t)
  for (const [k, v] of rows.prefs) db.prepare('INSERT OR REPLACE INTO preferences (key, value) VALUES (?, ?)').run(k, v)
  for (const [tr, b, w] of rows.learned)
    db.prepare('INSERT INTO learned_behaviours (trigger, behaviour, weight) VALUES (?, ?, ?)').run(tr, b, w)
  return db
}

const rowsArb = fc.record({
  memory: fc.array(fc.tuple(fc.string(), fc.string({ maxLength: 300 }), fc.integer({ min: 0, max: 2 ** 40 })), { maxLength: 20 }),
  prefs: fc.array(fc.tuple(fc.string({ minLength: 1 }), fc.string()), { maxLength: 10 }),
  learned: fc.array(fc.tuple(fc.string(), fc.string(), fc.double({ noNaN: true })), { maxLength: 10 }),
})

describe('exportState / importState', () => {
  test('default: an empty state is one chunk with a fixed root', () => {
    const cp = Checkpoint.exportState(dbWith({ memory: [], prefs: [], learned: [] }))
    expect(cp.chunks.length).toBe(1)
    expect(cp.chunkSize).toBe(1024 * 1024)
    expect(
      Buffer.from(cp.chunks[0] as Uint8Array)
        .subarray(0, 7)
        .toString('latin1'),
    ).toBe('RGCKPT\x01')
    expect(Checkpoint.computeRoot(cp.chunks, cp.chunkSize)).toBe(cp.stateRoot)
  })

  test('property: round trip — import then export gives the same bytes and root, for any chunk size', () => {
    fc.assert(
      fc.property(rowsArb, fc.integer({ min: 1, max: 200 }), (rows, chunkSize) => {
        const cp = Checkpoint.exportState(dbWith(rows), { chunkSize })
        const db = Checkpoint.importState(cp)
        const again = Checkpoint.exportState(db, { chunkSize })
        expect(again.stateRoot).toBe(cp.stateRoot)
        expect(Buffer.concat(again.chunks).equals(Buffer.concat(cp.chunks))).toBe(true)
        expect(db.prepare('SELECT count(*) AS n FROM memory').get()).toEqual({ n: rows.memory.length })
      }),
      { numRuns: 60 },
    )
  })

  test('behavior: the root does not depend on insertion order (canonical row order)', () => {
    const a = dbWith({
      memory: [],
      prefs: [
        ['b', '2'],
        ['a', '1'],
      ],
      learned: [],
    })
    const b = dbWith({
      memory: [],
      prefs: [
        ['a', '1'],
        ['b', '2'],
      ],
      learned: [],
    })
    expect(Checkpoint.exportState(a).stateRoot).toBe(Checkpoint.exportState(b).stateRoot)
    b.prepare("UPDATE preferences SET value = '3' WHERE key = 'b'").run()
    expect(Checkpoint.exportState(a).stateRoot).not.toBe(Checkpoint.exportState(b).stateRoot)
  })

  test('behavior: a wrong root or a flipped byte is StateRootMismatchError and nothing is loaded', () => {
    const cp = Checkpoint.exportState(dbWith({ memory: [['k', 'v', 1]], prefs: [], learned: [] }), { chunkSize: 16 })
    const chunks = cp.chunks.map((c) => Uint8Array.from(c))
    const c2 = chunks[2] as Uint8Array
    c2[0] = (c2[0] as number) ^ 1
    expect(() => Checkpoint.importState({ ...cp, chunks })).toThrow(Checkpoint.StateRootMismatchError)
    expect(() => Checkpoint.importState({ ...cp, stateRoot: `0x${'00'.repeat(32)}` })).toThrow(
      /^The checkpoint hashes to 0x[0-9a-f]{64}, not the expected state root 0x0{64}; nothing was loaded\.$/,
    )
  })

  test('behavior: a well-rooted but non-canonical stream is rejected', () => {
    const cp = Checkpoint.exportState(dbWith({ memory: [], prefs: [], learned: [] }))
    const bytes = Buffer.concat([Buffer.from(cp.chunks[0] as Uint8Array), Buffer.from([0])])
    const chunks = [new Uint8Array(bytes)]
    const stateRoot = Checkpoint.computeRoot(chunks, cp.chunkSize)
    expect(() => Checkpoint.importState({ chunks, chunkSize: cp.chunkSize, stateRoot })).toThrow(Checkpoint.InvalidCheckpointError)
  })
})

describe('exportStateAsync', () => {
  test('behavior: the same checkpoint as exportState, and the event loop runs while it exports', async () => {
    const rows: Rows = {
      memory: Array.from({ length: 3000 }, (_, i) => [`k${i}`, `value ${i} `.repeat(8), i] as [string, string, number]),
      prefs: [['tone', 'dry']],
      learned: [['a', 'b', 1.5]],
    }
    const db = dbWith(rows)
    // Another task that needs the event loop: it gets turns only if the export gives them.
    let turns = 0
    let running = true
    const tick = () => {
      if (!running) return
      turns++
      setImmediate(tick)
    }
    setImmediate(tick)
    const async = await Checkpoint.exportStateAsync(db, { chunkSize: 4096, yieldEvery: 100 })
    running = false
    expect(async).toEqual(Checkpoint.exportState(db, { chunkSize: 4096 }))
    expect(turns).toBeGreaterThanOrEqual(30) // 3,000 rows, a turn every 100
    await expect(Checkpoint.exportStateAsync(db, { chunkSize: 0 })).rejects.toThrow(Checkpoint.InvalidChunkSizeError)
  })
})

describe('Merkle', () => {
  test('vector: leaf/node domain separation and the root formula', () => {
    const chunks = ['a', 'b', 'c'].map((s) => new TextEncoder().encode(s))
    const sha = (...parts: Uint8Array[]) => new Uint8Array(createHash('sha256').update(Buffer.concat(parts)).digest())
    const l = chunks.map((c) => sha(Uint8Array.of(0), c))
    const tree = sha(Uint8Array.of(1), sha(Uint8Array.of(1), l[0] as Uint8Array, l[1] as Uint8Array), l[2] as Uint8Array)
    expect(Buffer.from(Merkle.treeRoot(chunks.map(Merkle.leafHash))).toString('hex')).toBe(Buffer.from(tree).toString('hex'))
    const u64 = (n: number) => Buffer.from(BigInt(n).toString(16).padStart(16, '0'), 'hex')
    const expected = sha(Uint8Array.of(2), new TextEncoder().encode('regent/checkpoint/v1'), u64(1), u64(3), u64(3), tree)
    const root = Checkpoint.computeRoot(chunks, 1)
    expect(root).toBe(`0x${Buffer.from(expected).toString('hex')}`)
    expect(root).toBe(ROOT_ABC)
  })

  test('property: every leaf proof verifies; a proof for another chunk, index or root does not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.integer({ min: 1, max: 40 }), fc.nat(), (data, chunkSize, pick) => {
        const chunks: Uint8Array[] = []
        for (let i = 0; i < data.length; i += chunkSize) chunks.push(data.slice(i, i + chunkSize))
        const cp = { chunks, chunkSize, byteLength: data.length, stateRoot: Checkpoint.computeRoot(chunks, chunkSize) }
        const index = pick % chunks.length
        const proof = Checkpoint.prove(cp, index)
        const chunk = chunks[index] as Uint8Array
        expect(Merkle.verifyProof({ stateRoot: cp.stateRoot, chunk, proof })).toBe(true)
        const flipped = Uint8Array.from(chunk)
        flipped[0] = (flipped[0] as number) ^ 1
        expect(Merkle.verifyProof({ stateRoot: cp.stateRoot, chunk: flipped, proof })).toBe(false)
        expect(Merkle.verifyProof({ stateRoot: `0x${'11'.repeat(32)}`, chunk, proof })).toBe(false)
        if (chunks.length > 1) {
          const other = (index + 1) % chunks.length
          if (!Buffer.from(chunks[other] as Uint8Array).equals(Buffer.from(chunk)))
            expect(Merkle.verifyProof({ stateRoot: cp.stateRoot, chunk, proof: { ...proof, index: other } })).toBe(false)
        }
      }),
      { numRuns: 200 },
    )
  })

  test('behavior: out-of-range challenge is a typed error', () => {
    const cp = Checkpoint.exportState(dbWith({ memory: [], prefs: [], learned: [] }))
    expect(() => Checkpoint.prove(cp, 1)).toThrow('Chunk index 1 is out of range (the checkpoint has 1 chunks).')
  })
})
