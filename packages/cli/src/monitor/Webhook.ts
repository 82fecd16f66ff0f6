/**
 * Alert delivery to webhooks (issue 18 "Alerts"; docs/cli/monitor.md "Webhooks"): a JSON body POSTed with an
 * HMAC-SHA256 signature over the timestamp and the exact body bytes, retried with exponential backoff, in order.
 *
 *   Regent-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *   Regent-Delivery:  <monitor id>:<alert id>:<raised|resolved>   (the same on every retry of one transition)
 *
 * A receiver recomputes the HMAC over the raw body it received, compares in constant time, refuses a timestamp
 * further than its replay window (300 s by default) from its clock, and ignores a `Regent-Delivery` it has already
 * processed (a retry after a lost response). Each retry is signed afresh, so it stays inside the window.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const signatureHeader = 'Regent-Signature'
export const deliveryHeader = 'Regent-Delivery'
/** Default replay window of {@link verifySignature}, in seconds. */
export const defaultToleranceSeconds = 300
/** Shortest accepted secret (bytes of UTF-8). */
export const minSecretLength = 16

/** Hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`. */
export function sign({ secret, timestamp, body }: { secret: string; timestamp: number; body: string | Uint8Array }): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')
}

/** The `Regent-Signature` header value for a body sent at `timestamp` (unix seconds). */
export function signatureHeaderValue(options: { secret: string; timestamp: number; body: string | Uint8Array }): string {
  return `t=${options.timestamp},v1=${sign(options)}`
}

/**
 * What a receiver runs on each request: the header must carry `t` and a `v1` that is the HMAC of this exact body,
 * and `t` must be within `toleranceSeconds` of `now`.
 *
 * @returns `{ ok: true, timestamp }`, or `{ ok: false, reason }` naming what failed (`header`, `signature`, `stale`).
 * @example
 * const v = verifySignature({ secret, header: req.headers['regent-signature'], body: rawBody, now: new Date() })
 * if (!v.ok) return res.writeHead(400).end()
 */
export function verifySignature(options: {
  secret: string
  header: string | undefined | null
  body: string | Uint8Array
  now: Date
  toleranceSeconds?: number
}): { ok: true; timestamp: number } | { ok: false; reason: 'header' | 'signature' | 'stale' } {
  const parts = new Map<string, string[]>()
  for (const item of (options.header ?? '').split(',')) {
    const i = item.indexOf('=')
    if (i > 0) parts.set(item.slice(0, i).trim(), [...(parts.get(item.slice(0, i).trim()) ?? []), item.slice(i + 1).trim()])
  }
  const t = parts.get('t')?.[0]
  const signatures = parts.get('v1') ?? []
  if (!t || !/^\d{1,12}$/.test(t) || signatures.length === 0) return { ok: false, reason: 'header' }
  const timestamp = Number(t)
  const expected = Buffer.from(sign({ secret: options.secret, timestamp, body: options.body }), 'hex')
  const match = signatures.some((s) => /^[0-9a-f]{64}$/.test(s) && timingSafeEqual(Buffer.from(s, 'hex'), expected))
  if (!match) return { ok: false, reason: 'signature' }
  if (Math.abs(options.now.getTime() / 1000 - timestamp) > (options.toleranceSeconds ?? defaultToleranceSeconds))
    return { ok: false, reason: 'stale' }
  return { ok: true, timestamp }
}

/** The outcome of one delivery (all its attempts). */
export type DeliveryResult = { id: string; url: string; attempts: number; status: number | null; error: string | null; delivered: boolean }

export type SenderOptions = {
  url: string
  secret: string
  /** Retries after the first attempt. @default 5 */
  retries?: number
  /** First backoff; doubles each retry (±20 % jitter). @default 1000 */
  backoffMs?: number
  /** Longest backoff (also caps a Retry-After). @default 60_000 */
  maxBackoffMs?: number
  /** Per-attempt timeout. @default 10_000 */
  timeoutMs?: number
  /** Undelivered payloads kept at most; the oldest are dropped beyond it. @default 10_000 */
  maxQueue?: number
  onResult?: (result: DeliveryResult) => void
  now?: () => Date
}

