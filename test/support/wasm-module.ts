// Hand-assembled WebAssembly for tests that need a module but not a compiler.

/**
 * A minimal module exporting one function per name, built by hand so the test needs no compiler. `memoryPages`
 * adds a memory with that minimum (64 KiB pages); `body` replaces every function's instructions (before `end`).
 */
export function moduleExporting(names: string[], options: { memoryPages?: number; body?: number[] } = {}): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder()
  const leb = (n: number) => {
    const out: number[] = []
    do {
      let b = n & 0x7f
      n >>>= 7
      if (n) b |= 0x80
      out.push(b)
    } while (n)
    return out
  }
  const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body]
  const type = section(1, [1, 0x60, 0, 0])
  const func = section(3, [names.length, ...names.map(() => 0)])
  const memory = options.memoryPages === undefined ? [] : section(5, [1, 0, ...leb(options.memoryPages)])
  const exps = section(7, [...leb(names.length), ...names.flatMap((n, i) => [...leb(enc.encode(n).length), ...enc.encode(n), 0, ...leb(i)])])
  const body = [0, ...(options.body ?? []), 0x0b]
  const code = section(10, [names.length, ...names.flatMap(() => [...leb(body.length), ...body])])
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...type, ...func, ...memory, ...exps, ...code])
}

