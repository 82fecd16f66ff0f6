// Response-field decoding shared by the actions (dstack.md §1.1: bytes fields are lowercase hex without 0x).
import { fromHex } from '../internal/bytes.js'
import { InvalidResponseError } from '../transports/createTransport.js'

export type Json = Record<string, unknown>

export function str(json: Json, method: string, field: string, fallback?: string): string {
  const v = json[field]
  if (v === undefined && fallback !== undefined) return fallback
  if (typeof v !== 'string') throw new InvalidResponseError({ method, reason: `field "${field}" is not a string` })
  return v
}

export function hexField(json: Json, method: string, field: string, optional = false): Uint8Array {
  const v = json[field]
  if (v === undefined && optional) return new Uint8Array()
  if (typeof v !== 'string') throw new InvalidResponseError({ method, reason: `field "${field}" is not a hex string` })
  try {
    return fromHex(v, field)
  } catch {
    throw new InvalidResponseError({ method, reason: `field "${field}" is not hex` })
  }
}

export function hexArray(json: Json, method: string, field: string): Uint8Array[] {
  const v = json[field]
  if (!Array.isArray(v)) throw new InvalidResponseError({ method, reason: `field "${field}" is not an array` })
  return v.map((x, i) => hexField({ [`${field}[${i}]`]: x }, method, `${field}[${i}]`))
}

export function strArray(json: Json, method: string, field: string): string[] {
  const v = json[field]
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new InvalidResponseError({ method, reason: `field "${field}" is not an array of strings` })
  return v as string[]
}
