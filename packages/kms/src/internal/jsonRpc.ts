/**
 * A minimal EIP-1193 provider for the node's chain: JSON-RPC 2.0 over HTTP/1.1 (node:http / node:https) on a
 * keep-alive agent, used through viem's `custom` transport. The node asks `eth_blockNumber` for every key request
 * (docs/kms.md "Checks", step 5); over viem's `http` transport each call went through undici's fetch (Request,
 * Headers, Response objects and streams), which cost about as much node CPU as the quote verification. Here a call
 * is one request on a reused socket and one JSON.parse of the answer.
 *
 * Errors keep the JSON-RPC `code`, `message` and `data` so viem maps them (reverts, unknown methods) as it would for
 * its own transport.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'

/** An EIP-1193 `request` over one JSON-RPC URL. */
export type Provider = {
  request(args: { method: string; params?: unknown }): Promise<unknown>
  /** Closes the kept-alive sockets. */
  close(): void
}

/**
 * A JSON-RPC provider for an http(s) URL, with at most `maxSockets` concurrent connections kept alive.
 *
 * @example
 * const client = createPublicClient({ transport: custom(JsonRpc.fromUrl({ url: rpcUrl })) })
 */
export function fromUrl(options: { url: string; timeoutMs?: number; maxSockets?: number }): Provider {
  const url = new URL(options.url)
  const secure = url.protocol === 'https:'
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 8 }
  const agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions)
  const send = secure ? httpsRequest : httpRequest
  const timeoutMs = options.timeoutMs ?? 10_000
  let id = 0
  return {
    request({ method, params }) {
      const body = JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: params ?? [] })
      return new Promise((resolve, reject) => {
        const req = send(
          url,
          {
            method: 'POST',
            agent,
            timeout: timeoutMs,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res: IncomingMessage) => {
            const chunks: Buffer[] = []
            res.on('data', (chunk: Buffer) => chunks.push(chunk))
            res.on('error', reject)
            res.on('end', () => {
              let answer: { result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } }
              try {
                answer = JSON.parse(Buffer.concat(chunks).toString('utf8'))
              } catch {
                reject(new RpcError({ code: -32700, message: `HTTP ${res.statusCode}: the answer is not JSON` }))
                return
              }
              if (answer.error) {
                const { code, message, data } = answer.error
                reject(new RpcError({ code: typeof code === 'number' ? code : -32603, message: String(message ?? 'error'), data }))
              } else if ((res.statusCode ?? 500) >= 400 || !('result' in answer)) {
                reject(new RpcError({ code: -32603, message: `HTTP ${res.statusCode}: no result` }))
              } else resolve(answer.result)
            })
          },
        )
        req.on('timeout', () => req.destroy(new RpcError({ code: -32603, message: `no answer within ${timeoutMs} ms` })))
        req.on('error', reject)
        req.end(body)
      })
    },
    close() {
      agent.destroy()
    },
  }
}

/** A JSON-RPC error answer (or a transport failure), with the fields viem reads. */
export class RpcError extends Error {
  override name = 'JsonRpc.RpcError'
  readonly code: number
  readonly data: unknown
  constructor({ code, message, data }: { code: number; message: string; data?: unknown }) {
    super(message)
    this.code = code
    this.data = data
  }
}