/**
 * A sender that delivers payloads one after another (a transition's raise before its resolution), retrying each
 * on network errors, timeouts, 408, 425, 429 and 5xx; other 4xx answers are final.
 *
 * @example
 * const hook = createSender({ url, secret: process.env.REGENT_MONITOR_WEBHOOK_SECRET })
 * hook.send('monitor-1:7:raised', { type: 'alert', … })
 * await hook.drain()
 */
export function createSender(options: SenderOptions) {
  if (Buffer.byteLength(options.secret, 'utf8') < minSecretLength)
    throw new RangeError(`the webhook secret must be at least ${minSecretLength} bytes`)
  const retries = options.retries ?? 5
  const backoffMs = options.backoffMs ?? 1000
  const maxBackoffMs = options.maxBackoffMs ?? 60_000
  const timeoutMs = options.timeoutMs ?? 10_000
  const maxQueue = options.maxQueue ?? 10_000
  const clock = options.now ?? (() => new Date())
  const queue: { id: string; body: string }[] = []
  let running: Promise<void> | undefined
  let closed = false
  const aborter = new AbortController()

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        aborter.signal.removeEventListener('abort', done)
        resolve()
      }
      aborter.signal.addEventListener('abort', done, { once: true })
    })

  async function deliver(item: { id: string; body: string }): Promise<DeliveryResult> {
    let status: number | null = null
    let error: string | null = null
    for (let attempt = 1; ; attempt++) {
      let retryAfterMs: number | undefined
      try {
        const timestamp = Math.floor(clock().getTime() / 1000)
        const res = await fetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'regent-monitor',
            [signatureHeader]: signatureHeaderValue({ secret: options.secret, timestamp, body: item.body }),
            [deliveryHeader]: item.id,
          },
          body: item.body,
          redirect: 'error',
          signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), aborter.signal]),
        })
        await res.body?.cancel().catch(() => undefined)
        status = res.status
        error = res.ok ? null : `HTTP ${res.status}`
        if (res.ok) return { id: item.id, url: options.url, attempts: attempt, status, error, delivered: true }
        if (!(res.status === 408 || res.status === 425 || res.status === 429 || res.status >= 500))
          return { id: item.id, url: options.url, attempts: attempt, status, error, delivered: false }
        const after = res.headers.get('retry-after')
        if (after && /^\d{1,6}$/.test(after)) retryAfterMs = Number(after) * 1000
      } catch (e) {
        status = null
        error = (e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : ((e as Error).message ?? String(e))
      }
      if (attempt > retries || closed) return { id: item.id, url: options.url, attempts: attempt, status, error, delivered: false }
      const base = Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1))
      await sleep(Math.min(maxBackoffMs, retryAfterMs ?? base * (0.8 + Math.random() * 0.4)))
    }
  }

  async function pump(): Promise<void> {
    for (;;) {
      const item = queue.shift()
      if (!item) return
      // Delivered whether or not anyone listens (`onResult?.(await …)` would skip the await when no one does).
      const result = await deliver(item)
      options.onResult?.(result)
    }
  }

  return {
    /** Queues a payload under a delivery id; returns at once. */
    send(id: string, payload: unknown): void {
      if (closed) return
      queue.push({ id, body: JSON.stringify(payload) })
      while (queue.length > maxQueue) {
        const dropped = queue.shift()
        if (dropped)
          options.onResult?.({
            id: dropped.id,
            url: options.url,
            attempts: 0,
            status: null,
            error: 'dropped: queue full',
            delivered: false,
          })
      }
      running ??= pump().finally(() => {
        running = undefined
      })
    },
    /** Resolves when every queued payload was delivered or gave up. */
    async drain(): Promise<void> {
      while (running) await running
    },
    /** Stops waiting between retries (each delivery then ends after its current attempt). */
    close(): void {
      closed = true
      aborter.abort()
    },
    pending: () => queue.length + (running ? 1 : 0),
  }
}
