/**
 * Step 1, the hello (DESIGN.md §10 step 1; docs/uplift.md "Sequence", "Bindings"). The source opens the session with
 * {@link createSourceHello} (fresh session id and nonce) and signs it with {@link signSourceHello}; the target checks
 * it ({@link checkSourceHello}) and answers {@link createTargetHello}: a fresh X25519 key and a quote whose
 * report_data is `Messages.targetReportData` (keyCommitment ‖ freshCommitment). The source checks that answer in
 * VerifyTarget.ts.
 */
import { randomBytes } from 'node:crypto'
import { Envelope } from '@regent-tee/core'
import { type LocalAccount, recoverTypedDataAddress } from 'viem'
import { getQuote } from '../actions/getQuote.js'
import type { RegentContracts } from '../chain/transact.js'
import type { BaseTeeClient } from '../createTeeClient.js'
import { type Hex, toHex } from '../internal/bytes.js'
import { UpliftRefusedError } from './errors.js'
import * as Messages from './Messages.js'

const random32 = (): Hex => toHex(new Uint8Array(randomBytes(32)))
const lower = (a: string) => a.toLowerCase() as Hex

export type CreateSourceHelloParameters = {
  readonly agentId: bigint
  readonly chainId: number | bigint
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly mode: 'import' | 'rotate'
  /** The source's wallet address. */
  readonly source: Hex
  /** Default: 32 random bytes. Pass one only to resume a journaled session. */
  readonly sessionId?: Hex
  /** Default: 32 random bytes. Pass one only to resume a journaled session. */
  readonly nonce?: Hex
}

/**
 * Opens a session (source side).
 *
 * @example
 * const hello = createSourceHello({ agentId, chainId, contracts, mode: 'import', source: account.address })
 */
export function createSourceHello(parameters: CreateSourceHelloParameters): Messages.SourceHello {
  return Messages.parse(
    {
      version: Messages.version,
      type: 'source-hello',
      sessionId: parameters.sessionId ?? random32(),
      agentId: parameters.agentId.toString(),
      chainId: BigInt(parameters.chainId).toString(),
      succession: lower(parameters.contracts.succession),
      mode: parameters.mode,
      source: lower(parameters.source),
      nonce: parameters.nonce ?? random32(),
    },
    'source-hello',
  )
}

/** EIP-712 types of a signed SourceHello (docs/protocol.md "SourceHello"). Permanent. */
export const sourceHelloTypes = {
  SourceHello: [
    { name: 'sessionId', type: 'bytes32' },
    { name: 'agentId', type: 'uint256' },
    { name: 'mode', type: 'string' },
    { name: 'source', type: 'address' },
    { name: 'nonce', type: 'bytes32' },
    { name: 'expiresAt', type: 'uint64' },
  ],
} as const

/** The EIP-712 domain of a SourceHello: the deployment's chain and RegentSuccession. */
export function sourceHelloDomain(hello: Pick<Messages.SourceHello, 'chainId' | 'succession'>) {
  return { name: 'Regent uplift', version: '1', chainId: BigInt(hello.chainId), verifyingContract: hello.succession } as const
}

const helloMessage = (hello: Messages.SourceHello, expiresAt: bigint) => ({
  sessionId: hello.sessionId,
  agentId: BigInt(hello.agentId),
  mode: hello.mode,
  source: hello.source,
  nonce: hello.nonce,
  expiresAt,
})

/** How long a signed hello stays valid by default: long enough to cross a slow network, short enough not to lock. */
export const defaultHelloTtlSeconds = 600

/**
 * Signs a SourceHello with the source's key (`account.address` must be `hello.source`), valid for `ttlSeconds`.
 *
 * @throws {UpliftRefusedError} `source.signature` when `account` is not the hello's source.
 * @example
 * const hello = await signSourceHello(createSourceHello({ ...base, mode, source: account.address }), { account })
 */
