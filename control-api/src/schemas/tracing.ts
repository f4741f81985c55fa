import { z } from '@hono/zod-openapi'
import { Timestamp } from './common'

// RFC 9110 §5.1 field-name token; lower-cased on write so `X-Api-Key` and `x-api-key` are one header.
const HeaderName = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'an HTTP header name (RFC 9110 token characters)')
  .transform((n) => n.toLowerCase())
// Field values: visible ASCII and spaces, no CR/LF (no header injection into the proxies' exports).
const HeaderValue = z.string().min(1).max(4096).regex(/^[\x20-\x7e]+$/, 'printable ASCII without line breaks')

/** What a reader sees instead of a header value: the collector's credentials never leave in full. */
export const REDACTED = '[redacted]'

export const TracingPut = z
  .object({
    endpoint: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .openapi({ description: 'The OTLP/HTTP traces URL (JSON encoding), including its path.', example: 'https://collector.example.com/v1/traces' }),
    headers: z
      .record(HeaderName, HeaderValue)
      .refine((h) => Object.keys(h).length <= 16, 'at most 16 headers')
      .optional()
      .openapi({
        description: 'Sent with every export, e.g. the collector API key. Omitted: the current headers are kept; `{}` removes them. Never shown back in full.',
        example: { 'x-api-key': 'secret' },
      }),
    sampleRate: z
      .number()
      .min(0)
      .max(1)
      .openapi({ description: 'Share of the traces a proxy starts that are sampled (0–1); an incoming traceparent’s sampled flag wins.', example: 0.1 }),
  })
  .strict()
  .openapi('TracingPut')

export const Tracing = z
  .object({
    enabled: z.boolean(),
    endpoint: z.string().nullable(),
    headers: z.record(z.string(), z.literal(REDACTED)).openapi({ description: 'Header names; values are redacted.' }),
    sampleRate: z.number(),
    updatedAt: Timestamp.nullable(),
  })
  .openapi('Tracing')
