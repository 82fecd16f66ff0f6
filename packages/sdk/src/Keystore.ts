/**
 * Password-encrypted key files for agents in the wild (a plain server, no TEE to derive or seal the wallet key):
 * the Ethereum Web3 Secret Storage Definition, version 3
 * (https://ethereum.org/en/developers/docs/data-structures-and-encoding/web3-secret-storage/), the JSON keystore that
 * geth and foundry's `cast wallet` read and write.
 *
 *   derivedKey = scrypt(password, salt, n, r, p, dklen = 32)  or  PBKDF2-HMAC-SHA256(password, salt, c, dklen = 32)
 *   ciphertext = AES-128-CTR(key = derivedKey[0..16], iv, plaintext = the 32-byte secp256k1 private key)
 *   mac        = keccak256(derivedKey[16..32] ‖ ciphertext)
 *
 * Known limits of the format: the MAC covers neither the iv nor `address`, so an altered iv decrypts to another key
 * with a valid MAC. Only the `address` field catches that; we always write it and check it when present (the spec's
 * own vectors have none). Passwords are encoded as UTF-8 exactly as given, as geth and foundry do (ethers applies
 * NFKD first, so a non-ASCII password typed in another normalization form opens an ethers file here only if equal
 * after encoding).
 */
import { createCipheriv, pbkdf2, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto'
import { link, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1'
import { scryptAsync } from '@noble/hashes/scrypt'
import { keccak_256 } from '@noble/hashes/sha3'
import { BaseError } from './errors.js'
import { concat, toHexRaw, wipe } from './internal/bytes.js'
import { PrivateKey } from './Keys.js'

/** scrypt parameters of a new keystore; see {@link encryptKeystore} for why. */
const scryptDefaults = { n: 2 ** 17, r: 8, p: 1 } as const
/** PBKDF2 iteration count of a new keystore when `kdf: 'pbkdf2'` (geth's and the spec's). */
const pbkdf2Defaults = { c: 262_144 } as const
/** Upper bounds enforced on every keystore read (and on options): a file cannot make us allocate or spin unboundedly. */
const limits = {
  /** scrypt's V array, 128·n·r bytes. */
  scryptMemory: 2 ** 30,
  /** n·r·p, 8× the work of geth's standard n = 2^18, r = 8, p = 1. */
  scryptWork: 2 ** 24,
  scryptP: 16,
  pbkdf2C: 2 ** 24,
  saltMin: 16,
  saltMax: 64,
  fileSize: 64 * 1024,
} as const
const dklen = 32
const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const hexRe = /^(0x)?([0-9a-fA-F]{2})*$/

export type ScryptKdfParams = {
  readonly dklen: 32
  readonly n: number
  readonly r: number
  readonly p: number
  /** Hex without `0x`. */
  readonly salt: string
}

export type Pbkdf2KdfParams = {
  readonly c: number
  readonly dklen: 32
  readonly prf: 'hmac-sha256'
  /** Hex without `0x`. */
  readonly salt: string
}

/** A version 3 keystore as written here: every hex field lowercase without `0x`. */
export type KeystoreJson = {
  /** The key's address, 40 lowercase hex digits without `0x`. */
  readonly address: string
  readonly crypto: {
    readonly cipher: 'aes-128-ctr'
    readonly cipherparams: { readonly iv: string }
    readonly ciphertext: string
    readonly mac: string
  } & ({ readonly kdf: 'scrypt'; readonly kdfparams: ScryptKdfParams } | { readonly kdf: 'pbkdf2'; readonly kdfparams: Pbkdf2KdfParams })
  /** UUID (v4 when generated here). */
  readonly id: string
  readonly version: 3
}

export type EncryptKeystoreOptions = {
  /** @default 'scrypt' */
  readonly kdf?: 'scrypt' | 'pbkdf2'
  /** @default { n: 2 ** 17, r: 8, p: 1 } */
  readonly scrypt?: { readonly n: number; readonly r: number; readonly p: number }
  /** @default { c: 262144 } */
  readonly pbkdf2?: { readonly c: number }
  /** @default crypto.randomUUID() */
  readonly uuid?: string
  /** 16 to 64 bytes. @default 32 random bytes */
  readonly salt?: Uint8Array
  /** 16 bytes. @default 16 random bytes */
  readonly iv?: Uint8Array
}

export type WriteKeystoreOptions = EncryptKeystoreOptions & {
  /** Replace an existing file at `path`. Without it an existing key file is never replaced (the call fails with EEXIST). @default false */
  readonly overwrite?: boolean
}

type Kdf =
  | { readonly kdf: 'scrypt'; readonly n: number; readonly r: number; readonly p: number; readonly salt: Uint8Array }
  | { readonly kdf: 'pbkdf2'; readonly c: number; readonly salt: Uint8Array }

type Parsed = {
  readonly kdf: Kdf
  readonly iv: Uint8Array
  readonly ciphertext: Uint8Array
  readonly mac: Uint8Array
  readonly address: Uint8Array | undefined
}

/**
 * Encrypts `key` under `password` into a version 3 keystore.
 *
 * Defaults: scrypt with n = 2^17, r = 8, p = 1, dklen 32. That is 128 MiB and about 0.35 s per unlock on a small
 * server core: half of geth's "standard" n = 2^18 (256 MiB, ~0.7 s, also accepted here), chosen because a wild
 * agent unlocks on every start, often on a small VPS next to other processes, and still 16× the work of
 * `cast wallet`'s default (n = 2^13). node:crypto's default `maxmem` (32 MiB) is raised per call to exactly what the
 * parameters need. Derivation runs off the event loop (node:crypto's callback API; for r < 4 with n ≥ 2^(16·r),
 * which OpenSSL refuses, @noble/hashes' `scryptAsync`, which yields every 10 ms).
 *
 * @param key The wallet key; only read, never wiped or retained.
 * @param password UTF-8 as given, no normalization (like geth and foundry).
 * @returns The keystore object; `JSON.stringify` it to get the file.
 * @throws {KeystoreFormatError} naming the option (`options.scrypt.n`, `options.salt`, …) for parameters out of the
 *   bounds {@link decryptKeystore} accepts, or `key` when it is not a valid secp256k1 private key.
 * @example
 * const json = await encryptKeystore(key, password)                     // scrypt n = 2^17
 * const geth = await encryptKeystore(key, password, { scrypt: { n: 2 ** 18, r: 8, p: 1 } })
 */
export async function encryptKeystore(key: PrivateKey, password: string, options: EncryptKeystoreOptions = {}): Promise<KeystoreJson> {
  const kind = options.kdf ?? 'scrypt'
  if (kind !== 'scrypt' && kind !== 'pbkdf2')
    throw new KeystoreFormatError({ field: 'options.kdf', reason: 'is neither "scrypt" nor "pbkdf2"' })
  const salt = options.salt === undefined ? new Uint8Array(randomBytes(32)) : Uint8Array.from(options.salt)
  const iv = options.iv === undefined ? new Uint8Array(randomBytes(16)) : Uint8Array.from(options.iv)
  const id = options.uuid ?? randomUUID()
  if (typeof id !== 'string' || !uuidRe.test(id)) throw new KeystoreFormatError({ field: 'options.uuid', reason: 'is not a UUID' })
  if (iv.length !== 16) throw new KeystoreFormatError({ field: 'options.iv', reason: `is ${iv.length} bytes, not 16` })
  const kdf: Kdf =
    kind === 'scrypt'
      ? { kdf: kind, ...(options.scrypt ?? scryptDefaults), salt }
      : { kdf: kind, ...(options.pbkdf2 ?? pbkdf2Defaults), salt }
  assertKdf(kdf, (name) => (name === 'salt' ? 'options.salt' : `options.${kind}.${name}`))

  const derivedKey = await deriveKey(kdf, password)
  try {
    const { ciphertext, address } = key.use((bytes) => {
      if (!secp256k1.utils.isValidPrivateKey(bytes))
        throw new KeystoreFormatError({ field: 'key', reason: 'is not a valid secp256k1 private key' })
      return { ciphertext: aes128Ctr(derivedKey, iv, bytes), address: addressOf(bytes) }
    })
    const mac = keccak_256(concat([derivedKey.subarray(16, 32), ciphertext]))
    const common = {
      cipher: 'aes-128-ctr',
      cipherparams: { iv: toHexRaw(iv) },
      ciphertext: toHexRaw(ciphertext),
      mac: toHexRaw(mac),
    } as const
    return {
      address: toHexRaw(address),
      crypto:
        kdf.kdf === 'scrypt'
          ? { ...common, kdf: 'scrypt', kdfparams: { dklen, n: kdf.n, r: kdf.r, p: kdf.p, salt: toHexRaw(salt) } }
          : { ...common, kdf: 'pbkdf2', kdfparams: { c: kdf.c, dklen, prf: 'hmac-sha256', salt: toHexRaw(salt) } },
      id,
      version: 3,
    }
  } finally {
    wipe(derivedKey)
  }
}

/**
 * Decrypts a version 3 keystore (an object, or its JSON text).
 *
 * Parsing is strict: `version` must be 3, `kdf` scrypt or pbkdf2 (prf hmac-sha256), `cipher` aes-128-ctr, dklen 32,
 * iv 16 bytes, ciphertext and mac 32 bytes, salt 16–64 bytes, `id` a UUID. KDF parameters are bounded so a hostile
 * file cannot exhaust the machine: scrypt n a power of two with 128·n·r ≤ 1 GiB, p ≤ 16, n·r·p ≤ 2^24; pbkdf2
 * c ≤ 2^24. The MAC is compared in constant time; `address`, when present, must be the decrypted key's. Unknown extra
 * fields are ignored; `Crypto` (older geth/MyEtherWallet) is read when `crypto` is absent.
 *
 * @returns A new {@link PrivateKey}; the caller owns it (`wipe()` when done).
 * @throws {KeystoreFormatError} naming the field that is missing, malformed or out of bounds.
 * @throws {KeystorePasswordError} when the MAC does not match: wrong password or altered file.
 * @throws {KeystoreAddressError} when the key does not belong to the file's `address` (e.g. an altered iv).
 * @example
 * const key = await decryptKeystore(JSON.parse(text), password)
 * const account = privateKeyToAccount(key.toHex())
 */
export async function decryptKeystore(json: unknown, password: string): Promise<PrivateKey> {
  const parsed = parse(json)
  const derivedKey = await deriveKey(parsed.kdf, password)
  try {
    const mac = keccak_256(concat([derivedKey.subarray(16, 32), parsed.ciphertext]))
    if (!timingSafeEqual(mac, parsed.mac)) throw new KeystorePasswordError()
    const plain = aes128Ctr(derivedKey, parsed.iv, parsed.ciphertext)
    try {
      if (!secp256k1.utils.isValidPrivateKey(plain))
        throw new KeystoreFormatError({ field: 'crypto.ciphertext', reason: 'does not decrypt to a valid secp256k1 private key' })
      if (parsed.address !== undefined) {
        const actual = addressOf(plain)
        if (!timingSafeEqual(actual, parsed.address))
          throw new KeystoreAddressError({ expected: toHexRaw(parsed.address), actual: toHexRaw(actual) })
      }
      return new PrivateKey(plain)
    } finally {
      wipe(plain)
    }
  } finally {
    wipe(derivedKey)
  }
}

/**
 * Encrypts `key` ({@link encryptKeystore}) and writes the keystore to `path` with mode 0600, atomically: a fresh
 * temp file in the same directory is written and fsynced, then linked into place (or renamed over an existing file
 * with `overwrite: true`), and the directory is fsynced. A reader sees the whole old file or the whole new one.
 *
 * @returns The keystore written.
 * @throws {KeystoreFormatError} for invalid options (as {@link encryptKeystore}); the file system's error (EEXIST
 *   when `path` exists and `overwrite` is not set, EACCES, …) otherwise. Nothing is left behind on failure.
 * @example
 * await writeKeystore('agent.key.json', key, process.env.AGENT_KEY_PASSWORD as string)
 */
export async function writeKeystore(
  path: string,
  key: PrivateKey,
  password: string,
  options: WriteKeystoreOptions = {},
): Promise<KeystoreJson> {
  const json = await encryptKeystore(key, password, options)
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const file = await open(tmp, 'wx', 0o600)
  try {
    try {
      await file.chmod(0o600) // the umask can only remove bits, but be explicit
      await file.writeFile(`${JSON.stringify(json)}\n`)
      await file.sync()
    } finally {
      await file.close()
    }
    if (options.overwrite === true) await rename(tmp, path)
    else await link(tmp, path) // atomic and never replaces an existing key file
  } finally {
    await rm(tmp, { force: true })
  }
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
  return json
}

/**
 * Reads and decrypts the keystore file at `path` ({@link decryptKeystore}). Files larger than 64 KiB are refused
 * before parsing (a keystore is under 1 KiB).
 *
 * @throws {KeystoreFormatError} with field `file` when the file is too large or not JSON, else as {@link decryptKeystore}.
 * @throws {KeystorePasswordError} | {@link KeystoreAddressError} as {@link decryptKeystore}; the file system's error (ENOENT, …).
 * @example
 * const key = await readKeystore('agent.key.json', process.env.AGENT_KEY_PASSWORD as string)
 */
export async function readKeystore(path: string, password: string): Promise<PrivateKey> {
  const handle = await open(path, 'r')
  let text: string
  try {
    // Bounded read rather than trusting stat(): a FIFO or device reports size 0.
    const buffer = Buffer.alloc(limits.fileSize + 1)
    let length = 0
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null)
      if (bytesRead === 0) break
      length += bytesRead
      if (length > limits.fileSize) throw new KeystoreFormatError({ field: 'file', reason: `is larger than ${limits.fileSize} bytes` })
    }
    text = buffer.toString('utf8', 0, length)
  } finally {
    await handle.close()
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new KeystoreFormatError({ field: 'file', reason: 'is not JSON' })
  }
  return decryptKeystore(json, password)
}

