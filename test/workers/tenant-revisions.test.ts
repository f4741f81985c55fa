// Long polls on the Worker wait in their tenant's TenantRevisions Durable Object. Booted from the wrangler
// bundle in workerd against a real PostgreSQL, with a wire tap in between that records every statement the
// Worker and its Durable Objects send, so "one query per tenant per second" is counted, not assumed.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { StatusAnswer } from '../../control-api/src/distribution/durable-revision-bus'
import { generateMasterKeyBase64 } from '../../control-api/src/identity/master-key'
import { buildControlApiWorker, type BuiltWorker } from '../../scripts/build-worker'
import { createScratchDatabase, describeWithPostgres, TEST_DATABASE_URL } from '../support/databases'
import { boot, eventually, type Reply } from './miniflare-worker'
import { pgWireTap } from './pg-wire-tap'

const OPERATOR_KEY = `wfo_worker_${crypto.randomUUID().replace(/-/g, '')}`
const WATCHERS = 50

type Tenant = { id: string; key: string; etag: string; revision: number }


describeWithPostgres(`long polls on the Worker fan out from one Durable Object per tenant`, () => {
  let outdir: string
  let built: BuiltWorker
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>
  let tap: Awaited<ReturnType<typeof pgWireTap>>
  let worker: ReturnType<typeof boot>
  let sql: pg.Client
  let a: Tenant
  let b: Tenant

  /** What the tenant's object reports; reachable through the binding only, as the Worker reaches it. */
  async function status(tenantId: string) {
    const ns = await worker.mf.getDurableObjectNamespace('TENANT_REVISIONS')
    const res = await ns.get(ns.idFromName(tenantId)).fetch('https://tenant-revisions.internal/status')
    return StatusAnswer.parse(await res.json())
  }

  async function onboard(slug: string): Promise<Tenant> {
    const created = await worker.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { slug } })
    expect(created.status).toBe(201)
    const key: string = created.body.adminKey.secret
    expect((await worker.request('POST', '/v1/services', { key, body: { name: 'orders', port: 8080 } })).status).toBe(201)
    const first = await worker.request('GET', '/v1/proxy/config?service=orders', { key })
    expect(first.status).toBe(200)
    return { id: created.body.tenant.id, key, etag: first.headers.get('etag')!, revision: first.body.revision }
  }

  /** Long polls that remember whether they have been answered. */
  function watch(t: Tenant, n: number) {
    let settled = 0
    const polls = Array.from({ length: n }, () =>
      worker
        .request('GET', '/v1/proxy/config?service=orders&wait=50', { key: t.key, headers: { 'if-none-match': t.etag } })
        .finally(() => settled++),
    )
    return { all: () => Promise.all(polls), settled: () => settled }
  }

  /** Reads of one tenant's revision the tap saw since `from`: the only statement a waiting tenant may cost. */
  const revisionReads = (tenantId: string, from: number) =>
    tap.statements.slice(from).filter((s) => /from "tenants"/.test(s.sql) && /"revision"/.test(s.sql) && s.params.includes(tenantId))

  beforeAll(async () => {
    outdir = mkdtempSync(join(tmpdir(), 'weft-worker-'))
    ;[built, scratch, tap] = await Promise.all([buildControlApiWorker(outdir), createScratchDatabase(TEST_DATABASE_URL!), pgWireTap(TEST_DATABASE_URL!)])
    worker = boot(built, {
      DATABASE_URL: tap.urlFor(scratch.url),
      WEFT_OPERATOR_KEY: OPERATOR_KEY,
      WEFT_MASTER_KEY: generateMasterKeyBase64(),
      WEFT_PUBLIC_URL: 'https://weft.test',
      WEFT_LOG_LEVEL: 'warn',
      // About a second: every tenant's keys are due whenever the test fires the cron trigger.
      WEFT_KEY_ROTATION_HOURS: '0.0003',
    })
    sql = new pg.Client({ connectionString: scratch.url })
    await sql.connect()
    a = await onboard('fan-a')
    b = await onboard('fan-b')
  })

  afterAll(async () => {
    await sql?.end()
    await worker?.mf.dispose()
    await tap?.close()
    await scratch?.drop()
    if (outdir) rmSync(outdir, { recursive: true, force: true })
  })

  it(`holds ${WATCHERS} watchers of a tenant for one revision read a second and no connection each, wakes them all on a write through the API, and not another tenant's`, async () => {
    const watchersA = watch(a, WATCHERS)
    const watchersB = watch(b, 5)
    await eventually(async () => ((await status(a.id)).waiting === WATCHERS ? true : undefined), 30_000)
    await eventually(async () => ((await status(b.id)).waiting === 5 ? true : undefined), 30_000)
    // Waiting requests hand their database connections back: what stays open is each object's poll connection.
    await eventually(() => (tap.open() <= 2 ? true : undefined), 10_000)

    // While they wait, the only statements are each object's revision reads: count tenant A's over a few
    // of its polls. Polling per watcher would be WATCHERS reads a second; the object makes at most one.
    const from = tap.statements.length
    const started = Date.now()
    await eventually(() => (revisionReads(a.id, from).length >= 3 ? true : undefined), 30_000)
    const window = tap.statements.slice(from)
    const reads = revisionReads(a.id, from).length
    // Measured after counting, so every read counted happened within it (one may precede `started` a little).
    const seconds = (Date.now() - started) / 1000
    expect(window.every((s) => /from "tenants"/.test(s.sql) && (s.params.includes(a.id) || s.params.includes(b.id)))).toBe(true)
    expect(reads).toBeLessThanOrEqual(Math.ceil(seconds) + 1)
    expect(watchersA.settled()).toBe(0)

    const announcedBefore = (await status(a.id)).announced
    const write = await worker.request('POST', '/v1/services', { key: a.key, body: { name: 'billing', port: 8080 } })
    expect(write.status).toBe(201)
    const revision = Number(write.headers.get('weft-revision'))
    expect(revision).toBeGreaterThan(a.revision)

    const woken: Reply[] = await watchersA.all()
    for (const r of woken) {
      expect(r.status).toBe(200)
      expect(r.body.revision).toBe(revision)
      expect(r.headers.get('weft-revision')).toBe(String(revision))
    }
    // The write's commit told the object (a poll might have found it too, but it was announced).
    expect((await status(a.id)).announced).toBe(announcedBefore + 1)
    // One compiled snapshot for all of them: the same bytes, the same ETag.
    expect(new Set(woken.map((r) => r.headers.get('etag'))).size).toBe(1)

    // Tenant B's watchers heard nothing of A's revision.
    expect(watchersB.settled()).toBe(0)
    expect((await status(b.id)).waiting).toBe(5)

    // A change the Worker was not told of (another instance, a script): the object's poll finds it.
    const { rows } = await sql.query('update tenants set revision = revision + 1 where id = $1 returning revision', [b.id])
    const bumped = Number(rows[0].revision)
    const announcedB = (await status(b.id)).announced
    for (const r of await watchersB.all()) {
      expect(r.status).toBe(200)
      expect(r.body.revision).toBe(bumped)
      expect(r.body.service).not.toHaveProperty('name', 'billing')
    }
    expect((await status(b.id)).announced).toBe(announcedB)
    expect((await status(b.id)).waiting).toBe(0)
  })

  it("announces the revisions a cron run makes too: a scheduled key rotation wakes the tenant's watchers with the new JWKS", async () => {
    const current = await worker.request('GET', '/v1/proxy/config?service=orders', { key: b.key })
    const watchers = watch({ ...b, etag: current.headers.get('etag')! }, 3)
    await eventually(async () => ((await status(b.id)).waiting === 3 ? true : undefined), 30_000)
    const announced = (await status(b.id)).announced
    await new Promise((r) => setTimeout(r, 1_100)) // let the keys age past the rotation period
    await (await worker.mf.getWorker()).scheduled({ cron: '17 * * * *' })
    for (const r of await watchers.all()) {
      expect(r.status).toBe(200)
      expect(r.body.revision).toBeGreaterThan(current.body.revision)
      expect(r.body.jwks).not.toEqual(current.body.jwks)
    }
    expect((await status(b.id)).announced).toBeGreaterThan(announced)
  })

  it('answers 304 when the wait runs out with nothing new, and leaves nobody waiting', async () => {
    const current = await worker.request('GET', '/v1/proxy/config?service=orders', { key: b.key })
    const res = await worker.request('GET', '/v1/proxy/config?service=orders&wait=1', { key: b.key, headers: { 'if-none-match': current.headers.get('etag')! } })
    expect(res.status).toBe(304)
    expect(res.headers.get('etag')).toBe(current.headers.get('etag'))
    expect((await status(b.id)).waiting).toBe(0)
  })

  it('without the binding, a Worker still wakes long polls by reading the revision itself, and says so', async () => {
    const plain = boot(built, { DATABASE_URL: scratch.url, WEFT_OPERATOR_KEY: OPERATOR_KEY, WEFT_PUBLIC_URL: 'https://weft.test' }, { durableObjects: false })
    try {
      const current = await plain.request('GET', '/v1/proxy/config?service=orders', { key: a.key })
      const poll = plain.request('GET', '/v1/proxy/config?service=orders&wait=30', { key: a.key, headers: { 'if-none-match': current.headers.get('etag')! } })
      const { rows } = await sql.query('update tenants set revision = revision + 1 where id = $1 returning revision', [a.id])
      const woke = await poll
      expect(woke.status).toBe(200)
      expect(woke.body.revision).toBe(Number(rows[0].revision))
      expect(plain.logs().some((l) => l.level === 40 && String(l.msg).includes('TENANT_REVISIONS is not bound'))).toBe(true)
    } finally {
      await plain.mf.dispose()
    }
  })
})
