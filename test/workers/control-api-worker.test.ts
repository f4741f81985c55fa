// The control API as Cloudflare runs it: bundled by wrangler, booted in workerd (Miniflare), talking to a
// real PostgreSQL over TCP sockets. Nothing is mocked; requests go through workerd's HTTP entry.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { generateMasterKeyBase64 } from '../../control-api/src/identity/master-key'
import { buildControlApiWorker, type BuiltWorker } from '../../scripts/build-worker'
import { createScratchDatabase, describeWithPostgres, TEST_DATABASE_URL } from '../support/databases'
import { boot, closedPort, eventually } from './miniflare-worker'

const OPERATOR_KEY = `wfo_worker_${crypto.randomUUID().replace(/-/g, '')}`


describeWithPostgres(`the control API Worker in workerd against PostgreSQL`, () => {
  let outdir: string
  let built: BuiltWorker
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>
  let worker: ReturnType<typeof boot>
  let unreachable: ReturnType<typeof boot>

  beforeAll(async () => {
    outdir = mkdtempSync(join(tmpdir(), 'weft-worker-'))
    ;[built, scratch] = await Promise.all([buildControlApiWorker(outdir), createScratchDatabase(TEST_DATABASE_URL!)])
    worker = boot(built, {
      DATABASE_URL: scratch.url,
      WEFT_OPERATOR_KEY: OPERATOR_KEY,
      WEFT_MASTER_KEY: generateMasterKeyBase64(),
      WEFT_PUBLIC_URL: 'https://weft.test',
      WEFT_LOG_LEVEL: 'info',
    })
    // No operator key and no Durable Objects on purpose: the Worker must still start, and warn.
    unreachable = boot(built, { DATABASE_URL: `postgres://postgres@127.0.0.1:${await closedPort()}/weft` }, { durableObjects: false })
  })

  afterAll(async () => {
    await Promise.allSettled([worker?.mf.dispose(), unreachable?.mf.dispose()])
    await scratch?.drop()
    if (outdir) rmSync(outdir, { recursive: true, force: true })
  })

  it('answers liveness and readiness, applying migrations on the first request', async () => {
    expect(await worker.request('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } })
    expect(await worker.request('GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ok', database: 'ok' } })
    const c = new pg.Client({ connectionString: scratch.url })
    await c.connect()
    try {
      const { rows } = await c.query('select tag from weft_migrations')
      expect(rows.length).toBeGreaterThan(0)
    } finally {
      await c.end()
    }
    expect(worker.logs().some((l) => l.msg === 'migrations applied')).toBe(true)
  })

  it('onboards a tenant with the operator key, then serves that tenant with its admin key', async () => {
    const created = await worker.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { slug: 'edge' } })
    expect(created.status).toBe(201)
    expect(created.body.tenant).toMatchObject({ slug: 'edge' })
    const adminKey: string = created.body.adminKey.secret
    expect(adminKey).toMatch(/^wft_/)

    const service = await worker.request('POST', '/v1/services', { key: adminKey, body: { name: 'orders', port: 8080 } })
    expect(service).toMatchObject({ status: 201, body: { name: 'orders', port: 8080, version: 1 } })
    const read = await worker.request('GET', '/v1/services/orders', { key: adminKey })
    expect(read).toMatchObject({ status: 200, body: { name: 'orders', port: 8080, protocol: 'http' } })

    const bad = await worker.request('POST', '/v1/services', { key: adminKey, body: { name: 'Not A DNS Label!', port: 70000 } })
    expect(bad.status).toBe(400)
    expect(bad.type).toContain('application/problem+json')
    expect(bad.body).toMatchObject({ status: 400, type: 'https://weft.dev/problems/validation-error' })
    expect(bad.body.errors.length).toBeGreaterThan(0)

    // The Worker logs JSON lines with pino's field names, like the Node server.
    const line = await eventually(() => worker.logs().find((l) => l.route === '/v1/tenants' && l.status === 201))
    expect(line).toMatchObject({ level: 30, msg: 'request', method: 'POST', runtime: 'workers' })
  })

  it('closes every connection gracefully once the response is out', async () => {
    const name = new URL(scratch.url).pathname.slice(1)
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await admin.connect()
    const stats = async () => {
      await admin.query('select pg_stat_clear_snapshot()')
      const { rows } = await admin.query(
        `select (select count(*) from pg_stat_activity where datname = $1)::int as open, sessions::int, sessions_abandoned::int as abandoned
           from pg_stat_database where datname = $1`,
        [name],
      )
      return rows[0] as { open: number; sessions: number; abandoned: number }
    }
    try {
      const before = await stats()
      for (let i = 0; i < 5; i++) expect((await worker.request('GET', '/readyz')).status).toBe(200)
      // Session counters land when a backend exits: wait for all five, and for nothing left open.
      const after = await eventually(async () => {
        const s = await stats()
        return s.open === 0 && s.sessions >= before.sessions + 5 ? s : undefined
      })
      // workerd tears down a finished request's sockets anyway; "abandoned" (EOF without pg's Terminate
      // message) is how a forgotten close shows, so this tells a graceful close from none.
      expect(after.abandoned).toBe(0)
    } finally {
      await admin.end()
    }
  })

  it('answers 503 problem+json when the database is unreachable, and stays alive', async () => {
    expect(await unreachable.request('GET', '/healthz')).toMatchObject({ status: 200 })
    const ready = await unreachable.request('GET', '/readyz')
    expect(ready.status).toBe(503)
    expect(ready.type).toContain('application/problem+json')
    expect(ready.body).toMatchObject({ status: 503, type: 'https://weft.dev/problems/database-unavailable' })
    // A later request retries rather than remembering the failure.
    expect((await unreachable.request('GET', '/readyz')).status).toBe(503)
    expect(unreachable.logs().some((l) => l.level === 40 && String(l.msg).includes('WEFT_OPERATOR_KEY is not set'))).toBe(true)
    expect(unreachable.logs().some((l) => l.level === 40 && String(l.msg).includes('TENANT_REVISIONS is not bound'))).toBe(true)
    expect(worker.logs().some((l) => String(l.msg).includes('TENANT_REVISIONS is not bound'))).toBe(false)
  })
})
