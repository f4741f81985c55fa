import type { PagePromise } from '../api-promise.js'
import type { RequestOptions } from '../http-client.js'
import type { AuditEvent, AuditEventListOptions } from '../types.js'
import { Resource } from './resource.js'

/** Who changed what, when (admin). */
export class AuditEvents extends Resource {
  /**
   * Events, newest first; filter by `resourceType`, `resourceName`, `action`.
   * @example
   * for await (const e of weft.auditEvents.list({ resourceType: 'policy' })) console.log(e.action, e.actor.name)
   */
  list(query: AuditEventListOptions = {}, options?: RequestOptions): PagePromise<AuditEvent> {
    return this.page({ method: 'GET', path: '/v1/audit-events', query, options })
  }
}
