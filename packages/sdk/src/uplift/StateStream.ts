/**
 * The binary state stream of the uplift (DESIGN.md §10 step 3; docs/uplift.md "State stream"): the body of
 * `POST /uplift/v1/state/stream`, `application/octet-stream`, one frame per checkpoint chunk, in index order:
 *
 *   preamble = "RGUPSTM1" (8) ‖ sessionId (32) ‖ senderPublicKey (32)       (which session and which offer)
 *   frame    = u32 index ‖ u32 len ‖ AES-256-GCM(chunk[index]) ‖ tag(16)     (len = chunk length + 16)
 *
 * K = HKDF-SHA256(X25519(sender, target ephemeral), salt = transcript before the offer, info {@link streamLabel}).
 * IV of frame i = 0x00000000 ‖ u64 i. A counter IV is safe here because K is single-use: the sender key pair is
 * fresh for every offer (`keyToTarget`), so no two offers share K, and within an offer frame i always carries the
 * same chunk i of the frozen, journaled checkpoint — a resumed source re-creates byte-identical frames, never a
 * different plaintext under a used (K, IV) pair (NIST SP 800-38D §8.2.1, deterministic construction).
 * AD of frame i = label ‖ 0x00 ‖ transcript(32) ‖ stateRoot(32) ‖ u64 seq ‖ u32 i ‖ u32 chunkCount: a frame opens
 * only in its session, under its signed offer, at its position.
 */
import { Aead } from '@regent-tee/core'
import type { Hex } from 'viem'
import { concat, fromHex, u32, u64, utf8 } from '../internal/bytes.js'
import type * as Messages from './Messages.js'

/** HKDF info and AD label of the stream's frames. Permanent. */
export const streamLabel = 'regent-uplift-state-stream/v1'
/** Stream magic (versioned). Permanent. */
export const magic = 'RGUPSTM1'
export const preambleLength = 8 + 32 + 32
export const frameHeaderLength = 8
export const tagLength = 16

type Layout = Pick<Messages.StateOffer, 'sessionId' | 'senderPublicKey' | 'stateRoot' | 'seq' | 'chunkSize' | 'byteLength' | 'chunkCount'>

/** The stream's exact size in bytes for an offer (a body that would exceed it is refused). */
export function streamLength(offer: Layout): number {
  return preambleLength + Number(offer.chunkCount) * (frameHeaderLength + tagLength) + Number(offer.byteLength)
}

/** The plaintext length of chunk `index` under the offer's layout (every chunk `chunkSize` but the last). */
export function chunkLength(offer: Layout, index: number): number {
  const count = Number(offer.chunkCount)
  const size = Number(offer.chunkSize)
  return index < count - 1 ? size : Number(offer.byteLength) - size * (count - 1)
}

export function preamble(offer: Layout): Uint8Array {
  return concat([utf8(magic), fromHex(offer.sessionId, 'sessionId'), fromHex(offer.senderPublicKey, 'senderPublicKey')])
}

function frameIv(index: number): Uint8Array {
  const iv = new Uint8Array(12)
  new DataView(iv.buffer).setBigUint64(4, BigInt(index))
  return iv
}

/** The AD prefix common to every frame of an offer (the index and count follow). */
export function adPrefix(transcript: Hex, offer: Layout): Uint8Array {
  return concat([
    utf8(streamLabel),
    Uint8Array.of(0),
    fromHex(transcript, 'transcript'),
    fromHex(offer.stateRoot, 'stateRoot'),
    u64(BigInt(offer.seq)),
  ])
}

function frameAd(prefix: Uint8Array, index: number, count: number): Uint8Array {
  return concat([prefix, u32(index), u32(count)])
}

/** Frame `index` (header, ciphertext and tag) of `chunk`. */
export function sealFrame(key: Uint8Array, prefix: Uint8Array, count: number, index: number, chunk: Uint8Array): Uint8Array {
  const { ciphertext, tag } = Aead.seal(key, chunk, { ad: frameAd(prefix, index, count), iv: frameIv(index) })
  const out = Buffer.allocUnsafe(frameHeaderLength + ciphertext.length + tagLength)
  out.writeUInt32BE(index, 0)
  out.writeUInt32BE(ciphertext.length + tagLength, 4)
  out.set(ciphertext, frameHeaderLength)
  out.set(tag, frameHeaderLength + ciphertext.length)
  return out
}

/** The chunk of a frame's ciphertext ‖ tag, or undefined when the tag does not verify. */
export function openFrame(key: Uint8Array, prefix: Uint8Array, count: number, index: number, sealed: Uint8Array): Uint8Array | undefined {
  return Aead.openJoined(key, frameIv(index), sealed, { ad: frameAd(prefix, index, count) })
}

/** Why a stream was refused: `code` is the protocol's refusal code. */
export class StreamError extends Error {
  constructor(
    readonly code: 'state.stream' | 'state.frame' | 'state.chunks',
    message: string,
  ) {
    super(message)
  }
}

/**
 * Cuts a byte stream into the offer's frames, checking the layout as bytes arrive (nothing is buffered beyond one
 * frame): the preamble names this session and offer (`state.chunks`), frames come in index order without gaps or
 * repeats (`state.chunks`), each frame's length is the one the layout gives (`state.frame`), nothing follows the last
 * frame (`state.stream`), and the stream is complete (`state.chunks`).
 *
 * @throws {StreamError}
 */
export async function* frames(offer: Layout, body: AsyncIterable<Uint8Array>): AsyncGenerator<{ index: number; sealed: Uint8Array }> {
  const count = Number(offer.chunkCount)
  const expectedPreamble = Buffer.from(preamble(offer))
  let pending: Buffer = Buffer.alloc(0)
  let started = false
  let next = 0
  for await (const piece of body) {
    pending = pending.length === 0 ? Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength) : Buffer.concat([pending, piece])
    if (!started) {
      if (pending.length < preambleLength) continue
      const got = pending.subarray(0, preambleLength)
      if (!got.subarray(0, 8).equals(expectedPreamble.subarray(0, 8)))
        throw new StreamError('state.stream', 'The body is not a state stream.')
      if (!got.equals(expectedPreamble)) throw new StreamError('state.chunks', 'The stream belongs to another session or offer.')
      pending = pending.subarray(preambleLength)
      started = true
    }
    while (pending.length >= frameHeaderLength) {
      if (next === count) throw new StreamError('state.stream', `Bytes follow the last of ${count} frames.`)
      const index = pending.readUInt32BE(0)
      const length = pending.readUInt32BE(4)
      if (index !== next)
        throw new StreamError(
          'state.chunks',
          `Frame ${index} arrived where frame ${next} belongs (out of order, repeated or out of range).`,
        )
      const expected = chunkLength(offer, index) + tagLength
      if (length !== expected)
        throw new StreamError('state.frame', `Frame ${index} is ${length} bytes; the offer's layout gives ${expected}.`)
      if (pending.length < frameHeaderLength + length) break
      yield { index, sealed: pending.subarray(frameHeaderLength, frameHeaderLength + length) }
      pending = pending.subarray(frameHeaderLength + length)
      next++
    }
    if (next === count && pending.length > 0) throw new StreamError('state.stream', `Bytes follow the last of ${count} frames.`)
  }
  if (!started || next < count) throw new StreamError('state.chunks', `The stream ended after ${next} of ${count} frames.`)
}
