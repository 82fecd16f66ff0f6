/**
 * The source role of the self-uplift protocol (DESIGN.md §10 steps 1–5; docs/uplift.md "HTTP roles"): the running
 * agent drives a target's JSON API (`Target.ts`) through hello, attestation, key continuity (A import / B rotate),
 * state transfer, the self-continuity handshake and the on-chain handover. Every message it creates is journaled
 * before it is sent, so a restarted source resends exactly the same bytes; every on-chain step reads the chain
 * first, so a resumed step never sends twice. Nothing secret leaves before `verifyTarget` says ok.
 */
import { identityRegistryAbi, regentSuccessionAbi } from '@regent-tee/contracts'
import { type Client, getAddress, type Hex, type LocalAccount } from 'viem'
import { getBlockNumber, readContract } from 'viem/actions'
import { appPolicy } from '../AppPolicy.js'
import type * as Checkpoint from '../Checkpoint.js'
import { assertCanonical } from '../chain/assertCanonical.js'
import { commitState } from '../chain/commitState.js'
import { getLogsBounded } from '../chain/getLogsBounded.js'
import { pointRegistration } from '../chain/pointRegistration.js'
import { readCanonical } from '../chain/readCanonical.js'
import { type RegentContracts, send as sendTx, type WriteClient } from '../chain/transact.js'
import type { PrivateKey } from '../Keys.js'
import { UpliftRefusedError } from './errors.js'
import { createChallenge, verifyHandshake } from './Handshake.js'
import { createSourceHello, signSourceHello } from './Hello.js'
import { post, postStream } from './internal/http.js'
import type * as Journal from './Journal.js'
import { sealKey } from './KeyImport.js'
import { certificateFromJson, offerSuccession } from './KeyRotate.js'
import * as Messages from './Messages.js'
import * as StateStream from './StateStream.js'
import { offerState, sealState } from './StateTransfer.js'
import { type AttestedTarget, assertTarget, type VerifyTargetParameters, verifyTarget } from './VerifyTarget.js'

/**
 * The source's journaled protocol steps, in order (docs/uplift.md "Journal"): `key` stands for `key-envelope`
 * (import) or `key-offer` (rotate). What status readers (the agent's admin API, `regent uplift`) count.
 */
export const sourceSteps = [
  'source-hello',
  'target-hello',
  'key',
  'commit',
  'state-offer',
  'challenge',
  'challenge-answer',
  'handover-tx',
  'registration',
  'handover',
] as const

export type UpliftParameters = {
  readonly mode: 'import' | 'rotate'
  readonly agentId: bigint
  readonly chainId: number
  readonly contracts: RegentContracts
  /** The source's wallet client (K_agent): commits, signs, posts the handover. */
  readonly wallet: WriteClient & { account: LocalAccount }
  /** Option A only: the raw wallet key that moves (its address must be the wallet's). */
  readonly privateKey?: PrivateKey
  /** Reads the chain. */
  readonly client: Client
  /** The target's base URL (its uplift API is under `/uplift/v1`). */
  readonly targetUrl: string
  readonly journal: Journal.Journal
  /**
   * The frozen state to move. Called once; the result is journaled sealed. Its chunks must be at most
   * `UpliftMessages.limits.maxChunkSize` (512 KiB) or the uplift stops here with `state.chunk_size`.
   */
  readonly checkpoint: () => Checkpoint.Checkpoint | Promise<Checkpoint.Checkpoint>
  readonly collateral: VerifyTargetParameters['collateral']
  readonly trustedRoots?: VerifyTargetParameters['trustedRoots']
  /** Quote policy besides measurements (measurements are always RegentAppAuth's, for the agent's app). */
  readonly policy?: Omit<NonNullable<VerifyTargetParameters['policy']>, 'approvedMeasurements'>
  readonly now?: () => Date
  /** Handshake leaf challenges (default 8, capped by the chunk count). */
  readonly k?: number
}

export type UpliftReturnType = {
  readonly sessionId: Hex
  readonly target: AttestedTarget
  /** The new canonical signer (same address for A, the target's own key for B). */
  readonly signer: Hex
  readonly epoch: bigint
  readonly stateRoot: Hex
  readonly seq: bigint
  /** The `uplift` (A) or `rotate` (B) transaction. */
  readonly transactionHash: Hex
}

const lower = (a: string) => a.toLowerCase() as Hex
/**
 * The frozen checkpoint as journaled (sealed): one JSON header line `{ chunkSize, byteLength, stateRoot, chunkCount }`
 * and the chunks' bytes back to back. The journal's AEAD protects it, so reading it back only re-slices the bytes
 * (the state root was computed once, by the export).
 */
