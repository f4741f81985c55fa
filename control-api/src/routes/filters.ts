import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, eq, inArray } from 'drizzle-orm'
import { meterWasm, WasmMeterError } from '../../../edge-proxy/src/wasm/meter-wasm'
import { proxyWasmAbi, wasmExports, WasmFormatError } from '../../../mesh/src/wasm/module-exports'
import { requireTenant } from '../auth/authenticate'
import { actorOf, type AppEnv } from '../context'
import { filterBlobs, filters } from '../db/schema'
import { isUniqueViolation } from '../db/pg-errors'
import { Conflict, Forbidden, NotFound, Unauthorized, ValidationError } from '../errors'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { sha256Hex } from '../sha256-hex'
import { Timestamp } from '../schemas/common'
import type { Context } from 'hono'

const FILTER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
// "blobs" would shadow GET /v1/filters/blobs/{sha256}.
const RESERVED_NAMES = new Set(['blobs'])

export const FilterVersion = z
  .object({ name: z.string(), version: z.string(), sha256: z.string(), size: z.number().int(), abiVersion: z.string(), createdAt: Timestamp })
  .openapi('FilterVersion')

const toVersion = (f: typeof filters.$inferSelect) => ({ name: f.name, version: f.version, sha256: f.sha256, size: f.size, abiVersion: f.abiVersion, createdAt: f.createdAt.toISOString() })

const pushFilter = createRoute({
  method: 'post',
  path: '/v1/filters',
  tags: ['Filters'],
  summary: 'Push a proxy-wasm filter module (editor); versions are immutable',
  description: 'The body is the module (Content-Type: application/wasm). The answer carries its sha256, which a FilterChain may pin.',
  security: bearerSecurity,
  request: {
    query: z
      .object({
        name: z.string().regex(FILTER_NAME, 'must be a DNS label').refine((n) => !RESERVED_NAMES.has(n), 'is reserved'),
        version: z.string().regex(/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/, 'must be a version such as 1.0.0'),
      })
      .strict(),
    body: { content: { 'application/wasm': { schema: z.string().openapi({ format: 'binary' }) } }, required: true },
  },
  responses: { 201: json(FilterVersion, 'Pushed.'), 200: json(FilterVersion, 'Already pushed with the same bytes.'), ...errorResponses, 409: errorResponses[400] },
})

const listFilters = createRoute({
  method: 'get',
  path: '/v1/filters',
  tags: ['Filters'],
  summary: 'The filter registry: every version of every filter',
  security: bearerSecurity,
  responses: { 200: json(z.object({ items: z.array(FilterVersion) }), 'Filter versions by name, oldest first.'), ...errorResponses },
})

const getBlob = createRoute({
  method: 'get',
  path: '/v1/filters/blobs/{sha256}',
  tags: ['Filters'],
  summary: "A module's bytes by content hash (tenant or its workloads); immutable and cacheable",
  security: bearerSecurity,
  request: { params: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/).openapi({ param: { name: 'sha256', in: 'path' } }) }) },
  responses: { 200: { description: 'The module.', content: { 'application/wasm': { schema: z.string().openapi({ format: 'binary' }) } } }, ...errorResponses },
})

const getFilter = createRoute({
  method: 'get',
  path: '/v1/filters/{name}',
  tags: ['Filters'],
  summary: "One filter's versions",
  security: bearerSecurity,
  request: { params: z.object({ name: z.string().openapi({ param: { name: 'name', in: 'path' } }) }) },
  responses: { 200: json(z.object({ name: z.string(), versions: z.array(FilterVersion) }), 'The filter.'), ...errorResponses },
})

/** Blobs are read by the tenant's people and by its proxies. */
function tenantOrWorkload(c: Context<AppEnv>): string {
  const p = c.get('principal')
  if (p?.kind === 'workload') return p.tenant.id
  if (!p) throw new Unauthorized('this route needs a tenant API key or a workload identity')
  if (p.kind !== 'api-key') throw new Forbidden('this route acts inside a tenant')
  return requireTenant(c, 'viewer').tenant.id
}

