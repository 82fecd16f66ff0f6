// The source's POST to a target (issue 14 "timeouts on every outbound call"): a target that never answers, answers
// without end, answers garbage or refuses, gives a typed UpliftRefusedError naming the step — never a hang or a
// raw exception.
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { UpliftRefusedError } from '../errors.js'
import { maxAnswer, post } from './http.js'

let server: Server
let url: string
const held: ServerResponse[] = []
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume()
    const path = req.url ?? '/'
    if (path === '/ok') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"fine":true}')
    if (path === '/refuse')
      return void res.writeHead(409, { 'content-type': 'application/json' }).end('{"error":{"code":"session.busy","message":"busy"}}')
    if (path === '/garbage') return void res.writeHead(200).end('<html>')
    if (path === '/bare-500') return void res.writeHead(500).end('oops')
    if (path === '/silent') return void held.push(res) // headers never come
    if (path === '/endless') {
      res.writeHead(200, { 'content-type': 'application/json' })
      const chunk = Buffer.alloc(256 * 1024, 0x20)
      const pump = () => {
        while (res.write(chunk)) if (res.writableLength > 8 * maxAnswer) return
        res.once('drain', pump)
      }
      res.on('close', () => res.removeAllListeners('drain'))
      return pump()
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  for (const r of held) r.destroy()
  server.closeAllConnections()
  server.close()
})

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'answered',
    (e: unknown) => (e instanceof UpliftRefusedError ? `${e.code} (${e.shortMessage.split(' refused')[0]})` : `untyped ${String(e)}`),
  )

describe('post', () => {
  test('default: a JSON answer is returned', async () => {
    expect(await post(`${url}/ok`, '{}', 'hello')).toEqual({ fine: true })
  })

  test("behavior: the target's refusal keeps its code; a bare 5xx is http.<status>", async () => {
    expect(await refusal(post(`${url}/refuse`, '{}', 'hello'))).toBe('session.busy (Uplift hello)')
    expect(await refusal(post(`${url}/bare-500`, '{}', 'key'))).toBe('http.500 (Uplift key)')
  })

  test('bad input: garbage, an endless answer, silence, a closed port → target.bad_answer / target.unreachable', async () => {
    expect(await refusal(post(`${url}/garbage`, '{}', 'hello'))).toBe('target.bad_answer (Uplift hello)')
    expect(await refusal(post(`${url}/endless`, '{}', 'state chunk'))).toBe('target.bad_answer (Uplift state chunk)')
    expect(await refusal(post(`${url}/silent`, '{}', 'handover', 300))).toBe('target.unreachable (Uplift handover)')
    expect(await refusal(post('http://127.0.0.1:1/x', '{}', 'hello'))).toBe('target.unreachable (Uplift hello)')
  })
})