function parse(json: unknown): Parsed {
  let value = json
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value)
    } catch {
      throw new KeystoreFormatError({ field: 'keystore', reason: 'is not JSON' })
    }
  }
  const root = object(value, 'keystore')
  if (root.version !== 3) throw new KeystoreFormatError({ field: 'version', reason: 'is not 3' })
  const id = root.id
  if (typeof id !== 'string' || !uuidRe.test(id)) throw new KeystoreFormatError({ field: 'id', reason: 'is not a UUID' })
  const address = root.address === undefined ? undefined : hex(root.address, 'address', 20)
  if (root.crypto !== undefined && root.Crypto !== undefined)
    throw new KeystoreFormatError({ field: 'crypto', reason: 'appears twice (crypto and Crypto)' })
  const crypto = object(root.crypto ?? root.Crypto, 'crypto')
  if (crypto.cipher !== 'aes-128-ctr') throw new KeystoreFormatError({ field: 'crypto.cipher', reason: 'is not "aes-128-ctr"' })
  const iv = hex(object(crypto.cipherparams, 'crypto.cipherparams').iv, 'crypto.cipherparams.iv', 16)
  const ciphertext = hex(crypto.ciphertext, 'crypto.ciphertext', 32)
  const mac = hex(crypto.mac, 'crypto.mac', 32)
  const params = object(crypto.kdfparams, 'crypto.kdfparams')
  const field = (name: string) => `crypto.kdfparams.${name}`
  if (params.dklen !== dklen) throw new KeystoreFormatError({ field: field('dklen'), reason: 'is not 32' })
  const salt = hex(params.salt, field('salt'))
  let kdf: Kdf
  if (crypto.kdf === 'scrypt') {
    kdf = { kdf: 'scrypt', n: integer(params.n, field('n')), r: integer(params.r, field('r')), p: integer(params.p, field('p')), salt }
  } else if (crypto.kdf === 'pbkdf2') {
    if (params.prf !== 'hmac-sha256') throw new KeystoreFormatError({ field: field('prf'), reason: 'is not "hmac-sha256"' })
    kdf = { kdf: 'pbkdf2', c: integer(params.c, field('c')), salt }
  } else throw new KeystoreFormatError({ field: 'crypto.kdf', reason: 'is neither "scrypt" nor "pbkdf2"' })
  assertKdf(kdf, field)
  return { kdf, iv, ciphertext, mac, address }
}

