/**
 * A proxy-wasm module written in Rust (filters/compat/rust-add-header/lib.rs, std only), compiled from source with
 * rustc for WASI at test time, runs in Weft's host: the ABI exports, the module's own allocator, and the WASI
 * imports Rust's standard library brings (fd_write, random_get, clock_time_get, environ_*, proc_exit).
 * Skipped where no rustc with a WASI standard library is installed, except in CI, where .ci/run installs
 * Debian's and a missing toolchain fails the suite.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { createFilterHost, type FilterHost } from '../../edge-proxy/src/wasm/filter-host'
import { FilterConfigError } from '../../edge-proxy/src/wasm/wasm-errors'
import { compileExample } from './build-example'
import { findRustWasmToolchain } from './rust-toolchain'

const toolchain = findRustWasmToolchain()

it.runIf(Boolean(process.env.CI))('CI has a rustc that targets WASI (.ci/run installs Debian\'s rustc and libstd-rust-dev-wasm32)', () => {
  expect(toolchain).toBeDefined()
})

describe.skipIf(!toolchain)('a Rust proxy-wasm module built with rustc --target wasm32-wasi', () => {
  let module: WebAssembly.Module
  const logged: { level: string; msg: string }[] = []
  const at = (level: string) => (_obj: object, msg: string) => void logged.push({ level, msg })
  const logger = { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }

  beforeAll(async () => {
    const { rustc, target, version } = toolchain!
    ;({ module } = await compileExample({
      folder: 'rust-add-header',
      compiler: { executable: rustc },
      args: ['--edition', '2021', '--target', target, '--crate-type', 'cdylib', '-C', 'opt-level=2',
        '-C', 'strip=debuginfo', '-o', '{out}', 'lib.rs'],
      toolVersion: `${version} ${target}`,
    }))
  })

  const load = (config = 'X-Rust: hello from rust'): FilterHost => createFilterHost({ module, rootId: 'rust', config, logger })

  async function roundTrip(host: FilterHost, path: string, responseHeaders: Record<string, string> = {}) {
    const stream = host.startStream({ method: 'GET', path })
    const request = await stream.onRequestHeaders({ accept: 'text/plain' })
    const response = await stream.onResponseHeaders(responseHeaders, { status: 200 })
    stream.finish()
    return { request, response }
  }

  it('adds its configured header and reads :path, per-VM state kept in a std HashMap', async () => {
    const host = load()
    expect(host.abi).toBe('0.2.1')
    const seen: string[] = []
    for (const path of ['/a', '/b', '/a', '/a']) {
      const { request, response } = await roundTrip(host, path)
      expect(request.action).toBe('continue')
      if (request.action !== 'continue') return
      expect(request.headers.get('x-rust')).toBe('hello from rust')
      expect(request.headers.get('x-rust-path')).toBe(path)
      expect(request.headers.get('accept')).toBe('text/plain')
      seen.push(request.headers.get('x-rust-seen')!)
      // SystemTime::now() through WASI clock_time_get, at request and at response.
      expect(response.action === 'continue' && response.headers.get('x-rust-elapsed-ok')).toBe('true')
    }
    expect(seen).toEqual(['1', '1', '2', '3'])
    expect(host.stats).toEqual({ requests: 4, failures: 0, reinstantiations: 0 })
    // println! reached the proxy's log through WASI fd_write.
    expect(logged).toContainEqual({ level: 'info', msg: 'rust-add-header configured: x-rust' })
  })

  it('rejects a configuration it cannot parse at load', () => {
    expect(() => load('no colon here')).toThrow(FilterConfigError)
  })

  it('a Rust panic fails the request by policy, logs the panic message, and the next request gets a fresh VM', async () => {
    const host = load()
    const { response } = await roundTrip(host, '/boom', { 'x-rust-panic': '1' })
    expect(response.action).toBe('respond')
    expect(response.action === 'respond' && response.headers.get('weft-reason')).toBe('filter-failure')
    // Through WASI fd_write on stderr (rustc ≥ 1.73 puts the message on a line of its own).
    const errors = logged.filter((l) => l.level === 'error').map((l) => l.msg).join('\n')
    expect(errors).toMatch(/panicked at[^]*asked to panic/)
    const { request } = await roundTrip(host, '/boom')
    expect(request.action === 'continue' && request.headers.get('x-rust-seen')).toBe('1')
    expect(host.stats).toEqual({ requests: 2, failures: 1, reinstantiations: 1 })
  })
})
