/**
 * Self-continuity handshake (DESIGN.md §10 step 4; docs/uplift.md "Handshake"). The source issues a
 * {@link createChallenge}: a fresh 32-byte nonce and k random, distinct chunk indexes of its own checkpoint. The
 * target answers ({@link answerChallenge}) with
 *   (i)   a wallet signature over the nonce and the transcript, and
 *   (iii) a fresh quote for the nonce with its event log — both in one sign-and-attest statement
 *         (docs/protocol.md "Sign-and-attest report_data": purpose `regent.uplift/v1 handshake`, payload = the
 *         transcript hash after the Challenge, the loaded state root, the source's epoch, the challenge nonce), and
 *   (ii)  the requested chunks with their Merkle proofs (`Checkpoint.prove`).
 * {@link verifyHandshake} rebuilds the statement from what the source itself knows (its nonce, transcript, state
 * root and epoch — nothing of the target's claims but the signer and the signature) and checks all three.
 */
import { randomBytes, randomInt } from 'node:crypto'
import type { Collateral, Policy } from '@regent-tee/attest'
import { type Account, getAddress, type Hex, type LocalAccount } from 'viem'
import * as Checkpoint from '../Checkpoint.js'
import type { BaseTeeClient } from '../createTeeClient.js'
import { equalBytes, fromHex, toHex } from '../internal/bytes.js'
import * as Merkle from '../Merkle.js'
import * as Statement from '../Statement.js'
import { attestationVersion, type SignedAttestationVerdict, signAndAttest, verifySignedAttestation } from '../signAndAttest.js'
import type { Reason } from './errors.js'
import * as Messages from './Messages.js'

/** The sign-and-attest purpose of a handshake answer. Permanent. */
export const purpose = 'regent.uplift/v1 handshake'

/** Default number of leaves asked for. */
export const defaultLeafCount = 8

export type CreateChallengeParameters = {
  readonly sessionId: Hex
  /** The number of chunks of the source's checkpoint. */
  readonly leafCount: number
  /** The epoch the source holds (RegentSuccession). */
  readonly epoch: bigint
  /** How many leaves to ask for (all of them when the checkpoint has fewer). @default 8 */
  readonly k?: number
}

/**
 * A fresh challenge: 32 random bytes of nonce and k distinct uniformly random chunk indexes (node:crypto
 * `randomInt`), ascending.
 *
 * @example
 * const challenge = createChallenge({ sessionId, leafCount: checkpoint.chunks.length, epoch })
 */
export function createChallenge(parameters: CreateChallengeParameters): Messages.Challenge {
  const k = Math.min(parameters.k ?? defaultLeafCount, parameters.leafCount, Messages.limits.maxLeafIndexes)
  const chosen = new Set<number>()
  while (chosen.size < k) chosen.add(randomInt(parameters.leafCount))
  return Messages.parse(
    {
      version: Messages.version,
      type: 'challenge',
      sessionId: parameters.sessionId,
      nonce: toHex(new Uint8Array(randomBytes(32))),
      epoch: parameters.epoch.toString(),
      leafIndexes: [...chosen].sort((a, b) => a - b).map(String),
    },
    'challenge',
  )
}

export type AnswerChallengeParameters = {
  readonly challenge: Messages.Challenge
  /** The wallet the target now holds (the imported key, or its own key after a rotate). */
  readonly account: LocalAccount | (Account & { signTypedData: LocalAccount['signTypedData'] })
  /** The checkpoint the target loaded. */
  readonly checkpoint: Checkpoint.Checkpoint
  /** Transcript hash after the Challenge. */
  readonly transcript: Hex
}

/**
 * Target side: signs and attests the challenge and answers the leaves.
 *
 * @throws {Merkle.IndexOutOfRangeError} for an index beyond the checkpoint; GuestAgentError / TransportError.
 * @example
 * const answer = await answerChallenge(client, { challenge, account, checkpoint, transcript })
 */
export async function answerChallenge(client: BaseTeeClient, parameters: AnswerChallengeParameters): Promise<Messages.ChallengeAnswer> {
  const { challenge, checkpoint } = parameters
  const leaves = challenge.leafIndexes.map((i): Messages.Leaf => {
    const index = Number(i)
    const proof = Checkpoint.prove(checkpoint, index)
    return { index: i, chunk: toHex(checkpoint.chunks[index] as Uint8Array), siblings: proof.siblings.map((s) => s.toLowerCase() as Hex) }
  })
  const attestation = await signAndAttest(client, {
    account: parameters.account,
    payload: parameters.transcript,
    nonce: challenge.nonce,
    purpose,
    stateRoot: checkpoint.stateRoot,
    epoch: BigInt(challenge.epoch),
  })
  return Messages.parse(
    {
      version: Messages.version,
      type: 'challenge-answer',
      sessionId: challenge.sessionId,
      signer: attestation.statement.signer.toLowerCase(),
      signature: attestation.signature.toLowerCase(),
      quote: attestation.quote.toLowerCase(),
      eventLog: attestation.eventLog,
      leaves,
    },
    'challenge-answer',
  )
}