/** The bounds of {@link decryptKeystore}, shared with the options of {@link encryptKeystore}. */
function assertKdf(kdf: Kdf, field: (name: string) => string): void {
  const fail = (name: string, reason: string) => {
    throw new KeystoreFormatError({ field: field(name), reason })
  }
  if (kdf.salt.length < limits.saltMin || kdf.salt.length > limits.saltMax)
    fail('salt', `is ${kdf.salt.length} bytes, not ${limits.saltMin} to ${limits.saltMax}`)
  if (kdf.kdf === 'pbkdf2') {
    if (!Number.isSafeInteger(kdf.c) || kdf.c < 1 || kdf.c > limits.pbkdf2C) fail('c', `is not an integer from 1 to ${limits.pbkdf2C}`)
    return
  }
  const { n, r, p } = kdf
  if (!Number.isSafeInteger(n) || n < 2 || 2 ** Math.round(Math.log2(n)) !== n) fail('n', 'is not a power of two of at least 2')
  if (!Number.isSafeInteger(r) || r < 1) fail('r', 'is not a positive integer')
  if (!Number.isSafeInteger(p) || p < 1 || p > limits.scryptP) fail('p', `is not an integer from 1 to ${limits.scryptP}`)
  if (128 * n * r > limits.scryptMemory) fail('n', `needs ${128 * n * r} bytes of scrypt memory (128·n·r), more than 1 GiB`)
  if (n * r * p > limits.scryptWork) fail('n', `asks for ${n * r * p} units of scrypt work (n·r·p), more than ${limits.scryptWork}`)
}

