/**
 * The data plane's cost (issue 6): what a Weft sidecar hop adds to a request, next to nginx, HAProxy and a
 * plain Node reverse proxy measured side by side in the same run on the same machine.
 * Not a test and asserts nothing (timings vary by machine and by whatever else runs); `npm run bench:proxy`.
 *
 * Everything on loopback, keep-alive everywhere, every response 1 KiB (BENCH_METHOD=POST also sends a 1 KiB
 * request body). Rows: direct client → app; nginx, HAProxy (Debian packages, apt-get installs them when
 * missing) and http-proxy (npm, pinned) as plain reverse proxies, one worker/thread each; and Weft, with a
 * real control API (createApp over PGlite, in this process), a tenant, Routes, an AuthorizationPolicy and
 * join tokens written through the API, and two sidecar processes (real runSidecar, bundled; see
 * bench/proxy/mesh.ts for the topology):
 *   - Weft outbound hop: client → client sidecar's outbound listener (HTTP proxy, `GET http://app-direct/bench`)
 *     → app: route match, balancer, identity minted for the callee and attached, metrics;
 *   - Weft inbound hop: client (sending a real JWT-SVID of `client`) → server sidecar's inbound → app:
 *     identity verification (cached), authorization, metrics;
 *   - Weft two hops: client → client sidecar outbound → server sidecar inbound → app, all of the above.
 *
 * Each row is measured twice: at saturation with wrk (closed loop, -t1 -c16), and at a fixed 1000 req/s
 * with an open-loop generator (bench/proxy/open-loop.ts, latency from the scheduled send time, so stalls
 * are not hidden by coordinated omission). CPU seconds and peak RSS of the proxy's processes come from
 * /proc during each run. Rows are measured in interleaved rounds (all rows, then all rows again) and each
 * number is the median over rounds, so a burst of load from elsewhere skews every row alike. Added
 * latency per hop = (row − direct) / hops. Every number is also given as a ratio to nginx's in this run.
 * Last, the resident memory of a sidecar holding the snapshot of a 1000-service tenant.
 *
 * Knobs (env): BENCH_QUICK=1 (short runs, one round), BENCH_ROUNDS, BENCH_SATURATION_SECONDS,
 * BENCH_FIXED_SECONDS, BENCH_WARMUP_SECONDS, BENCH_RATE, BENCH_CONNECTIONS, BENCH_METHOD=GET|POST,
 * BENCH_ONLY=direct,nginx,… (row ids). Tables to stdout, everything to bench/results/proxy.json.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { startControlApi } from './proxy/control-api'
import { bundleLauncher, cliLauncher, LARGE_SERVICES, seedLargeMesh, startLargeTenantSidecar, startMesh, type RunningSidecar, type SidecarLauncher } from './proxy/mesh'
import { infinityOut, runOpenLoop, type OpenLoopResult } from './proxy/open-loop'
import { cpuSeconds, freePort, peakRssBytes, processTree, resourceWatch, rssBytes, startChild, tsNode, type Child } from './proxy/processes'
import { bundleSidecar } from './proxy/sidecar-bundle'
import { ensureTools, startHaproxy, startNginx } from './proxy/system-proxies'
import { runWrk, type WrkResult } from './proxy/wrk'

// BENCH_RESULTS_FILE: another file for a run with other settings (e.g. BENCH_SIDECAR_FLAGS=--no-access-log).
const RESULTS_FILE = process.env.BENCH_RESULTS_FILE ? new URL(process.env.BENCH_RESULTS_FILE, `file://${process.cwd()}/`) : new URL('./results/proxy.json', import.meta.url)
const QUICK = process.env.BENCH_QUICK === '1'
const num = (name: string, quick: number, full: number) => Number(process.env[name] ?? (QUICK ? quick : full))
const CONFIG = {
  quick: QUICK,
  rounds: num('BENCH_ROUNDS', 1, 3),
  saturationSeconds: num('BENCH_SATURATION_SECONDS', 3, 10),
  fixedSeconds: num('BENCH_FIXED_SECONDS', 3, 10),
  // Node's JIT needs a few seconds of traffic, more on a busy machine; wrk's warm-up is not recorded.
  warmupSeconds: num('BENCH_WARMUP_SECONDS', 1, 5),
  rate: num('BENCH_RATE', 1000, 1000),
  threads: 1,
  connections: num('BENCH_CONNECTIONS', 16, 16),
  method: (process.env.BENCH_METHOD === 'POST' ? 'POST' : 'GET') as 'GET' | 'POST',
  only: process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : null,
}
const BODY_BYTES = CONFIG.method === 'POST' ? 1024 : 0
/** Connections the open-loop generator may open: at 1000 req/s one is busy most of the time; more absorb stalls. */
const OPEN_LOOP_CONNECTIONS = 16

