/**
 * CPU cost of the proxy core alone per outbound request (`npx tsx bench/proxy/core-cost.ts`): core.outbound()
 * on a Route with a retry rule and a BackendPolicy, identity attached, metrics, tracing and an access log
 * line, against a transport that answers at once (no sockets). What a hop costs beyond its listener and
 * transport (bench/proxy/bare-undici-proxy.ts); `node --cpu-prof` through tsx to see where it goes.
 */
import { Cancellation, createProxyCore } from '../../edge-proxy/src/core/index'
import { UpstreamResponse } from '../../edge-proxy/src/runtime/upstream-response'
import { endpoint, outboundService, snapshotOf } from '../../edge-proxy/test-support/snapshots'

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
])
let lines = 0
const core = createProxyCore({
  snapshot: () => snapshot,
  upstream: async () => new Response('ok'),
  // As the Node sidecar's transport answers: a lazy response over undici's header record.
  sendUpstream: async () => new UpstreamResponse(200, { 'content-type': 'text/plain', 'content-length': '2' }, null) as unknown as Response,
  app: async () => new Response('ok'),
  identity: { tokenFor: async () => 'eyJhbGciOiJFUzI1NiJ9.' + 'x'.repeat(600) },
  logger: { debug() {}, info() {}, warn() {}, error() {} },
  accessLog: (entry) => {
    lines += JSON.stringify(entry).length > 0 ? 1 : 0
  },
})

// As the Node listener hands requests over (node-request.ts): strings, one Headers, a Cancellation, no body.
const request = () =>
  ({ method: 'GET', url: 'http://payments/charge/42?x=1', headers: new Headers({ host: 'payments', 'user-agent': 'bench', accept: '*/*' }), signal: new Cancellation(), body: null }) as unknown as Request
async function run(n: number) {
  for (let i = 0; i < n; i++) {
    const r = await core.outbound(request(), 'payments')
    if (r.status !== 200) throw new Error(`status ${r.status}: ${await r.text()}`)
  }
}
await run(20_000)
for (let round = 0; round < 3; round++) {
  const n = 50_000
  const cpu = process.cpuUsage()
  await run(n)
  const used = process.cpuUsage(cpu)
  console.log(`core.outbound: ${((used.user + used.system) / n).toFixed(2)} µs CPU per request (incl. the request's Headers)`)
}
console.log(`access lines: ${lines}`)
