/**
 * A bounded least-recently-used map. A `Map` iterates in insertion order, so re-inserting on read keeps
 * the least recently used entry first and eviction is `keys().next()`: O(1), no linked list of our own.
 * `maxSize` 0 disables the cache (every `get` misses, `set` stores nothing).
 */
export class LruCache<K, V extends {} | null> {
  readonly maxSize: number
  readonly #map = new Map<K, V>()

  constructor(maxSize: number) {
    if (!Number.isInteger(maxSize) || maxSize < 0) throw new RangeError(`LruCache maxSize must be a non-negative integer, got ${maxSize}`)
    this.maxSize = maxSize
  }

  get size(): number {
    return this.#map.size
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key)
    if (value === undefined) return undefined
    this.#map.delete(key)
    this.#map.set(key, value)
    return value
  }

  /** Reads without refreshing recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key)
  }

  set(key: K, value: V): this {
    if (this.maxSize === 0) return this
    this.#map.delete(key)
    this.#map.set(key, value)
    if (this.#map.size > this.maxSize) this.#map.delete(this.#map.keys().next().value as K)
    return this
  }

  delete(key: K): boolean {
    return this.#map.delete(key)
  }

  /** Every entry, least recently used first, without refreshing recency. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries()
  }

  clear(): void {
    this.#map.clear()
  }
}
