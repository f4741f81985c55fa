// The sidecar's blob fetch against a real HTTP server standing in for the registry's blob endpoint: digest
// checked, bearer sent, failures not cached, modules metered.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listen, type Loopback } from '../../test-support/loopback'
import { FUEL_EXPORT } from '../wasm/index'
import { assembleModule, op } from '../wasm/test-wasm-binary'
import { FilterModuleCache } from './filter-blobs'

const good = assembleModule([], [{ name: 'proxy_abi_version_0_2_1', type: { params: [], results: [] }, body: [] }])
const other = assembleModule([], [{ name: 'other', type: { params: [], results: ['i32'] }, body: op.i32Const(7) }])
const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const GOOD = hex(good)
const LIES = hex(other).replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) // served with bytes that hash otherwise
const flaky = assembleModule([], [{ name: 'flaky', type: { params: [], results: [] }, body: [] }])
const FLAKY = hex(flaky)

let registry: Loopback
const seen: Array<{ url: string; auth: string | undefined }> = []
let flakyCalls = 0

beforeAll(async () => {
  registry = await listen((req, res) => {
    seen.push({ url: req.url!, auth: req.headers.authorization })
    const sha = req.url!.split('/').pop()
    if (sha === GOOD) return res.end(Buffer.from(good))
    if (sha === LIES) return res.end(Buffer.from(other))
    if (sha === FLAKY && ++flakyCalls === 1) {
      res.statusCode = 503
      return res.end()
    }
    if (sha === FLAKY) return res.end(Buffer.from(flaky))
    res.statusCode = 404
    res.end()
  })
})
afterAll(() => registry.close())

describe('FilterModuleCache', () => {
  const cache = () => new FilterModuleCache({ controlUrl: `http://127.0.0.1:${registry.port}`, token: async () => 'workload-token' })

  it('fetches a blob by digest with the bearer token, verifies it, meters and compiles it once', async () => {
    seen.length = 0
    const c = cache()
    const module = await c.get(GOOD)
    expect(WebAssembly.Module.exports(module).map((e) => e.name)).toContain(FUEL_EXPORT)
    expect(await c.get(GOOD)).toBe(module)
    expect(seen).toEqual([{ url: `/v1/filters/blobs/${GOOD}`, auth: 'Bearer workload-token' }])
  })

  it('refuses bytes that do not hash to the digest asked for, and a digest that is not one', async () => {
    await expect(cache().get(LIES)).rejects.toThrow(`filter module ${LIES} arrived with sha256 ${hex(other)}`)
    await expect(cache().get('../../v1/tenants')).rejects.toThrow(/not a sha256 digest/)
  })

  it('does not cache a failed fetch: the next get retries; retain forgets digests no longer named', async () => {
    const c = cache()
    await expect(c.get(FLAKY)).rejects.toThrow('the filter registry answered 503')
    const module = await c.get(FLAKY)
    expect(module).toBeInstanceOf(WebAssembly.Module)
    c.retain([])
    seen.length = 0
    await c.get(FLAKY)
    expect(seen).toHaveLength(1)
  })
})
