import { OpenAPIHono } from '@hono/zod-openapi'
import { swaggerUI } from '@hono/swagger-ui'
import type { Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { HTTPException } from 'hono/http-exception'
import { requestId } from 'hono/request-id'
import { authenticate } from './auth/authenticate'
import { hashSecret } from './auth/secrets'
import type { AppEnv, Deps, Principal } from './context'
import { isConnectionError } from './db/pg-errors'
import {
  DatabaseUnavailable,
  InternalError,
  MalformedBody,
  NotFound,
  PayloadTooLarge,
  toProblem,
  UnsupportedMediaType,
  WeftError,
} from './errors'
import { idempotency } from './http/idempotency'
import { newRouter } from './http/router'
import { consoleRoutes } from './console/console-routes'
import { apiKeyRoutes } from './routes/api-keys'
import { auditRoutes } from './routes/audit-events'
import { endpointRoutes } from './routes/endpoints'
import { filterRoutes } from './routes/filters'
import { healthRoutes } from './routes/health'
import { policyRoutes } from './routes/policies'
import { proxyConfigRoutes } from './routes/proxy-config'
import { proxyRoutes } from './routes/proxies'
import { simulateRoutes } from './routes/simulate'
import { sloRoutes } from './routes/slos'
import { telemetryRoutes } from './routes/telemetry'
import { SnapshotCache } from './snapshot/snapshot-cache'
import { identityRoutes } from './routes/identity'
import { joinTokenRoutes } from './routes/join-tokens'
import { workloadRoutes } from './routes/workloads'
import { signingKeyRoutes } from './routes/signing-keys'
import { serviceRoutes } from './routes/services'
import { tenantRoutes } from './routes/tenants'
import { tracingRoutes } from './routes/tracing'

export const API_VERSION = '0.1.0'
const JSON_TYPE = /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i

function problemResponse(c: Context<AppEnv>, err: WeftError): Response {
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json', ...err.headers }
  // c.newResponse keeps headers set earlier in the chain (X-Request-Id) on error answers too.
  return c.newResponse(JSON.stringify(toProblem(err, c.get('requestId'))), err.status as 400, headers)
}

function principalLabel(p: Principal | null): string | undefined {
  if (!p) return undefined
  switch (p.kind) {
    case 'operator':
      return 'operator'
    case 'api-key':
      return `api-key:${p.keyId}`
    case 'workload':
      return `workload:${p.workloadId}`
    case 'join-token':
      return 'join-token'
  }
}

/** The path pattern that handled the request (`/v1/services/:name`), for logs and metrics. */
function routeOf(c: Context<AppEnv>): string {
  const handlers = c.req.matchedRoutes.filter((r) => r.method !== 'ALL')
  return handlers[handlers.length - 1]?.path ?? 'unmatched'
}

/** The control API as a Web-standard app: `app.fetch(request)`. Node and Workers entries only build `deps`. */
export function createApp(deps: Deps): OpenAPIHono<AppEnv> {
  const clock = deps.clock ?? { now: () => new Date() }
  const operatorKeyHash = deps.config.operatorKey ? hashSecret(deps.config.operatorKey) : Promise.resolve(null)
  const app = newRouter()
  const snapshots = deps.snapshots ?? new SnapshotCache(deps.config.publicUrl, deps.masterKey)

  app.use(requestId({ headerName: 'X-Request-Id' }))
  if (deps.config.corsOrigins.length > 0) {
    // Browsers only; bearer tokens, not cookies, so no credentials mode.
    app.use(
      cors({
        origin: deps.config.corsOrigins,
        allowHeaders: ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match', 'Idempotency-Key', 'X-Request-Id'],
        exposeHeaders: ['ETag', 'Location', 'Weft-Revision', 'X-Request-Id', 'Retry-After', 'Idempotent-Replayed'],
        maxAge: 600,
      }),
    )
  }
  app.use(async function logRequests(c, next) {
    const started = performance.now()
    c.set('clock', clock)
    c.set('masterKey', deps.masterKey)
    c.set('issuer', deps.config.publicUrl)
    c.set('principal', null)
    c.set('log', deps.logger.child({ requestId: c.get('requestId') }))
    await next()
    const p = c.get('principal')
    c.var.log.info(
      {
        method: c.req.method,
        route: routeOf(c),
        status: c.res.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        tenant: p && 'tenant' in p ? p.tenant.slug : undefined,
        service: p?.kind === 'workload' ? p.service : undefined,
        principal: principalLabel(p),
      },
      'request',
    )
  })
  // The web console: static, public, answered before the database and auth middleware (it needs neither).
  app.route('/', consoleRoutes)

  const limitFor = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError: () => {
        throw new PayloadTooLarge(`the body exceeds ${maxSize} bytes`)
      },
    })
  const jsonLimit = limitFor(deps.config.maxBodyBytes)
  const moduleLimit = limitFor(deps.config.maxFilterBytes)
  // Filter modules are the one binary upload; everything else is JSON.
  const isModuleUpload = (c: Context<AppEnv>) => c.req.method === 'POST' && c.req.path === '/v1/filters'
  app.use('/v1/*', (c, next) => (isModuleUpload(c) ? moduleLimit(c, next) : jsonLimit(c, next)))
  app.use('/v1/*', async function requireJsonBodies(c, next) {
    const hasBody = c.req.raw.body !== null && c.req.header('content-length') !== '0'
    const type = c.req.header('content-type') ?? ''
    if (isModuleUpload(c)) {
      if (!/^application\/wasm\s*(;|$)/i.test(type)) throw new UnsupportedMediaType(`send the module as application/wasm (got ${type || 'no Content-Type'})`)
    } else if (['POST', 'PUT', 'PATCH'].includes(c.req.method) && hasBody && !JSON_TYPE.test(type)) {
      throw new UnsupportedMediaType(`send the body as application/json (got ${type || 'no Content-Type'})`)
    }
    await next()
  })
  app.use('*', async function withDatabase(c, next) {
    if (c.req.path === '/openapi.json' || c.req.path === '/docs' || c.req.path === '/healthz') return next()
    try {
      c.set('db', await deps.getDb(c))
    } catch (err) {
      throw new DatabaseUnavailable('cannot connect to the database', { cause: err })
    }
    return next()
  })
  app.use('/v1/*', async function authenticateCaller(c, next) {
    // An expired workload token is accepted (within the grace) by the one route that renews it, and only there.
    const renewing = c.req.method === 'POST' && c.req.path === '/v1/identity/token'
    const opts = renewing ? { renewalGraceMs: deps.config.renewalGraceMs } : {}
    c.set('principal', await authenticate(c.var.db, c.req.header('authorization'), await operatorKeyHash, clock.now(), deps.config.publicUrl, opts))
    await next()
  })
  app.use('/v1/*', idempotency)

  app.route('/', healthRoutes)
  app.route('/', tenantRoutes)
  app.route('/', apiKeyRoutes)
  app.route('/', serviceRoutes)
  app.route('/', endpointRoutes)
  app.route('/', auditRoutes)
  app.route('/', joinTokenRoutes)
  app.route('/', signingKeyRoutes)
  app.route('/', identityRoutes)
  app.route('/', workloadRoutes)
  app.route('/', filterRoutes)
  app.route('/', policyRoutes)
  app.route('/', proxyConfigRoutes(snapshots, deps.revisions, deps))
  app.route('/', simulateRoutes(snapshots))
  app.route('/', proxyRoutes)
  app.route('/', telemetryRoutes)
  app.route('/', tracingRoutes)
  app.route('/', sloRoutes({ webhookAllowPrivate: deps.config.webhookAllowPrivate }))

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An operator key (wfo_…) or a tenant API key (wft_…).',
  })
  app.doc31('/openapi.json', (c) => ({
    openapi: '3.1.0',
    info: {
      title: 'Weft control API',
      version: API_VERSION,
      description: 'Tenants, services, endpoints and the audit log of a Weft mesh. Errors are RFC 9457 problem+json.',
    },
    servers: [{ url: deps.config.publicUrl ?? new URL(c.req.url).origin }],
  }))
  app.get('/docs', swaggerUI({ url: '/openapi.json', title: 'Weft control API' }))
  app.get('/', (c) => c.json({ name: 'weft-control-api', version: API_VERSION, docs: '/docs', openapi: '/openapi.json' }))

  app.notFound((c) => problemResponse(c, new NotFound(`no route for ${c.req.method} ${c.req.path}`)))
  app.onError((err, c) => {
    let e: WeftError
    if (err instanceof WeftError) e = err
    else if (err instanceof HTTPException && err.status === 400) e = new MalformedBody(err.message)
    else if (err instanceof HTTPException && err.status === 413) e = new PayloadTooLarge(err.message)
    else if (isConnectionError(err)) e = new DatabaseUnavailable('the database is unreachable', { cause: err })
    else e = new InternalError('an unexpected error occurred; the request id identifies it in the logs', { cause: err })
    const log = c.get('log') ?? deps.logger
    if (e.status >= 500) log.error({ err: { name: err.name, message: err.message, stack: err.stack }, type: e.type }, 'request failed')
    return problemResponse(c, e)
  })
  return app
}
