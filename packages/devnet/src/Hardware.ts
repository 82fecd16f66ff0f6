/**
 * The devnet's simulated hardware secret: 32 random bytes created once per state directory
 * (`<dir>/host/hardware.seed`, mode 0600) and never printed. It stands in for a CPU's fused sealing
 * secret: the local (non-KMS) key provider's roots derive from it, so a KMS node running in a devnet
 * CVM gets the same sealing key after `dev down`/`dev up`, exactly as a KMS CVM on the same real
 * machine would. It is devnet-only: nothing derived from it can ever verify as hardware.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { p256 } from '@noble/curves/p256'
import { secp256k1 } from '@noble/curves/secp256k1'
import { Kdf } from '@regent-tee/kms'

/** Loads (or creates) the seed of `dir`. */
export async function loadSeed(dir: string): Promise<Uint8Array> {
  const path = join(dir, 'host', 'hardware.seed')
  const existing = await readFile(path).catch(() => undefined)
  if (existing?.length === 32) return new Uint8Array(existing)
  await mkdir(join(dir, 'host'), { recursive: true, mode: 0o700 })
  const seed = randomBytes(32)
  await writeFile(path, seed, { mode: 0o600, flag: 'w' })
  return new Uint8Array(seed)
}

/** The local key provider's root keys, derived from the seed (labels `regent-devnet/v1/local-provider/*`). */
export function localProviderRoots(seed: Uint8Array): { rootK256: Uint8Array; rootCa: Uint8Array } {
  const derive = (label: string, valid: (k: Uint8Array) => boolean) => {
    for (let i = 0; ; i++) {
      const k = Kdf.deriveKey({ ikm: seed, context: [`regent-devnet/v1/local-provider/${label}`, String(i)] })
      if (valid(k)) return k
    }
  }
  return {
    rootK256: derive('k256', (k) => secp256k1.utils.isValidPrivateKey(k)),
    rootCa: derive('ca', (k) => p256.utils.isValidPrivateKey(k)),
  }
}
