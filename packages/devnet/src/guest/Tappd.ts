/**
 * The legacy Tappd service's key routes (dstack ≤ 0.3 API, still served by 0.5.x guest agents on `tappd.sock`
 * under `/prpc/Tappd.<Method>`; reference/dstack.md §1.1, §1.3; dstack `guest-agent/rpc/proto/agent_rpc.proto`
 * `DeriveKeyArgs`, `guest-agent/src/rpc_service.rs` `InternalRpcHandlerV0::derive_key`, `sdk/curl/api-tappd.md`).
 *
 * `POST /prpc/Tappd.DeriveKey` `{path, subject, alt_names, usage_ra_tls, usage_server_auth, usage_client_auth,
 * random_seed}` → `{key, certificate_chain}`:
 * - the key is P-256, `derive_p256_key_pair_from_bytes(k256_app_key, [path])` — HKDF-SHA256 (salt "RATLS") of the
 *   app's k256 key with the path as context, so its 32 bytes equal GetKey's for the same path; with
 *   `random_seed` it is derived from 32 random bytes instead;
 * - `key` is the PKCS#8 PEM; `certificate_chain` is `[leaf, app CA, root CA]`, issued as GetTlsKey's (the key
 *   provider's app CA signs the leaf), with dstack's RA-TLS attestation extension when `usage_ra_tls` is set;
 * - unset booleans are false (proto defaults), so a bare `{path, subject}` (what `TappdClient.deriveKey` sends)
 *   asks for a certificate with no extended key usage.
 *
 * The other Tappd routes (Info, Version, TdxQuote, RawQuote, DeriveK256Key) live in GuestAgent.ts beside their
 * DstackGuest twins. Every field is validated before the CVM is touched; a bad one is a {@link InvalidFieldError}
 * (answered 400 by the guest agent).
 */
import { BaseError } from '@regent-tee/attest'
import type * as Cvm from '../cvm/Cvm.js'

/** A request's JSON fields (or GET query parameters). */
export type Fields = Record<string, unknown>

/** A route handler: the CVM and the request fields → the JSON response. */
export type Route = (cvm: Cvm.Cvm, fields: Fields) => unknown | Promise<unknown>

/**
 * `Tappd.DeriveKey`: a P-256 key derived from the app key and `path`, certified by the app CA.
 *
 * @throws {InvalidFieldError} for a field of the wrong type.
 * @example
 * const { key, certificate_chain } = await deriveKey(cvm, { path: 'tls/server', subject: 'agent.example' })
 */
export async function deriveKey(cvm: Cvm.Cvm, fields: Fields): Promise<{ key: string; certificate_chain: string[] }> {
  const path = string(fields, 'path')
  const options: Cvm.TlsKeyOptions = {
    subject: string(fields, 'subject'),
    altNames: strings(fields, 'alt_names'),
    usageRaTls: boolean(fields, 'usage_ra_tls'),
    usageServerAuth: boolean(fields, 'usage_server_auth'),
    usageClientAuth: boolean(fields, 'usage_client_auth'),
  }
  const random = boolean(fields, 'random_seed')
  const r = await cvm.tlsKey(random ? options : { ...options, derivePath: path })
  return { key: r.key, certificate_chain: r.certificateChain }
}

/** The routes this module serves, keyed by request path. */
export const routes: Readonly<Record<string, Route>> = {
  '/prpc/Tappd.DeriveKey': deriveKey,
}

function string(fields: Fields, name: string): string {
  const value = fields[name]
  if (value === undefined || value === null) return ''
  if (typeof value !== 'string') throw new InvalidFieldError({ name, expected: 'a string' })
  return value
}

function strings(fields: Fields, name: string): string[] {
  const value = fields[name]
  if (value === undefined || value === null) return []
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new InvalidFieldError({ name, expected: 'an array of strings' })
  return value as string[]
}

function boolean(fields: Fields, name: string): boolean {
  const value = fields[name]
  if (value === undefined || value === null || value === false || value === 'false') return false
  if (value === true || value === 'true') return true
  throw new InvalidFieldError({ name, expected: 'a boolean' })
}

/** A Tappd request field has the wrong type. */
export class InvalidFieldError extends BaseError {
  override name = 'Tappd.InvalidFieldError'
  constructor({ name, expected }: { name: string; expected: string }) {
    super(`Field "${name}" must be ${expected}`)
  }
}
