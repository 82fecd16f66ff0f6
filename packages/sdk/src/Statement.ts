/**
 * The sign-and-attest statement (DESIGN.md §7 "Sign and attest"; wire format in docs/protocol.md
 * "Sign-and-attest report_data"): what the agent's wallet signs (EIP-712, EIP-712 typed data `RegentStatement`)
 * and what the quote's 64-byte report_data commits to:
 *
 *   report_data = SHA-512( "regent/sign-and-attest/v1" ‖ 0x00 ‖ u16 len(purpose) ‖ purpose ‖ signer(20) ‖
 *                          payloadHash(32) ‖ stateRoot(32) ‖ u64 epoch ‖ u16 len(nonce) ‖ nonce )
 *
 * Integers are big-endian; purpose is UTF-8; payloadHash = SHA-256(payload).
 */
import { sha256, sha512 } from '@noble/hashes/sha2'
import { getAddress, isAddress } from 'viem'
import { BaseError } from './errors.js'
import { type BytesLike, concat, fromHex, type Hex, toBytes, toHex, u16, u64, utf8 } from './internal/bytes.js'

/** Domain tag of the report_data commitment. Permanent. */
export const reportDataLabel = 'regent/sign-and-attest/v1'

/** Limits (bytes). */
export const maxPurposeLength = 1024
export const maxNonceLength = 1024

export type Statement = {
  /** What the signature is for, e.g. `regent.identity/v1`, `handshake`. 1–1024 UTF-8 bytes. */
  readonly purpose: string
  /** The signing wallet (EIP-55). */
  readonly signer: Hex
  /** SHA-256 of the payload, `0x` hex. */
  readonly payloadHash: Hex
  /** The state root the agent has loaded (32 bytes, `0x` hex; zero before the first checkpoint). */
  readonly stateRoot: Hex
  /** The canonical epoch the agent believes it holds (RegentSuccession). */
  readonly epoch: bigint
  /** The verifier's nonce, 1–1024 bytes, `0x` hex. */
  readonly nonce: Hex
}

/** EIP-712 domain of the statement signature. Permanent. */
export const domain = { name: 'Regent Sign-and-Attest', version: '1' } as const

/** EIP-712 types of the statement signature. Permanent. */
export const types = {
  RegentStatement: [
    { name: 'purpose', type: 'string' },
    { name: 'signer', type: 'address' },
    { name: 'payloadHash', type: 'bytes32' },
    { name: 'stateRoot', type: 'bytes32' },
    { name: 'epoch', type: 'uint64' },
    { name: 'nonce', type: 'bytes' },
  ],
} as const

/** Zero state root (no checkpoint yet). */
export const emptyStateRoot: Hex = `0x${'00'.repeat(32)}`

/**
 * Builds a statement from raw inputs, validating every field.
 *
 * @throws {InvalidStatementError} naming the field.
 * @example
 * const statement = Statement.from({ purpose: 'handshake', signer, payload, stateRoot, epoch: 3n, nonce })
 */
export function from(options: {
  purpose: string
  signer: Hex
  payload: BytesLike
  stateRoot: BytesLike
  epoch: bigint | number
  nonce: BytesLike
}): Statement {
  const statement = {
    purpose: options.purpose,
    signer: options.signer,
    payloadHash: toHex(sha256(toBytes(options.payload, 'payload'))),
    stateRoot: toHex(toBytes(options.stateRoot, 'stateRoot')),
    epoch: BigInt(options.epoch),
    nonce: toHex(toBytes(options.nonce, 'nonce')),
  }
  assert(statement)
  return { ...statement, signer: getAddress(statement.signer) }
}

/**
 * Throws when a statement is malformed.
 *
 * @throws {InvalidStatementError}
 */
export function assert(statement: Statement): void {
  const purpose = utf8(statement.purpose)
  if (typeof statement.purpose !== 'string' || purpose.length === 0 || purpose.length > maxPurposeLength)
    throw new InvalidStatementError({ field: 'purpose', reason: `must be 1–${maxPurposeLength} UTF-8 bytes` })
  if (typeof statement.signer !== 'string' || !isAddress(statement.signer, { strict: false }))
    throw new InvalidStatementError({ field: 'signer', reason: 'must be a 20-byte address' })
  for (const field of ['payloadHash', 'stateRoot'] as const) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(statement[field])) throw new InvalidStatementError({ field, reason: 'must be 32 bytes of 0x hex' })
  }
  if (typeof statement.epoch !== 'bigint' || statement.epoch < 0n || statement.epoch >= 2n ** 64n)
    throw new InvalidStatementError({ field: 'epoch', reason: 'must be an unsigned 64-bit integer' })
  if (
    typeof statement.nonce !== 'string' ||
    !/^0x([0-9a-fA-F]{2})+$/.test(statement.nonce) ||
    statement.nonce.length > 2 + 2 * maxNonceLength
  )
    throw new InvalidStatementError({ field: 'nonce', reason: `must be 1–${maxNonceLength} bytes of 0x hex` })
}

/**
 * The exact bytes hashed into report_data (see the module header).
 *
 * @throws {InvalidStatementError}
 */
export function encode(statement: Statement): Uint8Array {
  assert(statement)
  const purpose = utf8(statement.purpose)
  const nonce = fromHex(statement.nonce, 'nonce')
  return concat([
    utf8(reportDataLabel),
    Uint8Array.of(0),
    u16(purpose.length),
    purpose,
    fromHex(statement.signer, 'signer'),
    fromHex(statement.payloadHash, 'payloadHash'),
    fromHex(statement.stateRoot, 'stateRoot'),
    u64(statement.epoch),
    u16(nonce.length),
    nonce,
  ])
}

/**
 * The 64-byte report_data committing to the statement.
 *
 * @example
 * const reportData = Statement.toReportData(statement)
 */
export function toReportData(statement: Statement): Uint8Array {
  return sha512(encode(statement))
}

/** The EIP-712 message for viem's `signTypedData` / `recoverTypedDataAddress`. */
export function toTypedData(statement: Statement) {
  return { domain, types, primaryType: 'RegentStatement' as const, message: { ...statement } }
}

/** JSON form (epoch as a decimal string). */
export type Json = Omit<Statement, 'epoch'> & { readonly epoch: string }

export function toJson(statement: Statement): Json {
  return { ...statement, epoch: statement.epoch.toString() }
}

/**
 * Parses the JSON form.
 *
 * @throws {InvalidStatementError}
 */
export function fromJson(json: unknown): Statement {
  if (typeof json !== 'object' || json === null) throw new InvalidStatementError({ field: 'statement', reason: 'must be an object' })
  const j = json as Record<string, unknown>
  if (typeof j.epoch !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(j.epoch))
    throw new InvalidStatementError({ field: 'epoch', reason: 'must be a decimal string' })
  const statement = {
    purpose: j.purpose,
    signer: j.signer,
    payloadHash: j.payloadHash,
    stateRoot: j.stateRoot,
    epoch: BigInt(j.epoch),
    nonce: j.nonce,
  } as Statement
  assert(statement)
  return statement
}

export class InvalidStatementError extends BaseError {
  override name = 'Statement.InvalidStatementError'
  readonly field: string
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid statement field "${field}": ${reason}.`)
    this.field = field
  }
}
