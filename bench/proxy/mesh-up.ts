/**
 * The bench mesh, started and left running for manual measurement and profiling (`npx tsx bench/proxy/mesh-up.ts`):
 * the app, a control API, and the two sidecars of bench/proxy.bench.ts; prints their ports and pids as JSON, then
 * waits for Ctrl-C. BENCH_SIDECAR_NODE_ARGS passes node flags to the sidecars (e.g. `--cpu-prof`).
 */
import { startControlApi } from './control-api'
import { bundleLauncher, startMesh } from './mesh'
import { freePort, startChild, tsNode } from './processes'
import { bundleSidecar } from './sidecar-bundle'

const appPort = await freePort()
const appCmd = tsNode(new URL('./upstream-app.ts', import.meta.url), [String(appPort)])
const app = await startChild('app', appCmd.command, appCmd.args, [appPort])
const control = await startControlApi()
const mesh = await startMesh(bundleLauncher(await bundleSidecar()), control, appPort)
console.log(
  JSON.stringify({
    app: { port: appPort, pid: app.pid },
    client: { pid: mesh.client.child.pid, ...mesh.client.ports },
    server: { pid: mesh.server.child.pid, ...mesh.server.ports },
    outboundDirect: `curl -x http://127.0.0.1:${mesh.client.ports.outbound} http://app-direct/bench`,
    inboundIdentity: await mesh.clientIdentityForApp(),
  }),
)
const stop = async () => {
  await mesh.close()
  await app.stop()
  await control.close()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
