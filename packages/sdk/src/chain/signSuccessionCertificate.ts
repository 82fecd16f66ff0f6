/**
 * Signs an EIP-712 succession certificate (DESIGN.md §10 step 2B "rotate"; docs/contracts.md "RegentSuccession";
 * typed data `successionCertificateTypes` / `successionDomain` of @regent-tee/contracts). Fenced: the account must be
 * the canonical signer of the current epoch now, and the certificate is for exactly the next epoch, so a demoted
 * or retired key never hands the agent on. Submitting it (`rotate`) is anyone's call and moves no value by itself.
 */
import { type SuccessionCertificate, successionCertificateTypes, successionDomain } from '@regent-tee/contracts'
import type { Account, Address, Chain, Client, Hex, Transport } from 'viem'
import { getChainId, signTypedData } from 'viem/actions'
import { BaseError } from '../errors.js'
import { assertCanonical } from './assertCanonical.js'
import type { RegentContracts } from './transact.js'

export type SignSuccessionCertificateParameters = {
  /** The signing key (default: the client's account); must be canonical now. */
  readonly account?: Account
  readonly contracts: Pick<RegentContracts, 'succession'>
  /** Default: the client's chain, else `eth_chainId`. */
  readonly chainId?: number
  readonly agentId: bigint
  readonly newKey: Address
  readonly newComposeHash: Hex
  /** keccak256 of the new instance's attestation quote. */
  readonly quoteHash: Hex
  /** Unix seconds after which the certificate is void. */
  readonly deadline: bigint
}

export type SignSuccessionCertificateReturnType = {
  readonly certificate: SuccessionCertificate
  readonly signature: Hex
}

/**
 * Signs the certificate handing `agentId` from the (canonical) account to `newKey` at epoch + 1.
 *
 * @throws {NotCanonicalError} the account is not the canonical signer now (nothing signed).
 * @throws {NoAccountError} neither `account` nor a client account.
 * @example
 * const { certificate, signature } = await signSuccessionCertificate(wallet, { contracts, agentId, newKey, newComposeHash, quoteHash, deadline })
 * await wallet.writeContract({ address: contracts.succession, abi: regentSuccessionAbi, functionName: 'rotate', args: [agentId, certificate, signature, next] })
 */
export async function signSuccessionCertificate(
  client: Client<Transport, Chain | undefined, Account | undefined>,
  parameters: SignSuccessionCertificateParameters,
): Promise<SignSuccessionCertificateReturnType> {
  const account = parameters.account ?? client.account
  if (!account) throw new NoAccountError()
  const { epoch } = await assertCanonical(client, { contracts: parameters.contracts, agentId: parameters.agentId, signer: account.address })
  const chainId = parameters.chainId ?? client.chain?.id ?? (await getChainId(client))
  const certificate: SuccessionCertificate = {
    agentId: parameters.agentId,
    oldKey: account.address,
    newKey: parameters.newKey,
    newComposeHash: parameters.newComposeHash,
    quoteHash: parameters.quoteHash,
    nextEpoch: epoch + 1n,
    deadline: parameters.deadline,
  }
  const signature = await signTypedData(client, {
    account,
    domain: successionDomain({ chainId, address: parameters.contracts.succession }),
    types: successionCertificateTypes,
    primaryType: 'SuccessionCertificate',
    message: certificate,
  })
  return { certificate, signature }
}

/** No account to sign with. */
export class NoAccountError extends BaseError {
  override name = 'Chain.NoAccountError'
  constructor() {
    super('No account: pass `account` or use a client with an account.')
  }
}
