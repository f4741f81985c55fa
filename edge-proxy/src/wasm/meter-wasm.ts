/**
 * Bounds a filter module's CPU and memory by rewriting its binary, so a runaway filter traps instead of hanging
 * the proxy. JavaScript cannot interrupt a synchronous WebAssembly call on its own thread, so the module meters
 * itself: a mutable i32 global (`fuel`) is appended to the global section (no existing index shifts: imported
 * globals come first and defined ones keep their order) and exported as `__weft_fuel`, with an immutable twin
 * `__weft_fuel_budget` holding the per-call budget; every function entry and
 * every loop header decrements it and executes `unreachable` once it drops below zero. The host sets the global
 * before each outermost guest call (filter-vm.ts), so the fuel is a per-call budget. Every memory the module
 * defines gets a maximum (default 64 MiB), so an allocator without bound meets a failing `memory.grow`, which
 * AssemblyScript, Rust and Go turn into a trap.
 *
 * Pure bytes in, bytes out, without WebAssembly compilation: the Node sidecar runs it before compiling a blob,
 * and the Worker build runs it at build time (workerd cannot compile WASM at run time).
 */

/** The exported global the host refills before each call. */
export const FUEL_EXPORT = '__weft_fuel'
/** An immutable exported global holding the per-call budget chosen at metering time. */
export const FUEL_BUDGET_EXPORT = '__weft_fuel_budget'
/** Function entries plus loop iterations per guest call: about 0.1 s of a tight AssemblyScript loop in Node 20. */
export const DEFAULT_FUEL = 10_000_000
export const DEFAULT_MAX_MEMORY_BYTES = 64 * 1024 * 1024
const PAGE = 65536

export type MeterOptions = {
  /** Per-call budget, baked into the module (`__weft_fuel_budget`); the host refills the fuel to it per call. */
  fuel?: number
  /** Upper bound of every defined memory, in bytes (rounded down to 64 KiB pages). */
  maxMemoryBytes?: number
}

export class WasmMeterError extends Error {
  static code = 'ERR_WEFT_WASM_METER'
  code = WasmMeterError.code
}

const SECTION = { custom: 0, type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6, export: 7, start: 8, element: 9, code: 10, data: 11, dataCount: 12, tag: 13 } as const
// Where a section sits in the required order (tag sits between memory and global).
const ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 }

/**
 * Returns a copy of a WebAssembly module with fuel metering and bounded memory. Idempotent: a module that already
 * exports `__weft_fuel` is returned unchanged.
 * @throws WasmMeterError on a malformed module, an instruction it does not know, or a memory whose minimum is
 *   already above the bound.
 */
export function meterWasm(bytes: Uint8Array, options: MeterOptions = {}): Uint8Array<ArrayBuffer> {
  const fuel = options.fuel ?? DEFAULT_FUEL
  if (!Number.isInteger(fuel) || fuel <= 0 || fuel > 0x7fffffff) throw new WasmMeterError(`fuel must be an integer in 1..2^31-1, got ${fuel}`)
  const maxPages = Math.floor((options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES) / PAGE)
  if (maxPages < 1) throw new WasmMeterError('maxMemoryBytes must be at least one 64 KiB page')
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw new WasmMeterError('not a WebAssembly module')
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new WasmMeterError('not a WebAssembly 1.0 module (a component?)')

  const sections: Array<{ id: number; body: Uint8Array }> = []
  const r = new Reader(bytes, 8)
  while (!r.done()) {
    const id = r.byte()
    const size = r.u32()
    sections.push({ id, body: r.bytes(size) })
  }
  const exportSection = sections.find((s) => s.id === SECTION.export)
  if (exportSection && exportNames(exportSection.body).includes(FUEL_EXPORT)) return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice()

  const importSection = sections.find((s) => s.id === SECTION.import)
  const importedGlobals = importSection ? countImportedGlobals(importSection.body) : 0
  const globalSection = sections.find((s) => s.id === SECTION.global)
  const definedGlobals = globalSection ? new Reader(globalSection.body).u32() : 0
  const fuelIndex = importedGlobals + definedGlobals

  const utf8 = new TextEncoder()
  const newGlobals = [
    [0x7f, 0x01, 0x41, ...sleb(fuel), 0x0b], // mutable i32 fuel
    [0x7f, 0x00, 0x41, ...sleb(fuel), 0x0b], // immutable i32 budget
  ]
  const newExports = [
    [...vecBytes(utf8.encode(FUEL_EXPORT)), 0x03, ...uleb(fuelIndex)],
    [...vecBytes(utf8.encode(FUEL_BUDGET_EXPORT)), 0x03, ...uleb(fuelIndex + 1)],
  ]
  const out: Array<{ id: number; body: Uint8Array }> = []
  for (const s of sections) {
    if (s.id === SECTION.global) out.push({ id: s.id, body: appendToVector(s.body, newGlobals) })
    else if (s.id === SECTION.export) out.push({ id: s.id, body: appendToVector(s.body, newExports) })
    else if (s.id === SECTION.memory) out.push({ id: s.id, body: boundMemories(s.body, maxPages) })
    else if (s.id === SECTION.code) out.push({ id: s.id, body: meterCode(s.body, fuelIndex) })
    else out.push(s)
  }
  if (!globalSection) insertInOrder(out, { id: SECTION.global, body: appendToVector(Uint8Array.of(0), newGlobals) })
  if (!exportSection) insertInOrder(out, { id: SECTION.export, body: appendToVector(Uint8Array.of(0), newExports) })

  const chunks: Uint8Array[] = [bytes.subarray(0, 8)]
  for (const s of out) chunks.push(Uint8Array.from([s.id, ...uleb(s.body.length)]), s.body)
  return concat(chunks)
}

