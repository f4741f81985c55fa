import { createRoute, z } from '@hono/zod-openapi'
import { eq } from 'drizzle-orm'
import { requireTenant } from '../auth/authenticate'
import { actorOf } from '../context'
import { signingKeys, tenants } from '../db/schema'
import { NotConfigured, NotFound } from '../errors'
import { listSigningKeys, publishedKeys, rotateSigningKeys } from '../identity/signing-keys'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { Jwks, SigningKey } from '../schemas/identity'

/**
 * Verifiers cache the JWKS; a key is published as `next` a whole rotation period before it signs, so a
 * few minutes of caching never makes a valid token unverifiable.
 */
export const JWKS_MAX_AGE_SECONDS = 300

const toSigningKey = (k: typeof signingKeys.$inferSelect) => ({
  kid: k.kid,
  alg: k.alg as 'ES256',
  status: k.status as 'current',
  createdAt: k.createdAt.toISOString(),
  activatedAt: k.activatedAt?.toISOString() ?? null,
  deactivatedAt: k.deactivatedAt?.toISOString() ?? null,
  publishUntil: k.publishUntil?.toISOString() ?? null,
})

const jwks = createRoute({
  method: 'get',
  path: '/v1/tenants/{slug}/jwks.json',
  tags: ['Identity'],
  summary: "The tenant's public signing keys (public, cacheable)",
  request: { params: z.object({ slug: z.string().openapi({ param: { name: 'slug', in: 'path' } }) }) },
  responses: { 200: json(Jwks, 'A JWK Set.'), 404: errorResponses[404] },
})

const listKeys = createRoute({
  method: 'get',
  path: '/v1/signing-keys',
  tags: ['Identity'],
  summary: "The tenant's signing keys and their life-cycle state (tenant admin)",
  security: bearerSecurity,
  responses: { 200: json(z.object({ items: z.array(SigningKey) }), 'Keys, oldest first.'), ...errorResponses },
})

const rotate = createRoute({
  method: 'post',
  path: '/v1/signing-keys/rotate',
  tags: ['Identity'],
  summary: 'Rotate now: next becomes current, current keeps verifying until its tokens expire (tenant admin)',
  security: bearerSecurity,
  responses: { 200: json(z.object({ items: z.array(SigningKey) }), 'Keys after the rotation.'), ...errorResponses },
})

export const signingKeyRoutes = newRouter()
  .openapi(jwks, async (c) => {
    const { slug } = c.req.valid('param')
    const [tenant] = await c.var.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.slug, slug))
    if (!tenant) throw new NotFound(`no tenant "${slug}"`)
    const keys = await publishedKeys(c.var.db, tenant.id, c.var.clock.now())
    return c.json({ keys }, 200, { 'Cache-Control': `public, max-age=${JWKS_MAX_AGE_SECONDS}` })
  })
  .openapi(listKeys, async (c) => {
    const p = requireTenant(c, 'admin')
    return c.json({ items: (await listSigningKeys(c.var.db, p.tenant.id)).map(toSigningKey) }, 200)
  })
  .openapi(rotate, async (c) => {
    const p = requireTenant(c, 'admin')
    const masterKey = c.var.masterKey
    if (!masterKey) throw new NotConfigured('WEFT_MASTER_KEY is not set: signing keys cannot be created')
    const items = await c.var.db.transaction(async (tx) => {
      const r = await rotateSigningKeys(tx, p.tenant.id, masterKey, c.var.clock.now())
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'signing-key.rotate',
        resourceType: 'signing-key',
        resourceId: r.current.kid,
        after: { current: r.current.kid, next: r.next.kid, retired: r.retired },
        requestId: c.var.requestId,
      })
      return listSigningKeys(tx, p.tenant.id)
    })
    return c.json({ items: items.map(toSigningKey) }, 200)
  })
