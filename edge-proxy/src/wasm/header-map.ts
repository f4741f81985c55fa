/** An ordered list of header pairs: repeats and `:pseudo` headers kept as the proxy-wasm ABI sees them. */
export type HeaderPairs = Array<[string, string]>

const utf8 = new TextEncoder()

/**
 * Header names and values are byte strings in fetch (`Headers` holds one char per wire byte, 0–255), and
 * bytes in the ABI. Converting char-for-byte keeps every header byte exact in both directions, including
 * UTF-8 a client sent (which `Headers` shows as Latin-1). A string with a char above 0xFF is not a byte string
 * (a caller's own Unicode text): it is sent as its UTF-8 bytes.
 */
export function byteStringToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0xff) return utf8.encode(s)
    out[i] = c
  }
  return out
}

// Chunked: String.fromCharCode with a huge spread overflows the call stack.
const CHUNK = 8192

export function bytesToByteString(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode(...bytes.subarray(i, i + CHUNK))
  }
  return out
}

/**
 * Serialises a header map (names and values as byte strings, see byteStringToBytes) as the spec's "Serialization" section lays it out: u32 count, then count × (u32 key
 * length, u32 value length), then each key and value followed by a NUL byte, all little-endian. Lengths exclude
 * the NUL. (The spec's worked example prints byte values oddly; this follows the layout, as DESIGN.md notes.)
 */
export function serializeHeaderMap(pairs: ReadonlyArray<readonly [string, string]>): Uint8Array {
  const encoded = pairs.map(([k, v]) => [byteStringToBytes(k), byteStringToBytes(v)] as const)
  let size = 4 + encoded.length * 8
  for (const [k, v] of encoded) size += k.length + 1 + v.length + 1
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  view.setUint32(0, encoded.length, true)
  let lengths = 4
  let data = 4 + encoded.length * 8
  for (const [k, v] of encoded) {
    view.setUint32(lengths, k.length, true)
    view.setUint32(lengths + 4, v.length, true)
    lengths += 8
    out.set(k, data)
    data += k.length + 1
    out.set(v, data)
    data += v.length + 1
  }
  return out
}

/**
 * Parses a serialised header map. An empty map may arrive as zero bytes or a single 0x00 byte (spec).
 * @throws RangeError when the bytes do not follow the layout.
 */
export function deserializeHeaderMap(bytes: Uint8Array): HeaderPairs {
  if (bytes.length <= 1) return []
  if (bytes.length < 4) throw new RangeError('header map shorter than its count')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = view.getUint32(0, true)
  let lengths = 4
  let data = 4 + count * 8
  if (data > bytes.length) throw new RangeError('header map count exceeds its size')
  const pairs: HeaderPairs = []
  for (let i = 0; i < count; i++) {
    const keyLength = view.getUint32(lengths, true)
    const valueLength = view.getUint32(lengths + 4, true)
    lengths += 8
    if (data + keyLength + 1 + valueLength + 1 > bytes.length) throw new RangeError('header map entry overruns')
    const key = bytesToByteString(bytes.subarray(data, data + keyLength))
    data += keyLength + 1
    const value = bytesToByteString(bytes.subarray(data, data + valueLength))
    data += valueLength + 1
    pairs.push([key, value])
  }
  return pairs
}

/** Header names are case-insensitive; the ABI hands them over lower-cased as HTTP/2 and Envoy do. */
export function normalizeHeaderName(name: string): string {
  return name.toLowerCase()
}
