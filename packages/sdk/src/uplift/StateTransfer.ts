/**
 * State migration (DESIGN.md §10 step 3; docs/uplift.md "State transfer"). The source signs {stateRoot, seq} with
 * the wallet (EIP-712 `UpliftState`, domain "Regent Uplift" v1 on the deployment's chain and RegentSuccession) and
 * streams its checkpoint (`Checkpoint.exportState`) as binary frames, one per chunk, encrypted to the verified
 * target's ephemeral key (`StateStream.ts`: X25519 → HKDF-SHA256 info `regent-uplift-state-stream/v1`, salt =
 * transcript → AES-256-GCM with counter IVs under a single-use key; the associated data binds the transcript, the
 * state root, the seq, the frame index and the chunk count). The target checks the signer and the sequence against
 * RegentSuccession (anti-rollback, DESIGN.md §7 "Checkpoints") before it reads a frame, decrypts frames as they
 * arrive, and loads the checkpoint through `Checkpoint.importState`, which recomputes the state root before it parses
 * a byte.
 */

import type Database from 'better-sqlite3'
import type { Account, Client, Hex, LocalAccount } from 'viem'
import { getAddress, recoverTypedDataAddress } from 'viem'
import * as Checkpoint from '../Checkpoint.js'
import { readCanonical } from '../chain/readCanonical.js'
import type { RegentContracts } from '../chain/transact.js'
import { toHex } from '../internal/bytes.js'
import { type Reason, UpliftRefusedError } from './errors.js'
import * as Messages from './Messages.js'
import * as StateStream from './StateStream.js'
import { assertTarget, keyFromSource, keyToTarget, type TargetVerdict } from './VerifyTarget.js'

/** HKDF info and AD label of the state stream's frames. Permanent. */
export const stateEnvelopeLabel = StateStream.streamLabel

/** EIP-712 domain of the state signature (plus chainId and verifyingContract = RegentSuccession). Permanent. */
export const domainName = 'Regent Uplift'
export const domainVersion = '1'

/** EIP-712 types of the state signature. Permanent. */
export const types = {
  UpliftState: [
    { name: 'agentId', type: 'uint256' },
    { name: 'stateRoot', type: 'bytes32' },
    { name: 'seq', type: 'uint64' },
    { name: 'chunkSize', type: 'uint64' },
    { name: 'byteLength', type: 'uint64' },
    { name: 'sessionId', type: 'bytes32' },
    { name: 'transcript', type: 'bytes32' },
  ],
} as const

/** The typed data a StateOffer's signature covers. `transcript` is the transcript hash before the offer. */
export function toTypedData(parameters: {
  offer: Pick<Messages.StateOffer, 'agentId' | 'stateRoot' | 'seq' | 'chunkSize' | 'byteLength' | 'sessionId'>
  transcript: Hex
  chainId: number
  contracts: Pick<RegentContracts, 'succession'>
}) {
  const { offer } = parameters
  return {
    domain: { name: domainName, version: domainVersion, chainId: parameters.chainId, verifyingContract: parameters.contracts.succession },
    types,
    primaryType: 'UpliftState' as const,
    message: {
      agentId: BigInt(offer.agentId),
      stateRoot: offer.stateRoot,
      seq: BigInt(offer.seq),
      chunkSize: BigInt(offer.chunkSize),
      byteLength: BigInt(offer.byteLength),
      sessionId: offer.sessionId,
      transcript: parameters.transcript,
    },
  }
}

export type OfferStateParameters = {
  /** An `ok` verdict of `verifyTarget` for this session. */
  readonly verdict: TargetVerdict
  /** The source wallet (K_agent), as a viem account that signs typed data. */
  readonly account: LocalAccount | (Account & { signTypedData: LocalAccount['signTypedData'] })
  /** The source's checkpoint (`Checkpoint.exportState` / `SealedState.checkpoint()`); the source stops writing first. */
  readonly checkpoint: Checkpoint.Checkpoint
  /** The checkpoint's sequence number: above the on-chain one, or equal to it when this very root is committed. */
  readonly seq: bigint
  readonly agentId: bigint
  readonly chainId: number
  readonly contracts: Pick<RegentContracts, 'succession'>
  /** Transcript hash of every control message before this offer. */
  readonly transcript: Hex
}

export type OfferStateReturnType = {
  readonly offer: Messages.StateOffer
  /**
   * The offer's stream key (32 bytes, single-use: a fresh sender key per offer). Whoever holds it can re-create the
   * stream ({@link sealState}); the source journals it only sealed, and wipes it.
   */
  readonly key: Uint8Array
  /** The transcript hash after the offer. */
  readonly transcript: Hex
}

