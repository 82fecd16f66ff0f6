/**
 * Deterministic agent keys from the guest agent's `GetKey` (dstack.md §3.3): the same app on any CVM gets the
 * same key for the same path. Regent paths are versioned (`regent/v1/...`) and documented in docs/protocol.md.
 * Provenance is the dstack signature chain plus the app id; {@link verifyProvenance} walks it back to a KMS root
 * (dstack.md §3.4).
 */
import { inspect } from 'node:util'
import { secp256k1 } from '@noble/curves/secp256k1'
import { keccak_256 } from '@noble/hashes/sha3'
import type { LocalAccount } from 'viem'
import { privateKeyToAccount, publicKeyToAddress } from 'viem/accounts'
import { getKey } from './actions/getKey.js'
import { info } from './actions/info.js'
import type { BaseTeeClient } from './createTeeClient.js'
import { BaseError } from './errors.js'
import { concat, equalBytes, fromHex, type Hex, toHex, toHexRaw, utf8, wipe } from './internal/bytes.js'

/** GetKey path of the agent wallet K_agent. Permanent. */
export const walletPath = 'regent/v1/wallet'
/** GetKey purpose of the agent wallet (enters only `signature_chain[0]`). */
export const walletPurpose = 'regent-wallet'

/**
 * A 32-byte secret that never prints: not enumerable, `toJSON` and `util.inspect` say `[redacted]`.
 * Read it only with {@link PrivateKey.use} or {@link PrivateKey.toHex}; {@link PrivateKey.wipe} zeroes it.
 */
export class PrivateKey {
  readonly #bytes: Uint8Array
  #wiped = false

  constructor(bytes: Uint8Array) {
    if (bytes.length !== 32) throw new InvalidKeyLengthError({ length: bytes.length })
    this.#bytes = Uint8Array.from(bytes)
  }

