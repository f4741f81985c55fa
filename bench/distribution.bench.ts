/**
 * Snapshot distribution (issue 5): how long a policy write takes to reach 1, 100 and 1000 long-polling
 * proxies, and what compiling a large tenant's snapshots costs in time, bytes and memory. DESIGN.md
 * promises that a policy change reaches every watching proxy within one second.
 * Not a test and asserts nothing (timings vary by machine); run with `npm run bench:distribution` (BENCH_BACKENDS=postgres
 * or pglite for one backend, BENCH_LARGE_ONLY=1 for the 1000-service tenant alone).
 *
 * Propagation: the control API runs on a real port (@hono/node-server) on this thread; the watchers are
 * real HTTP long polls from a worker thread (bench/distribution/watchers.worker.ts), which also sends the
 * write, so each latency is read on one clock: from just before the write is sent to the watcher's 200
 * fully read. Rounds are repeated per watcher count and every watcher of every round is one sample.
 * PGlite always; PostgreSQL when BENCH_DATABASE_URL or TEST_DATABASE_URL is set, on one instance and
 * across two (watchers on B, writes on A: two apps, two pools, two LISTEN connections, one database),
 * which is what a multi-instance deployment sees.
 *
 * Compile: a tenant of 1000 services and 5000 endpoints, bulk-loaded through the real migrations and
 * schema, compiled with the real SnapshotCache / loadTenantModel / compileSnapshot.
 *
 * Numbers go to stdout as tables and to bench/results/distribution.json.
 */
import { serve, type ServerType } from '@hono/node-server'
import { mkdirSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Worker } from 'node:worker_threads'
import { pino } from 'pino'
import { canonicalJson } from '../mesh/src/snapshot/canonical-json'
import { createApp } from '../control-api/src/app'
import { loadConfig } from '../control-api/src/config'
import type { Db } from '../control-api/src/db/client'
import { connectPglite } from '../control-api/src/db/connect-pglite'
import { connectPostgres } from '../control-api/src/db/connect-postgres'
import { migrate } from '../control-api/src/db/migrate'
import { migrations } from '../control-api/src/db/migrations.generated'
import { pgliteNotifications, postgresNotifications, revisionReader } from '../control-api/src/distribution/notify-sources'
import { createRevisionBus, type RevisionBus, type RevisionBusOptions } from '../control-api/src/distribution/revision-bus'
import { generateMasterKeyBase64, importMasterKey } from '../control-api/src/identity/master-key'
import type { Logger } from '../control-api/src/logger'
import { compileOutbound, compileSnapshot, serialise, sha256Hex } from '../control-api/src/snapshot/compile-snapshot'
import { MAX_WAIT_SECONDS } from '../control-api/src/routes/proxy-config'
import { SnapshotCache } from '../control-api/src/snapshot/snapshot-cache'
import { loadTenantModel } from '../control-api/src/snapshot/tenant-model'
import { canaryRoute, declareDependencies, routeName, seedLargeTenant, serviceName, type LargeTenantShape } from './distribution/seed-large-tenant'
import type { FromWatchers, RoundResult, ToWatchers, Watcher } from './distribution/watchers.worker'

// The support module warns on import when TEST_DATABASE_URL is unset; this benchmark says so itself.
process.env.WEFT_QUIET_SKIP ??= '1'
const { createScratchDatabase } = await import('../test/support/databases')

const POSTGRES_URL = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL
const OPERATOR_KEY = 'wfo_bench_operator_key_0123456789abcdef'
const RESULTS_FILE = new URL('./results/distribution.json', import.meta.url)

