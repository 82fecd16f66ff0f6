// Web3 Secret Storage v3: the definition's own test vectors, a keystore with the standard n = 2^18 written elsewhere,
// round trips, a differential decryption with the noble primitives, tampering, malformed input and the key file on disk.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { ctr } from '@noble/ciphers/aes'
import { secp256k1 } from '@noble/curves/secp256k1'
import { pbkdf2 } from '@noble/hashes/pbkdf2'
import { scrypt } from '@noble/hashes/scrypt'
import { sha256 } from '@noble/hashes/sha2'
import { keccak_256 } from '@noble/hashes/sha3'
import fc from 'fast-check'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { PrivateKey } from './Keys.js'
import {
  decryptKeystore,
  encryptKeystore,
  KeystoreAddressError,
  KeystoreFormatError,
  type KeystoreJson,
  KeystorePasswordError,
  readKeystore,
  writeKeystore,
} from './Keystore.js'

// Web3 Secret Storage Definition, "Test vectors": password, secret, and the two files.
const specPassword = 'testpassword'
const specSecret = '7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d'
const specAddress = '008aeeda4d805471df9b2a5b0f38a0c3bcba786b'
const specPbkdf2 = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '6087dab2f9fdbbfaddc31a909735c1e6' },
    ciphertext: '5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46',
    kdf: 'pbkdf2',
    kdfparams: { c: 262144, dklen: 32, prf: 'hmac-sha256', salt: 'ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd' },
    mac: '517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
}
// Note the spec's scrypt vector has r = 1, p = 8 (not the usual r = 8, p = 1); OpenSSL refuses it (n ≥ 2^(16·r)).
const specScrypt = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '83dbcc02d8ccb40e466191a123791e0e' },
    ciphertext: 'd172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c',
    kdf: 'scrypt',
    kdfparams: { dklen: 32, n: 262144, p: 8, r: 1, salt: 'ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19' },
    mac: '2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
}
// A keystore written by another tool with geth's standard parameters (n = 2^18, r = 8, p = 1) and an address field,
// password "test": the address check proves the decryption.
const standard = {
  address: '27dd70735fa8cb93c8164b0b43bf733d71638497',
  crypto: {
    cipher: 'aes-128-ctr',
    ciphertext: 'c4a499a3b73ebdddaf3526f4b4a996e8012465b0675e66e80f8b2900c9198247',
    cipherparams: { iv: '936f111b876c5adba4e4d8b72af13e7d' },
    kdf: 'scrypt',
    kdfparams: { dklen: 32, n: 262144, p: 1, r: 8, salt: 'a6fd91afc2fcbf9a61b43894120077090d6330b5e80e6bca9dcce8e5746a08f4' },
    mac: '0a600717ee75a350a1d9204ec640df8541d709fe00fd3f6507644ebe69b50896',
  },
  id: '0b1ebaf7-bfdb-4662-9a8e-6c024d024d27',
  version: 3,
}

const password = 'correct horse battery staple'
const wrongPassword = 'tr0ub4dor&3-wrong'
const fastScrypt = { kdf: 'scrypt', scrypt: { n: 16, r: 8, p: 1 } } as const
const fastPbkdf2 = { kdf: 'pbkdf2', pbkdf2: { c: 16 } } as const
const specKey = () => new PrivateKey(Buffer.from(specSecret, 'hex'))

// biome-ignore lint/suspicious/noExplicitAny: the tests rewrite arbitrary fields of keystore JSON
type Mutable = { [key: string]: any }
let scryptFile: KeystoreJson
let pbkdf2File: KeystoreJson
let dir: string

