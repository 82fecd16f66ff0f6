import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { BaseError } from './errors.js'
import { readJson, sendHttpError, sendJson } from './http.js'

// A real node:http server on loopback that echoes what readJson read, with a 1 KiB limit.
let server: Server
let url: string
beforeAll(async () => {
  server = createServer((req, res) => {
    readJson(req, { limit: 1024, optional: req.url === '/optional' }).then(
      (body) => sendJson(res, 200, { body: body ?? null, big: 2n ** 70n }),
      (error) => {
        if (!sendHttpError(res, error)) sendJson(res, 500, { error: { code: 'internal', message: (error as BaseError).message } })
      },
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const post = async (body: string | Uint8Array, type = 'application/json', path = '/') => {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': type }, body })
  return {
    status: res.status,
    json: (await res.json()) as { body?: unknown; big?: string; error?: { code: string } },
    connection: res.headers.get('connection'),
  }
}

describe('readJson / sendJson', () => {
  test('default: a JSON body is read; bigints answer as decimal strings', async () => {
    expect(await post('{"a":1}')).toMatchObject({ status: 200, json: { body: { a: 1 }, big: (2n ** 70n).toString() } })
  })

  test('error: malformed JSON is 400 request.malformed_json', async () => {
    expect(await post('{"a":')).toMatchObject({ status: 400, json: { error: { code: 'request.malformed_json' } } })
  })

  test('error: another content type is 415 request.media_type', async () => {
    expect(await post('{}', 'text/plain')).toMatchObject({ status: 415, json: { error: { code: 'request.media_type' } } })
  })

  test('error: a body over the limit is 413 request.too_large and the answer closes the connection', async () => {
    const r = await post(`"${'x'.repeat(2000)}"`)
    expect(r).toMatchObject({ status: 413, json: { error: { code: 'request.too_large' } }, connection: 'close' })
  })

  test('error: a streamed body without content-length is cut at the limit too', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(512).fill(0x20))
        c.close()
      },
    })
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(413)
  })

  test('boundary: an optional body may be empty, whatever its type; a non-empty one must still be JSON', async () => {
    expect(await post('', 'text/plain', '/optional')).toMatchObject({ status: 200, json: { body: null } })
    expect(await post('x', 'text/plain', '/optional')).toMatchObject({ status: 415 })
  })
})
