import { z } from '@hono/zod-openapi'
import { Timestamp } from './common'

export const Jwks = z
  .object({ keys: z.array(z.record(z.string(), z.unknown())) })
  .openapi('Jwks', { description: 'The public keys that verify this tenant\'s JWT-SVIDs: current, next and still-valid previous keys.' })

export const SigningKey = z
  .object({
    kid: z.string(),
    alg: z.enum(['ES256', 'ES384', 'RS256', 'PS256']),
    status: z.enum(['next', 'current', 'previous', 'retired']),
    createdAt: Timestamp,
    activatedAt: Timestamp.nullable(),
    deactivatedAt: Timestamp.nullable(),
    publishUntil: Timestamp.nullable(),
  })
  .openapi('SigningKey')

// A join token is a bootstrap secret: short-lived and single-use unless the caller says otherwise.
export const DEFAULT_JOIN_TOKEN_TTL_SECONDS = 3600
export const MAX_JOIN_TOKEN_TTL_SECONDS = 30 * 24 * 3600

export const JoinTokenCreate = z
  .object({
    name: z.string().min(1).max(100).optional(),
    maxUses: z.number().int().min(1).max(100_000).default(1).openapi({ description: 'How many proxies may join with it.' }),
    ttlSeconds: z.number().int().min(60).max(MAX_JOIN_TOKEN_TTL_SECONDS).default(DEFAULT_JOIN_TOKEN_TTL_SECONDS),
  })
  .strict()
  .openapi('JoinTokenCreate')

export const JoinToken = z
  .object({
    id: z.string().uuid(),
    service: z.string(),
    name: z.string(),
    prefix: z.string(),
    maxUses: z.number().int(),
    uses: z.number().int(),
    expiresAt: Timestamp,
    revokedAt: Timestamp.nullable(),
    createdAt: Timestamp,
  })
  .openapi('JoinToken')

export const JoinTokenWithSecret = JoinToken.extend({
  secret: z.string().openapi({ description: 'Shown once: give it to the proxy (WEFT_JOIN_TOKEN).', example: 'wfj_…' }),
}).openapi('JoinTokenWithSecret')

export const TokenRequest = z
  .object({
    audience: z
      .string()
      .max(300)
      .optional()
      .openapi({ description: "The callee's SPIFFE ID (spiffe://<slug>.weft/svc/<name>); omitted: the control API itself." }),
  })
  .strict()
  .openapi('TokenRequest')

export const TokenResponse = z
  .object({
    token: z.string().openapi({ description: 'A JWT-SVID.' }),
    tokenType: z.literal('JWT-SVID'),
    spiffeId: z.string(),
    audience: z.string(),
    workloadId: z.string().uuid(),
    expiresAt: Timestamp,
  })
  .openapi('TokenResponse')

export const Workload = z
  .object({
    id: z.string().uuid(),
    service: z.string(),
    spiffeId: z.string(),
    createdAt: Timestamp,
    lastIssuedAt: Timestamp,
    revokedAt: Timestamp.nullable(),
    revokedReason: z.string().nullable(),
  })
  .openapi('Workload')

export const WorkloadRevoke = z.object({ reason: z.string().max(500).optional() }).strict().openapi('WorkloadRevoke')

/** How long a retried join exchange (same join token, same Idempotency-Key) gets its workload again. */
export const JOIN_REPLAY_WINDOW_SECONDS = 600

export const TokenRequestHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1–255 printable ASCII characters')
    .optional()
    .openapi({
      description:
        `With a join token: a key the proxy chose for this exchange. A retry with the same key within ${JOIN_REPLAY_WINDOW_SECONDS / 60} minutes ` +
        '(e.g. after the first answer was lost) gets a fresh token for the same workload and uses no more of the join token.',
    }),
})