/**
 * Source side: signs {stateRoot, seq} and the chunk layout for the verified target, and derives the stream key.
 *
 * @throws {UpliftRefusedError} the verdict's codes when it is not ok (nothing is signed or derived).
 * @example
 * const { offer, key } = await offerState({ verdict, account, checkpoint: state.checkpoint(), seq, agentId, chainId, contracts, transcript })
 * await fetch(url, { method: 'POST', body: Readable.from(sealState({ offer, checkpoint, key, transcript })), duplex: 'half' })
 */
export async function offerState(parameters: OfferStateParameters): Promise<OfferStateReturnType> {
  const target = assertTarget(parameters.verdict, 'state transfer')
  const { checkpoint } = parameters
  // Derived first: an unusable target key is refused before anything is signed.
  const { key, senderPublicKey } = keyToTarget({
    target,
    transcript: parameters.transcript,
    info: stateEnvelopeLabel,
    step: 'state transfer',
  })
  const base = {
    version: Messages.version,
    type: 'state-offer' as const,
    sessionId: target.sessionId,
    agentId: parameters.agentId.toString(),
    stateRoot: checkpoint.stateRoot.toLowerCase() as Hex,
    seq: parameters.seq.toString(),
    chunkSize: checkpoint.chunkSize.toString(),
    byteLength: checkpoint.byteLength.toString(),
    chunkCount: checkpoint.chunks.length.toString(),
    signer: parameters.account.address.toLowerCase() as Hex,
    senderPublicKey: toHex(senderPublicKey),
  }
  try {
    const signature = await parameters.account.signTypedData(toTypedData({ offer: base, ...parameters }))
    const offer = Messages.parse({ ...base, signature: signature.toLowerCase() }, 'state-offer')
    return { offer, key, transcript: Messages.appendTranscript(parameters.transcript, offer) }
  } catch (error) {
    key.fill(0)
    throw error
  }
}

/**
 * Source side: the state stream of an offer (`StateStream.ts`), frame by frame, each encrypted only when the reader
 * asks for it (the caller's backpressure: frame n+1 is sealed while frame n is on the wire). Deterministic for the
 * same offer, checkpoint and key, so a resumed source sends the same bytes. Copies the key; the caller wipes its own.
 *
 * @example
 * const body = Readable.from(sealState({ offer, checkpoint, key, transcript: afterKey }))
 */
export async function* sealState(parameters: {
  readonly offer: Messages.StateOffer
  readonly checkpoint: Checkpoint.Checkpoint
  readonly key: Uint8Array
  /** Transcript hash before the offer. */
  readonly transcript: Hex
}): AsyncGenerator<Uint8Array> {
  const { offer, checkpoint } = parameters
  if (checkpoint.stateRoot.toLowerCase() !== offer.stateRoot || checkpoint.chunks.length !== Number(offer.chunkCount))
    throw new Error('sealState: the checkpoint is not the offer’s')
  const key = Uint8Array.from(parameters.key)
  try {
    const prefix = StateStream.adPrefix(parameters.transcript, offer)
    const count = checkpoint.chunks.length
    yield StateStream.preamble(offer)
    for (let i = 0; i < count; i++) yield StateStream.sealFrame(key, prefix, count, i, checkpoint.chunks[i] as Uint8Array)
  } finally {
    key.fill(0)
  }
}

export type CheckOfferParameters = {
  readonly offer: Messages.StateOffer
  /** Transcript hash of every control message before the offer, as the target computed it. */
  readonly transcript: Hex
  /** Reads RegentSuccession (anti-rollback and the default expected signer). */
  readonly client: Client
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  readonly chainId: number
  /** Who must have signed. Default: the on-chain canonical signer. */
  readonly expectedSigner?: Hex
  /** Read RegentSuccession at this block (default: the latest). */
  readonly blockNumber?: bigint
}

const refuse = (code: string, message: string): never => {
  throw new UpliftRefusedError({ step: 'state import', reasons: [{ code, message } satisfies Reason] })
}

/**
 * Target side, before a byte of state is read: the offer is for this agent (`state.agent`), signed by the expected
 * signer (`state.signer`), and moves past the on-chain sequence (`state.stale_seq`, anti-rollback). Returns the seq.
 *
 * @throws {UpliftRefusedError}
 */
