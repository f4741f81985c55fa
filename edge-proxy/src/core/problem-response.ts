import type { WeftReason } from '../../../mesh/src/policy/index'
import { PROXY_REASONS } from './proxy-reasons'

/** Problem types of proxy-made responses: `https://weft.dev/problems/proxy/<reason>`, stable for clients. */
export const PROXY_PROBLEM_BASE = 'https://weft.dev/problems/proxy/'

export const WEFT_REASON_HEADER = 'weft-reason'

export type ProblemOptions = {
  /** Why, in words, naming the policy and rule that decided. */
  detail: string
  /** The deciding policy; null when no policy decided (e.g. a default, or no configuration). */
  policy?: string | null
  /** The rule's (or limit's) index within `policy`. */
  rule?: number | null
  /** Overrides the reason's usual status (a FaultPolicy abort carries its own). */
  status?: number
  headers?: Record<string, string>
  /** HEAD requests get the headers without a body (RFC 9110 §9.3.2). */
  method?: string
}

/** Builds a proxy-made answer: its status, lower-case header fields, and body text (null: none). */
export type MadeResponseFactory = (status: number, fields: Record<string, string>, body: string | null) => Response

const fetchResponse: MadeResponseFactory = (status, fields, body) => new Response(body, { status, headers: fields })
let made: MadeResponseFactory = fetchResponse

/**
 * How proxy-made answers are built from now on, process-wide: a Fetch Response by default (the Worker); the Node
 * sidecar's entry supplies one its listener writes without a Headers object or a Web stream
 * (runtime/made-response.ts) — a 401 or a 429 cost more CPU than a forwarded request through Fetch's. null: back to Fetch's.
 */
export function useMadeResponses(factory: MadeResponseFactory | null): void {
  made = factory ?? fetchResponse
}

/**
 * A response the proxy makes itself: `Weft-Reason` plus an RFC 9457 problem+json body naming the policy and
 * rule, so no 503 leaves a proxy unexplained (DESIGN.md, "Proxies").
 */
export function problemResponse(reason: WeftReason, options: ProblemOptions): Response {
  const info = PROXY_REASONS[reason]
  const status = options.status ?? info.status
  const body = {
    type: PROXY_PROBLEM_BASE + reason,
    title: info.title,
    status,
    detail: options.detail,
    reason,
    policy: options.policy ?? null,
    rule: options.rule ?? null,
  }
  const fields: Record<string, string> = {}
  if (options.headers !== undefined) for (const name in options.headers) fields[name.toLowerCase()] = options.headers[name]!
  fields['content-type'] = 'application/problem+json'
  fields['cache-control'] = 'no-store'
  fields[WEFT_REASON_HEADER] = reason
  return made(status, fields, options.method === 'HEAD' ? null : JSON.stringify(body))
}