/** Rounds per watcher count: enough samples for a p99 at 100 and 1000, enough rounds for a max at 1. */
const ROUNDS: Record<number, number> = { 1: 30, 100: 10, 1000: 5 }
/** The large tenant, one watcher per service: each round recompiles that many 1 MB snapshots, so fewer. */
const LARGE_ROUNDS: Record<number, number> = { 1: 10, 100: 5, 1000: 3 }
/** Unrecorded rounds first: JIT, connection set-up, first compile. */
const WARMUP_ROUNDS = 1
/** Proxies ask for the longest hold the API grants, so arming and slow rounds never meet a poll's timeout. */
const WAIT_SECONDS = MAX_WAIT_SECONDS
/** The write is sent this long after the last watcher is parked, so arming traffic has drained. */
const SETTLE_MS = 100
const ARM_TIMEOUT_MS = 120_000
const SMALL_SERVICES = 10
/** Declared dependencies per service in the scoped run (Kuma's reachable services, Istio's Sidecar egress). */
const DEPENDENCIES_PER_SERVICE = 5
const LARGE: LargeTenantShape = { services: 1000, endpointsPerService: 5, policyEvery: 5, endpointTtlSeconds: 3600 }
const COLD_ROUNDS = 5
/** Tenant models held at once while measuring one's memory, so it stands out of the allocator's noise. */
const MEMORY_COPIES = 4

const expose = () => {
  v8.setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}
const gc = expose()

// --- statistics and tables --------------------------------------------------------------------------

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
const ascending = (xs: number[]) => [...xs].sort((a, b) => a - b)
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : '–')
const round2 = (x: number) => Math.round(x * 100) / 100
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  console.log(`\n${title}`)
  console.log(line(header))
  console.log(widths.map((w) => '─'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(r))
}

// --- control API instances on real ports --------------------------------------------------------------

type Instance = {
  url: string
  revisions: RevisionBus
  snapshots: SnapshotCache
  /** Setup calls, in-process: only the watchers and the measured write go over HTTP. */
  api<T = any>(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; headers: Headers; body: T }>
  close(): Promise<void>
}

function benchLogger(): Logger {
  // Production logs every request at info (runtime/node.ts); keep that cost, show only warnings.
  const streams = pino.multistream([
    { level: 'info', stream: pino.destination({ dest: '/dev/null', sync: false }) },
    { level: 'warn', stream: process.stderr },
  ])
  return pino({ level: 'info', base: { component: 'weft-control-api' } }, streams) as unknown as Logger
}