  /** Runs `fn` with a temporary copy that is wiped afterwards. */
  use<T>(fn: (bytes: Uint8Array) => T): T {
    if (this.#wiped) throw new KeyWipedError()
    const copy = Uint8Array.from(this.#bytes)
    try {
      return fn(copy)
    } finally {
      wipe(copy)
    }
  }

  /** The key as `0x` hex (for viem). The caller is responsible for the string. */
  toHex(): Hex {
    if (this.#wiped) throw new KeyWipedError()
    return toHex(this.#bytes)
  }

  /** Zeroes the bytes; every later use throws {@link KeyWipedError}. */
  wipe(): void {
    wipe(this.#bytes)
    this.#wiped = true
  }

  toJSON(): string {
    return '[redacted]'
  }

  toString(): string {
    return 'PrivateKey([redacted])'
  }

  [inspect.custom](): string {
    return 'PrivateKey([redacted])'
  }
}

/** Where a key came from: enough for anyone to check it back to a KMS root (dstack.md §3.4). */
export type Provenance = {
  /** 20-byte app id, `0x` hex. */
  readonly appId: Hex
  readonly path: string
  readonly purpose: string
  /** 33-byte compressed secp256k1 public key, `0x` hex. */
  readonly publicKey: Hex
  /** `[app-key signature, KMS signature]`, 65 bytes each, `0x` hex. */
  readonly signatureChain: readonly Hex[]
}

export type DerivedKey = {
  readonly path: string
  readonly purpose: string
  /** Compressed secp256k1 public key. */
  readonly publicKey: Hex
  /** Ethereum address (EIP-55). */
  readonly address: Hex
  readonly signatureChain: readonly Hex[]
  readonly provenance: Provenance
  /** Non-enumerable; never serialized. */
  readonly privateKey: PrivateKey
}

export type DeriveKeyParameters = {
  readonly path: string
  /** @default '' */
  readonly purpose?: string
}

/**
 * Derives the secp256k1 key at `path` and records its provenance.
 *
 * @throws {GuestAgentError} when the agent refuses; {@link InvalidKeyLengthError} for a malformed answer.
 * @example
 * const wallet = await deriveKey(client, { path: walletPath, purpose: walletPurpose })
 * const account = toAccount(wallet)
 */
export async function deriveKey(client: BaseTeeClient, parameters: DeriveKeyParameters): Promise<DerivedKey> {
  const purpose = parameters.purpose ?? ''
  const [{ key, signatureChain }, { appId }] = await Promise.all([getKey(client, { path: parameters.path, purpose }), info(client)])
  try {
    const privateKey = new PrivateKey(key)
    const publicKey = toHex(secp256k1.getPublicKey(key, true))
    const address = publicKeyToAddress(toHex(secp256k1.getPublicKey(key, false)))
    const chain = signatureChain.map(toHex)
    const derived = {
      path: parameters.path,
      purpose,
      publicKey,
      address,
      signatureChain: chain,
      provenance: { appId: toHex(appId), path: parameters.path, purpose, publicKey, signatureChain: chain },
    }
    Object.defineProperty(derived, 'privateKey', { value: privateKey, enumerable: false })
    return derived as unknown as DerivedKey
  } finally {
    wipe(key)
  }
}

/**
 * The agent wallet K_agent ({@link walletPath}).
 *
 * @example
 * const wallet = await deriveWallet(client)
 */
export function deriveWallet(client: BaseTeeClient): Promise<DerivedKey> {
  return deriveKey(client, { path: walletPath, purpose: walletPurpose })
}

/**
 * A viem `LocalAccount` signing with the derived key.
 *
 * @example
 * const account = toAccount(await deriveWallet(client))
 * await account.signMessage({ message: 'hi' })
 */
export function toAccount(key: DerivedKey): LocalAccount {
  return privateKeyToAccount(key.privateKey.toHex())
}

export type VerifyProvenanceParameters = {
  readonly provenance: Provenance
  /** Trusted KMS root k256 public key (33-byte compressed). Without it only the chain's consistency is checked. */
  readonly kmsRootPublicKey?: Uint8Array | Hex
  /** The app id from a verified source (the quote's `app-id` event); compared with the provenance's. */
  readonly appId?: Uint8Array | Hex
  /** The address the key must have (e.g. the bundle's wallet). */
  readonly address?: Hex
}

export type ProvenanceVerdict = {
  readonly ok: boolean
  /** The root the chain ends at (compressed, `0x` hex), when both signatures recovered. */
  readonly kmsRootPublicKey: Hex | undefined
  readonly reasons: readonly { readonly code: string; readonly message: string }[]
}

/**
 * Checks a key's signature chain (dstack.md §3.4): chain[0] recovers the app key over
 * keccak256(purpose ":" hex(pubkey)); chain[1] recovers the KMS root over
 * keccak256("dstack-kms-issued:" ‖ app_id ‖ app_pubkey). Never throws for bad input.
 *
 * @example
 * const { ok } = verifyProvenance({ provenance: wallet.provenance, kmsRootPublicKey })
 */
export function verifyProvenance(parameters: VerifyProvenanceParameters): ProvenanceVerdict {
  const reasons: { code: string; message: string }[] = []
  const add = (code: string, message: string) => reasons.push({ code, message })
  const p = parameters.provenance
  let root: Hex | undefined
  try {
    const publicKey = fromHex(p.publicKey, 'provenance.publicKey')
    const appId = fromHex(p.appId, 'provenance.appId')
    if (parameters.address !== undefined) {
      const point = secp256k1.ProjectivePoint.fromHex(publicKey).toRawBytes(false)
      if (publicKeyToAddress(toHex(point)).toLowerCase() !== parameters.address.toLowerCase())
        add('provenance.address', 'The provenance public key is not the key of the expected address.')
    }
    if (parameters.appId !== undefined) {
      const expected = typeof parameters.appId === 'string' ? fromHex(parameters.appId, 'appId') : parameters.appId
      if (!equalBytes(expected, appId)) add('provenance.app_id', 'The provenance app id is not the attested app id.')
    }
    const [c0, c1] = p.signatureChain
    if (p.signatureChain.length !== 2 || !c0 || !c1) add('provenance.chain', 'The signature chain does not have two entries.')
    else {
      const appKey = recover(fromHex(c0, 'signatureChain[0]'), keccak_256(utf8(`${p.purpose}:${toHexRaw(publicKey)}`)))
      const kmsRoot = recover(fromHex(c1, 'signatureChain[1]'), keccak_256(concat([utf8('dstack-kms-issued:'), appId, appKey])))
      root = toHex(kmsRoot)
      if (parameters.kmsRootPublicKey !== undefined) {
        const trusted =
          typeof parameters.kmsRootPublicKey === 'string'
            ? fromHex(parameters.kmsRootPublicKey, 'kmsRootPublicKey')
            : parameters.kmsRootPublicKey
        if (!equalBytes(trusted, kmsRoot)) add('provenance.kms_root', 'The signature chain does not end at the trusted KMS root.')
      }
    }
  } catch (error) {
    add('provenance.chain', `The signature chain does not verify: ${(error as Error).message.split('\n')[0]}`)
  }
  return { ok: reasons.length === 0, kmsRootPublicKey: root, reasons }
}

function recover(signature: Uint8Array, digest: Uint8Array): Uint8Array {
  if (signature.length !== 65) throw new Error(`a chain signature is ${signature.length} bytes, not 65`)
  const recid = signature[64] as number
  if (recid > 1) throw new Error('a chain signature has a recovery id other than 0 or 1')
  return secp256k1.Signature.fromCompact(signature.subarray(0, 64)).addRecoveryBit(recid).recoverPublicKey(digest).toRawBytes(true)
}

export class InvalidKeyLengthError extends BaseError {
  override name = 'InvalidKeyLengthError'
  constructor({ length }: { length: number }) {
    super(`A derived key must be 32 bytes, got ${length}.`)
  }
}

export class KeyWipedError extends BaseError {
  override name = 'KeyWipedError'
  constructor() {
    super('The private key was wiped and can no longer be used.')
  }
}
