/**
 * The TEE client (viem's client/transport/actions shape): `createTeeClient({ transport })` returns a client whose
 * methods are the guest-agent actions of `./actions/*` decorated onto it. The same client talks to a real dstack
 * guest agent (dstack.md §1) and to the devnet's, through whichever transport it was given.
 */
import { type AttestParameters, type AttestReturnType, attest } from './actions/attest.js'
import { type EmitEventParameters, emitEvent } from './actions/emitEvent.js'
import { type GetKeyParameters, type GetKeyReturnType, getKey } from './actions/getKey.js'
import { type GetQuoteParameters, type GetQuoteReturnType, getQuote } from './actions/getQuote.js'
import { type GetTlsKeyParameters, type GetTlsKeyReturnType, getTlsKey } from './actions/getTlsKey.js'
import { type InfoReturnType, info } from './actions/info.js'
import { type SignParameters, type SignReturnType, sign } from './actions/sign.js'
import { type VerifyParameters, type VerifyReturnType, verify } from './actions/verify.js'
import { type VersionReturnType, version } from './actions/version.js'
import type { RequestArgs, Transport } from './transports/createTransport.js'

/** The undecorated client every action takes. */
export type BaseTeeClient = {
  readonly transport: Transport
  request(args: RequestArgs): Promise<unknown>
}

/** The client with every guest-agent action as a method. */
export type TeeClient = BaseTeeClient & {
  getKey(parameters?: GetKeyParameters): Promise<GetKeyReturnType>
  getQuote(parameters: GetQuoteParameters): Promise<GetQuoteReturnType>
  attest(parameters: AttestParameters): Promise<AttestReturnType>
  info(): Promise<InfoReturnType>
  emitEvent(parameters: EmitEventParameters): Promise<void>
  sign(parameters: SignParameters): Promise<SignReturnType>
  verify(parameters: VerifyParameters): Promise<VerifyReturnType>
  version(): Promise<VersionReturnType>
  getTlsKey(parameters?: GetTlsKeyParameters): Promise<GetTlsKeyReturnType>
}

export type CreateTeeClientOptions = { readonly transport: Transport }

/**
 * Creates a TEE client.
 *
 * @example
 * const client = createTeeClient({ transport: fromEnv() })
 * const { quote } = await client.getQuote({ reportData: '0x1234' })
 */
export function createTeeClient(options: CreateTeeClientOptions): TeeClient {
  const base: BaseTeeClient = { transport: options.transport, request: (args) => options.transport.request(args) }
  return {
    ...base,
    getKey: (p) => getKey(base, p),
    getQuote: (p) => getQuote(base, p),
    attest: (p) => attest(base, p),
    info: () => info(base),
    emitEvent: (p) => emitEvent(base, p),
    sign: (p) => sign(base, p),
    verify: (p) => verify(base, p),
    version: () => version(base),
    getTlsKey: (p) => getTlsKey(base, p),
  }
}