function serializeCheckpoint(c: Checkpoint.Checkpoint): Uint8Array {
  const header = new TextEncoder().encode(
    `${JSON.stringify({ chunkSize: c.chunkSize, byteLength: c.byteLength, stateRoot: c.stateRoot, chunkCount: c.chunks.length })}\n`,
  )
  const out = new Uint8Array(header.length + c.byteLength)
  out.set(header)
  let at = header.length
  for (const chunk of c.chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}
function parseCheckpoint(bytes: Uint8Array): Checkpoint.Checkpoint {
  const newline = bytes.indexOf(0x0a)
  const h = JSON.parse(new TextDecoder().decode(bytes.subarray(0, newline))) as {
    chunkSize: number
    byteLength: number
    stateRoot: Hex
    chunkCount: number
  }
  const body = bytes.subarray(newline + 1)
  if (body.length !== h.byteLength) throw new Error('the journaled checkpoint is truncated')
  const chunks: Uint8Array[] = []
  for (let at = 0; at < body.length || chunks.length < h.chunkCount; at += h.chunkSize) chunks.push(body.slice(at, at + h.chunkSize))
  if (chunks.length !== h.chunkCount) throw new Error('the journaled checkpoint has the wrong chunk count')
  return { chunkSize: h.chunkSize, byteLength: h.byteLength, stateRoot: h.stateRoot, chunks }
}

/**
 * Runs (or resumes, from its journal) one uplift as the source.
 *
 * @throws {UpliftRefusedError} the target failed a check (`target.*`, `handshake.*`, or the target's own refusal
 *   code); nothing secret left before the check that failed.
 * @throws {NotCanonicalError} the source no longer holds the agent (nothing signed or sent).
 * @example
 * const r = await uplift({ mode: 'import', agentId, chainId, contracts, wallet, privateKey, client, targetUrl,
 *   journal, checkpoint: () => state.checkpoint(), collateral, trustedRoots })
 */
export async function uplift(parameters: UpliftParameters): Promise<UpliftReturnType> {
  const { journal, contracts, agentId, chainId, client, mode } = parameters
  const account = parameters.wallet.account
  const api = (path: string) => `${parameters.targetUrl.replace(/\/$/, '')}/uplift/v1/${path}`
  const now = parameters.now ?? (() => new Date())
  const base = { agentId, chainId, contracts }

  // Step 1: hello. Journaled before it is sent: a resumed source reopens the same session.
  const hello = await journal.step('source-hello', () => {
    // Signed by the source's key (only the canonical signer can open a session) and short-lived (a stalled session
    // does not lock the target: docs/uplift.md "Target-side source checks").
    return signSourceHello(createSourceHello({ ...base, mode, source: account.address }), { account, now: now() })
  })
  const targetHello = await journal.step('target-hello', async () =>
    Messages.parse(await post(api('hello'), Messages.serialize(hello), 'hello'), 'target-hello'),
  )

  // Step 2: attestation first; RegentAppAuth decides the measurement (a hash still in its timelock is refused).
  const appId = (await readContract(client, {
    address: contracts.succession,
    abi: regentSuccessionAbi,
    functionName: 'appOf',
    args: [agentId],
  })) as Hex
  const app = appPolicy(client, { appAuth: contracts.appAuth, appId })
  const verdict = await verifyTarget({
    sourceHello: hello,
    targetHello,
    collateral: parameters.collateral,
    ...(parameters.trustedRoots ? { trustedRoots: parameters.trustedRoots } : {}),
    now: now(),
    // RegentAppAuth decides the app, the compose hash and the OS image (a booted target proves nothing about its OS
    // image: its KMS may be another), never the target.
    policy: { ...parameters.policy, approvedMeasurements: app.approvedMeasurements },
    osImage: app.osImage,
  })
  const target = assertTarget(verdict)
  // Option B hands the agent to the target's own key: a CVM of the same app has the same KMS key (dstack derives one
  // key per app), so there is nothing to rotate to — refused before anything is offered; option A moves such agents.
  if (mode === 'rotate' && lower(target.wallet) === lower(account.address))
    throw new UpliftRefusedError({
      step: 'key transfer',
      reasons: [
        {
          code: 'rotate.same_key',
          message: `The target's own key ${target.wallet} is already the agent's key (a CVM of the same app): move with key option import.`,
        },
      ],
    })

  // Key continuity.
  const keyType = mode === 'import' ? 'key-envelope' : 'key-offer'
  const keyMessage = await journal.step(keyType, async (): Promise<Messages.KeyEnvelope | Messages.KeyOffer> => {
    if (mode === 'import') {
      if (!parameters.privateKey)
        throw new UpliftRefusedError({ step: 'key transfer', reasons: [{ code: 'key.mode', message: 'Option A needs the private key.' }] })
      return sealKey({ verdict, privateKey: parameters.privateKey })
    }
    const block = await client.request({ method: 'eth_getBlockByNumber', params: ['latest', false] })
    const deadline = BigInt((block as { timestamp: Hex }).timestamp) + 3600n
    return offerSuccession(parameters.wallet, { verdict, contracts, agentId, deadline, chainId })
  })
  await post(api('key'), Messages.serialize(keyMessage), 'key')
  journal.point('sent:key')
  const afterKey = Messages.appendTranscript(target.transcript, keyMessage)

  // Step 3: state. The frozen checkpoint is journaled sealed; its root is committed first (same root on-chain).
  const sealed = journal.getSecret('checkpoint')
  let checkpoint: Checkpoint.Checkpoint
  if (sealed !== undefined) checkpoint = parseCheckpoint(sealed)
  else {
    const frozen = await parameters.checkpoint()
    if (frozen.chunkSize > Messages.limits.maxChunkSize)
      throw new UpliftRefusedError({
        step: 'state transfer',
        reasons: [
          {
            code: 'state.chunk_size',
            message: `Checkpoint chunks of ${frozen.chunkSize} bytes exceed the protocol's ${Messages.limits.maxChunkSize}.`,
          },
        ],
      })
    journal.putSecret('checkpoint', serializeCheckpoint(frozen))
    checkpoint = frozen
  }
  const { seq } = await journal.step('commit', async () => {
    const c = await readCanonical(client, { contracts, agentId })
    if (lower(c.stateRoot) === lower(checkpoint.stateRoot)) return { seq: c.stateSeq.toString() }
    const s = c.stateSeq + 1n
    await commitState(parameters.wallet, { contracts, agentId, stateRoot: checkpoint.stateRoot, seq: s })
    journal.point('sent:commit')
    return { seq: s.toString() }
  })
  // The offer is journaled with its stream key (sealed, 32 bytes), not its frames: the frames are a deterministic
  // function of the offer, the journaled checkpoint and that key (StateStream.ts), so a resumed source re-creates the
  // same bytes instead of journaling the state a second time. The key is stored before the offer's row: an offer
  // whose row exists always has its key.
  const streamKey = (offer: Pick<Messages.StateOffer, 'senderPublicKey'>) => `state-key:${offer.senderPublicKey}`
  const sent = await journal.step('state-offer', async () => {
    const o = await offerState({ verdict, account, checkpoint, seq: BigInt(seq), transcript: afterKey, ...base })
    try {
      journal.putSecret(streamKey(o.offer), o.key)
    } finally {
      o.key.fill(0)
    }
    return { offer: o.offer, transcript: o.transcript }
  })
  const offered = (await post(api('state/offer'), Messages.serialize(sent.offer), 'state offer')) as { loaded?: unknown }
  // Loaded before (the source stopped after the target answered the stream): the handshake checks what it holds.
  if (offered.loaded !== true) {
    const key = journal.getSecret(streamKey(sent.offer))
    if (key === undefined)
      throw new UpliftRefusedError({
        step: 'state transfer',
        reasons: [{ code: 'state.key', message: 'The journaled state offer has no stream key.' }],
      })
    try {
      await postStream(
        api('state/stream'),
        sealState({ offer: sent.offer, checkpoint, key, transcript: afterKey }),
        StateStream.streamLength(sent.offer),
        'state stream',
      )
    } finally {
      key.fill(0)
    }
  }
  journal.point('sent:state')

  // Step 4: handshake at the epoch the source holds.
  const challenge = await journal.step('challenge', async () => {
    const { epoch } = await assertCanonical(client, { contracts, agentId, signer: account.address })
    return createChallenge({
      sessionId: hello.sessionId,
      leafCount: checkpoint.chunks.length,
      epoch,
      ...(parameters.k ? { k: parameters.k } : {}),
    })
  })
  const afterChallenge = Messages.appendTranscript(sent.transcript, challenge)
  const answer = await journal.step('challenge-answer', async () =>
    Messages.parse(await post(api('challenge'), Messages.serialize(challenge), 'handshake'), 'challenge-answer'),
  )
  const newSigner = mode === 'import' ? lower(account.address) : target.wallet
  const handshake = await verifyHandshake({
    challenge,
    answer,
    checkpoint,
    transcript: afterChallenge,
    expectedSigner: newSigner,
    collateral: parameters.collateral,
    ...(parameters.trustedRoots ? { trustedRoots: parameters.trustedRoots } : {}),
    now: now(),
    ...(parameters.policy ? { policy: parameters.policy } : {}),
  })
  if (!handshake.ok) throw new UpliftRefusedError({ step: 'handshake', reasons: handshake.reasons })

  // Step 5: handover. Read the chain first: a resumed step does not send twice.
  const heldEpoch = BigInt(challenge.epoch)
  const next = {
    signer: getAddress(newSigner),
    composeHash: target.composeHash,
    instanceId: getAddress(target.instanceId),
    quoteHash: target.quoteHash,
    host: target.targetUrl,
  }
  // The chain height before the handover is sent: a resumed step looks for its transaction from there, in bounded
  // windows (public RPCs refuse wide eth_getLogs ranges).
  const sentFrom = BigInt(await journal.step('handover-from', async () => (await getBlockNumber(client, { cacheTime: 0 })).toString()))
  const { transactionHash } = await journal.step('handover-tx', async () => {
    const c = await readCanonical(client, { contracts, agentId })
    if (c.epoch === heldEpoch + 1n && lower(c.instance.signer) === newSigner && lower(c.instance.quoteHash) === target.quoteHash) {
      // The transaction that made this exact switch: the agent's CanonicalChanged to this epoch.
      const logs = (
        await getLogsBounded(client, {
          address: contracts.succession,
          abi: regentSuccessionAbi,
          eventName: 'CanonicalChanged',
          fromBlock: sentFrom,
        })
      ).filter((l) => (l.args as { agentId?: bigint }).agentId === agentId && (l.args as { epoch?: bigint }).epoch === heldEpoch + 1n)
      return { transactionHash: (logs.at(-1)?.transactionHash ?? '0x') as Hex }
    }
    if (mode === 'import') {
      const s = await sendTx(parameters.wallet, {
        address: contracts.succession,
        abi: regentSuccessionAbi,
        functionName: 'uplift',
        args: [agentId, heldEpoch, next],
      })
      journal.point('sent:handover-tx')
      return { transactionHash: s.transactionHash }
    }
    const offer = keyMessage as Messages.KeyOffer
    const s = await sendTx(parameters.wallet, {
      address: contracts.succession,
      abi: regentSuccessionAbi,
      functionName: 'rotate',
      args: [agentId, certificateFromJson(offer.certificate), offer.signature, next],
    })
    journal.point('sent:handover-tx')
    return { transactionHash: s.transactionHash }
  })

  // The registration file points at the target (ERC-8004 setAgentURI; the source still owns the NFT here).
  await journal.step('registration', async () => {
    const read = (functionName: 'tokenURI' | 'ownerOf') =>
      readContract(client, {
        address: contracts.identityRegistry,
        abi: identityRegistryAbi,
        functionName,
        args: [agentId],
      } as never) as Promise<string>
    const { agentURI: updated } = await pointRegistration(parameters.wallet, { contracts, agentId, url: target.targetUrl })
    journal.point('sent:agent-uri')
    // Option B: the identity NFT follows the key (the agent key owns it); the target then sets agentWallet itself.
    if (mode === 'rotate' && lower(await read('ownerOf')) === lower(account.address))
      await sendTx(parameters.wallet, {
        address: contracts.identityRegistry,
        abi: identityRegistryAbi,
        functionName: 'transferFrom',
        args: [account.address, getAddress(target.wallet), agentId],
      })
    return { agentURI: updated }
  })

  const after = await readCanonical(client, { contracts, agentId })
  const handover = await journal.step('handover', () =>
    Messages.parse(
      {
        version: Messages.version,
        type: 'handover',
        sessionId: hello.sessionId,
        agentId: agentId.toString(),
        epoch: after.epoch.toString(),
        signer: newSigner,
        quoteHash: target.quoteHash,
        transactionHash,
      },
      'handover',
    ),
  )
  await post(api('handover'), Messages.serialize(handover), 'handover')
  journal.point('sent:handover')
  return {
    sessionId: hello.sessionId,
    target,
    signer: getAddress(newSigner),
    epoch: BigInt(handover.epoch),
    stateRoot: checkpoint.stateRoot,
    seq: BigInt(seq),
    transactionHash,
  }
}
