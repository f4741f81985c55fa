import { describe, expect, it } from 'vitest'
import { nextHop, parseTraceparent } from './traceparent'

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

describe('traceparent', () => {
  it('parses the W3C example', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: '01' })
  })

  it.each([
    ['absent', null],
    ['upper case', VALID.toUpperCase()],
    ['version ff', VALID.replace(/^00/, 'ff')],
    ['zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['extra field in version 00', `${VALID}-x`],
    ['short', '00-abc-def-01'],
  ])('rejects %s', (_, value) => {
    expect(parseTraceparent(value)).toBeNull()
  })

  it('accepts a future version with extra fields', () => {
    expect(parseTraceparent(`cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds`)).not.toBeNull()
  })

  it('keeps the trace and flags, with a new span id per hop, and keeps tracestate', () => {
    const headers = new Headers({ traceparent: VALID, tracestate: 'vendor=1' })
    const hop = nextHop(headers)
    expect(hop).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7', flags: '01' })
    expect(headers.get('traceparent')).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${hop.spanId}-01`)
    expect(hop.spanId).not.toBe('00f067aa0ba902b7')
    expect(headers.get('tracestate')).toBe('vendor=1')
    const again = nextHop(headers)
    expect(again.parentSpanId).toBe(hop.spanId)
  })

  it('starts a trace when there is none or it is invalid, dropping tracestate', () => {
    const headers = new Headers({ traceparent: 'garbage', tracestate: 'vendor=1' })
    const hop = nextHop(headers)
    expect(hop.parentSpanId).toBeNull()
    expect(headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
    expect(parseTraceparent(headers.get('traceparent'))?.traceId).toBe(hop.traceId)
    expect(headers.has('tracestate')).toBe(false)
  })
})
