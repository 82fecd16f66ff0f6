/**
 * Bounded memos for quote verification (on core's LRU): a record of signature verifications that succeeded,
 * keyed by a SHA-256 (FIPS 180-4) of the exact bytes the verification is a function of.
 *
 * Why a memo is equivalent to re-verifying: an ECDSA (or X.509) signature verification is a pure, deterministic
 * function of (public key bytes, message bytes, signature bytes) — no time, no randomness, no state. The memo key is
 * SHA-256 over a scheme label and every input, each length-prefixed, so two calls share a key only if every input
 * is byte-identical (or SHA-256 has a collision). Only successes are recorded: a failure is recomputed on every
 * call, so input that does not verify can never add or refresh an entry; the bound only evicts (cost, not verdict).
 *
 * Internal: never exported from the package.
 */
import { createHash } from 'node:crypto'
import { Lru } from '@regent-tee/core'

/**
 * SHA-256 of `scheme ‖ part₀ ‖ part₁ …`, each as u32be(length) ‖ bytes, in base64: a Map key that any byte
 * difference in any part (or a different split of the same bytes) changes.
 */
export function keyOf(scheme: string, parts: readonly Uint8Array[]): string {
  const hash = createHash('sha256')
  const label = Buffer.from(scheme, 'utf8')
  const length = Buffer.alloc(4)
  length.writeUInt32BE(label.length)
  hash.update(length).update(label)
  for (const part of parts) {
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(part.length)
    hash.update(prefix).update(part)
  }
  return hash.digest('base64')
}

/** Successful verifications by {@link keyOf} key. */
const verified = new Lru<string, true>(4096)

/**
 * Runs `verify` unless a verification with the same scheme and byte-identical parts already succeeded.
 *
 * @param scheme - What `verify` computes (algorithm and encoding), so that different schemes never share a key.
 * @param parts - Every byte input `verify` depends on: the public key's exact encoding, the message, the signature.
 * @param verify - The verification itself; must be a pure function of `parts`.
 */
export function verification(scheme: string, parts: readonly Uint8Array[], verify: () => boolean): boolean {
  const key = keyOf(scheme, parts)
  if (verified.get(key)) return true
  const ok = verify()
  if (ok) verified.set(key, true)
  return ok
}

/** Forgets every recorded verification (tests). */
export function clearVerifications(): void {
  verified.clear()
}