async function startInstance(db: Db, subscribe: RevisionBusOptions['subscribe'], masterKey: CryptoKey, logger: Logger): Promise<Instance> {
  const config = loadConfig({ WEFT_OPERATOR_KEY: OPERATOR_KEY, DATABASE_URL: 'memory://' })
  // The same bus settings as runtime/node.ts: NOTIFY wakes, a 5 s poll is the safety net.
  const revisions = await createRevisionBus({ readRevisions: revisionReader(db), subscribe, pollIntervalMs: 5_000, logger })
  const snapshots = new SnapshotCache(config.publicUrl)
  const app = createApp({ config, masterKey, revisions, snapshots, logger, getDb: () => db })
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    revisions,
    snapshots,
    async api(method, path, key, body) {
      const headers: Record<string, string> = { authorization: `Bearer ${key}` }
      if (body !== undefined) headers['content-type'] = 'application/json'
      const res = await app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
      const text = await res.text()
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`)
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null }
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        ;(server as unknown as { closeAllConnections(): void }).closeAllConnections()
      })
      await revisions.close()
    },
  }
}

type Backend = {
  name: 'PGlite' | 'PostgreSQL'
  /** Where writes go; also where watchers are in the one-instance case. */
  a: Instance
  /** A second instance over the same database, with its own pool and listener (PostgreSQL only). */
  b: Instance | null
  db: Db
  close(): Promise<void>
}

async function openPglite(masterKey: CryptoKey, logger: Logger): Promise<Backend> {
  const d = await connectPglite(null)
  await migrate(d.db, migrations)
  const a = await startInstance(d.db, pgliteNotifications(d.pglite), masterKey, logger)
  return { name: 'PGlite', a, b: null, db: d.db, close: async () => (await a.close(), await d.close()) }
}

async function openPostgres(serverUrl: string, masterKey: CryptoKey, logger: Logger): Promise<Backend> {
  const scratch = await createScratchDatabase(serverUrl)
  const da = connectPostgres(scratch.url)
  const db = connectPostgres(scratch.url)
  try {
    await migrate(da.db, migrations)
    const a = await startInstance(da.db, postgresNotifications(scratch.url, logger), masterKey, logger)
    const b = await startInstance(db.db, postgresNotifications(scratch.url, logger), masterKey, logger)
    return {
      name: 'PostgreSQL',
      a,
      b,
      db: da.db,
      async close() {
        await b.close()
        await a.close()
        await db.close()
        await da.close()
        await scratch.drop()
      },
    }
  } catch (err) {
    await Promise.allSettled([db.close(), da.close()])
    await scratch.drop()
    throw err
  }
}

// --- the watchers' thread ----------------------------------------------------------------------------

type WatcherThread = { send(msg: ToWatchers): Promise<FromWatchers>; close(): Promise<void> }

function startWatcherThread(): WatcherThread {
  // tsx does not hook worker threads by itself: register it inside the worker, then load the entry.
  const tsx = import.meta.resolve('tsx/esm/api')
  const entry = new URL('./distribution/watchers.worker.ts', import.meta.url).href
  const worker = new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}) })`, { eval: true })
  let failed: Error | null = null
  worker.on('error', (err) => (failed = err))
  return {
    send: (msg) =>
      new Promise((resolve, reject) => {
        if (failed) return reject(failed)
        const onError = (err: Error) => reject(err)
        worker.once('error', onError)
        worker.once('message', (reply: FromWatchers) => {
          worker.off('error', onError)
          if (reply.type === 'error') reject(new Error(`watcher thread: ${reply.message}`))
          else resolve(reply)
        })
        worker.postMessage(msg)
      }),
    close: () => worker.terminate().then(() => undefined),
  }
}

// --- tenants -------------------------------------------------------------------------------------------

type Tenant = { id: string; adminKey: string; revision: number }

async function onboard(inst: Instance, slug: string, quotas?: Record<string, number>): Promise<Tenant> {
  const r = await inst.api('POST', '/v1/tenants', OPERATOR_KEY, { slug, ...(quotas ? { quotas } : {}) })
  return { id: r.body.tenant.id, adminKey: r.body.adminKey.secret, revision: 0 }
}

/** Each proxy joins with its service's join token and holds its own workload token, as in production. */
async function joinWorkloads(inst: Instance, adminKey: string, service: string, count: number): Promise<Watcher[]> {
  const jt = await inst.api('POST', `/v1/services/${service}/join-tokens`, adminKey, { maxUses: count })
  const out: Watcher[] = []
  for (let i = 0; i < count; i++) out.push({ service, token: (await inst.api('POST', '/v1/identity/token', jt.body.secret)).body.token })
  return out
}

const splitRoute = (stableWeight: number) => ({
  kind: 'Route',
  name: 'app-0-split',
  targetRef: { service: 'app-0' },
  spec: { rules: [{ backendRefs: [{ labels: { version: 'v1' }, weight: stableWeight }, { labels: { version: 'v2' }, weight: 100 - stableWeight }] }] },
})

