import { describe, expect, it } from 'vitest'
import type { ExportTarget, FinishedSpan, TraceExporter } from '../core/tracing'
import { lazyTraceExporter } from './lazy-trace-exporter'

const target: ExportTarget = { endpoint: 'http://collector.invalid/v1/traces', headers: {}, sampleRate: 1, service: 'orders', tenant: 'acme' }
const span = { spanId: 'b7ad6b7169203331' } as FinishedSpan

/** A real in-memory exporter (what the loaded module would return), counting how often it was loaded. */
function recording() {
  const exported: { spans: readonly FinishedSpan[]; target: ExportTarget }[] = []
  let loads = 0
  let shutdowns = 0
  const exporter: TraceExporter = {
    async export(spans, t) {
      exported.push({ spans, target: t })
    },
    async shutdown() {
      shutdowns++
    },
  }
  return {
    exported,
    loads: () => loads,
    shutdowns: () => shutdowns,
    load: async () => {
      loads++
      return exporter
    },
  }
}

describe('lazyTraceExporter', () => {
  it('loads nothing until the first export, then loads once and hands every batch over', async () => {
    const r = recording()
    const exporter = lazyTraceExporter(r.load)
    expect(r.loads()).toBe(0)
    await Promise.all([exporter.export([span], target), exporter.export([span, span], target)])
    await exporter.export([span], target)
    expect(r.loads()).toBe(1)
    expect(r.exported.map((e) => e.spans.length)).toEqual([1, 2, 1])
    expect(r.exported[0]!.target).toBe(target)
  })

  it('shuts down only what it loaded', async () => {
    const never = recording()
    await lazyTraceExporter(never.load).shutdown?.()
    expect(never.loads()).toBe(0)

    const used = recording()
    const exporter = lazyTraceExporter(used.load)
    await exporter.export([span], target)
    await exporter.shutdown?.()
    expect(used.shutdowns()).toBe(1)
  })

  it('fails the batch when loading fails, and tries again with the next one', async () => {
    const r = recording()
    let fail = true
    const exporter = lazyTraceExporter(async () => {
      if (fail) throw new Error('Cannot find module @opentelemetry/exporter-trace-otlp-http')
      return r.load()
    })
    await expect(exporter.export([span], target)).rejects.toThrow(/Cannot find module/)
    await exporter.shutdown?.()
    fail = false
    await exporter.export([span], target)
    expect(r.exported).toHaveLength(1)
  })
})