export type VerifyHandshakeParameters = {
  readonly challenge: Messages.Challenge
  readonly answer: Messages.ChallengeAnswer
  /** The source's own checkpoint: the root the target must have loaded, and the chunks it must know. */
  readonly checkpoint: Checkpoint.Checkpoint
  /** Transcript hash after the Challenge, as the source computed it. */
  readonly transcript: Hex
  /** The wallet the target must hold: the source address (import) or the certificate's new key (rotate). */
  readonly expectedSigner: Hex
  readonly collateral: Parameters<typeof verifySignedAttestation>[0]['collateral'] | Collateral.Verified
  /** Default: the Intel SGX Root CA only. */
  readonly trustedRoots?: Parameters<typeof verifySignedAttestation>[0]['trustedRoots']
  readonly now: Date
  readonly policy?: Omit<Policy.Options, 'eventLog' | 'expectedReportData'>
}

export type HandshakeVerdict = {
  readonly ok: boolean
  readonly reasons: readonly Reason[]
  /** The sign-and-attest verdict (quote verdict inside). */
  readonly attestation: SignedAttestationVerdict | undefined
}

/**
 * Verifies a challenge answer. Never throws for a bad answer: every failure is a reason.
 *
 * Codes: `handshake.session`, `handshake.signer` (the answer is signed by another wallet than expected),
 * `handshake.signature` (the signature is not the claimed signer's over this nonce, transcript, root and epoch — e.g.
 * an old answer replayed), `handshake.stale_quote` (the quote's report_data is not this statement: a stale or
 * replayed quote), `handshake.untrusted_root`, `handshake.quote`, `handshake.event_log`, `handshake.measurement`,
 * `handshake.policy` (as for the target's first quote), `handshake.leaves` (not exactly the challenged indexes, in
 * order), `handshake.leaf` (a chunk other than the source's), `handshake.proof` (a proof that does not lead to the
 * source's state root).
 *
 * @example
 * const { ok, reasons } = await verifyHandshake({ challenge, answer, checkpoint, transcript, expectedSigner, collateral, trustedRoots, now: new Date(), policy })
 */
export async function verifyHandshake(parameters: VerifyHandshakeParameters): Promise<HandshakeVerdict> {
  const reasons: Reason[] = []
  const add = (code: string, message: string) => {
    if (!reasons.some((r) => r.code === code && r.message === message)) reasons.push({ code, message })
  }
  const { challenge, answer, checkpoint } = parameters
  if (answer.sessionId !== challenge.sessionId) add('handshake.session', 'The answer belongs to another session.')
  if (answer.signer !== parameters.expectedSigner.toLowerCase())
    add('handshake.signer', `Signed by ${getAddress(answer.signer)}, expected ${getAddress(parameters.expectedSigner)}.`)

  // (i) + (iii): the statement as the source knows it; only the signer and the signature come from the target.
  const statement = Statement.from({
    purpose,
    signer: answer.signer,
    payload: parameters.transcript,
    stateRoot: checkpoint.stateRoot,
    epoch: BigInt(challenge.epoch),
    nonce: challenge.nonce,
  })
  const attestation = await verifySignedAttestation({
    attestation: { version: attestationVersion, statement, signature: answer.signature, quote: answer.quote, eventLog: answer.eventLog },
    nonce: challenge.nonce,
    collateral: parameters.collateral,
    ...(parameters.trustedRoots ? { trustedRoots: parameters.trustedRoots } : {}),
    now: parameters.now,
    ...(parameters.policy ? { policy: parameters.policy } : {}),
  })
  const anchored = attestation.quote?.root !== undefined
  for (const r of attestation.reasons) {
    if (r.code === 'attestation.signature') add('handshake.signature', r.message)
    else if (r.code === 'attestation.binding') add('handshake.stale_quote', r.message)
    else if (r.code === 'policy.measurement') add('handshake.measurement', r.message)
    else if (r.code === 'policy.event_log') add('handshake.event_log', r.message)
    else if (r.code.startsWith('policy.')) add('handshake.policy', `${r.code}: ${r.message}`)
    else if (r.code.startsWith('attestation.')) add('handshake.quote', `${r.code}: ${r.message}`)
    else if (!anchored) add('handshake.untrusted_root', 'No trusted root anchors the quote.')
    else add('handshake.quote', `${r.code}: ${r.message}`)
  }

  // (ii): exactly the challenged leaves, each the source's own chunk, each proven against the source's root.
  const asked = challenge.leafIndexes.join(',')
  if (answer.leaves.map((l) => l.index).join(',') !== asked)
    add('handshake.leaves', `Answered leaves ${answer.leaves.map((l) => l.index).join(',')}, challenged ${asked}.`)
  else
    for (const leaf of answer.leaves) {
      const index = Number(leaf.index)
      const chunk = fromHex(leaf.chunk, 'chunk')
      const own = checkpoint.chunks[index]
      if (!own || !equalBytes(chunk, own)) {
        add('handshake.leaf', `Chunk ${index} is not the source's chunk ${index}.`)
        continue
      }
      const proof: Merkle.Proof = {
        index,
        leafCount: checkpoint.chunks.length,
        chunkSize: checkpoint.chunkSize,
        byteLength: checkpoint.byteLength,
        siblings: leaf.siblings,
      }
      if (!Merkle.verifyProof({ stateRoot: checkpoint.stateRoot, chunk, proof }))
        add('handshake.proof', `The proof of chunk ${index} does not lead to the state root ${checkpoint.stateRoot}.`)
    }
  return { ok: reasons.length === 0, reasons, attestation }
}
