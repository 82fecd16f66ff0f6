/**
 * A JSON-RPC proxy that behaves like a public RPC provider: it forwards everything to `upstream` but refuses an
 * `eth_getLogs` whose block range exceeds `maxRange` blocks with JSON-RPC error -32602 "block range is too wide"
 * (as providers do), counting every getLogs it sees. Tests use it to prove that chain reads scan in bounded windows
 * from the deployment block (DESIGN.md §14). Loopback only; closes with the test.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export type RangeLimitedRpc = {
  readonly url: string
  /** Every eth_getLogs range seen, `[from, to]` (with `refused` set when it was over the limit). */
  readonly getLogs: { from: bigint; to: bigint; refused: boolean }[]
  close(): Promise<void>
}

export async function startRangeLimitedRpc(options: { upstream: string; maxRange: bigint }): Promise<RangeLimitedRpc> {
  const getLogs: RangeLimitedRpc['getLogs'] = []
  const latest = async (): Promise<bigint> => {
    const r = await fetch(options.upstream, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
    })
    return BigInt(((await r.json()) as { result: string }).result)
  }
  const block = async (tag: unknown): Promise<bigint> =>
    tag === undefined || tag === 'latest' || tag === 'pending' || tag === 'safe' || tag === 'finalized'
      ? latest()
      : tag === 'earliest'
        ? 0n
        : BigInt(tag as string)
  /** An error answer for a request over the limit, or undefined to forward it. */
  const check = async (call: { id?: unknown; method?: unknown; params?: unknown }) => {
    if (call.method !== 'eth_getLogs') return undefined
    const filter = ((call.params as unknown[] | undefined)?.[0] ?? {}) as { fromBlock?: unknown; toBlock?: unknown; blockHash?: unknown }
    if (filter.blockHash !== undefined) return undefined
    const [from, to] = [await block(filter.fromBlock ?? 'latest'), await block(filter.toBlock ?? 'latest')]
    const refused = to - from + 1n > options.maxRange
    getLogs.push({ from, to, refused })
    if (!refused) return undefined
    return {
      jsonrpc: '2.0',
      id: call.id ?? null,
      error: { code: -32602, message: `block range is too wide (max ${options.maxRange} blocks)` },
    }
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', async () => {
      try {
        const text = Buffer.concat(chunks).toString('utf8')
        const body = JSON.parse(text) as unknown
        const calls = Array.isArray(body) ? body : [body]
        const refusals = await Promise.all(calls.map((c) => check(c as never)))
        if (!Array.isArray(body) && refusals[0]) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(refusals[0]))
          return
        }
        const upstream = await fetch(options.upstream, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text })
        let answer = await upstream.text()
        if (Array.isArray(body) && refusals.some(Boolean)) {
          const answers = JSON.parse(answer) as { id: unknown }[]
          answer = JSON.stringify(answers.map((a, i) => refusals[i] ?? a))
        }
        res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(answer)
      } catch {
        res
          .writeHead(502, { 'content-type': 'application/json' })
          .end('{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"proxy error"}}')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    getLogs,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
