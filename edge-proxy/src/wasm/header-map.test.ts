import { describe, expect, it } from 'vitest'
import { bytesToByteString, deserializeHeaderMap, HeaderList, normalizeAsHeaders, serializeHeaderMap, type HeaderPairs } from './header-map'

describe('header map serialisation (spec "Serialization")', () => {
  it('lays out the spec example {a: 1, b: 22} as count, lengths, then NUL-terminated keys and values', () => {
    const bytes = serializeHeaderMap([['a', '1'], ['b', '22']])
    // u32 LE 2 | (1,1) | (1,2) | "a\0" "1\0" "b\0" "22\0"
    expect([...bytes]).toEqual([
      2, 0, 0, 0,
      1, 0, 0, 0, 1, 0, 0, 0,
      1, 0, 0, 0, 2, 0, 0, 0,
      0x61, 0, 0x31, 0, 0x62, 0, 0x32, 0x32, 0,
    ])
    expect(deserializeHeaderMap(bytes)).toEqual([['a', '1'], ['b', '22']])
  })

  it.each<[string, HeaderPairs]>([
    ['empty', []],
    ['repeated names keep order', [['set-cookie', 'a=1'], ['x', 'y'], ['set-cookie', 'b=2']]],
    ['empty values', [['x-empty', ''], [':path', '/']]],
    ['non-ASCII bytes (byte strings, as fetch Headers hold them)', [['x-name', '\u00ff\u0080 caf\u00c3\u00a9']]],
    ['large values', [['x-large', 'v'.repeat(256 * 1024)]]],
  ])('round-trips %s', (_case, pairs) => {
    expect(deserializeHeaderMap(serializeHeaderMap(pairs))).toEqual(pairs)
  })

  it('keeps header bytes exact: one byte per byte-string char, Unicode text as its UTF-8 bytes', () => {
    const latin1 = serializeHeaderMap([['k', '\u00e9']])
    expect(new DataView(latin1.buffer).getUint32(8, true)).toBe(1)
    const unicode = serializeHeaderMap([['k', 'é🚀']])
    const utf8 = new TextEncoder().encode('é🚀')
    expect(new DataView(unicode.buffer).getUint32(8, true)).toBe(utf8.length)
    expect(deserializeHeaderMap(unicode)).toEqual([['k', bytesToByteString(utf8)]])
    // Past the native ASCII path's length, Unicode found mid-way still goes as UTF-8, every other pair as bytes.
    const long = `${'a'.repeat(70)}\u00e9🚀`
    const mixed = serializeHeaderMap([['x', '\u00ff'], ['k', long]])
    expect(deserializeHeaderMap(mixed)).toEqual([['x', '\u00ff'], ['k', bytesToByteString(new TextEncoder().encode(long))]])
  })

  it.each([
    ['ASCII', 'a'.repeat(100)],
    ['a Latin-1 byte in long ASCII', `${'a'.repeat(70)}\u00e9${'b'.repeat(30)}`],
    ['bytes that are not UTF-8', '\u00ff\u00fe\u0080'.repeat(40)],
    ['valid UTF-8 bytes (kept as bytes, not decoded)', '\u00c3\u00a9'.repeat(50)],
    ['a truncated UTF-8 sequence', `${'x'.repeat(80)}\u00e2\u0082`],
  ])('keeps long byte strings byte for byte both ways: %s', (_case, value) => {
    const bytes = serializeHeaderMap([['k', value]])
    expect(bytes.subarray(14, 14 + value.length)).toEqual(Uint8Array.from(value, (c) => c.charCodeAt(0)))
    expect(deserializeHeaderMap(bytes)).toEqual([['k', value]])
    expect(bytesToByteString(Uint8Array.from(value, (c) => c.charCodeAt(0)))).toBe(value)
  })

  it('accepts both empty encodings: no bytes and a single 0x00', () => {
    expect(deserializeHeaderMap(new Uint8Array(0))).toEqual([])
    expect(deserializeHeaderMap(new Uint8Array([0]))).toEqual([])
    expect([...serializeHeaderMap([])]).toEqual([0, 0, 0, 0])
  })

  it('rejects maps whose lengths overrun the bytes', () => {
    const bytes = serializeHeaderMap([['abc', 'def']])
    expect(() => deserializeHeaderMap(bytes.subarray(0, bytes.length - 2))).toThrow(RangeError)
    expect(() => deserializeHeaderMap(new Uint8Array([9, 0, 0, 0, 1]))).toThrow(RangeError)
  })
})

