/**
 * A client that follows the agent (docs/failover.md "Clients follow"): it sends each request to the instance
 * RegentSuccession names canonical, and when that instance is gone or answers that it is not the agent any more
 * (a standby, a fenced or claiming instance, a moved source), it reads the chain again and goes where it says.
 * The chain decides where the agent is; an instance's own word (its `canonical` hint, or an HTTP redirect, which is
 * returned as the answer it is) is never followed.
 */
import type { Client } from 'viem'
import { readCanonical } from '../chain/readCanonical.js'
import type { RegentContracts } from '../chain/transact.js'

export type CreateCanonicalClientParameters = {
  readonly client: Client
  readonly contracts: Pick<RegentContracts, 'succession'>
  readonly agentId: bigint
  /** How long one request keeps following before it gives up, in ms. @default 30000 */
  readonly followMs?: number
  /** Wait between two reads of the chain while the agent has no serving instance, in ms. @default 250 */
  readonly pollMs?: number
  /** Longest wait for one instance's answer (a stopped instance never answers), in ms. @default 10000 */
  readonly requestTimeoutMs?: number
}

export type CanonicalClient = {
  /** The canonical instance's URL as the chain has it now (cached until a request finds it gone). */
  url(): Promise<string>
  /**
   * Sends the request to the canonical instance, following it across a failover or an uplift. Resolves with the
   * first answer that is not "not here" (any status, for the caller to read) and the URL that gave it.
   *
   * @throws the last network error when no instance answered within `followMs`.
   */
  request(path: string, init?: RequestInit): Promise<{ response: Response; url: string }>
}

/** Answers that mean "the agent is not served here now": follow the chain. */
const notHere = new Set(['failover.standby', 'failover.fenced', 'failover.claiming', 'agent.moved', 'agent.demoted'])

export function createCanonicalClient(parameters: CreateCanonicalClientParameters): CanonicalClient {
  const p = parameters
  let cached: string | undefined
  const read = async () => {
    const now = await readCanonical(p.client, { contracts: p.contracts, agentId: p.agentId })
    cached = now.instance.host.replace(/\/$/, '')
    return cached
  }
  return {
    url: async () => cached ?? read(),
    async request(path, init) {
      const deadline = Date.now() + (p.followMs ?? 30_000)
      let url = cached ?? (await read())
      let lastError: unknown
      for (;;) {
        try {
          const timeout = AbortSignal.timeout(p.requestTimeoutMs ?? 10_000)
          const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout
          // A redirect is the instance's word too: it is returned, never followed.
          const response = await fetch(`${url}${path}`, { ...init, redirect: 'manual', signal })
          if (response.status !== 409 && response.status !== 503) return { response, url }
          const code = (
            (await response
              .clone()
              .json()
              .catch(() => ({}))) as { error?: { code?: string } }
          ).error?.code
          if (code === undefined || !notHere.has(code)) return { response, url }
          lastError = new Error(`${url} answered ${response.status} ${code}`)
        } catch (error) {
          if (init?.signal?.aborted) throw error // the caller gave up: follow no further
          lastError = error
        }
        if (Date.now() > deadline) throw lastError
        const next = await read().catch(() => url)
        if (next === url) await new Promise((r) => setTimeout(r, p.pollMs ?? 250))
        url = next
      }
    },
  }
}
