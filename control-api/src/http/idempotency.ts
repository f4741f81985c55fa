import { and, eq, lt } from 'drizzle-orm'
import type { Context, Next } from 'hono'
import type { AppEnv } from '../context'
import { isUniqueViolation } from '../db/pg-errors'
import { idempotencyKeys } from '../db/schema'
import { IdempotencyInProgress, ValidationError } from '../errors'
import { sha256Hex } from '../sha256-hex'

/** A day: longer than any client's retry schedule, short enough that the table stays small. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000
const KEY = /^[\x21-\x7e]{1,255}$/
// Answers worth replaying: a retried create must see the same 201 (or the same 4xx), never a fresh attempt.
const REPLAYED_HEADERS = ['content-type', 'location', 'etag', 'weft-revision']

function redactSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactSecrets)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'secret' ? null : redactSecrets(x)]))
  return v
}

/**
 * For POSTs carrying `Idempotency-Key`: the first request runs and its answer (unless 5xx) is stored; a retry
 * with the same key and the same request gets that answer again; the same key with a different request is a
 * 422; a retry while the first is still running is a 409 the client may retry.
 */
export async function idempotency(c: Context<AppEnv>, next: Next): Promise<Response | void> {
  const key = c.req.header('idempotency-key')
  if (c.req.method !== 'POST' || key === undefined) return next()
  if (!KEY.test(key)) throw new ValidationError([{ path: 'header.idempotency-key', message: 'must be 1–255 printable ASCII characters' }])
  const p = c.get('principal')
  if (!p || p.kind === 'join-token') return next()
  const scope = p.kind === 'operator' ? 'operator' : `tenant:${p.tenant.id}`
  const fingerprint = await sha256Hex(`${c.req.method} ${c.req.path}?${new URL(c.req.url).search}\n${await sha256Hex(await c.req.raw.clone().arrayBuffer())}`)
  const db = c.var.db
  const now = c.var.clock.now()
  await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key), lt(idempotencyKeys.createdAt, new Date(now.getTime() - IDEMPOTENCY_TTL_MS))))
  const [seen] = await db.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)))
  if (seen) {
    if (seen.fingerprint !== fingerprint) {
      throw new ValidationError([{ path: 'header.idempotency-key', message: 'this key was used for a different request' }], 'Idempotency-Key reused for a different request')
    }
    if (seen.status === null) throw new IdempotencyInProgress('retry shortly: the first request with this key has not finished')
    return c.newResponse(seen.body ?? null, seen.status as 200, { ...seen.headers, 'Idempotent-Replayed': 'true' })
  }
  try {
    await db.insert(idempotencyKeys).values({ scope, key, fingerprint, createdAt: now })
  } catch (err) {
    if (isUniqueViolation(err)) throw new IdempotencyInProgress('retry shortly: the first request with this key has not finished', { cause: err })
    throw err
  }
  let stored = false
  try {
    await next()
    if (c.res.status < 500) {
      const headers: Record<string, string> = {}
      for (const h of REPLAYED_HEADERS) {
        const v = c.res.headers.get(h)
        if (v !== null) headers[h] = v
      }
      let body = c.res.body === null ? null : await c.res.clone().text()
      // Secrets are shown once and stored only hashed: a replay answers the same, minus the secret.
      if (body && headers['content-type']?.includes('json') && body.includes('"secret"')) {
        body = JSON.stringify(redactSecrets(JSON.parse(body)))
        headers['weft-secret-redacted'] = 'true'
      }
      await db.update(idempotencyKeys).set({ status: c.res.status, headers, body }).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)))
      stored = true
    }
  } finally {
    // A failed attempt leaves no trace, so the client's retry runs for real.
    if (!stored) await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)))
  }
}
