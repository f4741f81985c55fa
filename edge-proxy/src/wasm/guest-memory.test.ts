import { describe, expect, it } from 'vitest'
import { GuestMemory } from './guest-memory'
import { bytesToByteString, serializeHeaderMap, type HeaderPairs } from './header-map'

/** A guest memory with a bump allocator, and what a host call returned through the two return pointers. */
function guest() {
  const memory = new WebAssembly.Memory({ initial: 1 })
  let next = 64
  const mem = new GuestMemory(memory, (size) => {
    const ptr = next
    next += size
    if (next > memory.buffer.byteLength) memory.grow(Math.ceil((next - memory.buffer.byteLength) / 65536))
    return ptr
  })
  const returned = (): Uint8Array => {
    const view = new DataView(memory.buffer)
    const ptr = view.getUint32(0, true)
    return new Uint8Array(memory.buffer, ptr, view.getUint32(4, true)).slice()
  }
  return { mem, returned }
}

describe('GuestMemory return values', () => {
  it.each([
    ['short ASCII', 'user-42'],
    ['short Latin-1', 'caf\u00e9\u00ff'],
    ['long ASCII', 'x'.repeat(1000)],
    ['long with a Latin-1 byte late', `${'a'.repeat(100)}\u00c3\u00a9`],
    ['bigger than the scratch', 'v'.repeat(10_000)],
  ])('returns a byte string char for byte: %s', (_case, value) => {
    const { mem, returned } = guest()
    mem.returnByteString(value, 0, 4)
    expect(returned()).toEqual(Uint8Array.from(value, (c) => c.charCodeAt(0)))
  })

  it.each([['short', 'é🚀'], ['long', `${'a'.repeat(100)}🚀`]])('returns %s Unicode text as its UTF-8 bytes', (_case, value) => {
    const { mem, returned } = guest()
    mem.returnByteString(value, 0, 4)
    expect(returned()).toEqual(new TextEncoder().encode(value))
  })

  it.each<[string, HeaderPairs]>([
    ['bytes only', [[':path', '/'], ['authorization', `Bearer ${'t'.repeat(900)}`], ['x', '\u00ff']]],
    ['with Unicode', [['k', 'a'], ['u', `${'a'.repeat(80)}🚀`]]],
    ['bigger than the scratch', [['x-large', 'v'.repeat(9000)]]],
  ])('returns a header map exactly as serializeHeaderMap lays it out: %s', (_case, pairs) => {
    const { mem, returned } = guest()
    mem.returnHeaderMap(pairs, 0, 4)
    expect(returned()).toEqual(serializeHeaderMap(pairs))
    expect(bytesToByteString(returned()).length).toBe(serializeHeaderMap(pairs).length)
  })
})
