/**
 * The target role of the self-uplift protocol (DESIGN.md §10 steps 1–5; docs/uplift.md "HTTP roles"): a new CVM
 * answers the source over a small JSON API, mounted beside the agent's own routes. Every accepted message and its
 * output are journaled (`Journal`), the ephemeral X25519 key and an imported wallet key only sealed, so a restarted
 * target answers a repeated request with the journaled answer and never re-randomizes a message.
 *
 *   POST /uplift/v1/hello            SourceHello → TargetHello       (signed by the on-chain canonical signer, unexpired)
 *   POST /uplift/v1/key              KeyEnvelope (A) | KeyOffer (B) → { address }
 *   POST /uplift/v1/state/offer      StateOffer → { chunkCount, loaded }
 *   POST /uplift/v1/state/stream     binary frames (StateStream.ts) → { stateRoot, seq }   (openState as frames arrive)
 *   POST /uplift/v1/challenge        Challenge → ChallengeAnswer
 *   POST /uplift/v1/handover         Handover → { canonical, epoch, signer }   (checks RegentSuccession itself)
 *   GET  /uplift/v1/status           { sessionId, steps, wallet, stateRoot, canonical }
 *
 * A refusal is a 4xx `{ error: { code, message } }` with the protocol's code and changes nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { agentWalletSetTypes, identityRegistryAbi, identityRegistryDomain } from '@regent-tee/contracts'
import { HttpError, sendJson } from '@regent-tee/core'
import { type Client, getAddress, type Hex, type LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { readContract } from 'viem/actions'
import { info } from '../actions/info.js'
import { readCanonical } from '../chain/readCanonical.js'
import { type RegentContracts, send as sendTx, type WriteClient } from '../chain/transact.js'
import type { BaseTeeClient } from '../createTeeClient.js'
import { toHex } from '../internal/bytes.js'
import { type DerivedKey, toAccount } from '../Keys.js'
import { quoteId } from '../quoteId.js'
import type { SealedState } from '../SealedState.js'
import { answerChallenge } from './Handshake.js'
import { checkSourceHello, createTargetHello } from './Hello.js'
import { readMessage, sendError, sendRefusalDraining } from './internal/http.js'
import type * as Journal from './Journal.js'
import { openKey } from './KeyImport.js'
import { verifySuccession } from './KeyRotate.js'
import * as Messages from './Messages.js'
import * as StateStream from './StateStream.js'
import { checkOffer, openState } from './StateTransfer.js'

/** Path prefix of the uplift API. */
export const basePath = '/uplift/v1'

export type CreateTargetParameters = {
  /** The CVM's guest agent. */
  readonly tee: BaseTeeClient
  /** This CVM's own KMS-derived wallet (`deriveWallet(tee)`). */
  readonly wallet: DerivedKey
  /** The same wallet as a chain client (option B: `setAgentWallet` after the NFT moved here). */
  readonly walletClient: WriteClient
  /** Reads RegentSuccession and the IdentityRegistry. */
  readonly client: Client
  readonly contracts: RegentContracts
  readonly chainId: number
  /** Where this target serves the protocol and, after the handover, the agent (bound in its quote). */
  readonly targetUrl: string
  readonly journal: Journal.Journal
  /** Where the imported state goes (restored, root-checked, sealed). */
  readonly state: SealedState
  /** The clock a hello's expiry is checked against (default: the system clock). */
  readonly now?: () => Date
}

export type Target = {
  /** Handles a request under {@link basePath}; resolves false (and answers nothing) for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>
  /** The agent's account on this CVM once the key step is done (imported key, or its own key for rotate). */
  account(): LocalAccount | undefined
  /** The facts `GET /uplift/v1/status` serves. */
  status(): Promise<TargetStatus>
}

export type TargetStatus = {
  readonly sessionId: Hex | null
  readonly steps: readonly string[]
  /** This CVM's own KMS wallet. */
  readonly wallet: Hex
  /** The agent's wallet here (after the key step). */
  readonly agentWallet: Hex | null
  readonly stateRoot: Hex | null
  /** The handover was accepted: RegentSuccession names this instance canonical. */
  readonly canonical: boolean
}

/**
 * Creates the target role.
 *
 * @example
 * const target = createTarget({ tee, wallet, walletClient, client, contracts, chainId, targetUrl, journal, state })
 * createServer(async (req, res) => { if (!(await target.handle(req, res))) agentRoutes(req, res) })
 */
