/**
 * Resident memory of a sidecar process (issue 6: "under 60 MB per sidecar holding a snapshot of 1000
 * services"), measured as bench/proxy.bench.ts measures it at its end, without the minutes of load that
 * benchmark puts on the machine: `npx tsx bench/sidecar-memory.bench.ts`.
 *
 * The same parts: a real control API in this process (bench/proxy/control-api.ts), sidecars started from
 * `npm run build:sidecar`'s bundle (edge-proxy/src/runtime/sidecar-main.ts) with plain `node`, the bench mesh of three
 * services (bench/proxy/mesh.ts startMesh) and the 1000-service tenant (seedLargeMesh, 5 endpoints per
 * service, a Route and an AuthorizationPolicy on every fifth). VmRSS and VmHWM from /proc/<pid>/status.
 *
 *   1. fresh: the bench mesh's client and server sidecars once their snapshots are applied and 3 s settled;
 *   2. idle after load: the same two after short wrk runs (-t1 -c16) through the outbound hop, the inbound
 *      hop and both, then MEMORY_IDLE_SECONDS of idling (the upstream pools' idle timeout is 30 s); the CPU both
 *      sidecars spent per 1000 requests is printed too, as what a memory setting costs in CPU;
 *   3. 1000 services: one sidecar of the large tenant, once its snapshot holds every service, 3 s settled.
 *
 * Knobs (env): MEMORY_SETTLE_SECONDS (default 3, as proxy.bench.ts), MEMORY_LOAD_SECONDS (per hop, default 5; 0 skips step 2), MEMORY_IDLE_SECONDS (default 5),
 * BENCH_SIDECAR_NODE_ARGS (extra node flags for the sidecars, as in proxy.bench.ts), MEMORY_HEAP_SNAPSHOT_DIR
 * (writes V8 heap snapshots there after the RSS is read: of the idle sidecars and of the 1000-service one, for DevTools).
 * Prints a table; JSON to bench/results/sidecar-memory.json.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { startControlApi } from './proxy/control-api'
import { bundleLauncher, LARGE_SERVICES, seedLargeMesh, startLargeTenantSidecar, startMesh, type RunningSidecar } from './proxy/mesh'
import { cpuSeconds, freePort, peakRssBytes, rssBytes, rssSplitBytes, startChild, tsNode } from './proxy/processes'
import { bundleSidecar } from './proxy/sidecar-bundle'
import { runWrk } from './proxy/wrk'

const RESULTS_FILE = new URL('./results/sidecar-memory.json', import.meta.url)
const LOAD_SECONDS = Number(process.env.MEMORY_LOAD_SECONDS ?? 5)
const IDLE_SECONDS = Number(process.env.MEMORY_IDLE_SECONDS ?? 5)
const HEAP_DIR = process.env.MEMORY_HEAP_SNAPSHOT_DIR
// As proxy.bench.ts reads it: 3 s after the snapshot is applied.
const SETTLE_MS = Number(process.env.MEMORY_SETTLE_SECONDS ?? 3) * 1000

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const memory = (s: RunningSidecar) => {
  const split = rssSplitBytes(s.child.pid)
  return { rssMiB: mib(rssBytes([s.child.pid])), peakRssMiB: mib(peakRssBytes([s.child.pid])), anonMiB: mib(split.anon), fileMiB: mib(split.file) }
}

async function heapSnapshot(s: RunningSidecar, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir))
  process.kill(s.child.pid, 'SIGUSR2')
  for (let i = 0; i < 600; i++) {
    await sleep(100)
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'))
    // Written in one go by V8: wait until the sidecar answers again, which it does once the file is complete.
    if (file) {
      await fetch(`http://127.0.0.1:${s.ports.admin}/ready`)
      return `${dir}/${file}`
    }
  }
  throw new Error('no heap snapshot written')
}

async function main() {
  if (HEAP_DIR) {
    mkdirSync(HEAP_DIR, { recursive: true })
    process.env.BENCH_SIDECAR_NODE_ARGS = `${process.env.BENCH_SIDECAR_NODE_ARGS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${HEAP_DIR}`
  }
  const appPort = await freePort()
  const appCmd = tsNode(new URL('./proxy/upstream-app.ts', import.meta.url), [String(appPort)])
  const app = await startChild('app', appCmd.command, appCmd.args, [appPort])
  const control = await startControlApi()
  const launcher = bundleLauncher(await bundleSidecar())
  const rows: { sidecar: string; rssMiB: number; peakRssMiB: number; anonMiB: number; fileMiB: number }[] = []
  const cpu: { hop: string; requestsPerSecond: number; cpuMsPer1000: number; failures: number }[] = []
  try {
    const mesh = await startMesh(launcher, control, appPort)
    try {
      await sleep(SETTLE_MS)
      rows.push({ sidecar: 'bench mesh client (3 services), fresh', ...memory(mesh.client) })
      rows.push({ sidecar: 'bench mesh server (3 services), fresh', ...memory(mesh.server) })
      if (LOAD_SECONDS > 0) {
        const load = { method: 'GET' as const, bodyBytes: 0, threads: 1, connections: 16, durationSeconds: LOAD_SECONDS }
        const outbound = `http://127.0.0.1:${mesh.client.ports.outbound}`
        const inbound = `http://127.0.0.1:${mesh.server.ports.inbound}`
        const runs: { hop: string; origin: string; path: string; headers: Record<string, string> }[] = [
          { hop: 'outbound hop', origin: outbound, path: 'http://app-direct/bench', headers: { host: 'app-direct' } },
          { hop: 'inbound hop', origin: inbound, path: '/bench', headers: { 'weft-identity': await mesh.clientIdentityForApp() } },
          { hop: 'two hops', origin: outbound, path: 'http://app/bench', headers: { host: 'app' } },
        ]
        const pids = [mesh.client.child.pid, mesh.server.child.pid]
        for (const run of runs) {
          const cpu0 = cpuSeconds(pids)
          const r = await runWrk({ ...load, origin: run.origin, path: run.path, headers: run.headers })
          // What a memory setting costs: V8 flags that shrink the heap trade CPU for it.
          cpu.push({ hop: run.hop, requestsPerSecond: Math.round(r.rate), cpuMsPer1000: Math.round(((cpuSeconds(pids) - cpu0) * 1_000_000) / r.requests), failures: r.errors + r.non2xx })
        }
        await sleep(IDLE_SECONDS * 1000)
        rows.push({ sidecar: `bench mesh client, idle ${IDLE_SECONDS} s after 3 × ${LOAD_SECONDS} s of load`, ...memory(mesh.client) })
        rows.push({ sidecar: `bench mesh server, idle ${IDLE_SECONDS} s after 3 × ${LOAD_SECONDS} s of load`, ...memory(mesh.server) })
        if (HEAP_DIR) for (const s of [mesh.client, mesh.server]) console.log(`heap snapshot of ${s.child.name}, idle after load: ${await heapSnapshot(s, HEAP_DIR)}`)
      }
    } finally {
      await mesh.close()
    }

    const key = await seedLargeMesh(control)
    const large = await startLargeTenantSidecar(launcher, control, key, appPort)
    try {
      await sleep(SETTLE_MS)
      rows.push({ sidecar: `${LARGE_SERVICES} services`, ...memory(large) })
      if (HEAP_DIR) console.log(`heap snapshot of the ${LARGE_SERVICES}-service sidecar: ${await heapSnapshot(large, HEAP_DIR)}`)
    } finally {
      await large.child.stop()
    }
  } finally {
    await app.stop()
    await control.close()
  }

  const width = Math.max(...rows.map((r) => r.sidecar.length))
  console.log(`\nResident memory of one sidecar process (MiB; ${launcher.form}${process.env.BENCH_SIDECAR_NODE_ARGS ? `, node ${process.env.BENCH_SIDECAR_NODE_ARGS.trim()}` : ''})`)
  console.log(`${'sidecar'.padEnd(width)}  ${'RSS'.padStart(6)}  ${'peak'.padStart(6)}  ${'anon'.padStart(6)}  ${'file'.padStart(6)}`)
  for (const r of rows) console.log(`${r.sidecar.padEnd(width)}  ${[r.rssMiB, r.peakRssMiB, r.anonMiB, r.fileMiB].map((x) => x.toFixed(1).padStart(6)).join('  ')}`)
  if (cpu.length > 0) {
    console.log('\nThe load runs (wrk -t1 -c16): CPU of both sidecars per 1000 requests')
    for (const c of cpu) console.log(`${c.hop.padEnd(13)} ${String(c.requestsPerSecond).padStart(6)} req/s  ${String(c.cpuMsPer1000).padStart(5)} CPU ms/1k${c.failures ? `  (${c.failures} failed)` : ''}`)
  }
  const big = rows.find((r) => r.sidecar === `${LARGE_SERVICES} services`)!
  console.log(`RSS < 60 MB with ${LARGE_SERVICES} services: ${big.rssMiB * 1.048576 < 60 ? 'met' : 'missed'} (${(big.rssMiB * 1.048576).toFixed(1)} MB)`)
  mkdirSync(new URL('.', RESULTS_FILE), { recursive: true })
  writeFileSync(RESULTS_FILE, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, nodeArgs: process.env.BENCH_SIDECAR_NODE_ARGS ?? '', rows, load: cpu }, null, 2)}\n`)
}

await main()
