// The SDK against the live control API, in-process: the harness app's `fetch` is the SDK's transport, so every
// call crosses the real routes, validation, auth and database (PGlite, and PostgreSQL when TEST_DATABASE_URL is set).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { Miniflare, Response as MiniflareResponse, type Request as MiniflareRequest } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Conflict,
  DatabaseUnavailable,
  Forbidden,
  NotFound,
  PreconditionFailed,
  Unauthorized,
  ValidationError,
  Weft,
  WeftApiError,
  WeftConnectionError,
  WeftError,
  WeftTimeoutError,
  errorFromProblem,
  type FetchLike,
  type RateLimitPolicyInput,
  type RetryEvent,
} from '@weft/sdk'
import * as server from '../../control-api/src/errors'
import { backends } from '../support/databases'
import { OPERATOR_KEY, startHarness, type Harness } from '../support/harness'
import { moduleExporting } from '../support/wasm-module'

const BASE_URL = 'http://weft.test'
const SDK_SRC = fileURLToPath(new URL('../../sdk/src/', import.meta.url))
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Expects the promise to reject with an instance of `Class`, and returns the error for more checks. */
async function rejection<E extends Error>(p: PromiseLike<unknown>, Class: abstract new (...args: any[]) => E): Promise<E> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(Class)
    return err as E
  }
  throw new Error(`expected ${Class.name}, but the call succeeded`)
}

const problemResponse = (status: number, slug: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: `https://weft.dev/problems/${slug}`, title: slug, status, detail: `injected ${status}` }), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  })

describe('errors are rebuilt from the problem type', () => {
  // Every problem class the control API can throw has a same-named SDK class with the same code.
  const serverClasses = Object.values(server).filter(
    (v): v is typeof server.WeftError => typeof v === 'function' && v.prototype instanceof server.WeftError,
  )

  it.each(serverClasses.map((c) => [c.name, c] as const))('%s', (name, Class) => {
    const thrown = (Class as unknown) === server.ValidationError ? new server.ValidationError([{ path: 'port', message: 'bad' }]) : new (Class as new (d: string) => server.WeftError)('detail')
    const problem = server.toProblem(thrown, 'req-1')
    const rebuilt = errorFromProblem(problem, new Headers({ 'retry-after': '2' }))
    expect(rebuilt.constructor.name).toBe(name)
    expect(rebuilt.code).toBe(thrown.code)
    expect(rebuilt).toMatchObject({ type: thrown.type, title: thrown.title, status: thrown.status, detail: 'detail' in problem ? problem.detail : undefined, requestId: 'req-1', retryAfterMs: 2000 })
    expect(rebuilt).toBeInstanceOf(WeftApiError)
    expect(rebuilt).toBeInstanceOf(WeftError)
  })

  it('keeps an unknown problem type as a WeftApiError with every field', () => {
    const e = errorFromProblem({ type: 'https://weft.dev/problems/from-the-future', title: 'New', status: 418, detail: 'd', extra: 1 })
    expect(e.constructor).toBe(WeftApiError)
    expect(e).toMatchObject({ type: 'https://weft.dev/problems/from-the-future', status: 418, detail: 'd', problem: { extra: 1 } })
  })

  it('validates options at construction, all problems at once', () => {
    expect(() => new Weft({ baseUrl: 'ftp://x', timeoutMs: -1, retry: { maxRetries: -1 } })).toThrow(/baseUrl must be http or https.*timeoutMs.*retry.maxRetries/)
    expect(() => new Weft({ baseUrl: 'not a url' })).toThrow(TypeError)
  })
})