export const filterRoutes = newRouter()
  .openapi(pushFilter, async (c) => {
    const p = requireTenant(c, 'editor')
    const { name, version } = c.req.valid('query')
    const bytes = new Uint8Array(await c.req.arrayBuffer())
    let abi: string | null
    try {
      abi = proxyWasmAbi(wasmExports(bytes))
    } catch (err) {
      if (err instanceof WasmFormatError) throw new ValidationError([{ path: 'body', message: err.message }])
      throw err
    }
    if (!abi) throw new ValidationError([{ path: 'body', message: 'the module exports no proxy_abi_version_* marker: it is not a proxy-wasm filter' }])
    // Every proxy meters a module before it runs it (Node sidecar on fetch, `weft edge build` at bundle time):
    // one the metering cannot instrument would fail on every proxy, so it is refused here, with the defaults.
    try {
      meterWasm(bytes)
    } catch (err) {
      if (err instanceof WasmMeterError) throw new ValidationError([{ path: 'body', message: `the proxies cannot meter this module (fuel and memory bounds): ${err.message}` }])
      throw err
    }
    const sha256 = await sha256Hex(bytes)
    const existing = await c.var.db.select().from(filters).where(and(eq(filters.tenantId, p.tenant.id), eq(filters.name, name), eq(filters.version, version)))
    if (existing[0]) {
      if (existing[0].sha256 === sha256) return c.json(toVersion(existing[0]), 200)
      throw new Conflict(`${name}@${version} was pushed with other bytes (sha256 ${existing[0].sha256}); versions are immutable, push a new one`)
    }
    try {
      const row = await c.var.db.transaction(async (tx) => {
        await tx.insert(filterBlobs).values({ tenantId: p.tenant.id, sha256, bytes, size: bytes.length }).onConflictDoNothing()
        const [row] = await tx
          .insert(filters)
          .values({ tenantId: p.tenant.id, name, version, sha256, size: bytes.length, abiVersion: abi!, createdBy: actorOf(p) })
          .returning()
        await recordChange(tx, {
          tenantId: p.tenant.id,
          actor: actorOf(p),
          action: 'filter.push',
          resourceType: 'filter',
          resourceId: row!.id,
          resourceName: `${name}@${version}`,
          after: toVersion(row!),
          requestId: c.var.requestId,
          bumpsRevision: false,
        })
        return row!
      })
      return c.json(toVersion(row), 201, { Location: `/v1/filters/${name}` })
    } catch (err) {
      if (isUniqueViolation(err)) throw new Conflict(`${name}@${version} was pushed concurrently; retry`, { cause: err })
      throw err
    }
  })
  .openapi(listFilters, async (c) => {
    const p = requireTenant(c, 'viewer')
    const rows = await c.var.db.select().from(filters).where(eq(filters.tenantId, p.tenant.id)).orderBy(asc(filters.name), asc(filters.createdAt))
    return c.json({ items: rows.map(toVersion) }, 200)
  })
  .openapi(getBlob, async (c) => {
    const tenantId = tenantOrWorkload(c)
    const { sha256 } = c.req.valid('param')
    const [blob] = await c.var.db.select().from(filterBlobs).where(and(eq(filterBlobs.tenantId, tenantId), eq(filterBlobs.sha256, sha256)))
    if (!blob) throw new NotFound(`no module with sha256 ${sha256}`)
    const etag = `"${sha256}"`
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, { ETag: etag })
    return c.body(blob.bytes as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': 'application/wasm',
      ETag: etag,
      // Content-addressed: the bytes behind a hash never change.
      'Cache-Control': 'private, max-age=31536000, immutable',
    })
  })
  .openapi(getFilter, async (c) => {
    const p = requireTenant(c, 'viewer')
    const { name } = c.req.valid('param')
    const rows = await c.var.db.select().from(filters).where(and(eq(filters.tenantId, p.tenant.id), eq(filters.name, name))).orderBy(asc(filters.createdAt))
    if (rows.length === 0) throw new NotFound(`no filter "${name}"`)
    return c.json({ name, versions: rows.map(toVersion) }, 200)
  })

/** FilterChain validation: which of these references are in the registry. */
export async function resolveFilterRefs(db: Parameters<typeof recordChange>[0], tenantId: string, refs: { filter: string; version?: string; sha256?: string }[]) {
  if (refs.length === 0) return new Map<number, string | null>()
  const rows = await db.select().from(filters).where(and(eq(filters.tenantId, tenantId), inArray(filters.name, [...new Set(refs.map((r) => r.filter))])))
  const out = new Map<number, string | null>()
  refs.forEach((r, i) => {
    const hit = rows.find((f) => f.name === r.filter && (r.version ? f.version === r.version : f.sha256 === r.sha256))
    out.set(i, hit?.sha256 ?? null)
  })
  return out
}
