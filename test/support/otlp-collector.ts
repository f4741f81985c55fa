// A real OTLP/HTTP traces endpoint for tests: decodes ExportTraceServiceRequest JSON bodies (what
// @opentelemetry/exporter-trace-otlp-http sends) into spans, each with the service that exported it.
import { createServer, type IncomingHttpHeaders } from 'node:http'

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
type OtlpSpan = {
  traceId: string
  spanId: string
  parentSpanId?: string
  traceState?: string
  name: string
  kind: number
  attributes: { key: string; value: OtlpValue }[]
  events?: { name: string; attributes: { key: string; value: OtlpValue }[] }[]
  status?: { code?: number }
}
/** One span as received, with the service (resource `service.name`) that exported it. */
export type Received = OtlpSpan & { service: string; attrs: Record<string, unknown> }

/** OTLP SpanKind numbers. */
export const SERVER = 2
export const CLIENT = 3

const valueOf = (v: OtlpValue): unknown => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue

/** An OTLP/HTTP traces endpoint: decodes ExportTraceServiceRequest JSON, answers as the spec says (200, {}). */
export async function startCollector() {
  const spans: Received[] = []
  const requests: { path: string; headers: IncomingHttpHeaders }[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      requests.push({ path: req.url ?? '', headers: req.headers })
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/json') return void res.writeHead(415).end()
      const decoded = JSON.parse(body) as { resourceSpans: { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }
      for (const rs of decoded.resourceSpans) {
        const service = String(valueOf(rs.resource.attributes.find((a) => a.key === 'service.name')!.value))
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) spans.push({ ...s, service, attrs: Object.fromEntries(s.attributes.map((a) => [a.key, valueOf(a.value)])) })
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/traces`, spans, requests, close: () => new Promise((r) => server.close(r)) }
}
