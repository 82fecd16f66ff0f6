import { describe, expect, test } from 'vitest'
import { BaseError, codedError, walk } from './errors.js'

describe('BaseError', () => {
  test('default: the message carries the short message, meta lines, hint, details and docs; fields keep them apart', () => {
    const e = new BaseError('It broke.', { code: 'thing.broke', hint: 'fix it', details: 'd', metaMessages: ['m'], docsPath: 'docs/x.md' })
    expect(e.message).toBe('It broke.\n\nm\n\nHint: fix it\n\nDetails: d\nDocs: docs/x.md')
    expect([e.shortMessage, e.code, e.hint, e.docsPath]).toEqual(['It broke.', 'thing.broke', 'fix it', 'docs/x.md'])
  })

  test('behavior: walk finds the first match in the cause chain, or the deepest error without a matcher', () => {
    const root = new Error('root')
    const middle = new BaseError('middle', { code: 'a.b', cause: root })
    const top = new BaseError('top', { cause: middle })
    expect(top.walk()).toBe(root)
    expect(top.walk((e) => e instanceof BaseError && e.code !== undefined)).toBe(middle)
    expect(walk('not an error')).toBe('not an error')
    expect(walk(root, () => false)).toBeUndefined()
  })

  test('behavior: codedError takes a dotted code from any error in the chain and ignores other codes', () => {
    const system = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })
    const coded = Object.assign(new Error('x'), { code: 'target.unreachable', cause: system })
    expect(codedError(new Error('wrap', { cause: coded }))).toBe(coded)
    expect(codedError(system)).toBeUndefined()
  })

  test('boundary: a cause cycle ends after a bounded walk', () => {
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    ;(a as { cause?: unknown }).cause = b
    expect(walk(a, () => false)).toBeUndefined()
  })
})
