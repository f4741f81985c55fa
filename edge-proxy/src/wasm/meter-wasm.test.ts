// Isolation against runaway filters: metering (fuel) and bounded memory, on hand-assembled modules and on real
// AssemblyScript fixtures (filters/testdata/runaway, trap-filter, unknown-import) run through the host.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildFilters, buildTestFilter, listFilters } from '../../../filters/build'
import { createFilterHost, type FilterHost } from './filter-host'
import { FUEL_BUDGET_EXPORT, FUEL_EXPORT, meterWasm, WasmMeterError } from './meter-wasm'
import { assembleModule, op } from './test-wasm-binary'
import { UnknownImportError } from './wasm-errors'

const loop = [0x03, 0x40, 0x0c, 0x00, 0x0b] // loop br 0 end: never ends
const spin = assembleModule([], [{ name: 'spin', type: { params: [], results: [] }, body: loop }, { name: 'one', type: { params: [], results: ['i32'] }, body: op.i32Const(1) }])

describe('meterWasm', () => {
  it('makes a never-ending loop trap once its fuel is used up, and leaves other code working', () => {
    const metered = meterWasm(spin, { fuel: 1000 })
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(metered), {})
    const fuel = exports[FUEL_EXPORT] as WebAssembly.Global
    expect(fuel.value).toBe(1000)
    expect((exports[FUEL_BUDGET_EXPORT] as WebAssembly.Global).value).toBe(1000)
    expect(() => (exports.spin as () => void)()).toThrow(WebAssembly.RuntimeError)
    expect(fuel.value).toBeLessThan(0)
    fuel.value = 10
    expect((exports.one as () => number)()).toBe(1)
    // One unit for the function entry.
    expect(fuel.value).toBe(9)
  })

  it('is idempotent, appends a global and an export without shifting indices, and bounds memory', () => {
    const metered = meterWasm(spin, { maxMemoryBytes: 4 * 65536 })
    expect(meterWasm(metered)).toBe(metered)
    const module = new WebAssembly.Module(metered)
    expect(WebAssembly.Module.exports(module).map((e) => e.name)).toEqual(['spin', 'one', 'memory', FUEL_EXPORT, FUEL_BUDGET_EXPORT])
    const memory = new WebAssembly.Instance(module, {}).exports.memory as WebAssembly.Memory
    expect(memory.grow(3)).toBe(1)
    expect(() => memory.grow(1)).toThrow(RangeError)
  })

  it('refuses what is not a module, and a memory whose minimum is above the bound', () => {
    expect(() => meterWasm(new TextEncoder().encode('#!/bin/sh'))).toThrow(WasmMeterError)
    expect(() => meterWasm(spin, { maxMemoryBytes: 1024 })).toThrow(WasmMeterError)
  })

  it('meters every filter the build produces into modules that still compile', async () => {
    for (const built of await buildFilters(await listFilters())) {
      const module = new WebAssembly.Module(meterWasm(new Uint8Array(await readFile(built.file))))
      expect(WebAssembly.Module.exports(module).some((e) => e.name === FUEL_EXPORT)).toBe(true)
    }
  }, 120_000)

  it.each([
    ['Rust (wasm-bindgen)', 'node_modules/blake3-wasm/dist/wasm/nodejs/blake3_js_bg.wasm'],
    ['Emscripten (PostgreSQL, 9 MB)', 'node_modules/@electric-sql/pglite/dist/pglite.wasm'],
  ])('meters a module from another toolchain, %s, into one that compiles', async (_, file) => {
    const bytes = new Uint8Array(await readFile(fileURLToPath(new URL(`../../../${file}`, import.meta.url))))
    const module = new WebAssembly.Module(meterWasm(bytes, { maxMemoryBytes: 2 ** 31 }))
    expect(WebAssembly.Module.exports(module).some((e) => e.name === FUEL_EXPORT)).toBe(true)
  }, 60_000)
})

