/**
 * Intel collateral as the monitor watches it (issue 18 "Intel collateral"): for each platform (TEE, FMSPC, PCK CA)
 * it fetches the collateral from a PCCS or Intel PCS (API v4, `Collateral.fetch`) twice, with `update=standard`
 * (what verifiers use) and `update=early` (what a TCB recovery publishes first), verifies both, and rates a quote
 * under each: its TCB status and advisories, the nextUpdate of the TCB info, the QE identity and both CRLs. A
 * platform whose early rating is worse than its standard one will fall out of date at the next standard update.
 */
import { Collateral, PckCertificate, Quote, type TrustedRoot, verifyQuoteSync } from '@regent-tee/attest'

/** Which collateral a quote needs. */
export type Platform = { tee: 'tdx' | 'sgx'; fmspc: string; ca: 'processor' | 'platform' }

export const platformKey = (p: Platform) => `${p.tee}:${p.fmspc.toUpperCase()}:${p.ca}`

export function parsePlatformKey(key: string): Platform | undefined {
  const m = /^(tdx|sgx):([0-9A-F]{12}):(processor|platform)$/.exec(key)
  return m ? { tee: m[1] as Platform['tee'], fmspc: m[2] as string, ca: m[3] as Platform['ca'] } : undefined
}

/** The platform of a quote (FMSPC and CA from its PCK certificate). @throws the parse error of a malformed quote. */
export function platformOf(quote: Uint8Array): Platform {
  const parsed = Quote.parse(quote)
  const leaf = PckCertificate.from(Quote.pckCertChainPem(parsed))
  return { tee: parsed.type === 'sgx' ? 'sgx' : 'tdx', fmspc: leaf.fmspc.toUpperCase(), ca: leaf.ca ?? 'platform' }
}

/** One fetched and verified collateral (`verified` undefined when it does not verify now: `error` says why). */
export type Fetched = { collateral: Collateral.Collateral; verified: Collateral.Verified | undefined; error: string | undefined }

export type PlatformCollateral = {
  platform: Platform
  fetchedAt: Date
  standard: Fetched
  early: Fetched
}

/** nextUpdate of every part of a collateral. */
export type Parts = { tcbInfo: Date; qeIdentity: Date; pckCrl: Date; rootCaCrl: Date }

export const partsOf = (c: Collateral.Collateral): Parts => ({
  tcbInfo: c.tcbInfo.nextUpdate,
  qeIdentity: c.qeIdentity.nextUpdate,
  pckCrl: c.pckCrl.nextUpdate,
  rootCaCrl: c.rootCaCrl.nextUpdate,
})

/** A quote's rating under one collateral. */
export type Rating = { status: string | undefined; advisoryIds: string[]; tcbEvaluationDataNumber: number; reasons: string[] }

/** Rates a quote (TCB status, advisories) under a collateral, with no policy: the platform's standing alone. */
export function rate(quote: Uint8Array, fetched: Fetched, options: { now: Date; trustedRoots: readonly TrustedRoot[] }): Rating {
  const verdict = verifyQuoteSync(quote, {
    collateral: fetched.verified ?? fetched.collateral,
    now: options.now,
    trustedRoots: options.trustedRoots,
    policy: {},
  })
  return {
    status: verdict.status,
    advisoryIds: [...verdict.advisoryIds],
    tcbEvaluationDataNumber: fetched.collateral.tcbInfo.tcbEvaluationDataNumber,
    reasons: verdict.reasons.map((r) => r.code),
  }
}

export type CollateralWatch = {
  /**
   * The platform's collateral, fetched again when older than `refreshMs` or past its nextUpdate. Concurrent callers
   * share one fetch; a failed fetch is not kept.
   *
   * @throws {Collateral.FetchError} when the service does not answer.
   */
  get(platform: Platform, now: Date): Promise<PlatformCollateral>
}

export function createCollateralWatch(options: {
  pccsUrl: string
  trustedRoots: readonly TrustedRoot[]
  /** How long fetched collateral is reused (0: every check). */
  refreshMs: number
  timeoutMs?: number
}): CollateralWatch {
  const entries = new Map<string, Promise<PlatformCollateral>>()
  const fetchOne = async (platform: Platform, update: 'early' | 'standard', now: Date): Promise<Fetched> => {
    const collateral = await Collateral.fetch({ pccsUrl: options.pccsUrl, ...platform, update, timeoutMs: options.timeoutMs ?? 15_000 })
    try {
      return { collateral, verified: Collateral.verify(collateral, { now, trustedRoots: options.trustedRoots }), error: undefined }
    } catch (error) {
      const e = error as Collateral.VerificationError
      const detail = e.reasons
        ?.map((r) => `${r.part}: ${(r.error as { shortMessage?: string }).shortMessage ?? r.error.message}`)
        .join('; ')
      return { collateral, verified: undefined, error: detail || e.message }
    }
  }
  return {
    async get(platform, now) {
      const key = platformKey(platform)
      const pending = entries.get(key)
      if (pending) {
        const entry = await pending.catch(() => undefined)
        const fresh =
          entry &&
          now.getTime() - entry.fetchedAt.getTime() <= options.refreshMs &&
          (entry.standard.verified === undefined || now.getTime() <= entry.standard.verified.nextUpdate.getTime())
        if (fresh) return entry
        if (entries.get(key) === pending) entries.delete(key)
      }
      const promise = Promise.all([fetchOne(platform, 'standard', now), fetchOne(platform, 'early', now)]).then(([standard, early]) => ({
        platform,
        fetchedAt: now,
        standard,
        early,
      }))
      entries.set(key, promise)
      promise.catch(() => {
        if (entries.get(key) === promise) entries.delete(key)
      })
      return promise
    },
  }
}
