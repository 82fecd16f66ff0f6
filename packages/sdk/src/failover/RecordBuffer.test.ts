// The in-memory tail of the write-ahead log (RecordBuffer.ts): what a standby is sent from, what a new canonical pulls.
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { createRecordBuffer } from './RecordBuffer.js'
import type { LogRecord } from './Wire.js'

const rec = (seq: number, size = 1): LogRecord => ({ seq, data: new Uint8Array(size).fill(seq % 256) })
const seqs = (records: readonly LogRecord[] | undefined) => records?.map((r) => r.seq)

describe('createRecordBuffer', () => {
  test('default: empty at its base; since(base) is nothing, anything else is a gap', () => {
    const b = createRecordBuffer({ base: 5 })
    expect(b.last()).toBe(5)
    expect(b.since(5)).toEqual([])
    expect(b.since(4)).toBeUndefined()
    expect(b.since(6)).toBeUndefined()
    expect(createRecordBuffer().last()).toBe(0)
  })

  test('default: since(seq) is the records after seq, in order', () => {
    const b = createRecordBuffer()
    b.append([rec(1), rec(2), rec(3)])
    b.append([rec(4)])
    expect(b.last()).toBe(4)
    expect(seqs(b.since(0))).toEqual([1, 2, 3, 4])
    expect(seqs(b.since(2))).toEqual([3, 4])
    expect(b.since(4)).toEqual([])
    expect(b.since(5)).toBeUndefined()
    expect(b.since(-1)).toBeUndefined()
    // The answer is a copy: a caller that changes it does not change the buffer.
    b.since(0)?.splice(0)
    expect(seqs(b.since(0))).toEqual([1, 2, 3, 4])
  })

  test('behavior: records that do not extend the buffer are ignored (held already, or after a gap)', () => {
    const b = createRecordBuffer({ base: 10 })
    b.append([rec(11), rec(12)])
    b.append([rec(12, 9), rec(11, 9)]) // held already: the first copy stays
    b.append([rec(15), rec(14)]) // a gap after 12
    b.append([rec(13), rec(15), rec(14)]) // 13 extends; 15 does not follow 13; 14 does
    expect(seqs(b.since(10))).toEqual([11, 12, 13, 14])
    expect(b.since(10)?.[1]?.data).toEqual(rec(12).data)
    b.append([rec(10), rec(9), rec(-1)])
    expect(b.last()).toBe(14)
  })

  test('behavior: reset forgets everything; the state is a snapshot at seq', () => {
    const b = createRecordBuffer()
    b.append([rec(1), rec(2), rec(3)])
    b.reset(20)
    expect(b.last()).toBe(20)
    expect(b.since(20)).toEqual([])
    expect(b.since(2)).toBeUndefined()
    b.append([rec(4)])
    expect(b.last()).toBe(20)
    b.append([rec(21)])
    expect(seqs(b.since(20))).toEqual([21])
    // A snapshot older than what the buffer held also resets it.
    b.reset(2)
    expect(b.last()).toBe(2)
    b.append([rec(3)])
    expect(seqs(b.since(2))).toEqual([3])
  })

  test('behavior: past maxBytes the oldest records fall out; since() of them is a gap, last() is unchanged', () => {
    // Each record costs its data plus 16 bytes.
    const b = createRecordBuffer({ maxBytes: 3 * (16 + 10) })
    b.append([rec(1, 10), rec(2, 10), rec(3, 10)])
    expect(seqs(b.since(0))).toEqual([1, 2, 3])
    b.append([rec(4, 10)])
    expect(b.since(0)).toBeUndefined()
    expect(seqs(b.since(1))).toEqual([2, 3, 4])
    b.append([rec(5, 30)]) // 26 + 26 + 46 > 78: 2 and 3 go
    expect(b.since(1)).toBeUndefined()
    expect(b.since(2)).toBeUndefined()
    expect(seqs(b.since(3))).toEqual([4, 5])
    expect(b.last()).toBe(5)
    // A record larger than the whole bound falls out too; the buffer still knows where it is.
    b.append([rec(6, 1000)])
    expect(b.last()).toBe(6)
    expect(b.since(6)).toEqual([])
    expect(b.since(5)).toBeUndefined()
    b.append([rec(7)])
    expect(seqs(b.since(6))).toEqual([7])
  })

  test('property: since(s) is exactly the records after s that the bound kept, and last() the highest appended', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 100 }),
        fc.array(fc.array(fc.nat({ max: 40 }), { maxLength: 6 }), { maxLength: 12 }),
        fc.integer({ min: 16, max: 400 }),
        (base, batches, maxBytes) => {
          const b = createRecordBuffer({ base, maxBytes })
          let next = base + 1
          const kept: LogRecord[] = []
          for (const sizes of batches) {
            const batch = sizes.map((size) => rec(next++, size))
            b.append(batch)
            kept.push(...batch)
            let bytes = kept.reduce((sum, r) => sum + r.data.length + 16, 0)
            while (bytes > maxBytes && kept.length > 0) bytes -= (kept.shift() as LogRecord).data.length + 16
          }
          expect(b.last()).toBe(next - 1)
          const first = kept[0]?.seq ?? next
          for (let s = base - 1; s <= next; s++) {
            if (s < first - 1 || s > next - 1) expect(b.since(s)).toBeUndefined()
            else expect(seqs(b.since(s))).toEqual(seqs(kept.filter((r) => r.seq > s)))
          }
        },
      ),
    )
  })
})
