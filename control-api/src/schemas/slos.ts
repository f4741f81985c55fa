import { z } from '@hono/zod-openapi'
import { LATENCY_BUCKET_BOUNDS_SECONDS } from '../../../mesh/src/telemetry/latency-histogram'
import { DnsLabel, Timestamp } from './common'

// Latency objectives are judged from the proxies' histograms, so the threshold must be one of their bucket
// bounds: "under 250 ms" is exact at a bound and a guess anywhere else.
const BOUNDS_MS = LATENCY_BUCKET_BOUNDS_SECONDS.map((s) => Math.round(s * 1_000_000) / 1000)

const Target = z
  .number()
  .min(50)
  .max(99.999)
  .openapi({ description: 'Percent of requests that must be good, e.g. 99.9 (50–99.999).', example: 99.9 })

export const SloObjective = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('success-rate'), target: Target }).strict().openapi({ description: 'Good = not a 5xx.' }),
    z
      .object({
        type: z.literal('latency'),
        thresholdMs: z
          .number()
          .refine((ms) => BOUNDS_MS.includes(ms), `must be one of the latency bucket bounds: ${BOUNDS_MS.join(', ')} (ms)`)
          .openapi({ example: 250 }),
        target: Target,
      })
      .strict()
      .openapi({ description: 'Good = answered within thresholdMs.' }),
  ])
  .openapi('SloObjective')

const Window = z
  .string()
  .regex(/^([1-9]|[12][0-9]|30)d$/, 'a number of days from 1d to 30d, e.g. 14d')
  .openapi({ description: 'The compliance window (1d–30d): what the error budget is spread over.', example: '14d' })

export const SloCreate = z
  .object({
    name: DnsLabel.openapi({ example: 'payments-latency' }),
    service: DnsLabel.openapi({ example: 'payments' }),
    objective: SloObjective,
    window: Window.default('30d'),
    description: z.string().max(1000).default(''),
  })
  .strict()
  .openapi('SloCreate')

const BurnRule = z
  .object({
    severity: z.enum(['page', 'ticket']),
    longMinutes: z.number(),
    shortMinutes: z.number(),
    threshold: z.number(),
    longBurn: z.number(),
    shortBurn: z.number(),
    shortRequests: z.number(),
    firing: z.boolean(),
  })
  .openapi('BurnRule')

export const Slo = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    service: z.string(),
    objective: SloObjective,
    window: z.string(),
    description: z.string(),
    version: z.number().int(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Slo')

export const SloStatus = Slo.extend({
  status: z.object({
    evaluatedAt: Timestamp,
    rules: z.array(BurnRule).openapi({ description: 'Multi-window burn rates: a rule fires when both windows burn at or above its threshold.' }),
    window: z.object({ total: z.number(), bad: z.number(), budgetRemaining: z.number().openapi({ description: '1 = untouched, 0 = spent, below 0 = overspent.' }) }),
    openAlerts: z.array(z.object({ id: z.string().uuid(), severity: z.enum(['page', 'ticket']), openedAt: Timestamp })),
  }),
}).openapi('SloStatus')

export const Delivery = z
  .object({
    id: z.string().uuid(),
    webhookId: z.string().uuid(),
    event: z.enum(['alert.opened', 'alert.resolved']),
    state: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    lastError: z.string().nullable(),
    nextAttemptAt: Timestamp,
    deliveredAt: Timestamp.nullable(),
  })
  .openapi('WebhookDelivery')

export const Alert = z
  .object({
    id: z.string().uuid(),
    slo: z.string(),
    service: z.string(),
    objective: SloObjective,
    window: z.string(),
    severity: z.enum(['page', 'ticket']),
    state: z.enum(['open', 'resolved']),
    openedAt: Timestamp,
    resolvedAt: Timestamp.nullable(),
    openedWith: z.object({ rules: z.array(BurnRule) }),
    deliveries: z.array(Delivery),
  })
  .openapi('Alert')

export const AlertListQuery = z
  .object({
    state: z.enum(['open', 'resolved']).optional(),
    slo: DnsLabel.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(512).optional(),
  })
  .strict()

export const WebhookCreate = z
  .object({
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .openapi({ description: 'Receives a signed POST for every alert that opens or resolves.', example: 'https://alerts.example.com/weft' }),
    description: z.string().max(1000).default(''),
  })
  .strict()
  .openapi('WebhookCreate')

export const Webhook = z
  .object({ id: z.string().uuid(), url: z.string(), description: z.string(), createdAt: Timestamp })
  .openapi('Webhook')

export const WebhookWithSecret = Webhook.extend({
  secret: z.string().openapi({ description: 'Shown once: verify `Weft-Signature` (t=…,v1=HMAC-SHA256(secret, t + "." + body)) with it.' }),
}).openapi('WebhookWithSecret')
