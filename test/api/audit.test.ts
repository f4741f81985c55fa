import { count, eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditEvents, services, tenants } from '../../control-api/src/db/schema'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe.each(backends)('audit log and transactions on $name', (backend) => {
  let h: Harness
  let key: string
  let tenantId: string
  beforeAll(async () => {
    h = await startHarness(backend)
    const t = await h.onboard('audited')
    key = t.adminKey
    tenantId = t.tenant.id
  })
  afterAll(() => h.close())

  it('records actor, action, resource, before/after, revision and request id for every mutation', async () => {
    const created = await h.request('POST', '/v1/services', { key, body: { name: 'ledger', port: 7000 } })
    const patched = await h.request('PATCH', '/v1/services/ledger', { key, body: { port: 7001 } })
    await h.request('DELETE', '/v1/services/ledger', { key })
    const r = await h.request('GET', '/v1/audit-events?resourceType=service', { key })
    expect(r.status).toBe(200)
    const [del, upd, add] = r.body.items
    expect(add).toMatchObject({ action: 'service.create', resourceName: 'ledger', before: null, after: { port: 7000 }, actor: { type: 'api-key', name: 'admin' } })
    expect(upd).toMatchObject({ action: 'service.update', before: { port: 7000 }, after: { port: 7001 }, requestId: patched.headers.get('x-request-id') })
    expect(del).toMatchObject({ action: 'service.delete', before: { port: 7001 }, after: null })
    expect(add.revision).toBe(Number(created.headers.get('weft-revision')))
    expect(upd.revision).toBe(add.revision + 1)
    expect(del.revision).toBe(upd.revision + 1)
    expect(Date.parse(add.createdAt)).not.toBeNaN()
    const onboarding = await h.request('GET', '/v1/audit-events?action=tenant.create', { key })
    expect(onboarding.body.items[0]).toMatchObject({ actor: { type: 'operator' }, resourceName: 'audited' })
  })

  it('pages newest first', async () => {
    for (let i = 0; i < 5; i++) await h.request('POST', '/v1/services', { key, body: { name: `p${i}` } })
    const first = await h.request('GET', '/v1/audit-events?limit=2', { key })
    const second = await h.request('GET', `/v1/audit-events?limit=2&cursor=${first.body.nextCursor}`, { key })
    const ids = [...first.body.items, ...second.body.items].map((e: any) => Number(e.id))
    expect(ids).toEqual([...ids].sort((x, y) => y - x))
    expect(new Set(ids).size).toBe(4)
  })

  it('a failure part-way through a write leaves nothing behind', async () => {
    // Make the audit insert fail for one resource name: the service insert before it must roll back too.
    await h.db.execute(sql.raw(`
      create or replace function weft_test_fail_audit() returns trigger language plpgsql as $$
      begin
        if new.resource_name = 'doomed-write' then raise exception 'injected failure'; end if;
        return new;
      end $$`))
    await h.db.execute(sql.raw(`
      create trigger weft_test_fail_audit before insert on audit_events
        for each row execute function weft_test_fail_audit();`))
    try {
      const [t0] = await h.db.select({ revision: tenants.revision }).from(tenants).where(eq(tenants.id, tenantId))
      const r = await h.request('POST', '/v1/services', { key, body: { name: 'doomed-write' } })
      expect(r.status).toBe(500)
      expect(r.body.type).toBe('https://weft.dev/problems/internal')
      expect(r.text).not.toContain('injected failure')
      const [n] = await h.db.select({ n: count() }).from(services).where(eq(services.name, 'doomed-write'))
      expect(n!.n).toBe(0)
      const [t1] = await h.db.select({ revision: tenants.revision }).from(tenants).where(eq(tenants.id, tenantId))
      expect(t1!.revision).toBe(t0!.revision)
      const [a] = await h.db.select({ n: count() }).from(auditEvents).where(eq(auditEvents.resourceName, 'doomed-write'))
      expect(a!.n).toBe(0)
      expect(h.logs.some((l) => l.msg === 'request failed' && l.level === 50)).toBe(true)
    } finally {
      await h.db.execute(sql.raw('drop trigger weft_test_fail_audit on audit_events'))
    }
    expect((await h.request('POST', '/v1/services', { key, body: { name: 'doomed-write' } })).status).toBe(201)
  })
})
