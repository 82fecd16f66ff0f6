/**
 * Signed admin requests (DESIGN.md §14 "Authority is a key, never a shared secret"; docs/protocol.md "Admin
 * requests"). The operator acts on an agent with an EIP-712 signature over exactly one request — the agent, the
 * method, the path, the body's SHA-256, a random nonce and an expiry — sent in three headers. The agent accepts it only
 * from the operator address fixed where its host cannot change it (the measured compose of a CVM; the agent's own
 * configuration in the wild), before the expiry, at most {@link maxTtlSeconds} ahead, and once (nonces are kept until
 * they expire). Nothing secret ever travels: a stolen request does one thing, once, for a minute.
 *
 *   domain   { name: "Regent Admin", version: "1", chainId, verifyingContract: RegentSuccession }
 *   type     AdminRequest(uint256 agentId,string method,string path,bytes32 bodyHash,bytes32 nonce,uint64 expiry)
 *   headers  x-regent-admin-signature (65 bytes hex), x-regent-admin-nonce (32 bytes hex), x-regent-admin-expiry (unix s)
 */
import { createHash, randomBytes } from 'node:crypto'
import { type Address, type Hex, type LocalAccount, recoverTypedDataAddress } from 'viem'

/** EIP-712 types of an admin request. Permanent (version 1). */
export const types = {
  AdminRequest: [
    { name: 'agentId', type: 'uint256' },
    { name: 'method', type: 'string' },
    { name: 'path', type: 'string' },
    { name: 'bodyHash', type: 'bytes32' },
    { name: 'nonce', type: 'bytes32' },
    { name: 'expiry', type: 'uint64' },
  ],
} as const

/** The EIP-712 domain: one agent deployment (chain and RegentSuccession). */
export function domain({ chainId, succession }: { chainId: number; succession: Address }) {
  return { name: 'Regent Admin', version: '1', chainId, verifyingContract: succession } as const
}

/** The header names. */
export const headers = {
  signature: 'x-regent-admin-signature',
  nonce: 'x-regent-admin-nonce',
  expiry: 'x-regent-admin-expiry',
} as const

/** The furthest ahead an expiry may be (seconds): a signed request is short-lived. */
export const maxTtlSeconds = 300

/** Where a request is addressed. */
export type Scope = { chainId: number; succession: Address; agentId: bigint }

/** A request as the agent sees it. */
export type Request = { method: string; path: string; body: Uint8Array }

const sha256 = (b: Uint8Array): Hex => `0x${createHash('sha256').update(b).digest('hex')}`

/**
 * Signs one request: returns the three headers to send with it.
 *
 * @param options.ttlSeconds - how long it stays valid (default 60, at most {@link maxTtlSeconds}).
 * @example
 * const h = await AdminRequest.sign(operator, { chainId, succession, agentId, method: 'POST', path: '/admin/withdraw', body })
 * await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...h }, body })
 */
export async function sign(
  account: LocalAccount,
  options: Scope & Request & { ttlSeconds?: number; now?: Date },
): Promise<Record<(typeof headers)[keyof typeof headers], string>> {
  const ttl = Math.min(options.ttlSeconds ?? 60, maxTtlSeconds)
  const expiry = BigInt(Math.floor((options.now ?? new Date()).getTime() / 1000) + ttl)
  const nonce = `0x${randomBytes(32).toString('hex')}` as Hex
  const signature = await account.signTypedData({
    domain: domain(options),
    types,
    primaryType: 'AdminRequest',
    message: {
      agentId: options.agentId,
      method: options.method.toUpperCase(),
      path: options.path,
      bodyHash: sha256(options.body),
      nonce,
      expiry,
    },
  })
  return { [headers.signature]: signature, [headers.nonce]: nonce, [headers.expiry]: expiry.toString() } as Record<
    (typeof headers)[keyof typeof headers],
    string
  >
}

/** Remembers the nonces of accepted requests until they expire (replays are refused). */
export type NonceStore = {
  /** Records the nonce; false when it was already recorded (a replay). */
  claim(nonce: Hex, expiry: number): boolean
}

/** An in-memory nonce store (bounded by expiry: entries older than their expiry are dropped). */
export function createNonceStore(options: { now?: () => number } = {}): NonceStore {
  const seen = new Map<string, number>()
  const now = options.now ?? (() => Math.floor(Date.now() / 1000))
  return {
    claim(nonce, expiry) {
      const t = now()
      for (const [n, e] of seen) if (e < t) seen.delete(n)
      if (seen.has(nonce)) return false
      seen.set(nonce, expiry)
      return true
    },
  }
}

/** Why a request is refused (codes of docs/uplift.md "Admin API"). */
export type Refusal = { ok: false; status: 401 | 403; code: string; message: string }

/**
 * Checks a request's signature headers: the signer must be `operator`, the expiry in (now, now + max TTL], the nonce
 * unused. Claims the nonce only when everything else holds.
 *
 * Codes: `admin.unsigned` (headers missing or malformed), `admin.expired`, `admin.expiry` (too far ahead),
 * `admin.signature` (does not recover), `admin.not_operator`, `admin.replayed`.
 */
export async function verify(
  request: Request & { headers: Record<string, string | string[] | undefined> },
  options: Scope & { operator: Address; nonces: NonceStore; now?: Date },
): Promise<{ ok: true; signer: Address } | Refusal> {
  const refuse = (status: 401 | 403, code: string, message: string): Refusal => ({ ok: false, status, code, message })
  const header = (name: string) => {
    const v = request.headers[name]
    return typeof v === 'string' ? v : undefined
  }
  const signature = header(headers.signature)
  const nonce = header(headers.nonce)
  const expiryText = header(headers.expiry)
  if (!signature || !nonce || !expiryText)
    return refuse(401, 'admin.unsigned', `Sign the request: ${Object.values(headers).join(', ')} (docs/uplift.md "Admin API").`)
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature) || !/^0x[0-9a-fA-F]{64}$/.test(nonce) || !/^[1-9]\d{0,15}$/.test(expiryText))
    return refuse(401, 'admin.unsigned', 'Malformed admin signature headers.')
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000)
  const expiry = Number(expiryText)
  if (expiry <= now) return refuse(401, 'admin.expired', `The request expired at ${expiry} (now ${now}).`)
  if (expiry > now + maxTtlSeconds) return refuse(401, 'admin.expiry', `The expiry is more than ${maxTtlSeconds} s ahead.`)
  let signer: Address
  try {
    signer = await recoverTypedDataAddress({
      domain: domain(options),
      types,
      primaryType: 'AdminRequest',
      message: {
        agentId: options.agentId,
        method: request.method.toUpperCase(),
        path: request.path,
        bodyHash: sha256(request.body),
        nonce: nonce.toLowerCase() as Hex,
        expiry: BigInt(expiry),
      },
      signature: signature as Hex,
    })
  } catch {
    return refuse(401, 'admin.signature', 'The signature does not recover.')
  }
  if (signer.toLowerCase() !== options.operator.toLowerCase())
    return refuse(403, 'admin.not_operator', `Signed by ${signer}, not by this agent's operator.`)
  if (!options.nonces.claim(nonce.toLowerCase() as Hex, expiry)) return refuse(401, 'admin.replayed', 'This request was already used.')
  return { ok: true, signer }
}
