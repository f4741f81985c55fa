/**
 * The Weft side of the benchmark, set up the way a user would: a tenant on the real control API, services,
 * Routes and an AuthorizationPolicy written through the API, join tokens, and sidecars started as
 * processes running the shipped sidecar bundle (scripts/build-sidecar.ts) with the CLI's flags. Topology on loopback:
 *
 *   client sidecar (service `client`)  ── outbound :O ──▶ `app` = server sidecar inbound :I ──▶ app
 *                                      └─ outbound :O ──▶ `app-direct` = the app itself (an endpoint registered by the API)
 *
 * so one listener of each kind can be measured alone (outbound hop, inbound hop) and both together (two hops).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { seedLargeTenant, serviceName } from '../distribution/seed-large-tenant'
import type { ControlApi } from './control-api'
import { freePort, startChild, type Child } from './processes'

const CONFIG_TIMEOUT_MS = 60_000
/** Extra node flags for the sidecar processes, e.g. BENCH_SIDECAR_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (read at each start). */
const nodeArgs = () => (process.env.BENCH_SIDECAR_NODE_ARGS ?? '').split(' ').filter(Boolean)
/** Extra `weft sidecar` flags, e.g. BENCH_SIDECAR_FLAGS='--no-access-log' to measure what a default costs (read at each start). */
const sidecarFlags = () => (process.env.BENCH_SIDECAR_FLAGS ?? '').split(' ').filter(Boolean)

/** How a sidecar process is started: argv before the `--control-url …` flags. */
export type SidecarLauncher = { form: string; argv: string[] }
/** `weft sidecar` from this checkout: the CLI through tsx's loader, as the README's walkthrough runs it. */
export const cliLauncher: SidecarLauncher = { form: 'weft sidecar (CLI from the checkout, tsx)', argv: [new URL('../../sdk/bin/weft.mjs', import.meta.url).pathname, 'sidecar'] }
/** The shipped bundle, `node dist/sidecar/weft-sidecar.mjs`-style: see scripts/build-sidecar.ts. */
export const bundleLauncher = (bundle: string): SidecarLauncher => ({ form: 'weft-sidecar.mjs bundle, plain node', argv: [bundle] })

export type RunningSidecar = {
  child: Child
  ports: { inbound: number; outbound: number; admin: number }
  /** Every GC pause of the process so far, in ms (from --trace-gc): Node's p99 under load is GC and event-loop stalls. */
  gcPausesMs: number[]
}

// `[pid:0x…]   1234 ms: Scavenge 4.1 (5.3) -> 3.6 (6.3) MB, 0.62 / 0.00 ms  (average mu = …) allocation failure;`
const GC_LINE = /: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact|Minor Mark-Sweep)\b.*? MB, ([\d.]+) \/ [\d.]+ ms/

function collectGcPauses(child: Child): number[] {
  const pauses: number[] = []
  let partial = ''
  child.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      const m = GC_LINE.exec(line)
      if (m) pauses.push(Number(m[2]))
    }
  })
  return pauses
}

export async function startSidecar(launcher: SidecarLauncher, control: ControlApi, key: string, service: string, appPort: number, labels: string): Promise<RunningSidecar> {
  const join_ = await control.api<{ secret: string }>('POST', `/v1/services/${service}/join-tokens`, key)
  const ports = { inbound: await freePort(), outbound: await freePort(), admin: await freePort() }
  const stateDir = mkdtempSync(join(tmpdir(), `weft-bench-${service}-`))
  // Logging at the CLI's default level (info), as deployed: the sidecar logs no line per request.
  const child = await startChild(
    `weft sidecar (${service})`,
    process.execPath,
    ['--trace-gc', ...nodeArgs(), ...launcher.argv, '--control-url', control.url, '--join-token', join_.secret, '--service', service, '--app-port', String(appPort), '--labels', labels,
      '--inbound-port', String(ports.inbound), '--outbound-port', String(ports.outbound), '--admin-port', String(ports.admin), '--state-dir', stateDir, ...sidecarFlags()],
    [ports.admin, ports.inbound, ports.outbound],
    process.env,
    // The access log goes where a container's stdout goes, a pipe, read by grep (see startChild); V8's GC lines and the sidecar's own log lines come through.
    { dropLinesWith: '"type":"access"' },
  )
  return { child, ports, gcPausesMs: collectGcPauses(child) }
}

