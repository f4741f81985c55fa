// Small helpers more than one filter needs: cookies, a stable hash for sticky percentages, JSON escaping.

/** The value of cookie `name` in a `cookie` header (`a=1; b=2`), or null. The first match wins. */
export function cookieValue(header: string | null, name: string): string | null {
  if (header == null) return null;
  const parts = header.split(";");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i].trim();
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    if (part.substring(0, eq).trim() != name) continue;
    let value = part.substring(eq + 1).trim();
    // RFC 6265 allows a DQUOTE-wrapped cookie-value; the quotes are not part of it.
    if (value.length >= 2 && value.charCodeAt(0) == 0x22 && value.charCodeAt(value.length - 1) == 0x22) {
      value = value.substring(1, value.length - 1);
    }
    return value;
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
  const bytes = Uint8Array.wrap(String.UTF8.encode(key));
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < bytes.length; i++) {
    h ^= <u64>bytes[i];
    h *= 0x100000001b3;
  }
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
