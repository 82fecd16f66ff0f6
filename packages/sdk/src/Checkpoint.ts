/**
 * Deterministic, chunked export of the sealed state (DESIGN.md §7 "Checkpoints"; byte layout in docs/protocol.md
 * "Checkpoint and state root"). The stream is:
 *
 *   "RGCKPT" ‖ u8 version (1) ‖ for each table in {@link tables} order:
 *     0x01 ‖ u16 len ‖ table name ‖ u16 column count ‖ (u16 len ‖ column name)* ‖ u64 row count ‖ rows
 *   ‖ 0xff
 *   row   = one value per column, in column order; rows in ascending primary-key order (SQLite BINARY order)
 *   value = 0x00 NULL | 0x01 i64 INTEGER | 0x02 f64 REAL | 0x03 u32 len ‖ UTF-8 TEXT | 0x04 u32 len ‖ BLOB
 *
 * cut into chunks of `chunkSize` bytes (the last one shorter); `stateRoot` is Merkle.stateRoot over the chunks.
 * Import verifies the root before it parses a byte and loads into a fresh database inside one transaction.
 */
import Database from 'better-sqlite3'
import { BaseError } from './errors.js'
import { concat, type Hex, u16, u32, u64, utf8 } from './internal/bytes.js'
import * as Merkle from './Merkle.js'

/** Default chunk size: 1 MiB. */
export const defaultChunkSize = 1024 * 1024

/** Stream magic and version. Permanent. */
export const magic = 'RGCKPT'
export const version = 1

/** The state's tables: name, columns in order, primary key, DDL. Canonical order is this array's order. */
export const tables = [
  {
    name: 'learned_behaviours',
    columns: ['id', 'trigger', 'behaviour', 'weight', 'updated_at'],
    primaryKey: 'id',
    ddl: 'CREATE TABLE IF NOT EXISTS learned_behaviours (id INTEGER PRIMARY KEY, trigger TEXT NOT NULL, behaviour TEXT NOT NULL, weight REAL NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL DEFAULT 0)',
  },
  {
    name: 'memory',
    columns: ['id', 'key', 'value', 'created_at'],
    primaryKey: 'id',
    ddl: 'CREATE TABLE IF NOT EXISTS memory (id INTEGER PRIMARY KEY, key TEXT NOT NULL, value TEXT NOT NULL, created_at INTEGER NOT NULL DEFAULT 0)',
  },
  {
    name: 'preferences',
    columns: ['key', 'value'],
    primaryKey: 'key',
    ddl: 'CREATE TABLE IF NOT EXISTS preferences (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
  },
] as const

/** Creates the state tables in `db` if missing. */
export function createSchema(db: Database.Database): void {
  for (const t of tables) db.exec(t.ddl)
}

/** An exported checkpoint. */
export type Checkpoint = {
  readonly chunkSize: number
  readonly byteLength: number
  readonly chunks: readonly Uint8Array[]
  readonly stateRoot: Hex
}

class ChunkWriter {
  readonly chunks: Uint8Array[] = []
  byteLength = 0
  #buf: Uint8Array
  #pos = 0
  constructor(readonly chunkSize: number) {
    this.#buf = new Uint8Array(chunkSize)
  }
  write(bytes: Uint8Array): void {
    let off = 0
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, this.chunkSize - this.#pos)
      this.#buf.set(bytes.subarray(off, off + n), this.#pos)
      this.#pos += n
      off += n
      if (this.#pos === this.chunkSize) {
        this.chunks.push(this.#buf)
        this.#buf = new Uint8Array(this.chunkSize)
        this.#pos = 0
      }
    }
    this.byteLength += bytes.length
  }
  finish(): Uint8Array[] {
    if (this.#pos > 0 || this.chunks.length === 0) this.chunks.push(this.#buf.slice(0, this.#pos))
    return this.chunks
  }
}

function encodeValue(v: unknown): Uint8Array {
  if (v === null) return Uint8Array.of(0)
  if (typeof v === 'bigint') return concat([Uint8Array.of(1), i64(v)])
  if (typeof v === 'number') {
    const b = new Uint8Array(9)
    b[0] = 2
    new DataView(b.buffer).setFloat64(1, v)
    return b
  }
  if (typeof v === 'string') {
    const s = utf8(v)
    return concat([Uint8Array.of(3), u32(s.length), s])
  }
  if (v instanceof Uint8Array) return concat([Uint8Array.of(4), u32(v.length), v])
  throw new InvalidCheckpointError({ reason: `unsupported SQLite value type ${typeof v}` })
}

function i64(v: bigint): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigInt64(0, v)
  return b
}

