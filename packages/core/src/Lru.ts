/**
 * A Map bounded to `max` entries (and, with `weight`, to `maxWeight` in total) that evicts the least recently used
 * entry first (a Map iterates in insertion order, so the first key is the oldest).
 */
export type LruOptions<K, V> = {
  /** Sees every value that leaves: evicted, replaced, deleted or cleared (e.g. to wipe a key). */
  onEvict?: (value: V, key: K) => void
  /** An entry's weight (e.g. bytes of text); with `maxWeight`, the total is bounded too. */
  weight?: (value: V, key: K) => number
  maxWeight?: number
}

export class Lru<K, V> {
  readonly #max: number
  readonly #options: LruOptions<K, V>
  readonly #entries = new Map<K, V>()
  #weight = 0

  constructor(max: number, options: LruOptions<K, V> = {}) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('an LRU holds at least one entry')
    this.#max = max
    this.#options = options
  }

  get size(): number {
    return this.#entries.size
  }

  /** The total weight of the entries kept (0 without a `weight` function). */
  get weight(): number {
    return this.#weight
  }

  has(key: K): boolean {
    return this.#entries.has(key)
  }

  get(key: K): V | undefined {
    if (!this.#entries.has(key)) return undefined
    const value = this.#entries.get(key) as V
    this.#entries.delete(key)
    this.#entries.set(key, value)
    return value
  }

  /** Keeps `value` as the most recent entry; one heavier than `maxWeight` alone is not kept (false). */
  set(key: K, value: V): boolean {
    const w = this.#options.weight?.(value, key) ?? 0
    if (this.#options.maxWeight !== undefined && w > this.#options.maxWeight) return false
    this.delete(key, value)
    this.#entries.set(key, value)
    this.#weight += w
    // The new entry is last and within both bounds alone, so eviction stops before it.
    for (const oldKey of this.#entries.keys()) {
      if (this.#entries.size <= this.#max && this.#weight <= (this.#options.maxWeight ?? Number.POSITIVE_INFINITY)) break
      this.delete(oldKey)
    }
    return true
  }

  /** Drops `key`; its value goes to `onEvict` unless it is `keep` (a value being set again). */
  delete(key: K, keep?: V): boolean {
    if (!this.#entries.has(key)) return false
    const old = this.#entries.get(key) as V
    this.#entries.delete(key)
    this.#weight -= this.#options.weight?.(old, key) ?? 0
    if (old !== keep) this.#options.onEvict?.(old, key)
    return true
  }

  clear(): void {
    for (const key of [...this.#entries.keys()]) this.delete(key)
  }
}
