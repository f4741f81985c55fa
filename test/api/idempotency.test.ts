import { count, eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { services } from '../../control-api/src/db/schema'
import { backends } from '../support/databases'
import { OPERATOR_KEY, startHarness, type Harness } from '../support/harness'

describe.each(backends)('Idempotency-Key on $name', (backend) => {
  let h: Harness
  let key: string
  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('idem')).adminKey
  })
  afterAll(() => h.close())

  it('a retried create returns the first answer and creates nothing more', async () => {
    const headers = { 'idempotency-key': 'create-web-1' }
    const first = await h.request('POST', '/v1/services', { key, headers, body: { name: 'web' } })
    const again = await h.request('POST', '/v1/services', { key, headers, body: { name: 'web' } })
    expect(first.status).toBe(201)
    expect(again.status).toBe(201)
    expect(again.body).toEqual(first.body)
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'))
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    const [n] = await h.db.select({ n: count() }).from(services).where(eq(services.name, 'web'))
    expect(n!.n).toBe(1)
    // Without the key, the same request is a plain duplicate.
    expect((await h.request('POST', '/v1/services', { key, body: { name: 'web' } })).status).toBe(409)
  })

  it('a key reused for a different request is refused; keys are per tenant; secrets are replayed to the same caller only', async () => {
    const headers = { 'idempotency-key': 'k-2' }
    expect((await h.request('POST', '/v1/services', { key, headers, body: { name: 'api' } })).status).toBe(201)
    const other = await h.request('POST', '/v1/services', { key, headers, body: { name: 'not-api' } })
    expect(other.status).toBe(400)
    expect(other.body.errors[0].path).toBe('header.idempotency-key')
    const otherTenant = (await h.onboard('idem-b')).adminKey
    expect((await h.request('POST', '/v1/services', { key: otherTenant, headers, body: { name: 'api' } })).status).toBe(201)
  })

  it('failed attempts are not remembered, so the retry runs for real', async () => {
    const headers = { 'idempotency-key': 'onboard-1' }
    const t1 = await h.request('POST', '/v1/tenants', { key: OPERATOR_KEY, headers, body: { slug: 'idem-c' } })
    const t2 = await h.request('POST', '/v1/tenants', { key: OPERATOR_KEY, headers, body: { slug: 'idem-c' } })
    expect(t2.body.adminKey.id).toBe(t1.body.adminKey.id)
    // The secret was shown once; the replay does not show (or store) it again.
    expect(t1.body.adminKey.secret).toMatch(/^wft_/)
    expect(t2.body.adminKey.secret).toBeNull()
    expect(t2.headers.get('weft-secret-redacted')).toBe('true')
    const stored = await h.db.execute(sql`select body from idempotency_keys`)
    expect(JSON.stringify(stored)).not.toContain(t1.body.adminKey.secret)
    expect((await h.request('POST', '/v1/services', { key, headers: { 'idempotency-key': 'bad key with spaces' }, body: { name: 'x' } })).status).toBe(400)
  })
})
