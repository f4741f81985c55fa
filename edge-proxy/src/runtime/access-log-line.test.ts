// The hand-written access line must stay what pino wrote before it: same keys, same order, same escaping,
// optional fields omitted. Checked against pino itself, so a change on either side shows here.
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { AccessLogEntry } from '../core/tracing'
import { accessLogLine } from './access-log-line'

function pinoLine(entry: AccessLogEntry, time: number): string {
  let out = ''
  const sink = new Writable({ write: (chunk, _enc, cb) => ((out += chunk.toString()), cb()) })
  const logger = pino({ base: { type: 'access', component: 'weft-sidecar' }, messageKey: 'msg', timestamp: () => `,"time":${time}` }, sink)
  logger.info(entry, 'request')
  return out
}

const base: AccessLogEntry = {
  direction: 'outbound',
  tenant: 'acme',
  service: 'orders',
  source: 'spiffe://acme.weft/svc/orders',
  destination: 'payments',
  requestId: 'r-1',
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  method: 'POST',
  path: '/charge',
  status: 200,
  durationMs: 1.25,
  upstream: '10.0.0.7:8080',
  route: 'payments/canary',
}

describe('accessLogLine', () => {
  it('writes what pino writes for a forwarded request', () => {
    const line = accessLogLine(base, 1795560000123)
    expect(line).toBe(pinoLine(base, 1795560000123))
    expect(line.endsWith('}\n')).toBe(true)
    expect(Object.keys(JSON.parse(line))).toEqual(['level', 'time', 'type', 'component', ...Object.keys(base), 'msg'])
  })

  it('includes reason and attempts when set, and null upstreams', () => {
    const entry: AccessLogEntry = { ...base, status: 503, upstream: null, reason: 'no-healthy-upstream', attempts: 3 }
    expect(accessLogLine(entry, 5)).toBe(pinoLine(entry, 5))
    expect(JSON.parse(accessLogLine(entry, 5))).toMatchObject({ reason: 'no-healthy-upstream', attempts: 3, upstream: null })
  })

  it('escapes what a client controls (path, request id) as JSON', () => {
    const entry: AccessLogEntry = { ...base, path: '/a"b\\c\n\u0001é\u2028\u{1f600}\ud800x', requestId: '"},{"x":1' }
    const line = accessLogLine(entry, 7)
    expect(line.split('\n').length).toBe(2)
    expect(JSON.parse(line)).toMatchObject({ path: entry.path, requestId: entry.requestId })
    expect(line).toBe(pinoLine(entry, 7))
  })

  it('writes each line from its own values when they change from line to line (the repeated ones are remembered)', () => {
    const values = ['acme', 'b"x', 'acme', '', 'c\\d', 'acme']
    for (const [i, v] of values.entries()) {
      const entry: AccessLogEntry = { ...base, direction: i % 2 ? 'inbound' : 'outbound', tenant: v, service: v, source: v, destination: v, method: v, upstream: v, route: v, reason: v }
      expect(accessLogLine(entry, i)).toBe(pinoLine(entry, i))
    }
  })
})

describe('accessLogLine numbers', () => {
  it('writes fractional durations as JSON does, and null for a non-finite one', () => {
    expect(JSON.parse(accessLogLine({ ...base, durationMs: 0.1 + 0.2 }, 1))).toMatchObject({ durationMs: 0.1 + 0.2 })
    expect(accessLogLine({ ...base, durationMs: Number.NaN }, 1)).toBe(pinoLine({ ...base, durationMs: Number.NaN }, 1))
  })
})
