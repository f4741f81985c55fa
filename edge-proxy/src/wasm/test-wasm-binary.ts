/**
 * Test-only: assembles tiny WebAssembly binaries by hand, for modules no SDK would produce (other ABI markers,
 * every import an SDK might declare, `_initialize` ordering). Supports what those tests need: function
 * imports, one memory, exported functions with plain instruction bytes.
 */
export type ValType = 'i32' | 'i64'
export type FuncType = { params: ValType[]; results: ValType[] }
export type TestImport = { module: string; name: string; type: FuncType }
export type TestFunction = { name: string; type: FuncType; body: number[] }

const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e }
const utf8 = new TextEncoder()

function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n !== 0) byte |= 0x80
    out.push(byte)
  } while (n !== 0)
  return out
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]
const name = (s: string): number[] => {
  const b = utf8.encode(s)
  return [...uleb(b.length), ...b]
}
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body]

export function assembleModule(imports: TestImport[], functions: TestFunction[]): Uint8Array<ArrayBuffer> {
  const types: FuncType[] = []
  const typeIndex = (t: FuncType): number => {
    const key = JSON.stringify(t)
    const at = types.findIndex((x) => JSON.stringify(x) === key)
    if (at >= 0) return at
    types.push(t)
    return types.length - 1
  }
  const importEntries = imports.map((i) => [...name(i.module), ...name(i.name), 0x00, ...uleb(typeIndex(i.type))])
  const funcEntries = functions.map((f) => uleb(typeIndex(f.type)))
  const typeEntries = types.map((t) => [0x60, ...vec(t.params.map((p) => [VALTYPE[p]])), ...vec(t.results.map((r) => [VALTYPE[r]]))])
  const exports = [
    ...functions.map((f, i) => [...name(f.name), 0x00, ...uleb(imports.length + i)]),
    [...name('memory'), 0x02, 0x00],
  ]
  const code = functions.map((f) => {
    const body = [0x00, ...f.body, 0x0b] // no locals
    return [...uleb(body.length), ...body]
  })
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(typeEntries)),
    ...section(2, vec(importEntries)),
    ...section(3, vec(funcEntries)),
    ...section(5, vec([[0x00, 0x01]])), // one memory, min 1 page
    ...section(7, vec(exports)),
    ...section(10, vec(code)),
  ])
}

/** Instruction bytes used by the tests. */
export const op = {
  i32Const: (n: number): number[] => [0x41, ...sleb(n)],
  i32Store: [0x36, 0x02, 0x00],
  i32Load: [0x28, 0x02, 0x00],
  i32Eqz: [0x45],
  ifEmpty: [0x04, 0x40],
  end: [0x0b],
  unreachable: [0x00],
  drop: [0x1a],
  call: (index: number): number[] => [0x10, ...uleb(index)],
}

function sleb(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const byte = n & 0x7f
    n >>= 7
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte)
      return out
    }
    out.push(byte | 0x80)
  }
}
