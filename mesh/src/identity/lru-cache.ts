/**
 * A bounded least-recently-used map. A `Map` iterates in insertion order, so re-inserting on read keeps
 * the least recently used entry first and eviction is `keys().next()`: O(1), no linked list of our own.
 * `maxSize` 0 disables the cache (every `get` misses, `set` stores nothing).
 */
export class LruCache<K, V extends {} | null> {
  readonly maxSize: number
  readonly #map = new Map<K, V>()
  /**
   * The most recently used key (set or read): reading it again needs no re-insertion. Most reads repeat the
   * last key (one caller's token, one callee's audience), and a delete and insert per read also fills the Map's
   * table with deleted entries it must compact.
   */
  #last: K | undefined = undefined

  constructor(maxSize: number) {
    if (!Number.isInteger(maxSize) || maxSize < 0) throw new RangeError(`LruCache maxSize must be a non-negative integer, got ${maxSize}`)
    this.maxSize = maxSize
  }

  get size(): number {
    return this.#map.size
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key)
    if (value === undefined || key === this.#last) return value
    this.#map.delete(key)
    this.#map.set(key, value)
    this.#last = key
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
    this.#last = key
    if (this.#map.size > this.maxSize) this.#map.delete(this.#map.keys().next().value as K)
    return this
  }

  delete(key: K): boolean {
    if (key === this.#last) this.#last = undefined
    return this.#map.delete(key)
  }

  /** Every entry, least recently used first, without refreshing recency. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries()
  }

  clear(): void {
    this.#last = undefined
    this.#map.clear()
  }
}
