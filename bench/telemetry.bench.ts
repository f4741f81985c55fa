/**
 * Telemetry: ingestion throughput and graph query time, on PGlite and (when BENCH_DATABASE_URL or
 * TEST_DATABASE_URL is set) PostgreSQL, side by side in one run. `npm run bench:telemetry`.
 *
 * - Ingestion: P proxies, each with its own workload token, push concurrently (one push in flight per proxy,
 *   as a sidecar does) through the whole control API in-process (auth, zod, dedupe row, upserts), each push
 *   carrying S series (S/2 request counters, S/2 latency histograms), for a fixed time. Reported: pushes/s and
 *   series/s, and what that means in proxies at the default 5 s interval.
 * - Graph: a tenant with 1000 services, each calling 3 others (3000 edges), with 20 minutes of minute rollups
 *   from both sides of every edge (9000 rows a minute, 180k rows); `GET /v1/telemetry/graph?window=15m` and
 *   one service's 1-hour series are timed (median of repeated runs).
 *
 * Not a test; asserts only that the answers are the right size. Numbers go to stdout and to
 * bench/results/telemetry.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { createApp } from '../control-api/src/app'
import { loadConfig } from '../control-api/src/config'
import type { Db } from '../control-api/src/db/client'
import { connectPglite } from '../control-api/src/db/connect-pglite'
import { connectPostgres } from '../control-api/src/db/connect-postgres'
import { migrate } from '../control-api/src/db/migrate'
import { migrations } from '../control-api/src/db/migrations.generated'
import { telemetryMinutes } from '../control-api/src/db/schema'
import { generateMasterKeyBase64, importMasterKey } from '../control-api/src/identity/master-key'
import { jsonLogger } from '../control-api/src/logger'
import { floorTo, MINUTE_MS, upsertRollups } from '../control-api/src/telemetry/record-telemetry'
import type { RollupRow } from '../control-api/src/telemetry/rollup-key'
import { emptyBuckets } from '../mesh/src/telemetry/latency-histogram'
import type { TelemetryPush } from '../mesh/src/telemetry/telemetry-push'

process.env.WEFT_QUIET_SKIP ??= '1'
const { createScratchDatabase } = await import('../test/support/databases')

const POSTGRES_URL = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL
const OPERATOR_KEY = 'wfo_bench_operator_key_0123456789abcdef'
const RESULTS_FILE = new URL('./results/telemetry.json', import.meta.url)

const PROXIES = Number(process.env.BENCH_PROXIES ?? 20)
const SERIES_PER_PUSH = Number(process.env.BENCH_SERIES ?? 100)
const INGEST_MS = Number(process.env.BENCH_INGEST_MS ?? 5_000)
const SERVICES = 1000
const CALLEES = [1, 7, 31]
const SEED_MINUTES = 20
const QUERY_RUNS = 7
const PUSH_INTERVAL_S = 5

type Backend = { name: string; open(): Promise<{ db: Db; close(): Promise<void> }> }

const backends: Backend[] = [
  {
    name: 'pglite',
    async open() {
      const d = await connectPglite(null)
      await migrate(d.db, migrations)
      return d
    },
  },
  ...(POSTGRES_URL
    ? [
        {
          name: 'postgres',
          async open() {
            const scratch = await createScratchDatabase(POSTGRES_URL)
            const d = connectPostgres(scratch.url)
            await migrate(d.db, migrations)
            return {
              db: d.db,
              async close() {
                await d.close()
                await scratch.drop()
              },
            }
          },
        },
      ]
    : []),
]

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const svc = (i: number) => `svc-${String(i % SERVICES).padStart(4, '0')}`

async function runBackend(backend: Backend) {
  const database = await backend.open()
  const config = loadConfig({ WEFT_OPERATOR_KEY: OPERATOR_KEY, DATABASE_URL: 'memory://' })
  const app = createApp({ config, masterKey: await importMasterKey(generateMasterKeyBase64()), logger: jsonLogger({ level: 'error' }), getDb: () => database.db })
  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const res = await app.request(path, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return JSON.parse(text)
  }
  try {
    // --- ingestion -------------------------------------------------------------------------------------
    const ingestKey = (await call('POST', '/v1/tenants', OPERATOR_KEY, { slug: 'ingest' })).adminKey.secret as string
    const proxies: { token: string; proxyId: string; service: string; seq: number }[] = []
    for (let p = 0; p < PROXIES; p++) {
      const service = `proxy-${p}`
      await call('POST', '/v1/services', ingestKey, { name: service })
      const jt = await call('POST', `/v1/services/${service}/join-tokens`, ingestKey)
      const token = (await call('POST', '/v1/identity/token', jt.secret)).token as string
      proxies.push({ token, proxyId: crypto.randomUUID(), service, seq: 0 })
    }
    const half = SERIES_PER_PUSH / 2
    const pushOf = (p: (typeof proxies)[number]): TelemetryPush => {
      const buckets = emptyBuckets()
      buckets[5] = 40
      buckets[6] = 2
      return {
        proxyId: p.proxyId,
        seq: ++p.seq,
        observedAt: new Date().toISOString(),
        requests: Array.from({ length: half }, (_, i) => ({ direction: 'outbound' as const, source: p.service, destination: `callee-${i}`, route: '', statusClass: '2xx' as const, reason: '', count: 42 })),
        latency: Array.from({ length: half }, (_, i) => ({ direction: 'outbound' as const, source: p.service, destination: `callee-${i}`, route: '', statusClass: '2xx' as const, buckets, sumSeconds: 1.2 })),
      }
    }
    // Warm-up: one push each (JIT, first inserts of every row).
    await Promise.all(proxies.map((p) => call('POST', '/v1/proxy/telemetry', p.token, pushOf(p))))
    let pushes = 0
    const latencies: number[] = []
    const started = performance.now()
    const end = started + INGEST_MS
    await Promise.all(
      proxies.map(async (p) => {
        while (performance.now() < end) {
          const t = performance.now()
          await call('POST', '/v1/proxy/telemetry', p.token, pushOf(p))
          latencies.push(performance.now() - t)
          pushes++
        }
      }),
    )
    const seconds = (performance.now() - started) / 1000
    const pushesPerSecond = pushes / seconds
    const ingest = {
      proxies: PROXIES,
      seriesPerPush: SERIES_PER_PUSH,
      pushes,
      pushesPerSecond: Math.round(pushesPerSecond * 10) / 10,
      seriesPerSecond: Math.round(pushesPerSecond * SERIES_PER_PUSH),
      pushP50Ms: Math.round(median(latencies) * 10) / 10,
      proxiesAt5sInterval: Math.round(pushesPerSecond * PUSH_INTERVAL_S),
    }

    // --- graph over 1000 services ---------------------------------------------------------------------
    const graphKey = (await call('POST', '/v1/tenants', OPERATOR_KEY, { slug: 'big' })).adminKey.secret as string
    const tenantId = (await call('GET', '/v1/tenant', graphKey)).id as string
    const rowsPerMinute: RollupRow[] = []
    const hist = emptyBuckets()
    hist[4] = 50
    hist[6] = 45
    hist[9] = 5
    for (let i = 0; i < SERVICES; i++) {
      for (const d of CALLEES) {
        const [source, destination] = [svc(i), svc(i + d)]
        rowsPerMinute.push({ reporter: 'outbound', source, destination, route: '', statusClass: '2xx', reason: '', requests: 100, latencyBuckets: hist, latencySumSeconds: 3 })
        rowsPerMinute.push({ reporter: 'outbound', source, destination, route: '', statusClass: '5xx', reason: 'upstream-reset', requests: 1, latencyBuckets: emptyBuckets(), latencySumSeconds: 0 })
        rowsPerMinute.push({ reporter: 'inbound', source, destination, route: '', statusClass: '2xx', reason: '', requests: 100, latencyBuckets: hist, latencySumSeconds: 2.5 })
      }
    }
    const now = new Date()
    const seedStarted = performance.now()
    for (let m = 0; m < SEED_MINUTES; m++) await upsertRollups(database.db, telemetryMinutes, tenantId, new Date(floorTo(now, MINUTE_MS).getTime() - m * MINUTE_MS), rowsPerMinute)
    const seedSeconds = (performance.now() - seedStarted) / 1000
    const time = async (path: string, check: (body: any) => void) => {
      check(await call('GET', path, graphKey))
      const runs: number[] = []
      for (let r = 0; r < QUERY_RUNS; r++) {
        const t = performance.now()
        await call('GET', path, graphKey)
        runs.push(performance.now() - t)
      }
      return Math.round(median(runs) * 10) / 10
    }
    const graphMs = await time('/v1/telemetry/graph?window=15m', (g) => {
      if (g.nodes.length !== SERVICES || g.edges.length !== SERVICES * CALLEES.length) throw new Error(`graph has ${g.nodes.length} nodes, ${g.edges.length} edges`)
    })
    const serviceMs = await time(`/v1/telemetry/services/${svc(1)}?window=1h&step=1m`, (s) => {
      if (s.points.length !== 60 || s.total.requests === 0) throw new Error('service series is wrong')
    })
    return {
      backend: backend.name,
      ingest,
      graph: { services: SERVICES, edges: SERVICES * CALLEES.length, rows: rowsPerMinute.length * SEED_MINUTES, seedRowsPerSecond: Math.round((rowsPerMinute.length * SEED_MINUTES) / seedSeconds), graph15mMs: graphMs, service1hMs: serviceMs },
    }
  } finally {
    await database.close()
  }
}

const results = []
for (const b of backends) results.push(await runBackend(b))

console.log(`Telemetry benchmark — Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg()[0]!.toFixed(2)}`)
console.log(`\nIngestion: ${PROXIES} proxies pushing concurrently for ${INGEST_MS / 1000}s, ${SERIES_PER_PUSH} series a push, through the app in-process`)
console.log(['backend', 'pushes/s', 'series/s', 'push p50 ms', 'proxies @5s'].map((h, i) => (i ? h.padStart(12) : h.padEnd(10))).join(''))
for (const r of results) console.log([r.backend.padEnd(10), ...[r.ingest.pushesPerSecond, r.ingest.seriesPerSecond, r.ingest.pushP50Ms, r.ingest.proxiesAt5sInterval].map((v) => String(v).padStart(12))].join(''))
console.log(`\nGraph: ${SERVICES} services, ${SERVICES * CALLEES.length} edges, ${SEED_MINUTES} minutes of rollups from both sides; median of ${QUERY_RUNS}`)
console.log(['backend', 'rows', 'graph 15m ms', 'service 1h ms'].map((h, i) => (i ? h.padStart(14) : h.padEnd(10))).join(''))
for (const r of results) console.log([r.backend.padEnd(10), ...[r.graph.rows, r.graph.graph15mMs, r.graph.service1hMs].map((v) => String(v).padStart(14))].join(''))
if (results.length === 2) {
  const [a, b] = results as [(typeof results)[0], (typeof results)[0]]
  console.log(`\npostgres / pglite: ingestion ×${(b.ingest.seriesPerSecond / a.ingest.seriesPerSecond).toFixed(2)}, graph query ×${(a.graph.graph15mMs / b.graph.graph15mMs).toFixed(2)} faster`)
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
writeFileSync(RESULTS_FILE, JSON.stringify({ node: process.version, cpus: os.cpus().length, at: new Date().toISOString(), results }, null, 2) + '\n')
console.log(`\nwrote ${RESULTS_FILE.pathname}`)
