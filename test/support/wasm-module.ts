// Hand-assembled WebAssembly for tests that need a module but not a compiler.

/** A minimal module exporting one function per name, built by hand so the test needs no compiler. */
export function moduleExporting(names: string[]): Uint8Array<ArrayBuffer> {
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
  const exps = section(7, [...leb(names.length), ...names.flatMap((n, i) => [...leb(enc.encode(n).length), ...enc.encode(n), 0, ...leb(i)])])
  const code = section(10, [names.length, ...names.flatMap(() => [2, 0, 0x0b])])
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...type, ...func, ...exps, ...code])
}

