import { count, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditEvents, services, tenants } from '../../control-api/src/db/schema'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

// Bad input gets a clear problem+json answer and writes nothing: no row, no audit event, no revision.
describe.each(backends)('bad input on $name', (backend) => {
  let h: Harness
  let key: string
  let tenantId: string
  const state = async () => {
    const [s] = await h.db.select({ n: count() }).from(services)
    const [a] = await h.db.select({ n: count() }).from(auditEvents)
    const [t] = await h.db.select({ revision: tenants.revision }).from(tenants).where(eq(tenants.id, tenantId))
    return { services: s!.n, audit: a!.n, revision: t!.revision }
  }
  beforeAll(async () => {
    h = await startHarness(backend, { WEFT_MAX_BODY_BYTES: '4096' })
    const t = await h.onboard('bad')
    key = t.adminKey
    tenantId = t.tenant.id
    await h.request('POST', '/v1/services', { key, body: { name: 'target' } })
  })
  afterAll(() => h.close())

  const cases: { name: string; method: string; path: string; raw?: string; body?: unknown; headers?: Record<string, string>; status: number; type: string; paths?: string[] }[] = [
    { name: 'malformed JSON', method: 'POST', path: '/v1/services', raw: '{"name": "x",', status: 400, type: 'malformed-body' },
    { name: 'not an object', method: 'POST', path: '/v1/services', raw: '[1,2]', status: 400, type: 'validation-error' },
    { name: 'wrong types', method: 'POST', path: '/v1/services', body: { name: 'ok', port: '80', labels: [] }, status: 400, type: 'validation-error', paths: ['labels', 'port'] },
    { name: 'unknown field', method: 'POST', path: '/v1/services', body: { name: 'ok', colour: 'red' }, status: 400, type: 'validation-error', paths: ['colour'] },
    { name: 'missing required field', method: 'POST', path: '/v1/services', body: { port: 80 }, status: 400, type: 'validation-error', paths: ['name'] },
    { name: 'name not a DNS label', method: 'POST', path: '/v1/services', body: { name: '-Bad.Name-' }, status: 400, type: 'validation-error', paths: ['name'] },
    { name: 'port out of range', method: 'PUT', path: '/v1/services/target', body: { port: 0 }, status: 400, type: 'validation-error', paths: ['port'] },
    { name: 'bad protocol', method: 'PATCH', path: '/v1/services/target', body: { protocol: 'ftp' }, status: 400, type: 'validation-error', paths: ['protocol'] },
    { name: 'unknown field in patch', method: 'PATCH', path: '/v1/services/target', body: { name: 'rename' }, status: 400, type: 'validation-error', paths: ['name'] },
    { name: 'bad label key', method: 'POST', path: '/v1/services', body: { name: 'ok', labels: { 'no spaces': 'x' } }, status: 400, type: 'validation-error' },
    { name: 'oversized body', method: 'POST', path: '/v1/services', body: { name: 'big', description: 'x'.repeat(5000) }, status: 413, type: 'payload-too-large' },
    { name: 'not JSON at all', method: 'POST', path: '/v1/services', raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, type: 'unsupported-media-type' },
    { name: 'bad query', method: 'GET', path: '/v1/services?limit=abc', status: 400, type: 'validation-error', paths: ['query.limit'] },
    { name: 'bad uuid', method: 'DELETE', path: '/v1/api-keys/not-a-uuid', status: 400, type: 'validation-error', paths: ['param.id'] },
    { name: 'bad endpoint weight', method: 'POST', path: '/v1/services/target/endpoints', body: { address: '10.0.0.1', port: 80, weight: -1, ttlSeconds: 1 }, status: 400, type: 'validation-error', paths: ['ttlSeconds', 'weight'] },
    { name: 'bad tenant quota', method: 'POST', path: '/v1/tenants', body: { slug: 'q', quotas: { maxServices: 0 } }, status: 400, type: 'validation-error', paths: ['quotas.maxServices'] },
  ]

  it.each(cases)('$name → $status $type, nothing written', async (c) => {
    const before = await state()
    const opKey = c.path === '/v1/tenants' ? 'wfo_test_operator_key_0123456789abcdef' : key
    const r = await h.request(c.method, c.path, { key: opKey, body: c.body, raw: c.raw, headers: c.headers })
    expect(r.status).toBe(c.status)
    expect(r.headers.get('content-type')).toContain('application/problem+json')
    expect(r.body).toMatchObject({ type: `https://weft.dev/problems/${c.type}`, status: c.status })
    expect(typeof r.body.title).toBe('string')
    expect(typeof r.body.detail).toBe('string')
    if (c.paths) expect(r.body.errors.map((e: any) => e.path).sort()).toEqual(c.paths)
    expect(await state()).toEqual(before)
  })

  it('unknown routes are 404 problem+json', async () => {
    const r = await h.request('GET', '/v1/nothing-here', { key })
    expect(r.status).toBe(404)
    expect(r.headers.get('content-type')).toContain('application/problem+json')
  })
})
