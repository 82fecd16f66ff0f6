// Errors reach the user (issue 14): a coded error of any Regent package keeps its code, message and docs; anything
// else is `internal`.
import { UpliftRefusedError } from '@regent-tee/sdk/uplift'
import { describe, expect, test } from 'vitest'
import { CliError, toCliError, UsageError } from './errors.js'

describe('toCliError', () => {
  test('default: a CLI error is itself (its exit code kept)', () => {
    const usage = new UsageError('usage', 'bad flag')
    expect(toCliError(usage)).toBe(usage)
    expect(toCliError(usage).exitCode).toBe(2)
  })

  test('behavior: an SDK refusal keeps its code, one-line message and docs path; found in a cause chain too', () => {
    const refusal = new UpliftRefusedError({
      step: 'hello',
      reasons: [{ code: 'target.measurement', message: 'compose hash not approved' }],
    })
    const e = toCliError(refusal)
    expect([e.code, e.shortMessage, e.docsPath, e.exitCode]).toEqual([
      'target.measurement',
      'Uplift hello refused: target.measurement.',
      'docs/uplift.md#refusal-codes',
      1,
    ])
    expect(toCliError(new Error('wrapped', { cause: refusal })).code).toBe('target.measurement')
  })

  test('behavior: a plain error, a node error code (ECONNREFUSED) or a thrown string is internal with the hint to report it', () => {
    const plain = toCliError(new Error('boom\nstack'))
    expect([plain.code, plain.shortMessage, plain.hint]).toEqual([
      'internal',
      'boom',
      'this is a bug in regent if the input was valid: please report it',
    ])
    expect(toCliError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).code).toBe('internal')
    expect(toCliError('just a string').shortMessage).toBe('just a string')
    expect(toCliError(new CliError('x.y', 'z')).code).toBe('x.y')
  })
})
