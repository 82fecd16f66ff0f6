/**
 * Step 2, option A: import (DESIGN.md §10 step 2A; docs/uplift.md "Sequence", "Bindings" (Envelope)). After an `ok`
 * verdict, {@link sealKey} encrypts the 32-byte wallet key to the target's ephemeral key (X25519 → HKDF-SHA256 info
 * `regent-uplift-key/v1`, salt = transcript → AES-256-GCM, AD binds the transcript and the address); {@link openKey}
 * on the target gives back exactly the same key and address.
 */

import { Aead } from '@regent-tee/core'
import { getAddress } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { concat, fromHex, type Hex, toHex, utf8 } from '../internal/bytes.js'
import { PrivateKey } from '../Keys.js'
import { UpliftRefusedError } from './errors.js'
import * as Messages from './Messages.js'
import { assertTarget, keyFromSource, keyToTarget, type TargetVerdict } from './VerifyTarget.js'

/** HKDF info and AD label of the key envelope. Permanent. */
export const keyEnvelopeLabel = 'regent-uplift-key/v1'

const lower = (a: string) => a.toLowerCase() as Hex

/** The associated data of a key envelope: label ‖ 0x00 ‖ transcript(32) ‖ address(20). */
function keyAd(transcript: Hex, address: Hex): Uint8Array {
  return concat([utf8(keyEnvelopeLabel), Uint8Array.of(0), fromHex(transcript, 'transcript'), fromHex(address, 'address')])
}

export type SealKeyParameters = {
  /** An `ok` verdict of `verifyTarget` (VerifyTarget.ts) for this session. */
  readonly verdict: TargetVerdict
  /** The source's wallet key (must be the session's `source` address). */
  readonly privateKey: PrivateKey
}

/**
 * Option A (source side): seals the wallet key to the verified target's ephemeral key.
 *
 * @throws {UpliftRefusedError} before anything is encrypted: the verdict's codes when it is not ok,
 *   `key.mode` for a `rotate` session, `key.address` when the key is not the session's source address,
 *   `target.key_binding` for an unusable (low-order) ephemeral key.
 * @example
 * const envelope = sealKey({ verdict, privateKey: wallet.privateKey })
 */
export function sealKey(parameters: SealKeyParameters): Messages.KeyEnvelope {
  const target = assertTarget(parameters.verdict, 'key transfer')
  const refuse = (code: string, message: string): never => {
    throw new UpliftRefusedError({ step: 'key transfer', reasons: [{ code, message }] })
  }
  if (target.mode !== 'import') refuse('key.mode', 'The session is a rotate session; the key stays where it is.')
  const address = parameters.privateKey.use((bytes) => lower(privateKeyToAddress(toHex(bytes))))
  if (address !== target.source)
    refuse('key.address', `The key is ${getAddress(address)}, not the session's source ${getAddress(target.source)}.`)
  const { key, senderPublicKey } = keyToTarget({ target, transcript: target.transcript, info: keyEnvelopeLabel, step: 'key transfer' })
  try {
    const { iv, ciphertext } = parameters.privateKey.use((bytes) => Aead.sealJoined(key, bytes, { ad: keyAd(target.transcript, address) }))
    return Messages.parse(
      {
        version: Messages.version,
        type: 'key-envelope',
        sessionId: target.sessionId,
        address,
        senderPublicKey: toHex(senderPublicKey),
        iv: toHex(iv),
        ciphertext: toHex(ciphertext),
      },
      'key-envelope',
    )
  } finally {
    key.fill(0)
  }
}

export type OpenKeyParameters = {
  readonly envelope: Messages.KeyEnvelope
  /** From `createTargetHello` (Hello.ts). */
  readonly ephemeralPrivateKey: Uint8Array
  /** Transcript hash after SourceHello and TargetHello (`createTargetHello`'s `transcript`). */
  readonly transcript: Hex
  /** The session's source address (SourceHello `source`): the key must be that wallet. */
  readonly expectedAddress: Hex
}

/**
 * Option A (target side): opens the key envelope.
 *
 * @returns The wallet key; the caller seals it (SealedState) and wipes it.
 * @throws {UpliftRefusedError} `key.address` (the envelope names another address than expected, or the key does
 *   not yield it), `key.decrypt` (wrong ephemeral key, other transcript, altered bytes).
 * @example
 * const key = openKey({ envelope, ephemeralPrivateKey, transcript, expectedAddress: sourceHello.source })
 */
export function openKey(parameters: OpenKeyParameters): PrivateKey {
  const { envelope } = parameters
  const refuse = (code: string, message: string): never => {
    throw new UpliftRefusedError({ step: 'key import', reasons: [{ code, message }] })
  }
  if (envelope.address !== lower(parameters.expectedAddress))
    refuse('key.address', 'The envelope is for another address than the session source.')
  const key = keyFromSource({ ...parameters, senderPublicKey: envelope.senderPublicKey, info: keyEnvelopeLabel })
  if (!key) return refuse('key.decrypt', 'The sender key is not a usable X25519 public key.')
  const plain = Aead.openJoined(key, fromHex(envelope.iv, 'iv'), fromHex(envelope.ciphertext, 'ciphertext'), {
    ad: keyAd(parameters.transcript, envelope.address),
  })
  key.fill(0)
  if (plain?.length !== 32) return refuse('key.decrypt', 'The key envelope did not decrypt: wrong key, other transcript or altered bytes.')
  try {
    const privateKey = new PrivateKey(plain)
    if (lower(privateKeyToAddress(toHex(plain))) !== envelope.address) {
      privateKey.wipe()
      refuse('key.address', 'The sealed key does not yield the envelope address.')
    }
    return privateKey
  } finally {
    plain.fill(0)
  }
}
