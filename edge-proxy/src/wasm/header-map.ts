/** An ordered list of header pairs: repeats and `:pseudo` headers kept as the proxy-wasm ABI sees them. */
export type HeaderPairs = Array<[string, string]>

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()
// Regular expressions scan a string natively, several times faster than a charCodeAt loop on long values (a
// ~1 KB token); V8 answers NOT_BYTE_STRING on a one-byte string without scanning at all.
const NOT_BYTE_STRING = /[\u0100-\uffff]/
const NOT_ASCII = /[^\0-\x7f]/
// From this length on, ASCII text is converted by TextEncoder/TextDecoder (native) rather than char by char.
const LONG = 64

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
// Below this, a char-by-char loop beats building an argument list for String.fromCharCode.
const SHORT = 24

export function bytesToByteString(bytes: Uint8Array): string {
  const n = bytes.length
  if (n >= LONG) {
    // ASCII is its own UTF-8: decoded natively it is the byte string. Equal lengths and no char past 0x7F
    // prove every byte was ASCII (an invalid byte would decode to U+FFFD, a multi-byte sequence shorten the text).
    const text = utf8Decoder.decode(bytes)
    if (text.length === n && !NOT_ASCII.test(text)) return text
  }
  if (n <= SHORT) {
    let out = ''
    for (let i = 0; i < n; i++) out += String.fromCharCode(bytes[i]!)
    return out
  }
  let out = ''
  for (let i = 0; i < n; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[])
  }
  return out
}

/** Whether every char of `s` is one byte (≤ 0xFF), so it crosses char for byte. */
export function isByteString(s: string): boolean {
  return !NOT_BYTE_STRING.test(s)
}

/**
 * Writes `s` at `out[at…]` one byte per char, as long as it is a byte string: false (with `out` partly written)
 * at the first char above 0xFF. `out` must hold s.length bytes from `at`. No regular-expression pre-check: a
 * long value goes through TextEncoder (native), and when it read and wrote exactly one byte per char every char
 * was ASCII and the bytes are the byte string; anything else is redone char by char.
 */
export function writeByteString(out: Uint8Array, at: number, s: string): boolean {
  const n = s.length
  if (n >= LONG) {
    const { read, written } = utf8.encodeInto(s, out.subarray(at, at + n))
    if (read === n && written === n) return true
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c > 0xff) return false
    out[at + i] = c
  }
  return true
}

/**
 * Serialises a header map (names and values as byte strings, see byteStringToBytes) as the spec's "Serialization" section lays it out: u32 count, then count × (u32 key
 * length, u32 value length), then each key and value followed by a NUL byte, all little-endian. Lengths exclude
 * the NUL. (The spec's worked example prints byte values oddly; this follows the layout, as DESIGN.md notes.)
 */
export function serializeHeaderMap(pairs: ReadonlyArray<readonly [string, string]>): Uint8Array {
  const out = new Uint8Array(headerMapSizeIfBytes(pairs))
  return writeHeaderMap(pairs, out, 0) ? out : serializeEncoded(pairs)
}

/**
 * The serialised size of `pairs` when every name and value is a byte string (nearly every map): what
 * writeHeaderMap writes. Not checked here: writeHeaderMap finds out while writing.
 */
export function headerMapSizeIfBytes(pairs: ReadonlyArray<readonly [string, string]>): number {
  let size = 4 + pairs.length * 8
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!
    size += pair[0].length + pair[1].length + 2
  }
  return size
}

/** The serialised size of a map whose names and values are all byte strings, else -1 (serializeHeaderMap). */
export function byteStringMapSize(pairs: ReadonlyArray<readonly [string, string]>): number {
  for (let i = 0; i < pairs.length; i++) {
    const [k, v] = pairs[i]!
    if (!isByteString(k) || !isByteString(v)) return -1
  }
  return headerMapSizeIfBytes(pairs)
}

/**
 * Writes the map in the spec's layout at `out[at…]` (headerMapSizeIfBytes bytes), names and values char for byte:
 * false, with `out` partly written, when one is not a byte string (serializeHeaderMap then encodes it).
 */
export function writeHeaderMap(pairs: ReadonlyArray<readonly [string, string]>, out: Uint8Array, at: number): boolean {
  setU32(out, at, pairs.length)
  let lengths = at + 4
  let data = at + 4 + pairs.length * 8
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!
    const k = pair[0]
    const v = pair[1]
    setU32(out, lengths, k.length)
    setU32(out, lengths + 4, v.length)
    lengths += 8
    if (!writeByteString(out, data, k)) return false
    out[data + k.length] = 0
    data += k.length + 1
    if (!writeByteString(out, data, v)) return false
    out[data + v.length] = 0
    data += v.length + 1
  }
  return true
}

/** Little-endian u32 by bytes: no DataView per map (guest memory is rarely 4-byte aligned for it anyway). */
function setU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value & 0xff
  out[at + 1] = (value >>> 8) & 0xff
  out[at + 2] = (value >>> 16) & 0xff
  out[at + 3] = value >>> 24
}