// --- the rows ------------------------------------------------------------------------------------------

type Row = {
  id: string
  name: string
  /** Proxy hops between client and app: added latency is divided by this. */
  hops: number
  origin: string
  path: string
  headers(): Promise<Record<string, string>>
  /** The proxy's processes (whole trees), whose CPU and memory are charged to the row. */
  pids(): number[]
  /** GC pauses so far of each of the row's Node processes (Weft rows), in ms; the lists only grow. */
  gcPauses?(): number[][]
}

type GcDuring = { count: number; totalMs: number; maxMs: number }
function gcWatch(row: Row) {
  const from = row.gcPauses?.().map((p) => p.length) ?? []
  return (): GcDuring | null => {
    if (!row.gcPauses) return null
    const pauses = row.gcPauses().flatMap((p, i) => p.slice(from[i]))
    return { count: pauses.length, totalMs: pauses.reduce((a, b) => a + b, 0), maxMs: Math.max(0, ...pauses) }
  }
}

type Run = {
  saturation: WrkResult
  fixed: OpenLoopResult
  cpuMsPer1000AtSaturation: number
  cpuMsPer1000AtFixedRate: number
  peakRssBytes: number
  gc: { saturation: GcDuring | null; fixedRate: GcDuring | null }
  /** Failed or non-2xx requests: a row with any is reported with a warning, its latencies are suspect. */
  failures: number
}


/**
 * A proxy that fell behind keeps working on abandoned requests after its generator stopped: wait (up to
 * 20 s) until it uses under 5% of a core, so its backlog is not charged to the next row.
 */
async function waitUntilIdle(pids: number[]): Promise<void> {
  const until = Date.now() + 20_000
  for (let before = cpuSeconds(pids); Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 500))
    const now = cpuSeconds(pids)
    if (now - before < 0.025) return
    before = now
  }
}

async function measure(row: Row): Promise<Run> {
  const headers = await row.headers()
  const load = { origin: row.origin, path: row.path, method: CONFIG.method, headers, bodyBytes: BODY_BYTES }
  await runWrk({ ...load, threads: CONFIG.threads, connections: CONFIG.connections, durationSeconds: CONFIG.warmupSeconds })

  const pids = row.pids().flatMap(processTree)
  let watch = resourceWatch(pids)
  let gc = gcWatch(row)
  const saturation = await runWrk({ ...load, threads: CONFIG.threads, connections: CONFIG.connections, durationSeconds: CONFIG.saturationSeconds })
  const sat = watch.stop()
  const gcSaturation = gc()

  watch = resourceWatch(pids)
  gc = gcWatch(row)
  const fixed = await runOpenLoop({ ...load, rate: CONFIG.rate, durationMs: CONFIG.fixedSeconds * 1000, warmupRequests: 200, connections: OPEN_LOOP_CONNECTIONS })
  const fix = watch.stop()
  const gcFixed = gc()
  await waitUntilIdle(pids)
  const failures = saturation.errors + saturation.non2xx + fixed.errors + fixed.non2xx
  if (fixed.unfinished > 0) console.log(`\n  ${row.name}: ${fixed.unfinished} requests unanswered 5 s after the ${CONFIG.rate} req/s schedule ended: it cannot keep up; they count as ∞ latency`)
  if (failures > 0) {
    console.log(`\n  WARNING ${row.name}: failed requests (wrk: ${saturation.errors} errors, ${saturation.non2xx} non-2xx; open loop: ${fixed.errors} errors, ${fixed.non2xx} non-2xx); its latencies are suspect`)
  }
  return {
    gc: { saturation: gcSaturation, fixedRate: gcFixed },
    failures,
    saturation,
    fixed,
    cpuMsPer1000AtSaturation: (sat.cpuSeconds * 1000 * 1000) / saturation.requests,
    // The fixed-rate run includes the generator's 200 warm-up requests and its start-up: charge CPU per completed second of schedule.
    cpuMsPer1000AtFixedRate: (fix.cpuSeconds * 1000 * 1000) / (fixed.completed + 200),
    peakRssBytes: Math.max(sat.peakRssBytes, fix.peakRssBytes),
  }
}

