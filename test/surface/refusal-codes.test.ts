// docs/uplift.md "Refusal codes" lists every code the uplift and its admin API can answer (issue 14): each dotted code
// written in the SDK's uplift and admin sources, and core's request codes, must stand in the table.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'

const root = new URL('../../', import.meta.url).pathname
const families =
  'source|target|state|key|session|challenge|handshake|rotate|succession|admin|uplift|decide|chain|message|forward|hello|request|journal|settings|registration|handover'
// Codes stand in single quotes in code (`code: 'state.decrypt'`, `refuse(409, 'session.order', …)`); comments use backticks.
const codePattern = new RegExp(`'((?:${families})\\.[a-z_]+)'`, 'g')

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  )
}

describe('docs/uplift.md refusal codes', () => {
  test('behavior: every code the uplift can return is documented', () => {
    const codes = new Set<string>(['request.media_type', 'request.too_large', 'request.malformed_json'])
    for (const file of [...sources('packages/sdk/src/uplift'), ...sources('packages/sdk/src/admin')])
      for (const m of readFileSync(join(root, file), 'utf8').matchAll(codePattern)) codes.add(m[1] as string)
    const table = readFileSync(join(root, 'docs/uplift.md'), 'utf8').split('## Refusal codes')[1] ?? ''
    const missing = [...codes].filter((c) => !table.includes(`\`${c}\``))
    expect(codes.size).toBeGreaterThan(40)
    expect(missing).toEqual([])
  })
})
