// The TenantRevisions Durable Object (wrangler.jsonc binds it as TENANT_REVISIONS; the Worker entry exports
// it). One object per tenant, named by the tenant id, holds that tenant's waiting long polls: a committed
// revision announced by any Worker wakes them all at once, and while any wait, the object itself reads the
// tenant's revision once a second, for writes nobody announced (a Node instance, a direct database change).
import { ConfigError } from '../config'
import type { Database } from '../db/client'
import { NotConfigured, toProblem } from '../errors'
import type { Logger } from '../logger'
import { connectWorkerDatabase, workerConfig, workerLogger, type Env } from '../runtime/worker-env'
import { PublishRequest, WaitRequest } from './durable-revision-bus'
import { revisionReader } from './notify-sources'
import { createRevisionBus, type RevisionBus } from './revision-bus'

/** Announced revisions arrive at once; this bounds how late an unannounced one is. */
export const TENANT_POLL_INTERVAL_MS = 1_000
// The poll's connection outlives one poll (a reconnect per second would cost more than the query; unlike a
// Worker request, a Durable Object may keep I/O objects across its requests) but not a quiet spell: it
// closes once nobody has waited for a few intervals.
const IDLE_CLOSE_MS = 3 * TENANT_POLL_INTERVAL_MS

export class TenantRevisions {
  private started: Promise<{ bus: RevisionBus; logger: Logger }> | undefined
  private connection: Promise<Database> | undefined
  private idle: ReturnType<typeof setTimeout> | undefined
  private announced = 0
  private polls = 0

  // The first argument is the object's state (storage); waiters live in memory, so it is not needed.
  constructor(
    _state: unknown,
    private readonly env: Env,
  ) {}

  async fetch(request: Request): Promise<Response> {
    let started: { bus: RevisionBus; logger: Logger }
    try {
      started = await (this.started ??= this.start().catch((err: unknown) => {
        this.started = undefined
        throw err
      }))
    } catch (err) {
      const problem = new NotConfigured(err instanceof Error ? err.message : String(err))
      return new Response(JSON.stringify(toProblem(problem)), { status: problem.status, headers: { 'Content-Type': 'application/problem+json' } })
    }
    const { bus } = started
    const path = new URL(request.url).pathname
    if (request.method === 'POST' && path === '/wait') {
      const body = WaitRequest.safeParse(await request.json().catch(() => null))
      if (!body.success) return Response.json({ error: body.error.issues }, { status: 400 })
      const { tenantId, after, timeoutMs } = body.data
      return Response.json({ revision: await bus.waitForRevision(tenantId, after, timeoutMs, request.signal) })
    }
    if (request.method === 'POST' && path === '/publish') {
      const body = PublishRequest.safeParse(await request.json().catch(() => null))
      if (!body.success) return Response.json({ error: body.error.issues }, { status: 400 })
      this.announced++
      bus.publish(body.data.tenantId, body.data.revision)
      return new Response(null, { status: 204 })
    }
    // For metrics and tests: reachable only through the binding, never from the Worker's public routes.
    if (request.method === 'GET' && path === '/status') {
      return Response.json({ waiting: bus.waiting(), announced: this.announced, polls: this.polls })
    }
    return new Response(null, { status: 404 })
  }

  private async start(): Promise<{ bus: RevisionBus; logger: Logger }> {
    const config = workerConfig(this.env)
    const logger = workerLogger(config, { object: 'TenantRevisions' })
    const { database } = config
    if (database.kind !== 'postgres') throw new ConfigError(['DATABASE_URL: must be postgres://… (or bind HYPERDRIVE)'])
    const bus = await createRevisionBus({
      readRevisions: (tenantIds) => this.readRevisions(database.url, config.neonWsProxy, tenantIds),
      pollIntervalMs: TENANT_POLL_INTERVAL_MS,
      logger,
    })
    return { bus, logger }
  }

  private async readRevisions(url: string, neonWsProxy: string | undefined, tenantIds: string[]): Promise<Map<string, number>> {
    clearTimeout(this.idle)
    this.polls++
    try {
      const d = await (this.connection ??= connectWorkerDatabase(url, neonWsProxy).catch((err: unknown) => {
        this.connection = undefined
        throw err
      }))
      return await revisionReader(d.db)(tenantIds)
    } catch (err) {
      this.closeConnection()
      throw err
    } finally {
      this.idle = setTimeout(() => this.closeConnection(), IDLE_CLOSE_MS)
    }
  }

  private closeConnection(): void {
    const open = this.connection
    this.connection = undefined
    void open?.then((d) => d.close()).catch(() => {})
  }
}
