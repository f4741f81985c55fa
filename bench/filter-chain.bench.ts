/**
 * Per-request cost of Weft's four-filter chain — jwt-auth (cached verify), claim-route, ratelimit, telemetry — on
 * Node through the real proxy-wasm host, next to the same decisions written in plain TypeScript, and the host's
 * own overhead for an empty filter. Targets (issue 7): ≤ 25 µs per request for the chain, ≤ 3 µs for the empty
 * filter. Reports, asserts nothing (timings vary by machine): `npx tsx bench/filter-chain.bench.ts`; the table also goes
 * to bench/results/filter-chain.json. `BENCH_ONLY=<name part>` runs only the matching rows (for `node --cpu-prof`).
 *
 * A "request" is what the sidecar (FilterChainRun) does per filter: startStream, onRequestHeadersNow (awaited only
 * when the filter paused), and — for "+ response" rows — onResponseHeadersNow, then finish (proxy_on_done/log/delete). Rounds are interleaved and the median kept,
 * so background load skews every row alike.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createFilterHost, type ContinueResult, type FilterHost } from '../edge-proxy/src/wasm/filter-host'
import { createVerifyJwt, jwtForeignFunctions } from '../edge-proxy/src/wasm/foreign-functions'
import type { HeaderList } from '../edge-proxy/src/wasm/header-map'
import { SharedData } from '../edge-proxy/src/wasm/shared-data'
import { assembleModule, op } from '../edge-proxy/src/wasm/test-wasm-binary'
import { buildFilter, buildFilters, DIST_DIR } from '../filters/build'

const ROUND_MS = 1000
const ROUNDS = 5
const WARMUP_MS = 500
const ISSUER = 'https://login.bench'

type Bench = { name: string; op: () => Promise<unknown> | unknown }

/**
 * CPU microseconds per op (process.cpuUsage: user + system), not wall time: on a shared machine wall time counts
 * the time other processes hold the core, CPU time only this process's own work.
 */
async function cpuMicrosPerOp(op: Bench['op'], ms: number): Promise<number> {
  let n = 0
  const start = performance.now()
  const cpu = process.cpuUsage()
  for (;;) {
    for (let i = 0; i < 64; i++) await op()
    n += 64
    if (performance.now() - start >= ms) {
      const used = process.cpuUsage(cpu)
      return (used.user + used.system) / n
    }
  }
}

