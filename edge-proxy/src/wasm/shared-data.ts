import { Status } from './abi'

type Entry = { value: Uint8Array; cas: number }

/**
 * Proxy-wide key-value store behind `proxy_get_shared_data`/`proxy_set_shared_data`. It outlives any one VM (a
 * re-instantiated filter keeps its counters) and can be shared by every filter host of a proxy, as Envoy shares
 * it per VM id. CAS values start at 1 and grow per write; 0 means "no check" (spec).
 */
export class SharedData {
  #entries = new Map<string, Entry>()
  #nextCas = 1

  get(key: string): { value: Uint8Array; cas: number } | undefined {
    return this.#entries.get(key)
  }

  set(key: string, value: Uint8Array, cas: number): number {
    const current = this.#entries.get(key)
    if (cas !== 0 && (current === undefined || current.cas !== cas)) return Status.CAS_MISMATCH
    // Skipping 0 on wrap-around: 0 would read as "unconditional" to the next writer.
    const next = this.#nextCas
    this.#nextCas = next >= 0xffff_ffff ? 1 : next + 1
    this.#entries.set(key, { value, cas: next })
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
