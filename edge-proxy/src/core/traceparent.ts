/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): `traceparent` is
 * `version-traceid-parentid-flags`, lower-case hex. Each proxy hop is a span: it keeps the trace id and the
 * flags, and sends its own new span id as the parent id; a request without a valid `traceparent` starts a
 * new trace. `tracestate` travels unchanged with a kept trace and is dropped with a restarted one (§3.3.1:
 * it belongs to the trace it came with).
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

export type TraceContext = { readonly traceId: string; readonly spanId: string; readonly parentSpanId: string | null; readonly flags: string }

// Sampled unless the tenant's sample rate says otherwise (core/tracing.ts).
const NEW_TRACE_FLAGS = '01'
const NOT_SAMPLED_FLAGS = '00'

// Random bytes drawn 4 KiB at a time: one getRandomValues call per ~170 hops instead of two per hop (it was
// ~3 % of a hop's CPU). Filled on first use, not at load: Workers refuse random values at global scope.
const POOL = new Uint8Array(4096)
let poolAt = POOL.length
const HEX_CODES = Array.from('0123456789abcdef', (c) => c.charCodeAt(0))
// Character codes of an id being made, one array per id length, turned into one flat string at once (an id
// built by `+=` is a chain of cons strings, flattened again when the header is written).
const CODES = new Map<number, number[]>()

/** `bytes` random bytes as lower-case hex; null when they are all zero (an invalid id, §3.2.2.3/§3.2.2.4). */
function randomHex(bytes: number): string | null {
  if (poolAt + bytes > POOL.length) {
    crypto.getRandomValues(POOL)
    poolAt = 0
  }
  let codes = CODES.get(bytes)
  if (codes === undefined) CODES.set(bytes, (codes = new Array<number>(bytes * 2).fill(0)))
  let any = 0
  for (let i = poolAt, end = poolAt + bytes, j = 0; i < end; i++) {
    const b = POOL[i]!
    any |= b
    codes[j++] = HEX_CODES[b >> 4]!
    codes[j++] = HEX_CODES[b & 15]!
  }
  poolAt += bytes
  return any === 0 ? null : String.fromCharCode.apply(null, codes)
}

function nonZeroHex(bytes: number): string {
  // One in 2^64 at worst, so a retry is rare.
  for (;;) {
    const hex = randomHex(bytes)
    if (hex !== null) return hex
  }
}

/** Parses an incoming `traceparent`; null when absent or invalid (version ff, all-zero ids, bad shape). */
export function parseTraceparent(value: string | null): { traceId: string; parentId: string; flags: string } | null {
  if (value === null) return null
  const m = TRACEPARENT.exec(value.trim())
  if (m === null) return null
  const [, version, traceId, parentId, flags, rest] = m
  if (version === 'ff') return null
  // Version 00 has exactly four fields; later versions may append more, which a 00 parser ignores (§3.2.4).
  if (version === '00' && rest !== undefined) return null
  if (/^0+$/.test(traceId!) || /^0+$/.test(parentId!)) return null
  return { traceId: traceId!, parentId: parentId!, flags: flags! }
}

/**
 * This hop's context from the incoming `traceparent` (continued with a new span id) or a new trace. A new
 * trace is sampled when `sampleNew(traceId)` says so (default: always, as before tracing had a sample rate);
 * a continued one keeps its flags, since the sampling decision belongs to the root (W3C §3.2.2.5).
 */
export function hopOf(incomingTraceparent: string | null, sampleNew: (traceId: string) => boolean = () => true): TraceContext {
  const incoming = parseTraceparent(incomingTraceparent)
  const spanId = nonZeroHex(8)
  if (incoming === null) {
    const traceId = nonZeroHex(16)
    return { traceId, spanId, parentSpanId: null, flags: sampleNew(traceId) ? NEW_TRACE_FLAGS : NOT_SAMPLED_FLAGS }
  }
  return { traceId: incoming.traceId, spanId, parentSpanId: incoming.parentId, flags: incoming.flags }
}

/** Writes `hop` as the next hop's `traceparent`; a restarted trace drops the old `tracestate`. */
export function writeHop(headers: Headers, hop: TraceContext): void {
  headers.set('traceparent', `00-${hop.traceId}-${hop.spanId}-${hop.flags}`)
  if (hop.parentSpanId === null) headers.delete('tracestate')
}

/** Whether the flags carry W3C's `sampled` bit. */
export function isSampled(flags: string): boolean {
  return (parseInt(flags, 16) & 1) === 1
}

/**
 * Sets `traceparent` on `headers` for the next hop, continuing the incoming trace or starting one, and
 * returns this hop's context.
 */
export function nextHop(headers: Headers): TraceContext {
  const hop = hopOf(headers.get('traceparent'))
  writeHop(headers, hop)
  return hop
}
