// ABI conformance from inside a real guest (filters/testdata/abi-conformance, AssemblyScript): header maps with
// empty, repeated, large and non-ASCII values; shared queues and proxy_on_queue_ready; foreign functions; WASI;
// metrics. Cases already covered by filter-host.test.ts (properties, CAS, local responses, pause/continue,
// ticks, http calls) are not repeated here.
import { beforeAll, describe, expect, it } from 'vitest'
import { compileTestFilter } from '../../../filters/test-helpers'
import { createFilterHost, type FilterHost } from './filter-host'
import type { ContinueResult } from './filter-host'

let module: WebAssembly.Module
beforeAll(async () => {
  module = await compileTestFilter('abi-conformance')
}, 120_000)

/** Bytes as a fetch header value holds them: one char per byte. */
const byteString = (text: string): string => Buffer.from(text, 'utf8').toString('latin1')

function conformance(lines: Array<{ level: string; obj: object; msg?: string }> = []): FilterHost {
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg })
  return createFilterHost({
    module,
    rootId: 'conformance',
    logger: { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    foreignFunctions: {
      'weft.test_echo': (args) => new TextEncoder().encode(`echo:${new TextDecoder().decode(args)}`),
      'weft.test_throws': () => {
        throw new Error('host side broke')
      },
    },
  })
}

async function run(host: FilterHost, headers: Array<[string, string]>): Promise<ContinueResult> {
  const stream = host.startStream({ method: 'GET', path: '/' })
  const result = await stream.onRequestHeaders(headers)
  stream.finish()
  if (result.action !== 'continue') throw new Error(`filter answered ${result.status}: ${result.details}`)
  return result
}

describe('ABI conformance from a real guest', () => {
  it('header maps: empty and absent values differ, repeats keep their order, large and non-ASCII values cross unchanged', async () => {
    const large = 'v'.repeat(100_000)
    const r = await run(conformance(), [
      ['x-case', 'maps'],
      ['x-in-empty', ''],
      ['x-in-rep', 'one'],
      ['x-in-rep', 'two'],
      ['x-in-large', large],
      ['x-in-utf8', byteString('héllo ☃')],
    ])
    const h = r.headers
    expect(h.get('x-r-empty')).toBe('present:0')
    expect(h.get('x-r-absent')).toBe('missing')
    expect(h.get('x-r-rep-first')).toBe('one')
    expect(h.get('x-r-rep-all')).toBe('one;two;')
    expect(h.get('x-r-large')).toBe('100000')
    expect(h.get('x-r-utf8-bytes')).toBe('10')
    expect(h.get('x-r-utf8-eq')).toBe('yes')
    expect(h.get('x-out-utf8')).toBe(byteString('grüße'))
    expect(h.get('x-out-empty')).toBe('')
    // The repeated header is still two headers after the guest's whole-map read.
    expect(h.get('x-in-rep')).toBe('one, two')
  })

  it('shared queues: resolve by name, NOT_FOUND for unknown names and ids, proxy_on_queue_ready drains after enqueue', async () => {
    const host = conformance()
    const r = await run(host, [['x-case', 'queue'], ['x-item', 'job-1']])
    expect(r.headers.get('x-r-resolve')).toBe('0:same')
    expect(r.headers.get('x-r-resolve-missing')).toBe('1')
    expect(r.headers.get('x-r-enqueue')).toBe('0')
    expect(r.headers.get('x-r-enqueue-missing')).toBe('1')
    // on_queue_ready runs after the enqueuing callback returned, not inside it.
    await new Promise((resolve) => setTimeout(resolve, 0))
    const drained = host.sharedData.get('queue-drained')
    // Dequeued the item, then EMPTY (7).
    expect(new TextDecoder().decode(drained!.value)).toBe('job-1,|7')
  })

  it('foreign functions: a registered one returns its bytes, an unknown name is NOT_FOUND, a throwing one INTERNAL_FAILURE', async () => {
    const lines: Array<{ level: string; obj: object; msg?: string }> = []
    const host = conformance(lines)
    const r = await run(host, [['x-case', 'foreign']])
    expect(r.headers.get('x-r-foreign')).toBe('0:echo:ping')
    expect(r.headers.get('x-r-foreign-unknown')).toBe('1')
    expect(r.headers.get('x-r-foreign-throws')).toBe('10')
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'foreign function failed' }))
    expect(host.stats.failures).toBe(0)
  })

  it('foreign functions get a copy of their arguments, or a view of guest memory when they set borrowsArguments', async () => {
    for (const borrowsArguments of [false, true]) {
      const seen: Uint8Array[] = []
      const echo = Object.assign((args: Uint8Array) => {
        seen.push(args)
        return new TextEncoder().encode(`echo:${new TextDecoder().decode(args)}`)
      }, { borrowsArguments })
      const host = createFilterHost({ module, rootId: 'conformance', foreignFunctions: { 'weft.test_echo': echo } })
      expect((await run(host, [['x-case', 'foreign']])).headers.get('x-r-foreign')).toBe('0:echo:ping')
      // A copy is a buffer of its own; a view is a window on the guest's (far larger) linear memory.
      expect(seen[0]!.buffer.byteLength > seen[0]!.length).toBe(borrowsArguments)
    }
  })

  it('WASI: fd_write logs the line and reports bytes written; clocks and random_get work', async () => {
    const lines: Array<{ level: string; obj: object; msg?: string }> = []
    const before = Date.now()
    const r = await run(conformance(lines), [['x-case', 'wasi']])
    expect(r.headers.get('x-r-fd-write')).toBe('0:16')
    expect(lines.some((l) => l.level === 'info' && JSON.stringify(l).includes('hello from wasi'))).toBe(true)
    const [status, ms] = r.headers.get('x-r-clock')!.split(':')
    expect(status).toBe('0')
    expect(Number(ms)).toBeGreaterThanOrEqual(before - 1000)
    expect(Number(ms)).toBeLessThanOrEqual(Date.now() + 1000)
    expect(r.headers.get('x-r-monotonic')).toBe('0:positive')
    expect(r.headers.get('x-r-random')).toBe('0:filled')
  })

  it('metrics: counter, gauge and histogram as the filter recorded them; proxy_get_metric reads them back', async () => {
    const host = conformance()
    await run(host, [['x-case', 'metrics']])
    const r = await run(host, [['x-case', 'metrics']])
    expect(r.headers.get('x-r-counter')).toBe('0:4')
    expect(host.metrics.byName('conformance_requests_total')).toMatchObject({ kind: 'counter', value: 4n })
    expect(host.metrics.byName('conformance_in_flight')).toMatchObject({ kind: 'gauge', value: 4n })
    expect(host.metrics.byName('conformance_latency_ms')).toMatchObject({ kind: 'histogram', count: 4, sum: 60n })
  })
})
