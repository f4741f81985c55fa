// Small helpers more than one filter needs: cookies, a stable hash for sticky percentages, JSON escaping.
import { isSpace } from "~lib/util/string";

/**
 * The value of cookie `name` in a `cookie` header (`a=1; b=2`), or null. The first match wins. Each `;`-separated
 * part is trimmed, its name (before the first `=`, trimmed) compared and its value trimmed, as
 * `split(";")`/`trim()` would, but by index: only the value found becomes a new string.
 */
export function cookieValue(header: string | null, name: string): string | null {
  if (header == null) return null;
  const text = changetype<usize>(header);
  const length = header.length;
  let from = 0;
  while (from <= length) {
    let end = header.indexOf(";", from);
    if (end < 0) end = length;
    const next = end + 1;
    let start = from;
    while (end > start && isSpace(header.charCodeAt(end - 1))) end--;
    while (start < end && isSpace(header.charCodeAt(start))) start++;
    from = next;
    const eq = header.indexOf("=", start);
    if (eq <= start || eq >= end) continue;
    let nameEnd = eq;
    while (nameEnd > start && isSpace(header.charCodeAt(nameEnd - 1))) nameEnd--;
    if (nameEnd - start != name.length) continue;
    if (memory.compare(text + (<usize>start << 1), changetype<usize>(name), <usize>name.length << 1) != 0) continue;
    let valueStart = eq + 1;
    while (valueStart < end && isSpace(header.charCodeAt(valueStart))) valueStart++;
    // RFC 6265 allows a DQUOTE-wrapped cookie-value; the quotes are not part of it.
    if (end - valueStart >= 2 && header.charCodeAt(valueStart) == 0x22 && header.charCodeAt(end - 1) == 0x22) {
      return header.substring(valueStart + 1, end - 1);
    }
    return header.substring(valueStart, end);
  }
  return null;
}

/**
 * A bucket in [0, 10000) for `key`, the same for the same key in every VM, proxy and release: FNV-1a 64 over the
 * UTF-8 bytes, then MurmurHash3's fmix64 finaliser, because FNV alone spreads sequential ids (user-1, user-2…)
 * poorly over the low digits a modulo keeps. Changing this function moves users between canary groups.
 */
export function hashPercentBucket(key: string): u32 {
  return <u32>(hash64(key) % 10000);
}

/** FNV-1a 64 + fmix64 of the UTF-8 bytes of `key` (see hashPercentBucket); stable across VMs and releases. */
export function hash64(key: string): u64 {
  return fmix64(fnv1a64(FNV_OFFSET_BASIS, key));
}

/**
 * hashPercentBucket(prefix + key) for `state` = fnv1a64(FNV_OFFSET_BASIS, prefix), without building the string
 * (`prefix` must not end inside a surrogate pair, so its UTF-8 bytes followed by key's are those of the whole).
 */
export function percentBucketAfter(state: u64, key: string): u32 {
  return <u32>(fmix64(fnv1a64(state, key)) % 10000);
}

export const FNV_OFFSET_BASIS: u64 = 0xcbf29ce484222325;

// Keys are encoded here rather than into a fresh buffer when they fit (3 bytes per UTF-16 unit at most).
const HASH_SCRATCH_SIZE: i32 = 1024;
const HASH_SCRATCH: usize = memory.data(1024, 16);

/** FNV-1a 64 over the UTF-8 bytes of `key`, continuing from `h`. */
export function fnv1a64(h: u64, key: string): u64 {
  let base = HASH_SCRATCH;
  let length: usize;
  // Nothing allocates during the loop, so the long key's buffer stays put while it is read.
  let long: ArrayBuffer | null = null;
  if (key.length * 3 <= HASH_SCRATCH_SIZE) {
    length = String.UTF8.encodeUnsafe(changetype<usize>(key), key.length, HASH_SCRATCH);
  } else {
    long = String.UTF8.encode(key);
    base = changetype<usize>(long);
    length = long.byteLength;
  }
  return fnv1a64Bytes(h, base, length);
}

/** FNV-1a 64 over `length` bytes at `ptr`, continuing from `h` (a key already in bytes). */
export function fnv1a64Bytes(h: u64, ptr: usize, length: usize): u64 {
  for (let i: usize = 0; i < length; i++) {
    h ^= <u64>load<u8>(ptr + i);
    h *= 0x100000001b3;
  }
  return h;
}

/** MurmurHash3's 64-bit finaliser. */
function fmix64(h: u64): u64 {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccd;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53;
  h ^= h >> 33;
  return h;
}

/** `s` as the inside of a JSON string literal (quotes, backslashes and control characters escaped). */
export function jsonEscape(s: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c != 0x22 && c != 0x5c && c >= 0x20) continue;
    out += s.substring(start, i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else out += "\\u" + (<u32>c).toString(16).padStart(4, "0");
    start = i + 1;
  }
  return out + s.substring(start);
}

/** Decodes base64url (RFC 4648 §5, padding optional); null on a character outside the alphabet. */
export function decodeBase64Url(text: string): ArrayBuffer | null {
  const out = new Uint8Array((text.length * 3) >> 2);
  let bits: u32 = 0;
  let count: i32 = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let v: i32 = -1;
    if (c >= 0x41 && c <= 0x5a) v = c - 0x41;
    else if (c >= 0x61 && c <= 0x7a) v = c - 0x61 + 26;
    else if (c >= 0x30 && c <= 0x39) v = c - 0x30 + 52;
    else if (c == 0x2d || c == 0x2b) v = 62;
    else if (c == 0x5f || c == 0x2f) v = 63;
    else if (c == 0x3d) break;
    if (v < 0) return null;
    bits = (bits << 6) | <u32>v;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[o++] = <u8>(bits >> count);
    }
  }
  return out.buffer.slice(0, o);
}
