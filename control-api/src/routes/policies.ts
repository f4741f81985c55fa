import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, eq, gt, max } from 'drizzle-orm'
import {
  AuthorizationPolicy,
  BackendPolicy,
  FaultPolicy,
  FilterChain,
  PolicyInput,
  POLICY_KINDS,
  RateLimitPolicy,
  RoutePolicy,
  type PolicyInput as Policy,
} from '../../../mesh/src/policy/schemas'
import { requireTenant } from '../auth/authenticate'
import { actorOf, type Principal } from '../context'
import type { Tx } from '../db/client'
import { isUniqueViolation } from '../db/pg-errors'
import { policies, policyVersions } from '../db/schema'
import { Conflict, NotFound, ValidationError } from '../errors'
import { checkIfMatch, etagOf } from '../http/etag'
import { decodeCursor, page } from '../http/pagination'
import { conflictResponses, errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { jsonDiff } from '../policy/json-diff'
import { validateReferences } from '../policy/validate-references'
import { recordChange } from '../repo/audit'
import { Pagination, pageOf, Timestamp } from '../schemas/common'

// Built with @hono/zod-openapi's `z` around mesh's plain-zod members: zod 4 gives a schema its `.openapi`
// method when it is created, and mesh's schemas may be created before @hono/zod-openapi extends zod.
const PolicyBody = z
  .discriminatedUnion('kind', [RoutePolicy, BackendPolicy, AuthorizationPolicy, RateLimitPolicy, FaultPolicy, FilterChain])
  .openapi('PolicyInput')
const FieldNote = z.object({ path: z.string(), message: z.string(), code: z.string().optional() })
const PolicyMeta = z.object({
  version: z.number().int(),
  revision: z.number().int().openapi({ description: 'The tenant revision this version was written at.' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
export const PolicyOut = z.intersection(PolicyBody, PolicyMeta).openapi('Policy')
const PolicyWritten = z.intersection(PolicyOut, z.object({ warnings: z.array(FieldNote) })).openapi('PolicyWritten')
const NameParam = z.object({ name: z.string().openapi({ param: { name: 'name', in: 'path' }, example: 'payments-canary' }) })
const IfMatch = z.object({ 'if-match': z.string().optional() })
const PolicyVersion = z
  .object({
    version: z.number().int(),
    operation: z.enum(['create', 'update', 'delete', 'rollback']),
    kind: z.enum(POLICY_KINDS),
    targetRef: z.object({ service: z.string() }),
    spec: z.unknown().nullable(),
    revision: z.number().int(),
    actor: z.object({ type: z.string(), id: z.string().nullable(), name: z.string().nullable() }),
    createdAt: Timestamp,
    diff: z.array(z.object({ op: z.enum(['add', 'remove', 'replace']), path: z.string(), value: z.unknown().optional() })).openapi({ description: 'RFC 6902 JSON Patch from the previous version.' }),
  })
  .openapi('PolicyVersion')

type Row = typeof policies.$inferSelect

function toPolicy(r: Row) {
  return {
    kind: r.kind,
    name: r.name,
    targetRef: { service: r.targetService },
    spec: r.spec,
    version: r.version,
    revision: r.revision,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  } as z.output<typeof PolicyOut>
}

const written = (headers: Record<string, string>, revision: number, version: number) => ({ ...headers, ETag: etagOf(version), 'Weft-Revision': String(revision) })

/**
 * One write path for create, replace, delete and rollback: validate references, bump the revision, keep the
 * version in history, audit, all in the caller's transaction.
 */
async function writePolicy(
  tx: Tx,
  tenantId: string,
  p: Principal,
  requestId: string,
  now: Date,
  op: 'create' | 'update' | 'rollback',
  input: Policy,
  before: Row | undefined,
) {
  const findings = await validateReferences(tx, tenantId, input, now)
  if (findings.errors.length) throw new ValidationError(findings.errors)
  const [last] = await tx.select({ v: max(policyVersions.version) }).from(policyVersions).where(and(eq(policyVersions.tenantId, tenantId), eq(policyVersions.name, input.name)))
  const version = (last?.v ?? 0) + 1
  const revision = (await recordChange(tx, {
    tenantId,
    actor: actorOf(p),
    action: `policy.${before ? (op === 'rollback' ? 'rollback' : 'update') : op === 'rollback' ? 'rollback' : 'create'}`,
    resourceType: 'policy',
    resourceId: before?.id ?? null,
    resourceName: input.name,
    before: before ? toPolicy(before) : null,
    after: input,
    requestId,
  }))!
  const values = { kind: input.kind, targetService: input.targetRef.service, spec: input.spec, version, revision }
  const [row] = before
    ? await tx.update(policies).set({ ...values, updatedAt: now }).where(eq(policies.id, before.id)).returning()
    : await tx.insert(policies).values({ tenantId, name: input.name, ...values }).returning()
  await tx.insert(policyVersions).values({ tenantId, name: input.name, operation: op, actor: actorOf(p), ...values })
  return { row: row!, revision, warnings: findings.warnings }
}

const createPolicy = createRoute({
  method: 'post',
  path: '/v1/policies',
  tags: ['Policies'],
  summary: 'Create a policy (Route, BackendPolicy, AuthorizationPolicy, RateLimitPolicy, FaultPolicy, FilterChain)',
  security: bearerSecurity,
  request: { body: { content: { 'application/json': { schema: PolicyBody } }, required: true } },
  responses: { 201: json(PolicyWritten, 'Created; `warnings` lists what is accepted but probably not intended.'), ...errorResponses, ...conflictResponses },
})

const listPolicies = createRoute({
  method: 'get',
  path: '/v1/policies',
  tags: ['Policies'],
  summary: 'List policies by name',
  security: bearerSecurity,
  request: { query: Pagination.extend({ kind: z.enum(POLICY_KINDS).optional(), service: z.string().max(63).optional() }).strict() },
  responses: { 200: json(pageOf(PolicyOut, 'PolicyPage'), 'A page of policies.'), ...errorResponses },
})

const getPolicy = createRoute({
  method: 'get',
  path: '/v1/policies/{name}',
  tags: ['Policies'],
  summary: 'Get a policy',
  security: bearerSecurity,
  request: { params: NameParam },
  responses: { 200: json(PolicyOut, 'The policy.'), ...errorResponses },
})

const putPolicy = createRoute({
  method: 'put',
  path: '/v1/policies/{name}',
  tags: ['Policies'],
  summary: 'Create or replace a policy (idempotent: an identical body changes nothing)',
  security: bearerSecurity,
  request: { params: NameParam, headers: IfMatch, body: { content: { 'application/json': { schema: PolicyBody } }, required: true } },
  responses: { 200: json(PolicyWritten, 'Replaced (or unchanged).'), 201: json(PolicyWritten, 'Created.'), ...errorResponses, ...conflictResponses },
})

const deletePolicy = createRoute({
  method: 'delete',
  path: '/v1/policies/{name}',
  tags: ['Policies'],
  summary: 'Delete a policy (its history stays, so it can be rolled back)',
  security: bearerSecurity,
  request: { params: NameParam, headers: IfMatch },
  responses: { 204: { description: 'Deleted.' }, ...errorResponses, ...conflictResponses },
})

const history = createRoute({
  method: 'get',
  path: '/v1/policies/{name}/history',
  tags: ['Policies'],
  summary: 'Every version of a policy, newest first, with the diff from the one before',
  security: bearerSecurity,
  request: { params: NameParam },
  responses: { 200: json(z.object({ items: z.array(PolicyVersion) }), 'The versions.'), ...errorResponses },
})

const rollback = createRoute({
  method: 'post',
  path: '/v1/policies/{name}/rollback',
  tags: ['Policies'],
  summary: 'Restore an earlier version (itself a new version and a new revision)',
  security: bearerSecurity,
  request: { params: NameParam, body: { content: { 'application/json': { schema: z.object({ version: z.number().int().min(1) }).strict() } }, required: true } },
  responses: { 200: json(PolicyWritten, 'Restored.'), ...errorResponses },
})

async function findPolicy(tx: Tx | Parameters<typeof validateReferences>[0], tenantId: string, name: string, forUpdate = false) {
  const q = tx.select().from(policies).where(and(eq(policies.tenantId, tenantId), eq(policies.name, name)))
  const [row] = forUpdate ? await q.for('update') : await q
  return row
}

const same = (row: Row, input: Policy) =>
  row.kind === input.kind && row.targetService === input.targetRef.service && JSON.stringify(sortKeys(row.spec)) === JSON.stringify(sortKeys(input.spec))

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]))
  return v
}

export const policyRoutes = newRouter()
  .openapi(createPolicy, async (c) => {
    const p = requireTenant(c, 'editor')
    const input = c.req.valid('json')
    try {
      const out = await c.var.db.transaction(async (tx) => {
        if (await findPolicy(tx, p.tenant.id, input.name)) throw new Conflict(`a policy named "${input.name}" already exists`)
        return writePolicy(tx, p.tenant.id, p, c.var.requestId, c.var.clock.now(), 'create', input, undefined)
      })
      return c.json({ ...toPolicy(out.row), warnings: out.warnings }, 201, written({ Location: `/v1/policies/${input.name}` }, out.revision, out.row.version))
    } catch (err) {
      if (isUniqueViolation(err)) throw new Conflict(`a policy named "${input.name}" already exists`, { cause: err })
      throw err
    }
  })
  .openapi(listPolicies, async (c) => {
    const p = requireTenant(c, 'viewer')
    const q = c.req.valid('query')
    const after = decodeCursor<[string]>(q.cursor, ['string'])
    const rows = await c.var.db
      .select()
      .from(policies)
      .where(
        and(
          eq(policies.tenantId, p.tenant.id),
          q.kind ? eq(policies.kind, q.kind) : undefined,
          q.service ? eq(policies.targetService, q.service) : undefined,
          after ? gt(policies.name, after[0]) : undefined,
        ),
      )
      .orderBy(asc(policies.name))
      .limit(q.limit + 1)
    return c.json(page(rows, q.limit, toPolicy, (r) => [r.name]), 200)
  })
  .openapi(getPolicy, async (c) => {
    const p = requireTenant(c, 'viewer')
    const row = await findPolicy(c.var.db, p.tenant.id, c.req.valid('param').name)
    if (!row) throw new NotFound(`no policy "${c.req.valid('param').name}"`)
    return c.json(toPolicy(row), 200, { ETag: etagOf(row.version), 'Weft-Revision': String(row.revision) })
  })
  .openapi(putPolicy, async (c) => {
    const p = requireTenant(c, 'editor')
    const { name } = c.req.valid('param')
    const input = c.req.valid('json')
    if (input.name !== name) throw new ValidationError([{ path: 'name', message: `must be "${name}", the name in the path` }])
    const out = await c.var.db.transaction(async (tx) => {
      const before = await findPolicy(tx, p.tenant.id, name, true)
      if (before) checkIfMatch(c.req.valid('header')['if-match'], before.version)
      else if (c.req.valid('header')['if-match'] && c.req.valid('header')['if-match'] !== '*') throw new NotFound(`no policy "${name}" to match If-Match against`)
      if (before && before.kind !== input.kind) throw new Conflict(`"${name}" is a ${before.kind}; delete it before reusing the name for a ${input.kind}`)
      // Re-applying the same policy is a no-op: `weft apply` twice must change nothing.
      if (before && same(before, input)) return { row: before, revision: before.revision, warnings: (await validateReferences(tx, p.tenant.id, input, c.var.clock.now())).warnings, created: false }
      return { ...(await writePolicy(tx, p.tenant.id, p, c.var.requestId, c.var.clock.now(), before ? 'update' : 'create', input, before)), created: !before }
    })
    return c.json({ ...toPolicy(out.row), warnings: out.warnings }, out.created ? 201 : 200, written({}, out.revision, out.row.version))
  })
  .openapi(deletePolicy, async (c) => {
    const p = requireTenant(c, 'editor')
    const { name } = c.req.valid('param')
    const revision = await c.var.db.transaction(async (tx) => {
      const before = await findPolicy(tx, p.tenant.id, name, true)
      if (!before) throw new NotFound(`no policy "${name}"`)
      checkIfMatch(c.req.valid('header')['if-match'], before.version)
      const revision = (await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'policy.delete',
        resourceType: 'policy',
        resourceId: before.id,
        resourceName: name,
        before: toPolicy(before),
        requestId: c.var.requestId,
      }))!
      const [last] = await tx.select({ v: max(policyVersions.version) }).from(policyVersions).where(and(eq(policyVersions.tenantId, p.tenant.id), eq(policyVersions.name, name)))
      await tx.insert(policyVersions).values({
        tenantId: p.tenant.id,
        name,
        version: (last?.v ?? before.version) + 1,
        operation: 'delete',
        kind: before.kind,
        targetService: before.targetService,
        spec: null,
        revision,
        actor: actorOf(p),
      })
      await tx.delete(policies).where(eq(policies.id, before.id))
      return revision
    })
    return c.body(null, 204, { 'Weft-Revision': String(revision) })
  })
  .openapi(history, async (c) => {
    const p = requireTenant(c, 'viewer')
    const { name } = c.req.valid('param')
    const rows = await c.var.db
      .select()
      .from(policyVersions)
      .where(and(eq(policyVersions.tenantId, p.tenant.id), eq(policyVersions.name, name)))
      .orderBy(asc(policyVersions.version))
    if (rows.length === 0) throw new NotFound(`no policy "${name}" and no history of one`)
    const snapshotOf = (r: (typeof rows)[number] | undefined) => (r && r.spec !== null ? { kind: r.kind, targetRef: { service: r.targetService }, spec: r.spec } : null)
    const items = rows.map((r, i) => ({
      version: r.version,
      operation: r.operation as 'create',
      kind: r.kind as 'Route',
      targetRef: { service: r.targetService },
      spec: r.spec,
      revision: r.revision,
      actor: r.actor,
      createdAt: r.createdAt.toISOString(),
      diff: jsonDiff(snapshotOf(rows[i - 1]), snapshotOf(r)),
    }))
    return c.json({ items: items.reverse() }, 200)
  })
  .openapi(rollback, async (c) => {
    const p = requireTenant(c, 'editor')
    const { name } = c.req.valid('param')
    const { version } = c.req.valid('json')
    const out = await c.var.db.transaction(async (tx) => {
      const [target] = await tx
        .select()
        .from(policyVersions)
        .where(and(eq(policyVersions.tenantId, p.tenant.id), eq(policyVersions.name, name), eq(policyVersions.version, version)))
      if (!target) throw new NotFound(`policy "${name}" has no version ${version}`)
      if (target.spec === null) throw new ValidationError([{ path: 'version', message: `version ${version} is the deletion; roll back to a version before it` }])
      const input = PolicyInput.parse({ kind: target.kind, name, targetRef: { service: target.targetService }, spec: target.spec })
      const before = await findPolicy(tx, p.tenant.id, name, true)
      if (before && before.kind !== input.kind) throw new Conflict(`"${name}" is now a ${before.kind}; delete it first`)
      return writePolicy(tx, p.tenant.id, p, c.var.requestId, c.var.clock.now(), 'rollback', input, before)
    })
    return c.json({ ...toPolicy(out.row), warnings: out.warnings }, 200, written({}, out.revision, out.row.version))
  })