function insertInOrder(sections: Array<{ id: number; body: Uint8Array }>, section: { id: number; body: Uint8Array }): void {
  const rank = ORDER[section.id]!
  const at = sections.findIndex((s) => s.id !== SECTION.custom && (ORDER[s.id] ?? 0) > rank)
  if (at === -1) sections.push(section)
  else sections.splice(at, 0, section)
}

function appendToVector(body: Uint8Array, entries: number[][]): Uint8Array {
  const r = new Reader(body)
  const count = r.u32()
  const rest = body.subarray(r.pos)
  return concat([uleb(count + entries.length), rest, ...entries])
}

function exportNames(body: Uint8Array): string[] {
  const r = new Reader(body)
  const names: string[] = []
  for (let n = r.u32(); n > 0; n--) {
    names.push(new TextDecoder().decode(r.bytes(r.u32())))
    r.byte()
    r.u32()
  }
  return names
}

function countImportedGlobals(body: Uint8Array): number {
  const r = new Reader(body)
  let globals = 0
  for (let n = r.u32(); n > 0; n--) {
    r.bytes(r.u32())
    r.bytes(r.u32())
    const kind = r.byte()
    if (kind === 0) r.u32()
    else if (kind === 1) {
      r.refType()
      r.limits()
    } else if (kind === 2) r.limits()
    else if (kind === 3) {
      r.valType()
      r.byte()
      globals++
    } else if (kind === 4) {
      r.byte()
      r.u32()
    } else throw new WasmMeterError(`unknown import kind ${kind}`)
  }
  return globals
}

function boundMemories(body: Uint8Array, maxPages: number): Uint8Array {
  const r = new Reader(body)
  const count = r.u32()
  const out: number[] = [...uleb(count)]
  for (let i = 0; i < count; i++) {
    const flags = r.byte()
    if (flags & 0x04) throw new WasmMeterError('64-bit memories are not supported')
    const min = r.u32()
    const max = flags & 0x01 ? r.u32() : undefined
    if (min > maxPages) throw new WasmMeterError(`the module asks for ${min} pages of memory at start; the bound is ${maxPages}`)
    out.push(flags | 0x01, ...uleb(min), ...uleb(max === undefined ? maxPages : Math.min(max, maxPages)))
  }
  return Uint8Array.from(out)
}

/** global.get f; i32.const 1; i32.sub; global.set f; global.get f; i32.const 0; i32.lt_s; if unreachable end */
function fuelCheck(index: number): Uint8Array {
  const g = uleb(index)
  return Uint8Array.from([0x23, ...g, 0x41, 0x01, 0x6b, 0x24, ...g, 0x23, ...g, 0x41, 0x00, 0x48, 0x04, 0x40, 0x00, 0x0b])
}

function meterCode(body: Uint8Array, fuelIndex: number): Uint8Array {
  const check = fuelCheck(fuelIndex)
  const r = new Reader(body)
  const count = r.u32()
  const out: Uint8Array[] = [Uint8Array.from(uleb(count))]
  for (let i = 0; i < count; i++) {
    const size = r.u32()
    const end = r.pos + size
    const fn = new Reader(body.subarray(0, end), r.pos)
    for (let groups = fn.u32(); groups > 0; groups--) {
      fn.u32()
      fn.valType()
    }
    const pieces: Uint8Array[] = [body.subarray(r.pos, fn.pos), check]
    let from = fn.pos
    while (!fn.done()) {
      const op = fn.instruction()
      if (op === 0x03) {
        pieces.push(body.subarray(from, fn.pos), check)
        from = fn.pos
      }
    }
    pieces.push(body.subarray(from, end))
    const fnBody = concat(pieces)
    out.push(Uint8Array.from(uleb(fnBody.length)), fnBody)
    r.pos = end
  }
  return concat(out)
}

class Reader {
  constructor(
    private readonly buf: Uint8Array,
    public pos = 0,
  ) {}

  done(): boolean {
    return this.pos >= this.buf.length
  }