// --- statistics and tables ----------------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const fmt = (x: number | null | undefined, digits = 2) => (x === Infinity ? '∞' : x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits))
const kilo = (x: number) => (Number.isFinite(x) ? `${(x / 1000).toFixed(1)}k` : '–')
const mib = (bytes: number) => bytes / 1024 / 1024

function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  console.log(`\n${title}`)
  console.log(line(header))
  console.log(widths.map((w) => '─'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(r))
}

type Summary = {
  id: string
  name: string
  hops: number
  saturation: { rps: number; p50: number; p99: number }
  fixedRate: { rps: number; p50: number; p99: number; p999: number; max: number; sendLagP99: number }
  addedPerHop: { saturationP50: number | null; saturationP99: number | null; fixedP50: number | null; fixedP99: number | null }
  cpuMsPer1000Requests: { atFixedRate: number; atSaturation: number }
  peakRssMiB: number
  /** Median over rounds: GC pauses per second of the run, their total ms per second, and the longest. */
  gc: { saturation: GcSummary; fixedRate: GcSummary } | null
  failures: number
  rounds: Run[]
}
type GcSummary = { pausesPerSecond: number; pauseMsPerSecond: number; maxPauseMs: number }

function summarise(row: Row, runs: Run[], direct: Summary | undefined): Summary {
  const m = (f: (r: Run) => number) => median(runs.map(f))
  const saturation = { rps: m((r) => r.saturation.rate), p50: m((r) => r.saturation.latencyMs.p50), p99: m((r) => r.saturation.latencyMs.p99) }
  const fixedRate = {
    rps: m((r) => r.fixed.rate),
    p50: m((r) => r.fixed.latencyMs.p50),
    p99: m((r) => r.fixed.latencyMs.p99),
    p999: m((r) => r.fixed.latencyMs.p999),
    max: m((r) => r.fixed.latencyMs.max),
    sendLagP99: m((r) => r.fixed.sendLagMs.p99),
  }
  const added = (x: number, base: number | undefined) => (row.hops === 0 || base === undefined ? null : (x - base) / row.hops)
  return {
    id: row.id,
    name: row.name,
    hops: row.hops,
    saturation,
    fixedRate,
    addedPerHop: {
      saturationP50: added(saturation.p50, direct?.saturation.p50),
      saturationP99: added(saturation.p99, direct?.saturation.p99),
      fixedP50: added(fixedRate.p50, direct?.fixedRate.p50),
      fixedP99: added(fixedRate.p99, direct?.fixedRate.p99),
    },
    cpuMsPer1000Requests: { atFixedRate: m((r) => r.cpuMsPer1000AtFixedRate), atSaturation: m((r) => r.cpuMsPer1000AtSaturation) },
    peakRssMiB: mib(Math.max(...runs.map((r) => r.peakRssBytes))),
    gc: runs[0]!.gc.saturation === null ? null : { saturation: gcSummary(runs, 'saturation'), fixedRate: gcSummary(runs, 'fixedRate') },
    failures: runs.reduce((a, r) => a + r.failures, 0),
    rounds: runs,
  }
}

function gcSummary(runs: Run[], which: 'saturation' | 'fixedRate'): GcSummary {
  const seconds = (r: Run) => (which === 'saturation' ? r.saturation.seconds : CONFIG.fixedSeconds)
  const m = (f: (g: GcDuring, r: Run) => number) => median(runs.map((r) => f(r.gc[which]!, r)))
  return { pausesPerSecond: m((g, r) => g.count / seconds(r)), pauseMsPerSecond: m((g, r) => g.totalMs / seconds(r)), maxPauseMs: m((g) => g.maxMs) }
}

