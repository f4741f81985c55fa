// The control API Worker in workerd on Neon's driver: WEFT_NEON_WS_PROXY points it at a WebSocket bridge (what
// Neon's wsproxy does) running in this process, and DATABASE_URL names a host that does not exist, so the
// Worker reaches PostgreSQL through the bridge or not at all. Its Durable Object's revision reads and its cron
// runs take the same way.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { generateMasterKeyBase64 } from '../../control-api/src/identity/master-key'
import { buildControlApiWorker, type BuiltWorker } from '../../scripts/build-worker'
import { createScratchDatabase, describeWithPostgres, TEST_DATABASE_URL } from '../support/databases'
import { BRIDGED_HOST, neonWsBridge, type NeonWsBridge } from '../support/neon-ws-bridge'
import { boot, eventually } from './miniflare-worker'

const OPERATOR_KEY = `wfo_neon_${crypto.randomUUID().replace(/-/g, '')}`


describeWithPostgres(`the control API Worker in workerd on Neon's driver through a WebSocket proxy`, () => {
  let outdir: string
  let built: BuiltWorker
  let bridge: NeonWsBridge
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>
  let worker: ReturnType<typeof boot>
  let misconfigured: ReturnType<typeof boot>

  beforeAll(async () => {
    outdir = mkdtempSync(join(tmpdir(), 'weft-worker-neon-'))
    ;[built, bridge, scratch] = await Promise.all([buildControlApiWorker(outdir), neonWsBridge(TEST_DATABASE_URL!), createScratchDatabase(TEST_DATABASE_URL!)])
    worker = boot(built, {
      DATABASE_URL: bridge.bridgedUrl(scratch.url),
      WEFT_NEON_WS_PROXY: bridge.proxyUrl,
      WEFT_OPERATOR_KEY: OPERATOR_KEY,
      WEFT_MASTER_KEY: generateMasterKeyBase64(),
      WEFT_PUBLIC_URL: 'https://weft.test',
      WEFT_LOG_LEVEL: 'info',
    })
    // The driver takes the proxy without a scheme; Weft wants one (it says ws: or wss:), and says so.
    misconfigured = boot(built, { DATABASE_URL: bridge.bridgedUrl(scratch.url), WEFT_NEON_WS_PROXY: bridge.proxyUrl.replace('ws://', '') }, { durableObjects: false })
  })

  afterAll(async () => {
    await Promise.allSettled([worker?.mf.dispose(), misconfigured?.mf.dispose()])
    await bridge?.close()
    await scratch?.drop()
    if (outdir) rmSync(outdir, { recursive: true, force: true })
  })

  it('migrates, onboards a tenant and serves it, every byte through the bridge', async () => {
    expect(await worker.request('GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ok', database: 'ok' } })
    expect(worker.logs().some((l) => l.msg === 'migrations applied')).toBe(true)
    const port = new URL(TEST_DATABASE_URL!).port || '5432'
    expect(bridge.addresses.length).toBeGreaterThan(0)
    expect(new Set(bridge.addresses)).toEqual(new Set([`${BRIDGED_HOST}:${port}`]))

    const connections = bridge.addresses.length
    const created = await worker.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { slug: 'neon' } })
    expect(created.status).toBe(201)
    const adminKey: string = created.body.adminKey.secret
    const service = await worker.request('POST', '/v1/services', { key: adminKey, body: { name: 'orders', port: 8080 } })
    expect(service).toMatchObject({ status: 201, body: { name: 'orders', port: 8080, version: 1 } })
    expect(Number(service.headers.get('weft-revision'))).toBeGreaterThan(0)
    const read = await worker.request('GET', '/v1/services/orders', { key: adminKey })
    expect(read).toMatchObject({ status: 200, body: { name: 'orders', port: 8080, protocol: 'http' } })
    const twice = await worker.request('POST', '/v1/services', { key: adminKey, body: { name: 'orders', port: 9090 } })
    expect(twice).toMatchObject({ status: 409, body: { type: 'https://weft.dev/problems/conflict' } })
    // One connection per request, as on Workers: each of the four went through its own WebSocket.
    expect(bridge.addresses.length - connections).toBeGreaterThanOrEqual(4)
  })

  it("wakes a long poll from its Durable Object's revision reads, which take the bridge too", async () => {
    const created = await worker.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { slug: 'neon-poll' } })
    const key: string = created.body.adminKey.secret
    expect((await worker.request('POST', '/v1/services', { key, body: { name: 'orders', port: 8080 } })).status).toBe(201)
    const first = await worker.request('GET', '/v1/proxy/config?service=orders', { key })
    expect(first.status).toBe(200)
    const poll = worker.request('GET', '/v1/proxy/config?service=orders&wait=30', { key, headers: { 'if-none-match': first.headers.get('etag')! } })
    const ns = await worker.mf.getDurableObjectNamespace('TENANT_REVISIONS')
    const waiting = async () => ((await (await ns.get(ns.idFromName(created.body.tenant.id)).fetch('https://tenant-revisions.internal/status')).json()) as { waiting: number }).waiting
    await eventually(async () => ((await waiting()) === 1 ? true : undefined), 15_000)
    // Behind the API's back, so no announcement wakes the poll: only the object's own read of the revision can.
    const admin = new pg.Client({ connectionString: scratch.url })
    await admin.connect()
    try {
      await admin.query('update tenants set revision = revision + 1 where id = $1', [created.body.tenant.id])
    } finally {
      await admin.end()
    }
    const woken = await poll
    expect(woken.status).toBe(200)
    expect(woken.body.revision).toBe(first.body.revision + 1)
  })

  it('runs both cron triggers (alerting, housekeeping) over the bridge', async () => {
    const before = bridge.addresses.length
    const w = await worker.mf.getWorker()
    for (const cron of ['* * * * *', '17 * * * *']) expect(await w.scheduled({ cron })).toMatchObject({ outcome: 'ok' })
    expect(bridge.addresses.length).toBeGreaterThanOrEqual(before + 2)
  })

  it('ends its sessions gracefully once the responses are out', async () => {
    for (let i = 0; i < 3; i++) expect((await worker.request('GET', '/readyz')).status).toBe(200)
    // The Durable Object lets its poll connection go a few seconds after its last long poll.
    await eventually(() => (bridge.open() === 0 ? true : undefined), 15_000)
    // "Abandoned" is a backend that lost its client without pg's Terminate message: a pool the Worker never
    // ended, its WebSocket dropped when the request finished. Through the bridge, Terminate arrives as a frame.
    const name = new URL(scratch.url).pathname.slice(1)
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await admin.connect()
    try {
      const stats = await eventually(async () => {
        await admin.query('select pg_stat_clear_snapshot()')
        const { rows } = await admin.query('select sessions::int, sessions_abandoned::int as abandoned from pg_stat_database where datname = $1', [name])
        const s = rows[0] as { sessions: number; abandoned: number }
        // Session counters land when a backend exits: wait until every bridged connection is counted.
        return s.sessions >= bridge.addresses.length ? s : undefined
      })
      expect(stats.abandoned).toBe(0)
    } finally {
      await admin.end()
    }
  })

  it('refuses a proxy URL without its scheme: 503 not-configured, the reason in the logs', async () => {
    const r = await misconfigured.request('GET', '/readyz')
    expect(r.status).toBe(503)
    expect(r.type).toContain('application/problem+json')
    expect(r.body.type).toBe('https://weft.dev/problems/not-configured')
    const line = await eventually(() => misconfigured.logs().find((l) => l.msg === 'cannot start'))
    expect(JSON.stringify(line)).toContain('WEFT_NEON_WS_PROXY: must be ws://')
  })
})
