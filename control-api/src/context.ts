import type { Context } from 'hono'
import type { Config } from './config'
import type { Db } from './db/client'
import type { Actor } from './db/schema'
import type { RevisionBus } from './distribution/revision-bus'
import type { Logger } from './logger'
import type { SnapshotCache } from './snapshot/snapshot-cache'

export type Role = 'admin' | 'editor' | 'viewer'

export type TenantRef = { id: string; slug: string; trustDomain: string }

export type Principal =
  | { kind: 'operator'; keyId: string | null; name: string }
  | { kind: 'api-key'; tenant: TenantRef; keyId: string; name: string; role: Role }
  /** A proxy with its JWT-SVID (audience: the control API). */
  | {
      kind: 'workload'
      tenant: TenantRef
      service: string
      serviceId: string
      workloadId: string
      spiffeId: string
      /** Set when the token had expired but is within the renewal grace: good only for renewing itself. */
      expiredAt?: Date
    }
  /** A bootstrap secret: good only for POST /v1/identity/token, which checks it. */
  | { kind: 'join-token'; secretHash: string }

export type Clock = { now(): Date }

/** What the app needs from its runtime; the Node and Workers entries each build one. */
export type Deps = {
  config: Config
  logger: Logger
  /** The database for this request: one shared pool on Node, one connection per request on Workers. */
  getDb(c: Context<AppEnv>): Db | Promise<Db>
  clock?: Clock
  /** Seals tenants' private signing keys (WEFT_MASTER_KEY). Null only where it is not configured (a Worker without the secret). */
  masterKey: CryptoKey | null
  /** Wakes long-polling proxies: LISTEN/NOTIFY on Node, the TenantRevisions Durable Object on Workers. Absent, each long poll checks the database itself. */
  revisions?: RevisionBus
  /**
   * Lets go of the request's database connection before a long poll waits on `revisions` (Workers: one
   * connection per request, which would sit idle for the whole wait); getDb opens another if it is needed after.
   */
  releaseDb?(c: Context<AppEnv>): Promise<void>
  /** Compiled snapshots, shared by the app's routes; created by the app when not given. */
  snapshots?: SnapshotCache
}

export type AppEnv = {
  Variables: {
    db: Db
    log: Logger
    principal: Principal | null
    requestId: string
    clock: Clock
    masterKey: CryptoKey | null
    /** WEFT_PUBLIC_URL: the `iss` of every JWT-SVID. */
    issuer: string
  }
}

export function actorOf(p: Principal): Actor {
  switch (p.kind) {
    case 'operator':
      return { type: 'operator', id: p.keyId, name: p.name }
    case 'api-key':
      return { type: 'api-key', id: p.keyId, name: p.name }
    case 'workload':
      return { type: 'workload', id: p.workloadId, name: p.spiffeId }
    case 'join-token':
      return { type: 'workload', id: null, name: 'join-token' }
  }
}
