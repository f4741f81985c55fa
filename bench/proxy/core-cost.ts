/**
 * CPU cost of the proxy core alone per request (`npx tsx bench/proxy/core-cost.ts`), against transports that
 * answer at once (no sockets): core.outbound() on a Route with a retry rule and a BackendPolicy, identity
 * attached, metrics, tracing and an access log line; core.inbound() with a real JWT-SVID (verification cached),
 * an AuthorizationPolicy, metrics and an access line. What a hop costs beyond its listener and transport
 * (bench/proxy/bare-transport-proxy.ts). tsx adds a helper call per closure: bundle it with esbuild and run it
 * with plain node (or `--cpu-prof`) for the numbers the sidecar sees:
 *   npx esbuild bench/proxy/core-cost.ts --bundle --platform=node --format=esm --outfile=/tmp/core-cost.mjs \
 *     --banner:js="import { createRequire } from 'module'; const require = createRequire(import.meta.url);" && node /tmp/core-cost.mjs
 */
import { Cancellation, createProxyCore } from '../../edge-proxy/src/core/index'
import { UpstreamResponse } from '../../edge-proxy/src/runtime/upstream-response'
import { endpoint, outboundService, signingKey, snapshotOf, spiffe } from '../../edge-proxy/test-support/snapshots'

const key = await signingKey()
const snapshot = snapshotOf('orders', [
  outboundService('payments', [endpoint('p1', 1001, { version: 'v1' }), endpoint('p2', 1002, { version: 'v2' })], {
    routes: [
      {
        name: 'payments-split',
        spec: {
          rules: [
            {
              matches: [{ path: { type: 'PathPrefix', value: '/charge' } }],
              backendRefs: [
                { service: 'payments', labels: { version: 'v1' }, weight: 90 },
                { service: 'payments', labels: { version: 'v2' }, weight: 10 },
              ],
              timeout: '5s',
              retry: { attempts: 2, perTryTimeout: '1s', retryOn: ['5xx', 'connect-failure'] },
            },
          ],
        },
      },
    ],
    backendPolicy: { loadBalancer: { type: 'LeastRequest' } },
  }),
], { authorization: [{ name: 'orders-callers', spec: { action: 'ALLOW', rules: [{ from: { principals: [spiffe('web')] }, to: { paths: ['/orders*'] } }] } }] }, { jwks: { keys: [key.jwk] } as never })
const callerToken = await key.mint({ subject: spiffe('web'), audience: spiffe('orders') })
let lines = 0
const core = createProxyCore({
  snapshot: () => snapshot,
  upstream: async () => new Response('ok'),
  // As the Node sidecar's transport answers: a lazy response over undici's header record.
  sendUpstream: async () => new UpstreamResponse(200, { 'content-type': 'text/plain', 'content-length': '2' }, null) as unknown as Response,
  app: async () => new Response('ok'),
  sendApp: async () => new UpstreamResponse(200, { 'content-type': 'text/plain', 'content-length': '2' }, null) as unknown as Response,
  identity: { tokenFor: async () => 'eyJhbGciOiJFUzI1NiJ9.' + 'x'.repeat(600) },
  logger: { debug() {}, info() {}, warn() {}, error() {} },
  accessLog: (entry) => {
    lines += JSON.stringify(entry).length > 0 ? 1 : 0
  },
})

// As the Node listener hands requests over (node-request.ts): strings, one Headers, a Cancellation, no body.
const request = () =>
  ({ method: 'GET', url: 'http://payments/charge/42?x=1', headers: new Headers({ host: 'payments', 'user-agent': 'bench', accept: '*/*' }), signal: new Cancellation(), body: null }) as unknown as Request
const inboundRequest = () =>
  ({
    method: 'GET',
    url: 'http://orders/orders/42',
    headers: new Headers({ host: 'orders', 'weft-identity': callerToken, accept: '*/*' }),
    signal: new Cancellation(),
    body: null,
  }) as unknown as Request

async function run(direction: 'outbound' | 'inbound', n: number) {
  for (let i = 0; i < n; i++) {
    const r = direction === 'outbound' ? await core.outbound(request(), 'payments') : await core.inbound(inboundRequest())
    if (r.status !== 200) throw new Error(`${direction} status ${r.status}: ${await r.text()}`)
  }
}
for (const direction of ['outbound', 'inbound'] as const) {
  await run(direction, 20_000)
  for (let round = 0; round < 3; round++) {
    const n = 50_000
    const cpu = process.cpuUsage()
    await run(direction, n)
    const used = process.cpuUsage(cpu)
    console.log(`core.${direction}: ${((used.user + used.system) / n).toFixed(2)} µs CPU per request (incl. the request's Headers)`)
  }
}
console.log(`access lines: ${lines}`)