export async function checkOffer(parameters: CheckOfferParameters): Promise<bigint> {
  const { offer } = parameters
  if (BigInt(offer.agentId) !== parameters.agentId) refuse('state.agent', `The offer is for agent ${offer.agentId}.`)
  const onChain = await readCanonical(parameters.client, {
    contracts: parameters.contracts,
    agentId: parameters.agentId,
    ...(parameters.blockNumber !== undefined ? { blockNumber: parameters.blockNumber } : {}),
  })
  let signer: Hex | undefined
  try {
    signer = await recoverTypedDataAddress({ ...toTypedData({ ...parameters }), signature: offer.signature })
  } catch {
    signer = undefined
  }
  const expected = (parameters.expectedSigner ?? onChain.instance.signer).toLowerCase()
  if (!signer || signer.toLowerCase() !== offer.signer) refuse('state.signer', 'The signature does not recover to the offer signer.')
  if (offer.signer !== expected) refuse('state.signer', `Signed by ${getAddress(offer.signer)}, expected ${getAddress(expected)}.`)
  const seq = BigInt(offer.seq)
  if (seq < onChain.stateSeq || (seq === onChain.stateSeq && offer.stateRoot !== onChain.stateRoot.toLowerCase()))
    refuse('state.stale_seq', `Sequence ${seq} does not move past the on-chain sequence ${onChain.stateSeq} (root ${onChain.stateRoot}).`)
  return seq
}

export type OpenStateParameters = CheckOfferParameters & {
  /** The state stream's bytes as they arrive (e.g. the request: `IncomingMessage` is an async iterable). */
  readonly stream: AsyncIterable<Uint8Array>
  /** The target's ephemeral X25519 private key (`createTargetHello`). */
  readonly ephemeralPrivateKey: Uint8Array
}

export type OpenStateReturnType = {
  /** The loaded state (an in-memory database; the caller seals it, e.g. `SealedState`). */
  readonly db: Database.Database
  readonly checkpoint: Checkpoint.Checkpoint
  readonly seq: bigint
  /** The transcript hash after the offer. */
  readonly transcript: Hex
}

/**
 * Target side: checks the offer ({@link checkOffer}: its chain read runs while the first frames arrive) and decrypts
 * frames as they arrive; nothing is parsed or loaded before both passed. Checks, in order (the first failing one is
 * thrown; nothing is loaded):
 * `state.agent`, `state.signer`, `state.stale_seq` (see {@link checkOffer}), `state.decrypt` (an unusable sender key,
 * or a frame does not open: wrong key, other transcript, other offer, altered bytes), `state.stream` (not a state
 * stream, or bytes after the last frame), `state.frame` (a frame whose length is not the layout's), `state.chunks`
 * (another session or offer, frames out of order, repeated, or missing), `state.root_mismatch` (the chunks do not
 * hash to the signed root), `state.invalid` (not a canonical checkpoint).
 *
 * @throws {UpliftRefusedError}
 * @example
 * const { db, checkpoint } = await openState({ offer, stream: req, ephemeralPrivateKey, transcript, client, contracts, agentId, chainId })
 */
export async function openState(parameters: OpenStateParameters): Promise<OpenStateReturnType> {
  const { offer } = parameters
  // The offer's checks read the chain; the frames arrive meanwhile. Its refusal comes first whatever the stream did.
  const checked = checkOffer(parameters)
  checked.catch(() => undefined) // awaited below on every path
  const key = keyFromSource({ ...parameters, senderPublicKey: offer.senderPublicKey, info: stateEnvelopeLabel })
  if (!key) {
    await checked
    return refuse('state.decrypt', 'The sender key is not a usable X25519 public key.')
  }
  const count = Number(offer.chunkCount)
  const prefix = StateStream.adPrefix(parameters.transcript, offer)
  const chunks: Uint8Array[] = []
  try {
    for await (const { index, sealed } of StateStream.frames(offer, parameters.stream)) {
      const chunk = StateStream.openFrame(key, prefix, count, index, sealed)
      if (!chunk) refuse('state.decrypt', `Frame ${index} did not decrypt: wrong key, other transcript, other offer or altered bytes.`)
      chunks.push(chunk as Uint8Array)
    }
  } catch (error) {
    await checked
    if (error instanceof StateStream.StreamError) refuse(error.code, error.message)
    throw error
  } finally {
    key.fill(0)
  }
  const seq = await checked
  const chunkSize = Number(offer.chunkSize)
  let db: Database.Database
  try {
    db = Checkpoint.importState({ chunks, chunkSize, stateRoot: offer.stateRoot })
  } catch (error) {
    if (error instanceof Checkpoint.StateRootMismatchError) return refuse('state.root_mismatch', error.shortMessage)
    if (error instanceof Checkpoint.InvalidCheckpointError) return refuse('state.invalid', error.shortMessage)
    throw error
  }
  return {
    db,
    checkpoint: { chunks, chunkSize, byteLength: Number(offer.byteLength), stateRoot: offer.stateRoot },
    seq,
    transcript: Messages.appendTranscript(parameters.transcript, offer),
  }
}