  byte(): number {
    if (this.pos >= this.buf.length) throw new WasmMeterError('unexpected end of module')
    return this.buf[this.pos++]!
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new WasmMeterError('unexpected end of module')
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /** An unsigned LEB128 (u32, or u64 for memory64 offsets: only skipped). */
  u32(): number {
    let result = 0
    let shift = 0
    for (;;) {
      const b = this.byte()
      if (shift < 32) result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
      shift += 7
      if (shift > 70) throw new WasmMeterError('LEB128 too long')
    }
  }

  /** A signed LEB128, only skipped. */
  sleb(): void {
    for (let n = 0; (this.byte() & 0x80) !== 0; n++) if (n > 10) throw new WasmMeterError('LEB128 too long')
  }

  limits(): void {
    const flags = this.byte()
    this.u32()
    if (flags & 0x01) this.u32()
  }

  heapType(): void {
    this.sleb()
  }

  refType(): void {
    const t = this.byte()
    if (t === 0x63 || t === 0x64) this.heapType()
  }

  valType(): void {
    this.refType()
  }

  blockType(): void {
    const t = this.buf[this.pos]
    if (t === 0x40 || t === 0x7f || t === 0x7e || t === 0x7d || t === 0x7c || t === 0x7b || t === 0x70 || t === 0x6f) this.pos++
    else if (t === 0x63 || t === 0x64) this.refType()
    else this.sleb()
  }

  memarg(): void {
    const align = this.u32()
    if (align & 0x40) this.u32() // multi-memory: a memory index follows
    this.u32()
  }

  /** Skips one instruction with its immediates; returns its opcode (prefix ops: the prefix). */
  instruction(): number {
    const op = this.byte()
    switch (op) {
      case 0x02: case 0x03: case 0x04: case 0x06:
        this.blockType()
        break
      case 0x07: case 0x08: case 0x09: case 0x0c: case 0x0d: case 0x10: case 0x12: case 0x14: case 0x15: case 0x18:
      case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26: case 0xd2: case 0xd5: case 0xd6:
        this.u32()
        break
      case 0x0e:
        for (let n = this.u32(); n >= 0; n--) this.u32()
        break
      case 0x11: case 0x13:
        this.u32()
        this.u32()
        break
      case 0x1c:
        for (let n = this.u32(); n > 0; n--) this.valType()
        break
      case 0x1f: {
        this.blockType()
        for (let n = this.u32(); n > 0; n--) {
          const kind = this.byte()
          if (kind === 0 || kind === 1) this.u32()
          this.u32()
        }
        break
      }
      case 0x3f: case 0x40:
        this.u32()
        break
      case 0x41: case 0x42:
        this.sleb()
        break
      case 0x43:
        this.bytes(4)
        break
      case 0x44:
        this.bytes(8)
        break
      case 0xd0:
        this.heapType()
        break
      case 0xfc:
        this.prefixFC()
        break
      case 0xfd:
        this.prefixFD()
        break
      case 0xfe: {
        const sub = this.u32()
        if (sub === 0x03) this.byte()
        else this.memarg()
        break
      }
      default:
        if (op >= 0x28 && op <= 0x3e) this.memarg()
        else if (!(op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x19 || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4) || op === 0xd1 || op === 0xd3 || op === 0xd4)) {
          throw new WasmMeterError(`unsupported instruction 0x${op.toString(16)} at byte ${this.pos - 1}`)
        }
    }
    return op
  }

  private prefixFC(): void {
    const sub = this.u32()
    if (sub <= 7) return
    if (sub === 8 || sub === 10 || sub === 12 || sub === 14) {
      this.u32()
      this.u32()
    } else if (sub <= 17) this.u32()
    else throw new WasmMeterError(`unsupported instruction 0xfc ${sub}`)
  }

  private prefixFD(): void {
    const sub = this.u32()
    if (sub <= 11 || sub === 92 || sub === 93) this.memarg()
    else if (sub === 12 || sub === 13) this.bytes(16)
    else if (sub >= 21 && sub <= 34) this.byte()
    else if (sub >= 84 && sub <= 91) {
      this.memarg()
      this.byte()
    }
  }
}

function uleb(value: number): number[] {
  const out: number[] = []
  let v = value
  do {
    let b = v % 128
    v = Math.floor(v / 128)
    if (v !== 0) b |= 0x80
    out.push(b)
  } while (v !== 0)
  return out
}

function sleb(value: number): number[] {
  const out: number[] = []
  let v = value
  for (;;) {
    const b = v & 0x7f
    v >>= 7
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b)
      return out
    }
    out.push(b | 0x80)
  }
}

function vecBytes(bytes: Uint8Array): number[] {
  return [...uleb(bytes.length), ...bytes]
}

function concat(parts: Array<Uint8Array | number[]>): Uint8Array<ArrayBuffer> {
  let total = 0
  for (const p of parts) total += p.length
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
