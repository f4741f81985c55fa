import { describe, expect, it } from 'vitest'
import { GuestMemory } from './guest-memory'
import { silentLogger, type FilterLogger } from './filter-logger'
import { createWasiImports } from './wasi-imports'
import { GuestExit } from './wasm-errors'

function setup(logger: FilterLogger = silentLogger) {
  const memory = new WebAssembly.Memory({ initial: 2 })
  const mem = new GuestMemory(memory, undefined)
  const wasi = createWasiImports({ memory: () => mem, logger, now: () => 1_700_000_000_123 }) as Record<
    string,
    (...args: Array<number | bigint>) => number
  >
  return { mem, wasi, memory }
}

describe('WASI imports', () => {
  it('fd_write logs whole lines and reports the bytes written', () => {
    const lines: string[] = []
    const logger = { ...silentLogger, info: (_: object, msg: string) => lines.push(`out:${msg}`), error: (_: object, msg: string) => lines.push(`err:${msg}`) }
    const { mem, wasi } = setup(logger)
    const text = new TextEncoder().encode('hello, ')
    const rest = new TextEncoder().encode('world\npartial')
    mem.bytes.set(text, 100)
    mem.bytes.set(rest, 200)
    mem.setU32(0, 100); mem.setU32(4, text.length); mem.setU32(8, 200); mem.setU32(12, rest.length)
    expect(wasi.fd_write!(1, 0, 2, 50)).toBe(0)
    expect(mem.u32(50)).toBe(text.length + rest.length)
    expect(lines).toEqual(['out:hello, world'])
    expect(wasi.fd_write!(3, 0, 2, 50)).toBe(8)
  })

  it('answers preopens with BADF and environment/arguments with zero counts', () => {
    const { mem, wasi } = setup()
    expect(wasi.fd_prestat_get!(3, 0)).toBe(8)
    mem.setU32(0, 7); mem.setU32(4, 7)
    expect(wasi.environ_sizes_get!(0, 4)).toBe(0)
    expect([mem.u32(0), mem.u32(4)]).toEqual([0, 0])
    mem.setU32(0, 7); mem.setU32(4, 7)
    expect(wasi.args_sizes_get!(0, 4)).toBe(0)
    expect([mem.u32(0), mem.u32(4)]).toEqual([0, 0])
  })

  it('clock_time_get takes the i64 precision as a BigInt and writes nanoseconds', () => {
    const { mem, wasi } = setup()
    expect(wasi.clock_time_get!(0, 1000n, 16)).toBe(0)
    expect(mem.view.getBigUint64(16, true)).toBe(1_700_000_000_123_000_000n)
    expect(wasi.clock_time_get!(1, 0n, 24)).toBe(0)
    expect(mem.view.getBigUint64(24, true)).toBeGreaterThan(0n)
  })

  it('random_get fills the buffer, in chunks past the Web Crypto limit', () => {
    const { mem, wasi } = setup()
    expect(wasi.random_get!(0, 65_536 + 10)).toBe(0)
    expect(mem.bytes.subarray(65_536, 65_546).some((b) => b !== 0)).toBe(true)
    expect(wasi.random_get!(131_000, 10_000)).toBe(21) // FAULT: past the end of memory
  })

  it('poll_oneoff fires every subscription at once', () => {
    const { mem, wasi } = setup()
    mem.view.setBigUint64(0, 42n, true) // userdata
    mem.view.setUint8(8, 0) // clock subscription
    expect(wasi.poll_oneoff!(0, 1000, 1, 2000)).toBe(0)
    expect(mem.u32(2000)).toBe(1)
    expect(mem.view.getBigUint64(1000, true)).toBe(42n)
  })

  it('proc_exit unwinds the guest', () => {
    const { wasi } = setup()
    expect(() => wasi.proc_exit!(3)).toThrow(GuestExit)
  })
})
