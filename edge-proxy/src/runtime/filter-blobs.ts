import { meterWasm, type MeterOptions } from '../wasm/index'

export type FilterBlobSource = {
  /** The control API's base URL; blobs are at `/v1/filters/blobs/{sha256}`. */
  controlUrl: string
  /** A bearer token the registry accepts (the workload's control token). */
  token: () => Promise<string>
  /** Bounds baked into every module (meterWasm). */
  limits?: MeterOptions
  fetch?: typeof fetch
}

/**
 * The Node sidecar's filter modules, content-addressed: fetched from the registry by digest once, checked against
 * that digest (a blob that does not hash to its name is refused), metered (meter-wasm.ts) and compiled. A failed
 * fetch is not cached, so the next load retries it; `retain` forgets digests no snapshot names any more (hosts
 * already built keep their module).
 */
export class FilterModuleCache {
  readonly #modules = new Map<string, Promise<WebAssembly.Module>>()

  constructor(private readonly source: FilterBlobSource) {}

  /** @throws Error naming the digest when the registry refuses it or the bytes do not match it. */
  get(sha256: string): Promise<WebAssembly.Module> {
    let module = this.#modules.get(sha256)
    if (!module) {
      const loading = this.#load(sha256)
      module = loading
      this.#modules.set(sha256, loading)
      loading.catch(() => {
        if (this.#modules.get(sha256) === loading) this.#modules.delete(sha256)
      })
    }
    return module
  }

  retain(digests: Iterable<string>): void {
    const keep = new Set(digests)
    for (const sha256 of this.#modules.keys()) if (!keep.has(sha256)) this.#modules.delete(sha256)
  }

  async #load(sha256: string): Promise<WebAssembly.Module> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 digest: ${JSON.stringify(sha256)}`)
    const doFetch = this.source.fetch ?? fetch
    const res = await doFetch(new URL(`/v1/filters/blobs/${sha256}`, this.source.controlUrl), { headers: { authorization: `Bearer ${await this.source.token()}` } })
    if (!res.ok) throw new Error(`the filter registry answered ${res.status} for ${sha256}`)
    const bytes = new Uint8Array(await res.arrayBuffer())
    const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('')
    if (digest !== sha256) throw new Error(`filter module ${sha256} arrived with sha256 ${digest}`)
    // Metered before compiling: a filter call that never ends traps instead of hanging the sidecar.
    return new WebAssembly.Module(meterWasm(bytes, this.source.limits))
  }
}
