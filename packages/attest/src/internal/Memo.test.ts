import { describe, expect, test } from 'vitest'
import * as Memo from './Memo.js'

describe('keyOf', () => {
  const parts = [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5)]

  test('behavior: any flipped byte, another split of the same bytes or another scheme changes the key', () => {
    const key = Memo.keyOf('s', parts)
    expect(Memo.keyOf('s', [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5)])).toBe(key)
    for (let i = 0; i < 2; i++)
      for (let at = 0; at < (parts[i] as Uint8Array).length; at++) {
        const changed = parts.map((p) => p.slice())
        const part = changed[i] as Uint8Array
        part[at] = (part[at] as number) ^ 0x80
        expect(Memo.keyOf('s', changed)).not.toBe(key)
      }
    expect(Memo.keyOf('s', [Uint8Array.of(1, 2), Uint8Array.of(3, 4, 5)])).not.toBe(key)
    expect(Memo.keyOf('s', [Uint8Array.of(1, 2, 3, 4, 5)])).not.toBe(key)
    expect(Memo.keyOf('t', parts)).not.toBe(key)
  })
})

describe('verification', () => {
  test('behavior: a success is recorded for the exact bytes; a failure is never recorded', () => {
    Memo.clearVerifications()
    let calls = 0
    const run = (bytes: Uint8Array, result: boolean) =>
      Memo.verification('test', [bytes], () => {
        calls++
        return result
      })
    expect(run(Uint8Array.of(1), false)).toBe(false)
    expect(run(Uint8Array.of(1), false)).toBe(false)
    expect(calls).toBe(2)
    expect(run(Uint8Array.of(2), true)).toBe(true)
    expect(run(Uint8Array.of(2), true)).toBe(true)
    expect(calls).toBe(3)
    // Other bytes are verified for real, whatever was recorded.
    expect(run(Uint8Array.of(3), false)).toBe(false)
    expect(calls).toBe(4)
  })
})
