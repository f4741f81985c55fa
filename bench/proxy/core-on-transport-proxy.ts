/**
 * The proxy core on the sidecar's own listener and undici transport, with a fixed snapshot and a fixed identity
 * token: no control plane, no metrics push, no access log (`node <bundle> <listen port> <app port>`, bundled as
 * bench/proxy/core-cost.ts says; an HTTP proxy like the outbound listener: `curl -x http://127.0.0.1:<port>
 * http://app-direct/bench`). Between bare-transport-proxy.ts (no core) and a real sidecar: what the core costs under
 * real I/O, which is more than core-cost.ts measures with transports that answer at once.
 */
import { createProxyCore, upstreamUrl } from '../../edge-proxy/src/core/index'
import { endpoint, outboundService, snapshotOf } from '../../edge-proxy/test-support/snapshots'
import { memoryLogger } from '../../edge-proxy/test-support/loopback'
import { dispatchFetch } from '../../edge-proxy/src/runtime/dispatch-fetch'
import { createLimitedServer, DEFAULT_LISTENER_LIMITS } from '../../edge-proxy/src/runtime/listener-limits'
import { createUpstreamPool } from '../../edge-proxy/src/runtime/upstream-pool'

const [listenPort, appPort] = process.argv.slice(2).map(Number) as [number, number]
const pool = createUpstreamPool(30_000)
const snapshot = snapshotOf('client', [
  outboundService('app-direct', [endpoint('e1', appPort, { version: 'v1' })], {
    routes: [{ name: 'r', spec: { rules: [
      { name: 'bench', matches: [{ path: { type: 'PathPrefix', value: '/bench' } }], backendRefs: [{ service: 'app-direct', labels: { version: 'v1' }, weight: 100 }], timeout: '2s', retry: { attempts: 2, perTryTimeout: '1s' } },
    ] } }],
  }),
])
const token = 'eyJhbGciOiJFUzI1NiJ9.' + 'x'.repeat(700)
const core = createProxyCore({
  snapshot: () => snapshot,
  upstream: async () => new Response('x'),
  sendUpstream: (call, target) => dispatchFetch(upstreamUrl(call, target), call, pool),
  app: async () => new Response('x'),
  identity: { tokenFor: async () => token },
  logger: memoryLogger(),
})
const server = createLimitedServer((req) => core.outbound(req, new URL(req.url).hostname), { name: 'outbound', limits: DEFAULT_LISTENER_LIMITS, logger: memoryLogger() })
server.listen(listenPort, '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