const ratio = (x: number | null, ref: number | null | undefined) => (x === null || ref === null || ref === undefined || ref === 0 ? null : x / ref)
/** Added latencies are differences of noisy numbers: a ratio to a reference at or below zero says nothing. */
const addedRatio = (x: number | null, ref: number | null | undefined) => (ref === null || ref === undefined || ref <= 0 ? null : ratio(x, ref))

// --- main ---------------------------------------------------------------------------------------------

async function main() {
  const log = (line: string) => console.log(line)
  const skipped: { row: string; reason: string }[] = []
  const tools = ensureTools(log)
  if ('missing' in tools.wrk!) throw new Error(`${tools.wrk.missing}: the saturation runs need it`)
  const versions: Record<string, string> = { node: process.version }
  for (const name of ['nginx', 'haproxy', 'wrk'] as const) {
    const t = tools[name]!
    // nginx -v prints on stderr and wrk -v exits 1: take the first line printed anywhere.
    if ('path' in t) {
      const r = spawnSync(t.path, ['-v'], { encoding: 'utf8' })
      versions[name] = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => l.trim()) ?? ''
    }
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'weft-proxy-bench-'))
  const children: Child[] = []
  const rows: Row[] = []
  const loadBefore = os.loadavg()

  const appPort = await freePort()
  const appCmd = tsNode(new URL('./proxy/upstream-app.ts', import.meta.url), [String(appPort)])
  const app = await startChild('app', appCmd.command, appCmd.args, [appPort])
  children.push(app)
  const control = await startControlApi()
  const bundle = await bundleSidecar()
  const launcher: SidecarLauncher = bundleLauncher(bundle)
  let mesh: Awaited<ReturnType<typeof startMesh>> | null = null

  try {
    const noHeaders = async () => ({})
    rows.push({ id: 'direct', name: 'direct (no proxy)', hops: 0, origin: `http://127.0.0.1:${appPort}`, path: '/bench', headers: noHeaders, pids: () => [] })

    const plain = async (id: string, name: string, start: (port: number) => Promise<Child>) => {
      try {
        const port = await freePort()
        const child = await start(port)
        children.push(child)
        rows.push({ id, name, hops: 1, origin: `http://127.0.0.1:${port}`, path: '/bench', headers: noHeaders, pids: () => [child.pid] })
      } catch (err) {
        skipped.push({ row: id, reason: (err as Error).message })
      }
    }
    const nginx = tools.nginx!
    if ('path' in nginx) await plain('nginx', 'nginx (1 worker)', (port) => startNginx(nginx.path, dir, port, appPort))
    else skipped.push({ row: 'nginx', reason: nginx.missing })
    const haproxy = tools.haproxy!
    if ('path' in haproxy) await plain('haproxy', 'HAProxy (1 thread)', (port) => startHaproxy(haproxy.path, dir, port, appPort))
    else skipped.push({ row: 'haproxy', reason: haproxy.missing })
    await plain('http-proxy', 'http-proxy (Node)', (port) => {
      const c = tsNode(new URL('./proxy/node-reverse-proxy.ts', import.meta.url), [String(port), String(appPort)])
      return startChild('http-proxy', c.command, c.args, [port])
    })

    mesh = await startMesh(launcher, control, appPort)
    const m = mesh
    // Before any load: the baseline a 1000-service snapshot is compared with.
    await new Promise((r) => setTimeout(r, 2_000))
    const fresh = { client: mib(rssBytes([m.client.child.pid])), server: mib(rssBytes([m.server.child.pid])) }
    const client = () => [m.client.child.pid]
    const server = () => [m.server.child.pid]
    let identity = { token: '', at: 0 }
    // A JWT-SVID lives 15 minutes by default: mint a fresh one for each run.
    const callerIdentity = async () => {
      if (Date.now() - identity.at > 60_000) identity = { token: await m.clientIdentityForApp(), at: Date.now() }
      return { 'weft-identity': identity.token }
    }
    const outbound = `http://127.0.0.1:${m.client.ports.outbound}`
    rows.push(
      { id: 'weft-outbound', name: 'Weft, outbound hop', hops: 1, origin: outbound, path: 'http://app-direct/bench', headers: async () => ({ host: 'app-direct' }), pids: client, gcPauses: () => [m.client.gcPausesMs] },
      { id: 'weft-inbound', name: 'Weft, inbound hop', hops: 1, origin: `http://127.0.0.1:${m.server.ports.inbound}`, path: '/bench', headers: callerIdentity, pids: server, gcPauses: () => [m.server.gcPausesMs] },
      { id: 'weft-two-hops', name: 'Weft, two hops', hops: 2, origin: outbound, path: 'http://app/bench', headers: async () => ({ host: 'app' }), pids: () => [...client(), ...server()], gcPauses: () => [m.client.gcPausesMs, m.server.gcPausesMs] },
    )

    const selected = rows.filter((r) => !CONFIG.only || CONFIG.only.includes(r.id) || r.id === 'direct' || r.id === 'nginx')
    console.log(
      `Data-plane benchmark — ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}\n` +
        `${CONFIG.method} 1 KiB responses${BODY_BYTES ? ' and requests' : ''}, keep-alive; saturation: wrk -t${CONFIG.threads} -c${CONFIG.connections} -d${CONFIG.saturationSeconds}s; ` +
        `fixed rate: ${CONFIG.rate} req/s open loop for ${CONFIG.fixedSeconds}s; ${CONFIG.rounds} interleaved round(s), medians${CONFIG.quick ? ' (BENCH_QUICK)' : ''}`,
    )
    for (const s of skipped) console.log(`skipped ${s.row}: ${s.reason}`)

    const runs = new Map<string, Run[]>(selected.map((r) => [r.id, []]))
    for (let round = 1; round <= CONFIG.rounds; round++) {
      for (const row of selected) {
        process.stdout.write(`round ${round}/${CONFIG.rounds}: ${row.name}… `)
        const run = await measure(row)
        runs.get(row.id)!.push(run)
        console.log(`${kilo(run.saturation.rate)} req/s, p99 at ${CONFIG.rate}/s ${fmt(run.fixed.latencyMs.p99)} ms`)
      }
    }

    const direct = summarise(selected[0]!, runs.get('direct')!, undefined)
    const summaries = [direct, ...selected.slice(1).map((r) => summarise(r, runs.get(r.id)!, direct))]
    const ng = summaries.find((s) => s.id === 'nginx')
    const hp = summaries.find((s) => s.id === 'http-proxy')

    printTable(
      `At saturation (wrk -t${CONFIG.threads} -c${CONFIG.connections}); latency in ms; ×nginx = this row / nginx's`,
      ['row', 'req/s', '×nginx', 'p50', 'p99', '+p50/hop', '×nginx', '+p99/hop', '×nginx'],
      summaries.map((s) => [
        s.name,
        kilo(s.saturation.rps),
        fmt(ratio(s.saturation.rps, ng?.saturation.rps)),
        fmt(s.saturation.p50, 3),
        fmt(s.saturation.p99, 3),
        fmt(s.addedPerHop.saturationP50, 3),
        fmt(addedRatio(s.addedPerHop.saturationP50, ng?.addedPerHop.saturationP50)),
        fmt(s.addedPerHop.saturationP99, 3),
        fmt(addedRatio(s.addedPerHop.saturationP99, ng?.addedPerHop.saturationP99)),
      ]),
    )
    printTable(
      `At a fixed ${CONFIG.rate} req/s (open loop, latency from the scheduled send); ms`,
      ['row', 'p50', 'p99', 'p99.9', 'max', '+p50/hop', '×nginx', '+p99/hop', '×nginx'],
      summaries.map((s) => [
        s.name,
        fmt(s.fixedRate.p50, 3),
        fmt(s.fixedRate.p99, 3),
        fmt(s.fixedRate.p999, 3),
        fmt(s.fixedRate.max, 1),
        fmt(s.addedPerHop.fixedP50, 3),
        fmt(addedRatio(s.addedPerHop.fixedP50, ng?.addedPerHop.fixedP50)),
        fmt(s.addedPerHop.fixedP99, 3),
        fmt(addedRatio(s.addedPerHop.fixedP99, ng?.addedPerHop.fixedP99)),
      ]),
    )
    printTable(
      "The proxy processes' cost: CPU ms per 1000 requests (= CPU ms per second at 1000 req/s) and peak RSS",
      ['row', `CPU ms/1k @${CONFIG.rate}/s`, '×nginx', 'CPU ms/1k @sat', '×nginx', 'peak RSS MiB', '×nginx'],
      summaries
        .filter((s) => s.hops > 0)
        .map((s) => [
          s.name,
          fmt(s.cpuMsPer1000Requests.atFixedRate, 1),
          fmt(ratio(s.cpuMsPer1000Requests.atFixedRate, ng?.cpuMsPer1000Requests.atFixedRate)),
          fmt(s.cpuMsPer1000Requests.atSaturation, 1),
          fmt(ratio(s.cpuMsPer1000Requests.atSaturation, ng?.cpuMsPer1000Requests.atSaturation)),
          fmt(s.peakRssMiB, 1),
          fmt(ratio(s.peakRssMiB, ng?.peakRssMiB)),
        ]),
    )

    const gcRows = summaries.filter((s) => s.gc !== null)
    printTable(
      "Node's weak spot, measured: the Weft sidecars' GC pauses (--trace-gc), per second of each run; ms",
      ['row', 'pauses/s @sat', 'pause ms/s @sat', 'max @sat', `pauses/s @${CONFIG.rate}/s`, `pause ms/s @${CONFIG.rate}/s`, `max @${CONFIG.rate}/s`],
      gcRows.map((s) => [
        s.name,
        fmt(s.gc!.saturation.pausesPerSecond, 1),
        fmt(s.gc!.saturation.pauseMsPerSecond, 1),
        fmt(s.gc!.saturation.maxPauseMs),
        fmt(s.gc!.fixedRate.pausesPerSecond, 1),
        fmt(s.gc!.fixedRate.pauseMsPerSecond, 1),
        fmt(s.gc!.fixedRate.maxPauseMs),
      ]),
    )
    for (const s of summaries.filter((x) => x.failures > 0)) console.log(`WARNING ${s.name}: ${s.failures} failed or non-2xx requests over its runs`)

    // Issue 6's targets, per Weft row: computed and printed, not asserted.
    const targets = summaries
      .filter((s) => s.id.startsWith('weft-'))
      .map((s) => {
        const t = {
          row: s.id,
          throughputVsNginx: ratio(s.saturation.rps, ng?.saturation.rps),
          throughputVsHttpProxy: ratio(s.saturation.rps, hp?.saturation.rps),
          addedP50PerHopVsNginx: addedRatio(s.addedPerHop.saturationP50, ng?.addedPerHop.saturationP50),
          addedP99PerHopAtFixedRateVsNginx: addedRatio(s.addedPerHop.fixedP99, ng?.addedPerHop.fixedP99),
        }
        const ok = (x: number | null, good: (x: number) => boolean) => (x === null ? '–' : good(x) ? 'met' : 'missed')
        return {
          ...t,
          met: {
            throughputVsNginx: ok(t.throughputVsNginx, (x) => x >= 0.6),
            throughputVsHttpProxy: ok(t.throughputVsHttpProxy, (x) => x >= 1.2),
            addedP50PerHopVsNginx: ok(t.addedP50PerHopVsNginx, (x) => x <= 2),
            addedP99PerHopAtFixedRateVsNginx: ok(t.addedP99PerHopAtFixedRateVsNginx, (x) => x <= 2),
          },
        }
      })
    printTable(
      "Issue 6's targets (measured, not asserted)",
      ['row', 'req/s ≥0.6×nginx', 'req/s ≥1.2×http-proxy', '+p50/hop ≤2×nginx', `+p99/hop @${CONFIG.rate}/s ≤2×nginx`],
      targets.map((t) => [
        t.row,
        `${fmt(t.throughputVsNginx)} ${t.met.throughputVsNginx}`,
        `${fmt(t.throughputVsHttpProxy)} ${t.met.throughputVsHttpProxy}`,
        `${fmt(t.addedP50PerHopVsNginx)} ${t.met.addedP50PerHopVsNginx}`,
        `${fmt(t.addedP99PerHopAtFixedRateVsNginx)} ${t.met.addedP99PerHopAtFixedRateVsNginx}`,
      ]),
    )

    // The small mesh's sidecars, idle after all that load, then the big tenant's.
    const idle = { client: mib(rssBytes([m.client.child.pid])), server: mib(rssBytes([m.server.child.pid])) }
    await mesh.close()
    mesh = null
    const memory = await largeTenantMemory(control, launcher, appPort)
    printTable(
      `Resident memory of one sidecar process (MiB); ${LARGE_SERVICES}-service tenant: 5 endpoints each, a Route and an AuthorizationPolicy on every fifth`,
      ['sidecar', 'RSS', 'peak RSS'],
      [
        [`bench mesh client (3 services), fresh, before any load (${launcher.form})`, fmt(fresh.client, 1), '–'],
        [`bench mesh server (3 services), fresh, before any load (${launcher.form})`, fmt(fresh.server, 1), '–'],
        [`bench mesh client, idle after the runs (${launcher.form})`, fmt(idle.client, 1), '–'],
        [`bench mesh server, idle after the runs (${launcher.form})`, fmt(idle.server, 1), '–'],
        ...memory.map((x) => [`${LARGE_SERVICES} services, ${x.form}`, fmt(x.rssMiB, 1), fmt(x.peakRssMiB, 1)]),
      ],
    )
    console.log(`RSS < 60 MB with ${LARGE_SERVICES} services: ${memory[0]!.rssMiB * 1.048576 < 60 ? 'met' : 'missed'} (${fmt(memory[0]!.rssMiB * 1.048576, 1)} MB, ${memory[0]!.form})`)

    const loadAfter = os.loadavg()
    mkdirSync(new URL('.', RESULTS_FILE), { recursive: true })
    writeFileSync(
      RESULTS_FILE,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadAverageBefore: loadBefore, loadAverageAfter: loadAfter, versions },
          config: { ...CONFIG, bodyBytes: { request: BODY_BYTES, response: 1024 }, openLoopConnections: OPEN_LOOP_CONNECTIONS, sidecar: launcher.form, sidecarFlags: process.env.BENCH_SIDECAR_FLAGS ?? '' },
          skipped,
          units: { latency: 'ms ("Infinity": requests left unanswered, see fixed.unfinished)', cpu: 'CPU ms per 1000 requests', memory: 'MiB' },
          rows: summaries,
          targets,
          memory: { freshBeforeLoadMiB: fresh, idleAfterRunsMiB: idle, largeTenant: memory },
        },
        infinityOut,
        2,
      )}\n`,
    )
    console.log(`\nload average after: ${loadAfter.map((x) => x.toFixed(2)).join(' ')}; results in ${RESULTS_FILE.pathname}`)
  } finally {
    await mesh?.close()
    for (const c of children.reverse()) await c.stop()
    await control.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * One sidecar at a time for a service of the 1000-service tenant: its RSS once the snapshot is applied and
 * it has settled, in the bundled form the benchmark runs and as `weft sidecar` runs from a checkout.
 */
async function largeTenantMemory(control: Awaited<ReturnType<typeof startControlApi>>, bundled: SidecarLauncher, appPort: number) {
  const key = await seedLargeMesh(control)
  const out: { form: string; rssMiB: number; peakRssMiB: number }[] = []
  for (const launcher of [bundled, cliLauncher]) {
    const sidecar: RunningSidecar = await startLargeTenantSidecar(launcher, control, key, appPort)
    try {
      await new Promise((r) => setTimeout(r, 3_000))
      // The sidecar process alone: a loader's helper processes (tsx's esbuild) are not the proxy.
      const pid = [sidecar.child.pid]
      out.push({ form: launcher.form, rssMiB: mib(rssBytes(pid)), peakRssMiB: mib(peakRssBytes(pid)) })
    } finally {
      await sidecar.child.stop()
    }
  }
  return out
}

await main()
