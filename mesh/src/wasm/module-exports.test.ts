import { describe, expect, it } from 'vitest'
import { moduleExporting } from '../../../test/support/wasm-module'
import { proxyWasmAbi, wasmExports, WasmFormatError } from './module-exports'

describe('wasmExports', () => {
  it('reads export names of a real module (it also compiles)', () => {
    const bytes = moduleExporting(['proxy_abi_version_0_2_1', 'malloc', 'proxy_on_context_create'])
    expect(WebAssembly.validate(bytes)).toBe(true)
    expect(wasmExports(bytes)).toEqual(['proxy_abi_version_0_2_1', 'malloc', 'proxy_on_context_create'])
    expect(WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name)).toEqual(wasmExports(bytes))
  })
  it.each([
    [['proxy_abi_version_0_2_0'], '0.2.0'],
    [['proxy_abi_version_0_2_1', 'x'], '0.2.1'],
    [['main'], null],
  ])('ABI of %j is %s', (names, abi) => {
    expect(proxyWasmAbi(wasmExports(moduleExporting(names)))).toBe(abi)
  })
  it.each([
    ['empty', new Uint8Array()],
    ['not wasm', new TextEncoder().encode('hello, world!')],
    ['truncated section', new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 7, 20, 1])],
  ])('refuses %s', (_, bytes) => {
    expect(() => wasmExports(bytes)).toThrow(WasmFormatError)
  })
})
