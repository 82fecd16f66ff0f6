/**
 * The checkpoint Merkle tree (DESIGN.md §7 "Checkpoints"; docs/protocol.md "Checkpoint and state root").
 * SHA-256 (FIPS 180-4) with RFC 6962-style domain separation and a versioned, length-binding root:
 *
 *   leaf(chunk)  = SHA-256(0x00 ‖ chunk)
 *   node(l, r)   = SHA-256(0x01 ‖ l ‖ r)
 *   odd rule     : the last node of a level with an odd count is promoted unchanged (never duplicated)
 *   stateRoot    = SHA-256(0x02 ‖ "regent/checkpoint/v1" ‖ u64 chunkSize ‖ u64 byteLength ‖ u64 leafCount ‖ treeRoot)
 */
import { createHash } from 'node:crypto'
import { BaseError } from './errors.js'
import { concat, equalBytes, fromHex, type Hex, toHex, u64, utf8 } from './internal/bytes.js'

/** Domain label of the state root. Permanent. */
export const rootLabel = 'regent/checkpoint/v1'

const LEAF = Uint8Array.of(0)
const NODE = Uint8Array.of(1)
const ROOT = Uint8Array.of(2)

/** Hash of one chunk. */
export function leafHash(chunk: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(LEAF).update(chunk).digest())
}

/** Hash of an inner node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(NODE).update(left).update(right).digest())
}

/**
 * Root of the tree over the given leaf hashes.
 *
 * @throws {EmptyTreeError} for no leaves.
 */
export function treeRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) throw new EmptyTreeError()
  let level = leaves
  while (level.length > 1) level = up(level)
  return level[0] as Uint8Array
}

function up(level: readonly Uint8Array[]): Uint8Array[] {
  const next: Uint8Array[] = []
  for (let i = 0; i < level.length; i += 2) {
    const right = level[i + 1]
    next.push(right ? nodeHash(level[i] as Uint8Array, right) : (level[i] as Uint8Array))
  }
  return next
}

export type RootInput = {
  readonly chunkSize: number
  readonly byteLength: number
  readonly leafCount: number
  readonly treeRoot: Uint8Array
}

/** The versioned state root binding chunk size, total length and leaf count. */
export function stateRoot(input: RootInput): Hex {
  return toHex(
    createHash('sha256')
      .update(concat([ROOT, utf8(rootLabel), u64(input.chunkSize), u64(input.byteLength), u64(input.leafCount), input.treeRoot]))
      .digest(),
  )
}

/** A Merkle inclusion proof for chunk `index`. */
export type Proof = {
  readonly index: number
  readonly leafCount: number
  readonly chunkSize: number
  readonly byteLength: number
  /** Sibling hashes from the leaf level up (levels where the node is promoted have none). */
  readonly siblings: readonly Hex[]
}

/**
 * Proof for leaf `index` given all leaf hashes.
 *
 * @throws {IndexOutOfRangeError}
 */
export function prove(leaves: readonly Uint8Array[], index: number, meta: { chunkSize: number; byteLength: number }): Proof {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) throw new IndexOutOfRangeError({ index, leafCount: leaves.length })
  const siblings: Hex[] = []
  let level = leaves
  let i = index
  while (level.length > 1) {
    const sibling = level[i ^ 1]
    if (sibling) siblings.push(toHex(sibling))
    level = up(level)
    i >>= 1
  }
  return { index, leafCount: leaves.length, chunkSize: meta.chunkSize, byteLength: meta.byteLength, siblings }
}

/**
 * Checks that `chunk` is chunk `proof.index` of the checkpoint with `stateRoot`. Never throws.
 *
 * @example
 * const ok = Merkle.verifyProof({ stateRoot, chunk, proof })
 */
export function verifyProof(options: { stateRoot: Hex; chunk: Uint8Array; proof: Proof }): boolean {
  try {
    const { proof, chunk } = options
    const { index, leafCount, chunkSize, byteLength } = proof
    if (![index, leafCount, chunkSize, byteLength].every((n) => Number.isSafeInteger(n) && n >= 0)) return false
    if (leafCount < 1 || index >= leafCount || chunkSize < 1) return false
    // The chunk layout is fixed by (chunkSize, byteLength): every chunk is full except a shorter last one.
    if (leafCount !== Math.max(1, Math.ceil(byteLength / chunkSize))) return false
    const expectedLength = index < leafCount - 1 ? chunkSize : byteLength - chunkSize * (leafCount - 1)
    if (chunk.length !== expectedLength) return false
    let hash = leafHash(chunk)
    let i = index
    let n = leafCount
    let s = 0
    while (n > 1) {
      const promoted = i === n - 1 && n % 2 === 1
      if (!promoted) {
        const sibling = proof.siblings[s++]
        if (sibling === undefined) return false
        const sib = fromHex(sibling, 'sibling')
        hash = i % 2 === 0 ? nodeHash(hash, sib) : nodeHash(sib, hash)
      }
      i >>= 1
      n = Math.ceil(n / 2)
    }
    if (s !== proof.siblings.length) return false
    return equalBytes(
      fromHex(stateRoot({ chunkSize, byteLength, leafCount, treeRoot: hash }), 'root'),
      fromHex(options.stateRoot, 'stateRoot'),
    )
  } catch {
    return false
  }
}

export class EmptyTreeError extends BaseError {
  override name = 'Merkle.EmptyTreeError'
  constructor() {
    super('A Merkle tree needs at least one leaf.')
  }
}

export class IndexOutOfRangeError extends BaseError {
  override name = 'Merkle.IndexOutOfRangeError'
  constructor({ index, leafCount }: { index: number; leafCount: number }) {
    super(`Chunk index ${index} is out of range (the checkpoint has ${leafCount} chunks).`)
  }
}
