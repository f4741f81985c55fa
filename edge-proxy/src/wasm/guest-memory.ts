import { headerMapSizeIfBytes, serializeHeaderMap, writeByteString, writeHeaderMap, type HeaderPairs } from './header-map'
import { FilterAbiError } from './wasm-errors'

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()
// Texts up to this many bytes are remembered by readString (V8 keeps such small copies on its heap).
const SHORT_TEXT = 64

/**
 * Reads and writes a guest's linear memory. Views are re-created whenever the memory's buffer changes: growth
 * (from the guest or from `malloc` called inside a host function) detaches the old ArrayBuffer, so a view kept
 * across a guest call would read zeros or throw. Until then the same views serve every host call. Reading
 * `memory.buffer` costs a call into V8 per access, so a non-shared memory is re-read only when the view went empty
 * (growth detached its buffer, which leaves it zero bytes long); a shared memory does not detach on growth and is
 * compared on every access.
 */
export class GuestMemory {
  #memory: WebAssembly.Memory
  #allocate: ((size: number) => number) | undefined
  #buffer: ArrayBuffer | SharedArrayBuffer | null = null
  #bytes = new Uint8Array(0)
  #view = new DataView(new ArrayBuffer(0))
  #shared: boolean
  #lastText = ''
  #lastTextBytes = new Uint8Array(0)
  /** Where returnByteString and returnHeaderMap serialise before copying into the guest's allocation. */
  #scratch = new Uint8Array(4096)

  constructor(memory: WebAssembly.Memory, allocate: ((size: number) => number) | undefined) {
    this.#memory = memory
    this.#allocate = allocate
    this.#shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer
  }

  /** Drops the views; the next access makes new ones. */
  invalidate(): void {
    this.#buffer = null
    this.#bytes = new Uint8Array(0)
  }

  get bytes(): Uint8Array {
    if (this.#bytes.length === 0 || this.#shared) this.#refresh()
    return this.#bytes
  }

  get view(): DataView {
    if (this.#bytes.length === 0 || this.#shared) this.#refresh()
    return this.#view
  }

  #refresh(): void {
    const buffer = this.#memory.buffer
    if (buffer !== this.#buffer) {
      this.#buffer = buffer
      this.#bytes = new Uint8Array(buffer)
      this.#view = new DataView(buffer)
    }
  }

  /** True when [ptr, ptr+len) lies inside memory; host functions answer INVALID_MEMORY_ACCESS otherwise. */
  inBounds(ptr: number, len: number): boolean {
    return ptr >= 0 && len >= 0 && ptr + len <= this.bytes.length
  }

  /** A copy, so later guest calls cannot change what the host holds. */
  read(ptr: number, len: number): Uint8Array {
    return this.bytes.slice(ptr, ptr + len)
  }

  readString(ptr: number, len: number): string {
    const bytes = this.bytes
    if (len > SHORT_TEXT) return utf8Decoder.decode(bytes.subarray(ptr, ptr + len))
    // Short texts repeat call after call (a shared-data key read then written, a foreign function's name): the
    // last one is remembered with its bytes, and comparing them is cheaper than a TextDecoder call.
    const last = this.#lastTextBytes
    if (last.length === len) {
      let i = 0
      while (i < len && bytes[ptr + i] === last[i]) i++
      if (i === len) return this.#lastText
    }
    const text = utf8Decoder.decode(bytes.subarray(ptr, ptr + len))
    this.#lastTextBytes = bytes.slice(ptr, ptr + len)
    this.#lastText = text
    return text
  }

  u32(ptr: number): number {
    return this.view.getUint32(ptr, true)
  }

  setU32(ptr: number, value: number): void {
    this.view.setUint32(ptr, value >>> 0, true)
  }

  setU64(ptr: number, value: bigint): void {
    this.view.setBigUint64(ptr, BigInt.asUintN(64, value), true)
  }

  /**
   * Copies `data` into a fresh guest allocation (`proxy_on_memory_allocate`, else `malloc`) and writes its address
   * and size to the two return pointers, as every `return_*_data`/`return_*_size` pair in the ABI expects.
   * @throws FilterAbiError when the module exports no allocator or the allocator returns 0.
   */
  returnBytes(data: Uint8Array, returnPtr: number, returnSize: number): void {
    const ptr = this.#allocateReturn(data.length, returnPtr, returnSize)
    this.bytes.set(data, ptr)
  }

  /**
   * returnBytes for a byte string (a header value): its bytes char for byte, or its UTF-8 when it holds a char
   * above 0xFF (header-map.ts byteStringToBytes). Written to a host-side scratch first, so the guest is asked
   * for exactly the right size without a separate pass to check the text.
   */
  returnByteString(value: string, returnPtr: number, returnSize: number): void {
    if (value.length < SHORT_TEXT) {
      // Short values (most): checked, then written straight into the allocation; a scratch costs more here.
      for (let i = 0; i < value.length; i++) {
        if (value.charCodeAt(i) > 0xff) return this.returnBytes(utf8.encode(value), returnPtr, returnSize)
      }
      const ptr = this.#allocateReturn(value.length, returnPtr, returnSize)
      const bytes = this.bytes
      for (let i = 0; i < value.length; i++) bytes[ptr + i] = value.charCodeAt(i)
      return
    }
    const scratch = this.#scratchOf(value.length)
    if (!writeByteString(scratch, 0, value)) return this.returnBytes(utf8.encode(value), returnPtr, returnSize)
    this.returnBytes(scratch.subarray(0, value.length), returnPtr, returnSize)
  }

  /** returnBytes for serializeHeaderMap(pairs), serialised to the scratch and copied once. */
  returnHeaderMap(pairs: HeaderPairs, returnPtr: number, returnSize: number): void {
    const size = headerMapSizeIfBytes(pairs)
    const scratch = this.#scratchOf(size)
    if (!writeHeaderMap(pairs, scratch, 0)) return this.returnBytes(serializeHeaderMap(pairs), returnPtr, returnSize)
    this.returnBytes(scratch.subarray(0, size), returnPtr, returnSize)
  }

  /** A host-side buffer of at least `size` bytes, reused across calls (only read before the next one). */
  #scratchOf(size: number): Uint8Array {
    if (this.#scratch.length < size) this.#scratch = new Uint8Array(Math.max(size, this.#scratch.length * 2))
    return this.#scratch
  }

  /**
   * Allocates `size` bytes in the guest (`proxy_on_memory_allocate`, else `malloc`) and writes the address and
   * size to the return pointers; the caller fills the allocation (through `bytes`: allocating may grow memory).
   * @throws FilterAbiError when the module exports no allocator or the allocation is 0 or out of bounds.
   */
  #allocateReturn(size: number, returnPtr: number, returnSize: number): number {
    if (!this.#allocate) throw new FilterAbiError('module exports neither proxy_on_memory_allocate nor malloc')
    // Asking for at least one byte: some allocators return 0 (failure) for a zero-sized request.
    const ptr = this.#allocate(Math.max(size, 1)) >>> 0
    if (ptr === 0) throw new FilterAbiError('guest allocator returned 0')
    if (!this.inBounds(ptr, size)) throw new FilterAbiError('guest allocator returned memory out of bounds')
    this.setU32(returnPtr, ptr)
    this.setU32(returnSize, size)
    return ptr
  }

  returnString(value: string, returnPtr: number, returnSize: number): void {
    this.returnBytes(utf8.encode(value), returnPtr, returnSize)
  }
}
