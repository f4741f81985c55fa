// The tenant's trace collector: validated, redacted on read, isolated per tenant, and compiled into snapshots.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tenants } from '../../control-api/src/db/schema'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe.each(backends)('PUT/GET/DELETE /v1/tracing on $name', (backend) => {
  let h: Harness
  let a: string
  let b: string
  let viewer: string
  let ordersToken: string
  const good = { endpoint: 'https://collector.example.com/v1/traces', headers: { 'X-Api-Key': 'sk-collector-very-secret' }, sampleRate: 0.25 }
  const snapshot = async () => (await h.request('GET', '/v1/proxy/config?service=orders', { key: ordersToken })).body

  beforeAll(async () => {
    h = await startHarness(backend)
    a = (await h.onboard('trace-a')).adminKey
    b = (await h.onboard('trace-b')).adminKey
    viewer = await h.createKey(a, 'viewer')
    await h.request('POST', '/v1/services', { key: a, body: { name: 'orders' } })
    const jt = await h.request('POST', '/v1/services/orders/join-tokens', { key: a })
    ordersToken = (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
  })
  afterAll(() => h?.close())

  it('is off by default, in the API and in snapshots', async () => {
    const r = await h.request('GET', '/v1/tracing', { key: a })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ enabled: false, endpoint: null, headers: {}, sampleRate: 0, updatedAt: null })
    expect((await snapshot()).tracing).toBeNull()
  })

  it.each([
    ['a non-URL endpoint', { ...good, endpoint: 'collector:4318' }],
    ['a non-http endpoint', { ...good, endpoint: 'ftp://collector.example.com/v1/traces' }],
    ['a sample rate above 1', { ...good, sampleRate: 1.5 }],
    ['a negative sample rate', { ...good, sampleRate: -0.1 }],
    ['no sample rate', { endpoint: good.endpoint }],
    ['a header value with a line break', { ...good, headers: { 'x-api-key': 'a\r\nx-evil: 1' } }],
    ['a header name with a space', { ...good, headers: { 'x api key': 'a' } }],
    ['an unknown field', { ...good, protocol: 'grpc' }],
  ])('refuses %s with a problem', async (_, body) => {
    const r = await h.request('PUT', '/v1/tracing', { key: a, body })
    expect(r.status).toBe(400)
    expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/)
    expect(r.body.type).toMatch(/validation/)
  })

  it('needs an admin to change it; a viewer reads it', async () => {
    expect((await h.request('PUT', '/v1/tracing', { key: viewer, body: good })).status).toBe(403)
    expect((await h.request('DELETE', '/v1/tracing', { key: viewer })).status).toBe(403)
    expect((await h.request('GET', '/v1/tracing', { key: viewer })).status).toBe(200)
  })

  it('stores the collector, never shows its header values, and compiles it into the next snapshot revision', async () => {
    const before = await snapshot()
    const r = await h.request('PUT', '/v1/tracing', { key: a, body: good })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ enabled: true, endpoint: good.endpoint, headers: { 'x-api-key': '[redacted]' }, sampleRate: 0.25 })
    expect(r.text).not.toContain('very-secret')
    const read = await h.request('GET', '/v1/tracing', { key: viewer })
    expect(read.body).toEqual(r.body)
    expect(read.text).not.toContain('very-secret')
    // The audit log records the change without the secret.
    const audit = await h.request('GET', '/v1/audit-events', { key: a })
    expect(audit.text).toContain('tracing.update')
    expect(audit.text).not.toContain('very-secret')

    // At rest the headers are sealed with the master key (their names stay readable).
    const rows = await h.db.select({ tracing: tenants.tracing }).from(tenants)
    const stored = JSON.stringify(rows)
    expect(stored).not.toContain('very-secret')
    expect(stored).toContain('x-api-key')

    const after = await snapshot()
    expect(after.revision).toBeGreaterThan(before.revision)
    // The proxies need the credential itself: names lower-cased, values as given.
    expect(after.tracing).toEqual({ endpoint: good.endpoint, headers: { 'x-api-key': 'sk-collector-very-secret' }, sampleRate: 0.25 })
  })

  it('keeps the headers when a PUT leaves them out, and removes them with {}', async () => {
    await h.request('PUT', '/v1/tracing', { key: a, body: { endpoint: good.endpoint, sampleRate: 1 } })
    expect((await snapshot()).tracing).toMatchObject({ headers: { 'x-api-key': 'sk-collector-very-secret' }, sampleRate: 1 })
    await h.request('PUT', '/v1/tracing', { key: a, body: { endpoint: good.endpoint, sampleRate: 1, headers: {} } })
    expect((await snapshot()).tracing).toMatchObject({ headers: {}, sampleRate: 1 })
    await h.request('PUT', '/v1/tracing', { key: a, body: good })
  })

  it("is per tenant: another tenant sees only its own (unset) collector and cannot change A's", async () => {
    const r = await h.request('GET', '/v1/tracing', { key: b })
    expect(r.body).toMatchObject({ enabled: false, endpoint: null })
    expect(r.text).not.toContain('collector.example.com')
    await h.request('PUT', '/v1/tracing', { key: b, body: { endpoint: 'http://b-collector.example.com/v1/traces', sampleRate: 0 } })
    expect((await h.request('GET', '/v1/tracing', { key: a })).body.endpoint).toBe(good.endpoint)
    expect((await snapshot()).tracing.endpoint).toBe(good.endpoint)
    expect((await h.request('DELETE', '/v1/tracing', { key: b })).status).toBe(204)
    expect((await h.request('GET', '/v1/tracing', { key: a })).body.enabled).toBe(true)
  })

  it('turns off with DELETE, and snapshots follow', async () => {
    expect((await h.request('DELETE', '/v1/tracing', { key: a })).status).toBe(204)
    expect((await h.request('GET', '/v1/tracing', { key: a })).body.enabled).toBe(false)
    expect((await snapshot()).tracing).toBeNull()
    // Idempotent.
    expect((await h.request('DELETE', '/v1/tracing', { key: a })).status).toBe(204)
  })
})
