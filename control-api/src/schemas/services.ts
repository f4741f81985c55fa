import { z } from '@hono/zod-openapi'
import { DnsLabel, Labels, Timestamp } from './common'

export const Protocol = z.enum(['http', 'grpc']).openapi('Protocol')

/** Kuma calls these "reachable services", Istio's Sidecar resource "egress hosts": the scaling knob of a mesh. */
const Dependencies = z
  .array(DnsLabel)
  .max(1000)
  .refine((d) => new Set(d).size === d.length, 'each service may be listed once')
  .nullable()
  .openapi('ServiceDependencies', {
    description:
      'The services this one calls. When set, its proxies receive only these (and the services their routes send traffic to) in their snapshot, so a change elsewhere in a large tenant costs them little; a call to any other service is refused with `Weft-Reason: unknown-service`. null (the default): every service of the tenant. Names of services that do not exist yet are accepted.',
    example: ['payments', 'inventory'],
  })

const ServiceFields = {
  protocol: Protocol.default('http'),
  port: z.number().int().min(1).max(65535).default(80).openapi({ description: 'The port the application listens on.' }),
  labels: Labels.default({}),
  description: z.string().max(1000).default(''),
  dependencies: Dependencies.default(null),
}

export const ServiceCreate = z
  .object({ name: DnsLabel.openapi({ example: 'payments' }), ...ServiceFields })
  .strict()
  .openapi('ServiceCreate')

/** PUT: the whole service; omitted fields take their defaults, as a replace should. */
export const ServiceReplace = z.object(ServiceFields).strict().openapi('ServiceReplace')

/** PATCH (JSON merge patch, RFC 7396): only given fields change; a label set to null is removed. */
export const ServicePatch = z
  .object({
    protocol: Protocol.optional(),
    port: z.number().int().min(1).max(65535).optional(),
    labels: z.record(z.string(), z.string().nullable()).optional(),
    description: z.string().max(1000).optional(),
    dependencies: Dependencies.optional().openapi({ description: 'Replaces the whole list; null makes every service reachable again.' }),
  })
  .strict()
  .openapi('ServicePatch')

export const Service = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    protocol: Protocol,
    port: z.number().int(),
    labels: z.record(z.string(), z.string()),
    description: z.string(),
    dependencies: z.array(z.string()).nullable(),
    version: z.number().int(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Service')

export const Health = z.enum(['healthy', 'unhealthy', 'draining']).openapi('Health')

// Short enough that a dead instance leaves routing quickly, long enough to ride out a missed heartbeat.
export const DEFAULT_ENDPOINT_TTL_SECONDS = 30

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$/
export const Address = z
  .union([z.ipv4(), z.ipv6(), z.string().regex(HOSTNAME)])
  .openapi({ description: 'IPv4, IPv6 or a hostname.', example: '10.0.0.12' })

export const EndpointRegister = z
  .object({
    address: Address,
    port: z.number().int().min(1).max(65535),
    zone: z.string().min(1).max(100).optional().openapi({ example: 'eu-west-1a' }),
    labels: Labels.default({}),
    weight: z.number().int().min(0).max(10000).default(100),
    health: Health.default('healthy'),
    ttlSeconds: z.number().int().min(5).max(3600).default(DEFAULT_ENDPOINT_TTL_SECONDS),
  })
  .strict()
  .openapi('EndpointRegister')

export const EndpointHeartbeat = z
  .object({ health: Health.optional() })
  .strict()
  .openapi('EndpointHeartbeat')

export const Endpoint = z
  .object({
    id: z.string().uuid(),
    service: z.string(),
    address: z.string(),
    port: z.number().int(),
    zone: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    weight: z.number().int(),
    health: Health,
    ttlSeconds: z.number().int(),
    lastHeartbeatAt: Timestamp,
    expiresAt: Timestamp,
    expired: z.boolean().openapi({ description: 'True when the TTL lapsed without a heartbeat; only listed with includeExpired.' }),
    version: z.number().int(),
    createdAt: Timestamp,
  })
  .openapi('Endpoint')
