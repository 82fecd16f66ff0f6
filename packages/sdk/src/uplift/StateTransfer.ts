/**
 * State migration (DESIGN.md §10 step 3; docs/uplift.md "State transfer"). The source signs {stateRoot, seq} with
 * the wallet (EIP-712 `UpliftState`, domain "Regent Uplift" v1 on the deployment's chain and RegentSuccession) and
 * encrypts its checkpoint (`Checkpoint.exportState`) chunk by chunk to the verified target's ephemeral key
 * (X25519 → HKDF-SHA256 info `regent-uplift-state/v1`, salt = transcript → AES-256-GCM; the associated data binds
 * the transcript, the state root, the seq, the chunk index and the chunk count). The target checks the signer and
 * the sequence against RegentSuccession (anti-rollback, DESIGN.md §7 "Checkpoints"), decrypts, and loads the
 * checkpoint through `Checkpoint.importState`, which recomputes the state root before it parses a byte.
 */
import type Database from 'better-sqlite3'
import type { Account, Client, Hex, LocalAccount } from 'viem'
import { getAddress, recoverTypedDataAddress } from 'viem'
import * as Checkpoint from '../Checkpoint.js'
import { readCanonical } from '../chain/readCanonical.js'
import type { RegentContracts } from '../chain/transact.js'
import { concat, fromHex, toHex, u32, u64, utf8 } from '../internal/bytes.js'
import { type Reason, UpliftRefusedError } from './errors.js'
import * as Envelope from './internal/envelope.js'
import * as Messages from './Messages.js'
import { assertTarget, keyToTarget, type TargetVerdict } from './VerifyTarget.js'

/** HKDF info and AD label of the chunk envelopes. Permanent. */
export const stateEnvelopeLabel = 'regent-uplift-state/v1'

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

/** AD of chunk `index`: label ‖ 0x00 ‖ transcript(32) ‖ stateRoot(32) ‖ u64 seq ‖ u32 index ‖ u32 chunkCount. */
function chunkAd(transcript: Hex, offer: Pick<Messages.StateOffer, 'stateRoot' | 'seq' | 'chunkCount'>, index: number): Uint8Array {
  return concat([
    utf8(stateEnvelopeLabel),
    Uint8Array.of(0),
    fromHex(transcript, 'transcript'),
    fromHex(offer.stateRoot, 'stateRoot'),
    u64(BigInt(offer.seq)),
    u32(index),
    u32(Number(offer.chunkCount)),
  ])
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
  /** One envelope per chunk, index order. */
  readonly envelopes: readonly Messages.StateEnvelope[]
  /** The transcript hash after the offer. */
  readonly transcript: Hex
}

/**
 * Source side: signs {stateRoot, seq} and encrypts every chunk to the verified target.
 *
 * @throws {UpliftRefusedError} the verdict's codes when it is not ok (nothing is signed or encrypted).
 * @example
 * const { offer, envelopes } = await offerState({ verdict, account, checkpoint: state.checkpoint(), seq, agentId, chainId, contracts, transcript })
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
    const envelopes: Messages.StateEnvelope[] = []
    for (const [index, chunk] of checkpoint.chunks.entries()) {
      const { iv, ciphertext } = Envelope.encrypt(key, chunk, chunkAd(parameters.transcript, offer, index))
      envelopes.push({
        version: Messages.version,
        type: 'state-envelope',
        sessionId: target.sessionId,
        index: index.toString(),
        iv: toHex(iv),
        ciphertext: toHex(ciphertext),
      })
      // A large state: give the caller's event loop a turn every 16 chunks (a source keeps serving meanwhile).
      if (index % 16 === 15) await new Promise<void>((resolve) => setImmediate(resolve))
    }
    return { offer, envelopes, transcript: Messages.appendTranscript(parameters.transcript, offer) }
  } finally {
    key.fill(0)
  }
}

export type OpenStateParameters = {
  readonly offer: Messages.StateOffer
  readonly envelopes: readonly Messages.StateEnvelope[]
  /** The target's ephemeral X25519 private key (`createTargetHello`). */
  readonly ephemeralPrivateKey: Uint8Array
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

export type OpenStateReturnType = {
  /** The loaded state (an in-memory database; the caller seals it, e.g. `SealedState`). */
  readonly db: Database.Database
  readonly checkpoint: Checkpoint.Checkpoint
  readonly seq: bigint
  /** The transcript hash after the offer. */
  readonly transcript: Hex
}

/**
 * Target side: checks the offer against RegentSuccession, decrypts the chunks and loads the checkpoint.
 * Checks, in order (the first failing one is thrown; nothing is loaded):
 * `state.agent` (another agent), `state.signer` (the signature does not recover to the offer's signer, or that is
 * not the expected signer), `state.stale_seq` (seq below the on-chain seq, or equal to it with another root:
 * anti-rollback), `state.chunks` (missing, duplicate or out-of-range envelopes, or another session),
 * `state.decrypt` (an envelope does not open), `state.root_mismatch` (the chunks do not hash to the signed root),
 * `state.invalid` (the stream is not a canonical checkpoint).
 *
 * @throws {UpliftRefusedError}
 * @example
 * const { db, checkpoint } = await openState({ offer, envelopes, ephemeralPrivateKey, transcript, client, contracts, agentId, chainId })
 */
export async function openState(parameters: OpenStateParameters): Promise<OpenStateReturnType> {
  const { offer } = parameters
  const refuse = (code: string, message: string): never => {
    throw new UpliftRefusedError({ step: 'state import', reasons: [{ code, message } satisfies Reason] })
  }
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

  const count = Number(offer.chunkCount)
  const byIndex = new Map<number, Messages.StateEnvelope>()
  for (const e of parameters.envelopes) {
    const i = Number(e.index)
    if (e.sessionId !== offer.sessionId || i >= count || byIndex.has(i))
      refuse('state.chunks', `Envelope ${e.index} is foreign, out of range or repeated.`)
    byIndex.set(i, e)
  }
  if (byIndex.size !== count) refuse('state.chunks', `${byIndex.size} of ${count} chunks arrived.`)

  let key: Uint8Array | undefined
  try {
    key = Envelope.deriveKey({
      privateKey: parameters.ephemeralPrivateKey,
      peerPublicKey: fromHex(offer.senderPublicKey, 'senderPublicKey'),
      salt: fromHex(parameters.transcript, 'transcript'),
      info: stateEnvelopeLabel,
    })
  } catch {
    refuse('state.decrypt', 'The sender key is not a usable X25519 public key.')
  }
  const chunks: Uint8Array[] = []
  try {
    for (let i = 0; i < count; i++) {
      const e = byIndex.get(i) as Messages.StateEnvelope
      const chunk = Envelope.decrypt(
        key as Uint8Array,
        fromHex(e.iv, 'iv'),
        fromHex(e.ciphertext, 'ciphertext'),
        chunkAd(parameters.transcript, offer, i),
      )
      if (!chunk) refuse('state.decrypt', `Chunk ${i} did not decrypt: wrong key, other transcript, other offer or altered bytes.`)
      chunks.push(chunk as Uint8Array)
    }
  } finally {
    key?.fill(0)
  }
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