/** The 32-byte derived key (caller wipes). Asynchronous: never blocks the event loop for the whole derivation. */
async function deriveKey(kdf: Kdf, password: string): Promise<Uint8Array> {
  const secret = Buffer.from(password, 'utf8')
  try {
    if (kdf.kdf === 'pbkdf2')
      return await new Promise<Uint8Array>((resolve, reject) =>
        pbkdf2(secret, kdf.salt, kdf.c, dklen, 'sha256', (error, key) => (error ? reject(error) : resolve(key))),
      )
    const { n, r, p } = kdf
    // OpenSSL refuses n ≥ 2^(16·r) (RFC 7914 §2), which excludes the spec's own vector (n = 2^18, r = 1).
    if (16 * r <= 63 && n >= 2 ** (16 * r))
      return await scryptAsync(secret, kdf.salt, { N: n, r, p, dkLen: dklen, maxmem: 128 * r * (n + p) })
    // OpenSSL's memory check: 128·r·(n + 2) for V plus 128·r·p for B.
    const maxmem = 128 * r * (n + p + 2)
    return await new Promise<Uint8Array>((resolve, reject) =>
      scrypt(secret, kdf.salt, dklen, { N: n, r, p, maxmem }, (error, key) => (error ? reject(error) : resolve(key))),
    )
  } finally {
    wipe(secret)
  }
}

