/**
 * Shared reading and signature checking for Intel's signed JSON collateral (TCB info, enclave identity):
 * typed field readers that report the JSON path, and the signer check (issuer chain to a trusted root,
 * the root profile's signer CN rule, ECDSA P-256 r‖s over the exact UTF-8 bytes of the signed text).
 *
 * Internal: never exported from the package.
 */
import { verify as cryptoVerify, type X509Certificate } from 'node:crypto'
import * as CertChain from '../CertChain.js'
import type * as Crl from '../Crl.js'
import type { TrustedRoot } from '../roots.js'
import * as X509 from './X509.js'

/** Builds the module's error for a JSON path. */
export type Fail = (path: string, reason: string) => Error

export type Reader = {
  object(value: unknown, path: string): Record<string, unknown>
  string(obj: Record<string, unknown>, key: string, path: string): string
  integer(obj: Record<string, unknown>, key: string, path: string, max?: number): number
  hex(obj: Record<string, unknown>, key: string, path: string, bytes: number): string
  date(obj: Record<string, unknown>, key: string, path: string): Date
  array(obj: Record<string, unknown>, key: string, path: string): unknown[]
  oneOf<const t extends string>(obj: Record<string, unknown>, key: string, path: string, values: readonly t[]): t
}

export function reader(fail: Fail): Reader {
  const join = (path: string, key: string) => (path ? `${path}.${key}` : key)
  const r: Reader = {
    object(value, path) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(path || '(root)', 'must be an object')
      return value as Record<string, unknown>
    },
    string(obj, key, path) {
      const v = obj[key]
      if (typeof v !== 'string') throw fail(join(path, key), v === undefined ? 'is missing' : 'must be a string')
      return v
    },
    integer(obj, key, path, max = 0xffffffff) {
      const v = obj[key]
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
        throw fail(join(path, key), v === undefined ? 'is missing' : `must be an integer in [0, ${max}]`)
      return v
    },
    hex(obj, key, path, bytes) {
      const v = r.string(obj, key, path)
      if (v.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(v)) throw fail(join(path, key), `must be ${bytes} bytes of hex, got "${v}"`)
      return v.toUpperCase()
    },
    date(obj, key, path) {
      const v = r.string(obj, key, path)
      // Intel uses ISO 8601 UTC with seconds, e.g. 2025-06-19T10:16:03Z (optionally with milliseconds).
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(v) || Number.isNaN(Date.parse(v)))
        throw fail(join(path, key), `must be an ISO 8601 UTC date, got "${v}"`)
      return new Date(v)
    },
    array(obj, key, path) {
      const v = obj[key]
      if (!Array.isArray(v)) throw fail(join(path, key), v === undefined ? 'is missing' : 'must be an array')
      return v
    },
    oneOf(obj, key, path, values) {
      const v = r.string(obj, key, path)
      if (!(values as readonly string[]).includes(v)) throw fail(join(path, key), `has unknown value "${v}"`)
      return v as (typeof values)[number]
    },
  }
  return r
}

/** Parses JSON text, reporting a syntax error through `fail`. */
export function parseJson(text: string, fail: Fail): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw fail('(root)', `is not valid JSON (${(error as Error).message})`)
  }
}

export type SignerCheck =
  | { readonly ok: true; readonly root: TrustedRoot; readonly signer: X509Certificate }
  | { readonly ok: false; readonly reason: 'signature' | 'commonName'; readonly signer: X509Certificate; readonly root: TrustedRoot }

/**
 * Verifies the issuer chain (CertChain.verify with the root CRL; its errors propagate), then the root
 * profile's signer CN rule and the r‖s signature over the exact UTF-8 text.
 */
export function checkSigner(options: {
  text: string
  signature: Uint8Array
  issuerChain: string
  trustedRoots: readonly TrustedRoot[]
  now: Date
  rootCrl: Crl.Crl
}): SignerCheck {
  const { root, certificates } = CertChain.verify({
    chain: options.issuerChain,
    trustedRoots: options.trustedRoots,
    now: options.now,
    crls: [options.rootCrl],
  })
  const signer = certificates[0] as X509Certificate
  const rule = root.tcbSigningCommonName
  if (rule !== undefined && !(X509.fields(signer).subjectCommonName ?? '').includes(rule))
    return { ok: false, reason: 'commonName', signer, root }
  let valid = false
  if (options.signature.length === 64) {
    try {
      valid = cryptoVerify(
        'sha256',
        Buffer.from(options.text, 'utf8'),
        { key: signer.publicKey, dsaEncoding: 'ieee-p1363' },
        options.signature,
      )
    } catch {
      valid = false
    }
  }
  return valid ? { ok: true, root, signer } : { ok: false, reason: 'signature', signer, root }
}

/** Decodes a hex signature (any case, optional 0x); undefined when it is not hex. */
export function signatureBytes(signature: string | Uint8Array): Uint8Array | undefined {
  if (typeof signature !== 'string') return signature
  const clean = signature.startsWith('0x') ? signature.slice(2) : signature
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return undefined
  return new Uint8Array(Buffer.from(clean, 'hex'))
}
