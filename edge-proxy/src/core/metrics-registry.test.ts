import { describe, expect, it } from 'vitest'
import { MetricsRegistry } from './metrics-registry'

describe('MetricsRegistry', () => {
  it('renders counters, gauges and cumulative histograms in Prometheus text format', () => {
    const r = new MetricsRegistry()
    const c = r.counter('things_total', 'Things.', ['kind'])
    const g = r.gauge('level', 'A level.')
    const h = r.histogram('latency_seconds', 'Latency.', ['route'], [0.1, 1])
    c.inc(['a'])
    c.inc(['a'], 2)
    c.inc(['b "quoted"\\\n'])
    g.set([], 5)
    g.add([], -2)
    h.observe(['/x'], 0.05)
    h.observe(['/x'], 0.5)
    h.observe(['/x'], 3)
    expect(r.render()).toBe(
      [
        '# HELP things_total Things.',
        '# TYPE things_total counter',
        'things_total{kind="a"} 3',
        'things_total{kind="b \\"quoted\\"\\\\\\n"} 1',
        '# HELP level A level.',
        '# TYPE level gauge',
        'level 3',
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{route="/x",le="0.1"} 1',
        'latency_seconds_bucket{route="/x",le="1"} 2',
        'latency_seconds_bucket{route="/x",le="+Inf"} 3',
        'latency_seconds_sum{route="/x"} 3.55',
        'latency_seconds_count{route="/x"} 3',
        '',
      ].join('\n'),
    )
  })

  it('keeps series apart that share leading label values, in the order first seen', () => {
    const r = new MetricsRegistry()
    const c = r.counter('calls_total', 'Calls.', ['from', 'to', 'code'])
    c.inc(['a', 'b', '200'])
    c.inc(['a', 'c', '200'])
    c.inc(['a', 'b', '500'], 2)
    c.inc(['a', 'b', '200'], 3)
    c.inc(['ab', '', '200'])
    c.inc(['a', 'b\u0001', '200'])
    expect(c.get(['a', 'b', '200'])).toBe(4)
    expect(c.get(['a', 'b', '500'])).toBe(2)
    expect(c.get(['a', 'c', '200'])).toBe(1)
    expect(c.get(['a', 'c', '500'])).toBe(0)
    expect([...c.entries()].map((s) => [s.labels.join('/'), s.value.n])).toEqual([
      ['a/b/200', 4],
      ['a/c/200', 1],
      ['a/b/500', 2],
      ['ab//200', 1],
      ['a/b\u0001/200', 1],
    ])
  })

  it('refuses bad names, duplicate registration, a wrong label count and a falling counter', () => {
    const r = new MetricsRegistry()
    expect(() => r.counter('bad-name', 'x')).toThrow(TypeError)
    expect(() => r.counter('ok', 'x', ['__reserved'])).toThrow(TypeError)
    const c = r.counter('ok_total', 'x', ['a'])
    expect(() => r.counter('ok_total', 'x')).toThrow(/already/)
    expect(() => c.inc([])).toThrow(RangeError)
    expect(() => c.inc(['x'], -1)).toThrow(RangeError)
    expect(() => r.histogram('h', 'x', ['le'], [1])).toThrow(TypeError)
    expect(() => r.histogram('h2', 'x', [], [2, 1])).toThrow(RangeError)
  })
})