export async function signSourceHello(
  hello: Messages.SourceHello,
  parameters: { readonly account: LocalAccount; readonly ttlSeconds?: number; readonly now?: Date },
): Promise<Messages.SourceHello> {
  if (parameters.account.address.toLowerCase() !== hello.source)
    throw new UpliftRefusedError({
      step: 'hello',
      reasons: [
        { code: 'source.signature', message: `The account ${parameters.account.address} is not the hello's source ${hello.source}.` },
      ],
    })
  const now = BigInt(Math.floor((parameters.now ?? new Date()).getTime() / 1000))
  const expiresAt = now + BigInt(parameters.ttlSeconds ?? defaultHelloTtlSeconds)
  const signature = await parameters.account.signTypedData({
    domain: sourceHelloDomain(hello),
    types: sourceHelloTypes,
    primaryType: 'SourceHello',
    message: helloMessage(hello, expiresAt),
  })
  return Messages.parse({ ...hello, expiresAt: expiresAt.toString(), signature: signature.toLowerCase() }, 'source-hello')
}

/**
 * Whether a hello is signed by its `source` and not expired at `now` (target side). Returns the refusal code, or
 * undefined when it holds: `source.signature` (absent, malformed or another signer), `source.expired`.
 */
export async function checkSourceHello(
  hello: Messages.SourceHello,
  parameters: { readonly now: Date; readonly maxTtlSeconds?: number },
): Promise<{ code: 'source.signature' | 'source.expired'; message: string } | undefined> {
  if (hello.signature === undefined || hello.expiresAt === undefined)
    return { code: 'source.signature', message: 'The hello is not signed by its source (signSourceHello).' }
  const expiresAt = BigInt(hello.expiresAt)
  let signer: string | undefined
  try {
    signer = await recoverTypedDataAddress({
      domain: sourceHelloDomain(hello),
      types: sourceHelloTypes,
      primaryType: 'SourceHello',
      message: helloMessage(hello, expiresAt),
      signature: hello.signature,
    })
  } catch {
    signer = undefined
  }
  if (signer?.toLowerCase() !== hello.source)
    return { code: 'source.signature', message: `The hello's signature is not by its source ${hello.source}.` }
  const now = BigInt(Math.floor(parameters.now.getTime() / 1000))
  if (expiresAt <= now) return { code: 'source.expired', message: `The hello expired at ${expiresAt} (now ${now}).` }
  if (expiresAt > now + BigInt(parameters.maxTtlSeconds ?? 3600))
    return { code: 'source.expired', message: `The hello is valid until ${expiresAt}, beyond the target's limit of one hour.` }
  return undefined
}

export type CreateTargetHelloParameters = {
  readonly sourceHello: Messages.SourceHello
  /** Where this target serves the protocol and, after handover, the agent. */
  readonly targetUrl: string
  /** This CVM's own KMS-derived wallet (`deriveWallet(client).address`). */
  readonly wallet: Hex
}

export type CreateTargetHelloReturnType = {
  readonly hello: Messages.TargetHello
  /** The X25519 private key that opens this session's envelopes. Keep it inside the CVM; wipe it after use. */
  readonly ephemeralPrivateKey: Uint8Array
  /** Transcript hash after SourceHello and TargetHello (the AD of the key envelope). */
  readonly transcript: Hex
}

/**
 * Answers a SourceHello (target side): a fresh X25519 key and a quote over `Messages.targetReportData`.
 *
 * @throws {Messages.InvalidMessageError} for a malformed URL; GuestAgentError / TransportError from the agent.
 * @example
 * const { hello, ephemeralPrivateKey } = await createTargetHello(client, { sourceHello, targetUrl, wallet: wallet.address })
 */
export async function createTargetHello(
  client: BaseTeeClient,
  parameters: CreateTargetHelloParameters,
): Promise<CreateTargetHelloReturnType> {
  const { sourceHello } = parameters
  const afterSource = Messages.appendTranscript(Messages.emptyTranscript, sourceHello)
  const pair = Envelope.createKeyPair()
  const binding = {
    ephemeralPublicKey: toHex(pair.publicKey),
    wallet: lower(parameters.wallet),
    targetUrl: parameters.targetUrl,
    sessionId: sourceHello.sessionId,
    nonce: sourceHello.nonce,
    transcript: afterSource,
  }
  const { quote, eventLog } = await getQuote(client, { reportData: Messages.targetReportData(binding) })
  const hello = Messages.parse(
    { version: Messages.version, type: 'target-hello', ...binding, quote: toHex(quote), eventLog },
    'target-hello',
  )
  return { hello, ephemeralPrivateKey: pair.privateKey, transcript: Messages.appendTranscript(afterSource, hello) }
}
