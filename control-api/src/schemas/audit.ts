import { z } from '@hono/zod-openapi'
import { Timestamp } from './common'

export const AuditEvent = z
  .object({
    id: z.string().openapi({ description: 'Monotonic within the tenant.' }),
    actor: z.object({
      type: z.enum(['operator', 'api-key', 'workload', 'system']),
      id: z.string().nullable(),
      name: z.string().nullable(),
    }),
    action: z.string().openapi({ example: 'service.update' }),
    resourceType: z.string(),
    resourceId: z.string().nullable(),
    resourceName: z.string().nullable(),
    before: z.unknown().nullable(),
    after: z.unknown().nullable(),
    revision: z.number().int().nullable(),
    requestId: z.string().nullable(),
    createdAt: Timestamp,
  })
  .openapi('AuditEvent')
