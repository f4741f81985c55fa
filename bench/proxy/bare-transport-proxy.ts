/**
 * The floor under the Weft sidecar's hop, for profiling (`npx tsx bench/proxy/bare-transport-proxy.ts <listen port> <app port>`):
 * the sidecar's own listener, request view, HTTP/1.1 client and response writer (edge-proxy/src/runtime),
 * with no proxy core in between. Weft's hop minus this is what routing, identity, metrics and logs cost.
 */
import { memoryLogger } from '../../edge-proxy/test-support/loopback'
import { dispatchFetch } from '../../edge-proxy/src/runtime/dispatch-fetch'
import { createLimitedServer, DEFAULT_LISTENER_LIMITS } from '../../edge-proxy/src/runtime/listener-limits'
import { createUpstreamPool } from '../../edge-proxy/src/runtime/upstream-pool'

const [listenPort, appPort] = process.argv.slice(2).map(Number) as [number, number]
const pool = createUpstreamPool(30_000)
// BARE_EXTRA_HEADER_BYTES=800: one more header of that size upstream, as a Weft-Identity JWT-SVID adds.
const extra = 'x'.repeat(Number(process.env.BARE_EXTRA_HEADER_BYTES ?? 0))
const server = createLimitedServer(
  (request) => {
    const url = request.url
    const path = url.slice(url.indexOf('/', url.indexOf('//') + 2))
    if (extra !== '') request.headers.set('weft-identity', extra)
    return dispatchFetch(`http://127.0.0.1:${appPort}${path}`, request, pool)
  },
  { name: 'outbound', limits: DEFAULT_LISTENER_LIMITS, logger: memoryLogger() },
)
server.listen(listenPort, '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