export function createTarget(parameters: CreateTargetParameters): Target {
  const { journal, contracts, chainId } = parameters
  const get = <T extends Messages.Type>(step: T) => journal.get<Messages.ByType<T>>(step)
  const transcriptOf = (step: string) => journal.transcript(step) as Hex
  const refuse = (status: number, code: string, message: string): never => {
    throw new HttpError(status, code, message)
  }
  const sourceHello = () => get('source-hello') ?? refuse(409, 'session.none', 'No session is open: send a SourceHello first.')
  const ephemeral = () => journal.getSecret('ephemeral') ?? refuse(409, 'session.none', 'No ephemeral key for this session.')
  const same = (a: Messages.Message, b: Messages.Message) => Messages.serialize(a) === Messages.serialize(b)
  const ownFacts = async (hello: Messages.TargetHello) => {
    const app = await info(parameters.tee)
    return { wallet: hello.wallet, composeHash: toHex(app.composeHash), quoteHash: quoteId(hello.quote) }
  }

  const account = (): LocalAccount | undefined => {
    const hello = get('source-hello')
    if (hello === undefined || (get('key-envelope') === undefined && get('key-offer') === undefined)) return undefined
    if (hello.mode === 'rotate') return toAccount(parameters.wallet)
    const key = journal.getSecret('wallet')
    if (key === undefined) return undefined
    try {
      return privateKeyToAccount(toHex(key))
    } finally {
      key.fill(0)
    }
  }

  const clock = parameters.now ?? (() => new Date())
  const keyStepDone = () => get('key-envelope') !== undefined || get('key-offer') !== undefined
  const expired = (hello: Messages.SourceHello) =>
    hello.expiresAt === undefined || BigInt(hello.expiresAt) * 1000n <= BigInt(clock().getTime())

  // Own properties only (a null prototype): `constructor` or `hasOwnProperty` is no route.
  const routes: Record<string, (body: unknown) => Promise<unknown>> = Object.assign(Object.create(null), {
    async hello(body: unknown) {
      const hello = Messages.parse(body, 'source-hello')
      const open = get('source-hello')
      let replaces: Messages.SourceHello | undefined
      if (open !== undefined) {
        if (same(open, hello)) {
          // Answered before: the same answer. Journaled hello but no answer (a crash between the two rows): answer now.
          const answered = get('target-hello')
          if (answered !== undefined) return answered
        } else if (keyStepDone() || !expired(open))
          refuse(
            409,
            'session.busy',
            `Session ${open.sessionId} is open${open.expiresAt && !keyStepDone() ? ` until ${open.expiresAt}` : ''}; one session at a time.`,
          )
        else replaces = open
      }
      if (BigInt(hello.chainId) !== BigInt(chainId) || hello.succession !== contracts.succession.toLowerCase())
        refuse(422, 'source.chain', 'The hello names another chain or RegentSuccession.')
      // docs/uplift.md "Target-side source checks": only the on-chain canonical signer may open a session, with a
      // hello it signed that has not expired (a stranger cannot lock the target; a stalled session ends).
      const bad = await checkSourceHello(hello, { now: clock() })
      if (bad) refuse(bad.code === 'source.signature' ? 403 : 422, bad.code, bad.message)
      const now = await readCanonical(parameters.client, { contracts, agentId: BigInt(hello.agentId) })
      if (now.epoch === 0n || now.instance.signer.toLowerCase() !== hello.source)
        refuse(403, 'source.not_canonical', `The source ${hello.source} is not the canonical signer of agent ${hello.agentId}.`)
      // An expired session that never reached its key step is abandoned: nothing secret left this side for it.
      if (replaces !== undefined) journal.forget(['source-hello', 'target-hello'], ['ephemeral'])
      const t = await createTargetHello(parameters.tee, {
        sourceHello: hello,
        targetUrl: parameters.targetUrl,
        wallet: parameters.wallet.address,
      })
      journal.putSecret('ephemeral', t.ephemeralPrivateKey)
      t.ephemeralPrivateKey.fill(0)
      journal.put('source-hello', hello, Messages.appendTranscript(Messages.emptyTranscript, hello))
      journal.put('target-hello', t.hello, t.transcript)
      return t.hello
    },

    async key(body: unknown) {
      const hello = sourceHello()
      const targetHello = get('target-hello') as Messages.TargetHello
      const t2 = transcriptOf('target-hello')
      if (hello.mode === 'import') {
        const envelope = Messages.parse(body, 'key-envelope')
        const done = get('key-envelope')
        if (done !== undefined)
          return same(done, envelope) ? { address: done.address } : refuse(409, 'key.replaced', 'Another key envelope was accepted.')
        const secret = ephemeral()
        try {
          const key = openKey({ envelope, ephemeralPrivateKey: secret, transcript: t2, expectedAddress: hello.source })
          key.use((bytes) => journal.putSecret('wallet', bytes))
          key.wipe()
        } finally {
          secret.fill(0)
        }
        journal.put('key-envelope', envelope, Messages.appendTranscript(t2, envelope))
        return { address: envelope.address }
      }
      const offer = Messages.parse(body, 'key-offer')
      const done = get('key-offer')
      if (done !== undefined)
        return same(done, offer) ? { address: targetHello.wallet } : refuse(409, 'key.replaced', 'Another offer was accepted.')
      const verdict = await verifySuccession({
        offer,
        target: await ownFacts(targetHello),
        agentId: BigInt(hello.agentId),
        chainId,
        contracts,
        oldKey: hello.source,
      })
      if (!verdict.ok) refuse(422, verdict.reasons[0]?.code ?? 'rotate.signature', verdict.reasons[0]?.message ?? '')
      journal.put('key-offer', offer, Messages.appendTranscript(t2, offer))
      return { address: targetHello.wallet }
    },

    async 'state/offer'(body: unknown) {
      const hello = sourceHello()
      if (get('key-envelope') === undefined && get('key-offer') === undefined) refuse(409, 'session.order', 'The key step comes first.')
      const offer = Messages.parse(body, 'state-offer')
      if (offer.sessionId !== hello.sessionId) refuse(422, 'state.chunks', 'The offer belongs to another session.')
      const done = get('state-offer')
      if (done !== undefined && !same(done, offer)) refuse(409, 'state.replaced', 'Another state offer was accepted.')
      // Signed by the canonical signer for this transcript, past the on-chain seq: a forged offer cannot take the
      // session's one offer slot (checked again, against the chain then, when the stream arrives).
      if (done === undefined)
        await checkOffer({
          offer,
          transcript: transcriptOf(hello.mode === 'import' ? 'key-envelope' : 'key-offer'),
          client: parameters.client,
          contracts,
          agentId: BigInt(hello.agentId),
          chainId,
        })
      journal.put('state-offer', offer)
      // `loaded`: this offer's stream was received and loaded before (a resumed source skips it).
      return { chunkCount: offer.chunkCount, loaded: journal.get('state-loaded') !== undefined }
    },

    async challenge(body: unknown) {
      sourceHello()
      const loaded =
        journal.get<{ stateRoot: Hex; chunkSize: string }>('state-loaded') ?? refuse(409, 'session.order', 'Load the state first.')
      const challenge = Messages.parse(body, 'challenge')
      const done = get('challenge')
      if (done !== undefined) {
        if (!same(done, challenge)) refuse(409, 'challenge.replaced', 'Another challenge was answered.')
        // Answered before: the same answer. Journaled but unanswered (a crash between the two rows): answer now.
        const answered = get('challenge-answer')
        if (answered !== undefined) return answered
      }
      const checkpoint = parameters.state.checkpoint({ chunkSize: Number(loaded.chunkSize) })
      if (checkpoint.stateRoot !== loaded.stateRoot) refuse(500, 'state.changed', 'The loaded state changed before the handshake.')
      const transcript = Messages.appendTranscript(transcriptOf('state-loaded'), challenge)
      const answer = await answerChallenge(parameters.tee, {
        challenge,
        account: account() as LocalAccount,
        checkpoint,
        transcript,
      })
      journal.put('challenge', challenge, transcript)
      journal.put('challenge-answer', answer, Messages.appendTranscript(transcript, answer))
      return answer
    },

    async handover(body: unknown) {
      const hello = sourceHello()
      if (get('challenge-answer') === undefined) refuse(409, 'session.order', 'The handshake comes first.')
      const handover = Messages.parse(body, 'handover')
      const me = account() as LocalAccount
      const agentId = BigInt(hello.agentId)
      // The target checks RegentSuccession itself (DESIGN.md §10 step 5): it is canonical only if the chain says so.
      const now = await readCanonical(parameters.client, { contracts, agentId })
      const facts = await ownFacts(get('target-hello') as Messages.TargetHello)
      if (
        now.epoch !== BigInt(handover.epoch) ||
        now.instance.signer.toLowerCase() !== me.address.toLowerCase() ||
        now.instance.composeHash.toLowerCase() !== facts.composeHash ||
        now.instance.quoteHash.toLowerCase() !== facts.quoteHash
      )
        refuse(409, 'handover.not_canonical', `RegentSuccession does not name this instance canonical at epoch ${handover.epoch}.`)
      if (hello.mode === 'rotate') await claimAgentWallet(agentId, me)
      journal.put('handover', handover, Messages.appendTranscript(transcriptOf('challenge-answer'), handover))
      return { canonical: true, epoch: now.epoch.toString(), signer: me.address }
    },
  })

  let streaming = false
  /**
   * `POST state/stream` (DESIGN.md §10 step 3): the offer's binary frames, decrypted and checked as they arrive
   * (`openState`), then restored into the sealed state. Nothing is journaled until the whole state is loaded: a stream
   * cut anywhere leaves the session as it was, and the source sends the stream again.
   */
  async function stateStream(req: IncomingMessage) {
    const hello = sourceHello()
    const offer = get('state-offer') ?? refuse(409, 'session.order', 'Send the state offer first.')
    if (journal.get('state-loaded') !== undefined)
      refuse(409, 'state.loaded', 'The state of this session is loaded; another stream changes nothing.')
    if (streaming) refuse(409, 'state.busy', 'A state stream of this session is being received.')
    if (!(req.headers['content-type'] ?? '').startsWith('application/octet-stream'))
      refuse(415, 'request.media_type', 'send application/octet-stream')
    const limit = StateStream.streamLength(offer)
    const declared = Number(req.headers['content-length'] ?? Number.NaN)
    if (declared > limit) refuse(413, 'state.stream', `The body is ${declared} bytes; the offer's stream is ${limit}.`)
    streaming = true
    const secret = ephemeral()
    try {
      const opened = await openState({
        offer,
        stream: received(req),
        ephemeralPrivateKey: secret,
        transcript: transcriptOf(hello.mode === 'import' ? 'key-envelope' : 'key-offer'),
        client: parameters.client,
        contracts,
        agentId: BigInt(hello.agentId),
        chainId,
      })
      parameters.state.adopt(opened.db) // imported once, root checked by openState
      const result = { stateRoot: opened.checkpoint.stateRoot, seq: opened.seq.toString(), chunkSize: String(opened.checkpoint.chunkSize) }
      journal.put('state-loaded', result, opened.transcript)
      return { stateRoot: result.stateRoot, seq: result.seq }
    } finally {
      streaming = false
      secret.fill(0)
    }
  }

  /**
   * The request's bytes, without destroying the request when the reader stops early (a refusal is still answered),
   * with the fault-injection point `mid:state-stream` after the first bytes (docs/uplift.md "Crash safety").
   */
  async function* received(req: IncomingMessage): AsyncGenerator<Uint8Array> {
    let first = true
    for await (const piece of req.iterator({ destroyOnReturn: false })) {
      yield piece as Buffer
      if (first) journal.point('mid:state-stream')
      first = false
    }
  }

  /** Option B: once the identity NFT is ours, point `agentWallet` at this key with its own EIP-712 signature. */
  async function claimAgentWallet(agentId: bigint, me: LocalAccount) {
    const registry = contracts.identityRegistry
    const read = (functionName: 'ownerOf' | 'getAgentWallet') =>
      readContract(parameters.client, {
        address: registry,
        abi: identityRegistryAbi,
        functionName,
        args: [agentId],
      } as never) as Promise<Hex>
    if ((await read('ownerOf')).toLowerCase() !== me.address.toLowerCase())
      refuse(409, 'handover.not_owner', 'The identity NFT has not moved to this key yet.')
    if ((await read('getAgentWallet')).toLowerCase() === me.address.toLowerCase()) return
    const block = await parameters.client.request({ method: 'eth_getBlockByNumber', params: ['latest', false] })
    const deadline = BigInt((block as { timestamp: Hex }).timestamp) + 240n
    const signature = await me.signTypedData({
      domain: identityRegistryDomain({ chainId, address: registry }),
      types: agentWalletSetTypes,
      primaryType: 'AgentWalletSet',
      message: { agentId, newWallet: me.address, owner: me.address, deadline },
    })
    await sendTx(parameters.walletClient, {
      address: registry,
      abi: identityRegistryAbi,
      functionName: 'setAgentWallet',
      args: [agentId, me.address, deadline, signature],
    })
    journal.point('sent:agent-wallet')
  }

  return {
    account,
    async status() {
      const hello = get('source-hello')
      const loaded = journal.get<{ stateRoot: Hex }>('state-loaded')
      return {
        sessionId: hello?.sessionId ?? null,
        steps: journal.list().map((e) => e.step),
        wallet: getAddress(parameters.wallet.address),
        agentWallet: account()?.address ?? null,
        stateRoot: loaded?.stateRoot ?? null,
        canonical: journal.get('handover') !== undefined,
      }
    },
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://target')
      if (!url.pathname.startsWith(`${basePath}/`)) return false
      const name = url.pathname.slice(basePath.length + 1)
      try {
        if (req.method === 'GET' && name === 'status') sendJson(res, 200, await this.status())
        else if (req.method === 'POST' && name === 'state/stream') {
          try {
            sendJson(res, 200, await stateStream(req))
          } catch (error) {
            sendRefusalDraining(req, res, error)
          }
        } else {
          const route = req.method === 'POST' && Object.hasOwn(routes, name) ? routes[name] : undefined
          if (route === undefined) refuse(404, 'not_found', `no route ${req.method} ${url.pathname}`)
          sendJson(res, 200, await (route as (b: unknown) => Promise<unknown>)(await readMessage(req)))
        }
      } catch (error) {
        sendError(res, error)
      }
      return true
    },
  }
}
