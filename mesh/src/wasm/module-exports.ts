/**
 * Reads a WebAssembly module's export names without compiling it. Workers may not compile WASM from bytes
 * at run time, yet the control API (which may run as a Worker) must know a filter's proxy-wasm ABI when it
 * is pushed; walking the binary's sections is enough for that. Structural only: the proxy's instantiate is
 * the real validation.
 */
export class WasmFormatError extends Error {
  static code = 'ERR_WASM_FORMAT'
  code = WasmFormatError.code
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d]
const EXPORT_SECTION = 7

export function wasmExports(bytes: Uint8Array): string[] {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) throw new WasmFormatError('not a WebAssembly module (bad magic number)')
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new WasmFormatError('unsupported WebAssembly binary version')
  let pos = 8
  const u32 = (): number => {
    let result = 0
    let shift = 0
    for (let i = 0; i < 5; i++) {
      if (pos >= bytes.length) throw new WasmFormatError('truncated module')
      const b = bytes[pos++]!
      result |= (b & 0x7f) << shift
      if ((b & 0x80) === 0) return result >>> 0
      shift += 7
    }
    throw new WasmFormatError('malformed LEB128 integer')
  }
  const names: string[] = []
  while (pos < bytes.length) {
    const id = bytes[pos++]!
    const size = u32()
    const end = pos + size
    if (end > bytes.length) throw new WasmFormatError('a section runs past the end of the module')
    if (id === EXPORT_SECTION) {
      const count = u32()
      for (let i = 0; i < count; i++) {
        const len = u32()
        if (pos + len > end) throw new WasmFormatError('an export name runs past its section')
        names.push(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(pos, pos + len)))
        pos += len
        pos++ // export kind
        u32() // index
      }
    }
    pos = end
  }
  return names
}

/** The proxy-wasm ABI a module declares through its `proxy_abi_version_*` export, or null. */
export function proxyWasmAbi(exports: readonly string[]): '0.1.0' | '0.2.0' | '0.2.1' | null {
  for (const [marker, abi] of [
    ['proxy_abi_version_0_2_1', '0.2.1'],
    ['proxy_abi_version_0_2_0', '0.2.0'],
    ['proxy_abi_version_0_1_0', '0.1.0'],
  ] as const) {
    if (exports.includes(marker)) return abi
  }
  return null
}
