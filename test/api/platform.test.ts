import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../control-api/src/app'
import { loadConfig } from '../../control-api/src/config'
import { connectPglite } from '../../control-api/src/db/connect-pglite'
import { connectPostgres } from '../../control-api/src/db/connect-postgres'
import { jsonLogger } from '../../control-api/src/logger'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe.each(backends)('health, OpenAPI, docs and logs on $name', (backend) => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness(backend)
  })
  afterAll(() => h.close())

  it('/healthz and /readyz answer when the database does', async () => {
    expect((await h.request('GET', '/healthz')).body).toEqual({ status: 'ok' })
    expect((await h.request('GET', '/readyz')).body).toEqual({ status: 'ok', database: 'ok' })
  })

  it('serves an OpenAPI 3.1 document generated from the route schemas', async () => {
    const r = await h.request('GET', '/openapi.json')
    expect(r.status).toBe(200)
    const doc = r.body
    expect(doc.openapi).toBe('3.1.0')
    for (const path of ['/v1/tenants', '/v1/tenants/{slug}', '/v1/tenant', '/v1/api-keys', '/v1/api-keys/{id}', '/v1/services', '/v1/services/{name}', '/v1/services/{name}/endpoints', '/v1/services/{name}/endpoints/{id}/heartbeat', '/v1/audit-events', '/healthz', '/readyz', '/v1/tenants/{slug}/jwks.json', '/v1/signing-keys', '/v1/signing-keys/rotate', '/v1/services/{name}/join-tokens', '/v1/identity/token', '/v1/workloads', '/v1/workloads/{id}/revoke', '/v1/policies', '/v1/policies/{name}', '/v1/policies/{name}/history', '/v1/policies/{name}/rollback', '/v1/filters', '/v1/filters/{name}', '/v1/filters/blobs/{sha256}', '/v1/proxy/config']) {
      expect(doc.paths, path).toHaveProperty([path])
    }
    expect(Object.keys(doc.paths['/v1/services/{name}'])).toEqual(expect.arrayContaining(['get', 'put', 'patch', 'delete']))
    // The schemas are the validators': the DNS-label rule and strictness show up in the document.
    const create = doc.components.schemas.ServiceCreate
    expect(create.properties.name.pattern).toBeDefined()
    expect(create.additionalProperties).toBe(false)
    expect(create.required).toContain('name')
    expect(doc.components.schemas.Problem).toBeDefined()
    // The policy union is documented from the same zod schemas the API validates with.
    const policy = JSON.stringify(doc.components.schemas.PolicyInput)
    for (const kind of ['Route', 'BackendPolicy', 'AuthorizationPolicy', 'RateLimitPolicy', 'FaultPolicy', 'FilterChain']) expect(policy).toContain(kind)
    expect(doc.components.securitySchemes.bearer.scheme).toBe('bearer')
  })

  it('serves interactive docs at /docs', async () => {
    const r = await h.request('GET', '/docs')
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toContain('text/html')
    expect(r.text).toContain('/openapi.json')
  })

  it('echoes X-Request-Id and logs JSON lines with request id, tenant and route', async () => {
    const { adminKey } = await h.onboard('logged')
    const r = await h.request('GET', '/v1/services/missing', { key: adminKey, headers: { 'x-request-id': 'req-abc-123' } })
    expect(r.status).toBe(404)
    expect(r.headers.get('x-request-id')).toBe('req-abc-123')
    expect(r.body.requestId).toBe('req-abc-123')
    const line = h.logs.find((l) => l.requestId === 'req-abc-123' && l.msg === 'request')
    expect(line).toMatchObject({ level: 30, method: 'GET', route: '/v1/services/:name', status: 404, tenant: 'logged' })
    expect(typeof line.durationMs).toBe('number')
    const generated = await h.request('GET', '/healthz')
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('readiness without a database', () => {
  const config = loadConfig({ DATABASE_URL: 'memory://' })
  const logger = jsonLogger({ level: 'silent' })

  it('/readyz is 503 problem+json when PGlite has gone away, while /healthz stays 200', async () => {
    const d = await connectPglite(null)
    const app = createApp({ config, logger, masterKey: null, getDb: () => d.db })
    expect((await app.request('/readyz')).status).toBe(200)
    await d.close()
    const r = await app.request('/readyz')
    expect(r.status).toBe(503)
    expect(r.headers.get('content-type')).toContain('application/problem+json')
    expect((await r.json()).type).toBe('https://weft.dev/problems/database-unavailable')
    expect((await app.request('/healthz')).status).toBe(200)
    // Any route that needs the database says the same, not a bare 500.
    const svc = await app.request('/v1/services', { headers: { authorization: 'Bearer wft_whatever' } })
    expect(svc.status).toBe(503)
  })

  it('/readyz is 503 when the PostgreSQL server is unreachable', async () => {
    const d = connectPostgres('postgres://postgres@127.0.0.1:1/postgres')
    const app = createApp({ config, logger, masterKey: null, getDb: () => d.db })
    const r = await app.request('/readyz')
    expect(r.status).toBe(503)
    expect(r.headers.get('retry-after')).toBe('1')
    await d.close()
  })
})

describe('CORS', () => {
  it('is off by default and answers preflights for the configured origins only', async () => {
    const d = await connectPglite(null)
    try {
      const off = createApp({ config: loadConfig({ DATABASE_URL: 'memory://' }), logger: jsonLogger({ level: 'silent' }), masterKey: null, getDb: () => d.db })
      expect((await off.request('/healthz', { headers: { origin: 'https://console.example' } })).headers.get('access-control-allow-origin')).toBeNull()
      const on = createApp({ config: loadConfig({ DATABASE_URL: 'memory://', WEFT_CORS_ORIGINS: 'https://console.example' }), logger: jsonLogger({ level: 'silent' }), masterKey: null, getDb: () => d.db })
      const pre = await on.request('/v1/services', { method: 'OPTIONS', headers: { origin: 'https://console.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,idempotency-key' } })
      expect(pre.status).toBe(204)
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://console.example')
      expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('idempotency-key')
      const other = await on.request('/healthz', { headers: { origin: 'https://evil.example' } })
      expect(other.headers.get('access-control-allow-origin')).toBeNull()
    } finally {
      await d.close()
    }
  })
})
