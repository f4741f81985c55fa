/**
 * Where a hop's p99 at a fixed rate comes from (`npx tsx bench/proxy/p99-probe.ts [rate] [seconds]`): the bench
 * mesh, the open-loop generator through the client sidecar's outbound hop and then straight to the app, and for
 * the sidecar in the same window its GC pauses (--trace-gc) and event-loop delay beyond schedule (/metrics).
 * A p99 that GC or the event loop explains shows up in both; one that does not points elsewhere (the machine).
 */
import { startControlApi } from './control-api'
import { bundleLauncher, startMesh } from './mesh'
import { runOpenLoop } from './open-loop'
import { freePort, startChild, tsNode } from './processes'
import { bundleSidecar } from './sidecar-bundle'

const rate = Number(process.argv[2] ?? 1000)
const seconds = Number(process.argv[3] ?? 15)
const appPort = await freePort()
const appCmd = tsNode(new URL('./upstream-app.ts', import.meta.url), [String(appPort)])
const app = await startChild('app', appCmd.command, appCmd.args, [appPort])
const control = await startControlApi()
const mesh = await startMesh(bundleLauncher(await bundleSidecar()), control, appPort)
const admin = `http://127.0.0.1:${mesh.client.ports.admin}/metrics`
const lag = async () => Object.fromEntries([...(await (await fetch(admin)).text()).matchAll(/^weft_event_loop_delay_(p50|p99|max)_seconds (\S+)$/gm)].map((m) => [m[1], Number(m[2]) * 1000]))
const load = async (origin: string, path: string) => {
  const config = { origin, path, method: 'GET' as const, headers: { host: 'app-direct' }, bodyBytes: 0, rate, durationMs: seconds * 1000, warmupRequests: rate * 2, connections: 32 }
  return runOpenLoop(config)
}
try {
  for (let round = 1; round <= 2; round++) {
    const gcBefore = mesh.client.gcPausesMs.length
    await lag()
    const hop = await load(`http://127.0.0.1:${mesh.client.ports.outbound}`, 'http://app-direct/bench')
    const loop = await lag()
    const pauses = mesh.client.gcPausesMs.slice(gcBefore).sort((a, b) => b - a)
    const direct = await load(`http://127.0.0.1:${appPort}`, '/bench')
    const ms = (x: number) => x.toFixed(2)
    console.log(`round ${round}, ${rate} req/s for ${seconds} s`)
    console.log(`  direct   p50 ${ms(direct.latencyMs.p50)}  p99 ${ms(direct.latencyMs.p99)}  p99.9 ${ms(direct.latencyMs.p999)}  max ${ms(direct.latencyMs.max)} ms`)
    console.log(`  one hop  p50 ${ms(hop.latencyMs.p50)}  p99 ${ms(hop.latencyMs.p99)}  p99.9 ${ms(hop.latencyMs.p999)}  max ${ms(hop.latencyMs.max)} ms  (generator send lag p99 ${ms(hop.sendLagMs.p99)})`)
    console.log(`  sidecar  GC: ${pauses.length} pauses, ${ms(pauses.reduce((a, b) => a + b, 0))} ms in all, longest ${pauses.slice(0, 5).map(ms).join(', ')} ms`)
    console.log(`  sidecar  event loop beyond schedule: p50 ${ms(loop.p50!)}  p99 ${ms(loop.p99!)}  max ${ms(loop.max!)} ms`)
  }
} finally {
  await mesh.close()
  await app.stop()
  await control.close()
}
