/**
 * Sealed state (DESIGN.md §7): the agent's memory DB (better-sqlite3; tables memory, preferences,
 * learned_behaviours) encrypted at rest under a key derived inside the TEE (GetKey path {@link sealingPath}).
 *
 * Model: whole-file snapshot. While open the database lives only in memory; {@link SealedState.save} and
 * {@link SealedState.close} serialize it (SQLite's own image format, `db.serialize()`), encrypt it with
 * AES-256-GCM (NIST SP 800-38D) and atomically replace the file. Nothing plaintext ever touches the disk; the cost
 * is a full rewrite per save and losing writes since the last save on a crash. File layout (docs/protocol.md
 * "Sealed state"):
 *
 *   "RGTSEAL1" (8) ‖ keyId (16) ‖ iv (12) ‖ AES-256-GCM(ciphertext) ‖ tag (16),  AAD = the first 36 bytes
 *   encKey = HKDF-SHA256(ikm = sealing secret, salt = "regent/v1/sealed-state", info = "aes-256-gcm", 32)
 *   keyId  = HKDF-SHA256(ikm = sealing secret, salt = "regent/v1/sealed-state", info = "key-id", 16)
 *
 * keyId tells a different app's key (typed error) from tampering (GCM failure) and commits the file to one key.
 */
import { hkdfSync, randomBytes } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { Aead } from '@regent-tee/core'
import Database from 'better-sqlite3'
import * as Checkpoint from './Checkpoint.js'
import type { BaseTeeClient } from './createTeeClient.js'
import { BaseError } from './errors.js'
import { concat, equalBytes, type Hex, utf8, wipe } from './internal/bytes.js'
import { deriveKey, PrivateKey } from './Keys.js'

/** GetKey path and purpose of the sealing secret. Permanent. */
export const sealingPath = 'regent/v1/sealed-state'
export const sealingPurpose = 'regent-sealing'
/** File magic (versioned). Permanent. */
export const fileMagic = 'RGTSEAL1'
const salt = utf8('regent/v1/sealed-state')
const headerLength = 8 + 16 + 12

/**
 * The sealing secret of this app (same on every CVM of the app, different for any other app).
 *
 * @example
 * const key = await deriveSealingKey(client)
 * const state = openSealedState({ path: 'state.sealed', key })
 */
export async function deriveSealingKey(client: BaseTeeClient): Promise<PrivateKey> {
  const derived = await deriveKey(client, { path: sealingPath, purpose: sealingPurpose })
  return derived.privateKey
}

export type SealedState = {
  /** The open in-memory database with the state tables. */
  readonly db: Database.Database
  /** Encrypts the current state and atomically replaces the file. */
  save(): void
  /** Saves, closes the database and forgets the keys. */
  close(): void
  /** Deterministic chunked export (Checkpoint.exportState). */
  checkpoint(options?: { chunkSize?: number }): Checkpoint.Checkpoint
  /** Verifies `stateRoot`, then replaces the whole state with the checkpoint (and saves). Nothing changes on error. */
  restore(checkpoint: { chunks: readonly Uint8Array[]; chunkSize: number; stateRoot: Hex }): void
  /**
   * Replaces the whole state with `db`, a database `Checkpoint.importState` loaded (root verified), and saves; takes
   * ownership of `db`. What an uplift target does with the state it received, without importing it a second time.
   */
  adopt(db: Database.Database): void
}

export type OpenSealedStateOptions = {
  /** File path of the sealed state (created on first save if missing). */
  readonly path: string
  /** The sealing secret ({@link deriveSealingKey}), or its 32 bytes. */
  readonly key: PrivateKey | Uint8Array
}

/**
 * Opens (or creates) the sealed state.
 *
 * @throws {WrongSealingKeyError} when the file was sealed under another key (another app).
 * @throws {SealedStateCorruptError} when the file was modified, truncated or is not a sealed state.
 * @example
 * const state = openSealedState({ path, key: await deriveSealingKey(client) })
 * state.db.prepare('INSERT INTO preferences (key, value) VALUES (?, ?)').run('tone', 'dry')
 * state.close()
 */
export function openSealedState(options: OpenSealedStateOptions): SealedState {
  const keys = (options.key instanceof PrivateKey ? options.key : new PrivateKey(options.key)).use((ikm) => ({
    enc: new Uint8Array(hkdfSync('sha256', ikm, salt, utf8('aes-256-gcm'), 32)),
    id: new Uint8Array(hkdfSync('sha256', ikm, salt, utf8('key-id'), 16)),
  }))
  let db: Database.Database
  try {
    db = existsSync(options.path) ? unseal(readFileSync(options.path), keys) : new Database(':memory:')
    Checkpoint.createSchema(db)
  } catch (error) {
    wipe(keys.enc)
    throw error
  }
  let closed = false
  const assertOpen = () => {
    if (closed) throw new SealedStateClosedError()
  }
  const state: SealedState = {
    get db() {
      assertOpen()
      return db
    },
    save() {
      assertOpen()
      seal(db, keys, options.path)
    },
    close() {
      if (closed) return
      seal(db, keys, options.path)
      db.close()
      wipe(keys.enc)
      closed = true
    },
    checkpoint(o) {
      assertOpen()
      return Checkpoint.exportState(db, o ?? {})
    },
    restore(checkpoint) {
      state.adopt(Checkpoint.importState(checkpoint))
    },
    adopt(next) {
      assertOpen()
      const previous = db
      db = next
      seal(db, keys, options.path)
      previous.close()
    },
  }
  return state
}

type Keys = { enc: Uint8Array; id: Uint8Array }

function unseal(file: Buffer, keys: Keys): Database.Database {
  if (file.length < headerLength + 16 || file.subarray(0, 8).toString('latin1') !== fileMagic)
    throw new SealedStateCorruptError({ reason: 'not a Regent sealed-state file (bad magic or too short)' })
  if (!equalBytes(new Uint8Array(file.subarray(8, 24)), keys.id)) throw new WrongSealingKeyError()
  const plain = Aead.open(
    keys.enc,
    {
      iv: file.subarray(24, headerLength),
      ciphertext: file.subarray(headerLength, file.length - 16),
      tag: file.subarray(file.length - 16),
    },
    { ad: file.subarray(0, headerLength) },
  )
  if (!plain) throw new SealedStateCorruptError({ reason: 'authentication failed (the file was modified)' })
  try {
    return new Database(Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength))
  } finally {
    wipe(plain)
  }
}

function seal(db: Database.Database, keys: Keys, path: string): void {
  const plain = db.serialize()
  try {
    const iv = randomBytes(12)
    const header = concat([utf8(fileMagic), keys.id, iv])
    const { ciphertext, tag } = Aead.seal(keys.enc, plain, { ad: header, iv })
    const body = concat([header, ciphertext, tag])
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, body)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } finally {
    wipe(plain)
  }
}

/** The file was sealed under a different key: another app (or another KMS root) sealed it. */
export class WrongSealingKeyError extends BaseError {
  override name = 'WrongSealingKeyError'
  constructor() {
    super('The sealed state was sealed under a different key (another app or KMS root); it cannot be opened here.')
  }
}

export class SealedStateCorruptError extends BaseError {
  override name = 'SealedStateCorruptError'
  constructor({ reason }: { reason: string }) {
    super(`The sealed state cannot be opened: ${reason}.`)
  }
}

export class SealedStateClosedError extends BaseError {
  override name = 'SealedStateClosedError'
  constructor() {
    super('The sealed state is closed.')
  }
}