/** Polls the sidecar's /config_dump until `ok` holds for its snapshot. */
export async function waitForSnapshot(sidecar: RunningSidecar, what: string, ok: (snapshot: any) => boolean): Promise<void> {
  const until = Date.now() + CONFIG_TIMEOUT_MS
  for (;;) {
    try {
      const dump = (await (await fetch(`http://127.0.0.1:${sidecar.ports.admin}/config_dump`)).json()) as { snapshot?: unknown }
      if (dump.snapshot && ok(dump.snapshot)) return
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error(`${sidecar.child.name} never got ${what}; its output:\n${sidecar.child.output()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const route = (name: string, service: string) => ({
  kind: 'Route',
  name,
  targetRef: { service },
  spec: {
    rules: [
      { name: 'bench', matches: [{ path: { type: 'PathPrefix', value: '/bench' } }], backendRefs: [{ labels: { version: 'v1' }, weight: 100 }], timeout: '2s', retry: { attempts: 2, perTryTimeout: '1s' } },
      { backendRefs: [{ labels: { version: 'v1' }, weight: 1 }] },
    ],
  },
})

export type Mesh = {
  client: RunningSidecar
  server: RunningSidecar
  trustDomain: string
  /** A fresh JWT-SVID of `client` for the audience `app`, for sending straight to the server sidecar's inbound. */
  clientIdentityForApp(): Promise<string>
  close(): Promise<void>
}

export async function startMesh(launcher: SidecarLauncher, control: ControlApi, appPort: number): Promise<Mesh> {
  const { key, trustDomain } = await control.onboard('bench')
  for (const name of ['client', 'app', 'app-direct']) await control.api('POST', '/v1/services', key, { name })
  await control.api('POST', '/v1/services/app-direct/endpoints', key, { address: '127.0.0.1', port: appPort, labels: { version: 'v1' }, ttlSeconds: 3600 })
  await control.api('POST', '/v1/policies', key, route('app-route', 'app'))
  await control.api('POST', '/v1/policies', key, route('app-direct-route', 'app-direct'))
  await control.api('POST', '/v1/policies', key, {
    kind: 'AuthorizationPolicy',
    name: 'app-callers',
    targetRef: { service: 'app' },
    spec: { action: 'ALLOW', rules: [{ from: { principals: [`spiffe://${trustDomain}/svc/client`] }, to: { methods: ['GET', 'POST'], paths: ['/bench'] } }] },
  })

  const server = await startSidecar(launcher, control, key, 'app', appPort, 'version=v1')
  // The client sidecar fronts no app in this benchmark; its inbound is never called.
  const client = await startSidecar(launcher, control, key, 'client', await freePort(), 'version=v1')
  await waitForSnapshot(client, 'both upstreams', (s) => s.outbound?.app?.endpoints?.length === 1 && s.outbound?.['app-direct']?.endpoints?.length === 1)
  await waitForSnapshot(server, 'its authorization policy', (s) => JSON.stringify(s).includes('app-callers'))

  return {
    client,
    server,
    trustDomain,
    async clientIdentityForApp() {
      const jt = await control.api<{ secret: string }>('POST', '/v1/services/client/join-tokens', key)
      const r = await control.api<{ token: string }>('POST', '/v1/identity/token', jt.secret, { audience: `spiffe://${trustDomain}/svc/app` })
      return r.token
    },
    async close() {
      await Promise.all([client.child.stop(), server.child.stop()])
    },
  }
}

export const LARGE_SERVICES = 1000

/** A tenant with 1000 services (5 endpoints each, a Route and an AuthorizationPolicy on every fifth); returns its admin key. */
export async function seedLargeMesh(control: ControlApi): Promise<string> {
  const { key, tenantId } = await control.onboard('bench-big')
  await seedLargeTenant(control.db, tenantId, { services: LARGE_SERVICES, endpointsPerService: 5, policyEvery: 5, endpointTtlSeconds: 3600 }, new Date())
  return key
}

/** A sidecar of that tenant, once its snapshot holds every service. */
export async function startLargeTenantSidecar(launcher: SidecarLauncher, control: ControlApi, key: string, appPort: number): Promise<RunningSidecar> {
  const sidecar = await startSidecar(launcher, control, key, serviceName(0), appPort, 'version=v1')
  await waitForSnapshot(sidecar, `a snapshot of ${LARGE_SERVICES} services`, (s) => Object.keys(s.outbound ?? {}).length >= LARGE_SERVICES - 1)
  return sidecar
}
