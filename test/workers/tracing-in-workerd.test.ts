// Tracing runs in workerd: the proxy core with OpenTelemetry's OTLP/HTTP exporter, bundled by wrangler (as the
// edge proxy Worker is: the exporter's fetch-based browser build, no Node modules), booted in Miniflare in front
// of a Node app, exports a SERVER span to a real OTLP receiver on loopback.
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { snapshotOf } from '../../edge-proxy/test-support/snapshots'
import { buildWorker } from '../../scripts/build-worker'
import { SERVER, startCollector } from '../support/otlp-collector'

describe('tracing in workerd (Miniflare)', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>
  let app: Server
  let mf: Miniflare
  const seen: string[] = []
  const outdir = mkdtempSync(join(tmpdir(), 'weft-tracing-worker-'))

  beforeAll(async () => {
    collector = await startCollector()
    app = createServer((req, res) => {
      seen.push(String(req.headers.traceparent))
      res.end('ok')
    })
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
    const built = await buildWorker(fileURLToPath(new URL('./tracing-worker/wrangler.jsonc', import.meta.url)), outdir)
    const snapshot = snapshotOf('edge', [], {}, { tracing: { endpoint: collector.url, headers: { 'x-api-key': 'k' }, sampleRate: 0 } })
    mf = new Miniflare({
      modules: true,
      scriptPath: built.scriptPath,
      modulesRoot: built.outdir,
      compatibilityDate: built.compatibilityDate,
      compatibilityFlags: built.compatibilityFlags,
      bindings: { SNAPSHOT: JSON.stringify(snapshot), ORIGIN: `http://127.0.0.1:${(app.address() as { port: number }).port}` },
    })
  }, 120_000)

  afterAll(async () => {
    await mf?.dispose()
    app?.close()
    await collector?.close()
    rmSync(outdir, { recursive: true, force: true })
  })

  it('exports the SERVER span of a sampled incoming trace, over requests of one isolate', async () => {
    for (const [traceId, parent] of [
      ['1f'.repeat(16), '2e'.repeat(8)],
      ['3d'.repeat(16), '4c'.repeat(8)],
    ] as const) {
      const res = await mf.dispatchFetch('http://edge.example/charge', { headers: { traceparent: `00-${traceId}-${parent}-01` } })
      expect(res.status).toBe(200)
      await res.text()
      const end = Date.now() + 10_000
      while (!collector.spans.some((s) => s.traceId === traceId) && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      const span = collector.spans.find((s) => s.traceId === traceId)
      expect(span).toMatchObject({ kind: SERVER, service: 'edge', parentSpanId: parent, attrs: { 'url.path': '/charge', 'http.response.status_code': 200 } })
      expect(seen.at(-1)).toBe(`00-${traceId}-${span!.spanId}-01`)
    }
    expect(collector.requests.every((r) => r.headers['x-api-key'] === 'k')).toBe(true)
  })

  it('exports nothing of a trace it starts at sampleRate 0', async () => {
    const before = collector.spans.length
    const res = await mf.dispatchFetch('http://edge.example/charge')
    await res.text()
    expect(seen.at(-1)).toMatch(/-00$/)
    await new Promise((r) => setTimeout(r, 300))
    expect(collector.spans.length).toBe(before)
  })
})
