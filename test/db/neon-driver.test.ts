// The control API over Neon's serverless driver (the one a Worker uses for a *.neon.tech DATABASE_URL or with
// WEFT_NEON_WS_PROXY): the wire protocol in WebSocket frames, through a bridge like Neon's wsproxy, to a real
// PostgreSQL. The database URL names a host that does not exist, so nothing reaches it but through the bridge.
import { eq, sql } from 'drizzle-orm'
import pg from 'pg'
import { WebSocket } from 'ws'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { connectNeon, viaWsProxy } from '../../control-api/src/db/connect-neon'
import { migrate } from '../../control-api/src/db/migrate'
import { migrations } from '../../control-api/src/db/migrations.generated'
import { services } from '../../control-api/src/db/schema'
import { createScratchDatabase, describeWithPostgres, TEST_DATABASE_URL, type Backend } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'
import { BRIDGED_HOST, neonWsBridge, type NeonWsBridge } from '../support/neon-ws-bridge'


describeWithPostgres(`the control API over Neon's WebSocket driver`, () => {
  let bridge: NeonWsBridge
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>
  let applied: string[] = []
  let h: Harness
  /** A node-postgres connection straight to the scratch database: what the server itself holds. */
  let direct: pg.Client

  beforeAll(async () => {
    ;[bridge, scratch] = await Promise.all([neonWsBridge(TEST_DATABASE_URL!), createScratchDatabase(TEST_DATABASE_URL!)])
    direct = new pg.Client({ connectionString: scratch.url })
    await direct.connect()
    const neon: Backend = {
      name: 'neon',
      async open() {
        // Node 20 has no global WebSocket (workerd has): the driver takes the ws package's.
        const d = await connectNeon(bridge.bridgedUrl(scratch.url), { ...viaWsProxy(bridge.proxyUrl), webSocketConstructor: WebSocket })
        applied = await migrate(d.db, migrations)
        // The harness's revision bus LISTENs with node-postgres on this URL (a Worker has no LISTEN: it uses a
        // Durable Object); every query of the API goes through `db`, Neon's driver.
        return { db: d.db, url: scratch.url, close: () => d.close() }
      },
    }
    h = await startHarness(neon)
  })

  afterAll(async () => {
    await h?.close()
    await direct?.end()
    await bridge?.close()
    await scratch?.drop()
  })

  it('runs the migrations the Workers runtime runs, through the bridge', async () => {
    expect(applied).toEqual(migrations.map((m) => m.tag))
    const { rows } = await direct.query('select tag from weft_migrations order by tag')
    expect(rows.map((r) => r.tag)).toEqual(migrations.map((m) => m.tag).sort())
    const port = new URL(TEST_DATABASE_URL!).port || '5432'
    expect(bridge.addresses.length).toBeGreaterThan(0)
    expect(new Set(bridge.addresses)).toEqual(new Set([`${BRIDGED_HOST}:${port}`]))
  })

  it('onboards a tenant, writes a service and a policy (revision bumps), serves the snapshot', async () => {
    const before = { ...bridge.bytes }
    const { adminKey } = await h.onboard('neon')
    const editor = await h.createKey(adminKey, 'editor', 'ci')
    expect(editor).toMatch(/^wft_/)

    const svc = await h.request('POST', '/v1/services', { key: editor, body: { name: 'orders', port: 8080 } })
    expect(svc).toMatchObject({ status: 201, body: { name: 'orders', port: 8080, version: 1 } })
    const afterService = Number(svc.headers.get('weft-revision'))

    const policy = await h.request('POST', '/v1/policies', {
      key: editor,
      body: { kind: 'AuthorizationPolicy', name: 'orders-authz', targetRef: { service: 'orders' }, spec: { rules: [{ from: { principals: ['spiffe://neon.weft/svc/*'] } }] } },
    })
    expect(policy.status).toBe(201)
    const afterPolicy = Number(policy.headers.get('weft-revision'))
    expect(afterPolicy).toBe(afterService + 1)
    expect((await h.request('GET', '/v1/tenant', { key: editor })).body.revision).toBe(afterPolicy)

    const join = await h.request('POST', '/v1/services/orders/join-tokens', { key: adminKey, body: { maxUses: 1 } })
    expect(join.status).toBe(201)
    const token = await h.request('POST', '/v1/identity/token', { key: join.body.secret })
    expect(token.status).toBe(200)
    const snapshot = await h.request('GET', '/v1/proxy/config?service=orders', { key: token.body.token })
    expect(snapshot.status).toBe(200)
    expect(snapshot.body).toMatchObject({ schema: 'weft.snapshot/v1', revision: afterPolicy, service: { name: 'orders' } })
    expect(snapshot.body.inbound.authorization.map((p: { name: string }) => p.name)).toEqual(['orders-authz'])

    // All of it went through WebSocket frames: the bridge carried the queries and their answers.
    expect(bridge.bytes.toServer).toBeGreaterThan(before.toServer)
    expect(bridge.bytes.toClient).toBeGreaterThan(before.toClient)
  })

  it('rolls back a write that fails inside its transaction, and the pool stays usable', async () => {
    const { adminKey: key } = await h.onboard('neon-rollback')
    const first = await h.request('POST', '/v1/services', { key, body: { name: 'payments', port: 9000 } })
    expect(first.status).toBe(201)
    const revision = (await h.request('GET', '/v1/tenant', { key })).body.revision
    const audit = async () => Number((await direct.query('select count(*) from audit_events')).rows[0].count)
    const audited = await audit()

    // The insert fails on the unique index after the tenant row was locked and counted: nothing of it stays.
    const twice = await h.request('POST', '/v1/services', { key, body: { name: 'payments', port: 9001 } })
    expect(twice).toMatchObject({ status: 409, body: { type: 'https://weft.dev/problems/conflict' } })
    // If-Match is checked after the row is locked FOR UPDATE: refused, rolled back.
    const stale = await h.request('PUT', '/v1/services/payments', { key, headers: { 'if-match': '"7"' }, body: { port: 9002 } })
    expect(stale.status).toBe(412)

    expect((await h.request('GET', '/v1/tenant', { key })).body.revision).toBe(revision)
    expect(await audit()).toBe(audited)
    const read = await h.request('GET', '/v1/services/payments', { key })
    expect(read).toMatchObject({ status: 200, body: { port: 9000, version: 1 } })
    // The connections that saw the errors went back to the pool clean: the next write commits.
    const next = await h.request('PATCH', '/v1/services/payments', { key, headers: { 'if-match': '"1"' }, body: { port: 9003 } })
    expect(next).toMatchObject({ status: 200, body: { port: 9003, version: 2 } })
  })

  it('commits and rolls back interactive transactions of its own', async () => {
    const { tenant, adminKey: key } = await h.onboard('neon-tx')
    await h.request('POST', '/v1/services', { key, body: { name: 'ledger', port: 7000 } })
    const description = async () => (await direct.query('select description from services where tenant_id = $1 and name = $2', [tenant.id, 'ledger'])).rows[0].description

    // Read, decide, write on one connection: the shape of every repository transaction.
    await h.db.transaction(async (tx) => {
      const [row] = await tx.select().from(services).where(eq(services.tenantId, tenant.id)).for('update')
      await tx.update(services).set({ description: `was ${row!.port}`, version: sql`${services.version} + 1` }).where(eq(services.id, row!.id))
    })
    expect(await description()).toBe('was 7000')

    const failure = new Error('changed my mind')
    await expect(
      h.db.transaction(async (tx) => {
        await tx.update(services).set({ description: 'never' }).where(eq(services.tenantId, tenant.id))
        // Seen inside the transaction, not outside it.
        const [inside] = await tx.select({ description: services.description }).from(services).where(eq(services.tenantId, tenant.id))
        expect(inside!.description).toBe('never')
        expect(await description()).toBe('was 7000')
        throw failure
      }),
    ).rejects.toBe(failure)
    expect(await description()).toBe('was 7000')
  })
})
