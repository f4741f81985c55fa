// The proxy core's inbound side with tracing, as workerd runs it: the snapshot comes from the SNAPSHOT var, the
// app is ORIGIN; every response's spans are flushed in ctx.waitUntil (a Worker's timers do not outlive it).
import { createProxyCore, type ProxyCore } from '../../../edge-proxy/src/core/index'
import { createOtelTraceExporter } from '../../../edge-proxy/src/runtime/otel-trace-exporter'

type Env = { SNAPSHOT: string; ORIGIN: string }
type Ctx = { waitUntil(p: Promise<unknown>): void }

const quiet = { debug() {}, info() {}, warn() {}, error() {} }
let core: ProxyCore | undefined

export default {
  async fetch(request: Request, env: Env, ctx: Ctx): Promise<Response> {
    const snapshot = JSON.parse(env.SNAPSHOT)
    core ??= createProxyCore({
      snapshot: () => snapshot,
      upstream: (r) => fetch(r),
      app: (r) => {
        const u = new URL(r.url)
        return fetch(new Request(new URL(u.pathname + u.search, env.ORIGIN), r))
      },
      identity: { tokenFor: async () => 'unused' },
      logger: quiet,
      traceExporter: createOtelTraceExporter(),
    })
    const response = await core.inbound(request)
    ctx.waitUntil(core.tracing.flush())
    return response
  },
}
