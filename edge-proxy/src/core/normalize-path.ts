/**
 * What policies see and what is forwarded must be the same path, or an AuthorizationPolicy on `/admin*` is
 * bypassed by `//admin`, `/%61dmin` or `/x/../admin` (the app or its framework normalises what the proxy did
 * not). Istio's path normalisation, as `normalize_path` + `merge_slashes` do it in Envoy:
 *
 * 1. percent-encoded unreserved characters (RFC 3986 §2.3: ALPHA DIGIT - . _ ~) are decoded, every other
 *    escape is kept with upper-case hex (§6.2.2.1), so `%2e%2E` become dots before step 3;
 * 2. runs of "/" become one;
 * 3. "." and ".." segments are removed (§5.2.4); ".." never climbs above the root.
 *
 * Refused (`invalid-path`, 400): a path not starting with "/", a malformed escape (`%zz`, `%4`), and an
 * encoded "/" or "\" (`%2F`, `%5C`), which an app may decode into a separator the policies never saw
 * (Envoy's `path_with_escaped_slashes_action: REJECT_REQUEST`). The query string is not touched.
 */
export type NormalizedPath = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string }

const HEX = '0123456789ABCDEF'

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  if (code >= 0x41 && code <= 0x46) return code - 0x37
  if (code >= 0x61 && code <= 0x66) return code - 0x57
  return -1
}

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e
  )
}

/** O(path length). Already-normal paths (the common case) are returned as given, without allocating. */
export function normalizePath(raw: string): NormalizedPath {
  if (raw.charCodeAt(0) !== 0x2f) return { ok: false, reason: 'the path must start with "/"' }
  if (isAlreadyNormal(raw)) return { ok: true, path: raw }

  let decoded = ''
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c !== 0x25) {
      decoded += raw[i]
      continue
    }
    const hi = hexValue(raw.charCodeAt(i + 1))
    const lo = hexValue(raw.charCodeAt(i + 2))
    if (hi < 0 || lo < 0) return { ok: false, reason: `malformed percent-encoding at offset ${i}` }
    const byte = hi * 16 + lo
    if (byte === 0x2f || byte === 0x5c) return { ok: false, reason: 'an encoded "/" or "\\" (%2F, %5C) is not accepted in the path' }
    decoded += isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`
    i += 2
  }

  const out: string[] = []
  const segments = decoded.split('/')
  // segments[0] is "" (the path starts with "/"); empty segments are repeated slashes, merged away.
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!
    const last = i === segments.length - 1
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop()
      // "/a/." and "/a/.." keep a trailing slash: they name a directory (RFC 3986 §5.2.4, rules B and C).
      if (last) out.push('')
    } else if (segment === '') {
      if (last) out.push('')
    } else {
      out.push(segment)
    }
  }
  const path = '/' + out.join('/')
  return { ok: true, path }
}

// No "%", no "//", no "/." followed by "/", "." or the end: nothing for the slow path to change.
function isAlreadyNormal(raw: string): boolean {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c === 0x25) return false
    if (c === 0x2f) {
      const next = raw.charCodeAt(i + 1)
      if (next === 0x2f) return false
      if (next === 0x2e) {
        const after = raw.charCodeAt(i + 2)
        if (Number.isNaN(after) || after === 0x2f) return false
        if (after === 0x2e) {
          const third = raw.charCodeAt(i + 3)
          if (Number.isNaN(third) || third === 0x2f) return false
        }
      }
    }
  }
  return true
}