describe.each(backends)('@weft/sdk against the control API on $name', (backend) => {
  let h: Harness
  let operator: Weft
  let weft: Weft
  let slug: string
  const client = (apiKey?: string, extra: Partial<ConstructorParameters<typeof Weft>[0]> = {}) => new Weft({ baseUrl: BASE_URL, apiKey, fetch: h.app.fetch, ...extra })

  beforeAll(async () => {
    h = await startHarness(backend)
    operator = client(OPERATOR_KEY)
    const created = await operator.tenants.create({ slug: 'sdk', displayName: 'SDK tests' })
    slug = created.tenant.slug
    weft = client(created.adminKey.secret)
  })
  afterAll(() => h.close())

  describe('tenants (operator) and the current tenant', () => {
    it('onboards, lists, reads and deletes tenants', async () => {
      const { data, status } = await operator.tenants.create({ slug: 'sdk-temp', quotas: { maxServices: 3 } }).withResponse()
      expect(status).toBe(201)
      expect(data.tenant).toMatchObject({ slug: 'sdk-temp', trustDomain: 'sdk-temp.weft', quotas: { maxServices: 3 } })
      expect(data.adminKey.secret).toMatch(/^wft_/)

      const slugs: string[] = []
      for await (const t of operator.tenants.list({ limit: 1 })) slugs.push(t.slug)
      expect(slugs).toEqual(expect.arrayContaining(['sdk', 'sdk-temp']))

      expect(await operator.tenants.get('sdk-temp')).toMatchObject({ slug: 'sdk-temp', usage: { services: 0, apiKeys: 1 } })
      await operator.tenants.delete('sdk-temp')
      const gone = await rejection(operator.tenants.get('sdk-temp'), NotFound)
      expect(gone).toMatchObject({ status: 404, type: 'https://weft.dev/problems/not-found', title: 'Not found' })
      expect(gone.detail).toContain('sdk-temp')
    })

    it('answers 409 Conflict for a taken slug', async () => {
      const e = await rejection(operator.tenants.create({ slug: 'sdk' }), Conflict)
      expect(e).toMatchObject({ status: 409, code: 'ERR_CONFLICT' })
    })

    it('reads and changes the caller’s tenant', async () => {
      const t = await weft.tenant.get()
      expect(t).toMatchObject({ slug, usage: expect.any(Object) })
      const changed = await weft.tenant.update({ tokenTtlSeconds: 600 })
      expect(changed).toMatchObject({ tokenTtlSeconds: 600, version: t.version + 1 })
    })

    it('refuses a tenant key on operator routes with 403 Forbidden', async () => {
      const e = await rejection(weft.tenants.list(), Forbidden)
      expect(e).toMatchObject({ status: 403, type: 'https://weft.dev/problems/forbidden' })
    })
  })

  describe('API keys', () => {
    it('creates, lists and revokes keys; a revoked key is 401 Unauthorized', async () => {
      const key = await weft.apiKeys.create({ name: 'ci', role: 'viewer' })
      expect(key).toMatchObject({ name: 'ci', role: 'viewer' })
      const ci = client(key.secret)
      expect((await ci.services.list()).items).toBeInstanceOf(Array)

      const names = (await weft.apiKeys.list().toArray()).map((k) => k.name)
      expect(names).toContain('ci')
      await weft.apiKeys.revoke(key.id)
      expect((await weft.apiKeys.list({ includeRevoked: true }).toArray()).find((k) => k.id === key.id)?.revokedAt).not.toBeNull()
      expect((await weft.apiKeys.list().toArray()).map((k) => k.id)).not.toContain(key.id)

      const e = await rejection(ci.services.list(), Unauthorized)
      expect(e.status).toBe(401)
      expect(e.headers.get('www-authenticate')).toContain('Bearer')
      expect(e.requestId).toBeTruthy()
    })

    it('answers 401 without credentials and 403 for a role too weak', async () => {
      await rejection(client().services.list(), Unauthorized)
      const viewer = client((await weft.apiKeys.create({ name: 'viewer', role: 'viewer' })).secret)
      const e = await rejection(viewer.services.create({ name: 'nope' }), Forbidden)
      expect(e.detail).toBeTruthy()
    })
  })

  describe('services', () => {
    it('creates, reads, replaces and patches with If-Match, and deletes', async () => {
      const created = await weft.services.create({ name: 'payments', port: 8080, labels: { team: 'pay' } }).withResponse()
      expect(created.status).toBe(201)
      expect(created.data).toMatchObject({ name: 'payments', protocol: 'http', port: 8080, labels: { team: 'pay' }, version: 1 })
      expect(created.etag).toBe('"1"')
      expect(created.revision).toBeGreaterThan(0)

      const read = await weft.services.get('payments').withResponse()
      expect(read.data).toEqual(created.data)
      expect(read.etag).toBe(created.etag)

      const replaced = await weft.services.replace('payments', { port: 9090, labels: { team: 'pay' } }, { ifMatch: read.etag! }).withResponse()
      expect(replaced.data).toMatchObject({ port: 9090, description: '', version: 2 })
      expect(replaced.etag).toBe('"2"')

      // The version works as well as the ETag: the API's ETag is the quoted version.
      const patched = await weft.services.update('payments', { labels: { team: null, tier: 'gold' } }, { ifMatch: replaced.data.version })
      expect(patched).toMatchObject({ port: 9090, labels: { tier: 'gold' }, version: 3 })

      const stale = await rejection(weft.services.update('payments', { port: 1 }, { ifMatch: read.etag! }), PreconditionFailed)
      expect(stale).toMatchObject({ status: 412, type: 'https://weft.dev/problems/precondition-failed', title: 'If-Match does not match the current version', code: 'ERR_PRECONDITION_FAILED' })
      expect(stale.detail).toContain('"3"')
      expect(stale.requestId).toBeTruthy()
      await rejection(weft.services.replace('payments', { port: 1 }, { ifMatch: 'W/"1"' }), PreconditionFailed)
      await rejection(weft.services.delete('payments', { ifMatch: 1 }), PreconditionFailed)
      expect(await weft.services.get('payments')).toMatchObject({ port: 9090, version: 3 })

      await weft.services.delete('payments', { ifMatch: '"3"' })
      await rejection(weft.services.get('payments'), NotFound)
    })

    it('answers 409 Conflict for a duplicate name', async () => {
      await weft.services.create({ name: 'twice' })
      const e = await rejection(weft.services.create({ name: 'twice', port: 9 }), Conflict)
      expect(e.detail).toContain('twice')
    })

    it('answers 400 ValidationError with errors[] naming each field', async () => {
      const e = await rejection(weft.services.create({ name: 'Not_A_Label', port: 'x' as unknown as number, extra: 1 } as never), ValidationError)
      expect(e.status).toBe(400)
      expect(e.type).toBe('https://weft.dev/problems/validation-error')
      expect(e.errors.map((f) => f.path).sort()).toEqual(['extra', 'name', 'port'])
      expect(e.errors.find((f) => f.path === 'extra')).toMatchObject({ message: 'unknown field', code: 'unrecognized_keys' })
    })

    it('pages through many services with an async iterator, fetching page by page', async () => {
      const { adminKey } = await operator.tenants.create({ slug: 'sdk-pages' }).then((r) => ({ adminKey: r.adminKey.secret }))
      const requests: string[] = []
      const many = client(adminKey, {
        fetch: (req) => {
          requests.push(new URL(req.url).search)
          return h.app.fetch(req)
        },
      })
      const names = Array.from({ length: 7 }, (_, i) => `svc-${i}`)
      for (const name of names) await many.services.create({ name })
      requests.length = 0

      const seen: string[] = []
      for await (const s of many.services.list({ limit: 3 })) seen.push(s.name)
      expect(seen).toEqual(names)
      expect(requests).toHaveLength(3)
      expect(requests[0]).toBe('?limit=3')
      expect(requests[1]).toMatch(/^\?limit=3&cursor=/)

      const pages = []
      for await (const page of many.services.list({ limit: 3 }).pages()) pages.push(page.items.length)
      expect(pages).toEqual([3, 3, 1])

      const first = await many.services.list({ limit: 5 })
      expect(first.items).toHaveLength(5)
      expect(first.nextCursor).toEqual(expect.any(String))
      const rest = await many.services.list({ limit: 5, cursor: first.nextCursor! })
      expect(rest).toMatchObject({ items: [{ name: 'svc-5' }, { name: 'svc-6' }], nextCursor: null })

      // Breaking out early fetches nothing more.
      requests.length = 0
      for await (const s of many.services.list({ limit: 2 })) if (s.name === 'svc-0') break
      expect(requests).toHaveLength(1)
    })
  })

  describe('endpoints', () => {
    it('registers (then re-registers), lists, reads, heartbeats and deregisters', async () => {
      await weft.services.create({ name: 'orders' })
      const first = await weft.endpoints.register('orders', { address: '10.0.0.1', port: 8080, labels: { version: 'v1' } }).withResponse()
      expect(first.status).toBe(201)
      expect(first.data).toMatchObject({ service: 'orders', address: '10.0.0.1', health: 'healthy', weight: 100, version: 1 })
      const again = await weft.endpoints.register('orders', { address: '10.0.0.1', port: 8080, weight: 50 }).withResponse()
      expect(again.status).toBe(200)
      expect(again.data).toMatchObject({ id: first.data.id, weight: 50, version: 2 })
      await weft.endpoints.register('orders', { address: '10.0.0.2', port: 8080 })

      expect((await weft.endpoints.list('orders').toArray()).map((e) => e.address).sort()).toEqual(['10.0.0.1', '10.0.0.2'])
      expect(await weft.endpoints.get('orders', first.data.id)).toMatchObject({ weight: 50 })
      expect(await weft.endpoints.heartbeat('orders', first.data.id, { health: 'draining' })).toMatchObject({ health: 'draining' })
      expect((await weft.endpoints.list('orders', { health: 'draining' }).toArray()).map((e) => e.id)).toEqual([first.data.id])

      await weft.endpoints.delete('orders', first.data.id)
      await rejection(weft.endpoints.get('orders', first.data.id), NotFound)
      await rejection(weft.endpoints.register('no-such-service', { address: '10.0.0.1', port: 1 }), NotFound)
    })
  })

  describe('identity: join tokens, workload tokens, signing keys, workloads', () => {
    it('a proxy joins with a join token, reads its snapshot by long poll, and is revoked', async () => {
      await weft.services.create({ name: 'checkout' })
      const jt = await weft.joinTokens.create('checkout', { maxUses: 2, name: 'checkout-proxy' })
      expect(jt.secret).toMatch(/^wfj_/)
      expect((await weft.joinTokens.list('checkout').toArray()).map((t) => t.id)).toEqual([jt.id])

      const joined = await client(jt.secret).identity.token()
      expect(joined).toMatchObject({ tokenType: 'JWT-SVID', spiffeId: `spiffe://${slug}.weft/svc/checkout` })
      // A credential function is asked before every request: how a proxy hands over refreshed tokens.
      let token = joined.token
      const proxy = client(undefined, { apiKey: () => token })
      token = (await proxy.identity.token()).token

      const first = await proxy.proxy.config({ service: 'checkout' })
      expect(first.changed).toBe(true)
      expect(first.snapshot?.service.name).toBe('checkout')
      expect(first.etag).toBeTruthy()
      const started = Date.now()
      const unchanged = await proxy.proxy.config({ service: 'checkout', ifNoneMatch: first.etag, wait: 1 })
      expect(unchanged).toMatchObject({ changed: false, snapshot: null, etag: first.etag })
      expect(Date.now() - started).toBeGreaterThanOrEqual(900)

      const keys = await weft.identity.jwks(slug)
      expect(keys.keys.length).toBeGreaterThanOrEqual(2)
      const before = await weft.signingKeys.list().toArray()
      expect(before.map((k) => k.status)).toEqual(expect.arrayContaining(['current', 'next']))
      const rotated = await weft.signingKeys.rotate()
      expect(rotated.items.find((k) => k.status === 'current')?.kid).toBe(before.find((k) => k.status === 'next')?.kid)

      const [workload] = await weft.workloads.list({ service: 'checkout' }).toArray()
      expect(workload).toMatchObject({ id: joined.workloadId, revokedAt: null })
      const revoked = await weft.workloads.revoke(joined.workloadId, { reason: 'compromised' })
      expect(revoked).toMatchObject({ revokedReason: 'compromised', revokedAt: expect.any(String) })
      expect((await weft.workloads.list({ revoked: true }).toArray()).map((w) => w.id)).toEqual([joined.workloadId])
      await rejection(proxy.identity.token(), Unauthorized)

      await weft.joinTokens.revoke('checkout', jt.id)
      await rejection(client(jt.secret).identity.token(), Unauthorized)
    })

    it('watch() yields the current snapshot, then the next one when a policy changes', async () => {
      await weft.services.create({ name: 'watched' })
      const controller = new AbortController()
      const seen: number[] = []
      const watching = (async () => {
        for await (const { revision, snapshot } of weft.proxy.watch({ service: 'watched', wait: 20 }, { signal: controller.signal })) {
          seen.push(revision)
          if (seen.length === 1) {
            await weft.policies.create({ kind: 'FaultPolicy', name: 'watched-fault', targetRef: { service: 'watched' }, spec: { abort: { percent: 1, httpStatus: 503 } } })
          } else {
            expect(snapshot.inbound.faults.map((f) => f.name)).toEqual(['watched-fault'])
            break
          }
        }
      })()
      await watching
      expect(seen).toHaveLength(2)
      expect(seen[1]!).toBeGreaterThan(seen[0]!)
    })
  })

  describe('policies', () => {
    const rateLimit = (requestsPerUnit: number) =>
      ({ kind: 'RateLimitPolicy', name: 'shop-rl', targetRef: { service: 'shop' }, spec: { limits: [{ key: 'source', requestsPerUnit, unit: 'second', burst: 20 }] } }) satisfies RateLimitPolicyInput

    beforeAll(async () => {
      await weft.services.create({ name: 'shop' })
    })

    it('creates, reads, lists, applies idempotently with If-Match, keeps history, rolls back and deletes', async () => {
      const created = await weft.policies.create(rateLimit(100)).withResponse()
      expect(created.status).toBe(201)
      expect(created.data).toMatchObject({ kind: 'RateLimitPolicy', name: 'shop-rl', version: 1, warnings: [] })
      expect(created.etag).toBe('"1"')
      expect(created.revision).toBe(created.data.revision)

      expect(await weft.policies.get('shop-rl')).toMatchObject({ spec: { limits: [{ requestsPerUnit: 100 }] }, version: 1 })
      expect((await weft.policies.list({ kind: 'RateLimitPolicy' }).toArray()).map((p) => p.name)).toEqual(['shop-rl'])
      expect(await weft.policies.list({ kind: 'Route' }).toArray()).toEqual([])

      // PUT is an idempotent upsert: the same policy again changes nothing, not even the version.
      const same = await weft.policies.apply(rateLimit(100)).withResponse()
      expect(same.status).toBe(200)
      expect(same.data.version).toBe(1)

      await rejection(weft.policies.apply(rateLimit(200), { ifMatch: '"7"' }), PreconditionFailed)
      const changed = await weft.policies.apply(rateLimit(200), { ifMatch: created.etag! })
      expect(changed).toMatchObject({ version: 2, spec: { limits: [{ requestsPerUnit: 200 }] } })

      const history = await weft.policies.history('shop-rl').toArray()
      expect(history.map((v) => [v.version, v.operation])).toEqual([
        [2, 'update'],
        [1, 'create'],
      ])
      expect(history[0]!.diff).toEqual([{ op: 'replace', path: '/spec/limits/0/requestsPerUnit', value: 200 }])

      const rolledBack = await weft.policies.rollback('shop-rl', 1)
      expect(rolledBack).toMatchObject({ version: 3, spec: { limits: [{ requestsPerUnit: 100 }] } })

      const upserted = await weft.policies.apply({ kind: 'AuthorizationPolicy', name: 'shop-authz', targetRef: { service: 'shop' }, spec: { rules: [] } }).withResponse()
      expect(upserted.status).toBe(201)

      await rejection(weft.policies.delete('shop-rl', { ifMatch: 1 }), PreconditionFailed)
      await weft.policies.delete('shop-rl', { ifMatch: 3 })
      await rejection(weft.policies.get('shop-rl'), NotFound)
      expect((await weft.policies.history('shop-rl').toArray())[0]).toMatchObject({ version: 4, operation: 'delete' })
    })

    it('answers 409 for a taken name and 400 naming a bad reference', async () => {
      await weft.policies.create({ kind: 'FaultPolicy', name: 'shop-fault', targetRef: { service: 'shop' }, spec: { delay: { percent: 10, fixedDelay: '50ms' } } })
      await rejection(weft.policies.create({ kind: 'FaultPolicy', name: 'shop-fault', targetRef: { service: 'shop' }, spec: { delay: { percent: 5, fixedDelay: '5ms' } } }), Conflict)
      const e = await rejection(weft.policies.create({ ...rateLimit(1), name: 'ghost-rl', targetRef: { service: 'ghost' } }), ValidationError)
      expect(e.errors.map((f) => f.path)).toContain('targetRef.service')
    })

    it('simulates a request', async () => {
      const r = await weft.policies.simulate({ source: { service: 'shop' }, destination: { service: 'shop' }, request: { method: 'GET', path: '/' } })
      expect(r.authorization.decision).toMatch(/^(ALLOW|DENY)$/)
      expect(r.revision).toBeGreaterThan(0)
    })
  })

  describe('filters', () => {
    it('pushes a module as application/wasm, lists, reads and downloads it', async () => {
      const wasm = moduleExporting(['proxy_abi_version_0_2_0', 'malloc'])
      const pushed = await weft.filters.push({ name: 'add-header', version: '1.0.0' }, wasm).withResponse()
      expect(pushed.status).toBe(201)
      expect(pushed.data).toMatchObject({ name: 'add-header', version: '1.0.0', size: wasm.length, abiVersion: '0.2.0' })
      expect(pushed.data.sha256).toMatch(/^[0-9a-f]{64}$/)
      expect((await weft.filters.push({ name: 'add-header', version: '1.0.0' }, wasm.buffer).withResponse()).status).toBe(200)
      await rejection(weft.filters.push({ name: 'add-header', version: '1.0.0' }, moduleExporting(['proxy_abi_version_0_2_1'])), Conflict)
      await rejection(weft.filters.push({ name: 'not-wasm', version: '1.0.0' }, new Blob([new Uint8Array([1, 2, 3])])), ValidationError)

      expect((await weft.filters.list().toArray()).map((f) => `${f.name}@${f.version}`)).toEqual(['add-header@1.0.0'])
      expect(await weft.filters.get('add-header')).toMatchObject({ name: 'add-header', versions: [{ sha256: pushed.data.sha256 }] })
      expect(await weft.filters.blob(pushed.data.sha256)).toEqual(new Uint8Array(wasm))
      await rejection(weft.filters.get('nope'), NotFound)
    })
  })

  describe('audit events and health', () => {
    it('lists audit events newest first, filtered, across pages', async () => {
      const events = await weft.auditEvents.list({ resourceType: 'service', limit: 2 }).toArray()
      expect(events.length).toBeGreaterThan(2)
      expect(events.every((e) => e.resourceType === 'service')).toBe(true)
      expect(events.map((e) => Number(e.id))).toEqual([...events.map((e) => Number(e.id))].sort((a, b) => b - a))
      expect(events.map((e) => e.action)).toContain('service.create')
    })

    it('answers the probes', async () => {
      expect(await weft.health.live()).toEqual({ status: 'ok' })
      expect(await weft.health.ready()).toEqual({ status: 'ok', database: 'ok' })
    })
  })

  describe('retries', () => {
    /** A fetch that answers the first `failures` calls itself, then hands over to the app; it records every request. */
    function flaky(failures: number, answer: () => Response | Promise<Response>) {
      const seen: Request[] = []
      const fetch: FetchLike = async (req) => {
        seen.push(req.clone())
        return seen.length <= failures ? answer() : h.app.fetch(req)
      }
      return { fetch, seen }
    }

    it('retries a 503 after its Retry-After, then succeeds', async () => {
      const { fetch, seen } = flaky(1, () => problemResponse(503, 'database-unavailable', { 'retry-after': '1' }))
      const retries: RetryEvent[] = []
      const c = client(undefined, { apiKey: (await weft.apiKeys.create({ name: 'r', role: 'viewer' })).secret, fetch, onRetry: (e) => retries.push(e) })
      const started = Date.now()
      const tenant = await c.tenant.get()
      expect(tenant.slug).toBe(slug)
      expect(Date.now() - started).toBeGreaterThanOrEqual(950)
      expect(seen).toHaveLength(2)
      expect(retries).toHaveLength(1)
      expect(retries[0]).toMatchObject({ attempt: 1, delayMs: 1000, method: 'GET', url: `${BASE_URL}/v1/tenant` })
      expect(retries[0]!.error).toBeInstanceOf(DatabaseUnavailable)
    })

    it("reuses one Idempotency-Key across a create's retries, and a new one per call", async () => {
      const { fetch, seen } = flaky(2, () => problemResponse(429, 'rate-limited', { 'retry-after': '0' }))
      const c = client(undefined, { apiKey: (await weft.apiKeys.create({ name: 'i', role: 'editor' })).secret, fetch })
      const svc = await c.services.create({ name: 'idempotent' })
      expect(svc.name).toBe('idempotent')
      expect(seen).toHaveLength(3)
      const keys = seen.map((r) => r.headers.get('idempotency-key'))
      expect(keys[0]).toMatch(UUID)
      expect(new Set(keys).size).toBe(1)
      // The body is sent again, whole, on each attempt.
      expect(await Promise.all(seen.map((r) => r.json()))).toEqual(Array(3).fill({ name: 'idempotent' }))

      await c.services.create({ name: 'idempotent-2' })
      await c.services.create({ name: 'idempotent-3' }, { idempotencyKey: 'caller-chosen' })
      expect(seen[3]!.headers.get('idempotency-key')).toMatch(UUID)
      expect(seen[3]!.headers.get('idempotency-key')).not.toBe(keys[0])
      expect(seen[4]!.headers.get('idempotency-key')).toBe('caller-chosen')
      await c.services.get('idempotent')
      await c.services.update('idempotent', { port: 81 })
      expect(seen.slice(5).map((r) => r.headers.get('idempotency-key'))).toEqual([null, null])
    })

    it('gives up after maxRetries, and does not wait out a Retry-After beyond maxRetryAfterMs', async () => {
      const down = flaky(Infinity, () => problemResponse(503, 'database-unavailable', { 'retry-after': '0' }))
      const e = await rejection(client(OPERATOR_KEY, { fetch: down.fetch, retry: { maxRetries: 2 } }).tenants.list(), DatabaseUnavailable)
      expect(down.seen).toHaveLength(3)
      expect(e.retryAfterMs).toBe(0)

      const limited = flaky(Infinity, () => problemResponse(429, 'rate-limited', { 'retry-after': '120' }))
      const started = Date.now()
      const tooLong = await rejection(client(OPERATOR_KEY, { fetch: limited.fetch }).tenants.list(), WeftApiError)
      expect(tooLong).toMatchObject({ status: 429, retryAfterMs: 120_000 })
      expect(limited.seen).toHaveLength(1)
      expect(Date.now() - started).toBeLessThan(1000)

      const off = flaky(Infinity, () => problemResponse(503, 'database-unavailable'))
      await rejection(client(OPERATOR_KEY, { fetch: off.fetch, retry: false }).tenants.list(), DatabaseUnavailable)
      expect(off.seen).toHaveLength(1)
    })

    it('resends a create whose answer was lost; the API answers from its Idempotency-Key, creating nothing twice', async () => {
      const seen: Request[] = []
      let lose = true
      const fetch: FetchLike = async (req) => {
        seen.push(req.clone())
        const res = await h.app.fetch(req)
        if (!lose) return res
        // The server acted, then the connection dropped before its answer arrived.
        lose = false
        throw new TypeError('fetch failed: socket hang up')
      }
      const c = client((await weft.apiKeys.create({ name: 'lost', role: 'editor' })).secret, { fetch, retry: { baseDelayMs: 1 } })
      const created = await c.services.create({ name: 'lost-answer' }).withResponse()
      expect(seen).toHaveLength(2)
      expect(seen[1]!.headers.get('idempotency-key')).toBe(seen[0]!.headers.get('idempotency-key'))
      expect(created.status).toBe(201)
      expect(created.headers.get('idempotent-replayed')).toBe('true')
      expect((await weft.services.list({ limit: 500 }).toArray()).filter((s) => s.name === 'lost-answer')).toHaveLength(1)
    })

    it('resends idempotent requests whose answer was lost, but not one-time secrets or conditional writes', async () => {
      const lost = () => Promise.reject(new TypeError('fetch failed: ECONNRESET'))
      const get = flaky(1, lost)
      expect((await client(OPERATOR_KEY, { fetch: get.fetch, retry: { baseDelayMs: 1 } }).tenants.list()).items.length).toBeGreaterThan(0)
      expect(get.seen).toHaveLength(2)

      const post = flaky(1, lost)
      const e = await rejection(client(OPERATOR_KEY, { fetch: post.fetch, retry: { baseDelayMs: 1 } }).tenants.create({ slug: 'sdk-lost' }), WeftConnectionError)
      expect(e.cause).toBeInstanceOf(TypeError)
      expect(post.seen).toHaveLength(1)

      const key = flaky(1, lost)
      await rejection(client(OPERATOR_KEY, { fetch: key.fetch, retry: { baseDelayMs: 1 } }).apiKeys.create({ name: 'k', role: 'viewer' }), WeftConnectionError)
      expect(key.seen).toHaveLength(1)

      // Nor a conditional write: had it landed, its resend would fail If-Match.
      const put = flaky(1, lost)
      await rejection(client(OPERATOR_KEY, { fetch: put.fetch, retry: { baseDelayMs: 1 } }).services.replace('x', {}, { ifMatch: 1 }), WeftConnectionError)
      expect(put.seen).toHaveLength(1)
    })

    it('times out a request that gets no answer', async () => {
      const hang: FetchLike = () => new Promise<Response>(() => {})
      const e = await rejection(client(OPERATOR_KEY, { fetch: hang, timeoutMs: 50, retry: false }).tenants.list(), WeftTimeoutError)
      expect(e.message).toContain('50 ms')
      const controller = new AbortController()
      const pending = client(OPERATOR_KEY, { fetch: hang }).tenants.list({}, { signal: controller.signal })
      controller.abort(new Error('caller gave up'))
      await expect(pending).rejects.toThrow('caller gave up')
    })
  })
  describe('in workerd', () => {
    // The SDK as a Cloudflare Worker uses it: bundled with no Node built-ins, calling the global fetch, which
    // Miniflare's outbound service hands to the control API here.
    let dir: string
    let mf: Miniflare | undefined
    const outbound: Request[] = []
    afterAll(async () => {
      await mf?.dispose()
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    it('creates, pages and gets typed errors with the global fetch', async () => {
      dir = await mkdtemp(join(tmpdir(), 'weft-sdk-workerd-'))
      const scriptPath = join(dir, 'worker.js')
      const worker = `
        import { Weft, NotFound, ValidationError } from './index.ts'
        export default {
          async fetch(request) {
            const { apiKey } = await request.json()
            const weft = new Weft({ baseUrl: '${BASE_URL}', apiKey })
            const created = await weft.services.create({ name: 'from-workerd', labels: { runtime: 'workerd' } }).withResponse()
            const names = []
            for await (const s of weft.services.list({ limit: 2 })) names.push(s.name)
            const errors = []
            try { await weft.services.get('nope') } catch (e) { errors.push(e instanceof NotFound ? 'NotFound' : String(e)) }
            try { await weft.services.create({ name: 'Bad Name' }) } catch (e) { errors.push(e instanceof ValidationError ? 'ValidationError:' + e.errors[0].path : String(e)) }
            return Response.json({ status: created.status, etag: created.etag, names, errors })
          },
        }`
      // platform 'neutral' resolves no Node built-ins: a `node:` import anywhere in the SDK fails this build.
      await build({ stdin: { contents: worker, resolveDir: SDK_SRC, loader: 'ts' }, outfile: scriptPath, bundle: true, format: 'esm', platform: 'neutral', target: 'es2022', logLevel: 'silent' })
      mf = new Miniflare({
        modules: true,
        scriptPath,
        modulesRoot: dir,
        compatibilityDate: '2026-04-01',
        cf: false,
        outboundService: async (req: MiniflareRequest) => {
          const forwarded = new Request(req.url, { method: req.method, headers: [...req.headers], body: ['GET', 'HEAD'].includes(req.method) ? undefined : await req.arrayBuffer() })
          outbound.push(forwarded.clone())
          const res = await h.app.fetch(forwarded)
          return new MiniflareResponse(res.status === 204 ? null : await res.arrayBuffer(), { status: res.status, headers: [...res.headers] })
        },
      })
      const adminKey = (await weft.apiKeys.create({ name: 'workerd', role: 'editor' })).secret
      const res = await mf.dispatchFetch('http://worker/', { method: 'POST', body: JSON.stringify({ apiKey: adminKey }) })
      expect(res.status).toBe(200)
      const out = (await res.json()) as { status: number; etag: string; names: string[]; errors: string[] }
      expect(out).toMatchObject({ status: 201, etag: '"1"', errors: ['NotFound', 'ValidationError:name'] })
      expect(out.names).toContain('from-workerd')
      expect(outbound[0]!.headers.get('idempotency-key')).toMatch(UUID)
      expect(outbound[0]!.headers.get('authorization')).toBe(`Bearer ${adminKey}`)
    })
  })
})
