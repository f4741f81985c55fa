/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): `traceparent` is
 * `version-traceid-parentid-flags`, lower-case hex. Each proxy hop is a span: it keeps the trace id and the
 * flags, and sends its own new span id as the parent id; a request without a valid `traceparent` starts a
 * new trace. `tracestate` travels unchanged with a kept trace and is dropped with a restarted one (§3.3.1:
 * it belongs to the trace it came with).
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

export type TraceContext = { readonly traceId: string; readonly spanId: string; readonly parentSpanId: string | null; readonly flags: string }

// Sampled: a trace Weft starts is one it records (spans go to /v1/proxy/telemetry).
const NEW_TRACE_FLAGS = '01'

function randomHex(bytes: number): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes))
  let out = ''
  for (const b of buf) out += (b < 16 ? '0' : '') + b.toString(16)
  return out
}

function nonZeroHex(bytes: number): string {
  // All-zero ids are invalid (§3.2.2.3, §3.2.2.4); one in 2^64 at worst, so one retry is plenty in practice.
  for (;;) {
    const hex = randomHex(bytes)
    if (!/^0+$/.test(hex)) return hex
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
 * Sets `traceparent` on `headers` for the next hop, continuing the incoming trace or starting one, and
 * returns this hop's context.
 */
export function nextHop(headers: Headers): TraceContext {
  const incoming = parseTraceparent(headers.get('traceparent'))
  const spanId = nonZeroHex(8)
  if (incoming === null) {
    const traceId = nonZeroHex(16)
    headers.set('traceparent', `00-${traceId}-${spanId}-${NEW_TRACE_FLAGS}`)
    headers.delete('tracestate')
    return { traceId, spanId, parentSpanId: null, flags: NEW_TRACE_FLAGS }
  }
  headers.set('traceparent', `00-${incoming.traceId}-${spanId}-${incoming.flags}`)
  return { traceId: incoming.traceId, spanId, parentSpanId: incoming.parentId, flags: incoming.flags }
}
