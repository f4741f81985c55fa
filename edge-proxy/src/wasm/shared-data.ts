import { Status } from './abi'

type Entry = { value: Uint8Array; cas: number }

/** How much a proxy's shared data may hold before the entries written longest ago are dropped. */
export type SharedDataLimits = { maxEntries: number; maxBytes: number }

// Enough for tens of thousands of rate-limit buckets or counters per proxy; a few MiB at most.
export const DEFAULT_SHARED_DATA_LIMITS: SharedDataLimits = { maxEntries: 32_768, maxBytes: 8 * 1024 * 1024 }

/**
 * Proxy-wide key-value store behind `proxy_get_shared_data`/`proxy_set_shared_data`. It outlives any one VM (a
 * re-instantiated filter keeps its counters) and can be shared by every filter host of a proxy, as Envoy shares
 * it per VM id. CAS values start at 1 and grow per write; 0 means "no check" (spec).
 *
 * Bounded: the ABI has no delete, and keys often come from clients (a rate-limit bucket per user or address),
 * so an unbounded store is memory any client can make a proxy spend. Past `maxEntries` or `maxBytes` (keys and
 * values), the entries used longest ago (read or written) are dropped, as an LRU cache would — a client kept
 * at zero tokens is read on each request, so its bucket stays while fresh keys come and go: a filter then reads "not found" and
 * starts over (a dropped token bucket is a full one), and a CAS write against a dropped entry fails as against
 * a changed one, so the filter re-reads. `evictions` counts them (exported as weft_filter_shared_data_evictions_total).
 */
export class SharedData {
  // Map order is use order: a read or a write moves its key to the end, so the first key is the least recently used.
  #entries = new Map<string, Entry>()
  #nextCas = 1
  #bytes = 0
  readonly #limits: SharedDataLimits
  evictions = 0

  constructor(limits: SharedDataLimits = DEFAULT_SHARED_DATA_LIMITS) {
    this.#limits = limits
  }

  get size(): number {
    return this.#entries.size
  }

  get bytes(): number {
    return this.#bytes
  }

  get(key: string): { value: Uint8Array; cas: number } | undefined {
    const entry = this.#entries.get(key)
    if (entry !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, entry)
    }
    return entry
  }

  set(key: string, value: Uint8Array, cas: number): number {
    const current = this.#entries.get(key)
    if (cas !== 0 && (current === undefined || current.cas !== cas)) return Status.CAS_MISMATCH
    // Skipping 0 on wrap-around: 0 would read as "unconditional" to the next writer.
    const next = this.#nextCas
    this.#nextCas = next >= 0xffff_ffff ? 1 : next + 1
    if (current !== undefined) {
      this.#entries.delete(key)
      this.#bytes -= key.length + current.value.byteLength
    }
    const size = key.length + value.byteLength
    while (this.#entries.size > 0 && (this.#entries.size >= this.#limits.maxEntries || this.#bytes + size > this.#limits.maxBytes)) {
      const [oldest, entry] = this.#entries.entries().next().value as [string, Entry]
      this.#entries.delete(oldest)
      this.#bytes -= oldest.length + entry.value.byteLength
      this.evictions++
    }
    this.#entries.set(key, { value, cas: next })
    this.#bytes += size
    return Status.OK
  }
}

/** Shared queues (`proxy_register_shared_queue` and friends): FIFO of byte strings by name. */
export class SharedQueues {
  #ids = new Map<string, number>()
  #queues = new Map<number, Uint8Array[]>()
  /** The registering VM's `proxy_on_queue_ready`, by queue; a VM that registers again (re-instantiated) replaces it. */
  #listeners = new Map<number, (id: number) => void>()

  register(name: string, onReady?: (id: number) => void): number {
    let id = this.#ids.get(name)
    if (id === undefined) {
      id = this.#ids.size + 1
      this.#ids.set(name, id)
      this.#queues.set(id, [])
    }
    if (onReady) this.#listeners.set(id, onReady)
    return id
  }

  resolve(name: string): number | undefined {
    return this.#ids.get(name)
  }

  enqueue(id: number, value: Uint8Array): number {
    const queue = this.#queues.get(id)
    if (!queue) return Status.NOT_FOUND
    queue.push(value)
    // After the enqueuing call returns: a guest callback never runs inside another guest's host call.
    const listener = this.#listeners.get(id)
    if (listener) queueMicrotask(() => listener(id))
    return Status.OK
  }

  dequeue(id: number): Uint8Array | number {
    const queue = this.#queues.get(id)
    if (!queue) return Status.NOT_FOUND
    return queue.shift() ?? Status.EMPTY
  }
}