/** Writes the canonical stream of `db` into `w`, pausing (a `yield`) after every `every` rows. */
function* encodeState(db: Database.Database, w: ChunkWriter, every: number): Generator<void, void, undefined> {
  w.write(concat([utf8(magic), Uint8Array.of(version)]))
  let n = 0
  for (const t of tables) {
    const name = utf8(t.name)
    const count = (db.prepare(`SELECT count(*) AS n FROM ${t.name}`).get() as { n: number }).n
    w.write(
      concat([
        Uint8Array.of(1),
        u16(name.length),
        name,
        u16(t.columns.length),
        ...t.columns.flatMap((c) => [u16(utf8(c).length), utf8(c)]),
        u64(count),
      ]),
    )
    const rows = db
      .prepare(`SELECT ${t.columns.join(', ')} FROM ${t.name} ORDER BY ${t.primaryKey}`)
      .safeIntegers(true)
      .raw(true)
      .iterate() as IterableIterator<unknown[]>
    for (const row of rows) {
      for (const v of row) w.write(encodeValue(v))
      if (++n % every === 0) yield
    }
  }
  w.write(Uint8Array.of(0xff))
}

function writerFor(options: { chunkSize?: number }): ChunkWriter {
  const chunkSize = options.chunkSize ?? defaultChunkSize
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new InvalidChunkSizeError({ chunkSize })
  return new ChunkWriter(chunkSize)
}

function finish(w: ChunkWriter): Checkpoint {
  const chunks = w.finish()
  return { chunkSize: w.chunkSize, byteLength: w.byteLength, chunks, stateRoot: computeRoot(chunks, w.chunkSize) }
}

/**
 * Exports the whole state canonically and computes its root.
 *
 * @throws {InvalidChunkSizeError}
 * @example
 * const { stateRoot, chunks } = Checkpoint.exportState(db)
 */
export function exportState(db: Database.Database, options: { chunkSize?: number } = {}): Checkpoint {
  const w = writerFor(options)
  db.transaction(() => {
    for (const _ of encodeState(db, w, Number.POSITIVE_INFINITY));
  })()
  return finish(w)
}

/**
 * {@link exportState} that gives the event loop a turn every `yieldEvery` rows (default 1,000), for a server that
 * must keep answering while it exports a large state. `db` must not be used by anything else until it resolves
 * (it reads outside a transaction): export a copy, e.g. `new Database(live.serialize())`.
 *
 * @throws {InvalidChunkSizeError}
 * @example
 * const copy = new Database(live.serialize())
 * const checkpoint = await Checkpoint.exportStateAsync(copy, { chunkSize: 64 * 1024 })
 */
export async function exportStateAsync(
  db: Database.Database,
  options: { chunkSize?: number; yieldEvery?: number } = {},
): Promise<Checkpoint> {
  const w = writerFor(options)
  for (const _ of encodeState(db, w, options.yieldEvery ?? 1000)) await new Promise<void>((resolve) => setImmediate(resolve))
  return finish(w)
}

function leafHashes(chunks: readonly Uint8Array[]): Uint8Array[] {
  return chunks.map(Merkle.leafHash)
}

/**
 * The state root of chunks (checks the chunk layout).
 *
 * @throws {InvalidCheckpointError} when a chunk other than the last is not `chunkSize` bytes.
 */
export function computeRoot(chunks: readonly Uint8Array[], chunkSize: number): Hex {
  const byteLength = assertLayout(chunks, chunkSize)
  return Merkle.stateRoot({ chunkSize, byteLength, leafCount: chunks.length, treeRoot: Merkle.treeRoot(leafHashes(chunks)) })
}

function assertLayout(chunks: readonly Uint8Array[], chunkSize: number): number {
  if (chunks.length === 0) throw new InvalidCheckpointError({ reason: 'no chunks' })
  let byteLength = 0
  chunks.forEach((c, i) => {
    if (i < chunks.length - 1 ? c.length !== chunkSize : c.length > chunkSize || (c.length === 0 && chunks.length > 1))
      throw new InvalidCheckpointError({ reason: `chunk ${i} is ${c.length} bytes with chunk size ${chunkSize}` })
    byteLength += c.length
  })
  return byteLength
}

/**
 * A Merkle proof that chunk `index` belongs to the checkpoint (answer to a random-leaf challenge).
 *
 * @throws {Merkle.IndexOutOfRangeError}
 * @example
 * const proof = Checkpoint.prove(checkpoint, 3)
 * Merkle.verifyProof({ stateRoot: checkpoint.stateRoot, chunk: checkpoint.chunks[3], proof })
 */
export function prove(checkpoint: Checkpoint, index: number): Merkle.Proof {
  return Merkle.prove(leafHashes(checkpoint.chunks), index, { chunkSize: checkpoint.chunkSize, byteLength: checkpoint.byteLength })
}

