/**
 * Canonical JSON for signed Regent documents (docs/protocol.md "Identity bundle"): objects with keys sorted by
 * UTF-16 code units (JavaScript's default sort), no whitespace, strings and arrays as `JSON.stringify` writes them,
 * booleans and null allowed, and **no numbers** (every integer travels as a decimal string) so that no float or
 * big-integer formatting question arises. For such documents the output equals RFC 8785 (JCS).
 */
import { BaseError } from './errors.js'

/**
 * Serializes `value` canonically.
 *
 * @throws {NotCanonicalizableError} for numbers, undefined members inside arrays, functions, bigints.
 * @example
 * CanonicalJson.stringify({ b: '1', a: ['x'] }) // '{"a":["x"],"b":"1"}'
 */
export function stringify(value: unknown, path = '$'): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value)
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map((v, i) => stringify(v, `${path}[${i}]`)).join(',')}]`
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stringify(v, `${path}.${k}`)}`).join(',')}}`
  }
  throw new NotCanonicalizableError({ path, type: typeof value })
}

export class NotCanonicalizableError extends BaseError {
  override name = 'CanonicalJson.NotCanonicalizableError'
  constructor({ path, type }: { path: string; type: string }) {
    super(`${path} is a ${type}; canonical JSON allows only strings, booleans, null, arrays and plain objects.`)
  }
}