/** A small mesh (10 services, 3 endpoints each, one Route) and 1000 workloads spread over its services. */
async function smallTenant(inst: Instance) {
  const t = await onboard(inst, 'bench-prop')
  for (let s = 0; s < SMALL_SERVICES; s++) {
    await inst.api('POST', '/v1/services', t.adminKey, { name: `app-${s}`, port: 8080, labels: { team: 'bench' } })
    for (let e = 0; e < 3; e++) {
      await inst.api('POST', `/v1/services/app-${s}/endpoints`, t.adminKey, {
        address: `10.0.${s}.${e + 1}`,
        port: 8080,
        zone: `zone-${'abc'[e]}`,
        labels: { version: e === 2 ? 'v2' : 'v1' },
        ttlSeconds: 3600,
      })
    }
  }
  await inst.api('POST', '/v1/policies', t.adminKey, splitRoute(90))
  const perService = await Promise.all(Array.from({ length: SMALL_SERVICES }, (_, s) => joinWorkloads(inst, t.adminKey, `app-${s}`, 1000 / SMALL_SERVICES)))
  // Interleaved, so the first n watchers cover as many services as n allows.
  const watchers = Array.from({ length: 1000 }, (_, i) => perService[i % SMALL_SERVICES]![Math.floor(i / SMALL_SERVICES)]!)
  let k = 0
  // Each write must change the policy (an identical PUT changes nothing and moves no revision).
  const nextWrite = () => ({ path: '/v1/policies/app-0-split', body: splitRoute(1 + (k++ % 98)) })
  return { tenant: t, watchers, nextWrite }
}

async function largeTenant(inst: Instance, db: Db) {
  const t = await onboard(inst, 'bench-big', { maxServices: LARGE.services * 2, maxEndpointsPerService: 100 })
  const started = performance.now()
  t.revision = await seedLargeTenant(db, t.id, LARGE, new Date())
  const seedMs = performance.now() - started
  return { tenant: t, seedMs }
}

/** One workload per service, so a write wakes a proxy of every service and each needs its own snapshot. */
async function largeTenantWatchers(inst: Instance, adminKey: string) {
  const watchers: Watcher[] = []
  for (let i = 0; i < LARGE.services; i++) watchers.push(...(await joinWorkloads(inst, adminKey, serviceName(i), 1)))
  let k = 0
  const nextWrite = () => ({ path: `/v1/policies/${routeName(0)}`, body: canaryRoute(0, 1 + (k++ % 98)) })
  return { watchers, nextWrite }
}

// --- propagation -----------------------------------------------------------------------------------------

type PropagationRow = {
  backend: string
  topology: string
  tenant: string
  watchers: number
  rounds: number
  samples: number
  missed: number
  writeP50Ms: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** The slowest watcher of each round, median over rounds: what "every proxy within a second" is about. */
  roundMaxP50Ms: number
  /** Polls re-sent after a connection-level failure (see watchers.worker.ts), arming included. */
  retries: number
  failures: string[]
}

const sleep = (t: number) => new Promise((r) => setTimeout(r, t))