export const verifyProof = Merkle.verifyProof

/**
 * Verifies the root, then loads the checkpoint into a fresh in-memory database (nothing is loaded on any error).
 *
 * @throws {StateRootMismatchError} when the chunks do not hash to `stateRoot`.
 * @throws {InvalidCheckpointError} when the stream is malformed or not canonical.
 * @example
 * const db = Checkpoint.importState({ chunks, chunkSize, stateRoot })
 */
export function importState(checkpoint: { chunks: readonly Uint8Array[]; chunkSize: number; stateRoot: Hex }): Database.Database {
  const actual = computeRoot(checkpoint.chunks, checkpoint.chunkSize)
  if (actual.toLowerCase() !== checkpoint.stateRoot.toLowerCase())
    throw new StateRootMismatchError({ expected: checkpoint.stateRoot, actual })
  const db = new Database(':memory:')
  try {
    createSchema(db)
    const load = db.transaction(() => parseInto(db, concat(checkpoint.chunks)))
    load()
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

function parseInto(db: Database.Database, bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let pos = 0
  const need = (n: number) => {
    if (pos + n > bytes.length) throw new InvalidCheckpointError({ reason: `truncated at byte ${pos}` })
  }
  const str = (len: number) => {
    need(len)
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(pos, pos + len))
    pos += len
    return s
  }
  const u8 = () => {
    need(1)
    return bytes[pos++] as number
  }
  const rd16 = () => {
    need(2)
    pos += 2
    return view.getUint16(pos - 2)
  }
  const rd32 = () => {
    need(4)
    pos += 4
    return view.getUint32(pos - 4)
  }
  if (str(magic.length) !== magic || u8() !== version) throw new InvalidCheckpointError({ reason: 'bad magic or version' })
  for (const t of tables) {
    if (u8() !== 1) throw new InvalidCheckpointError({ reason: `expected table ${t.name} at byte ${pos - 1}` })
    const name = str(rd16())
    const columns = Array.from({ length: rd16() }, () => str(rd16()))
    if (name !== t.name || columns.join(',') !== t.columns.join(','))
      throw new InvalidCheckpointError({ reason: `table ${name}(${columns.join(',')}) is not ${t.name}(${t.columns.join(',')})` })
    need(8)
    const count = view.getBigUint64(pos)
    pos += 8
    const insert = db.prepare(`INSERT INTO ${t.name} (${t.columns.join(', ')}) VALUES (${t.columns.map(() => '?').join(', ')})`)
    const pkIndex = t.columns.indexOf(t.primaryKey as never)
    let previous: unknown
    for (let r = 0n; r < count; r++) {
      const row: unknown[] = []
      for (let c = 0; c < t.columns.length; c++) {
        const tag = u8()
        if (tag === 0) row.push(null)
        else if (tag === 1) {
          need(8)
          row.push(view.getBigInt64(pos))
          pos += 8
        } else if (tag === 2) {
          need(8)
          row.push(view.getFloat64(pos))
          pos += 8
        } else if (tag === 3) row.push(str(rd32()))
        else if (tag === 4) {
          const len = rd32()
          need(len)
          row.push(Buffer.from(bytes.subarray(pos, pos + len)))
          pos += len
        } else throw new InvalidCheckpointError({ reason: `unknown value tag ${tag} at byte ${pos - 1}` })
      }
      const key = row[pkIndex]
      if (r > 0n && !ascending(previous, key)) throw new InvalidCheckpointError({ reason: `${t.name} rows are not in primary-key order` })
      previous = key
      insert.run(...row)
    }
  }
  if (u8() !== 0xff || pos !== bytes.length) throw new InvalidCheckpointError({ reason: 'trailing bytes after the end marker' })
}

function ascending(a: unknown, b: unknown): boolean {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) < 0
  return false
}

export class StateRootMismatchError extends BaseError {
  override name = 'Checkpoint.StateRootMismatchError'
  readonly expected: Hex
  readonly actual: Hex
  constructor({ expected, actual }: { expected: Hex; actual: Hex }) {
    super(`The checkpoint hashes to ${actual}, not the expected state root ${expected}; nothing was loaded.`)
    this.expected = expected
    this.actual = actual
  }
}

export class InvalidCheckpointError extends BaseError {
  override name = 'Checkpoint.InvalidCheckpointError'
  constructor({ reason }: { reason: string }) {
    super(`Invalid checkpoint: ${reason}.`)
  }
}

export class InvalidChunkSizeError extends BaseError {
  override name = 'Checkpoint.InvalidChunkSizeError'
  constructor({ chunkSize }: { chunkSize: number }) {
    super(`Chunk size ${chunkSize} is not a positive integer.`)
  }
}