const MASK64 = (1n << 64n) - 1n
/** claim-route's bucket (filters/sdk/util.ts hashPercentBucket: FNV-1a 64 + fmix64, mod 10000), in BigInt. */
function stickyBucket(key: string): number {
  let h = 0xcbf29ce484222325n
  for (const byte of new TextEncoder().encode(key)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK64
  h ^= h >> 33n
  h = (h * 0xff51afd7ed558ccdn) & MASK64
  h ^= h >> 33n
  h = (h * 0xc4ceb9fe1a85ec53n) & MASK64
  h ^= h >> 33n
  return Number(h % 10000n)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function compile(file: string) {
  return new WebAssembly.Module(await readFile(file))
}

async function main() {
  const built = Object.fromEntries((await buildFilters(['jwt-auth', 'claim-route', 'ratelimit', 'telemetry'])).map((b) => [b.name, b.file]))
  // The emptiest filter Weft's SDK makes, written under the git-ignored dist/ so the build's `sdk/` paths resolve
  // and no build picks it up as a filter.
  const emptySource = path.join(DIST_DIR, 'bench-src', 'empty', 'index.ts')
  await mkdir(path.dirname(emptySource), { recursive: true })
  await writeFile(emptySource, [
    'import { RootContext, registerRootContext } from "../../../sdk";',
    'export * from "../../../sdk/exports";',
    'registerRootContext((id: u32): RootContext => new RootContext(id));',
  ].join('\n'))
  const emptyFile = path.join(DIST_DIR, 'bench-src', 'empty.wasm')
  await buildFilter('dist/bench-src/empty/index.ts', emptyFile, 'empty')
  // The host alone: a hand-assembled module whose callbacks only return, so no SDK work is counted.
  const i32 = 'i32' as const
  const bare = new WebAssembly.Module(assembleModule([], [
    { name: 'proxy_abi_version_0_2_1', type: { params: [], results: [] }, body: [] },
    { name: 'proxy_on_context_create', type: { params: [i32, i32], results: [] }, body: [] },
    { name: 'proxy_on_request_headers', type: { params: [i32, i32, i32], results: [i32] }, body: op.i32Const(0) },
    { name: 'proxy_on_response_headers', type: { params: [i32, i32, i32], results: [i32] }, body: op.i32Const(0) },
    { name: 'proxy_on_done', type: { params: [i32], results: [i32] }, body: op.i32Const(1) },
    { name: 'proxy_on_log', type: { params: [i32], results: [] }, body: [] },
    { name: 'proxy_on_delete', type: { params: [i32], results: [] }, body: [] },
  ]))

  const pair = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'bench', alg: 'ES256' }
  const token = await new SignJWT({ plan: 'gold' }).setProtectedHeader({ alg: 'ES256', kid: 'bench' }).setIssuer(ISSUER)
    .setAudience('orders').setSubject('user-42').setIssuedAt().setExpirationTime('1h').sign(pair.privateKey)

  const verify = createVerifyJwt()
  const sharedData = new SharedData()
  const host = async (name: string, config: object, failurePolicy: 'open' | 'closed' = 'closed') =>
    createFilterHost({ module: await compile(built[name]!), rootId: name, config: JSON.stringify(config), failurePolicy, sharedData, foreignFunctions: jwtForeignFunctions(verify) })
  const chain: FilterHost[] = [
    await host('jwt-auth', { issuers: [{ issuer: ISSUER, audiences: ['orders'], jwks: { keys: [jwk] } }], forwardClaims: ['sub', 'plan'] }),
    await host('claim-route', { rules: [{ set: 'x-weft-canary', value: 'v2', from: { cookie: 'uid' }, percent: 10 }, { set: 'x-plan-route', from: { claim: 'plan' } }] }),
    await host('ratelimit', { key: { claim: 'sub' }, rate: 1e9, burst: 1e9 }),
    await host('telemetry', { prefix: 'bench', countBy: { claim: 'plan' } }, 'open'),
  ]
  const empty = createFilterHost({ module: await compile(emptyFile), rootId: 'empty' })
  const bareHost = createFilterHost({ module: bare, rootId: 'bare' })
  const requestHeaders = (): [string, string][] => [
    ['host', 'orders'], ['user-agent', 'bench/1'], ['accept', '*/*'], ['authorization', `Bearer ${token}`], ['cookie', 'theme=dark; uid=user-42'],
  ]
  const responseHeaders = { 'content-type': 'application/json', 'content-length': '17' }

  // As FilterChainRun does: one request-properties object for the chain, no promise per filter unless it pauses,
  // each filter hands its map on (a HeaderList), and the sidecar gets one Headers at the end.
  async function runChain(withResponse: boolean) {
    let headers: HeadersInit | HeaderList = requestHeaders()
    let last: ContinueResult | undefined
    const streams = []
    const request = { method: 'GET', path: '/orders/7', authority: 'orders' }
    for (const h of chain) {
      const stream = h.startStream(request)
      streams.push(stream)
      let result = stream.onRequestHeadersNow(headers)
      if (result instanceof Promise) result = await result
      if (result.action !== 'continue') throw new Error(`chain answered ${result.action}: ${new TextDecoder().decode(result.body)}`)
      headers = result.list
      last = result
    }
    const forwarded = last!.headers
    if (withResponse) {
      let response: HeadersInit | HeaderList = responseHeaders
      let lastResponse: ContinueResult | undefined
      for (let i = streams.length - 1; i >= 0; i--) {
        let result = streams[i]!.onResponseHeadersNow(response, { status: 200 })
        if (result instanceof Promise) result = await result
        if (result.action !== 'continue') throw new Error(`chain answered ${result.action} to the response`)
        response = result.list
        lastResponse = result
      }
      void lastResponse!.headers
    }
    for (const s of streams) s.finish()
    return forwarded
  }

  async function runEmpty(withResponse: boolean, h = empty) {
    const stream = h.startStream({ method: 'GET', path: '/orders/7', authority: 'orders' })
    let result = stream.onRequestHeadersNow(requestHeaders())
    if (result instanceof Promise) result = await result
    if (withResponse) {
      const response = stream.onResponseHeadersNow(responseHeaders, { status: 200 })
      if (response instanceof Promise) await response
    }
    stream.finish()
    return result
  }

  // The same decisions in plain TypeScript, on fetch Headers like the sidecar's: cached-claims lookup, claim
  // headers, sticky hash, token bucket, counters and histogram, access-log line.
  const claimsCache = new Map<string, { claims: { sub: string; plan: string }; until: number }>([[token, { claims: { sub: 'user-42', plan: 'gold' }, until: Date.now() + 3_600_000 }]])
  const buckets = new Map<string, { tokens: number; last: number }>()
  const counters = new Map<string, number>()
  const histogram = { count: 0, sum: 0 }
  let logLine = ''
  function plain() {
    const start = performance.now()
    const headers = new Headers(requestHeaders())
    for (const k of [...headers.keys()]) if (k.startsWith('x-jwt-claim-')) headers.delete(k)
    const auth = headers.get('authorization') ?? ''
    const hit = claimsCache.get(auth.slice(7))
    if (!hit || hit.until <= Date.now()) throw new Error('not cached')
    headers.set('x-jwt-claim-sub', hit.claims.sub)
    headers.set('x-jwt-claim-plan', hit.claims.plan)
    headers.delete('authorization')
    const uid = /(?:^|;\s*)uid=([^;]*)/.exec(headers.get('cookie') ?? '')?.[1]
    headers.delete('x-weft-canary')
    if (uid !== undefined && stickyBucket(`x-weft-canary:${uid}`) < 1000) headers.set('x-weft-canary', 'v2')
    headers.set('x-plan-route', headers.get('x-jwt-claim-plan')!)
    const key = headers.get('x-jwt-claim-sub') ?? ''
    const now = Date.now()
    const b = buckets.get(key) ?? { tokens: 1e9, last: now }
    b.tokens = Math.min(1e9, b.tokens + ((now - b.last) / 1000) * 1e9) - 1
    b.last = now
    buckets.set(key, b)
    const counter = `bench_requests_total{plan="${headers.get('x-jwt-claim-plan')}"}`
    counters.set(counter, (counters.get(counter) ?? 0) + 1)
    const micros = Math.round((performance.now() - start) * 1000)
    histogram.count += 1
    histogram.sum += micros
    counters.set('bench_responses_total{class="2xx"}', (counters.get('bench_responses_total{class="2xx"}') ?? 0) + 1)
    logLine = JSON.stringify({ msg: 'access', method: 'GET', path: '/orders/7', status: 200, duration_us: micros })
    return headers
  }

  // Sanity: both paths make the same routing decisions before anything is timed.
  const viaWasm = await runChain(true)
  const viaTs = plain()
  for (const name of ['x-jwt-claim-sub', 'x-jwt-claim-plan', 'x-plan-route', 'x-weft-canary', 'authorization']) {
    if ((viaWasm as Headers).get(name) !== viaTs.get(name)) throw new Error(`wasm and TypeScript disagree on ${name}`)
  }

  // BENCH_GAP=1: each filter as its own request, fed the very list it receives inside the chain — alone in a tight
  // loop, and the four one after another (round robin). Their difference is what alternating between four modules
  // costs (filters/README.md "Cost": the chain is not dearer than the round robin, the round robin than the sum).
  const gapBenches: Bench[] = []
  if (process.env.BENCH_GAP) {
    const inputs: Array<HeadersInit | HeaderList> = []
    let headers: HeadersInit | HeaderList = requestHeaders()
    for (const h of chain) {
      inputs.push(headers)
      const stream = h.startStream({ method: 'GET', path: '/orders/7', authority: 'orders' })
      const result = await stream.onRequestHeaders(headers)
      stream.finish()
      if (result.action !== 'continue') throw new Error(`${h.rootId} answered ${result.action}`)
      headers = result.list
    }
    const alone = (i: number) => () => {
      const stream = chain[i]!.startStream({ method: 'GET', path: '/orders/7', authority: 'orders' })
      const result = stream.onRequestHeadersNow(i === 0 ? requestHeaders() : inputs[i]!)
      stream.finish()
      return result
    }
    for (const [i, h] of chain.entries()) gapBenches.push({ name: `gap: ${h.rootId} alone, request phase`, op: alone(i) })
    gapBenches.push({ name: 'gap: the four alone, round robin, request phase', op: () => { for (let i = 0; i < chain.length; i++) alone(i)() } })
  }

  const allBenches: Bench[] = [
    { name: 'plain TypeScript, same decisions', op: plain },
    { name: 'four-filter chain, request phase', op: () => runChain(false) },
    { name: 'four-filter chain, + response phase', op: () => runChain(true) },
    { name: 'empty filter, request phase', op: () => runEmpty(false) },
    { name: 'empty filter, + response phase', op: () => runEmpty(true) },
    { name: 'host only (bare module), request phase', op: () => runEmpty(false, bareHost) },
    ...gapBenches,
  ]
  // BENCH_ONLY=chain (a name substring) keeps the first row and the matching ones, e.g. under `node --cpu-prof`.
  const only = process.env.BENCH_ONLY
  const benches = only ? allBenches.filter((b, i) => i === 0 || b.name.includes(only)) : allBenches
  for (const b of benches) await cpuMicrosPerOp(b.op, WARMUP_MS)
  const samples = benches.map(() => [] as number[])
  for (let r = 0; r < ROUNDS; r++) for (const [i, b] of benches.entries()) samples[i]!.push(await cpuMicrosPerOp(b.op, ROUND_MS))
  const results = benches.map((b, i) => ({ name: b.name, us: median(samples[i]!) }))
  const ts = results[0]!.us

  if (verify.stats().verifications !== 1) throw new Error(`verify was not cached: ${JSON.stringify(verify.stats())}`)
  for (const h of [...chain, empty, bareHost]) if (h.stats.failures > 0) throw new Error(`${h.rootId} failed during the bench`)

  const width = Math.max(...results.map((r) => r.name.length))
  console.log(`Filter chain benchmark — Node ${process.version}, ${ROUNDS} interleaved rounds of ${ROUND_MS} ms, median CPU time, one request in flight; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} cores`)
  console.log(`${'benchmark'.padEnd(width)}  ${'CPU µs/req'.padStart(10)}  ${'× plain TS'.padStart(10)}`)
  for (const r of results) console.log(`${r.name.padEnd(width)}  ${r.us.toFixed(2).padStart(10)}  ${(r.us / ts).toFixed(1).padStart(10)}`)
  console.log('targets: chain ≤ 25 µs, empty filter ≤ 3 µs (issue 7); last access log:', logLine.length, 'chars')
  // The full run is the one filters/README.md quotes; a BENCH_ONLY or BENCH_GAP run leaves the file alone.
  if (!only && !process.env.BENCH_GAP) {
    const file = new URL('./results/filter-chain.json', import.meta.url)
    await writeFile(file, `${JSON.stringify({
      node: process.version, cpus: os.availableParallelism(), at: new Date().toISOString(), loadAverage: Number(os.loadavg()[0]!.toFixed(1)),
      rounds: ROUNDS, roundMs: ROUND_MS, unit: 'CPU µs per request (median of rounds)', targets: { chainMicros: 25, emptyFilterMicros: 3 },
      results: results.map((r) => ({ name: r.name, cpuMicros: Number(r.us.toFixed(2)), timesPlainTs: Number((r.us / ts).toFixed(1)) })),
    }, null, 2)}\n`)
  }
}

await main()