async function until(cond: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${describe()}`)
    await sleep(5)
  }
}

async function propagation(opts: {
  thread: WatcherThread
  backend: string
  topology: string
  tenant: string
  watchOn: Instance
  writeOn: Instance
  adminKey: string
  watchers: Watcher[]
  rounds: Record<number, number>
  nextWrite: () => { path: string; body: unknown }
}): Promise<PropagationRow[]> {
  const rows: PropagationRow[] = []
  for (const [n, rounds] of Object.entries(opts.rounds).map(([n, r]) => [Number(n), r] as const)) {
    const results: RoundResult[] = []
    for (let r = 0; r < WARMUP_ROUNDS + rounds; r++) {
      await until(() => opts.watchOn.revisions.waiting() === 0, 10_000, () => `${opts.watchOn.revisions.waiting()} waiters left from the last round`)
      await opts.thread.send({ type: 'arm', base: opts.watchOn.url, watchers: opts.watchers.slice(0, n), waitSeconds: WAIT_SECONDS })
      await until(() => opts.watchOn.revisions.waiting() === n, ARM_TIMEOUT_MS, () => `${opts.watchOn.revisions.waiting()} of ${n} watchers parked`)
      await sleep(SETTLE_MS)
      const { path, body } = opts.nextWrite()
      const reply = await opts.thread.send({ type: 'write', url: `${opts.writeOn.url}${path}`, method: 'PUT', key: opts.adminKey, body })
      if (reply.type !== 'round') throw new Error(`unexpected reply ${reply.type}`)
      if (r >= WARMUP_ROUNDS) results.push(reply.result)
    }
    const all = ascending(results.flatMap((x) => x.latencies.filter((l): l is number => l !== null)))
    const roundMax = ascending(results.map((x) => Math.max(...x.latencies.map((l) => l ?? Infinity))))
    const failures = results.flatMap((x) => x.failures)
    rows.push({
      backend: opts.backend,
      topology: opts.topology,
      tenant: opts.tenant,
      watchers: n,
      rounds,
      samples: all.length,
      missed: failures.length,
      writeP50Ms: round2(percentile(ascending(results.map((x) => x.writeMs)), 50)),
      p50Ms: round2(percentile(all, 50)),
      p99Ms: round2(percentile(all, 99)),
      maxMs: round2(all[all.length - 1] ?? NaN),
      roundMaxP50Ms: round2(percentile(roundMax, 50)),
      retries: results.reduce((n, x) => n + x.retries, 0),
      failures: failures.slice(0, 10),
    })
    const last = rows[rows.length - 1]!
    console.log(
      `  ${opts.backend}, ${opts.topology}, ${opts.tenant}, ${n} watcher(s): p50 ${ms(last.p50Ms)} ms, p99 ${ms(last.p99Ms)} ms, max ${ms(last.maxMs)} ms` +
        (last.missed ? `, ${last.missed} missed (${last.failures[0]})` : ''),
    )
  }
  return rows
}

// --- compile -------------------------------------------------------------------------------------------

type Memory = { heapUsed: number; external: number; rss: number }

function memory(): Memory {
  gc()
  gc()
  const m = process.memoryUsage()
  return { heapUsed: m.heapUsed, external: m.external, rss: m.rss }
}
const delta = (a: Memory, b: Memory): Memory => ({ heapUsed: b.heapUsed - a.heapUsed, external: b.external - a.external, rss: b.rss - a.rss })
const perCopy = (m: Memory): Memory => ({ heapUsed: m.heapUsed / MEMORY_COPIES, external: m.external / MEMORY_COPIES, rss: m.rss / MEMORY_COPIES })

type CompileResult = {
  backend: string
  services: number
  endpoints: number
  policies: number
  seedMs: number
  /** Per cold round: each part on its own, then the whole through a fresh SnapshotCache. */
  coldRounds: { loadModelMs: number; outboundMs: number; firstServiceMs: number; cacheColdMs: number }[]
  warmPerServiceMs: { p50: number; p99: number; max: number; mean: number }
  warmAllServicesMs: number
  snapshotBytes: { min: number; p50: number; max: number }
  outboundBytes: number
  modelMemory: Memory
  outboundMemory: Memory
  /** A SnapshotCache holding every service's compiled snapshot of one revision, as it does once every proxy has asked. */
  fullCacheMemory: Memory
}

async function compileBench(backend: Backend, tenant: Tenant, seedMs: number, issuer: string): Promise<CompileResult> {
  const first = serviceName(0)
  const now = () => new Date()

  // Memory first, on a quiet heap. A few copies are held at once so the model stands out of the noise.
  const m0 = memory()
  const models = []
  for (let i = 0; i < MEMORY_COPIES; i++) models.push(await loadTenantModel(backend.db, tenant.id, now()))
  const m1 = memory()
  const outbounds = models.map((m) => {
    const outbound = compileOutbound(m)
    return { outbound, json: canonicalJson(outbound) }
  })
  const m2 = memory()
  // Read both after the measurement, so neither can be collected before it.
  if (models.length !== outbounds.length) throw new Error('unreachable')
  const modelMemory = perCopy(delta(m0, m1))
  const outboundMemory = perCopy(delta(m1, m2))
  const model = models[0]!
  const outboundJson = outbounds[0]!.json

  const coldRounds: CompileResult['coldRounds'] = []
  for (let r = 0; r < COLD_ROUNDS; r++) {
    let t = performance.now()
    const m = await loadTenantModel(backend.db, tenant.id, now())
    const loadModelMs = performance.now() - t
    t = performance.now()
    const ob = compileOutbound(m)
    const obJson = canonicalJson(ob)
    const obHash = await sha256Hex(obJson)
    const outboundMs = performance.now() - t
    t = performance.now()
    await serialise(compileSnapshot(m, first, issuer, ob), { outboundJson: obJson, outboundHash: obHash })
    const firstServiceMs = performance.now() - t
    const cache = new SnapshotCache(issuer)
    t = performance.now()
    await cache.get(backend.db, tenant.id, tenant.revision, first, now())
    const cacheColdMs = performance.now() - t
    coldRounds.push({ loadModelMs, outboundMs, firstServiceMs, cacheColdMs })
  }

  const before = memory()
  const cache = new SnapshotCache(issuer)
  const sizes: number[] = [Buffer.byteLength((await cache.get(backend.db, tenant.id, tenant.revision, first, now())).body)]
  const warm: number[] = []
  const allStarted = performance.now()
  for (let i = 1; i < LARGE.services; i++) {
    const t = performance.now()
    const compiled = await cache.get(backend.db, tenant.id, tenant.revision, serviceName(i), now())
    warm.push(performance.now() - t)
    sizes.push(Buffer.byteLength(compiled.body))
  }
  const warmAllServicesMs = performance.now() - allStarted
  const fullCacheMemory = delta(before, memory())
  if (cache.loads !== 1 || cache.compiles !== LARGE.services) throw new Error(`the cache did not behave: ${cache.loads} loads, ${cache.compiles} compiles`)

  const w = ascending(warm)
  const s = ascending(sizes)
  const counts = { services: model.services.length, endpoints: [...model.endpointsByService.values()].reduce((n, l) => n + l.length, 0), policies: [...model.policiesByTarget.values()].reduce((n, l) => n + l.length, 0) }
  return {
    backend: backend.name,
    ...counts,
    seedMs: round2(seedMs),
    coldRounds: coldRounds.map((r) => ({ loadModelMs: round2(r.loadModelMs), outboundMs: round2(r.outboundMs), firstServiceMs: round2(r.firstServiceMs), cacheColdMs: round2(r.cacheColdMs) })),
    warmPerServiceMs: { p50: round2(percentile(w, 50)), p99: round2(percentile(w, 99)), max: round2(w[w.length - 1]!), mean: round2(warm.reduce((a, b) => a + b, 0) / warm.length) },
    warmAllServicesMs: round2(warmAllServicesMs),
    snapshotBytes: { min: s[0]!, p50: percentile(s, 50), max: s[s.length - 1]! },
    outboundBytes: Buffer.byteLength(outboundJson),
    modelMemory,
    outboundMemory,
    fullCacheMemory,
  }
}

// --- main ------------------------------------------------------------------------------------------------

async function benchBackend(open: () => Promise<Backend>, thread: WatcherThread) {
  const backend = await open()
  const rows: PropagationRow[] = []
  const issuer = loadConfig({}).publicUrl
  try {
    // Compile first, while no sockets or caches of the propagation runs linger to blur the memory numbers.
    console.log(`\n${backend.name}: large tenant (${LARGE.services} services, ${LARGE.services * LARGE.endpointsPerService} endpoints), bulk-loaded`)
    const { tenant, seedMs } = await largeTenant(backend.a, backend.db)
    const compile = await compileBench(backend, tenant, seedMs, issuer)
    console.log(`  cold ${ms(compile.coldRounds[compile.coldRounds.length - 1]!.cacheColdMs)} ms, warm p50 ${ms(compile.warmPerServiceMs.p50)} ms/service, ${compile.snapshotBytes.p50} bytes/snapshot`)

    // BENCH_LARGE_ONLY=1: just the large tenant's propagation (unscoped, then with declared dependencies).
    const largeOnly = process.env.BENCH_LARGE_ONLY === '1'
    if (!largeOnly) console.log(`${backend.name}: small tenant (${SMALL_SERVICES} services, 3 endpoints each, 1000 workloads)`)
    if (!largeOnly) {
      const small = await smallTenant(backend.a)
      const common = { thread, backend: backend.name, tenant: `${SMALL_SERVICES} services`, adminKey: small.tenant.adminKey, watchers: small.watchers, rounds: ROUNDS, nextWrite: small.nextWrite }
      rows.push(...(await propagation({ ...common, topology: 'one instance', watchOn: backend.a, writeOn: backend.a })))
      if (backend.b) rows.push(...(await propagation({ ...common, topology: 'watch B, write A', watchOn: backend.b, writeOn: backend.a })))
    }

    console.log(`${backend.name}: large tenant, one workload per service`)
    const big = await largeTenantWatchers(backend.a, tenant.adminKey)
    rows.push(
      ...(await propagation({
        thread,
        backend: backend.name,
        topology: backend.b ? 'watch B, write A' : 'one instance',
        tenant: `${LARGE.services} services`,
        watchOn: backend.b ?? backend.a,
        writeOn: backend.a,
        adminKey: tenant.adminKey,
        watchers: big.watchers,
        rounds: LARGE_ROUNDS,
        nextWrite: big.nextWrite,
      })),
    )

    // The same tenant once every service declares what it calls: each snapshot carries ~6 services, not 1000.
    console.log(`${backend.name}: large tenant, every service declaring ${DEPENDENCIES_PER_SERVICE} dependencies`)
    await declareDependencies(backend.db, tenant.id, LARGE, DEPENDENCIES_PER_SERVICE)
    rows.push(
      ...(await propagation({
        thread,
        backend: backend.name,
        topology: backend.b ? 'watch B, write A' : 'one instance',
        tenant: `${LARGE.services} services, ${DEPENDENCIES_PER_SERVICE} deps each`,
        watchOn: backend.b ?? backend.a,
        writeOn: backend.a,
        adminKey: tenant.adminKey,
        watchers: big.watchers,
        rounds: LARGE_ROUNDS,
        nextWrite: big.nextWrite,
      })),
    )
    return { rows, compile }
  } finally {
    await backend.close()
  }
}

function printPropagation(rows: PropagationRow[]): void {
  printTable(
    'Propagation: policy write → watcher has the new snapshot (ms, from just before the write is sent)',
    ['backend', 'topology', 'tenant', 'watchers', 'rounds', 'samples', 'write p50', 'p50', 'p99', 'max', 'round max p50', 'missed', 'retried'],
    rows.map((r) => [r.backend, r.topology, r.tenant, String(r.watchers), String(r.rounds), String(r.samples), ms(r.writeP50Ms), ms(r.p50Ms), ms(r.p99Ms), ms(r.maxMs), ms(r.roundMaxP50Ms), String(r.missed), String(r.retries)]),
  )
}

function printCompile(results: CompileResult[]): void {
  const median = (xs: number[]) => percentile(ascending(xs), 50)
  const cold = (r: CompileResult, k: keyof CompileResult['coldRounds'][number]) => {
    const xs = r.coldRounds.map((c) => c[k])
    return `${ms(median(xs))} (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})`
  }
  const mem = (m: Memory) => `${mib(m.heapUsed)} / ${mib(m.rss)}`
  const metrics: [string, (r: CompileResult) => string][] = [
    ['tenant', (r) => `${r.services} svc, ${r.endpoints} ep, ${r.policies} pol`],
    ['bulk load (ms)', (r) => ms(r.seedMs)],
    [`load tenant model (ms, median of ${COLD_ROUNDS} (min–max))`, (r) => cold(r, 'loadModelMs')],
    ['compile outbound + its JSON (ms)', (r) => cold(r, 'outboundMs')],
    ['first service snapshot (ms)', (r) => cold(r, 'firstServiceMs')],
    ['cold: SnapshotCache.get, first service (ms)', (r) => cold(r, 'cacheColdMs')],
    ['warm: per further service p50 / p99 / max (ms)', (r) => `${ms(r.warmPerServiceMs.p50)} / ${ms(r.warmPerServiceMs.p99)} / ${ms(r.warmPerServiceMs.max)}`],
    [`warm: all ${LARGE.services - 1} further services (ms)`, (r) => ms(r.warmAllServicesMs)],
    ['one write, every service watched: cold + all (ms)', (r) => ms(median(r.coldRounds.map((c) => c.cacheColdMs)) + r.warmAllServicesMs)],
    ['snapshot bytes min / p50 / max', (r) => `${r.snapshotBytes.min} / ${r.snapshotBytes.p50} / ${r.snapshotBytes.max}`],
    ['  of which outbound (bytes)', (r) => String(r.outboundBytes)],
    ['memory Δ heap / rss: tenant model', (r) => mem(r.modelMemory)],
    ['memory Δ heap / rss: + outbound and its JSON', (r) => mem(r.outboundMemory)],
    [`memory Δ heap / rss: cache of all ${LARGE.services} snapshots`, (r) => mem(r.fullCacheMemory)],
  ]
  printTable(
    `Snapshot compile: one tenant of ${LARGE.services} services, ${LARGE.services * LARGE.endpointsPerService} endpoints, Route + AuthorizationPolicy on 1 in ${LARGE.policyEvery} services`,
    ['metric', ...results.map((r) => r.backend)],
    metrics.map(([name, f]) => [name, ...results.map(f)]),
  )
  console.log('(heap after a full GC; RSS is noisy: V8 returns freed pages lazily, and PGlite keeps its WASM heap in this process)')
}

async function main() {
  const masterKey = await importMasterKey(generateMasterKeyBase64())
  const logger = benchLogger()
  const thread = startWatcherThread()
  const propagationRows: PropagationRow[] = []
  const compileResults: CompileResult[] = []
  const skipped: string[] = []
  const loadAtStart = os.loadavg()
  // Other work on the machine shows up in every number here; say how busy it was.
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ')
  console.log(`Snapshot distribution benchmark — Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, load average ${load(loadAtStart)}`)
  try {
    const openers: [string, (() => Promise<Backend>) | null][] = [
      ['PGlite', () => openPglite(masterKey, logger)],
      ['PostgreSQL', POSTGRES_URL ? () => openPostgres(POSTGRES_URL, masterKey, logger) : null],
    ]
    // BENCH_BACKENDS=postgres (or pglite) runs one backend only.
    const only = process.env.BENCH_BACKENDS?.toLowerCase()
    for (const [name, open] of openers) {
      if (only && !only.split(',').some((o) => name.toLowerCase().startsWith(o.trim()))) continue
      if (!open) {
        skipped.push(`${name}: skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL to a server this benchmark may create a scratch database on)`)
        console.log(`\n${skipped[skipped.length - 1]}`)
        continue
      }
      const r = await benchBackend(open, thread)
      propagationRows.push(...r.rows)
      compileResults.push(r.compile)
    }
  } finally {
    await thread.close()
  }

  const loadAtEnd = os.loadavg()
  printPropagation(propagationRows)
  printCompile(compileResults)
  for (const s of skipped) console.log(`\n${s}`)
  console.log(`\nload average (1, 5, 15 min): ${load(loadAtStart)} at the start, ${load(loadAtEnd)} at the end, on ${os.cpus().length} CPUs`)

  mkdirSync(new URL('.', RESULTS_FILE), { recursive: true })
  const meta = { date: new Date().toISOString(), node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd }
  const settings = { rounds: ROUNDS, largeRounds: LARGE_ROUNDS, warmupRounds: WARMUP_ROUNDS, waitSeconds: WAIT_SECONDS, settleMs: SETTLE_MS, large: LARGE, coldRounds: COLD_ROUNDS }
  writeFileSync(RESULTS_FILE, `${JSON.stringify({ meta, settings, propagation: propagationRows, compile: compileResults, skipped }, null, 2)}\n`)
  console.log(`\nwritten to ${RESULTS_FILE.pathname}`)
}

await main()