/** The general case: some name or value holds a char above 0xFF and goes as its UTF-8 bytes. */
function serializeEncoded(pairs: ReadonlyArray<readonly [string, string]>): Uint8Array {
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

/**
 * The index of the first pair (from `from` on) named as the name whose bytes are `bytes[ptr, ptr + len)`, i.e.
 * whose name is normalizeHeaderName(bytesToByteString(those bytes)) (map names are normal already), compared
 * byte by byte without making that string: host calls look names up far more often than they add one.
 * -1 when there is none.
 */
export function findHeader(pairs: HeaderPairs, bytes: Uint8Array, ptr: number, len: number, from = 0): number {
  next: for (let i = from; i < pairs.length; i++) {
    const name = pairs[i]![0]
    if (name.length !== len) continue
    for (let j = 0; j < len; j++) {
      let c = bytes[ptr + j]!
      // toLowerCase of a byte: ASCII and Latin-1 capitals (not × at 0xD7).
      if ((c >= 0x41 && c <= 0x5a) || (c >= 0xc0 && c <= 0xde && c !== 0xd7)) c += 0x20
      if (name.charCodeAt(j) !== c) continue next
    }
    return i
  }
  return -1
}

/** Header names are case-insensitive; the ABI hands them over lower-cased as HTTP/2 and Envoy do. */
export function normalizeHeaderName(name: string): string {
  // Names are nearly always lower case already: look for any char toLowerCase may change (ASCII and Latin-1
  // capitals, anything past Latin-1) before making a new string.
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0xc0 && c <= 0xde) || c > 0xff) return name.toLowerCase()
  }
  return name
}

// What fetch's Headers accepts without changing it: a lower-case token name, and a value with no NUL, CR or LF,
// no leading or trailing whitespace (Headers strips it) and no char above 0xFF (not a byte string).
const PLAIN_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/
const PLAIN_VALUE = /^(?:[^\0\n\r\t \u0100-\uffff](?:[^\0\n\r\u0100-\uffff]*[^\0\n\r\t \u0100-\uffff])?)?$/

/**
 * Header pairs exactly as fetch Headers lists them (lower-case names, sorted, repeats combined, values trimmed and
 * valid): what a filter's result hands to the next filter, so no Headers is built in between. Only the host
 * makes these (normalizeAsHeaders), so holding one is the proof that its pairs need no checking again.
 */
export class HeaderList {
  /** @internal use normalizeAsHeaders or HeaderList.ofHeaders. */
  constructor(readonly pairs: HeaderPairs) {}

  /** The entries of a fetch Headers, which are normal by definition. */
  static ofHeaders(headers: Headers): HeaderList {
    return new HeaderList([...headers.entries()])
  }
}

function endsWithSpace(value: string): boolean {
  const c = value.charCodeAt(value.length - 1)
  return c === 0x20 || c === 0x09
}

// How far ahead of the last matched pair normalizeAsHeaders looks for the next one of its `trusted` list.
const TRUSTED_LOOKAHEAD = 4

/**
 * The pairs exactly as `new Headers(pairs).entries()` would give them — names sorted, repeats combined with ", "
 * (each `set-cookie` kept apart), values trimmed — without building a Headers: filters of one chain hand their
 * maps on as a HeaderList, and each sees what it would have seen through a Headers.
 * `trusted`: the list the pairs were made from. The host edits maps by making new arrays that keep the untouched
 * pair tuples themselves, in order, so a pair that is one of its tuples is normal already and is not checked again
 * (a filter that adds a header then costs one check, not one per header of the request). A combined value ending in
 * an empty repeat ("a, ") is checked anyway: Headers would trim it.
 * @throws TypeError (from Headers, with its message) on a name or value Headers refuses.
 */
export function normalizeAsHeaders(pairs: HeaderPairs, trusted?: HeaderList): HeaderList {
  const known = trusted?.pairs
  let next = 0
  let sorted = true
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!
    if (i > 0 && !(pairs[i - 1]![0] < pair[0])) sorted = false
    if (known !== undefined) {
      const end = Math.min(known.length, next + TRUSTED_LOOKAHEAD)
      let at = next
      while (at < end && known[at] !== pair) at++
      if (at < end) {
        next = at + 1
        // Normal, but not plain when a repeat it combines was empty ("a, "): Headers would trim that again.
        if (!endsWithSpace(pair[1])) continue
      }
    }
    // Anything Headers would change or refuse goes through Headers itself, for its exact result or error.
    if (!PLAIN_NAME.test(pair[0]) || !PLAIN_VALUE.test(pair[1])) return HeaderList.ofHeaders(new Headers(pairs))
  }
  if (sorted) return new HeaderList(pairs)
  // Stable insertion sort: a filter's map is sorted but for the few headers it added, so this is near linear.
  const order = pairs.slice()
  for (let i = 1; i < order.length; i++) {
    const pair = order[i]!
    let at = i
    while (at > 0 && order[at - 1]![0] > pair[0]) {
      order[at] = order[at - 1]!
      at--
    }
    order[at] = pair
  }
  const out: HeaderPairs = []
  for (const pair of order) {
    const last = out[out.length - 1]
    // Pairs are never edited in place (they may be another list's): a combined repeat is a new pair.
    if (last !== undefined && last[0] === pair[0] && pair[0] !== 'set-cookie') out[out.length - 1] = [pair[0], `${last[1]}, ${pair[1]}`]
    else out.push(pair)
  }
  return new HeaderList(out)
}