describe('header pairs handed between filters (normalizeAsHeaders)', () => {
  it.each<[string, HeaderPairs]>([
    ['already sorted', [['accept', '*/*'], ['host', 'orders']]],
    ['unsorted, as a filter appends', [['host', 'o'], ['accept', '*/*'], ['x-jwt-claim-sub', 'u'], ['cookie', 'a=1']]],
    ['repeats combined, set-cookie kept apart, empty values', [['x', 'a'], ['set-cookie', 'z'], ['x', ''], ['set-cookie', 'y'], ['x', 'b']]],
    ['whitespace trimmed', [['b', ' x\t'], ['a', '1 ']]],
    ['Latin-1 and control bytes Headers allows', [['k', '\u00ff\u0080 caf\u00c3\u00a9'], ['v', 'a\u0007b']]],
  ])('lists %s exactly as fetch Headers would', (_case, pairs) => {
    const normal = normalizeAsHeaders(pairs.map(([k, v]) => [k, v]))
    expect(normal).toBeInstanceOf(HeaderList)
    expect(normal.pairs).toEqual([...new Headers(pairs).entries()])
    expect(normalizeAsHeaders(normal.pairs).pairs).toEqual(normal.pairs)
  })

  it('checks only the pairs a filter added when given the list the map was made from', () => {
    const incoming = normalizeAsHeaders([['accept', '*/*'], ['cookie', 'a=1'], ['host', 'o'], ['x', 'a'], ['x', 'b']])
    const [accept, cookie, host, x] = incoming.pairs
    // As the host edits maps: untouched tuples kept in order, one removed, new ones appended or put in place.
    const edited: HeaderPairs = [accept!, ['b-new', ' v '], host!, x!, ['x-jwt-claim-sub', 'u'], ['x', 'c'], ['set-cookie', 's']]
    expect(normalizeAsHeaders(edited, incoming).pairs).toEqual([...new Headers(edited).entries()])
    expect(incoming.pairs[3]).toEqual(['x', 'a, b'])
    expect(() => normalizeAsHeaders([cookie!, ['x y', '1']], incoming)).toThrow(/invalid header name/)
    expect(() => normalizeAsHeaders([cookie!, ['x', 'a\nb']], incoming)).toThrow(/invalid header value/)
  })

  it('lists random maps exactly as fetch Headers would', () => {
    const names = ['a', 'b', 'set-cookie', 'x-c', 'host', 'Z']
    const values = ['1', '', ' t ', 'v, w', '\u00e9']
    let seed = 7
    const pick = <T>(xs: T[]): T => xs[(seed = (seed * 1103515245 + 12345) % 2147483648) % xs.length]!
    for (let round = 0; round < 200; round++) {
      const pairs: HeaderPairs = Array.from({ length: round % 9 }, () => [pick(names).toLowerCase(), pick(values)])
      const expected = [...new Headers(pairs).entries()]
      const normal = normalizeAsHeaders(pairs)
      expect(normal.pairs).toEqual(expected)
      const edited: HeaderPairs = [...normal.pairs.filter(() => pick([true, true, false])), [pick(names).toLowerCase(), pick(values)]]
      expect(normalizeAsHeaders(edited, normal).pairs).toEqual([...new Headers(edited).entries()])
    }
  })

  it('refuses what Headers refuses, with its error', () => {
    expect(() => normalizeAsHeaders([['x y', '1']])).toThrow(/invalid header name/)
    expect(() => normalizeAsHeaders([['x', 'a\nb']])).toThrow(/invalid header value/)
    expect(() => normalizeAsHeaders([['x', '\u0100']])).toThrow(TypeError)
  })
})