describe('runaway, exhausting, trapping and unlinkable filters in the host', () => {
  let runaway: Uint8Array
  beforeAll(async () => {
    runaway = new Uint8Array(await readFile((await buildTestFilter('runaway')).file))
  }, 120_000)

  const host = (failurePolicy: 'open' | 'closed', errors: object[] = []): FilterHost =>
    createFilterHost({
      module: new WebAssembly.Module(meterWasm(runaway, { maxMemoryBytes: 16 * 1024 * 1024 })),
      rootId: 'runaway',
      failurePolicy,
      fuel: 2_000_000,
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: (o: object) => void errors.push(o) },
    })
  const request = (h: FilterHost, header?: string) =>
    h.startStream({ method: 'GET', path: '/' }).onRequestHeaders(header ? { [header]: '1' } : {})

  it('stops a loop that never ends: fails closed, counted as a runaway, logged; a fresh VM serves the next request', async () => {
    const errors: object[] = []
    const h = host('closed', errors)
    expect(h.metered).toBe(true)
    const r = await request(h, 'x-loop')
    expect(r).toMatchObject({ action: 'respond', status: 503, failure: { filter: 'runaway', policy: 'closed' } })
    expect(r.failure!.error).toMatch(/FilterRunawayError: filter ran past its time budget/)
    expect(h.stats).toMatchObject({ failures: 1 })
    expect(h.runaways).toBe(1)
    expect(errors).toContainEqual(expect.objectContaining({ filter: 'runaway', during: 'request headers' }))
    const next = await request(h)
    expect(next.action).toBe('continue')
    expect(next.action === 'continue' && next.headers.get('x-runaway')).toBe('ok')
    expect(h.stats).toMatchObject({ reinstantiations: 1 })
  })

  it('stops an allocator without bound at the memory maximum; open policy passes the request on untouched', async () => {
    const h = host('open')
    const r = await request(h, 'x-alloc')
    expect(r.action).toBe('continue')
    expect(r.failure?.policy).toBe('open')
    expect(r.action === 'continue' && r.headers.get('x-runaway')).toBeNull()
    expect(h.stats).toMatchObject({ failures: 1 })
    expect(h.runaways).toBe(0)
    expect((await request(h)).action === 'continue').toBe(true)
  })

  it('refills to the budget baked in at metering time when the host is given none', async () => {
    const h = createFilterHost({ module: new WebAssembly.Module(meterWasm(runaway, { fuel: 12_345 })), rootId: 'runaway' })
    const r = await request(h, 'x-loop')
    expect(r.failure?.error).toContain('(12345 units of fuel)')
    expect((await request(h)).action).toBe('continue')
  })

  it('turns unbounded recursion into a failure, not a crash', async () => {
    const h = host('closed')
    expect(await request(h, 'x-recurse')).toMatchObject({ action: 'respond', status: 503 })
    expect(await request(h)).toMatchObject({ action: 'continue' })
  })

  it('a trapping filter, metered, still fails per policy and recovers', async () => {
    const trap = new WebAssembly.Module(meterWasm(new Uint8Array(await readFile((await buildTestFilter('trap-filter')).file))))
    const h = createFilterHost({ module: trap, rootId: 'trap', failurePolicy: 'closed' })
    expect(await h.startStream({ method: 'GET', path: '/' }).onRequestHeaders({ 'x-trap': '1' })).toMatchObject({ action: 'respond', status: 503 })
    expect(await h.startStream({ method: 'GET', path: '/' }).onRequestHeaders({})).toMatchObject({ action: 'continue' })
  }, 60_000)

  it('an unknown import still fails at load time, naming it, after metering', async () => {
    const bytes = new Uint8Array(await readFile((await buildTestFilter('unknown-import')).file))
    expect(() => createFilterHost({ module: new WebAssembly.Module(meterWasm(bytes)), rootId: 'x' })).toThrow(UnknownImportError)
    expect(() => createFilterHost({ module: new WebAssembly.Module(meterWasm(bytes)), rootId: 'x' })).toThrow(/env\.weft_not_a_host_function/)
  }, 60_000)
})