beforeAll(async () => {
  scryptFile = await encryptKeystore(specKey(), password, fastScrypt)
  pbkdf2File = await encryptKeystore(specKey(), password, fastPbkdf2)
  dir = await mkdtemp(join(tmpdir(), 'regent-keystore-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function mutate(json: KeystoreJson, fn: (copy: Mutable) => void): Mutable {
  const copy = structuredClone(json) as Mutable
  fn(copy)
  return copy
}

/** A copy of `json` with the field at the dotted `path` set (a function gets the old value; `undefined` deletes it). */
function edit(
  json: KeystoreJson,
  path: string,
  value: string | number | object | undefined | ((old: Mutable[string]) => unknown),
): Mutable {
  return mutate(json, (copy) => {
    const keys = path.split('.')
    const last = keys.pop() as string
    let holder = copy
    for (const key of keys) holder = holder[key]
    if (value === undefined) delete holder[last]
    else holder[last] = typeof value === 'function' ? value(holder[last]) : value
  })
}

function flip(hex: string, index: number): string {
  const bytes = Buffer.from(hex, 'hex')
  bytes[index] = (bytes[index] as number) ^ 0x01
  return bytes.toString('hex')
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a rejection')
}

describe('decryptKeystore', () => {
  test('default: the spec vector with PBKDF2-SHA-256 (c = 262144)', async () => {
    const key = await decryptKeystore(specPbkdf2, specPassword)
    expect(key.toHex()).toBe(`0x${specSecret}`)
    expect(privateKeyToAccount(key.toHex()).address.toLowerCase()).toBe(`0x${specAddress}`)
  })

  test('default: the spec vector with scrypt (n = 262144, r = 1, p = 8)', async () => {
    const key = await decryptKeystore(specScrypt, specPassword)
    expect(key.toHex()).toBe(`0x${specSecret}`)
  })

  test('behavior: a keystore with the standard n = 2^18, r = 8, p = 1 and an address field', async () => {
    const key = await decryptKeystore(standard, 'test')
    expect(privateKeyToAccount(key.toHex()).address.toLowerCase()).toBe(`0x${standard.address}`)
  })

  test('behavior: JSON text, 0x-prefixed and uppercase hex, a checksummed address and the older "Crypto" key are read', async () => {
    const variant = mutate(scryptFile, (j) => {
      j.Crypto = j.crypto
      delete j.crypto
      j.Crypto.mac = `0x${j.Crypto.mac.toUpperCase()}`
      j.address = privateKeyToAccount(`0x${specSecret}`).address
      j['x-ethers'] = { client: 'ignored' }
    })
    expect((await decryptKeystore(JSON.stringify(variant), password)).toHex()).toBe(`0x${specSecret}`)
  })

  test('behavior: a wrong password is KeystorePasswordError', async () => {
    for (const file of [scryptFile, pbkdf2File]) {
      const error = await rejection(decryptKeystore(file, wrongPassword))
      expect(error).toBeInstanceOf(KeystorePasswordError)
      expect(error.message).toBe('The keystore cannot be decrypted: wrong password or altered file (MAC mismatch).')
    }
  })

  test('behavior: every flipped byte of ciphertext, mac or salt is KeystorePasswordError; of iv, KeystoreAddressError', async () => {
    const fields = [
      ['ciphertext', 32, (j: Mutable) => j.crypto, KeystorePasswordError],
      ['mac', 32, (j: Mutable) => j.crypto, KeystorePasswordError],
      ['salt', 32, (j: Mutable) => j.crypto.kdfparams, KeystorePasswordError],
      ['iv', 16, (j: Mutable) => j.crypto.cipherparams, KeystoreAddressError],
    ] as const
    for (const file of [scryptFile, pbkdf2File])
      for (const [name, length, holder, expected] of fields)
        for (let i = 0; i < length; i++) {
          const altered = mutate(file, (j) => {
            holder(j)[name] = flip(holder(j)[name], i)
          })
          await expect(decryptKeystore(altered, password), `${name}[${i}]`).rejects.toThrow(expected)
        }
  })

  test('behavior: without an address field an altered iv goes unnoticed (a limit of the format, not of this code)', async () => {
    const altered = mutate(scryptFile, (j) => {
      delete j.address
      j.crypto.cipherparams.iv = flip(j.crypto.cipherparams.iv, 15)
    })
    expect((await decryptKeystore(altered, password)).toHex()).not.toBe(`0x${specSecret}`)
  })

  test('behavior: an address that is not the key’s is KeystoreAddressError', async () => {
    const other = edit(scryptFile, 'address', '00000000000000000000000000000000000000aa')
    const error = await rejection(decryptKeystore(other, password))
    expect(error).toBeInstanceOf(KeystoreAddressError)
    expect(error.message).toBe(
      `The keystore decrypts to the key of address ${specAddress}, not of its address field 00000000000000000000000000000000000000aa: the file was altered.`,
    )
  })

  test('behavior: malformed input is KeystoreFormatError naming the field', async () => {
    const s = scryptFile
    const p = pbkdf2File
    const cases: [unknown, string, string][] = [
      [42, 'keystore', 'is not an object'],
      [null, 'keystore', 'is not an object'],
      [[s], 'keystore', 'is not an object'],
      ['{"version":3', 'keystore', 'is not JSON'],
      [edit(s, 'version', 2), 'version', 'is not 3'],
      [edit(s, 'version', '3'), 'version', 'is not 3'],
      [edit(s, 'id', 'not-a-uuid'), 'id', 'is not a UUID'],
      [edit(s, 'crypto', undefined), 'crypto', 'is not an object'],
      [edit(s, 'Crypto', s.crypto), 'crypto', 'appears twice (crypto and Crypto)'],
      [edit(s, 'crypto.cipher', 'aes-128-cbc'), 'crypto.cipher', 'is not "aes-128-ctr"'],
      [edit(s, 'crypto.kdf', 'argon2id'), 'crypto.kdf', 'is neither "scrypt" nor "pbkdf2"'],
      [edit(s, 'crypto.kdfparams.n', 1000), 'crypto.kdfparams.n', 'is not a power of two of at least 2'],
      [edit(s, 'crypto.kdfparams.n', 1), 'crypto.kdfparams.n', 'is not a power of two of at least 2'],
      [edit(s, 'crypto.kdfparams.n', '16'), 'crypto.kdfparams.n', 'is not an integer'],
      [
        edit(s, 'crypto.kdfparams.n', 2 ** 30),
        'crypto.kdfparams.n',
        'needs 1099511627776 bytes of scrypt memory (128·n·r), more than 1 GiB',
      ],
      [
        edit(s, 'crypto.kdfparams', (k) => ({ ...k, n: 2 ** 21, r: 4, p: 16 })),
        'crypto.kdfparams.n',
        'asks for 134217728 units of scrypt work (n·r·p), more than 16777216',
      ],
      [edit(s, 'crypto.kdfparams.r', 0), 'crypto.kdfparams.r', 'is not a positive integer'],
      [edit(s, 'crypto.kdfparams.p', 17), 'crypto.kdfparams.p', 'is not an integer from 1 to 16'],
      [edit(s, 'crypto.kdfparams.dklen', 64), 'crypto.kdfparams.dklen', 'is not 32'],
      [edit(s, 'crypto.kdfparams.salt', 'abcd'), 'crypto.kdfparams.salt', 'is 2 bytes, not 16 to 64'],
      [edit(p, 'crypto.kdfparams.prf', 'hmac-sha512'), 'crypto.kdfparams.prf', 'is not "hmac-sha256"'],
      [edit(p, 'crypto.kdfparams.c', 2 ** 25), 'crypto.kdfparams.c', 'is not an integer from 1 to 16777216'],
      [edit(p, 'crypto.kdfparams.c', 0), 'crypto.kdfparams.c', 'is not an integer from 1 to 16777216'],
      [edit(s, 'crypto.cipherparams.iv', (iv) => iv.slice(2)), 'crypto.cipherparams.iv', 'is 15 bytes, not 16'],
      [edit(s, 'crypto.cipherparams', 'iv'), 'crypto.cipherparams', 'is not an object'],
      [edit(s, 'crypto.ciphertext', (c) => `zz${c.slice(2)}`), 'crypto.ciphertext', 'is not hex'],
      [edit(s, 'crypto.ciphertext', (c) => `${c}0`), 'crypto.ciphertext', 'is not hex'],
      [edit(s, 'crypto.mac', (m) => m.slice(2)), 'crypto.mac', 'is 31 bytes, not 32'],
      [edit(s, 'address', 'abcd'), 'address', 'is 2 bytes, not 20'],
    ]
    for (const [input, field, reason] of cases) {
      const error = await rejection(decryptKeystore(input, password))
      expect(error, field).toBeInstanceOf(KeystoreFormatError)
      expect((error as KeystoreFormatError).field).toBe(field)
      expect(error.message).toBe(`Invalid keystore: ${field} ${reason}.`)
    }
  })

  test('behavior: a ciphertext that decrypts to zero (not a secp256k1 key) is KeystoreFormatError', async () => {
    // Build a correctly MACed file whose plaintext is 32 zero bytes, with the noble primitives.
    const salt = new Uint8Array(32).fill(7)
    const iv = new Uint8Array(16).fill(9)
    const dk = scrypt(password, salt, { N: 16, r: 8, p: 1, dkLen: 32 })
    const ciphertext = ctr(dk.subarray(0, 16), iv).encrypt(new Uint8Array(32))
    const mac = keccak_256(new Uint8Array([...dk.subarray(16, 32), ...ciphertext]))
    const file = mutate(scryptFile, (j) => {
      delete j.address
      j.crypto.kdfparams.salt = Buffer.from(salt).toString('hex')
      j.crypto.cipherparams.iv = Buffer.from(iv).toString('hex')
      j.crypto.ciphertext = Buffer.from(ciphertext).toString('hex')
      j.crypto.mac = Buffer.from(mac).toString('hex')
    })
    const error = await rejection(decryptKeystore(file, password))
    expect(error).toBeInstanceOf(KeystoreFormatError)
    expect(error.message).toBe('Invalid keystore: crypto.ciphertext does not decrypt to a valid secp256k1 private key.')
  })

  test('behavior: no error carries the key or the password', async () => {
    const errors = [
      await rejection(decryptKeystore(scryptFile, wrongPassword)),
      await rejection(decryptKeystore(edit(scryptFile, 'address', '00'.repeat(20)), password)),
      await rejection(
        decryptKeystore(
          edit(scryptFile, 'crypto.cipherparams.iv', (iv) => flip(iv, 0)),
          password,
        ),
      ),
      await rejection(decryptKeystore(edit(scryptFile, 'version', 1), password)),
      await rejection(encryptKeystore(specKey(), password, { scrypt: { n: 3, r: 8, p: 1 } })),
    ]
    for (const error of errors) {
      for (const text of [JSON.stringify(error), error.message, String(error), inspect(error), String(error.stack)]) {
        expect(text.toLowerCase()).not.toContain(specSecret)
        expect(text).not.toContain(password)
        expect(text).not.toContain(wrongPassword)
      }
    }
  })
})

describe('encryptKeystore', () => {
  test('default: scrypt n = 2^17, r = 8, p = 1, dklen 32; a v4 UUID; the lowercase address; opens again', async () => {
    const json = await encryptKeystore(specKey(), password)
    expect(json.version).toBe(3)
    expect(json.address).toBe(specAddress)
    expect(json.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(json.crypto.cipher).toBe('aes-128-ctr')
    expect(json.crypto.kdf).toBe('scrypt')
    expect(json.crypto.kdfparams).toEqual({ dklen: 32, n: 131072, r: 8, p: 1, salt: expect.stringMatching(/^[0-9a-f]{64}$/) })
    expect(json.crypto.cipherparams.iv).toMatch(/^[0-9a-f]{32}$/)
    expect(json.crypto.ciphertext).toMatch(/^[0-9a-f]{64}$/)
    expect(json.crypto.mac).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(json)).not.toContain(specSecret)
    expect((await decryptKeystore(json, password)).toHex()).toBe(`0x${specSecret}`)
  })

  test('behavior: reproduces the spec PBKDF2 vector from its salt, iv and id', async () => {
    const json = await encryptKeystore(specKey(), specPassword, {
      kdf: 'pbkdf2',
      pbkdf2: { c: 262144 },
      salt: Buffer.from(specPbkdf2.crypto.kdfparams.salt, 'hex'),
      iv: Buffer.from(specPbkdf2.crypto.cipherparams.iv, 'hex'),
      uuid: specPbkdf2.id,
    })
    expect(json).toEqual({ ...specPbkdf2, address: specAddress })
  })

  test('behavior: round trip with scrypt and with pbkdf2 for any key and password (fast-check)', async () => {
    const validKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((b) => secp256k1.utils.isValidPrivateKey(b))
    await fc.assert(
      fc.asyncProperty(validKey, fc.string({ unit: 'grapheme', maxLength: 40 }), fc.boolean(), async (bytes, pw, useScrypt) => {
        const json = await encryptKeystore(new PrivateKey(bytes), pw, useScrypt ? fastScrypt : fastPbkdf2)
        expect(json.address).toBe(
          privateKeyToAccount(`0x${Buffer.from(bytes).toString('hex')}`)
            .address.slice(2)
            .toLowerCase(),
        )
        const key = await decryptKeystore(JSON.parse(JSON.stringify(json)), pw)
        expect(key.use((b) => Buffer.from(b).equals(bytes))).toBe(true)
      }),
      { numRuns: 40 },
    )
  })

  test('behavior: differential: the noble primitives (scrypt, PBKDF2, AES-CTR, keccak) decrypt what it writes', async () => {
    for (const json of [
      await encryptKeystore(specKey(), password, { scrypt: { n: 1024, r: 8, p: 1 } }),
      await encryptKeystore(specKey(), password, { scrypt: { n: 1024, r: 2, p: 3 } }),
      await encryptKeystore(specKey(), password, { kdf: 'pbkdf2', pbkdf2: { c: 1000 } }),
    ]) {
      const c = json.crypto
      const salt = Buffer.from(c.kdfparams.salt, 'hex')
      const dk =
        c.kdf === 'scrypt'
          ? scrypt(password, salt, { N: c.kdfparams.n, r: c.kdfparams.r, p: c.kdfparams.p, dkLen: 32 })
          : pbkdf2(sha256, password, salt, { c: c.kdfparams.c, dkLen: 32 })
      const ciphertext = Buffer.from(c.ciphertext, 'hex')
      expect(Buffer.from(keccak_256(new Uint8Array([...dk.subarray(16, 32), ...ciphertext]))).toString('hex')).toBe(c.mac)
      const plain = ctr(dk.subarray(0, 16), Buffer.from(c.cipherparams.iv, 'hex')).decrypt(ciphertext)
      expect(Buffer.from(plain).toString('hex')).toBe(specSecret)
    }
  })

  test('behavior: options out of bounds are KeystoreFormatError naming the option', async () => {
    const cases: [Parameters<typeof encryptKeystore>[2], string][] = [
      [{ scrypt: { n: 1000, r: 8, p: 1 } }, 'options.scrypt.n'],
      [{ scrypt: { n: 2 ** 21, r: 8, p: 1 } }, 'options.scrypt.n'],
      [{ scrypt: { n: 16, r: 8, p: 0 } }, 'options.scrypt.p'],
      [{ kdf: 'pbkdf2', pbkdf2: { c: 0 } }, 'options.pbkdf2.c'],
      [{ salt: new Uint8Array(8) }, 'options.salt'],
      [{ iv: new Uint8Array(12) }, 'options.iv'],
      [{ uuid: 'nope' }, 'options.uuid'],
      [{ kdf: 'argon2' as 'scrypt' }, 'options.kdf'],
    ]
    for (const [options, field] of cases) {
      const error = await rejection(encryptKeystore(specKey(), password, options))
      expect(error, field).toBeInstanceOf(KeystoreFormatError)
      expect((error as KeystoreFormatError).field).toBe(field)
    }
    const zero = await rejection(encryptKeystore(new PrivateKey(new Uint8Array(32)), password, fastScrypt))
    expect(zero.message).toBe('Invalid keystore: key is not a valid secp256k1 private key.')
  })

  test('behavior: the key passed in stays usable', async () => {
    const key = specKey()
    await encryptKeystore(key, password, fastScrypt)
    expect(key.toHex()).toBe(`0x${specSecret}`)
  })
})

describe('writeKeystore', () => {
  test('default: mode 0600, no key hex in the file, readKeystore opens it, no temp file left', async () => {
    const path = join(dir, 'default.json')
    const json = await writeKeystore(path, specKey(), password, fastScrypt)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const text = await readFile(path, 'utf8')
    expect(text.toLowerCase()).not.toContain(specSecret)
    expect(JSON.parse(text)).toEqual(json)
    expect((await readKeystore(path, password)).toHex()).toBe(`0x${specSecret}`)
    expect((await readdir(dir)).filter((name) => name.startsWith('.default.json'))).toEqual([])
  })

  test('behavior: an existing file is never replaced unless overwrite is set', async () => {
    const path = join(dir, 'existing.json')
    const first = await writeKeystore(path, specKey(), password, fastScrypt)
    await expect(writeKeystore(path, specKey(), wrongPassword, fastScrypt)).rejects.toMatchObject({ code: 'EEXIST' })
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(first)
    await writeKeystore(path, specKey(), wrongPassword, { ...fastScrypt, overwrite: true })
    expect((await readKeystore(path, wrongPassword)).toHex()).toBe(`0x${specSecret}`)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([])
  })
})

describe('readKeystore', () => {
  test('behavior: a file over 64 KiB or not JSON is KeystoreFormatError(file)', async () => {
    const big = join(dir, 'big.json')
    await writeFile(big, JSON.stringify({ ...scryptFile, padding: 'x'.repeat(64 * 1024) }))
    const tooLarge = await rejection(readKeystore(big, password))
    expect(tooLarge).toBeInstanceOf(KeystoreFormatError)
    expect(tooLarge.message).toBe('Invalid keystore: file is larger than 65536 bytes.')
    const garbage = join(dir, 'garbage.json')
    await writeFile(garbage, 'not json')
    const notJson = await rejection(readKeystore(garbage, password))
    expect((notJson as KeystoreFormatError).field).toBe('file')
  })
})
