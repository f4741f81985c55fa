import { z } from '@hono/zod-openapi'

// RFC 1123 DNS label: what Kubernetes and DNS accept as a service name, so names survive into hostnames.
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export const DnsLabel = z
  .string()
  .regex(DNS_LABEL, 'must be a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters')

// Kubernetes-style label keys and values, so selectors read the same as in a cluster.
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/
export const Labels = z
  .record(z.string().regex(LABEL_KEY, 'label keys are [prefix/]name, name up to 63 characters'), z.string().regex(LABEL_VALUE, 'label values are up to 63 characters of letters, digits, "-", "_" and "."'))
  .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels')
  .openapi('Labels', { example: { version: 'v1', team: 'payments' } })

export const Timestamp = z.string().openapi({ format: 'date-time', example: '2026-11-24T12:00:00.000Z' })

export const Pagination = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50).openapi({ description: 'Page size, 1–500.' }),
    cursor: z.string().max(512).optional().openapi({ description: 'The `nextCursor` of the previous page.' }),
  })
  .strict()

export function pageOf<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({ items: z.array(item), nextCursor: z.string().nullable() })
    .openapi(name)
}

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://weft.dev/problems/validation-error' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() })).optional(),
  })
  .openapi('Problem')

export const Role = z.enum(['admin', 'editor', 'viewer']).openapi('Role')