/** AES-128-CTR under derivedKey[0..16] (encryption and decryption are the same operation). */
function aes128Ctr(derivedKey: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-128-ctr', derivedKey.subarray(0, 16), iv)
  const head = cipher.update(data)
  const tail = cipher.final()
  const out = concat([head, tail])
  wipe(head)
  return out
}

/** keccak256(uncompressed public key without the 0x04 prefix)[12..32]. */
function addressOf(privateKey: Uint8Array): Uint8Array {
  return keccak_256(secp256k1.getPublicKey(privateKey, false).subarray(1)).subarray(12)
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new KeystoreFormatError({ field, reason: 'is not an object' })
  return value as Record<string, unknown>
}

function integer(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new KeystoreFormatError({ field, reason: 'is not an integer' })
  return value
}

function hex(value: unknown, field: string, length?: number): Uint8Array {
  if (typeof value !== 'string' || !hexRe.test(value)) throw new KeystoreFormatError({ field, reason: 'is not hex' })
  const bytes = new Uint8Array(Buffer.from(value.startsWith('0x') ? value.slice(2) : value, 'hex'))
  if (length !== undefined && bytes.length !== length)
    throw new KeystoreFormatError({ field, reason: `is ${bytes.length} bytes, not ${length}` })
  return bytes
}

/** The keystore (or an option for one) is malformed or out of bounds; `field` names which part. */
export class KeystoreFormatError extends BaseError {
  override name = 'KeystoreFormatError'
  readonly field: string
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid keystore: ${field} ${reason}.`)
    this.field = field
  }
}

/** The MAC does not match: the password is wrong or the file was altered. */
export class KeystorePasswordError extends BaseError {
  override name = 'KeystorePasswordError'
  constructor() {
    super('The keystore cannot be decrypted: wrong password or altered file (MAC mismatch).')
  }
}

/** The decrypted key is not the key of the file's `address` (the file was altered, e.g. its iv). */
export class KeystoreAddressError extends BaseError {
  override name = 'KeystoreAddressError'
  readonly expected: string
  readonly actual: string
  constructor({ expected, actual }: { expected: string; actual: string }) {
    super(`The keystore decrypts to the key of address ${actual}, not of its address field ${expected}: the file was altered.`)
    this.expected = expected
    this.actual = actual
  }
}
