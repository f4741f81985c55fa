import { z } from '@hono/zod-openapi'
import { DnsLabel, Role, Timestamp } from './common'

/** Defaults for a new tenant; the operator may raise them at onboarding. */
export const DEFAULT_QUOTAS = { maxServices: 500, maxEndpointsPerService: 1000, maxApiKeys: 100 } as const

/** JWT-SVID lifetime (DESIGN.md): 15 minutes by default, at most an hour, at least a minute. */
export const DEFAULT_TOKEN_TTL_SECONDS = 900
export const TokenTtlSeconds = z.number().int().min(60).max(3600).openapi({ description: 'Lifetime of workload JWT-SVIDs, 60–3600 s.', example: 900 })

export const Quotas = z
  .object({
    maxServices: z.number().int().min(1).max(100_000),
    maxEndpointsPerService: z.number().int().min(1).max(100_000),
    maxApiKeys: z.number().int().min(1).max(10_000),
  })
  .strict()
  .openapi('Quotas')

export const TenantCreate = z
  .object({
    slug: DnsLabel.max(40).openapi({ example: 'acme', description: 'Unique, permanent; the trust domain is `<slug>.weft`.' }),
    displayName: z.string().min(1).max(200).optional().openapi({ example: 'Acme Corp' }),
    quotas: Quotas.partial().strict().optional(),
    tokenTtlSeconds: TokenTtlSeconds.optional(),
    adminKeyName: z.string().min(1).max(100).optional().openapi({ description: 'Name of the first admin API key.' }),
  })
  .strict()
  .openapi('TenantCreate')

export const Tenant = z
  .object({
    id: z.string().uuid(),
    slug: z.string(),
    displayName: z.string(),
    trustDomain: z.string().openapi({ example: 'acme.weft' }),
    quotas: Quotas,
    tokenTtlSeconds: z.number().int(),
    revision: z.number().int(),
    version: z.number().int(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Tenant')

export const TenantPatch = z.object({ tokenTtlSeconds: TokenTtlSeconds.optional() }).strict().openapi('TenantPatch')

export const TenantWithUsage = Tenant.extend({
  usage: z.object({ services: z.number().int(), endpoints: z.number().int(), apiKeys: z.number().int() }),
}).openapi('TenantWithUsage')

export const ApiKey = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    role: Role,
    prefix: z.string().openapi({ description: 'The first characters of the secret, to recognise it.' }),
    createdAt: Timestamp,
    expiresAt: Timestamp.nullable(),
    revokedAt: Timestamp.nullable(),
  })
  .openapi('ApiKey')

export const ApiKeyCreate = z
  .object({
    name: z.string().min(1).max(100),
    role: Role,
    expiresAt: z.string().datetime({ offset: true }).optional().openapi({ description: 'Optional expiry, ISO 8601.' }),
  })
  .strict()
  .openapi('ApiKeyCreate')

export const ApiKeyWithSecret = ApiKey.extend({
  secret: z.string().openapi({ description: 'Shown once. Store it now: only its hash is kept.', example: 'wft_…' }),
}).openapi('ApiKeyWithSecret')

export const TenantCreated = z
  .object({ tenant: Tenant, adminKey: ApiKeyWithSecret })
  .openapi('TenantCreated')
