/** A Map bounded to `max` entries that evicts the least recently used one (a Map iterates in insertion order). */
export class Lru<K, V> {
  readonly #max: number
  readonly #onEvict: ((value: V, key: K) => void) | undefined
  readonly #entries = new Map<K, V>()

  /** `onEvict` sees every value that leaves: evicted, replaced, deleted or cleared (e.g. to wipe a key). */
  constructor(max: number, options: { onEvict?: (value: V, key: K) => void } = {}) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('an LRU holds at least one entry')
    this.#max = max
    this.#onEvict = options.onEvict
  }

  get size(): number {
    return this.#entries.size
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

  set(key: K, value: V): void {
    const old = this.#entries.get(key)
    if (this.#entries.delete(key) && old !== value) this.#onEvict?.(old as V, key)
    this.#entries.set(key, value)
    if (this.#entries.size > this.#max) {
      const [oldestKey, oldest] = this.#entries.entries().next().value as [K, V]
      this.#entries.delete(oldestKey)
      this.#onEvict?.(oldest, oldestKey)
    }
  }

  delete(key: K): boolean {
    const old = this.#entries.get(key)
    if (!this.#entries.delete(key)) return false
    this.#onEvict?.(old as V, key)
    return true
  }

  clear(): void {
    const entries = [...this.#entries]
    this.#entries.clear()
    for (const [key, value] of entries) this.#onEvict?.(value, key)
  }

  values(): IterableIterator<V> {
    return this.#entries.values()
  }
}
