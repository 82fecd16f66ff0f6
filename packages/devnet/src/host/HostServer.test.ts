// The host API on loopback against slow or stalled clients (issue 13 §4): a request whose headers or body do not arrive
// within the server's timeouts is closed; the server keeps serving.
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createLocalKeyProvider } from '../cvm/KeyProvider.js'
import * as DevnetPki from '../tdx/DevnetPki.js'
import { createHost, type Host } from './Host.js'
import { type HostServer, startHostServer } from './HostServer.js'

let dir: string
let host: Host
let server: HostServer

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'regent-host-server-'))
  const pki = DevnetPki.create()
  host = createHost({ dir, rpcUrl: 'http://127.0.0.1:9', keyProvider: createLocalKeyProvider({ pki }), pki, hostUrl: () => server.url })
  server = await startHostServer(host, { headersTimeoutMs: 500, requestTimeoutMs: 1000 })
})
afterAll(async () => {
  await server.close()
  await host.close()
  rmSync(dir, { recursive: true, force: true })
})

const stall = (text: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1', () => socket.write(text))
    let answer = ''
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1')
    })
    socket.on('close', () => resolve(answer))
    socket.on('error', reject)
  })

describe('startHostServer', () => {
  test('behavior: a request whose body or headers stall is closed within the server timeouts; it keeps serving', async () => {
    const body = await stall(
      'POST /v1/cvms HTTP/1.1\r\nhost: host\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"compose":',
    )
    expect(body).toMatch(/^HTTP\/1\.1 408 /)
    const headers = await stall('POST /v1/cvms HTTP/1.1\r\nhost: host\r\n')
    expect(headers).toMatch(/^(HTTP\/1\.1 408 |$)/)
    expect(host.list()).toEqual([])
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
  })
})
